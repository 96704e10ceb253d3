/* test_virtqueue.c - split virtqueue chain walking: good chains, and one
 * named test per defect a hostile driver can put in a ring. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "fakedrv.h"

#define QSIZE 16
#define RAM (1 << 20)

struct ring {
	struct vm *vm;
	struct vq vq;
	struct vq_chain c;
	struct vq_desc *desc;
	uint16_t *avail, *used;
	uint64_t buf; /* a 64 KiB data area */
};

static int setup(void **state)
{
	struct ring *r = calloc(1, sizeof(*r));
	r->vm = fake_vm_new(RAM);
	vq_init(&r->vq, r->vm);
	r->vq.size = QSIZE;
	r->vq.desc_gpa = FAKE_RAM_GPA;
	r->vq.avail_gpa = FAKE_RAM_GPA + 0x1000;
	r->vq.used_gpa = FAKE_RAM_GPA + 0x2000;
	r->vq.indirect = r->vq.event_idx = true;
	assert_int_equal(vq_setup(&r->vq), 0);
	r->vq.ready = true;
	r->desc = fake_ptr(r->vm, r->vq.desc_gpa);
	r->avail = fake_ptr(r->vm, r->vq.avail_gpa);
	r->used = fake_ptr(r->vm, r->vq.used_gpa);
	r->buf = FAKE_RAM_GPA + 0x10000;
	*state = r;
	return 0;
}

static int teardown(void **state)
{
	struct ring *r = *state;
	fake_vm_free(r->vm);
	free(r);
	return 0;
}

static void publish(struct ring *r, uint16_t head)
{
	r->avail[2 + (r->avail[1] % QSIZE)] = head;
	r->avail[1]++;
}

static void set(struct ring *r, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
		uint16_t next)
{
	r->desc[i] = (struct vq_desc){ addr, len, flags, next };
}

static int pop1(struct ring *r, uint16_t head)
{
	publish(r, head);
	return vq_pop(&r->vq, &r->c);
}

static void test_good_direct(void **state)
{
	struct ring *r = *state;
	set(r, 3, r->buf, 16, VQ_DESC_F_NEXT, 7);
	set(r, 7, r->buf + 100, 512, VQ_DESC_F_NEXT, 1);
	set(r, 1, r->buf + 1000, 1, VQ_DESC_F_WRITE, 0);
	assert_int_equal(pop1(r, 3), 1);
	assert_int_equal(r->c.head, 3);
	assert_int_equal(r->c.nout, 2);
	assert_int_equal(r->c.nin, 1);
	assert_int_equal(r->c.out_len, 528);
	assert_int_equal(r->c.in_len, 1);
	assert_ptr_equal(r->c.iov[1].iov_base, fake_ptr(r->vm, r->buf + 100));
	assert_int_equal(vq_pop(&r->vq, &r->c), 0); /* nothing more */
	vq_push(&r->vq, 3, 1);
	assert_int_equal(r->used[1], 1);
	assert_int_equal(((struct vq_used_elem *)(r->used + 2))[0].id, 3);
}

static void test_good_indirect(void **state)
{
	struct ring *r = *state;
	uint64_t t = FAKE_RAM_GPA + 0x3000;
	struct vq_desc *tab = fake_ptr(r->vm, t);
	tab[0] = (struct vq_desc){ r->buf, 16, VQ_DESC_F_NEXT, 2 };
	tab[2] = (struct vq_desc){ r->buf + 16, 4096, VQ_DESC_F_NEXT | VQ_DESC_F_WRITE, 1 };
	tab[1] = (struct vq_desc){ r->buf + 8192, 1, VQ_DESC_F_WRITE, 0 };
	set(r, 0, t, 3 * 16, VQ_DESC_F_INDIRECT, 0);
	assert_int_equal(pop1(r, 0), 1);
	assert_int_equal(r->c.nout, 1);
	assert_int_equal(r->c.nin, 2);
	assert_int_equal(r->c.in_len, 4097);
}

