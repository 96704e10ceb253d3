/* console.c - virtio console (virtio 1.2 section 5.3), the guest's /dev/hvc0:
 * port 0 only, receiveq 0 and transmitq 1.
 *
 * Runs on the event loop (transmit kicks on the vCPU) with non-blocking
 * host fds and back-pressure both ways: guest output is taken off the
 * transmit queue only as fast as the host side accepts it (a chain stays
 * pending while the fd says EAGAIN), and host
 * input is read only into receive buffers the guest has posted. No byte is
 * dropped, except when the host reader has gone away for good (EPIPE).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "device.h"
#include "eventloop.h"
#include "log.h"
#include "snapshot.h"
#include "virtio.h"
#include "vm.h"

enum { RXQ = 0, TXQ = 1 };

struct console {
	struct virtio_dev *dev;
	struct eventloop *el;
	int in_fd, out_fd; /* -1: no input / output discarded (or no client yet) */
	int listen_fd;     /* socket:PATH, else -1 */
	uint32_t ev_in, ev_out; /* what epoll watches on in_fd / out_fd */
	bool want_in, want_out;
	bool in_eof;
	bool tx_busy;      /* tx holds a chain partly written */
	unsigned tx_gen;   /* the queue's generation when tx was popped */
	struct vq_chain tx, rx;
	struct vq_cursor txc;
	uint8_t config[12]; /* 5.3.4: cols, rows, max_nr_ports, emerg_wr: unused */
	bool warned;
	unsigned long long tx_chains, tx_bytes, rx_chains, rx_bytes; /* for --verbose */
};

static void con_event(void *opaque, int fd, uint32_t events);

static void watch_fd(struct console *c, int fd, uint32_t ev, uint32_t *cur)
{
	if (fd < 0 || ev == *cur || !c->el)
		return;
	/* Unwatched while nothing is wanted, so a hung-up fd cannot spin. */
	int r = !*cur ? el_add_fd(c->el, fd, ev, con_event, c)
		: !ev ? el_del_fd(c->el, fd) : el_mod_fd(c->el, fd, ev);
	if (r == 0)
		*cur = ev;
}

static void con_watch(struct console *c)
{
	uint32_t in = c->want_in && !c->in_eof ? EPOLLIN : 0, out = c->want_out ? EPOLLOUT : 0;
	if (c->in_fd >= 0 && c->in_fd == c->out_fd) {
		watch_fd(c, c->in_fd, in | out, &c->ev_in);
		c->ev_out = c->ev_in;
		return;
	}
	watch_fd(c, c->in_fd, in, &c->ev_in);
	watch_fd(c, c->out_fd, out, &c->ev_out);
}

static void con_disconnect(struct console *c)
{
	c->want_in = c->want_out = false;
	con_watch(c);
	close(c->in_fd);
	c->in_fd = c->out_fd = -1;
	c->ev_in = c->ev_out = 0;
	c->in_eof = false;
	if (c->el)
		el_add_fd(c->el, c->listen_fd, EPOLLIN, con_event, c);
}

/* Write what the pending chain still holds; false when the host is full. */
static bool tx_flush(struct console *c)
{
	struct iovec iov[VQ_MAX_CHAIN];
	while (c->txc.left) {
		if (c->out_fd < 0 && c->listen_fd >= 0)
			return false; /* no client yet: hold the output */
		if (c->out_fd < 0) {
			vq_skip(&c->txc, c->txc.left);
			break;
		}
		struct vq_cursor peek = c->txc;
		unsigned n = vq_take(&peek, peek.left, iov, VQ_MAX_CHAIN);
		ssize_t w = writev(c->out_fd, iov, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN) {
			c->want_out = true;
			return false;
		}
		if (w <= 0 && c->listen_fd >= 0) {
			con_disconnect(c);
			return false;
		}
		if (w <= 0) {
			log_warn("%s: output: %s; discarding guest output from now on",
				 c->dev->name, w < 0 ? strerror(errno) : "closed");
			c->out_fd = -1;
			continue;
		}
		vq_skip(&c->txc, w);
	}
	c->want_out = false;
	return true;
}

