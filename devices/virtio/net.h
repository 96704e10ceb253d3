/* net.h - private to the virtio-net device (net.c) and its user-network
 * backend (net-user.c). Everything here runs on the event-loop thread with
 * the device lock (d->lock) held, except where a comment says otherwise.
 */
#ifndef NET_H
#define NET_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>

struct eventloop;
struct net;
struct net_user;

/* Frame sizes without the virtio header: an Ethernet header at least, at
 * most a 1500-byte payload with an 802.1Q tag (no GSO is offered). */
#define NET_MIN_FRAME 14
#define NET_MAX_FRAME 1518

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