static void test_cursors(void **state)
{
	struct ring *r = *state;
	uint8_t *mem = fake_ptr(r->vm, r->buf);
	memcpy(mem, "hello", 5);
	memcpy(mem + 100, " world", 6);
	set(r, 0, r->buf, 5, VQ_DESC_F_NEXT, 1);
	set(r, 1, r->buf + 100, 6, VQ_DESC_F_NEXT, 2);
	set(r, 2, r->buf + 200, 3, VQ_DESC_F_WRITE | VQ_DESC_F_NEXT, 3);
	set(r, 3, r->buf + 300, 4, VQ_DESC_F_WRITE, 0);
	assert_int_equal(pop1(r, 0), 1);
	struct vq_cursor rd, wr;
	char out[32] = { 0 };
	vq_reader(&rd, &r->c);
	assert_int_equal(vq_read(&rd, out, 3), 3);
	assert_int_equal(vq_read(&rd, out + 3, sizeof(out)), 8);
	assert_string_equal(out, "hello world");
	assert_int_equal(rd.left, 0);
	vq_writer(&wr, &r->c);
	assert_int_equal(vq_skip(&wr, 2), 2);
	assert_int_equal(vq_write(&wr, "abcdef", 6), 5);
	assert_memory_equal(mem + 200, "\0\0a", 3);
	assert_memory_equal(mem + 300, "bcde", 4);
	struct iovec iov[4];
	vq_writer(&wr, &r->c);
	assert_int_equal(vq_take(&wr, 5, iov, 4), 2);
	assert_int_equal(iov[1].iov_len, 2);
}

/* --- defects -------------------------------------------------------------- */

static void test_head_out_of_range(void **state)
{
	struct ring *r = *state;
	assert_int_equal(pop1(r, QSIZE), -EIO);
}

static void test_avail_idx_jump(void **state)
{
	struct ring *r = *state;
	set(r, 0, r->buf, 1, 0, 0);
	r->avail[1] = QSIZE + 1; /* more than size outstanding */
	assert_int_equal(vq_pop(&r->vq, &r->c), -EIO);
}

static void test_next_out_of_range(void **state)
{
	struct ring *r = *state;
	set(r, 0, r->buf, 1, VQ_DESC_F_NEXT, QSIZE);
	assert_int_equal(pop1(r, 0), -EBADMSG);
	assert_int_equal(r->c.head, 0);
}

static void test_loop(void **state)
{
	struct ring *r = *state;
	set(r, 0, r->buf, 1, VQ_DESC_F_NEXT, 1);
	set(r, 1, r->buf, 1, VQ_DESC_F_NEXT, 0);
	assert_int_equal(pop1(r, 0), -EBADMSG);
}

static void test_self_loop(void **state)
{
	struct ring *r = *state;
	set(r, 5, r->buf, 1, VQ_DESC_F_NEXT, 5);
	assert_int_equal(pop1(r, 5), -EBADMSG);
}

static void test_too_long(void **state)
{
	struct ring *r = *state;
	/* An indirect table of 200 entries: longer than VQ_MAX_CHAIN. */
	uint64_t t = FAKE_RAM_GPA + 0x4000;
	struct vq_desc *tab = fake_ptr(r->vm, t);
	for (int i = 0; i < 200; i++)
		tab[i] = (struct vq_desc){ r->buf, 1, i < 199 ? VQ_DESC_F_NEXT : 0, i + 1 };
	set(r, 0, t, 200 * 16, VQ_DESC_F_INDIRECT, 0);
	assert_int_equal(pop1(r, 0), -EBADMSG);
}

static void test_read_after_write(void **state)
{
	struct ring *r = *state;
	set(r, 0, r->buf, 1, VQ_DESC_F_WRITE | VQ_DESC_F_NEXT, 1);
	set(r, 1, r->buf, 1, 0, 0);
	assert_int_equal(pop1(r, 0), -EBADMSG);
}

static void test_addr_outside_ram(void **state)
{
	struct ring *r = *state;
	set(r, 0, 0, 16, 0, 0); /* below RAM */
	assert_int_equal(pop1(r, 0), -EBADMSG);
	set(r, 1, FAKE_RAM_GPA + RAM - 8, 16, 0, 0); /* straddles the end */
	assert_int_equal(pop1(r, 1), -EBADMSG);
	set(r, 2, UINT64_MAX - 4, 16, 0, 0); /* wraps around */
	assert_int_equal(pop1(r, 2), -EBADMSG);
}

