/* test_virtio_mmio.c - the virtio-mmio transport (registers, feature
 * negotiation, reset, DEVICE_NEEDS_RESET) and the rng device, driven by the
 * fake driver. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "arch.h"
#include "fakedrv.h"

#define ALL_FEATURES (~0ULL)
#define OK_STATUS 0x0f

struct t {
	struct vm *vm;
	struct virtio_dev *dev;
	struct fakedrv f;
};

static int setup(void **state)
{
	struct t *t = calloc(1, sizeof(*t));
	t->vm = fake_vm_new(1 << 20);
	t->dev = virtio_rng_create(t->vm);
	assert_non_null(t->dev);
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct t *t = *state;
	fake_vm_free(t->vm);
	virtio_mmio_free(t->dev);
	free(t);
	return 0;
}

static void test_identity(void **state)
{
	struct t *t = *state;
	t->f = (struct fakedrv){ .vm = t->vm, .dev = t->dev };
	assert_int_equal(fd_rd(&t->f, 0x000), 0x74726976);
	assert_int_equal(fd_rd(&t->f, 0x004), 2);
	assert_int_equal(fd_rd(&t->f, 0x008), VIRTIO_ID_RNG);
	fd_wr(&t->f, 0x014, 1);
	assert_true(fd_rd(&t->f, 0x010) & 1); /* VERSION_1 is bit 32 */
	fd_wr(&t->f, 0x030, 0);
	assert_int_equal(fd_rd(&t->f, 0x034), VQ_MAX_SIZE);
	fd_wr(&t->f, 0x030, 1);
	assert_int_equal(fd_rd(&t->f, 0x034), 0); /* no second queue */
	assert_int_equal(fd_rd(&t->f, 0x0b0), 0xffffffff); /* no shared memory */
	/* The device sits in the first slot the architecture offers. */
	assert_int_equal(t->dev->base, arch_devices.mmio_base);
	assert_int_equal(t->dev->irq, arch_devices.mmio_irq_base);
}

static void test_init_and_rng(void **state)
{
	struct t *t = *state;
	assert_int_equal(fd_init(&t->f, t->vm, t->dev, ALL_FEATURES, 8), OK_STATUS);
	uint64_t a = fd_alloc(&t->f, 64, 1), b = fd_alloc(&t->f, 4096, 1);
	struct fd_seg s[2] = { { a, 64, true }, { b, 4096, true } };
	uint16_t head = fd_add(&t->f, 0, s, 2, true);
	uint32_t id, len;
	assert_int_equal(fd_wait(&t->f, 0, &id, &len), 1);
	assert_int_equal(id, head);
	assert_int_equal(len, 64 + 4096);
	uint8_t zero[64] = { 0 };
	assert_memory_not_equal(fake_ptr(t->vm, a), zero, 64);
	fd_settle();
	assert_true(fd_irqs(&t->f) >= 1);
	assert_int_equal(fd_rd(&t->f, 0x060) & 1, 1);
	fd_wr(&t->f, 0x064, 1);
	assert_int_equal(fd_rd(&t->f, 0x060), 0);
}

static void test_features_without_version1(void **state)
{
	struct t *t = *state;
	uint32_t st = fd_init(&t->f, t->vm, t->dev, ~(1ULL << VIRTIO_F_VERSION_1), 8);
	assert_false(st & VIRTIO_STATUS_FEATURES_OK); /* 3.1.1: legacy is refused */
}

static void test_features_not_offered(void **state)
{
	struct t *t = *state;
	t->f.dev = t->dev;
	fd_wr(&t->f, 0x070, 0);
	fd_wr(&t->f, 0x024, 0);
	fd_wr(&t->f, 0x020, 1u << 5); /* never offered */
	fd_wr(&t->f, 0x024, 1);
	fd_wr(&t->f, 0x020, 1);
	fd_wr(&t->f, 0x070, 0x0b);
	assert_false(fd_rd(&t->f, 0x070) & VIRTIO_STATUS_FEATURES_OK);
}

