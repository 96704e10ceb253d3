/* net.c - virtio network device (virtio 1.2 section 5.1): receiveq 0,
 * transmitq 1, with two backends: the user network (libslirp, net-user.c)
 * and a vlan socket that carries one Ethernet frame per message to a
 * switch (microvmtest hosts one per vlan).
 *
 * Everything runs on the event-loop thread under the device lock: the
 * transmit path copies each frame out of the guest (checking it and
 * completing a partial checksum) and hands it to the backend; the receive
 * path writes frames into the buffers the guest posted, across several of
 * them with mergeable receive buffers. A frame the guest has no buffers
 * for waits in a small backlog, and the backend stops reading meanwhile.
 * Hostile frames (too short or long, GSO or checksum requests that were
 * not negotiated or point outside the frame, malformed chains) are
 * dropped and counted; a broken ring needs a device reset.
 *
 * Offered: MAC, STATUS, MRG_RXBUF, CSUM (the device completes partial
 * checksums in software, which lets the guest use scatter-gather) and
 * GUEST_CSUM (frames that libslirp built carry DATA_VALID; frames from a
 * vlan do not, since another guest built them). No GSO: libslirp and the
 * switch carry MTU-sized frames only.
 *
 * This file is the device and its data path. The --net option, the DEVICE
 * entry and the hostfwd control commands are in net-options.c: they run
 * at start and exit or on the control channel, and reach a device only
 * through the constructors at the end of this file, virtio_net_hostfwd
 * and (at exit) its counters. struct net is in net.h for that reason.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "eventloop.h"
#include "log.h"
#include "net.h"
#include "snapshot.h"
#include "virtio.h"
#include "vm.h"

#define NET_F_CSUM 0
#define NET_F_GUEST_CSUM 1
#define NET_F_MAC 5
#define NET_F_MRG_RXBUF 15
#define NET_F_STATUS 16
#define NET_FEATURES                                                             \
	(1ULL << NET_F_CSUM | 1ULL << NET_F_GUEST_CSUM | 1ULL << NET_F_MAC |     \
	 1ULL << NET_F_MRG_RXBUF | 1ULL << NET_F_STATUS)
#define HDR_F_NEEDS_CSUM 1
#define HDR_F_DATA_VALID 2
#define NET_S_LINK_UP 1

/* 5.1.6: the header before every frame (VERSION_1: num_buffers always). */
struct net_hdr {
	uint8_t flags, gso_type;
	uint16_t hdr_len, gso_size, csum_start, csum_offset, num_buffers;
} __attribute__((packed));


static bool has(const struct net *n, unsigned bit)
{
	return n->dev->driver_features & (1ULL << bit);
}

void net_lock(struct net *n)
{
	pthread_mutex_lock(&n->dev->lock);
}

void net_unlock(struct net *n)
{
	pthread_mutex_unlock(&n->dev->lock);
}

bool net_rx_backlogged(const struct net *n)
{
	return n->bl_count != 0;
}

void net_flush(struct net *n)
{
	if (n->tx_used)
		virtio_used(n->dev, TXQ);
	if (n->rx_used)
		virtio_used(n->dev, RXQ);
	n->tx_used = n->rx_used = false;
}

/* --- receive -------------------------------------------------------------- */

static void rx_release(struct net *n, unsigned count)
{
	for (unsigned i = 0; i < count; i++)
		n->held_len -= n->rxc[i].in_len;
	n->held -= count;
	memmove(n->rxc, n->rxc + count, n->held * sizeof(n->rxc[0]));
}

/* Hold receive chains until they can take need bytes (one chain without
 * mergeable buffers). Returns 1 when held, 0 when the guest has posted too
 * few, -EIO when the ring is broken. Malformed chains go back empty. */
