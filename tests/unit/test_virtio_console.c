/* test_virtio_console.c - hvc0 over a socketpair, driven by the fake driver:
 * both directions byte-exact, back-pressure both ways, and the host side
 * going away. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <cmocka.h>

#include "fakedrv.h"

enum { RXQ = 0, TXQ = 1 };

struct t {
	struct vm *vm;
	struct virtio_dev *dev;
	struct fakedrv f;
	int host; /* our end of the socketpair */
};

static int setup(void **state)
{
	struct t *t = calloc(1, sizeof(*t));
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	int small = 4096;
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	t->host = sv[1];
	t->vm = fake_vm_new(16 << 20);
	t->dev = virtio_console_create(t->vm, sv[0], sv[0], -1);
	assert_non_null(t->dev);
	assert_int_equal(fd_init(&t->f, t->vm, t->dev, ~0ULL, 64), 0x0f);
	*state = t;
	return 0;
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

/* Read exactly n bytes from fd (waiting up to 5 s); returns bytes read. */
static size_t read_all(int fd, uint8_t *buf, size_t n)
{
	size_t got = 0;
	struct pollfd p = { fd, POLLIN, 0 };
	while (got < n && poll(&p, 1, 5000) == 1) {
		ssize_t r = read(fd, buf + got, n - got);
		if (r <= 0)
			break;
		got += r;
	}
	return got;
}

static void test_guest_to_host(void **state)
{
	struct t *t = *state;
	uint64_t a = fd_alloc(&t->f, 100, 1), b = fd_alloc(&t->f, 100, 1);
	memcpy(fake_ptr(t->vm, a), "hello ", 6);
	memcpy(fake_ptr(t->vm, b), "world\n", 6);
	struct fd_seg s[2] = { { a, 6, false }, { b, 6, false } };
	uint16_t head = fd_add(&t->f, TXQ, s, 2, false);
	uint8_t buf[12];
	assert_int_equal(read_all(t->host, buf, 12), 12);
	assert_memory_equal(buf, "hello world\n", 12);
	uint32_t id, len;
	assert_int_equal(fd_wait(&t->f, TXQ, &id, &len), 1);
	assert_int_equal(id, head);
	assert_int_equal(len, 0);
}

/* The transmit queue is served within the QueueNotify write itself (Linux
 * spins until its buffer is used): used before the write returns. */
static void test_tx_used_at_notify(void **state)
{
	struct t *t = *state;
	uint64_t a = fd_alloc(&t->f, 8, 1);
	memcpy(fake_ptr(t->vm, a), "now", 3);
	struct fd_seg s = { a, 3, false };
	uint16_t head = fd_add(&t->f, TXQ, &s, 1, false);
	uint16_t *used = fd_used(&t->f, TXQ);
	assert_int_equal(__atomic_load_n(&used[1], __ATOMIC_ACQUIRE), t->f.q[TXQ].used_seen + 1);
	uint32_t id;
	assert_int_equal(fd_wait(&t->f, TXQ, &id, NULL), 1);
	assert_int_equal(id, head);
	uint8_t buf[3];
	assert_int_equal(read_all(t->host, buf, 3), 3);
	assert_memory_equal(buf, "now", 3);
}

static void test_host_to_guest(void **state)
{
	struct t *t = *state;
	uint64_t a = fd_alloc(&t->f, 64, 1);
	struct fd_seg s = { a, 64, true };
	uint16_t head = fd_add(&t->f, RXQ, &s, 1, false);
	assert_int_equal(write(t->host, "ping", 4), 4);
	uint32_t id, len;
	assert_int_equal(fd_wait(&t->f, RXQ, &id, &len), 1);
	assert_int_equal(id, head);
	assert_int_equal(len, 4);
	assert_memory_equal(fake_ptr(t->vm, a), "ping", 4);
}

/* The host reads nothing for a while: guest output waits, none is lost. */
static void test_tx_back_pressure(void **state)
{
	struct t *t = *state;
	enum { N = 48, SZ = 4096 };
	uint64_t data = fd_alloc(&t->f, N * SZ, 4096);
	uint8_t *p = fake_ptr(t->vm, data);
	for (int i = 0; i < N * SZ; i++)
		p[i] = i * 13 + (i >> 12);
	for (int i = 0; i < N; i++) {
		struct fd_seg s = { data + i * SZ, SZ, false };
		fd_add(&t->f, TXQ, &s, 1, i & 1);
	}
	fd_settle();
	/* The socket holds far less than N * SZ: some chains are still pending. */
	uint16_t used = __atomic_load_n(&fd_used(&t->f, TXQ)[1], __ATOMIC_ACQUIRE);
	assert_true(used < N);
	static uint8_t buf[N * SZ];
	assert_int_equal(read_all(t->host, buf, N * SZ), N * SZ);
	assert_memory_equal(buf, p, N * SZ);
	for (int i = 0; i < N; i++)
		assert_int_equal(fd_wait(&t->f, TXQ, NULL, NULL), 1);
}

/* QueueReady=0 while a transmit chain waits for the host, then the queue
 * set up again: the old chain must not come back in the new ring. */
static void test_queue_ready_zero_drops_pending_output(void **state)
{
	struct t *t = *state;
	enum { SZ = 64 << 10 };
	uint64_t data = fd_alloc(&t->f, SZ, 4096);
	struct fd_seg s = { data, SZ, false };
	fd_add(&t->f, TXQ, &s, 1, false);
	fd_settle();
	assert_int_equal(fd_used(&t->f, TXQ)[1], 0); /* more than the socket holds */
	fd_wr(&t->f, 0x030, TXQ);
	fd_wr(&t->f, 0x044, 0);
	fd_queue_setup(&t->f, TXQ, 64);
	static uint8_t buf[SZ];
	read_all(t->host, buf, SZ);
	fd_settle();
	assert_int_equal(fd_used(&t->f, TXQ)[1], 0);
}

/* No receive buffers: host input stays in the socket until some arrive. */
static void test_rx_back_pressure(void **state)
{
	struct t *t = *state;
	assert_int_equal(write(t->host, "0123456789", 10), 10);
	fd_settle();
	uint8_t got[10];
	for (int i = 0; i < 5; i++) {
		uint64_t a = fd_alloc(&t->f, 2, 1);
		struct fd_seg s = { a, 2, true };
		fd_add(&t->f, RXQ, &s, 1, false);
		uint32_t len;
		assert_int_equal(fd_wait(&t->f, RXQ, NULL, &len), 1);
		assert_int_equal(len, 2);
		memcpy(got + 2 * i, fake_ptr(t->vm, a), 2);
	}
	assert_memory_equal(got, "0123456789", 10);
}

/* The host closes its end: guest output is discarded, the guest goes on. */
static void test_host_gone(void **state)
{
	struct t *t = *state;
	close(t->host);
	t->host = open("/dev/null", O_RDONLY);
	uint64_t a = fd_alloc(&t->f, 8, 1);
	struct fd_seg s = { a, 8, false };
	fd_add(&t->f, TXQ, &s, 1, false);
	assert_int_equal(fd_wait(&t->f, TXQ, NULL, NULL), 1);
	fd_add(&t->f, TXQ, &s, 1, false);
	assert_int_equal(fd_wait(&t->f, TXQ, NULL, NULL), 1);
}

static void test_rx_chain_without_writable(void **state)
{
	struct t *t = *state;
	uint64_t a = fd_alloc(&t->f, 8, 1);
	struct fd_seg s = { a, 8, false }; /* read-only buffer on the receive queue */
	fd_add(&t->f, RXQ, &s, 1, false);
	assert_int_equal(write(t->host, "x", 1), 1);
	uint32_t len;
	assert_int_equal(fd_wait(&t->f, RXQ, NULL, &len), 1);
	assert_int_equal(len, 0);
}

/* socket:PATH: output waits for a client, and a second client after the
 * first has gone gets input and output. */
static int connect_to(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

static void test_socket_clients(void **state)
{
	(void)state;
	char path[64];
	snprintf(path, sizeof(path), "/tmp/microvm-test-%d.sock", (int)getpid());
	unlink(path);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	strcpy(sa.sun_path, path);
	int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 1), 0);
	struct vm *vm = fake_vm_new(1 << 20);
	struct virtio_dev *dev = virtio_console_create(vm, -1, -1, lfd);
	struct fakedrv f;
	assert_int_equal(fd_init(&f, vm, dev, ~0ULL, 16), 0x0f);
	uint64_t a = fd_alloc(&f, 8, 1);
	memcpy(fake_ptr(vm, a), "early\n", 6);
	struct fd_seg s = { a, 6, false };
	fd_add(&f, TXQ, &s, 1, false);
	fd_settle();
	assert_int_equal(fd_used(&f, TXQ)[1], 0); /* held: nobody is connected */
	int c1 = connect_to(path);
	uint8_t buf[8];
	assert_int_equal(read_all(c1, buf, 6), 6);
	assert_memory_equal(buf, "early\n", 6);
	assert_int_equal(fd_wait(&f, TXQ, NULL, NULL), 1);
	close(c1);
	fd_settle();
	int c2 = connect_to(path);
	uint64_t b = fd_alloc(&f, 8, 1);
	struct fd_seg r = { b, 8, true };
	fd_add(&f, RXQ, &r, 1, false);
	assert_int_equal(write(c2, "in", 2), 2);
	uint32_t len;
	assert_int_equal(fd_wait(&f, RXQ, NULL, &len), 1);
	assert_int_equal(len, 2);
	fd_add(&f, TXQ, &s, 1, false);
	assert_int_equal(read_all(c2, buf, 6), 6);
	close(c2);
	fake_vm_free(vm);
	virtio_mmio_free(dev);
	unlink(path);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_guest_to_host), T(test_tx_used_at_notify), T(test_host_to_guest), T(test_tx_back_pressure),
		T(test_queue_ready_zero_drops_pending_output),
		T(test_rx_back_pressure), T(test_host_gone), T(test_rx_chain_without_writable),
		cmocka_unit_test(test_socket_clients),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
