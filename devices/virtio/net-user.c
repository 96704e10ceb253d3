/* net-user.c - the user network: libslirp behind a virtio-net device.
 *
 * libslirp is single-threaded and hands out a fresh set of sockets to poll
 * every turn, so it is a poll source of the device event loop
 * (el_add_source): everything here runs on the loop thread under the
 * device lock. Its timers are a few deadlines folded into the poll
 * timeout. While frames wait for the guest's receive buffers, its sockets
 * are not polled for input, so host traffic waits in the kernel instead of
 * being dropped.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <libslirp.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "eventloop.h"
#include "log.h"
#include "net.h"
#include "snapshot.h"

#define USER_TIMERS 4

struct user_timer {
	bool used, armed;
	SlirpTimerId id;
	void *cb_opaque;
	int64_t expire_ms;
};

struct net_user {
	struct net *net;
	Slirp *slirp;
	const char *what; /* device name, for messages */
	struct pollfd *fds;
	int nfds, cap;
	struct user_timer timers[USER_TIMERS];
	bool warned;
};

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static ssize_t cb_send(const void *buf, size_t len, void *opaque)
{
	struct net_user *u = opaque;
	net_rx_queue(u->net, buf, len, true);
	return len;
}

static void cb_guest_error(const char *msg, void *opaque)
{
	struct net_user *u = opaque;
	log_guest_once(&u->warned, "%s: %s", u->what, msg);
}

static int64_t cb_clock(void *opaque)
{
	(void)opaque;
	return now_ns();
}

static void *cb_timer_new(SlirpTimerId id, void *cb_opaque, void *opaque)
{
	struct net_user *u = opaque;
	for (int i = 0; i < USER_TIMERS; i++) {
		struct user_timer *t = &u->timers[i];
		if (!t->used) {
			*t = (struct user_timer){ .used = true, .id = id, .cb_opaque = cb_opaque };
			return t;
		}
	}
	log_warn("%s: out of timers", u->what);
	return NULL;
}

static void cb_timer_free(void *timer, void *opaque)
{
	(void)opaque;
	if (timer)
		((struct user_timer *)timer)->used = false;
}

static void cb_timer_mod(void *timer, int64_t expire_ms, void *opaque)
{
	struct user_timer *t = timer;
	(void)opaque;
	if (t) {
		t->armed = true;
		t->expire_ms = expire_ms;
	}
}

/* The fd set is rebuilt every turn: nothing to register. */
static void cb_poll_fd(int fd, void *opaque)
{
	(void)fd;
	(void)opaque;
}

static void cb_notify(void *opaque)
{
	(void)opaque;
}

static const SlirpCb user_cb = {
	.send_packet = cb_send, .guest_error = cb_guest_error, .clock_get_ns = cb_clock,
	.timer_free = cb_timer_free, .timer_mod = cb_timer_mod,
	.register_poll_fd = cb_poll_fd, .unregister_poll_fd = cb_poll_fd, .notify = cb_notify,
	.timer_new_opaque = cb_timer_new,
};

static int add_poll(int fd, int events, void *opaque)
{
	struct net_user *u = opaque;
	if (u->nfds == u->cap) {
		int cap = u->cap ? 2 * u->cap : 32;
		struct pollfd *p = realloc(u->fds, cap * sizeof(*p));
		if (!p)
			return -1;
		u->fds = p;
		u->cap = cap;
	}
	short ev = (events & SLIRP_POLL_IN ? POLLIN : 0) | (events & SLIRP_POLL_OUT ? POLLOUT : 0) |
		   (events & SLIRP_POLL_PRI ? POLLPRI : 0);
	u->fds[u->nfds] = (struct pollfd){ fd, ev, 0 };
	return u->nfds++;
}

static int get_revents(int idx, void *opaque)
{
	struct net_user *u = opaque;
	if (idx < 0 || idx >= u->nfds)
		return 0;
	short r = u->fds[idx].revents;
	return (r & POLLIN ? SLIRP_POLL_IN : 0) | (r & POLLOUT ? SLIRP_POLL_OUT : 0) |
	       (r & POLLPRI ? SLIRP_POLL_PRI : 0) | (r & POLLERR ? SLIRP_POLL_ERR : 0) |
	       (r & POLLHUP ? SLIRP_POLL_HUP : 0);
}

static struct pollfd *user_prepare(void *opaque, int *n, int *timeout)
{
	struct net_user *u = opaque;
	uint32_t t = *timeout < 0 ? UINT32_MAX : (uint32_t)*timeout;
	net_lock(u->net);
	u->nfds = 0;
	slirp_pollfds_fill(u->slirp, &t, add_poll, u);
	int64_t now = now_ns() / 1000000;
	for (int i = 0; i < USER_TIMERS; i++) {
		struct user_timer *tm = &u->timers[i];
		if (tm->used && tm->armed)
			t = tm->expire_ms <= now ? 0 : tm->expire_ms - now < t ? tm->expire_ms - now : t;
	}
	/* The guest is not taking frames: leave host input in the kernel. */
	if (net_rx_backlogged(u->net))
		for (int i = 0; i < u->nfds; i++)
			u->fds[i].events &= ~POLLIN;
	net_unlock(u->net);
	*timeout = t > INT_MAX ? -1 : (int)t;
	*n = u->nfds;
	return u->fds;
}