static int rx_gather(struct net *n, struct vq *vq, size_t need)
{
	bool mrg = has(n, NET_F_MRG_RXBUF);
	/* QueueReady=0 (4.2.2) took the held chains back with their ring: as
	 * after a queue reset (2.6.1.1.1), the device must not use them. */
	if (n->held && n->rx_gen != vq->gen)
		n->held = n->held_len = 0;
	n->rx_gen = vq->gen;
	while (!n->held || (mrg && n->held_len < need && n->held < NET_RX_CHAINS)) {
		struct vq_chain *c = &n->rxc[n->held];
		int r = vq_pop(vq, c);
		if (r == 0 && vq_enable_notify(vq))
			continue;
		if (r == 0 || r == -EIO)
			return r;
		if (r < 0 || c->nout || !c->in_len) {
			log_guest_once(&n->warned_rx, "%s: malformed receive buffer returned empty",
				       n->dev->name);
			vq_push(vq, c->head, 0);
			n->rx_used = true;
			continue;
		}
		n->held++;
		n->held_len += c->in_len;
	}
	return 1;
}

/* Write the frame into the held chains (their total fits it). */
static void rx_write(struct net *n, struct vq *vq, const uint8_t *frame, size_t len, bool csum_ok)
{
	struct net_hdr h = { .flags = csum_ok && has(n, NET_F_GUEST_CSUM) ? HDR_F_DATA_VALID : 0 };
	size_t need = sizeof(h) + len, room = 0;
	unsigned used = 0;
	while (room < need)
		room += n->rxc[used++].in_len;
	h.num_buffers = used;
	size_t off = 0;
	for (unsigned i = 0; i < used; i++) {
		struct vq_cursor cur;
		vq_writer(&cur, &n->rxc[i]);
		size_t w = i == 0 ? vq_write(&cur, &h, sizeof(h)) : 0;
		size_t body = vq_write(&cur, frame + off, len - off);
		off += body;
		vq_push(vq, n->rxc[i].head, w + body);
	}
	rx_release(n, used);
	n->rx_used = true;
	n->st.rx_frames++;
	n->st.rx_bytes += len;
}

/* Deliver one frame: 1 done (or dropped because the guest's buffers can
 * never hold it), 0 no buffers yet, -EIO broken ring. */
static int rx_put(struct net *n, const uint8_t *frame, size_t len, bool csum_ok)
{
	struct vq *vq = &n->dev->vq[RXQ];
	size_t need = sizeof(struct net_hdr) + len;
	pthread_mutex_lock(&vq->lock);
	int r = rx_gather(n, vq, need);
	if (r == 1 && n->held_len >= need) {
		rx_write(n, vq, frame, len, csum_ok);
	} else if (r == 1) {
		/* Buffers too small for a full frame: return them empty. */
		log_guest_once(&n->warned_rx, "%s: receive buffers too small for a %zu-byte "
			       "frame", n->dev->name, len);
		for (unsigned i = 0; i < n->held; i++)
			vq_push(vq, n->rxc[i].head, 0);
		rx_release(n, n->held);
		n->rx_used = true;
		n->st.rx_dropped++;
	}
	pthread_mutex_unlock(&vq->lock);
	return r;
}

static void rx_broken(struct net *n)
{
	n->bl_count = 0;
	virtio_needs_reset(n->dev, "receive ring corrupt");
}

void net_rx_queue(struct net *n, const void *frame, size_t len, bool csum_ok)
{
	if (len < NET_MIN_FRAME || len > NET_MAX_FRAME || !virtio_running(n->dev) ||
	    !n->dev->vq[RXQ].ready) {
		n->st.rx_dropped++;
		return;
	}
	if (!n->bl_count) {
		int r = rx_put(n, frame, len, csum_ok);
		if (r == -EIO)
			rx_broken(n);
		if (r != 0)
			return;
	}
	if (n->bl_count == NET_BACKLOG) {
		n->st.rx_dropped++;
		return;
	}
	struct rx_slot *s = &n->backlog[(n->bl_head + n->bl_count++) % NET_BACKLOG];
	s->len = len;
	s->csum_ok = csum_ok;
	memcpy(s->data, frame, len);
}

