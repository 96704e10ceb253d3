/* test_arm64_load.c - arch_load_kernel on fake guest memory (no KVM): where
 * the Image, initrd and device tree land (booting.rst: Image at a 2 MiB
 * aligned base + text_offset, DTB 8-byte aligned and within 2 MiB, nothing
 * overlapping), Image.gz, and the files that must be refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <libfdt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arch.h"
#include "arm64.h"

#define MIB (1ULL << 20)

struct fixture {
	struct vm vm;
	struct arm64_vm a;
	char dir[64], kernel[96], initrd[96];
};

static void write_file(const char *path, const void *buf, size_t len)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(buf, 1, len, f), len);
	fclose(f);
}

/* An Image of len bytes (text_offset, image_size as given) whose body is a
 * recognisable pattern. */
static void write_image(const char *path, size_t len, uint64_t text_offset, uint64_t size)
{
	uint8_t *b = calloc(1, len);
	for (size_t i = 64; i < len; i++)
		b[i] = i * 13;
	memcpy(b, "MZ", 2);
	for (int i = 0; i < 8; i++) {
		b[8 + i] = text_offset >> (8 * i);
		b[16 + i] = size >> (8 * i);
	}
	b[24] = 0xa; /* LE, 4K pages, anywhere */
	memcpy(b + 0x38, "ARM\x64", 4);
	write_file(path, b, len);
	free(b);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	strcpy(f->dir, "/tmp/test_arm64_load.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->kernel, sizeof(f->kernel), "%s/Image", f->dir);
	snprintf(f->initrd, sizeof(f->initrd), "%s/initrd", f->dir);
	f->vm.cfg = (struct vm_config){ .kernel = f->kernel, .cmdline = "console=ttyAMA0",
					.mem_size = 64 * MIB, .ncpus = 2 };
	assert_int_equal(arch_memory_layout(&f->vm), 0);
	f->vm.ram[0].host = calloc(1, f->vm.ram[0].size);
	f->vm.arch = &f->a;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f->vm.ram[0].host);
	free(f);
	return 0;
}

static void test_layout(void **state)
{
	struct fixture *f = *state;
	write_image(f->kernel, 3 * MIB, 0x80000, 4 * MIB);
	uint8_t rd[5000];
	memset(rd, 0x5a, sizeof(rd));
	write_file(f->initrd, rd, sizeof(rd));
	f->vm.cfg.initrd = f->initrd;
	assert_int_equal(arch_load_kernel(&f->vm), 0);
	assert_int_equal(f->a.entry, 0x80080000); /* RAM is 2 MiB aligned */
	const uint8_t *k = vm_gpa_ptr(&f->vm, f->a.entry, 3 * MIB);
	assert_int_equal(k[0x38], 'A');
	assert_int_equal(k[3 * MIB - 1], (uint8_t)((3 * MIB - 1) * 13));
	/* The device tree: top 2 MiB of RAM, 8-byte aligned, valid. */
	assert_int_equal(f->a.fdt, 0x80000000 + 62 * MIB);
	void *fdt = vm_gpa_ptr(&f->vm, f->a.fdt, ARM64_FDT_MAX);
	assert_int_equal(fdt_check_header(fdt), 0);
	int chosen = fdt_path_offset(fdt, "/chosen");
	const fdt64_t *start = fdt_getprop(fdt, chosen, "linux,initrd-start", NULL);
	const fdt64_t *end = fdt_getprop(fdt, chosen, "linux,initrd-end", NULL);
	assert_non_null(start);
	uint64_t s = fdt64_to_cpu(*start), e = fdt64_to_cpu(*end);
	assert_int_equal(e - s, sizeof(rd));
	assert_true(s >= f->a.entry + 4 * MIB); /* above image_size, not just the file */
	assert_true(e <= f->a.fdt);
	assert_memory_equal(vm_gpa_ptr(&f->vm, s, sizeof(rd)), rd, sizeof(rd));
}

static void test_gzip(void **state)
{
	struct fixture *f = *state;
	char cmd[640];
	write_image(f->kernel, MIB, 0, 2 * MIB);
	snprintf(cmd, sizeof(cmd), "cp %s %s.raw && gzip -n %s && mv %s.gz %s", f->kernel,
		 f->kernel, f->kernel, f->kernel, f->kernel);
	assert_int_equal(system(cmd), 0);
	int r = arch_load_kernel(&f->vm);
#ifdef CONFIG_HOST_DECOMPRESS
	assert_int_equal(r, 0);
	assert_int_equal(f->a.entry, 0x80000000);
	const uint8_t *k = vm_gpa_ptr(&f->vm, f->a.entry, MIB);
	assert_int_equal(k[MIB - 1], (uint8_t)((MIB - 1) * 13));
#else
	assert_int_equal(r, -ENOTSUP);
#endif
}

static void test_refused(void **state)
{
	struct fixture *f = *state;
	write_file(f->kernel, "#!/bin/sh\n", 10); /* shorter than a header */
	assert_int_equal(arch_load_kernel(&f->vm), -ENOEXEC);
	write_image(f->kernel, MIB, 0, 80 * MIB); /* needs more than 64 MiB of RAM */
	assert_int_equal(arch_load_kernel(&f->vm), -EFBIG);
	write_image(f->kernel, MIB, 0, 2 * MIB);
	uint8_t *big = calloc(1, 61 * MIB); /* no room between kernel and DTB */
	write_file(f->initrd, big, 61 * MIB);
	free(big);
	f->vm.cfg.initrd = f->initrd;
	assert_int_equal(arch_load_kernel(&f->vm), -EFBIG);
	f->vm.cfg.kernel = f->dir; /* a directory */
	assert_true(arch_load_kernel(&f->vm) < 0);
}

static void test_memory_limit(void **state)
{
	(void)state;
	struct vm vm = { .cfg.mem_size = 1ULL << 40 };
	assert_int_equal(arch_memory_layout(&vm), -EINVAL); /* beyond 40-bit IPA */
	vm.cfg.mem_size = 4ULL << 30;
	assert_int_equal(arch_memory_layout(&vm), 0);
	assert_int_equal(vm.nram, 1);
	assert_int_equal(vm.ram[0].gpa, ARM64_RAM);
	assert_int_equal(arm64_fdt_addr(&vm), ARM64_RAM + (4ULL << 30) - ARM64_FDT_MAX);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_layout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gzip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
		cmocka_unit_test(test_memory_limit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
