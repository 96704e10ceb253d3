/* test_virtio_net.c - virtio-net driven by the fake driver: frames both ways
 * over a vlan socketpair (byte-exact, checksum completion, mergeable and
 * plain receive buffers, back-pressure), hostile frames from either side
 * dropped, the user network answering ARP and a host forward reaching the
 * guest through real libslirp, the control channel and --net's errors. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "control.h"
#include "fakedrv.h"
#include "options.h"

enum { RXQ = 0, TXQ = 1 };
#define HDR 12
#define F_MRG_RXBUF (1ULL << 15)

struct t {
	struct vm *vm;
	struct virtio_dev *dev;
	struct fakedrv f;
	int host; /* the switch's end of the vlan socketpair */
};

static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x01, 0x01 };

static int setup_with(void **state, uint64_t want)
{
	struct t *t = calloc(1, sizeof(*t));
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	t->host = sv[1];
	t->vm = fake_vm_new(16 << 20);
	t->dev = virtio_net_vlan_create(t->vm, sv[0], mac, "virtio-net eth1");
	assert_non_null(t->dev);
	assert_int_equal(fd_init(&t->f, t->vm, t->dev, want, 64), 0x0f);
	*state = t;
	return 0;
}

static int setup(void **state)
{
	return setup_with(state, ~0ULL);
}

static int setup_plain(void **state)
{
	return setup_with(state, ~F_MRG_RXBUF);
}

static int teardown(void **state)
{
	struct t *t = *state;
	fake_vm_free(t->vm);
	virtio_mmio_free(t->dev);
	close(t->host);
	free(t);
	return 0;
}

/* A frame of len bytes: broadcast, from mac, type 0x88b5, then a pattern. */
static void make_frame(uint8_t *p, size_t len, uint8_t seed)
{
	memset(p, 0xff, 6);
	memcpy(p + 6, mac, 6);
	p[12] = 0x88;
	p[13] = 0xb5;
	for (size_t i = 14; i < len; i++)
		p[i] = i * 7 + seed;
}

/* Queue a transmit chain: the header and the frame in two buffers. */
static void tx(struct t *t, const void *hdr, const void *frame, size_t len)
{
	uint64_t h = fd_alloc(&t->f, HDR, 2), d = fd_alloc(&t->f, len ? len : 1, 2);
	memcpy(fake_ptr(t->vm, h), hdr, HDR);
	memcpy(fake_ptr(t->vm, d), frame, len);
	struct fd_seg s[2] = { { h, HDR, false }, { d, len, false } };
	fd_add(&t->f, TXQ, s, len ? 2 : 1, false);
}

static uint64_t rx_post(struct t *t, uint32_t size)
{
	uint64_t a = fd_alloc(&t->f, size, 2);
	struct fd_seg s = { a, size, true };
	fd_add(&t->f, RXQ, &s, 1, false);
	return a;
}

/* The next message the switch gets, waiting up to 2 s; -1 if none. */
static ssize_t host_recv(struct t *t, uint8_t *buf, size_t len, int ms)
{
	struct pollfd p = { t->host, POLLIN, 0 };
	if (poll(&p, 1, ms) != 1)
		return -1;
	return recv(t->host, buf, len, 0);
}

static void test_config(void **state)
{
	struct t *t = *state;
	uint8_t cfg[8];
	for (int i = 0; i < 8; i++)
		virtio_mmio_read(t->dev, 0x100 + i, &cfg[i], 1);
	assert_memory_equal(cfg, mac, 6);
	assert_int_equal(cfg[6], 1); /* VIRTIO_NET_S_LINK_UP */
	assert_int_equal(fd_rd(&t->f, 0x008), VIRTIO_ID_NET);
}

static void test_tx(void **state)
{
	struct t *t = *state;
	uint8_t hdr[HDR] = { 0 }, frame[1514], got[2048];
	make_frame(frame, sizeof(frame), 1);
	tx(t, hdr, frame, sizeof(frame));
	assert_int_equal(host_recv(t, got, sizeof(got), 2000), sizeof(frame));
	assert_memory_equal(got, frame, sizeof(frame));
	uint32_t len;
	assert_int_equal(fd_wait(&t->f, TXQ, NULL, &len), 1);
	assert_int_equal(len, 0);
}

