/* test_virtio_blk.c - the block device on a temporary image, driven by the
 * fake driver: reads, writes, flush, serial, discard, write-zeroes, read-only
 * and copy-on-write disks, and requests a hostile driver might send. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <cmocka.h>

#include "blkdisk.h"

enum { T_IN = 0, T_OUT = 1, T_FLUSH = 4, T_GET_ID = 8, T_DISCARD = 11, T_WZ = 13, T_BOGUS = 99 };

static struct blk *make(bool readonly, bool cow)
{
	struct blk *t = calloc(1, sizeof(*t));
	int fd = blk_temp_fd(), cow_fd = cow ? blk_temp_fd() : -1;
	if (cow)
		blk_fill_pattern(fd);
	blk_start(t, 8 << 20, fd, cow_fd, readonly, "SERIAL-123", 128, 1 << 20);
	return t;
}

static int setup(void **state)
{
	*state = make(false, false);
	return 0;
}

static int setup_cow(void **state)
{
	*state = make(false, true);
	return 0;
}

static int setup_ro(void **state)
{
	*state = make(true, false);
	return 0;
}

/* One request: header, len data bytes (device-writable for reads and
 * GET_ID), status. Returns the status byte, or -1 for an empty completion. */
static int req(struct blk *t, uint32_t type, uint64_t sector, uint32_t len, bool indirect)
{
	*(struct hdr *)fake_ptr(t->vm, t->hdr) = (struct hdr){ type, 0, sector };
	*(uint8_t *)fake_ptr(t->vm, t->st) = 0xee;
	bool in = type == T_IN || type == T_GET_ID;
	struct fd_seg s[3] = { { t->hdr, 16, false }, { t->data, len, in }, { t->st, 1, true } };
	struct fd_seg s2[2] = { s[0], s[2] };
	uint16_t head = len ? fd_add(&t->f, 0, s, 3, indirect) : fd_add(&t->f, 0, s2, 2, indirect);
	uint32_t id, got;
	assert_int_equal(fd_wait(&t->f, 0, &id, &got), 1);
	assert_int_equal(id, head);
	if (got == 0)
		return -1;
	assert_int_equal(got, 1 + (in && *(uint8_t *)fake_ptr(t->vm, t->st) == 0 ? len : 0) -
				      (type == T_GET_ID && len > 20 ? len - 20 : 0));
	return *(uint8_t *)fake_ptr(t->vm, t->st);
}

static void test_config(void **state)
{
	struct blk *t = *state;
	uint64_t cap;
	virtio_mmio_read(t->dev, 0x100, &cap, 8);
	assert_int_equal(cap, DISK / 512);
	uint32_t seg_max;
	virtio_mmio_read(t->dev, 0x10c, &seg_max, 4);
	assert_int_equal(seg_max, VQ_MAX_CHAIN - 2);
}

static void test_write_read(void **state)
{
	struct blk *t = *state;
	uint8_t *d = fake_ptr(t->vm, t->data);
	for (int i = 0; i < 8192; i++)
		d[i] = i * 7;
	assert_int_equal(req(t, T_OUT, 10, 8192, false), 0);
	uint8_t back[8192];
	assert_int_equal(pread(t->fd, back, 8192, 10 * 512), 8192);
	assert_memory_equal(back, d, 8192);
	memset(d, 0, 8192);
	assert_int_equal(req(t, T_IN, 10, 8192, true), 0);
	assert_memory_equal(back, d, 8192);
	assert_int_equal(req(t, T_FLUSH, 0, 0, false), 0);
}

static void test_many_in_flight(void **state)
{
	struct blk *t = *state;
	/* 64 reads queued before the first kick completes: all come back. */
	for (int i = 0; i < 64; i++) {
		uint64_t h = fd_alloc(&t->f, 16, 16), st = fd_alloc(&t->f, 1, 1);
		*(struct hdr *)fake_ptr(t->vm, h) = (struct hdr){ T_IN, 0, i };
		struct fd_seg s[3] = { { h, 16, false }, { t->data + i * 512, 512, true },
				       { st, 1, true } };
		fd_add(&t->f, 0, s, 3, true);
	}
	unsigned seen = 0;
	for (int i = 0; i < 64; i++) {
		uint32_t id, len;
		assert_int_equal(fd_wait(&t->f, 0, &id, &len), 1);
		assert_int_equal(len, 513);
		seen++;
	}
	assert_int_equal(seen, 64);
}

