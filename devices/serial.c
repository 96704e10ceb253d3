/* serial.c - a 16550A UART (ttyS0): output to stdout or a file, input from
 * stdin.
 *
 * Guest accesses come from vCPU threads, the host side from the event loop;
 * one mutex guards the registers. Back-pressure both ways, and neither side
 * ever blocks: input is read only while the receive FIFO has room (and the
 * fd is not watched otherwise, so a hung-up stdin cannot spin the loop), and
 * output goes through a non-blocking fd into a bounded buffer that the event
 * loop drains on EPOLLOUT, with THRE and TEMT telling the guest's driver to
 * wait while it is full. A host that stops reading therefore slows the
 * guest's console down but never stalls a vCPU, nor microvm's shutdown,
 * which joins the vCPUs.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/uio.h>
#include <unistd.h>

#include "arch.h"
#include "device.h"
#include "eventloop.h"
#include "log.h"
#include "snapshot.h"
#include "vm.h"

enum { UART_RBR, UART_IER, UART_IIR, UART_LCR, UART_MCR, UART_LSR, UART_MSR, UART_SCR };
#define LCR_DLAB 0x80
#define MCR_LOOP 0x10
#define LSR_DR 0x01
#define LSR_THRE 0x20
#define LSR_TEMT 0x40
#define IER_RDI 0x01
#define IER_THRI 0x02
#define IIR_NONE 0x01
#define IIR_THRI 0x02
#define IIR_RDI 0x04
#define IIR_FIFO 0xc0
#define FCR_ENABLE 0x01
#define RX_SIZE 256
#define TX_SIZE 4096 /* guest output held while the host does not take it */
#define TX_FIFO 16   /* a 16550A's transmit FIFO: what a driver writes per THRE */

struct serial {
	struct vm *vm;
	pthread_mutex_t lock;
	int out_fd, in_fd;
	bool in_watched, out_watched;
	uint8_t ier, lcr, mcr, scr, dll, dlm, fcr;
	bool thr_pending; /* THR-empty interrupt not yet acknowledged */
	bool irq_level;
	uint8_t rx[RX_SIZE];
	unsigned rx_head, rx_len;
	uint8_t tx[TX_SIZE];
	unsigned tx_head, tx_len;
};

static const char *serial_opt = "stdio";
static struct serial *serial_dev; /* for teardown */

static int serial_parse(const char *v)
{
	if (strcmp(v, "stdio") && strcmp(v, "none") && strncmp(v, "file:", 5)) {
		log_error("--serial %s: expected stdio, file:PATH or none", v);
		return -EINVAL;
	}
	if (!strncmp(v, "file:", 5) && !v[5]) {
		log_error("--serial %s: file: needs a path", v);
		return -EINVAL;
	}
	serial_opt = v;
	return 0;
}

static uint8_t serial_iir(struct serial *s)
{
	uint8_t fifo = (s->fcr & FCR_ENABLE) ? IIR_FIFO : 0;
	if ((s->ier & IER_RDI) && s->rx_len)
		return IIR_RDI | fifo;
	if ((s->ier & IER_THRI) && s->thr_pending)
		return IIR_THRI | fifo;
	return IIR_NONE | fifo;
}

/* Recompute the interrupt line after any state change (lock held). */
static void serial_update_irq(struct serial *s)
{
	bool level = !(serial_iir(s) & IIR_NONE);
	if (level != s->irq_level) {
		s->irq_level = level;
		vm_set_irq(s->vm, arch_devices.serial_irq, level);
	}
}

static void serial_input(void *opaque, int fd, uint32_t events);
static void serial_output(void *opaque, int fd, uint32_t events);

static void serial_rx_push(struct serial *s, uint8_t c)
{
	if (s->rx_len < RX_SIZE)
		s->rx[(s->rx_head + s->rx_len++) % RX_SIZE] = c;
}