static uint32_t sum16(const uint8_t *p, size_t len, uint32_t sum)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += p[i] << 8 | p[i + 1];
	if (len & 1)
		sum += p[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return sum;
}

/* NEEDS_CSUM: the guest leaves the pseudo-header sum in the UDP checksum
 * field, the device completes it (5.1.6.2). */
static void test_tx_checksum(void **state)
{
	struct t *t = *state;
	enum { PAYLOAD = 21, UDP = 8 + PAYLOAD, LEN = 14 + 20 + UDP };
	uint8_t f[LEN] = { 0 }, got[2048];
	make_frame(f, 14, 0);
	f[12] = 0x08, f[13] = 0x00;
	uint8_t *ip = f + 14, *udp = ip + 20;
	ip[0] = 0x45, ip[9] = 17;
	memcpy(ip + 12, (uint8_t[]){ 10, 0, 2, 15, 10, 0, 2, 2 }, 8);
	udp[0] = 0x30, udp[1] = 0x39, udp[2] = 0x00, udp[3] = 0x35, udp[5] = UDP;
	for (int i = 0; i < PAYLOAD; i++)
		udp[8 + i] = 'a' + i;
	uint32_t pseudo = sum16(ip + 12, 8, 17 + UDP);
	udp[6] = pseudo >> 8, udp[7] = pseudo & 0xff;
	uint8_t hdr[HDR] = { 1 /* NEEDS_CSUM */ };
	hdr[6] = 34, hdr[8] = 6; /* csum_start, csum_offset */
	tx(t, hdr, f, LEN);
	assert_int_equal(host_recv(t, got, sizeof(got), 2000), LEN);
	assert_memory_equal(got, f, 14 + 20 + 6); /* all but the checksum unchanged */
	assert_int_equal(sum16(got + 34, UDP, sum16(got + 26, 8, 17 + UDP)), 0xffff);
}

/* Frames the device must drop: none reaches the switch, every chain comes
 * back, and a good frame after them still goes through. */
static void test_tx_hostile(void **state)
{
	struct t *t = *state;
	static uint8_t big[4000];
	uint8_t hdr[HDR] = { 0 }, gso[HDR] = { 0, 1 /* TCPV4 */ }, csum[HDR] = { 1 };
	uint8_t got[4096];
	make_frame(big, sizeof(big), 2);
	csum[6] = 50, csum[8] = 10; /* start + offset + 2 > 60 */
	tx(t, hdr, big, 13);          /* shorter than an Ethernet header */
	tx(t, hdr, big, 1519);        /* longer than MTU + 802.1Q */
	tx(t, gso, big, 100);         /* GSO was not offered */
	tx(t, csum, big, 60);         /* checksum field outside the frame */
	tx(t, hdr, big, 0);           /* header alone */
	uint64_t a = fd_alloc(&t->f, 64, 2);
	struct fd_seg rw[2] = { { a, HDR, false }, { a + 16, 48, true } };
	fd_add(&t->f, TXQ, rw, 2, false); /* a writable buffer on the transmit queue */
	for (int i = 0; i < 6; i++)
		assert_int_equal(fd_wait(&t->f, TXQ, NULL, NULL), 1);
	assert_int_equal(host_recv(t, got, sizeof(got), 100), -1);
	tx(t, hdr, big, 60);
	assert_int_equal(host_recv(t, got, sizeof(got), 2000), 60);
	assert_memory_equal(got, big, 60);
}

static void test_rx(void **state)
{
	struct t *t = *state;
	uint64_t a = rx_post(t, 2048);
	uint8_t frame[100];
	make_frame(frame, sizeof(frame), 3);
	assert_int_equal(send(t->host, frame, sizeof(frame), 0), sizeof(frame));
	uint32_t len;
	assert_int_equal(fd_wait(&t->f, RXQ, NULL, &len), 1);
	assert_int_equal(len, HDR + sizeof(frame));
	uint8_t *p = fake_ptr(t->vm, a);
	assert_int_equal(p[0], 0);           /* no DATA_VALID for vlan frames */
	assert_int_equal(p[10] | p[11] << 8, 1); /* num_buffers */
	assert_memory_equal(p + HDR, frame, sizeof(frame));
}