static void test_total_over_4g(void **state)
{
	struct ring *r = *state;
	/* Two buffers whose lengths add past 2^32 (2.7.5.1). In 1 MiB of RAM
	 * the range check already rejects them; the sum check guards VMs with
	 * more than 4 GiB. */
	set(r, 0, r->buf, 0x80000000u, VQ_DESC_F_NEXT, 1);
	set(r, 1, r->buf, 0x80000000u, 0, 0);
	assert_int_equal(pop1(r, 0), -EBADMSG);
}

static void test_indirect_not_negotiated(void **state)
{
	struct ring *r = *state;
	r->vq.indirect = false;
	set(r, 0, FAKE_RAM_GPA + 0x3000, 16, VQ_DESC_F_INDIRECT, 0);
	assert_int_equal(pop1(r, 0), -EBADMSG);
}

static void test_indirect_nested(void **state)
{
	struct ring *r = *state;
	uint64_t t = FAKE_RAM_GPA + 0x3000;
	struct vq_desc *tab = fake_ptr(r->vm, t);
	tab[0] = (struct vq_desc){ t, 16, VQ_DESC_F_INDIRECT, 0 };
	set(r, 0, t, 16, VQ_DESC_F_INDIRECT, 0);
	assert_int_equal(pop1(r, 0), -EBADMSG);
}

static void test_indirect_with_next(void **state)
{
	struct ring *r = *state;
	uint64_t t = FAKE_RAM_GPA + 0x3000;
	*(struct vq_desc *)fake_ptr(r->vm, t) = (struct vq_desc){ r->buf, 1, 0, 0 };
	set(r, 0, t, 16, VQ_DESC_F_INDIRECT | VQ_DESC_F_NEXT, 1);
	set(r, 1, r->buf, 1, 0, 0);
	assert_int_equal(pop1(r, 0), -EBADMSG);
}

static void test_indirect_bad_len(void **state)
{
	struct ring *r = *state;
	set(r, 0, FAKE_RAM_GPA + 0x3000, 24, VQ_DESC_F_INDIRECT, 0);
	assert_int_equal(pop1(r, 0), -EBADMSG);
	set(r, 1, FAKE_RAM_GPA + 0x3000, 0, VQ_DESC_F_INDIRECT, 0);
	assert_int_equal(pop1(r, 1), -EBADMSG);
	set(r, 2, FAKE_RAM_GPA + RAM - 16, 32, VQ_DESC_F_INDIRECT, 0);
	assert_int_equal(pop1(r, 2), -EBADMSG);
}

/* 2.7.5.3.1 asks no alignment of an indirect table: one at an odd address
 * is walked like any other, and still bounded by guest RAM. */
static void test_indirect_table_at_odd_address(void **state)
{
	struct ring *r = *state;
	uint64_t t = FAKE_RAM_GPA + 0x3003;
	struct vq_desc tab[2] = { { r->buf, 16, VQ_DESC_F_NEXT, 1 },
				  { r->buf + 16, 64, VQ_DESC_F_WRITE, 0 } };
	memcpy(fake_ptr(r->vm, t), tab, sizeof(tab));
	set(r, 0, t, sizeof(tab), VQ_DESC_F_INDIRECT, 0);
	assert_int_equal(pop1(r, 0), 1);
	assert_int_equal(r->c.nout, 1);
	assert_int_equal(r->c.nin, 1);
	assert_int_equal(r->c.in_len, 64);
	assert_ptr_equal(r->c.iov[1].iov_base, fake_ptr(r->vm, r->buf + 16));
	set(r, 1, FAKE_RAM_GPA + RAM - 17, 32, VQ_DESC_F_INDIRECT, 0); /* past RAM's end */
	assert_int_equal(pop1(r, 1), -EBADMSG);
}

