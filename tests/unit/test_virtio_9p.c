/* test_virtio_9p.c - the virtio-9p transport driven by the fake driver:
 * the mount tag in config space, requests and replies through the queue
 * (a reply split over several buffers as Linux's zero-copy reads do),
 * many requests in flight, and chains a hostile driver might send. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "fakedrv.h"
#include "options.h"
#include "p9msg.h"

struct t {
	struct vm *vm;
	struct virtio_dev *dev;
	struct fakedrv f;
	char dir[32];
	uint64_t req, rep;
};

static int setup(void **state)
{
	struct t *t = calloc(1, sizeof(*t));
	strcpy(t->dir, "/tmp/v9p.XXXXXX");
	assert_non_null(mkdtemp(t->dir));
	char path[64];
	snprintf(path, sizeof(path), "%s/file", t->dir);
	FILE *f = fopen(path, "w");
	for (int i = 0; i < 10000; i++)
		fputc('a' + i % 26, f);
	fclose(f);
	t->vm = fake_vm_new(8 << 20);
	int fd = open(t->dir, O_PATH | O_DIRECTORY);
	t->dev = virtio_9p_create(t->vm, "hostshare", fd, false, 0, "virtio-9p hostshare");
	close(fd);
	assert_non_null(t->dev);
	assert_int_equal(fd_init(&t->f, t->vm, t->dev, ~0ULL, 128), 0x0f);
	t->req = fd_alloc(&t->f, 65536, 8);
	t->rep = fd_alloc(&t->f, 65536, 8);
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct t *t = *state;
	fake_vm_free(t->vm);
	virtio_mmio_free(t->dev);
	char cmd[64];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", t->dir);
	assert_int_equal(system(cmd), 0);
	free(t);
	return 0;
}

/* Send m with the reply spread over the given buffer lengths; returns the
 * used length and leaves the reply at t->rep. */
static uint32_t send(struct t *t, struct msg *m, const uint32_t *parts, unsigned nparts)
{
	m_end(m);
	memcpy(fake_ptr(t->vm, t->req), m->b, m->len);
	struct fd_seg s[8] = { { t->req, m->len, false } };
	uint64_t at = t->rep;
	for (unsigned i = 0; i < nparts; i++) {
		s[i + 1] = (struct fd_seg){ at, parts[i], true };
		at += parts[i];
	}
	uint16_t head = fd_add(&t->f, 0, s, nparts + 1, nparts > 2);
	uint32_t id = 0, len = 0;
	assert_int_equal(fd_wait(&t->f, 0, &id, &len), 1);
	assert_int_equal(id, head);
	return len;
}

static uint8_t *reply(struct t *t)
{
	return fake_ptr(t->vm, t->rep);
}

static void session(struct t *t)
{
	struct msg m;
	static const uint32_t one[] = { 4096 };
	m_u32(m_start(&m, P9_TVERSION, 0xffff), 512 * 1024);
	m_str(&m, "9P2000.L");
	assert_int_equal(send(t, &m, one, 1), 4 + 1 + 2 + 4 + 2 + 8);
	assert_int_equal(reply(t)[4], P9_TVERSION + 1);
	m_u32(m_start(&m, P9_TATTACH, 1), 0);
	m_u32(&m, ~0u);
	m_str(&m, "");
	m_str(&m, "");
	m_u32(&m, 0);
	assert_int_equal(send(t, &m, one, 1), 20);
	assert_int_equal(reply(t)[4], P9_TATTACH + 1);
	m_u32(m_start(&m, P9_TWALK, 2), 0);
	m_u32(&m, 1);
	m_u16(&m, 1);
	m_str(&m, "file");
	assert_int_equal(send(t, &m, one, 1), 9 + 13);
	m_u32(m_start(&m, P9_TLOPEN, 3), 1);
	m_u32(&m, 0);
	assert_int_equal(send(t, &m, one, 1), 24);
}

static void test_config_tag(void **state)
{
	struct t *t = *state;
	uint8_t cfg[16];
	for (int i = 0; i < 11; i++)
		virtio_mmio_read(t->dev, 0x100 + i, &cfg[i], 1);
	assert_int_equal(cfg[0] | cfg[1] << 8, 9);
	assert_memory_equal(cfg + 2, "hostshare", 9);
	assert_int_equal(fd_rd(&t->f, 0x008), 9); /* device ID */
}

static void test_split_read(void **state)
{
	struct t *t = *state;
	session(t);
	/* Linux's zero-copy read: an 11-byte header buffer, then pages. */
	struct msg m;
	m_u32(m_start(&m, P9_TREAD, 4), 1);
	m_u64(&m, 100);
	m_u32(&m, 9000);
	static const uint32_t parts[] = { 11, 4096, 4096, 4096 };
	assert_int_equal(send(t, &m, parts, 4), 11 + 9000);
	uint32_t count;
	memcpy(&count, reply(t) + 7, 4);
	assert_int_equal(count, 9000);
	for (int i = 0; i < 9000; i++)
		if (reply(t)[11 + i] != 'a' + (100 + i) % 26)
			fail_msg("byte %d", i);
}