/* A 1514-byte frame across three 600-byte buffers. */
static void test_rx_mergeable(void **state)
{
	struct t *t = *state;
	uint64_t b[3];
	for (int i = 0; i < 3; i++)
		b[i] = rx_post(t, 600);
	uint8_t frame[1514], got[1600];
	make_frame(frame, sizeof(frame), 4);
	assert_int_equal(send(t->host, frame, sizeof(frame), 0), sizeof(frame));
	uint32_t len[3], id[3];
	for (int i = 0; i < 3; i++)
		assert_int_equal(fd_wait(&t->f, RXQ, &id[i], &len[i]), 1);
	assert_int_equal(len[0], 600);
	assert_int_equal(len[1], 600);
	assert_int_equal(len[2], HDR + 1514 - 1200);
	uint8_t *h = fake_ptr(t->vm, b[0]);
	assert_int_equal(h[10] | h[11] << 8, 3);
	memcpy(got, h + HDR, 600 - HDR);
	memcpy(got + 600 - HDR, fake_ptr(t->vm, b[1]), 600);
	memcpy(got + 1200 - HDR, fake_ptr(t->vm, b[2]), len[2]);
	assert_memory_equal(got, frame, sizeof(frame));
}

/* Without mergeable buffers a buffer too small for the frame comes back
 * empty and the frame is dropped; the next frame takes the next buffer. */
static void test_rx_plain_small_buffer(void **state)
{
	struct t *t = *state;
	rx_post(t, 100);
	uint64_t big = rx_post(t, 1600);
	uint8_t f1[1000], f2[200];
	make_frame(f1, sizeof(f1), 5);
	make_frame(f2, sizeof(f2), 6);
	assert_int_equal(send(t->host, f1, sizeof(f1), 0), sizeof(f1));
	uint32_t len;
	assert_int_equal(fd_wait(&t->f, RXQ, NULL, &len), 1);
	assert_int_equal(len, 0);
	assert_int_equal(send(t->host, f2, sizeof(f2), 0), sizeof(f2));
	assert_int_equal(fd_wait(&t->f, RXQ, NULL, &len), 1);
	assert_int_equal(len, HDR + sizeof(f2));
	assert_memory_equal((uint8_t *)fake_ptr(t->vm, big) + HDR, f2, sizeof(f2));
}

/* Hostile frames from the switch: too short, too long, empty. */
static void test_rx_hostile(void **state)
{
	struct t *t = *state;
	static uint8_t big[9000];
	make_frame(big, sizeof(big), 7);
	uint64_t a = rx_post(t, 2048);
	assert_int_equal(send(t->host, big, 10, 0), 10);
	assert_int_equal(send(t->host, big, 1600, 0), 1600);
	assert_int_equal(send(t->host, big, 9000, 0), 9000);
	assert_int_equal(send(t->host, big, 64, 0), 64);
	uint32_t len;
	assert_int_equal(fd_wait(&t->f, RXQ, NULL, &len), 1);
	assert_int_equal(len, HDR + 64);
	assert_memory_equal((uint8_t *)fake_ptr(t->vm, a) + HDR, big, 64);
}

/* No receive buffers: frames wait (in the backlog and the socket), none
 * is lost, and they arrive in order once buffers come. */
static void test_rx_back_pressure(void **state)
{
	struct t *t = *state;
	enum { N = 40 };
	uint8_t f[N][80];
	for (int i = 0; i < N; i++) {
		make_frame(f[i], 80, i);
		assert_int_equal(send(t->host, f[i], 80, 0), 80);
	}
	fd_settle();
	for (int i = 0; i < N; i++) {
		uint64_t a = rx_post(t, 256);
		uint32_t len;
		assert_int_equal(fd_wait(&t->f, RXQ, NULL, &len), 1);
		assert_int_equal(len, HDR + 80);
		assert_memory_equal((uint8_t *)fake_ptr(t->vm, a) + HDR, f[i], 80);
	}
}

