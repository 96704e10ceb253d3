/* switch.c - a learning Ethernet switch for one vlan (see driver.h).
 *
 * Frames are whole messages on SOCK_SEQPACKET sockets, so there is no
 * framing to parse: a frame's first 6 bytes are its destination, the next 6
 * its source. Learning keeps a small MAC table (last writer wins); unicast
 * to a known MAC goes to that port alone, everything else is flooded to
 * every other open, unblocked port. Sends never block: a full port drops
 * the frame (counted), and TCP in the guests recovers.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "driver.h"

#define SW_FRAME_MAX 1518
#define SW_BURST 64 /* frames read from one port per turn */

/* A port's slot is free again only once its owner closes it: a port the
 * switch saw EOF on stays taken (fd -1), so its owner's later close cannot
 * hit another node's port in a reused slot. */
struct sw_port {
	int fd; /* -1: closed, or EOF seen */
	bool used, blocked;
};

struct sw_mac {
	uint8_t mac[6];
	int port; /* -1: unused */
};

struct vswitch {
	int vlan;
	struct sw_port ports[SW_MAX_PORTS];
	int nports; /* slots ever used: the loops' bound */
	struct sw_mac macs[SW_MAX_PORTS * 4];
	unsigned long long forwarded, dropped;
};

struct vswitch *sw_new(int vlan)
{
	struct vswitch *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->vlan = vlan;
	for (size_t i = 0; i < sizeof(s->macs) / sizeof(s->macs[0]); i++)
		s->macs[i].port = -1;
	return s;
}

/* The lowest free slot: restarts reuse their node's old ports. */
static int free_slot(struct vswitch *s)
{
	for (int i = 0; i < s->nports; i++)
		if (!s->ports[i].used)
			return i;
	return s->nports < SW_MAX_PORTS ? s->nports++ : -ENOSPC;
}

int sw_add_port(struct vswitch *s, int fd)
{
	int port = free_slot(s);
	if (port < 0)
		return port;
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	/* Room for bursts towards a guest that is slow to read. */
	int sz = 1 << 20;
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	s->ports[port] = (struct sw_port){ fd, true, false };
	return port;
}

static void forget_port(struct vswitch *s, int port)
{
	for (size_t i = 0; i < sizeof(s->macs) / sizeof(s->macs[0]); i++)
		if (s->macs[i].port == port)
			s->macs[i].port = -1;
}

void sw_block(struct vswitch *s, int port, bool blocked)
{
	if (port < 0 || port >= s->nports)
		return;
	s->ports[port].blocked = blocked;
	forget_port(s, port);
}

/* EOF: the microvm is gone; the slot stays its node's until closed. */
static void port_eof(struct vswitch *s, int port)
{
	close(s->ports[port].fd);
	s->ports[port].fd = -1;
	forget_port(s, port);
}

void sw_close_port(struct vswitch *s, int port)
{
	if (port < 0 || port >= s->nports || !s->ports[port].used)
		return;
	if (s->ports[port].fd >= 0)
		port_eof(s, port);
	s->ports[port] = (struct sw_port){ -1, false, false };
}

int sw_pollfds(const struct vswitch *s, struct pollfd *p, int max)
{
	int n = 0;
	for (int i = 0; i < s->nports && n < max; i++)
		if (s->ports[i].fd >= 0)
			p[n++] = (struct pollfd){ s->ports[i].fd, POLLIN, 0 };
	return n;
}

static struct sw_mac *mac_find(struct vswitch *s, const uint8_t *mac)
{
	for (size_t i = 0; i < sizeof(s->macs) / sizeof(s->macs[0]); i++)
		if (s->macs[i].port >= 0 && !memcmp(s->macs[i].mac, mac, 6))
			return &s->macs[i];
	return NULL;
}

static void learn(struct vswitch *s, const uint8_t *src, int port)
{
	if (src[0] & 1)
		return; /* a multicast source is bogus: never learned */
	struct sw_mac *m = mac_find(s, src);
	for (size_t i = 0; !m && i < sizeof(s->macs) / sizeof(s->macs[0]); i++)
		if (s->macs[i].port < 0)
			m = &s->macs[i];
	if (!m)
		m = &s->macs[src[5] % (sizeof(s->macs) / sizeof(s->macs[0]))]; /* full: evict */
	memcpy(m->mac, src, 6);
	m->port = port;
}

static void send_to(struct vswitch *s, int port, const uint8_t *f, size_t len)
{
	struct sw_port *p = &s->ports[port];
	if (p->fd < 0)
		return;
	if (!p->blocked && send(p->fd, f, len, MSG_DONTWAIT | MSG_NOSIGNAL) == (ssize_t)len)
		s->forwarded++;
	else
		s->dropped++;
}

static void forward(struct vswitch *s, int from, const uint8_t *f, size_t len)
{
	if (s->ports[from].blocked || len < 14 || len > SW_FRAME_MAX) {
		s->dropped++;
		return;
	}
	learn(s, f + 6, from);
	struct sw_mac *to = f[0] & 1 ? NULL : mac_find(s, f);
	if (to) {
		if (to->port != from)
			send_to(s, to->port, f, len);
		return;
	}
	for (int i = 0; i < s->nports; i++)
		if (i != from)
			send_to(s, i, f, len);
}

static void port_read(struct vswitch *s, int port)
{
	uint8_t f[SW_FRAME_MAX + 1];
	for (int i = 0; i < SW_BURST && s->ports[port].fd >= 0; i++) {
		ssize_t n = recv(s->ports[port].fd, f, sizeof(f), MSG_DONTWAIT | MSG_TRUNC);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			port_eof(s, port);
			return;
		}
		forward(s, port, f, (size_t)n);
	}
}

void sw_handle(struct vswitch *s, const struct pollfd *p, int n)
{
	for (int i = 0; i < n; i++) {
		if (!p[i].revents)
			continue;
		for (int port = 0; port < s->nports; port++)
			if (s->ports[port].fd == p[i].fd)
				port_read(s, port);
	}
}

void sw_counts(const struct vswitch *s, unsigned long long *forwarded,
	       unsigned long long *dropped)
{
	*forwarded = s->forwarded;
	*dropped = s->dropped;
}

void sw_free(struct vswitch *s)
{
	if (!s)
		return;
	for (int i = 0; i < s->nports; i++)
		if (s->ports[i].fd >= 0)
			close(s->ports[i].fd);
	free(s);
}
