/* test_virtio_hostile_rings.c - rings a hostile driver builds, as a device
 * (virtio-blk on a temporary image, driven by the fake driver) sees them
 * (issue 23): each test is named after the input and asserts what the guest
 * gets back, an empty completion or DEVICE_NEEDS_RESET, and that the device
 * goes on working. The chain walk's own verdicts are in test_virtqueue.c. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <cmocka.h>

#include "blkdisk.h"

#define STATUS 0x070
#define INT_STATUS 0x060
enum { T_IN = 0 };

static struct blk *make(uint16_t qsize)
{
	struct blk *t = calloc(1, sizeof(*t));
	blk_start(t, 8 << 20, blk_temp_fd(), -1, false, NULL, qsize, 128 * 512);
	*(struct hdr *)fake_ptr(t->vm, t->hdr) = (struct hdr){ T_IN, 0, 0 };
	return t;
}

static int setup(void **state)
{
	*state = make(128);
	return 0;
}

static int setup_256(void **state)
{
	*state = make(VQ_MAX_SIZE);
	return 0;
}

/* Publish head (descriptors written by hand) and notify queue 0. */
static void kick_head(struct blk *t, uint16_t head)
{
	fd_publish(&t->f, 0, head);
	fd_wr(&t->f, 0x050, 0);
}

/* A good one-sector read still completes: the device was not harmed. */
static void still_works(struct blk *t)
{
	*(uint8_t *)fake_ptr(t->vm, t->st) = 0xee;
	struct fd_seg s[3] = { { t->hdr, 16, false }, { t->data, 512, true }, { t->st, 1, true } };
	uint16_t head = fd_add(&t->f, 0, s, 3, false);
	uint32_t id, len;
	assert_int_equal(fd_wait(&t->f, 0, &id, &len), 1);
	assert_int_equal(id, head);
	assert_int_equal(len, 513);
	assert_int_equal(*(uint8_t *)fake_ptr(t->vm, t->st), 0);
	assert_false(fd_rd(&t->f, STATUS) & VIRTIO_STATUS_NEEDS_RESET);
}

/* The chain just published comes back with nothing written (2.7.5.1 bounds
 * a walk by the table's size; vq_pop's -EBADMSG). */
static void returned_empty(struct blk *t, uint16_t head)
{
	uint32_t id, len;
	assert_int_equal(fd_wait(&t->f, 0, &id, &len), 1);
	assert_int_equal(id, head);
	assert_int_equal(len, 0);
	assert_int_equal(*(uint8_t *)fake_ptr(t->vm, t->st), 0xee);
}

/* Descriptor 1's next points back at 0, in the ring's table and then inside
 * an indirect one: each chain comes back empty, the device keeps working. */
static void test_descriptor_loop_direct_and_indirect_returned_empty(void **state)
{
	struct blk *t = *state;
	*(uint8_t *)fake_ptr(t->vm, t->st) = 0xee;
	/* Both writable, so only the bound on the walk can stop it. */
	uint16_t wn = VQ_DESC_F_NEXT | VQ_DESC_F_WRITE;
	*fd_desc(&t->f, 0, 0) = (struct vq_desc){ t->data, 512, wn, 1 };
	*fd_desc(&t->f, 0, 1) = (struct vq_desc){ t->data, 512, wn, 0 };
	kick_head(t, 0);
	returned_empty(t, 0);
	uint64_t tab = fd_alloc(&t->f, 32, 16);
	struct vq_desc *d = fake_ptr(t->vm, tab);
	d[0] = (struct vq_desc){ t->data, 512, wn, 1 };
	d[1] = (struct vq_desc){ t->data, 512, wn, 0 };
	*fd_desc(&t->f, 0, 2) = (struct vq_desc){ tab, 32, VQ_DESC_F_INDIRECT, 0 };
	kick_head(t, 2);
	returned_empty(t, 2);
	t->f.q[0].next_desc = 3;
	still_works(t);
}

/* 4.2.2.2: QueueNum is at most QueueNumMax (256 here). A driver that sets up
 * a queue of 1024 anyway gets DEVICE_NEEDS_RESET and the queue stays off. */
