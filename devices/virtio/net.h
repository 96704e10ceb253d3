/* net.h - private to the virtio-net device (net.c), its user-network
 * backend (net-user.c) and its options (net-options.c). Everything here
 * runs on the event-loop thread with the device lock (d->lock) held, except
 * where a comment says otherwise.
 */
#ifndef NET_H
#define NET_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "virtio.h"

struct eventloop;
struct net_user;

/* Frame sizes without the virtio header: an Ethernet header at least, at
 * most a 1500-byte payload with an 802.1Q tag (no GSO is offered). */
#define NET_MIN_FRAME 14
#define NET_MAX_FRAME 1518

/* --- the device (net.c); net-options.c reads dev and st at exit ---------- */

enum { RXQ = 0, TXQ = 1 };

#define NET_BACKLOG 256   /* frames waiting for receive buffers */
#define NET_RX_CHAINS 64  /* receive buffers one frame may span */
#define NET_TX_BURST 256  /* frames sent before other fds get a turn */

/* 5.1.4: configuration space. */
struct net_config {
	uint8_t mac[6];
	uint16_t status, max_virtqueue_pairs;
} __attribute__((packed));

struct rx_slot {
	uint16_t len;
	bool csum_ok;
	uint8_t data[NET_MAX_FRAME];
};

struct net_stats {
	unsigned long long tx_frames, tx_bytes, tx_dropped, rx_frames, rx_bytes, rx_dropped;
};

struct net {
	struct virtio_dev *dev;
	struct eventloop *el;
	struct net_user *user;  /* the user backend, or */
	int fd;                 /* the vlan socket (else -1) */
	bool seqpacket;         /* an empty message is EOF */
	bool link_gone;         /* the vlan peer went away */
	uint32_t watching;      /* epoll events on fd */
	struct net_config cfg;
	/* receive: the backlog ring and the chains held for the next frame */
	struct rx_slot *backlog;
	unsigned bl_head, bl_count;
	struct vq_chain rxc[NET_RX_CHAINS];
	unsigned held;
	size_t held_len;
	unsigned rx_gen;        /* the receive queue's generation when held */
	bool rx_used, tx_used;  /* interrupts owed */
	/* transmit: a frame the backend could not take yet */
	bool tx_pending;
	size_t tx_len;
	struct vq_chain txc;
	uint8_t txbuf[NET_MAX_FRAME];
	uint8_t rxbuf[NET_MAX_FRAME + 1];
	bool warned_rx, warned_tx, warned_send;
	struct net_stats st;
};

/* One host-to-guest port forward (hostfwd=[tcp|udp]:[HOST]:PORT-[GUEST]:PORT). */
struct net_fwd {
	bool udp;
	struct in_addr host, guest;
	int host_port, guest_port;
};

/* Parse a forward; on error returns -EINVAL and points *why at what was
 * expected. host defaults to 127.0.0.1, guest to 10.0.2.15; without
 * need_guest the "-[GUEST]:PORT" part may be left out (for removing). */
int net_fwd_parse(const char *s, bool need_guest, struct net_fwd *f, const char **why);

/* A frame for the guest: delivered now, or kept in a bounded backlog
 * until the guest posts receive buffers (dropped and counted when that is
 * full or the device is not running). csum_ok: the sender's checksums are
 * known good (the guest may skip checking them). */
void net_rx_queue(struct net *n, const void *frame, size_t len, bool csum_ok);

/* True while frames wait for receive buffers: backends stop reading. */
bool net_rx_backlogged(const struct net *n);

/* Raise the interrupts owed for buffers used since the last call. */
void net_flush(struct net *n);

/* The device lock, for backends entered from the event loop. */
void net_lock(struct net *n);
void net_unlock(struct net *n);

/* --- the user-network backend (libslirp) -------------------------------- */

/* Start libslirp for n on el (a poll source); 10.0.2.0/24, gateway and
 * host 10.0.2.2, DNS 10.0.2.3, DHCP from 10.0.2.15. Called before the loop
 * runs. Returns NULL after printing one line. */
struct net_user *net_user_new(struct net *n, struct eventloop *el, bool restricted,
			      const char *what);

/* Add a forward; returns 0 or -errno (EADDRINUSE when the port is taken). */
int net_user_add_fwd(struct net_user *u, const struct net_fwd *f);

/* Remove the forward on host:port; returns 0 or -ENOENT. */
int net_user_remove_fwd(struct net_user *u, const struct net_fwd *f);

/* A frame from the guest. */
void net_user_input(struct net_user *u, const void *frame, size_t len);

void net_user_free(struct net_user *u);

/* Snapshots: libslirp's own state (slirp_state_save/load: its connections
 * and leases) appended to b, or loaded from r. Return 0 or -1. */
struct snap_buf;
struct snap_reader;
int net_user_save(struct net_user *u, struct snap_buf *b);
int net_user_load(struct net_user *u, struct snap_reader *r);

#endif