static void rx_drain(struct net *n)
{
	while (n->bl_count) {
		struct rx_slot *s = &n->backlog[n->bl_head];
		int r = rx_put(n, s->data, s->len, s->csum_ok);
		if (r == -EIO)
			rx_broken(n);
		if (r != 1)
			return;
		n->bl_head = (n->bl_head + 1) % NET_BACKLOG;
		n->bl_count--;
	}
}

/* --- the vlan socket -------------------------------------------------------- */

static void vlan_event(void *opaque, int fd, uint32_t events);

/* Read while the guest takes frames; write while a frame waits. */
static void vlan_watch(struct net *n)
{
	if (n->fd < 0 || !n->el)
		return;
	bool up = virtio_running(n->dev) && !n->link_gone;
	uint32_t ev = (up && !n->bl_count ? EPOLLIN : 0) | (up && n->tx_pending ? EPOLLOUT : 0);
	if (ev == n->watching)
		return;
	int r = !n->watching ? el_add_fd(n->el, n->fd, ev, vlan_event, n)
		: !ev ? el_del_fd(n->el, n->fd) : el_mod_fd(n->el, n->fd, ev);
	if (r == 0)
		n->watching = ev;
}

static void vlan_gone(struct net *n, const char *why)
{
	if (!n->link_gone)
		log_warn("%s: vlan socket %s; link down", n->dev->name, why);
	n->link_gone = true;
	n->tx_pending = false;
}

static void vlan_read(struct net *n)
{
	for (int i = 0; i < NET_TX_BURST && !n->bl_count && !n->link_gone; i++) {
		ssize_t r = recv(n->fd, n->rxbuf, sizeof(n->rxbuf), MSG_DONTWAIT | MSG_TRUNC);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno != EAGAIN)
			vlan_gone(n, strerror(errno));
		if (r == 0 && n->seqpacket)
			vlan_gone(n, "closed");
		if (r < 0 || (r == 0 && n->seqpacket))
			break;
		/* MSG_TRUNC: r is the real length, so an oversized one is dropped. */
		net_rx_queue(n, n->rxbuf, r, false);
	}
}