static void test_serial(void **state)
{
	struct blk *t = *state;
	assert_int_equal(req(t, T_GET_ID, 0, 20, false), 0);
	assert_memory_equal(fake_ptr(t->vm, t->data), "SERIAL-123\0\0\0", 13);
}

static void test_out_of_range(void **state)
{
	struct blk *t = *state;
	assert_int_equal(req(t, T_IN, DISK / 512, 512, false), 1);
	assert_int_equal(req(t, T_OUT, DISK / 512 - 1, 1024, false), 1);
	assert_int_equal(req(t, T_IN, UINT64_MAX, 512, false), 1);
	assert_int_equal(req(t, T_IN, 0, 100, false), 1); /* not a multiple of 512 */
	assert_int_equal(req(t, T_IN, DISK / 512 - 1, 512, false), 0); /* the last sector */
}

static void test_unsupported(void **state)
{
	struct blk *t = *state;
	assert_int_equal(req(t, T_BOGUS, 0, 0, false), 2);
}

static void test_discard_and_zeroes(void **state)
{
	struct blk *t = *state;
	uint8_t ones[4096];
	memset(ones, 1, sizeof(ones));
	assert_int_equal(pwrite(t->fd, ones, 4096, 0), 4096);
	struct { uint64_t sector; uint32_t num, flags; } seg = { 0, 8, 0 };
	memcpy(fake_ptr(t->vm, t->data), &seg, sizeof(seg));
	/* The segment is device-readable, so send it as an OUT-like request. */
	*(struct hdr *)fake_ptr(t->vm, t->hdr) = (struct hdr){ T_WZ, 0, 0 };
	struct fd_seg s[3] = { { t->hdr, 16, false }, { t->data, 16, false }, { t->st, 1, true } };
	fd_add(&t->f, 0, s, 3, false);
	uint32_t id, len;
	assert_int_equal(fd_wait(&t->f, 0, &id, &len), 1);
	assert_int_equal(*(uint8_t *)fake_ptr(t->vm, t->st), 0);
	uint8_t back[4096], zero[4096] = { 0 };
	assert_int_equal(pread(t->fd, back, 4096, 0), 4096);
	assert_memory_equal(back, zero, 4096);
	*(struct hdr *)fake_ptr(t->vm, t->hdr) = (struct hdr){ T_DISCARD, 0, 0 };
	fd_add(&t->f, 0, s, 3, false);
	assert_int_equal(fd_wait(&t->f, 0, &id, &len), 1);
	assert_int_equal(*(uint8_t *)fake_ptr(t->vm, t->st), 0);
	seg.flags = 0x80; /* unknown flag */
	memcpy(fake_ptr(t->vm, t->data), &seg, sizeof(seg));
	*(struct hdr *)fake_ptr(t->vm, t->hdr) = (struct hdr){ T_WZ, 0, 0 };
	fd_add(&t->f, 0, s, 3, false);
	assert_int_equal(fd_wait(&t->f, 0, &id, &len), 1);
	assert_int_equal(*(uint8_t *)fake_ptr(t->vm, t->st), 2);
}

static void test_readonly(void **state)
{
	struct blk *t = *state;
	uint64_t f;
	fd_wr(&t->f, 0x014, 0);
	f = fd_rd(&t->f, 0x010);
	assert_true(f & (1 << 5)); /* VIRTIO_BLK_F_RO */
	memset(fake_ptr(t->vm, t->data), 0xab, 512);
	assert_int_equal(req(t, T_OUT, 0, 512, false), 1);
	uint8_t back[512], zero[512] = { 0 };
	assert_int_equal(pread(t->fd, back, 512, 0), 512);
	assert_memory_equal(back, zero, 512);
	assert_int_equal(req(t, T_IN, 0, 512, false), 0);
}

/* Copy-on-write: reads see the image until a range is written; writes,
 * whole blocks or single sectors, land in the cow file only. */