/* A receive chain with a readable buffer is malformed: returned empty. */
static void test_rx_bad_chain(void **state)
{
	struct t *t = *state;
	uint64_t a = fd_alloc(&t->f, 2048, 2);
	struct fd_seg s[2] = { { a, 16, false }, { a + 16, 2000, true } };
	fd_add(&t->f, RXQ, s, 2, false);
	uint64_t good = rx_post(t, 2048);
	uint8_t f[60];
	make_frame(f, sizeof(f), 8);
	assert_int_equal(send(t->host, f, sizeof(f), 0), sizeof(f));
	uint32_t len;
	assert_int_equal(fd_wait(&t->f, RXQ, NULL, &len), 1);
	assert_int_equal(len, 0);
	assert_int_equal(fd_wait(&t->f, RXQ, NULL, &len), 1);
	assert_int_equal(len, HDR + sizeof(f));
	assert_memory_equal((uint8_t *)fake_ptr(t->vm, good) + HDR, f, sizeof(f));
}

/* The switch goes away: the guest's frames are dropped, the device goes on. */
static void test_switch_gone(void **state)
{
	struct t *t = *state;
	close(t->host);
	t->host = open("/dev/null", O_RDONLY);
	uint8_t hdr[HDR] = { 0 }, f[60];
	make_frame(f, sizeof(f), 9);
	for (int i = 0; i < 3; i++) {
		tx(t, hdr, f, sizeof(f));
		assert_int_equal(fd_wait(&t->f, TXQ, NULL, NULL), 1);
	}
}

/* A reset with frames waiting, then the driver starts over. */
static void test_reset(void **state)
{
	struct t *t = *state;
	uint8_t f[60];
	make_frame(f, sizeof(f), 10);
	for (int i = 0; i < 3; i++)
		assert_int_equal(send(t->host, f, sizeof(f), 0), sizeof(f));
	fd_settle();
	assert_int_equal(fd_init(&t->f, t->vm, t->dev, ~0ULL, 32), 0x0f);
	uint64_t a = rx_post(t, 2048);
	uint32_t len;
	assert_int_equal(fd_wait(&t->f, RXQ, NULL, &len), 1);
	assert_int_equal(len, HDR + sizeof(f));
	assert_memory_equal((uint8_t *)fake_ptr(t->vm, a) + HDR, f, sizeof(f));
}

/* A frame larger than the one posted buffer holds that buffer (mergeable
 * receive) and waits; the driver turns the queue off and on again on new
 * rings: the held chain belongs to the old ring and must not be written or
 * completed into the new one. */
static void test_queue_ready_zero_drops_held_rx_chain(void **state)
{
	struct t *t = *state;
	uint64_t old = rx_post(t, 100);
	memset(fake_ptr(t->vm, old), 0x5a, 100);
	uint8_t f[1000];
	make_frame(f, sizeof(f), 11);
	assert_int_equal(send(t->host, f, sizeof(f), 0), sizeof(f));
	fd_settle();
	fd_wr(&t->f, 0x030, RXQ);
	fd_wr(&t->f, 0x044, 0);
	fd_queue_setup(&t->f, RXQ, 64);
	uint64_t a = rx_post(t, 2048);
	uint32_t len;
	assert_int_equal(fd_wait(&t->f, RXQ, NULL, &len), 1);
	assert_int_equal(len, HDR + sizeof(f));
	uint8_t *p = fake_ptr(t->vm, a);
	assert_int_equal(p[10] | p[11] << 8, 1); /* num_buffers: the new chain alone */
	assert_memory_equal(p + HDR, f, sizeof(f));
	assert_int_equal(fd_used(&t->f, RXQ)[1], 1);
	for (int i = 0; i < 100; i++)
		assert_int_equal(((uint8_t *)fake_ptr(t->vm, old))[i], 0x5a);
}

/* --- the user network, through libslirp ------------------------------------ */

struct u {
	struct vm *vm;
	struct virtio_dev *dev;
	struct fakedrv f;
};

static const uint8_t umac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

static int setup_user(void **state)
{
	struct u *u = calloc(1, sizeof(*u));
	u->vm = fake_vm_new_paused(16 << 20);
	u->dev = virtio_net_user_create(u->vm, umac, false, "virtio-net eth0");
	assert_non_null(u->dev);
	fake_vm_start(u->vm);
	assert_int_equal(fd_init(&u->f, u->vm, u->dev, ~0ULL, 64), 0x0f);
	*state = u;
	return 0;
}