static void con_tx(struct console *c)
{
	struct vq *vq = &c->dev->vq[TXQ];
	bool pushed = false, broken = false;
	pthread_mutex_lock(&vq->lock);
	if (c->tx_busy && c->tx_gen != vq->gen)
		c->tx_busy = false; /* QueueReady=0 took the chain back */
	for (;;) {
		if (!c->tx_busy) {
			int r = vq_pop(vq, &c->tx);
			if (r == 0 && vq_enable_notify(vq))
				continue;
			if (r == 0)
				break;
			if (r == -EIO) {
				broken = true;
				break;
			}
			if (r < 0) {
				log_guest_once(&c->warned, "%s: malformed descriptor chain "
					       "returned empty", c->dev->name);
				vq_push(vq, c->tx.head, 0);
				pushed = true;
				continue;
			}
			vq_reader(&c->txc, &c->tx);
			c->tx_busy = true;
			c->tx_gen = vq->gen;
		}
		if (!tx_flush(c))
			break;
		vq_push(vq, c->tx.head, 0);
		c->tx_chains++;
		c->tx_bytes += c->tx.out_len;
		c->tx_busy = false;
		pushed = true;
	}
	pthread_mutex_unlock(&vq->lock);
	con_watch(c);
	if (broken)
		virtio_needs_reset(c->dev, "transmit ring corrupt");
	if (pushed)
		virtio_used(c->dev, TXQ);
}

/* Read host input into one receive chain: 1 filled, 0 stop reading. */
static int rx_one(struct console *c, struct vq *vq)
{
	struct iovec *iov = c->rx.iov + c->rx.nout;
	ssize_t n = readv(c->in_fd, iov, c->rx.nin);
	if (n < 0 && errno == EINTR)
		return rx_one(c, vq);
	if (n > 0) {
		vq_push(vq, c->rx.head, n);
		c->rx_chains++;
		c->rx_bytes += n;
		return 1;
	}
	vq_unpop(vq);
	if (n < 0 && errno == EAGAIN) {
		c->want_in = true;
		return 0;
	}
	c->want_in = false;
	if (c->listen_fd >= 0)
		con_disconnect(c);
	else
		c->in_eof = true; /* EOF or error: no more input */
	return 0;
}

static void con_rx(struct console *c)
{
	struct vq *vq = &c->dev->vq[RXQ];
	bool pushed = false, broken = false;
	pthread_mutex_lock(&vq->lock);
	while (c->in_fd >= 0 && !c->in_eof) {
		int r = vq_pop(vq, &c->rx);
		if (r == 0 && vq_enable_notify(vq))
			continue;
		if (r == 0) {
			c->want_in = false; /* no buffers: the guest is not reading */
			break;
		}
		if (r < 0 || c->rx.nin == 0) {
			if (r == -EIO) {
				broken = true;
				break;
			}
			log_guest_once(&c->warned, "%s: malformed descriptor chain returned empty",
				       c->dev->name);
			vq_push(vq, c->rx.head, 0);
			pushed = true;
			continue;
		}
		if (!rx_one(c, vq))
			break;
		/* Tell the driver per buffer (EVENT_IDX still decides): hvc
		 * reads as soon as it hears, instead of on its poll timer. */
		pthread_mutex_unlock(&vq->lock);
		virtio_used(c->dev, RXQ);
		pthread_mutex_lock(&vq->lock);
	}
	pthread_mutex_unlock(&vq->lock);
	con_watch(c);
	if (broken)
		virtio_needs_reset(c->dev, "receive ring corrupt");
	if (pushed)
		virtio_used(c->dev, RXQ);
}

