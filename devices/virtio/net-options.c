/* net-options.c - how microvm makes its virtio-net devices: the --net
 * option (checked, and vlan sockets connected, before KVM is touched), the
 * DEVICE entry that creates the NICs (eth0 the user network, then the vlans)
 * and prints their counters at exit, and the hostfwd_add and hostfwd_remove
 * control commands.
 *
 * Apart from net.c, the device, because none of this is on the data path:
 * it reaches a device only through net.c's constructors, virtio_net_hostfwd
 * and (at exit) the counters in struct net (net.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "control.h"
#include "device.h"
#include "log.h"
#include "net.h"
#include "virtio.h"
#include "vm.h"

/* --- --net user[,hostfwd=...]...[,restrict=on][,mac=M] |
 *     --net vlan=N,fd=FD|socket=PATH[,mac=M]   (repeatable) ------------------ */

#define NET_MAX_NICS 8
#define NET_MAX_FWDS 16

struct nic_opt {
	const char *spec;       /* the option value, for messages */
	bool user, restricted;
	int vlan, fd;
	uint8_t mac[6];
	char fwd[NET_MAX_FWDS][64];
	int nfwd;
	char name[32];
	struct virtio_dev *dev;
};
static struct nic_opt nics[NET_MAX_NICS];
static int nnics;
static struct virtio_dev *user_dev; /* for hostfwd_add at run time */

static int parse_mac(const char *s, uint8_t mac[6])
{
	unsigned m[6];
	int end = 0;
	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%n", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5],
		   &end) != 6 || s[end] || strlen(s) != 17 || (m[0] & 1))
		return -EINVAL;
	for (int i = 0; i < 6; i++)
		mac[i] = m[i];
	return 0;
}

static long parse_num(const char *s, long lo, long hi)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	return *s && !*end && !errno && v >= lo && v <= hi ? v : -1;
}

/* Connect to a switch's socket: SOCK_SEQPACKET, or SOCK_DGRAM. */
static int vlan_connect(const struct nic_opt *o, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path)) {
		log_error("--net %s: socket path too long", o->spec);
		return -EINVAL;
	}
	strcpy(sa.sun_path, path);
	int types[2] = { SOCK_SEQPACKET, SOCK_DGRAM }, e = 0;
	for (int i = 0; i < 2; i++) {
		int fd = socket(AF_UNIX, types[i] | SOCK_CLOEXEC, 0);
		if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return fd;
		e = errno;
		if (fd >= 0)
			close(fd);
		if (e != EPROTOTYPE)
			break;
	}
	log_error("--net %s: cannot connect to %s: %s", o->spec, path, strerror(e));
	return -EINVAL;
}

static int vlan_fd_check(const struct nic_opt *o, int fd)
{
	struct stat st;
	int type = 0;
	socklen_t tl = sizeof(type);
	if (fstat(fd, &st) < 0) {
		log_error("--net %s: fd %d is not open", o->spec, fd);
		return -EINVAL;
	}
	if (!S_ISSOCK(st.st_mode) || getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) < 0 ||
	    (type != SOCK_SEQPACKET && type != SOCK_DGRAM)) {
		log_error("--net %s: fd %d is not a SOCK_SEQPACKET or SOCK_DGRAM socket",
			  o->spec, fd);
		return -EINVAL;
	}
	return 0;
}

static int nic_key(struct nic_opt *o, char *k, const char **path)
{
	const char *why = NULL;
	struct net_fwd f;
	char *v = strchr(k, '=');
	if (v)
		*v++ = 0;
	if (v && !strcmp(k, "mac")) {
		if (parse_mac(v, o->mac) == 0)
			return 0;
		why = "mac=52:54:00:XX:XX:XX (six hex bytes, unicast)";
	} else if (o->user && v && !strcmp(k, "hostfwd")) {
		if (o->nfwd == NET_MAX_FWDS || strlen(v) >= sizeof(o->fwd[0]))
			why = "at most 16 forwards";
		else if (net_fwd_parse(v, true, &f, &why) == 0) {
			strcpy(o->fwd[o->nfwd++], v);
			return 0;
		}
	} else if (o->user && v && !strcmp(k, "restrict")) {
		o->restricted = !strcmp(v, "on") || !strcmp(v, "yes");
		if (o->restricted || !strcmp(v, "off") || !strcmp(v, "no"))
			return 0;
		why = "restrict=on or restrict=off";
	} else if (!o->user && v && !strcmp(k, "fd") && o->fd < 0 && !*path) {
		o->fd = parse_num(v, 0, 1 << 20);
		if (o->fd >= 0)
			return vlan_fd_check(o, o->fd);
		why = "fd=N, an open socket";
	} else if (!o->user && v && !strcmp(k, "socket") && *v && o->fd < 0 && !*path) {
		*path = v;
		return 0;
	} else {
		why = o->user ? "hostfwd=tcp:127.0.0.1:HOSTPORT-:GUESTPORT, restrict=on|off or mac=M"
			      : "one of fd=N or socket=PATH, and mac=M";
	}
	log_error("--net %s: '%s%s%s': expected %s", o->spec, k, v ? "=" : "", v ? v : "", why);
	return -EINVAL;
}

