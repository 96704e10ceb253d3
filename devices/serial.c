/* serial.c - the serial port's host side: output to stdout or a file, input
 * from stdin, under the register model the architecture names (a 16550A,
 * devices/uart16550.c, or a PL011, devices/pl011.c; devices/uart.h).
 *
 * Guest accesses come from vCPU threads, the host side from the event loop;
 * one mutex guards the registers. Back-pressure both ways, and neither side
 * ever blocks: input is read only while the receive FIFO has room (and the
 * fd is not watched otherwise, so a hung-up stdin cannot spin the loop), and
 * output goes through a non-blocking fd into a bounded buffer that the event
 * loop drains on EPOLLOUT, with the model's status bits (THRE and TEMT, TXFF
 * and BUSY) telling the guest's driver to wait while it is full. A host that
 * stops reading therefore slows the guest's console down but never stalls a
 * vCPU, nor microvm's shutdown, which joins the vCPUs.
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
#include "uart.h"
#include "vm.h"

/* The register model each architecture names in arch_devices. */
static const struct uart_model *const models[] = {
	[ARCH_UART_16550] = &uart_16550,
	[ARCH_UART_PL011] = &uart_pl011,
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

/* Recompute the interrupt line after any state change (lock held). */
static void serial_update_irq(struct serial *s)
{
	bool level = s->model->irq(s);
	if (level != s->irq_level) {
		s->irq_level = level;
		vm_set_irq(s->vm, arch_devices.serial_irq, level);
	}
}

static void serial_input(void *opaque, int fd, uint32_t events);
static void serial_output(void *opaque, int fd, uint32_t events);

static void serial_rx_push(struct serial *s, uint8_t c)
{
	if (s->rx_len < UART_RX_SIZE)
		s->rx[(s->rx_head + s->rx_len++) % UART_RX_SIZE] = c;
}

/* Room again: resume reading input (back-pressure off). */
static void serial_rx_resume(struct serial *s)
{
	if (s->in_fd >= 0 && !s->in_watched && s->rx_len < UART_RX_SIZE / 2)
		s->in_watched = el_add_fd(s->vm->el, s->in_fd, EPOLLIN, serial_input, s) == 0;
}

/* Write what the buffer holds without blocking; false while the host is
 * full (EAGAIN). A failed write (the reader is gone) drops the output: it
 * must not stop the guest. */
static bool serial_drain(struct serial *s)
{
	while (s->tx_len) {
		unsigned room = UART_TX_SIZE - s->tx_head;
		unsigned first = room < s->tx_len ? room : s->tx_len;
		struct iovec iov[2] = { { s->tx + s->tx_head, first },
					{ s->tx, s->tx_len - first } };
		ssize_t n = writev(s->out_fd, iov, s->tx_len > first ? 2 : 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return false;
		if (n <= 0)
			n = s->tx_len;
		s->tx_head = (s->tx_head + n) % UART_TX_SIZE;
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

void serial_tx(struct serial *s, uint8_t c)
{
	if (s->model->loopback(s)) {
		serial_rx_push(s, c);
	} else if (s->out_fd >= 0 && s->tx_len < UART_TX_SIZE) { /* full: overrun, byte lost */
		s->tx[(s->tx_head + s->tx_len++) % UART_TX_SIZE] = c;
		if (!s->out_watched) /* else the event loop writes when it can */
			serial_flush(s);
	}
}

int serial_rx_pop(struct serial *s)
{
	if (!s->rx_len)
		return -1;
	uint8_t c = s->rx[s->rx_head];
	s->rx_head = (s->rx_head + 1) % UART_RX_SIZE;
	s->rx_len--;
	serial_rx_resume(s);
	return c;
}

void serial_rx_clear(struct serial *s)
{
	s->rx_len = 0;
	serial_rx_resume(s);
}

static void serial_read(void *opaque, uint64_t off, void *data, unsigned len)
{
	struct serial *s = opaque;
	pthread_mutex_lock(&s->lock);
	uint32_t v = s->model->read(s, off, len);
	memset(data, 0, len);
	memcpy(data, &v, len < sizeof(v) ? len : sizeof(v)); /* little-endian guests */
	serial_update_irq(s);
	pthread_mutex_unlock(&s->lock);
}

static void serial_write(void *opaque, uint64_t off, const void *data, unsigned len)
{
	struct serial *s = opaque;
	uint32_t v = 0;
	memcpy(&v, data, len < sizeof(v) ? len : sizeof(v));
	pthread_mutex_lock(&s->lock);
	s->model->write(s, off, v, len);
	serial_update_irq(s);
	pthread_mutex_unlock(&s->lock);
}

static void serial_input(void *opaque, int fd, uint32_t events)
{
	struct serial *s = opaque;
	uint8_t buf[UART_RX_SIZE];
	pthread_mutex_lock(&s->lock);
	/* read() of 0 bytes would look like EOF: with a full FIFO just wait. */
	ssize_t n = s->rx_len < UART_RX_SIZE ? read(fd, buf, UART_RX_SIZE - s->rx_len) : -1;
	if (n == -1 && s->rx_len == UART_RX_SIZE)
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
	if (s->in_fd >= 0 && s->in_watched && s->rx_len == UART_RX_SIZE)
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
	if (!had_room && serial_tx_room(s) && s->model->tx_room)
		s->model->tx_room(s);
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
	s->model = models[arch_devices.serial_uart];
	s->in_fd = -1;
	pthread_mutex_init(&s->lock, NULL);
	if (s->model->reset)
		s->model->reset(s);
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
	return bus_register(&vm->bus[arch_devices.serial_bus], arch_devices.serial_base,
			    s->model->size, serial_read, serial_write, s, "serial");
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
	for (unsigned i = 0; i < UART_REGS; i++)
		snap_put_u32(b, s->reg[i]);
	snap_put_u32(b, s->rx_len);
	for (unsigned i = 0; i < s->rx_len; i++)
		snap_put(b, &s->rx[(s->rx_head + i) % UART_RX_SIZE], 1);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

static int serial_restore(struct vm *vm, struct snap_reader *r, const char *dir)
{
	struct serial *s = serial_dev;
	uint32_t regs[UART_REGS];
	(void)vm;
	if (snap_get_u32(r) != (s != NULL)) {
		log_error("--restore %s: --serial %s: expected the serial port %s, as saved", dir,
			  serial_opt, s ? "off" : "on");
		return -1;
	}
	if (!s)
		return 0;
	for (unsigned i = 0; i < UART_REGS; i++)
		regs[i] = snap_get_u32(r);
	uint32_t n = snap_get_u32(r);
	if (n > UART_RX_SIZE)
		r->bad = true;
	pthread_mutex_lock(&s->lock);
	snap_get(r, s->rx, r->bad ? 0 : n);
	s->rx_head = 0;
	s->rx_len = r->bad ? 0 : n;
	if (!r->bad)
		memcpy(s->reg, regs, sizeof(regs));
	serial_update_irq(s);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

SNAPSHOT_SECTION(serial, .name = "serial", .save = serial_save, .restore = serial_restore);

DEVICE(serial, .name = "serial", .option = "serial",
       .usage = "--serial stdio|file:PATH|none  ttyS0 on x86_64, ttyAMA0 on aarch64 (default stdio)",
       .parse = serial_parse, .setup = serial_setup, .teardown = serial_teardown);