static void test_cow(void **state)
{
	struct blk *t = *state;
	uint8_t *d = fake_ptr(t->vm, t->data), back[16384];
	assert_false(fd_rd(&t->f, 0x010) & (1 << 13)); /* no discard offered */
	assert_int_equal(req(t, T_IN, 0, 16384, false), 0);
	for (size_t i = 0; i < 16384; i++)
		assert_int_equal(d[i], pat(i));
	memset(d, 0xaa, 512); /* one sector inside a block: the block is filled first */
	assert_int_equal(req(t, T_OUT, 3, 512, false), 0);
	memset(d, 0xbb, 4096); /* one whole block */
	assert_int_equal(req(t, T_OUT, 16, 4096, true), 0);
	memset(d, 0, 16384);
	assert_int_equal(req(t, T_IN, 0, 16384, true), 0);
	for (size_t i = 0; i < 16384; i++)
		assert_int_equal(d[i], i >= 1536 && i < 2048 ? 0xaa : i >= 8192 && i < 12288 ? 0xbb
								    : pat(i));
	assert_int_equal(pread(t->fd, back, 16384, 0), 16384); /* the image is unchanged */
	for (size_t i = 0; i < 16384; i++)
		assert_int_equal(back[i], pat(i));
	assert_int_equal(req(t, T_FLUSH, 0, 0, false), 0);
	assert_int_equal(req(t, T_DISCARD, 0, 0, false), 1); /* not offered: fails */
	/* A new device on the same two files sees the same disk. */
	struct virtio_dev *again = virtio_blk_create(t->vm, t->fd, t->cow, DISK, false, NULL,
						     "virtio-blk vdb");
	assert_non_null(again);
	virtio_mmio_free(again);
	assert_int_equal(pread(t->cow, back, 4096, 0), 4096);
	assert_int_equal(back[1536], 0xaa);
	assert_int_equal(back[0], pat(0));
}

/* A request whose completion the caller waits for itself: its own header
 * and status byte, data at data. Returns the head. */
static uint16_t submit(struct blk *t, uint32_t type, uint64_t sector, uint64_t data, uint32_t len)
{
	uint64_t h = fd_alloc(&t->f, 16, 16), st = fd_alloc(&t->f, 1, 1);
	*(struct hdr *)fake_ptr(t->vm, h) = (struct hdr){ type, 0, sector };
	struct fd_seg s[3] = { { h, 16, false }, { data, len, type == T_IN }, { st, 1, true } };
	return fd_add(&t->f, 0, s, 3, false);
}

/* blk_fill_hook for the interleaving tests: say the fill is under way, then
 * wait until the test lets it go on. */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool in_fill, go;
} gate = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, false };

static void gate_hook(void)
{
	struct timespec limit;
	clock_gettime(CLOCK_REALTIME, &limit);
	limit.tv_sec += 5;
	pthread_mutex_lock(&gate.lock);
	gate.in_fill = true;
	pthread_cond_broadcast(&gate.cond);
	while (!gate.go && pthread_cond_timedwait(&gate.cond, &gate.lock, &limit) == 0)
		;
	pthread_mutex_unlock(&gate.lock);
}

/* Start a partial-block write and return once its fill is held in the hook. */
static void start_held_fill(struct blk *t, uint64_t data)
{
	gate.in_fill = gate.go = false;
	blk_fill_hook = gate_hook;
	memset(fake_ptr(t->vm, data), 0xaa, 512);
	submit(t, T_OUT, 1, data, 512); /* the second sector of block 0 */
	pthread_mutex_lock(&gate.lock);
	while (!gate.in_fill)
		pthread_cond_wait(&gate.cond, &gate.lock);
	pthread_mutex_unlock(&gate.lock);
}

static void release_fill(void)
{
	pthread_mutex_lock(&gate.lock);
	gate.go = true;
	pthread_cond_broadcast(&gate.cond);
	pthread_mutex_unlock(&gate.lock);
}

/* Wait up to ms for the used index of queue 0 to reach idx. */
static bool used_reaches(struct blk *t, uint16_t idx, int ms)
{
	for (int i = 0; i < ms * 10; i++, usleep(100))
		if (__atomic_load_n(&fd_used(&t->f, 0)[1], __ATOMIC_ACQUIRE) == idx)
			return true;
	return false;
}

/* A whole-block write lands while a partial write to the same block is
 * copying the image into it: the image's copy must not overwrite it. */