static void test_queue_size_1024_needs_reset(void **state)
{
	struct blk *t = *state;
	assert_int_equal(fd_rd(&t->f, 0x034), VQ_MAX_SIZE);
	fd_wr(&t->f, 0x070, 0); /* start over, stopping before DRIVER_OK */
	fd_wr(&t->f, 0x070, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	fd_wr(&t->f, 0x024, 1);
	fd_wr(&t->f, 0x020, 1); /* VERSION_1 */
	fd_wr(&t->f, 0x070, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
				    VIRTIO_STATUS_FEATURES_OK);
	fd_queue_setup(&t->f, 0, 1024);
	assert_int_equal(fd_rd(&t->f, 0x044), 0);
	assert_true(fd_rd(&t->f, STATUS) & VIRTIO_STATUS_NEEDS_RESET);
	assert_int_equal(fd_init(&t->f, t->vm, t->dev, ~0ULL, 128), 0x0f);
	t->hdr = fd_alloc(&t->f, 16, 16);
	*(struct hdr *)fake_ptr(t->vm, t->hdr) = (struct hdr){ T_IN, 0, 0 };
	t->data = fd_alloc(&t->f, 512, 512);
	t->st = fd_alloc(&t->f, 1, 1);
	still_works(t);
}

/* A chain of 1,000 descriptors (an indirect table, the only way to build
 * one in a ring of 256): longer than the queue, which 2.7.5.3.1 forbids, so
 * it comes back empty. The longest chain virtio-blk's seg_max allows (126
 * data buffers, 128 descriptors) in the ring's own table works. */
static void test_chain_of_1000_descriptors_returned_empty(void **state)
{
	struct blk *t = *state;
	*(uint8_t *)fake_ptr(t->vm, t->st) = 0xee;
	uint64_t tab = fd_alloc(&t->f, 1000 * 16, 16);
	struct vq_desc *d = fake_ptr(t->vm, tab);
	d[0] = (struct vq_desc){ t->hdr, 16, VQ_DESC_F_NEXT, 1 };
	for (int i = 1; i < 999; i++)
		d[i] = (struct vq_desc){ t->data, 512, VQ_DESC_F_NEXT | VQ_DESC_F_WRITE, i + 1 };
	d[999] = (struct vq_desc){ t->st, 1, VQ_DESC_F_WRITE, 0 };
	*fd_desc(&t->f, 0, 0) = (struct vq_desc){ tab, 1000 * 16, VQ_DESC_F_INDIRECT, 0 };
	kick_head(t, 0);
	returned_empty(t, 0);
	t->f.q[0].next_desc = 1;
	struct fd_seg s[128] = { { t->hdr, 16, false } };
	for (int i = 1; i < 127; i++)
		s[i] = (struct fd_seg){ t->data + (i - 1) * 512, 512, true };
	s[127] = (struct fd_seg){ t->st, 1, true };
	uint16_t head = fd_add(&t->f, 0, s, 128, false);
	uint32_t id, len;
	assert_int_equal(fd_wait(&t->f, 0, &id, &len), 1);
	assert_int_equal(id, head);
	assert_int_equal(len, 126 * 512 + 1);
	assert_int_equal(*(uint8_t *)fake_ptr(t->vm, t->st), 0);
}

/* The available index 65,000 ahead of the used one: more buffers than the
 * queue has entries (2.7.6), so the ring is garbage. The device takes none
 * of them, sets DEVICE_NEEDS_RESET with a configuration change interrupt
 * (2.1.2) and ignores kicks until the driver resets it. */
static void test_avail_idx_65000_ahead_needs_reset(void **state)
{
	struct blk *t = *state;
	for (int i = 0; i < 128; i++) /* what it would find: valid-looking chains */
		*fd_desc(&t->f, 0, i) = (struct vq_desc){ t->hdr, 16, 0, 0 };
	fd_irqs(&t->f);
	__atomic_store_n(&fd_avail(&t->f, 0)[1], 65000, __ATOMIC_RELEASE);
	fd_wr(&t->f, 0x050, 0);
	for (int i = 0; i < 500 && !(fd_rd(&t->f, STATUS) & VIRTIO_STATUS_NEEDS_RESET); i++)
		usleep(1000);
	assert_true(fd_rd(&t->f, STATUS) & VIRTIO_STATUS_NEEDS_RESET);
	assert_true(fd_rd(&t->f, INT_STATUS) & VIRTIO_MMIO_INT_CONFIG);
	assert_int_equal(fd_irqs(&t->f), 1);
	fd_wr(&t->f, 0x050, 0);
	fd_settle();
	assert_int_equal(fd_used(&t->f, 0)[1], 0);
	assert_int_equal(fd_rd(&t->f, 0x044), 0);
	assert_int_equal(fd_init(&t->f, t->vm, t->dev, ~0ULL, 128), 0x0f);
	t->hdr = fd_alloc(&t->f, 16, 16);
	*(struct hdr *)fake_ptr(t->vm, t->hdr) = (struct hdr){ T_IN, 0, 0 };
	t->data = fd_alloc(&t->f, 512, 512);
	t->st = fd_alloc(&t->f, 1, 1);
	still_works(t);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, blk_teardown)
	const struct CMUnitTest tests[] = {
		T(test_descriptor_loop_direct_and_indirect_returned_empty),
		T(test_queue_size_1024_needs_reset),
		cmocka_unit_test_setup_teardown(test_chain_of_1000_descriptors_returned_empty,
						setup_256, blk_teardown),
		T(test_avail_idx_65000_ahead_needs_reset),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