static void test_many_in_flight(void **state)
{
	struct t *t = *state;
	session(t);
	/* 64 getattrs queued before any completes: every one comes back. */
	for (int i = 0; i < 64; i++) {
		struct msg m;
		m_u32(m_start(&m, P9_TGETATTR, 100 + i), 1);
		m_u64(&m, 0x7ff);
		m_end(&m);
		uint64_t rq = fd_alloc(&t->f, m.len, 8), rp = fd_alloc(&t->f, 256, 8);
		memcpy(fake_ptr(t->vm, rq), m.b, m.len);
		struct fd_seg s[2] = { { rq, m.len, false }, { rp, 256, true } };
		fd_add(&t->f, 0, s, 2, true);
	}
	for (int i = 0; i < 64; i++) {
		uint32_t id, len;
		assert_int_equal(fd_wait(&t->f, 0, &id, &len), 1);
		assert_int_equal(len, 160);
	}
}

static void test_hostile_chains(void **state)
{
	struct t *t = *state;
	uint32_t id, len;
	/* No reply buffer: nothing can be said; the chain comes back empty. */
	struct msg m;
	m_u32(m_start(&m, P9_TCLUNK, 1), 5);
	m_end(&m);
	memcpy(fake_ptr(t->vm, t->req), m.b, m.len);
	struct fd_seg s1 = { t->req, m.len, false };
	fd_add(&t->f, 0, &s1, 1, false);
	assert_int_equal(fd_wait(&t->f, 0, &id, &len), 1);
	assert_int_equal(len, 0);
	/* A buffer outside guest RAM: malformed, returned empty. */
	struct fd_seg s2[2] = { { t->req, m.len, false }, { 1ULL << 40, 64, true } };
	fd_add(&t->f, 0, s2, 2, false);
	assert_int_equal(fd_wait(&t->f, 0, &id, &len), 1);
	assert_int_equal(len, 0);
	/* A lying size field gets Rlerror, and the device still works. */
	memcpy(m.b, &(uint32_t){ 60000 }, 4);
	memcpy(fake_ptr(t->vm, t->req), m.b, m.len);
	struct fd_seg s3[2] = { { t->req, m.len, false }, { t->rep, 64, true } };
	fd_add(&t->f, 0, s3, 2, false);
	assert_int_equal(fd_wait(&t->f, 0, &id, &len), 1);
	assert_int_equal(len, 11);
	assert_int_equal(reply(t)[4], 7);
	session(t);
	assert_false(fd_rd(&t->f, 0x070) & VIRTIO_STATUS_NEEDS_RESET);
}

/* Through the transport, a T-message whose size field says 4 GiB - 1 in a
 * 64-byte readable buffer: Rlerror EPROTO (11 bytes), the worker reads
 * nothing past the chain, and the device goes on. */
static void test_size_field_of_4gib_gets_rlerror(void **state)
{
	struct t *t = *state;
	session(t);
	struct msg m;
	m_u32(m_start(&m, P9_TGETATTR, 9), 1);
	m_u64(&m, 0x7ff);
	m_end(&m);
	memcpy(m.b, &(uint32_t){ UINT32_MAX }, 4);
	memcpy(fake_ptr(t->vm, t->req), m.b, m.len);
	struct fd_seg s[2] = { { t->req, 64, false }, { t->rep, 4096, true } };
	uint16_t head = fd_add(&t->f, 0, s, 2, false);
	uint32_t id, len, err;
	assert_int_equal(fd_wait(&t->f, 0, &id, &len), 1);
	assert_int_equal(id, head);
	assert_int_equal(len, 11);
	assert_int_equal(reply(t)[4], 7);
	memcpy(&err, reply(t) + 7, 4);
	assert_int_equal(err, EPROTO);
	session(t);
	assert_false(fd_rd(&t->f, 0x070) & VIRTIO_STATUS_NEEDS_RESET);
}

/* --share takes privileged (and names it when a field is unknown). */
static void test_share_option_privileged(void **state)
{
	(void)state;
	struct vm_config c;
	char err[512];
	const char *good[] = { "--kernel", "k", "--share", "tag=priv,path=/tmp,privileged", NULL };
	assert_int_equal(options_capture(&c, good, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	const char *bad[] = { "--kernel", "k", "--share", "tag=bad,path=/tmp,setuid", NULL };
	assert_int_equal(options_capture(&c, bad, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "'setuid': expected tag=TAG,path=DIR[,readonly][,privileged]"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_config_tag, setup, teardown),
		cmocka_unit_test_setup_teardown(test_split_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_in_flight, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_chains, setup, teardown),
		cmocka_unit_test_setup_teardown(test_size_field_of_4gib_gets_rlerror, setup,
						teardown),
		cmocka_unit_test(test_share_option_privileged),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