static int nic_parse_all(struct nic_opt *o, char *copy)
{
	const char *path = NULL;
	char *save, *tok = strtok_r(copy, ",", &save);
	o->user = tok && !strcmp(tok, "user");
	o->vlan = tok && !strncmp(tok, "vlan=", 5) ? parse_num(tok + 5, 0, 255) : -1;
	if (!o->user && o->vlan < 0) {
		log_error("--net %s: expected user[,hostfwd=...][,restrict=on] or "
			  "vlan=N,fd=FD|socket=PATH[,mac=M] (N from 0 to 255)", o->spec);
		return -EINVAL;
	}
	/* Default MACs: QEMU's for the user network; for vlans NixOS's
	 * 52:54:00:12:VV:01, VV the vlan's decimal digits (below 100). */
	int vv = o->vlan < 100 ? o->vlan / 10 * 16 + o->vlan % 10 : o->vlan;
	uint8_t def[6] = { 0x52, 0x54, 0x00, 0x12, o->user ? 0x34 : vv, o->user ? 0x56 : 0x01 };
	memcpy(o->mac, def, 6);
	for (tok = strtok_r(NULL, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
		if (nic_key(o, tok, &path) < 0)
			return -EINVAL;
	if (!o->user && o->fd < 0 && !path) {
		log_error("--net %s: expected fd=FD or socket=PATH for the vlan", o->spec);
		return -EINVAL;
	}
	if (path && (o->fd = vlan_connect(o, path)) < 0)
		return -EINVAL;
	return 0;
}

static int net_parse(const char *v)
{
	if (nnics == NET_MAX_NICS) {
		log_error("--net %s: at most %d network devices", v, NET_MAX_NICS);
		return -EINVAL;
	}
	struct nic_opt *o = &nics[nnics];
	*o = (struct nic_opt){ .spec = v, .fd = -1, .vlan = -1 };
	char *copy = strdup(v);
	int r = copy ? nic_parse_all(o, copy) : -ENOMEM;
	free(copy);
	for (int i = 0; r == 0 && o->user && i < nnics; i++) {
		if (nics[i].user) {
			log_error("--net %s: only one user network", v);
			r = -EINVAL;
		}
	}
	if (r == 0)
		nnics++;
	return r;
}

static int nic_setup(struct vm *vm, struct nic_opt *o, int index)
{
	snprintf(o->name, sizeof(o->name), "virtio-net eth%d", index);
	if (!o->user) {
		o->dev = virtio_net_vlan_create(vm, o->fd, o->mac, o->name);
		return o->dev ? 0 : -ENODEV;
	}
	o->dev = user_dev = virtio_net_user_create(vm, o->mac, o->restricted, o->name);
	for (int i = 0; o->dev && i < o->nfwd; i++) {
		const char *why;
		if (virtio_net_hostfwd(o->dev, o->fwd[i], true, &why) < 0) {
			log_error("--net %s: hostfwd=%s: %s", o->spec, o->fwd[i], why);
			return -EADDRINUSE;
		}
	}
	return o->dev ? 0 : -ENODEV;
}

/* eth0 is the user network, then the vlans in the order given. */
static int net_setup(struct vm *vm)
{
	int index = 0, r = 0;
	for (int pass = 0; pass < 2; pass++)
		for (int i = 0; r == 0 && i < nnics; i++)
			if (nics[i].user == (pass == 0))
				r = nic_setup(vm, &nics[i], index++);
	return r;
}

static void net_teardown(struct vm *vm)
{
	(void)vm;
	for (int i = 0; i < nnics; i++) {
		if (!nics[i].dev)
			continue;
		struct net *n = nics[i].dev->priv;
		log_debug("%s: sent %llu frames (%llu bytes, %llu dropped), received %llu "
			  "(%llu bytes, %llu dropped), %u bad chains", nics[i].name,
			  n->st.tx_frames, n->st.tx_bytes, n->st.tx_dropped, n->st.rx_frames,
			  n->st.rx_bytes, n->st.rx_dropped,
			  n->dev->vq[RXQ].bad_chains + n->dev->vq[TXQ].bad_chains);
	}
}

DEVICE(virtio_net, .name = "virtio-net", .option = "net",
       .usage = "--net user[,hostfwd=tcp:127.0.0.1:HP-:GP][,restrict=on][,mac=M]\n"
		"  --net vlan=N,fd=FD|socket=PATH[,mac=M]  network devices (repeatable; "
		"eth0 user, then vlans)",
       .parse = net_parse, .setup = net_setup, .teardown = net_teardown);

/* Control commands: forwards into the user network at run time. */
static int fwd_cmd(const char *args, char *reply, size_t len, bool add)
{
	const char *why = "no user network (--net user)";
	int r = user_dev ? virtio_net_hostfwd(user_dev, args, add, &why) : -ENODEV;
	if (r < 0)
		snprintf(reply, len, "%s", why);
	return r;
}

static int hostfwd_add(struct vm *vm, const char *args, char *reply, size_t len)
{
	(void)vm;
	return fwd_cmd(args, reply, len, true);
}

static int hostfwd_remove(struct vm *vm, const char *args, char *reply, size_t len)
{
	(void)vm;
	return fwd_cmd(args, reply, len, false);
}

CONTROL_CMD(hostfwd_add, .name = "hostfwd_add",
	    .usage = "hostfwd_add [tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT",
	    .run = hostfwd_add);
CONTROL_CMD(hostfwd_remove, .name = "hostfwd_remove",
	    .usage = "hostfwd_remove [tcp|udp]:[HOSTADDR]:HOSTPORT", .run = hostfwd_remove);