static void test_whole_block_write_during_partial_fill_is_kept(void **state)
{
	struct blk *t = *state;
	uint64_t part = t->data, whole = t->data + 4096;
	start_held_fill(t, part);
	memset(fake_ptr(t->vm, whole), 0xbb, 4096);
	submit(t, T_OUT, 0, whole, 4096);
	used_reaches(t, 1, 500); /* done, unless it waits for the fill (the fix) */
	release_fill();
	assert_true(used_reaches(t, 2, 5000));
	blk_fill_hook = NULL;
	uint8_t back[4096];
	assert_int_equal(pread(t->cow, back, 4096, 0), 4096);
	for (size_t i = 0; i < 4096; i++)
		if (i < 512 || i >= 1024)
			assert_int_equal(back[i], 0xbb);
}

/* QueueReady=0 while a request is in flight, then the queue set up again on
 * new rings: the old request's completion must not land in the new ring. */
static void test_queue_ready_zero_drops_late_completion(void **state)
{
	struct blk *t = *state;
	start_held_fill(t, t->data);
	fd_wr(&t->f, 0x030, 0);
	fd_wr(&t->f, 0x044, 0);
	assert_int_equal(fd_rd(&t->f, 0x044), 0);
	fd_queue_setup(&t->f, 0, 128);
	release_fill();
	usleep(100000); /* time for the held request to finish */
	blk_fill_hook = NULL;
	assert_int_equal(fd_used(&t->f, 0)[1], 0);
	uint16_t head = submit(t, T_IN, 0, t->data, 512);
	uint32_t id;
	assert_int_equal(fd_wait(&t->f, 0, &id, NULL), 1);
	assert_int_equal(id, head);
	assert_int_equal(fd_used(&t->f, 0)[1], 1);
}

static void test_hostile_requests(void **state)
{
	struct blk *t = *state;
	uint32_t id, len;
	/* No status byte at all: nothing can be reported, the chain comes back empty. */
	struct fd_seg s1 = { t->hdr, 16, false };
	fd_add(&t->f, 0, &s1, 1, false);
	assert_int_equal(fd_wait(&t->f, 0, &id, &len), 1);
	assert_int_equal(len, 0);
	/* A short header. */
	struct fd_seg s2[2] = { { t->hdr, 8, false }, { t->st, 1, true } };
	fd_add(&t->f, 0, s2, 2, false);
	assert_int_equal(fd_wait(&t->f, 0, &id, &len), 1);
	assert_int_equal(len, 0);
	/* Data outside guest RAM: the chain is malformed and comes back empty. */
	struct fd_seg s3[3] = { { t->hdr, 16, false }, { 1ULL << 40, 512, true }, { t->st, 1, true } };
	*(struct hdr *)fake_ptr(t->vm, t->hdr) = (struct hdr){ T_IN, 0, 0 };
	fd_add(&t->f, 0, s3, 3, false);
	assert_int_equal(fd_wait(&t->f, 0, &id, &len), 1);
	assert_int_equal(len, 0);
	/* And the device still works. */
	assert_int_equal(req(t, T_IN, 0, 512, false), 0);
	assert_false(fd_rd(&t->f, 0x070) & VIRTIO_STATUS_NEEDS_RESET);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_config, setup, blk_teardown),
		cmocka_unit_test_setup_teardown(test_write_read, setup, blk_teardown),
		cmocka_unit_test_setup_teardown(test_many_in_flight, setup, blk_teardown),
		cmocka_unit_test_setup_teardown(test_serial, setup, blk_teardown),
		cmocka_unit_test_setup_teardown(test_out_of_range, setup, blk_teardown),
		cmocka_unit_test_setup_teardown(test_unsupported, setup, blk_teardown),
		cmocka_unit_test_setup_teardown(test_discard_and_zeroes, setup, blk_teardown),
		cmocka_unit_test_setup_teardown(test_readonly, setup_ro, blk_teardown),
		cmocka_unit_test_setup_teardown(test_hostile_requests, setup, blk_teardown),
		cmocka_unit_test_setup_teardown(test_cow, setup_cow, blk_teardown),
		cmocka_unit_test_setup_teardown(test_whole_block_write_during_partial_fill_is_kept,
						setup_cow, blk_teardown),
		cmocka_unit_test_setup_teardown(test_queue_ready_zero_drops_late_completion,
						setup_cow, blk_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
