/* test_switch.c - the driver's vlan switch with fake NICs (socketpairs):
 * flooding, learning, block/unblock, hostile frames, a port that goes away, ports
 * given out again after restarts. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "driver.h"

#define N 3

struct t {
	struct vswitch *s;
	int nic[N];  /* the NICs' ends */
	int port[N];
};

static int setup(void **state)
{
	struct t *t = calloc(1, sizeof(*t));
	t->s = sw_new(1);
	for (int i = 0; i < N; i++) {
		int sv[2];
		assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
		fcntl(sv[1], F_SETFL, O_NONBLOCK);
		t->nic[i] = sv[1];
		t->port[i] = sw_add_port(t->s, sv[0]);
		assert_int_equal(t->port[i], i);
	}
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct t *t = *state;
	sw_free(t->s);
	for (int i = 0; i < N; i++)
		close(t->nic[i]);
	free(t);
	return 0;
}

/* Let the switch handle whatever is pending. */
static void turn(struct t *t)
{
	struct pollfd p[SW_MAX_PORTS];
	int n = sw_pollfds(t->s, p, SW_MAX_PORTS);
	assert_true(poll(p, n, 100) >= 0);
	sw_handle(t->s, p, n);
}

/* NIC from sends a frame to dst, from its own MAC 52:54:00:12:01:0(from+1). */
static void send_frame(struct t *t, int from, const uint8_t dst[6], size_t len)
{
	uint8_t f[2000] = { 0 };
	memcpy(f, dst, 6);
	memcpy(f + 6, (uint8_t[]){ 0x52, 0x54, 0, 0x12, 1, from + 1 }, 6);
	f[12] = 0x88, f[13] = 0xb5, f[14] = from;
	assert_int_equal(send(t->nic[from], f, len, 0), (ssize_t)len);
	turn(t);
}

/* Bytes of the frame NIC i received, or -1 when none. */
static ssize_t got(struct t *t, int i)
{
	uint8_t f[2000];
	return recv(t->nic[i], f, sizeof(f), MSG_DONTWAIT);
}

static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
static const uint8_t mac[N][6] = { { 0x52, 0x54, 0, 0x12, 1, 1 }, { 0x52, 0x54, 0, 0x12, 1, 2 },
				   { 0x52, 0x54, 0, 0x12, 1, 3 } };

static void test_flood_then_learn(void **state)
{
	struct t *t = *state;
	send_frame(t, 0, bcast, 60);
	assert_int_equal(got(t, 0), -1); /* never back to the sender */
	assert_int_equal(got(t, 1), 60);
	assert_int_equal(got(t, 2), 60);
	/* 0 is learned: a unicast to it reaches 0 alone. */
	send_frame(t, 1, mac[0], 100);
	assert_int_equal(got(t, 0), 100);
	assert_int_equal(got(t, 2), -1);
	/* 2 is not learned yet: flooded to 0 and 2, not back to 1. */
	send_frame(t, 1, mac[2], 70);
	assert_int_equal(got(t, 0), 70);
	assert_int_equal(got(t, 2), 70);
	assert_int_equal(got(t, 1), -1);
}

static void test_block_unblock(void **state)
{
	struct t *t = *state;
	sw_block(t->s, t->port[1], true);
	send_frame(t, 0, bcast, 60);
	assert_int_equal(got(t, 1), -1); /* nothing reaches a blocked port */
	assert_int_equal(got(t, 2), 60);
	send_frame(t, 1, bcast, 60);
	assert_int_equal(got(t, 0), -1); /* nothing leaves it */
	assert_int_equal(got(t, 2), -1);
	sw_block(t->s, t->port[1], false);
	send_frame(t, 1, mac[0], 60);
	assert_int_equal(got(t, 0), 60);
	unsigned long long fwd, drop;
	sw_counts(t->s, &fwd, &drop);
	assert_int_equal(fwd, 2);
	assert_int_equal(drop, 2); /* one towards the blocked port, one from it */
}

