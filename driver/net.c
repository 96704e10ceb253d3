/* net.c - microvmtest's networks: one switch per vlan (switch.c) hosted in
 * the poll loop, each node's vlan NICs as ports on socketpairs, and a
 * control socket into each microvm with a user network (forward_port).
 *
 * Nodes are numbered in alphabetical order (NixOS); on vlan VV node NN gets
 * MAC 52:54:00:12:VV:NN (both in hex, two digits each, as NixOS's
 * qemu-common.nix makes them: at most 255 of either) and, in the guest,
 * 192.168.VV.NN/24 (decimal). The driver passes every node's name
 * and address on the kernel command line (microvm.hosts=NAME=IP,...; the
 * address on the first vlan the two nodes share), for the guest to write
 * /etc/hosts from.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "driver.h"

/* In the child: the control socket, then one fd per vlan in node order. */
#define CONTROL_FD 10
#define VLAN_FD_BASE 11
#define MAX_NODE_VLANS 16
/* qemu-common.nix's qemuNicMac: vlan, then node number, in (upper case) hex. */
#define NIC_MAC "52:54:00:12:%02X:%02X"

struct machine_net {
	int ports[MAX_NODE_VLANS]; /* port on the vlan's switch, -1: none */
	int child_fds[MAX_NODE_VLANS + 1]; /* the child's ends until it has them */
	int ctl_fd;                /* our end of the control socket, -1: none */
	bool blocked;
};