/* The driver reset, acknowledged and accepted features, without FEATURES_OK. */
static void start_without_features_ok(struct t *t)
{
	t->f = (struct fakedrv){ .vm = t->vm, .dev = t->dev, .brk = FAKE_RAM_GPA };
	fd_wr(&t->f, 0x070, 0);
	fd_wr(&t->f, 0x070, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	fd_wr(&t->f, 0x024, 1);
	fd_wr(&t->f, 0x020, 1); /* VERSION_1 */
}

/* 3.1.1: DRIVER_OK before FEATURES_OK: the device does not go live. */
static void test_driver_ok_without_features_ok_ignored(void **state)
{
	struct t *t = *state;
	start_without_features_ok(t);
	fd_wr(&t->f, 0x070, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
				    VIRTIO_STATUS_DRIVER_OK);
	assert_false(fd_rd(&t->f, 0x070) & VIRTIO_STATUS_DRIVER_OK);
	/* The proper sequence after a reset still works. */
	assert_int_equal(fd_init(&t->f, t->vm, t->dev, ALL_FEATURES, 8), OK_STATUS);
}

/* 3.1.1: QueueReady before FEATURES_OK (features, and so the ring's format,
 * not settled yet) is ignored and reads back 0. */
static void test_queue_ready_before_features_ok_ignored(void **state)
{
	struct t *t = *state;
	start_without_features_ok(t);
	fd_queue_setup(&t->f, 0, 8);
	assert_int_equal(fd_rd(&t->f, 0x044), 0);
	assert_false(fd_rd(&t->f, 0x070) & VIRTIO_STATUS_NEEDS_RESET);
	fd_wr(&t->f, 0x070, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
				    VIRTIO_STATUS_FEATURES_OK);
	fd_wr(&t->f, 0x044, 1);
	assert_int_equal(fd_rd(&t->f, 0x044), 1);
}

static void test_bad_ring_needs_reset(void **state)
{
	struct t *t = *state;
	fd_init(&t->f, t->vm, t->dev, ALL_FEATURES, 8);
	fd_irqs(&t->f);
	fd_wr(&t->f, 0x030, 0);
	fd_wr(&t->f, 0x044, 0);
	fd_wr(&t->f, 0x038, 8);
	fd_wr(&t->f, 0x080, 0x1000); /* below RAM */
	fd_wr(&t->f, 0x044, 1);
	assert_true(fd_rd(&t->f, 0x070) & VIRTIO_STATUS_NEEDS_RESET);
	assert_int_equal(fd_rd(&t->f, 0x044), 0);
	assert_true(fd_rd(&t->f, 0x060) & VIRTIO_MMIO_INT_CONFIG);
	assert_true(fd_irqs(&t->f) >= 1);
	/* A reset brings it back. */
	assert_int_equal(fd_init(&t->f, t->vm, t->dev, ALL_FEATURES, 8), OK_STATUS);
}

static void test_bad_queue_size(void **state)
{
	struct t *t = *state;
	fd_init(&t->f, t->vm, t->dev, ALL_FEATURES, 8);
	fd_wr(&t->f, 0x044, 0);
	fd_wr(&t->f, 0x038, 1024); /* above QueueNumMax */
	fd_wr(&t->f, 0x044, 1);
	assert_true(fd_rd(&t->f, 0x070) & VIRTIO_STATUS_NEEDS_RESET);
}

static void test_corrupt_avail_needs_reset(void **state)
{
	struct t *t = *state;
	fd_init(&t->f, t->vm, t->dev, ALL_FEATURES, 8);
	fd_publish(&t->f, 0, 200); /* head past the queue size */
	fd_wr(&t->f, 0x050, 0);
	fd_settle();
	assert_true(fd_rd(&t->f, 0x070) & VIRTIO_STATUS_NEEDS_RESET);
}

static void test_bad_chain_returned_empty(void **state)
{
	struct t *t = *state;
	fd_init(&t->f, t->vm, t->dev, ALL_FEATURES, 8);
	struct fd_seg s = { 0x10, 64, true }; /* outside RAM */
	uint16_t head = fd_add(&t->f, 0, &s, 1, false);
	uint32_t id, len;
	assert_int_equal(fd_wait(&t->f, 0, &id, &len), 1);
	assert_int_equal(id, head);
	assert_int_equal(len, 0);
	assert_false(fd_rd(&t->f, 0x070) & VIRTIO_STATUS_NEEDS_RESET);
}

static void test_reset_clears(void **state)
{
	struct t *t = *state;
	fd_init(&t->f, t->vm, t->dev, ALL_FEATURES, 8);
	fd_wr(&t->f, 0x070, 0);
	assert_int_equal(fd_rd(&t->f, 0x070), 0);
	fd_wr(&t->f, 0x030, 0);
	assert_int_equal(fd_rd(&t->f, 0x044), 0);
	assert_int_equal(fd_rd(&t->f, 0x060), 0);
	/* Kicks before DRIVER_OK are ignored. */
	fd_wr(&t->f, 0x050, 0);
	fd_settle();
	assert_int_equal(fd_rd(&t->f, 0x070), 0);
}

static void test_odd_accesses(void **state)
{
	struct t *t = *state;
	t->f.dev = t->dev;
	uint8_t b = 0x55;
	virtio_mmio_read(t->dev, 0x000, &b, 1); /* registers are 32-bit only */
	assert_int_equal(b, 0);
	uint32_t w = ~0u;
	virtio_mmio_read(t->dev, 0x002, &w, 4); /* misaligned */
	assert_int_equal(w, 0);
	uint64_t q = ~0ULL;
	virtio_mmio_read(t->dev, 0x100, &q, 8); /* rng has no config space */
	assert_int_equal(q, 0);
	virtio_mmio_write(t->dev, 0x070, &b, 1);
	assert_int_equal(fd_rd(&t->f, 0x070), 0);
	fd_wr(&t->f, 0x030, 7); /* a queue that does not exist */
	fd_wr(&t->f, 0x044, 1);
	assert_int_equal(fd_rd(&t->f, 0x044), 0);
	fd_wr(&t->f, 0x050, 9); /* notify a queue that does not exist */
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_identity), T(test_init_and_rng), T(test_features_without_version1),
		T(test_features_not_offered), T(test_driver_ok_without_features_ok_ignored),
		T(test_queue_ready_before_features_ok_ignored), T(test_bad_ring_needs_reset), T(test_bad_queue_size),
		T(test_corrupt_avail_needs_reset), T(test_bad_chain_returned_empty),
		T(test_reset_clears), T(test_odd_accesses),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