static int vlan_send(struct net *n, const void *buf, size_t len)
{
	if (n->link_gone)
		return -EPIPE;
	if (send(n->fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0)
		return 0;
	if (errno == EAGAIN || errno == ENOBUFS)
		return -EAGAIN;
	int e = errno;
	if (e == EPIPE || e == ECONNRESET || e == ENOTCONN || e == ECONNREFUSED)
		vlan_gone(n, strerror(e));
	return -e;
}

/* --- transmit ------------------------------------------------------------- */

/* Complete a partial checksum (5.1.6.2): the one's complement sum from
 * start to the end of the frame goes at start + off, which must lie inside. */
static bool csum_fill(uint8_t *p, size_t len, size_t start, size_t off)
{
	if (start + off + 2 > len)
		return false;
	uint32_t sum = 0;
	size_t i = start;
	for (; i + 1 < len; i += 2)
		sum += p[i] << 8 | p[i + 1];
	if (i < len)
		sum += p[i] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	uint16_t c = ~sum;
	if (c == 0)
		c = 0xffff; /* UDP's "no checksum" value; the same as 0 for TCP */
	p[start + off] = c >> 8;
	p[start + off + 1] = c & 0xff;
	return true;
}

/* Copy the frame of chain c into txbuf; returns its length, or -1 when the
 * chain or its header is not acceptable. */
static long tx_copy(struct net *n, const struct vq_chain *c)
{
	struct net_hdr h;
	struct vq_cursor cur;
	if (c->nin || c->out_len < sizeof(h) + NET_MIN_FRAME ||
	    c->out_len > sizeof(h) + NET_MAX_FRAME)
		return -1;
	size_t len = c->out_len - sizeof(h);
	vq_reader(&cur, c);
	vq_read(&cur, &h, sizeof(h));
	vq_read(&cur, n->txbuf, len);
	if (h.gso_type != 0)
		return -1; /* no GSO was offered */
	if (h.flags & HDR_F_NEEDS_CSUM &&
	    (!has(n, NET_F_CSUM) || !csum_fill(n->txbuf, len, h.csum_start, h.csum_offset)))
		return -1;
	return len;
}

/* Take the next frame into txbuf: 1 there is one, 0 none, -EIO broken ring. */
static int tx_next(struct net *n)
{
	struct vq *vq = &n->dev->vq[TXQ];
	int r;
	pthread_mutex_lock(&vq->lock);
	for (;;) {
		r = vq_pop(vq, &n->txc);
		if (r == 0 && vq_enable_notify(vq))
			continue;
		if (r == 0 || r == -EIO)
			break;
		long len = r > 0 ? tx_copy(n, &n->txc) : -1;
		vq_push(vq, n->txc.head, 0);
		n->tx_used = true;
		if (len >= 0) {
			n->tx_len = len;
			break;
		}
		log_guest_once(&n->warned_tx, "%s: malformed frame or chain dropped",
			       n->dev->name);
		n->st.tx_dropped++;
	}
	pthread_mutex_unlock(&vq->lock);
	return r < 0 ? r : r > 0;
}

static int backend_send(struct net *n)
{
	if (n->user) {
		net_user_input(n->user, n->txbuf, n->tx_len);
		return 0;
	}
	return vlan_send(n, n->txbuf, n->tx_len);
}

static void net_tx(struct net *n)
{
	for (int burst = 0;; burst++) {
		if (burst == NET_TX_BURST) {
			/* Come back after the other fds had a turn. */
			uint64_t one = 1;
			if (write(n->dev->kick[TXQ], &one, sizeof(one)) < 0)
				log_debug("%s: kick: %m", n->dev->name);
			break;
		}
		if (!n->tx_pending) {
			int r = tx_next(n);
			if (r == -EIO)
				virtio_needs_reset(n->dev, "transmit ring corrupt");
			if (r != 1)
				break;
			n->tx_pending = true;
		}
		int s = backend_send(n);
		if (s == -EAGAIN)
			break; /* back-pressure: EPOLLOUT resumes */
		n->tx_pending = false;
		if (s < 0) {
			log_guest_once(&n->warned_send, "%s: send: %s; dropping frames",
				       n->dev->name, strerror(-s));
			n->st.tx_dropped++;
		} else {
			n->st.tx_frames++;
			n->st.tx_bytes += n->tx_len;
		}
	}
}

/* --- device ops ----------------------------------------------------------- */

static void vlan_event(void *opaque, int fd, uint32_t events)
{
	struct net *n = opaque;
	(void)fd;
	net_lock(n);
	if (virtio_running(n->dev)) {
		if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
			net_tx(n);
		if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
			vlan_read(n);
	}
	vlan_watch(n);
	net_flush(n);
	net_unlock(n);
}

static void net_notify(struct virtio_dev *d, unsigned q)
{
	struct net *n = d->priv;
	if (q == TXQ) {
		net_tx(n);
	} else {
		/* New receive buffers: what waited first, then the socket. */
		rx_drain(n);
		if (n->fd >= 0 && !n->bl_count)
			vlan_read(n);
	}
	vlan_watch(n);
	net_flush(n);
}

static void net_reset(struct virtio_dev *d)
{
	struct net *n = d->priv;
	n->held = 0;
	n->held_len = 0;
	n->bl_count = 0;
	n->tx_pending = false;
	n->rx_used = n->tx_used = false;
	vlan_watch(n);
}

static void net_free(struct virtio_dev *d)
{
	struct net *n = d->priv;
	if (n->user)
		net_user_free(n->user);
	if (n->fd >= 0)
		close(n->fd);
	free(n->backlog);
	free(n);
}

/* Snapshots: receive chains held for the next frame go back to the ring
 * (the restore pops them again); frames waiting in the backlog or for a
 * full vlan socket are lost, as on a link blip. The user network saves
 * libslirp's state. */
static int net_save(struct virtio_dev *d, struct snap_buf *b, const char *dir, char *why,
		    size_t len)
{
	struct net *n = d->priv;
	(void)dir;
	snap_put_u32(b, n->rx_gen == d->vq[RXQ].gen ? n->held : 0);
	snap_put_u32(b, n->user != NULL);
	if (n->user && net_user_save(n->user, b) < 0) {
		snprintf(why, len, "%s: the user network's state: out of memory", d->name);
		return -ENOMEM;
	}
	return 0;
}

static int net_restore(struct virtio_dev *d, struct snap_reader *r, const char *dir)
{
	struct net *n = d->priv;
	uint32_t held = snap_get_u32(r), user = snap_get_u32(r);
	if (r->bad || held > NET_RX_CHAINS || user != (n->user != NULL)) {
		log_error("--restore %s: %s: saved %s: expected the same --net options", dir,
			  d->name, user ? "on the user network" : "on a vlan");
		return -1;
	}
	d->vq[RXQ].last_avail -= held;
	if (n->user && net_user_load(n->user, r) < 0) {
		log_error("--restore %s: %s: the user network's state does not load", dir,
			  d->name);
		return -1;
	}
	return 0;
}

static const struct virtio_ops net_ops = { .notify = net_notify, .reset = net_reset,
					   .free = net_free, .save = net_save,
					   .restore = net_restore };

static struct net *net_new(struct vm *vm, const uint8_t mac[6])
{
	struct net *n = calloc(1, sizeof(*n));
	if (n)
		n->backlog = calloc(NET_BACKLOG, sizeof(*n->backlog));
	if (!n || !n->backlog) {
		free(n);
		return NULL;
	}
	n->el = vm->el;
	n->fd = -1;
	memcpy(n->cfg.mac, mac, 6);
	n->cfg.status = NET_S_LINK_UP;
	n->cfg.max_virtqueue_pairs = 1;
	return n;
}

static struct virtio_dev *net_create(struct vm *vm, struct net *n, const char *name)
{
	n->dev = virtio_mmio_create(vm, name, VIRTIO_ID_NET, NET_FEATURES, 2, &net_ops, n,
				    &n->cfg, sizeof(n->cfg));
	return n->dev;
}

struct virtio_dev *virtio_net_vlan_create(struct vm *vm, int fd, const uint8_t mac[6],
					  const char *name)
{
	struct net *n = net_new(vm, mac);
	if (!n)
		return NULL;
	int type = 0;
	socklen_t tl = sizeof(type);
	getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl);
	n->seqpacket = type == SOCK_SEQPACKET;
	n->fd = fd;
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	return net_create(vm, n, name);
}

struct virtio_dev *virtio_net_user_create(struct vm *vm, const uint8_t mac[6], bool restricted,
					  const char *name)
{
	struct net *n = net_new(vm, mac);
	if (!n || !net_create(vm, n, name))
		return NULL;
	n->user = net_user_new(n, vm->el, restricted, name);
	return n->user ? n->dev : NULL;
}

int virtio_net_hostfwd(struct virtio_dev *d, const char *spec, bool add, const char **why)
{
	struct net *n = d->priv;
	struct net_fwd f;
	if (!n->user) {
		*why = "not a user network";
		return -EINVAL;
	}
	if (net_fwd_parse(spec, add, &f, why) < 0)
		return -EINVAL;
	net_lock(n);
	int r = add ? net_user_add_fwd(n->user, &f) : net_user_remove_fwd(n->user, &f);
	net_unlock(n);
	*why = r == -ENOENT ? "no such forward" : strerror(-r);
	return r;
}