/* Room again: resume reading input (back-pressure off). */
static void serial_rx_resume(struct serial *s)
{
	if (s->in_fd >= 0 && !s->in_watched && s->rx_len < RX_SIZE / 2)
		s->in_watched = el_add_fd(s->vm->el, s->in_fd, EPOLLIN, serial_input, s) == 0;
}

/* THR empty, as the guest sees it: room for a FIFO's worth of bytes. */
static bool serial_tx_room(const struct serial *s)
{
	return TX_SIZE - s->tx_len >= TX_FIFO;
}

/* Write what the buffer holds without blocking; false while the host is
 * full (EAGAIN). A failed write (the reader is gone) drops the output: it
 * must not stop the guest. */
static bool serial_drain(struct serial *s)
{
	while (s->tx_len) {
		unsigned first = TX_SIZE - s->tx_head < s->tx_len ? TX_SIZE - s->tx_head : s->tx_len;
		struct iovec iov[2] = { { s->tx + s->tx_head, first },
					{ s->tx, s->tx_len - first } };
		ssize_t n = writev(s->out_fd, iov, s->tx_len > first ? 2 : 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return false;
		if (n <= 0)
			n = s->tx_len;
		s->tx_head = (s->tx_head + n) % TX_SIZE;
		s->tx_len -= n;
	}
	return true;
}

/* Drain, and have the event loop say when a full host takes more. */
static void serial_flush(struct serial *s)
{
	bool full = !serial_drain(s);
	if (full && !s->out_watched)
		s->out_watched = el_add_fd(s->vm->el, s->out_fd, EPOLLOUT, serial_output, s) == 0;
	else if (!full && s->out_watched)
		s->out_watched = el_del_fd(s->vm->el, s->out_fd) < 0;
}

static void serial_tx(struct serial *s, uint8_t c)
{
	if (s->mcr & MCR_LOOP) {
		serial_rx_push(s, c);
	} else if (s->out_fd >= 0 && s->tx_len < TX_SIZE) { /* full: overrun, byte lost */
		s->tx[(s->tx_head + s->tx_len++) % TX_SIZE] = c;
		if (!s->out_watched) /* else the event loop writes when it can */
			serial_flush(s);
	}
	s->thr_pending = serial_tx_room(s);
}

static uint8_t serial_rx_pop(struct serial *s)
{
	if (!s->rx_len)
		return 0;
	uint8_t c = s->rx[s->rx_head];
	s->rx_head = (s->rx_head + 1) % RX_SIZE;
	s->rx_len--;
	serial_rx_resume(s);
	return c;
}

static uint8_t serial_lsr(const struct serial *s)
{
	return (serial_tx_room(s) ? LSR_THRE : 0) | (s->tx_len ? 0 : LSR_TEMT) |
	       (s->rx_len ? LSR_DR : 0);
}

static uint8_t serial_msr(struct serial *s)
{
	if (!(s->mcr & MCR_LOOP))
		return 0xb0; /* DCD, DSR, CTS: a terminal is always there */
	/* Loopback: DTR->DSR, RTS->CTS, OUT1->RI, OUT2->DCD. */
	return (s->mcr & 1) << 5 | (s->mcr & 2) << 3 | (s->mcr & 4) << 4 | (s->mcr & 8) << 4;
}

static uint8_t serial_reg_read(struct serial *s, unsigned reg)
{
	bool dlab = s->lcr & LCR_DLAB;
	switch (reg) {
	case UART_RBR: return dlab ? s->dll : serial_rx_pop(s);
	case UART_IER: return dlab ? s->dlm : s->ier;
	case UART_IIR: {
		uint8_t iir = serial_iir(s);
		/* Reading IIR acknowledges a THR-empty interrupt (16550 data sheet). */
		if ((iir & 0x0f) == IIR_THRI)
			s->thr_pending = false;
		return iir;
	}
	case UART_LCR: return s->lcr;
	case UART_MCR: return s->mcr;
	case UART_LSR: return serial_lsr(s);
	case UART_MSR: return serial_msr(s);
	default: return s->scr;
	}
}

static void serial_reg_write(struct serial *s, unsigned reg, uint8_t v)
{
	bool dlab = s->lcr & LCR_DLAB;
	switch (reg) {
	case UART_RBR:
		if (dlab)
			s->dll = v;
		else
			serial_tx(s, v);
		break;
	case UART_IER:
		if (dlab) {
			s->dlm = v;
		} else {
			/* Enabling THRI with an empty THR raises it at once. */
			if ((v & IER_THRI) && !(s->ier & IER_THRI))
				s->thr_pending = serial_tx_room(s);
			s->ier = v & 0x0f;
		}
		break;
	case UART_IIR:
		s->fcr = v;
		if (v & 0x02) { /* clear receive FIFO */
			s->rx_len = 0;
			serial_rx_resume(s);
		}
		break;
	case UART_LCR: s->lcr = v; break;
	case UART_MCR: s->mcr = v & 0x1f; break;
	case UART_SCR: s->scr = v; break;
	default: break; /* LSR and MSR are read-only */
	}
}

static void serial_read(void *opaque, uint64_t off, void *data, unsigned len)
{
	struct serial *s = opaque;
	pthread_mutex_lock(&s->lock);
	memset(data, 0, len);
	*(uint8_t *)data = serial_reg_read(s, off & 7);
	serial_update_irq(s);
	pthread_mutex_unlock(&s->lock);
}

static void serial_write(void *opaque, uint64_t off, const void *data, unsigned len)
{
	struct serial *s = opaque;
	(void)len;
	pthread_mutex_lock(&s->lock);
	serial_reg_write(s, off & 7, *(const uint8_t *)data);
	serial_update_irq(s);
	pthread_mutex_unlock(&s->lock);
}

static void serial_input(void *opaque, int fd, uint32_t events)
{
	struct serial *s = opaque;
	uint8_t buf[RX_SIZE];
	pthread_mutex_lock(&s->lock);
	/* read() of 0 bytes would look like EOF: with a full FIFO just wait. */
	ssize_t n = s->rx_len < RX_SIZE ? read(fd, buf, RX_SIZE - s->rx_len) : -1;
	if (n == -1 && s->rx_len == RX_SIZE)
		errno = EAGAIN;
	if (n <= 0 && !(n < 0 && (errno == EAGAIN || errno == EINTR))) {
		el_del_fd(s->vm->el, fd); /* EOF or error: no more input */
		s->in_fd = -1;
		s->in_watched = false;
	}
	for (ssize_t i = 0; i < n; i++)
		serial_rx_push(s, buf[i]);
	/* Full: stop watching rather than mask the events, which would still
	 * report a hang-up (EPOLLHUP) on every turn of the loop. */
	if (s->in_fd >= 0 && s->in_watched && s->rx_len == RX_SIZE)
		s->in_watched = el_del_fd(s->vm->el, fd) < 0;
	serial_update_irq(s);
	pthread_mutex_unlock(&s->lock);
	(void)events;
}

/* The host takes output again: drain the buffer, THR empty when there is room. */
static void serial_output(void *opaque, int fd, uint32_t events)
{
	struct serial *s = opaque;
	(void)fd, (void)events;
	pthread_mutex_lock(&s->lock);
	bool had_room = serial_tx_room(s);
	serial_flush(s);
	if (!had_room && serial_tx_room(s))
		s->thr_pending = true;
	serial_update_irq(s);
	pthread_mutex_unlock(&s->lock);
}

/* The output, non-blocking (a full pipe must not stall a vCPU): stdout
 * through a private file description (none when stdout is closed: output is
 * discarded), file:PATH opened as before (a FIFO waits for its reader) and
 * then made non-blocking. Returns 0 or -errno. */
static int serial_open_out(const char *opt, int *out)
{
	if (!strcmp(opt, "stdio")) {
		if ((*out = el_nonblock_fd(STDOUT_FILENO, O_WRONLY)) < 0)
			log_debug("serial: no stdout (%s): output discarded", strerror(errno));
		return 0;
	}
	*out = open(opt + 5, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (*out < 0) {
		log_error("--serial %s: %s", opt, strerror(errno));
		return -errno;
	}
	fcntl(*out, F_SETFL, fcntl(*out, F_GETFL) | O_NONBLOCK);
	return 0;
}

static int serial_setup(struct vm *vm)
{
	if (!strcmp(serial_opt, "none"))
		return 0;
	struct serial *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->vm = vm;
	s->in_fd = -1;
	pthread_mutex_init(&s->lock, NULL);
	int r = serial_open_out(serial_opt, &s->out_fd);
	if (r < 0) {
		free(s);
		return r;
	}
	if (!strcmp(serial_opt, "stdio") &&
	    el_add_fd(vm->el, STDIN_FILENO, EPOLLIN, serial_input, s) == 0) {
		s->in_fd = STDIN_FILENO;
		s->in_watched = true;
	}
	serial_dev = s;
	return bus_register(&vm->bus[arch_devices.serial_bus], arch_devices.serial_base, 8,
			    serial_read, serial_write, s, "serial");
}

/* After the vCPUs and the event loop have stopped: what the host still
 * takes without blocking, then nothing (a reader that is gone or stuck must
 * not hold up microvm's exit). */
static void serial_teardown(struct vm *vm)
{
	struct serial *s = serial_dev;
	(void)vm;
	if (!s)
		return;
	if (s->out_fd >= 0) {
		serial_drain(s);
		close(s->out_fd);
	}
	serial_dev = NULL;
	free(s);
}

/* --- snapshots: the registers and received bytes the guest has not read;
 * output is the saving run's to write. ------------------------------------- */

static int serial_save(struct vm *vm, struct snap_buf *b, const char *dir, char *why, size_t len)
{
	struct serial *s = serial_dev;
	(void)vm, (void)dir, (void)why, (void)len;
	snap_put_u32(b, s != NULL);
	if (!s)
		return 0;
	pthread_mutex_lock(&s->lock);
	uint8_t regs[8] = { s->ier, s->lcr, s->mcr, s->scr, s->dll, s->dlm, s->fcr, s->thr_pending };
	snap_put(b, regs, sizeof(regs));
	snap_put_u32(b, s->rx_len);
	for (unsigned i = 0; i < s->rx_len; i++)
		snap_put(b, &s->rx[(s->rx_head + i) % RX_SIZE], 1);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

static int serial_restore(struct vm *vm, struct snap_reader *r, const char *dir)
{
	struct serial *s = serial_dev;
	uint8_t regs[8];
	(void)vm;
	if (snap_get_u32(r) != (s != NULL)) {
		log_error("--restore %s: --serial %s: expected the serial port %s, as saved", dir,
			  serial_opt, s ? "off" : "on");
		return -1;
	}
	if (!s)
		return 0;
	snap_get(r, regs, sizeof(regs));
	uint32_t n = snap_get_u32(r);
	if (n > RX_SIZE)
		r->bad = true;
	pthread_mutex_lock(&s->lock);
	snap_get(r, s->rx, r->bad ? 0 : n);
	s->rx_head = 0;
	s->rx_len = r->bad ? 0 : n;
	s->ier = regs[0], s->lcr = regs[1], s->mcr = regs[2], s->scr = regs[3];
	s->dll = regs[4], s->dlm = regs[5], s->fcr = regs[6], s->thr_pending = regs[7];
	serial_update_irq(s);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

SNAPSHOT_SECTION(serial, .name = "serial", .save = serial_save, .restore = serial_restore);

DEVICE(serial, .name = "serial", .option = "serial",
       .usage = "--serial stdio|file:PATH|none  ttyS0 (default stdio)",
       .parse = serial_parse, .setup = serial_setup, .teardown = serial_teardown);