static int teardown_user(void **state)
{
	struct u *u = *state;
	fake_vm_free(u->vm);
	virtio_mmio_free(u->dev);
	free(u);
	return 0;
}

static const uint8_t guest_ip[4] = { 10, 0, 2, 15 }, gw_ip[4] = { 10, 0, 2, 2 };

/* Wait for the next received frame; returns a pointer to it and its length. */
static uint8_t *user_rx(struct u *u, uint64_t buf, uint32_t *len)
{
	assert_int_equal(fd_wait(&u->f, RXQ, NULL, len), 1);
	return (uint8_t *)fake_ptr(u->vm, buf) + HDR;
}

/* ARP for the gateway: slirp answers with its own address. */
static void test_user_arp(void **state)
{
	struct u *u = *state;
	uint64_t buf = fd_alloc(&u->f, 2048, 2);
	struct fd_seg rs = { buf, 2048, true };
	fd_add(&u->f, RXQ, &rs, 1, false);
	uint8_t f[60] = { 0 };
	memset(f, 0xff, 6);
	memcpy(f + 6, umac, 6);
	f[12] = 0x08, f[13] = 0x06;
	memcpy(f + 14, (uint8_t[]){ 0, 1, 8, 0, 6, 4, 0, 1 }, 8);
	memcpy(f + 22, umac, 6);
	memcpy(f + 28, guest_ip, 4);
	memcpy(f + 38, gw_ip, 4);
	uint64_t h = fd_alloc(&u->f, HDR + 60, 2);
	memcpy((uint8_t *)fake_ptr(u->vm, h) + HDR, f, 60);
	struct fd_seg ts = { h, HDR + 60, false };
	fd_add(&u->f, TXQ, &ts, 1, false);
	uint32_t len;
	uint8_t *r = user_rx(u, buf, &len);
	assert_true(len >= HDR + 42);
	assert_memory_equal(r, umac, 6);
	assert_int_equal(r[12] << 8 | r[13], 0x0806);
	assert_int_equal(r[20] << 8 | r[21], 2); /* reply */
	assert_memory_equal(r + 28, gw_ip, 4);
	assert_memory_equal(r + 38, guest_ip, 4);
	/* slirp built it: DATA_VALID with GUEST_CSUM negotiated */
	assert_int_equal(*(uint8_t *)fake_ptr(u->vm, buf), 2);
}

static int free_port(void)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t l = sizeof(sa);
	assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	getsockname(s, (struct sockaddr *)&sa, &l);
	close(s);
	return ntohs(sa.sin_port);
}

/* A forward added at run time: a host connection becomes traffic towards
 * 10.0.2.15:80 (an ARP request for it, or the SYN itself); the same port
 * again is refused, a removed one can be added back. */
static void test_user_hostfwd(void **state)
{
	struct u *u = *state;
	uint64_t buf = fd_alloc(&u->f, 2048, 2);
	struct fd_seg rs = { buf, 2048, true };
	fd_add(&u->f, RXQ, &rs, 1, false);
	int port = free_port();
	char spec[64];
	const char *why;
	snprintf(spec, sizeof(spec), "tcp:127.0.0.1:%d-:80", port);
	assert_int_equal(virtio_net_hostfwd(u->dev, spec, true, &why), 0);
	assert_int_equal(virtio_net_hostfwd(u->dev, spec, true, &why), -EADDRINUSE);
	assert_int_equal(virtio_net_hostfwd(u->dev, "tcp::1-", true, &why), -EINVAL);
	int c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int r = connect(c, (struct sockaddr *)&sa, sizeof(sa));
	assert_true(r == 0 || errno == EINPROGRESS);
	uint32_t len;
	uint8_t *f = user_rx(u, buf, &len);
	int type = f[12] << 8 | f[13];
	if (type == 0x0806)
		assert_memory_equal(f + 38, guest_ip, 4);
	else
		assert_true(type == 0x0800 && f[14 + 9] == 6 && (f[36] << 8 | f[37]) == 80);
	close(c);
	snprintf(spec, sizeof(spec), "tcp:127.0.0.1:%d", port);
	assert_int_equal(virtio_net_hostfwd(u->dev, spec, false, &why), 0);
	assert_int_equal(virtio_net_hostfwd(u->dev, spec, false, &why), -ENOENT);
}