static void test_indirect_loop(void **state)
{
	struct ring *r = *state;
	uint64_t t = FAKE_RAM_GPA + 0x3000;
	struct vq_desc *tab = fake_ptr(r->vm, t);
	tab[0] = (struct vq_desc){ r->buf, 1, VQ_DESC_F_NEXT, 1 };
	tab[1] = (struct vq_desc){ r->buf, 1, VQ_DESC_F_NEXT, 0 };
	set(r, 0, t, 32, VQ_DESC_F_INDIRECT, 0);
	assert_int_equal(pop1(r, 0), -EBADMSG);
	tab[1].next = 2; /* past the table's end */
	assert_int_equal(pop1(r, 0), -EBADMSG);
}

static void test_setup_rejects(void **state)
{
	struct ring *r = *state;
	struct vq vq;
	vq_init(&vq, r->vm);
	vq.desc_gpa = FAKE_RAM_GPA;
	vq.avail_gpa = FAKE_RAM_GPA + 0x1000;
	vq.used_gpa = FAKE_RAM_GPA + 0x2000;
	vq.size = 12; /* not a power of 2 */
	assert_int_equal(vq_setup(&vq), -EINVAL);
	vq.size = 0;
	assert_int_equal(vq_setup(&vq), -EINVAL);
	vq.size = 512; /* above QueueNumMax */
	assert_int_equal(vq_setup(&vq), -EINVAL);
	vq.size = 16;
	vq.desc_gpa = FAKE_RAM_GPA + 8; /* misaligned */
	assert_int_equal(vq_setup(&vq), -EINVAL);
	vq.desc_gpa = FAKE_RAM_GPA + RAM - 16; /* runs off the end */
	assert_int_equal(vq_setup(&vq), -EINVAL);
	vq.desc_gpa = FAKE_RAM_GPA;
	vq.used_gpa = 0x1000; /* outside RAM */
	assert_int_equal(vq_setup(&vq), -EINVAL);
}

static void test_event_idx(void **state)
{
	struct ring *r = *state;
	uint16_t *used_event = &r->avail[2 + QSIZE];
	for (int i = 0; i < 3; i++) {
		set(r, i, r->buf, 1, VQ_DESC_F_WRITE, 0);
		publish(r, i);
	}
	*used_event = 1; /* interrupt once the 2nd buffer is used */
	for (int i = 0; i < 3; i++)
		assert_int_equal(vq_pop(&r->vq, &r->c), 1);
	vq_push(&r->vq, 0, 1);
	assert_false(vq_should_notify(&r->vq));
	vq_push(&r->vq, 1, 1);
	assert_true(vq_should_notify(&r->vq));
	vq_push(&r->vq, 2, 1);
	assert_false(vq_should_notify(&r->vq));
	/* avail_event tells the driver which index to kick at. */
	assert_false(vq_enable_notify(&r->vq));
	assert_int_equal(r->used[2 + 4 * QSIZE], 3);
	publish(r, 0);
	assert_true(vq_enable_notify(&r->vq));
}

static void test_no_interrupt_flag(void **state)
{
	struct ring *r = *state;
	r->vq.event_idx = false;
	set(r, 0, r->buf, 1, VQ_DESC_F_WRITE, 0);
	assert_int_equal(pop1(r, 0), 1);
	r->avail[0] = VQ_AVAIL_F_NO_INTERRUPT;
	vq_push(&r->vq, 0, 1);
	assert_false(vq_should_notify(&r->vq));
	r->avail[0] = 0;
	assert_int_equal(pop1(r, 0), 1);
	vq_push(&r->vq, 0, 1);
	assert_true(vq_should_notify(&r->vq));
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_good_direct), T(test_good_indirect), T(test_cursors),
		T(test_head_out_of_range), T(test_avail_idx_jump), T(test_next_out_of_range),
		T(test_loop), T(test_self_loop), T(test_too_long), T(test_read_after_write),
		T(test_addr_outside_ram), T(test_total_over_4g), T(test_indirect_not_negotiated),
		T(test_indirect_nested), T(test_indirect_with_next), T(test_indirect_bad_len),
		T(test_indirect_loop), T(test_indirect_table_at_odd_address), T(test_setup_rejects),
		T(test_event_idx), T(test_no_interrupt_flag),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
