/* test_x86_boot.c - bzImage header parsing, ELF loading, memory layout and
 * e820, on fake guest memory (no KVM). */
#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "arch.h"
#include "image.h"
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

/* A cached vmlinux is read into guest RAM: its bytes land at p_paddr, the
 * rest of p_memsz is zeroed, and the entry is e_entry. */
static void test_elf_from_cache(void **state)
{
	(void)state;
	char dir[] = "/tmp/test_x86_boot.XXXXXX", src[64];
	assert_non_null(mkdtemp(dir));
	setenv("MICROVM_CACHE", dir, 1);
	snprintf(src, sizeof(src), "%s/bzImage", dir);
	FILE *f = fopen(src, "w");
	assert_non_null(f);
	fputs("stands for a bzImage", f);
	fclose(f);
	size_t len = 0x2800;
	uint8_t *elf = calloc(1, len);
	Elf64_Ehdr *eh = (Elf64_Ehdr *)elf;
	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_machine = EM_X86_64;
	eh->e_entry = 0x200000;
	eh->e_phoff = sizeof(*eh);
	eh->e_phentsize = sizeof(Elf64_Phdr);
	eh->e_phnum = 1;
	Elf64_Phdr *ph = (Elf64_Phdr *)(elf + sizeof(*eh));
	*ph = (Elf64_Phdr){ .p_type = PT_LOAD, .p_offset = 0x1000, .p_paddr = 0x200000,
			    .p_filesz = 0x1800, .p_memsz = 0x3000 };
	for (size_t i = 0x1000; i < len; i++)
		elf[i] = (uint8_t)(i * 7);
	image_cache_store(src, elf, len);
	struct image_map m;
	assert_int_equal(image_cache_map(src, &m), 0);
	struct vm *vm = fake_vm(32);
	uint8_t *ram = vm_gpa_ptr(vm, 0x200000, 0x3000);
	memset(ram, 0xff, 0x3000);
	struct x86_kernel k = { 0 };
	assert_int_equal(elf_load_mapped(vm, &m, &k), 0);
	assert_memory_equal(ram, elf + 0x1000, 0x1800);
	for (size_t i = 0x1800; i < 0x3000; i++)
		assert_int_equal(ram[i], 0);
	assert_int_equal(k.mode, X86_ENTRY_64);
	assert_int_equal(k.entry, 0x200000);
	assert_int_equal(k.end, 0x203000);
	image_unmap(&m);
	free_vm(vm);
	free(elf);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
	unsetenv("MICROVM_CACHE");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bzimage_valid),
		cmocka_unit_test(test_bzimage_bad),
		cmocka_unit_test(test_layout_small),
		cmocka_unit_test(test_layout_split),
		cmocka_unit_test(test_gpa_ptr),
		cmocka_unit_test(test_elf_from_cache),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