/* Too short, too long: dropped; a multicast source is not learned. */
static void test_hostile(void **state)
{
	struct t *t = *state;
	send_frame(t, 0, bcast, 10);
	send_frame(t, 0, bcast, 1600);
	assert_int_equal(got(t, 1), -1);
	uint8_t f[60] = { 0 };
	memcpy(f, bcast, 6);
	memcpy(f + 6, mac[1], 6);
	f[6] |= 1;
	assert_int_equal(send(t->nic[0], f, 60, 0), 60);
	turn(t);
	assert_int_equal(got(t, 1), 60);
	/* That source was not learned for port 0: a frame to it is flooded. */
	send_frame(t, 2, f + 6, 60);
	assert_int_equal(got(t, 0), 60);
	assert_int_equal(got(t, 1), 60);
}

/* A NIC that closes its end: the port closes, the others go on. */
static void test_port_gone(void **state)
{
	struct t *t = *state;
	send_frame(t, 2, bcast, 60);
	assert_int_equal(got(t, 0), 60);
	close(t->nic[2]);
	t->nic[2] = open("/dev/null", O_RDONLY);
	turn(t);
	struct pollfd p[SW_MAX_PORTS];
	assert_int_equal(sw_pollfds(t->s, p, SW_MAX_PORTS), 2);
	send_frame(t, 0, mac[2], 60); /* was learned on the closed port */
	assert_int_equal(got(t, 1), 60);
}

/* Nodes restarted 200 times on one vlan: each start gets a port (a freed
 * one), never "too many ports" after SW_MAX_PORTS starts. */
static void test_200_restarts_on_one_vlan(void **state)
{
	struct t *t = *state;
	int port = -1;
	for (int i = 0; i < 200; i++) {
		int sv[2];
		assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
		port = sw_add_port(t->s, sv[0]);
		assert_true(port >= 0);
		sw_close_port(t->s, port);
		close(sv[1]);
	}
	assert_int_equal(port, N); /* the lowest free number, again */
	/* The others still work. */
	send_frame(t, 0, bcast, 60);
	assert_int_equal(got(t, 1), 60);
}

/* A port whose microvm went away (EOF) keeps its number until its node
 * closes it: a port added meanwhile must not share that number, or the
 * node's close would cut the new port. */
static void test_port_gone_then_new_port(void **state)
{
	struct t *t = *state;
	close(t->nic[2]);
	t->nic[2] = open("/dev/null", O_RDONLY);
	turn(t); /* EOF on port 2 */
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	int port = sw_add_port(t->s, sv[0]);
	assert_int_not_equal(port, t->port[2]);
	sw_close_port(t->s, t->port[2]); /* the gone node's cleanup */
	send_frame(t, 0, bcast, 60);
	uint8_t f[2000];
	assert_int_equal(recv(sv[1], f, sizeof(f), MSG_DONTWAIT), 60);
	close(sv[1]);
}

/* Every port in use: the next is refused, a closed one is given out again. */
static void test_all_ports_taken(void **state)
{
	struct t *t = *state;
	int nic[SW_MAX_PORTS];
	for (int i = N; i < SW_MAX_PORTS; i++) {
		int sv[2];
		assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
		assert_int_equal(sw_add_port(t->s, sv[0]), i);
		nic[i] = sv[1];
	}
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	assert_int_equal(sw_add_port(t->s, sv[0]), -ENOSPC);
	sw_close_port(t->s, 7);
	assert_int_equal(sw_add_port(t->s, sv[0]), 7);
	close(sv[1]);
	for (int i = N; i < SW_MAX_PORTS; i++)
		close(nic[i]);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = { T(test_flood_then_learn), T(test_block_unblock),
					    T(test_hostile), T(test_port_gone),
					    T(test_200_restarts_on_one_vlan),
					    T(test_port_gone_then_new_port), T(test_all_ports_taken) };
	return cmocka_run_group_tests(tests, NULL, NULL);
}