static void con_accept(struct console *c)
{
	int fd = accept4(c->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
	el_del_fd(c->el, c->listen_fd); /* one client at a time */
	c->in_fd = c->out_fd = fd;
	c->in_eof = false;
}

static void con_event(void *opaque, int fd, uint32_t events)
{
	struct console *c = opaque;
	pthread_mutex_lock(&c->dev->lock);
	bool running = virtio_running(c->dev);
	if (fd == c->listen_fd && c->in_fd < 0) {
		con_accept(c);
		if (running && c->in_fd >= 0) {
			con_tx(c);
			con_rx(c);
		}
		pthread_mutex_unlock(&c->dev->lock);
		return;
	}
	if (running && fd == c->out_fd && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
		con_tx(c);
	if (running && fd == c->in_fd && fd >= 0)
		con_rx(c);
	pthread_mutex_unlock(&c->dev->lock);
}

static void con_notify(struct virtio_dev *d, unsigned q)
{
	if (q == TXQ)
		con_tx(d->priv);
	else
		con_rx(d->priv);
}

static void con_reset(struct virtio_dev *d)
{
	struct console *c = d->priv;
	c->tx_busy = false;
	c->want_in = c->want_out = false;
	con_watch(c);
}

static void con_free(struct virtio_dev *d)
{
	struct console *c = d->priv;
	if (c->out_fd >= 0 && c->out_fd != c->in_fd)
		close(c->out_fd);
	if (c->in_fd >= 0)
		close(c->in_fd);
	if (c->listen_fd >= 0)
		close(c->listen_fd);
	free(c);
}

/* Snapshots: a chain held half written (the host was full) is given back
 * to the ring in the snapshot, so a restore writes it whole. Host input
 * is never held: a receive chain is filled and used at once. */
static int con_save(struct virtio_dev *d, struct snap_buf *b, const char *dir, char *why,
		    size_t len)
{
	struct console *c = d->priv;
	(void)dir, (void)why, (void)len;
	snap_put_u32(b, c->tx_busy && c->tx_gen == d->vq[TXQ].gen);
	return 0;
}

static int con_restore(struct virtio_dev *d, struct snap_reader *r, const char *dir)
{
	(void)dir;
	if (snap_get_u32(r))
		d->vq[TXQ].last_avail--;
	return 0;
}

/* Linux's hvc output spins with interrupts off until its buffer is used, so
 * the transmit queue is served on the vCPU that kicks it: the buffer is used
 * before the guest runs again. Its writes never block (EAGAIN holds the
 * chain for the event loop). */
static const struct virtio_ops con_ops = { .notify = con_notify, .reset = con_reset,
					   .free = con_free, .vcpu_queues = 1u << TXQ,
					   .save = con_save, .restore = con_restore };

struct virtio_dev *virtio_console_create(struct vm *vm, int in_fd, int out_fd, int listen_fd)
{
	struct console *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	*c = (struct console){ .el = vm->el, .in_fd = in_fd, .out_fd = out_fd,
			       .listen_fd = listen_fd };
	c->dev = virtio_mmio_create(vm, "virtio-console", VIRTIO_ID_CONSOLE, 0, 2, &con_ops, c,
				    c->config, sizeof(c->config));
	if (c->dev && listen_fd >= 0 && vm->el)
		el_add_fd(vm->el, listen_fd, EPOLLIN, con_event, c);
	return c->dev;
}

/* --- --console stdio|socket:PATH|fd:N|file:PATH|none -------------------- */

static const char *console_opt = "none";
static struct virtio_dev *console_dev;

static int console_parse(const char *v)
{
	char *end;
	bool fd_ok = !strncmp(v, "fd:", 3) && v[3] && strtol(v + 3, &end, 10) >= 0 && !*end;
	bool path = (!strncmp(v, "socket:", 7) && v[7]) || (!strncmp(v, "file:", 5) && v[5]);
	if (strcmp(v, "stdio") && strcmp(v, "none") && !fd_ok && !path) {
		log_error("--console %s: expected stdio, socket:PATH, fd:N, file:PATH or none", v);
		return -EINVAL;
	}
	if (fd_ok && fcntl(atoi(v + 3), F_GETFD) < 0) {
		log_error("--console %s: no such open file descriptor", v);
		return -EINVAL;
	}
	console_opt = v;
	return 0;
}

static int console_setup(struct vm *vm)
{
	const char *v = console_opt;
	int in = -1, out = -1, lfd = -1;
	if (!strcmp(v, "none"))
		return 0;
	if (!strcmp(v, "stdio")) {
		in = el_nonblock_fd(STDIN_FILENO, O_RDONLY);
		out = el_nonblock_fd(STDOUT_FILENO, O_WRONLY);
	} else if (!strncmp(v, "fd:", 3)) {
		in = out = atoi(v + 3);
		fcntl(in, F_SETFL, fcntl(in, F_GETFL) | O_NONBLOCK);
	} else if (!strncmp(v, "file:", 5)) {
		out = open(v + 5, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (out < 0) {
			log_error("--console %s: %m", v);
			return -EINVAL;
		}
	} else if ((lfd = vm_listen_unix("--console", v + 7)) < 0) {
		return -EINVAL;
	}
	console_dev = virtio_console_create(vm, in, out, lfd);
	return console_dev ? 0 : -ENODEV;
}

static void console_teardown(struct vm *vm)
{
	(void)vm;
	if (console_dev) {
		struct console *c = console_dev->priv;
		log_debug("virtio-console: guest wrote %llu bytes in %llu buffers, read %llu in %llu",
			  c->tx_bytes, c->tx_chains, c->rx_bytes, c->rx_chains);
	}
}

DEVICE(virtio_console, .name = "virtio-console", .option = "console",
       .usage = "--console stdio|socket:PATH|fd:N|file:PATH|none  hvc0 (default none)",
       .parse = console_parse, .setup = console_setup, .teardown = console_teardown);