struct drv_net {
	struct vswitch *sw[256]; /* by vlan number, made on first use */
};

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* A socketpair whose child end sits above the fds the child dups to. */
static int pair(int type, int *ours, int *theirs)
{
	int sv[2];
	if (socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	*ours = sv[0];
	*theirs = fcntl(sv[1], F_DUPFD_CLOEXEC, 64);
	close(sv[1]);
	return *theirs < 0 ? -1 : 0;
}

static struct machine_net *mnet(struct machine *m)
{
	if (!m->net) {
		m->net = calloc(1, sizeof(*m->net));
		if (!m->net)
			abort();
		for (int i = 0; i < MAX_NODE_VLANS; i++)
			m->net->ports[i] = -1;
		for (int i = 0; i <= MAX_NODE_VLANS; i++)
			m->net->child_fds[i] = -1;
		m->net->ctl_fd = -1;
	}
	return m->net;
}

int net_prepare(struct ctx *x, struct machine *m)
{
	const struct node_conf *c = m->conf;
	if (!c->nvlans && !c->user_net && !c->nforwards && !snap_control(m))
		return 0;
	struct machine_net *n = mnet(m);
	if (c->nvlans > MAX_NODE_VLANS)
		return ctx_fail(x, "%s: at most %d vlans per node", m->name, MAX_NODE_VLANS);
	if (c->index > 255)
		return ctx_fail(x, "%s: vlan MACs 52:54:00:12:VV:NN need at most 255 nodes",
				m->name);
	if (c->nvlans && !m->d->net && !(m->d->net = calloc(1, sizeof(*m->d->net))))
		return ctx_fail(x, "out of memory");
	for (size_t i = 0; i < c->nvlans; i++) {
		int v = c->vlans[i], ours;
		if (!m->d->net->sw[v] && !(m->d->net->sw[v] = sw_new(v)))
			return ctx_fail(x, "out of memory");
		/* QEMU's -netdev dgram takes datagram sockets; both keep frames whole */
		if (pair(m->d->qemu ? SOCK_DGRAM : SOCK_SEQPACKET, &ours, &n->child_fds[1 + i]) < 0)
			return ctx_fail(x, "socketpair: %s", strerror(errno));
		n->ports[i] = sw_add_port(m->d->net->sw[v], ours);
		if (n->ports[i] < 0) {
			close(ours);
			return ctx_fail(x, "vlan %d: too many ports", v);
		}
		sw_block(m->d->net->sw[v], n->ports[i], n->blocked);
	}
	if (!m->d->qemu && (c->user_net || c->nforwards || snap_control(m)) &&
	    pair(SOCK_STREAM, &n->ctl_fd, &n->child_fds[0]) < 0)
		return ctx_fail(x, "socketpair: %s", strerror(errno));
	return 0;
}

void net_argv(struct machine *m, char ***a, size_t *n)
{
	const struct node_conf *c = m->conf;
	if (c->user_net || c->nforwards) {
		struct buf b = { 0 };
		buf_adds(&b, "user");
		for (size_t i = 0; i < c->nforwards; i++)
			buf_printf(&b, ",hostfwd=tcp:127.0.0.1:%d-:%d", c->forwards[i].host_port,
				   c->forwards[i].guest_port);
		argv_add(a, n, "--net");
		argv_add(a, n, "%s", b.p);
		argv_add(a, n, "--control");
		argv_add(a, n, "fd:%d", CONTROL_FD);
		buf_free(&b);
	} else if (snap_control(m)) { /* for `snapshot` */
		argv_add(a, n, "--control");
		argv_add(a, n, "fd:%d", CONTROL_FD);
	}
	for (size_t i = 0; i < c->nvlans; i++) {
		argv_add(a, n, "--net");
		argv_add(a, n, "vlan=%d,fd=%zu,mac=" NIC_MAC, c->vlans[i], VLAN_FD_BASE + i,
			 c->vlans[i], c->index);
	}
}

/* --vmm qemu: each vlan NIC a virtio-net-pci on its switch port, with the
 * MAC microvm would give it. */
void net_qemu_argv(struct machine *m, char ***a, size_t *n)
{
	const struct node_conf *c = m->conf;
	for (size_t i = 0; i < c->nvlans; i++) {
		argv_add(a, n, "-netdev");
		argv_add(a, n, "dgram,id=vlan%zu,local.type=fd,local.str=%zu", i, VLAN_FD_BASE + i);
		argv_add(a, n, "-device");
		argv_add(a, n, "virtio-net-pci,netdev=vlan%zu,mac=" NIC_MAC, i, c->vlans[i],
			 c->index);
	}
}

/* The address of o as m should know it: on the first vlan of m's that o
 * shares; 0 when they share none. */
static int shared_vlan(const struct node_conf *m, const struct node_conf *o)
{
	for (size_t i = 0; i < m->nvlans; i++)
		for (size_t j = 0; j < o->nvlans; j++)
			if (m->vlans[i] == o->vlans[j])
				return m->vlans[i];
	return -1;
}

void net_cmdline(struct machine *m, struct buf *b)
{
	const char *sep = " microvm.hosts=";
	for (size_t i = 0; i < m->d->nm; i++) {
		const struct node_conf *o = m->d->m[i].conf;
		int v = shared_vlan(m->conf, o);
		if (v < 0)
			continue;
		buf_printf(b, "%s%s=192.168.%d.%d", sep, o->name, v, o->index);
		sep = ",";
	}
}

void net_child(struct machine *m)
{
	if (!m->net)
		return;
	for (int i = 0; i <= MAX_NODE_VLANS; i++)
		if (m->net->child_fds[i] >= 0 && dup2(m->net->child_fds[i], CONTROL_FD + i) < 0)
			_exit(127);
}

void net_spawned(struct machine *m)
{
	for (int i = 0; m->net && i <= MAX_NODE_VLANS; i++)
		close_fd(&m->net->child_fds[i]);
}

void net_closed(struct machine *m)
{
	struct machine_net *n = m->net;
	if (!n)
		return;
	net_spawned(m);
	close_fd(&n->ctl_fd);
	for (size_t i = 0; i < m->conf->nvlans && i < MAX_NODE_VLANS; i++) {
		if (n->ports[i] >= 0)
			sw_close_port(m->d->net->sw[m->conf->vlans[i]], n->ports[i]);
		n->ports[i] = -1;
	}
}

void net_free(struct driver *d)
{
	for (size_t i = 0; i < d->nm; i++) {
		net_closed(&d->m[i]);
		free(d->m[i].net);
		d->m[i].net = NULL;
	}
	for (int v = 0; d->net && v < 256; v++)
		sw_free(d->net->sw[v]);
	free(d->net);
	d->net = NULL;
}

int net_pollfds(struct driver *d, struct pollfd *p, int max)
{
	int n = 0;
	for (int v = 0; d->net && v < 256; v++)
		if (d->net->sw[v])
			n += sw_pollfds(d->net->sw[v], p + n, max - n);
	return n;
}

int net_nfds(struct driver *d)
{
	int n = 0;
	for (size_t i = 0; i < d->nm; i++)
		n += (int)d->m[i].conf->nvlans;
	return n;
}

void net_handle(struct driver *d, const struct pollfd *p, int n)
{
	for (int v = 0; d->net && v < 256; v++)
		if (d->net->sw[v])
			sw_handle(d->net->sw[v], p, n);
}

/* --- machine API -------------------------------------------------------- */

static int set_blocked(struct ctx *x, bool blocked)
{
	struct machine *m = x->m;
	if (!m->conf->nvlans)
		return ctx_fail(x, "%s has no vlans to %s", m->name, blocked ? "block" : "unblock");
	struct machine_net *n = mnet(m);
	n->blocked = blocked;
	for (size_t i = 0; i < m->conf->nvlans; i++)
		if (n->ports[i] >= 0)
			sw_block(m->d->net->sw[m->conf->vlans[i]], n->ports[i], blocked);
	tlog(m->name, "%s", blocked ? "link down on every vlan" : "link up again");
	return 0;
}

int m_block(struct ctx *x)
{
	return set_blocked(x, true);
}

int m_unblock(struct ctx *x)
{
	return set_blocked(x, false);
}

int net_control(struct ctx *x, const char *cmd, double timeout, struct buf *reply)
{
	struct machine_net *n = x->m->net;
	if (!n || n->ctl_fd < 0)
		return ctx_fail(x, "%s has no user network (set \"user_net\": true)", x->m->name);
	size_t len = strlen(cmd);
	if (send(n->ctl_fd, cmd, len, MSG_NOSIGNAL) != (ssize_t)len)
		return ctx_fail(x, "control socket of %s: %s", x->m->name, strerror(errno));
	double until = now() + timeout;
	while (!memchr(reply->p ? reply->p : "", '\n', reply->len)) {
		int r = drv_pump(x->d, x->m, n->ctl_fd, POLLIN, until);
		if (r != IO_READY)
			return pump_fail(x, r, "waiting for microvm's control reply");
		char tmp[512];
		ssize_t got = recv(n->ctl_fd, tmp, sizeof(tmp), MSG_DONTWAIT);
		if (got <= 0 && !(got < 0 && (errno == EAGAIN || errno == EINTR)))
			return ctx_fail(x, "control socket of %s closed", x->m->name);
		if (got > 0)
			buf_add(reply, tmp, (size_t)got);
	}
	return 0;
}

int m_forward_port(struct ctx *x)
{
	if (x->m->pid <= 0)
		return ctx_fail(x, "forward_port: %s is not running", x->m->name);
	char cmd[96];
	snprintf(cmd, sizeof(cmd), "hostfwd_add tcp:127.0.0.1:%ld-:%ld\n", call_int(x->c, 0),
		 call_int(x->c, 1));
	struct buf reply = { 0 };
	int r = net_control(x, cmd, 10, &reply);
	if (r == 0 && strncmp(reply.p, "ok", 2)) {
		reply.p[strcspn(reply.p, "\n")] = 0;
		r = ctx_fail(x, "forward_port(%ld, %ld): %s", call_int(x->c, 0), call_int(x->c, 1),
			     reply.p);
	}
	buf_free(&reply);
	return r;
}
