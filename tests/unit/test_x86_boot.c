/* test_x86_boot.c - bzImage header parsing, ELF loading, memory layout and
 * e820, on fake guest memory (no KVM). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "arch.h"
#include "x86.h"

static uint8_t *fake_bzimage(size_t len, uint16_t version, uint16_t xlf)
{
	uint8_t *b = calloc(1, len);
	b[0x1f1] = 1; /* setup_sects: protected-mode code at 1024 */
	b[0x1fe] = 0x55;
	b[0x1ff] = 0xaa;
	memcpy(b + 0x202, "HdrS", 4);
	b[0x206] = version & 0xff;
	b[0x207] = version >> 8;
	b[0x236] = xlf & 0xff;
	b[0x238] = 0xff; /* cmdline_size 255 */
	b[0x248] = 0x10; /* payload_offset 16, payload_length 32 */
	b[0x24c] = 0x20;
	return b;
}

static void test_bzimage_valid(void **state)
{
	(void)state;
	uint8_t *b = fake_bzimage(4096, 0x020f, 1);
	struct bzimage bz;
	assert_int_equal(bzimage_parse(b, 4096, &bz), 0);
	assert_int_equal(bz.version, 0x020f);
	assert_int_equal(bz.pm_offset, 1024);
	assert_int_equal(bz.pm_len, 4096 - 1024);
	assert_int_equal(bz.cmdline_size, 255);
	assert_int_equal(bz.payload_offset, 16);
	assert_int_equal(bz.payload_length, 32);
	b[0x1f1] = 0; /* 0 means 4, per boot.rst */
	assert_int_equal(bzimage_parse(b, 4096, &bz), 0);
	assert_int_equal(bz.pm_offset, 5 * 512);
	free(b);
}

static void test_bzimage_bad(void **state)
{
	(void)state;
	struct bzimage bz;
	uint8_t *b = fake_bzimage(4096, 0x020f, 1);
	assert_int_equal(bzimage_parse(b, 0x200, &bz), -ENOEXEC); /* truncated header */
	b[0x202] = 'X';
	assert_int_equal(bzimage_parse(b, 4096, &bz), -ENOEXEC); /* wrong magic */
	free(b);
	b = fake_bzimage(4096, 0x020a, 1);
	assert_int_equal(bzimage_parse(b, 4096, &bz), -EPROTO); /* protocol 2.10 */
	free(b);
	b = fake_bzimage(4096, 0x020f, 0);
	assert_int_equal(bzimage_parse(b, 4096, &bz), -EPROTO); /* no 64-bit entry */
	free(b);
	b = fake_bzimage(1100, 0x020f, 1);
	b[0x24c] = 0xff; /* payload past the end of the file */
	assert_int_equal(bzimage_parse(b, 1100, &bz), -EINVAL);
	b[0x1f1] = 10;   /* setup larger than the file */
	assert_int_equal(bzimage_parse(b, 1100, &bz), -EINVAL);
	free(b);
}

static struct vm *fake_vm(uint64_t mib)
{
	struct vm *vm = calloc(1, sizeof(*vm));
	vm->cfg.mem_size = mib << 20;
	assert_int_equal(arch_memory_layout(vm), 0);
	for (int i = 0; i < vm->nram; i++)
		vm->ram[i].host = calloc(1, vm->ram[i].size < (64 << 20) ? vm->ram[i].size : 1);
	return vm;
}

static void free_vm(struct vm *vm)
{
	for (int i = 0; i < vm->nram; i++)
		free(vm->ram[i].host);
	free(vm);
}

static void test_layout_small(void **state)
{
	(void)state;
	struct vm *vm = fake_vm(512);
	assert_int_equal(vm->nram, 1);
	struct e820_entry e[8];
	assert_int_equal(x86_e820(vm, e, 8), 3);
	assert_int_equal(e[0].addr, 0);
	assert_int_equal(e[0].size, 0x9fc00);
	assert_int_equal(e[0].type, E820_RAM);
	assert_int_equal(e[1].type, E820_RESERVED);
	assert_int_equal(e[1].addr + e[1].size, 0x100000);
	assert_int_equal(e[2].addr, 0x100000);
	assert_int_equal(e[2].addr + e[2].size, 512 << 20);
	free_vm(vm);
}

static void test_layout_split(void **state)
{
	(void)state;
	struct vm *vm = fake_vm(6 * 1024);
	assert_int_equal(vm->nram, 2);
	assert_int_equal(vm->ram[0].size, X86_MMIO_HOLE);
	assert_int_equal(vm->ram[1].gpa, X86_4G);
	assert_int_equal(vm->ram[0].size + vm->ram[1].size, 6ULL << 30);
	struct e820_entry e[8];
	assert_int_equal(x86_e820(vm, e, 8), 4);
	assert_int_equal(e[3].addr, X86_4G);
	assert_int_equal(e[3].size, 3ULL << 30);
	/* Nothing of the e820 RAM overlaps the MMIO hole. */
	for (int i = 0; i < 4; i++)
		assert_true(e[i].addr + e[i].size <= X86_MMIO_HOLE || e[i].addr >= X86_4G);
	assert_int_equal(x86_e820(vm, e, 2), -ENOSPC);
	free_vm(vm);
}

static void test_gpa_ptr(void **state)
{
	(void)state;
	struct vm *vm = fake_vm(32);
	uint64_t size = 32 << 20;
	assert_non_null(vm_gpa_ptr(vm, 0, size));
	assert_non_null(vm_gpa_ptr(vm, size - 1, 1));
	assert_null(vm_gpa_ptr(vm, size - 1, 2));
	assert_null(vm_gpa_ptr(vm, size, 1));
	assert_null(vm_gpa_ptr(vm, UINT64_MAX, 2));
	assert_null(vm_gpa_ptr(vm, 1, UINT64_MAX));
	free_vm(vm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bzimage_valid),
		cmocka_unit_test(test_bzimage_bad),
		cmocka_unit_test(test_layout_small),
		cmocka_unit_test(test_layout_split),
		cmocka_unit_test(test_gpa_ptr),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