static void test_control_unknown(void **state)
{
	(void)state;
	char reply[512];
	control_run(NULL, "frobnicate now", reply, sizeof(reply));
	assert_non_null(strstr(reply, "error: unknown command 'frobnicate'"));
	assert_non_null(strstr(reply, "hostfwd_add"));
	/* No --net user in this process: the command says so. */
	control_run(NULL, "hostfwd_add tcp::8080-:80", reply, sizeof(reply));
	assert_string_equal(reply, "error: no user network (--net user)");
}

/* --- --net errors: one line each ------------------------------------------ */

static int parse(char *err, size_t errlen, const char **args)
{
	const char *argv[32] = { "--kernel", "k" };
	for (int i = 0; args[i] && i < 29; i++)
		argv[i + 2] = args[i];
	struct vm_config cfg;
	return options_capture(&cfg, argv, err, errlen);
}

static void expect_error(const char *opt, const char *want)
{
	char err[512];
	assert_int_equal(parse(err, sizeof(err), (const char *[]){ "--net", opt, NULL }), -EINVAL);
	if (!strstr(err, want))
		fail_msg("--net %s: got '%s', wanted '%s'", opt, err, want);
	assert_ptr_equal(strchr(err, '\n') + 1, err + strlen(err)); /* one line */
}

static void test_net_option_errors(void **state)
{
	(void)state;
	int sv[2], stream[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, stream), 0);
	char ok[64], bad_type[64];
	snprintf(ok, sizeof(ok), "vlan=2,fd=%d,mac=52:54:00:12:02:01", sv[0]);
	snprintf(bad_type, sizeof(bad_type), "vlan=2,fd=%d", stream[0]);
	expect_error("tap", "expected user[,hostfwd=...][,restrict=on] or vlan=N");
	expect_error("vlan=256,fd=3", "N from 0 to 255");
	expect_error("vlan=1", "expected fd=FD or socket=PATH");
	expect_error("vlan=1,fd=999", "fd 999 is not open");
	expect_error("vlan=1,fd=0,mac=52:54:00:12:01:01", "is not a SOCK_SEQPACKET or SOCK_DGRAM");
	expect_error(bad_type, "is not a SOCK_SEQPACKET or SOCK_DGRAM socket");
	expect_error("vlan=1,socket=/nonexistent/sw", "cannot connect to /nonexistent/sw");
	expect_error("user,hostfwd=tcp:127.0.0.1:0-:80", "HOSTPORT-[GUESTADDR]:GUESTPORT");
	expect_error("user,hostfwd=sctp::80-:80", "expected [tcp|udp]");
	expect_error("user,hostfwd=tcp:1.2.3:80-:80", "expected [tcp|udp]");
	expect_error("user,hostfwd=tcp::80", "HOSTPORT-[GUESTADDR]");
	expect_error("user,restrict=maybe", "expected restrict=on or restrict=off");
	expect_error("user,fd=3", "expected hostfwd=tcp:127.0.0.1:HOSTPORT-:GUESTPORT");
	expect_error("user,mac=53:54:00:12:34:56", "mac=52:54:00:XX:XX:XX");
	expect_error("user,mac=52:54:00:12:34", "mac=52:54:00:XX:XX:XX");
	char err[512];
	assert_int_equal(parse(err, sizeof(err), (const char *[]){ "--net", ok, "--net",
								 "user,restrict=on", NULL }), 0);
	assert_string_equal(err, "");
	expect_error("user", "only one user network");
	close(sv[0]), close(sv[1]), close(stream[0]), close(stream[1]);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
#define P(f) cmocka_unit_test_setup_teardown(f, setup_plain, teardown)
#define U(f) cmocka_unit_test_setup_teardown(f, setup_user, teardown_user)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_config), T(test_tx), T(test_tx_checksum), T(test_tx_hostile), T(test_rx),
		T(test_rx_mergeable), P(test_rx_plain_small_buffer), T(test_rx_hostile),
		T(test_rx_back_pressure), T(test_rx_bad_chain), T(test_switch_gone),
		T(test_reset), T(test_queue_ready_zero_drops_held_rx_chain),
		U(test_user_arp), U(test_user_hostfwd),
		cmocka_unit_test(test_control_unknown), cmocka_unit_test(test_net_option_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