static void user_dispatch(void *opaque)
{
	struct net_user *u = opaque;
	net_lock(u->net);
	slirp_pollfds_poll(u->slirp, 0, get_revents, u);
	int64_t now = now_ns() / 1000000;
	for (int i = 0; i < USER_TIMERS; i++) {
		struct user_timer *tm = &u->timers[i];
		if (tm->used && tm->armed && tm->expire_ms <= now) {
			tm->armed = false;
			slirp_handle_timer(u->slirp, tm->id, tm->cb_opaque);
		}
	}
	net_flush(u->net);
	net_unlock(u->net);
}

static struct in_addr ip4(const char *s)
{
	struct in_addr a;
	inet_pton(AF_INET, s, &a);
	return a;
}

struct net_user *net_user_new(struct net *n, struct eventloop *el, bool restricted,
			      const char *what)
{
	struct net_user *u = calloc(1, sizeof(*u));
	if (!u)
		return NULL;
	u->net = n;
	u->what = what;
	SlirpConfig cfg = {
		.version = 4, .restricted = restricted, .in_enabled = true,
		.vnetwork = ip4("10.0.2.0"), .vnetmask = ip4("255.255.255.0"),
		.vhost = ip4("10.0.2.2"), .vdhcp_start = ip4("10.0.2.15"),
		.vnameserver = ip4("10.0.2.3"), .vhostname = "microvm",
	};
	u->slirp = slirp_new(&cfg, &user_cb, u);
	int r = u->slirp ? el_add_source(el, user_prepare, user_dispatch, u) : -ENOMEM;
	if (r < 0) {
		log_error("%s: cannot start the user network: %s", what, strerror(-r));
		net_user_free(u);
		return NULL;
	}
	return u;
}

int net_user_add_fwd(struct net_user *u, const struct net_fwd *f)
{
	errno = 0;
	if (slirp_add_hostfwd(u->slirp, f->udp, f->host, f->host_port, f->guest,
			      f->guest_port) == 0)
		return 0;
	return errno ? -errno : -EADDRINUSE;
}

int net_user_remove_fwd(struct net_user *u, const struct net_fwd *f)
{
	return slirp_remove_hostfwd(u->slirp, f->udp, f->host, f->host_port) == 0 ? 0 : -ENOENT;
}

void net_user_input(struct net_user *u, const void *frame, size_t len)
{
	slirp_input(u->slirp, frame, len);
}

void net_user_free(struct net_user *u)
{
	if (u->slirp)
		slirp_cleanup(u->slirp);
	free(u->fds);
	free(u);
}

static int parse_port(const char *s)
{
	char *end;
	long v = strtol(s, &end, 10);
	return *s && !*end && v >= 1 && v <= 65535 ? (int)v : -1;
}

static bool parse_addr(const char *s, const char *def, struct in_addr *a)
{
	return inet_pton(AF_INET, *s ? s : def, a) == 1;
}

int net_fwd_parse(const char *s, bool need_guest, struct net_fwd *f, const char **why)
{
	char buf[96];
	*why = need_guest ? "[tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT (ports 1-65535)"
			  : "[tcp|udp]:[HOSTADDR]:HOSTPORT (a port 1-65535)";
	if (strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	char *p = buf;
	const char *proto = strsep(&p, ":"), *host = strsep(&p, ":");
	const char *hport = strsep(&p, "-"), *guest = strsep(&p, ":"), *gport = p;
	*f = (struct net_fwd){ .udp = !strcmp(proto, "udp") };
	if (strcmp(proto, "tcp") && strcmp(proto, "udp") && *proto)
		return -EINVAL;
	if (!host || !hport || !parse_addr(host, "127.0.0.1", &f->host) ||
	    (f->host_port = parse_port(hport)) < 0)
		return -EINVAL;
	if (!guest && !need_guest)
		return 0;
	if (!guest || !gport || !parse_addr(guest, "10.0.2.15", &f->guest) ||
	    (f->guest_port = parse_port(gport)) < 0)
		return -EINVAL;
	return 0;
}

static ssize_t save_cb(const void *buf, size_t len, void *opaque)
{
	snap_put(opaque, buf, len);
	return len;
}

int net_user_save(struct net_user *u, struct snap_buf *b)
{
	struct snap_buf s = { 0 };
	slirp_state_save(u->slirp, save_cb, &s);
	snap_put_u32(b, slirp_state_version());
	snap_put_u64(b, s.len);
	snap_put(b, s.data, s.len);
	free(s.data);
	return s.err ? -1 : 0;
}

static ssize_t load_cb(void *buf, size_t len, void *opaque)
{
	struct snap_reader *r = opaque;
	snap_get(r, buf, len);
	return r->bad ? -1 : (ssize_t)len;
}

int net_user_load(struct net_user *u, struct snap_reader *r)
{
	uint32_t version = snap_get_u32(r);
	uint64_t len = snap_get_u64(r);
	if (r->bad || len > r->len - r->off)
		return -1;
	struct snap_reader sub = { .p = r->p + r->off, .len = len };
	r->off += len;
	return slirp_state_load(u->slirp, version, load_cb, &sub) < 0 ? -1 : 0;
}
