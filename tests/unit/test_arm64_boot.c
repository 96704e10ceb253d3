/* test_arm64_boot.c - arm64 Image header parsing and the generated device
 * tree (read back with libfdt and round-tripped through dtc), without KVM.
 * Offsets and binding values are taken from booting.rst and Linux's DT
 * bindings, not from vmm/aarch64. dtc (device-tree-compiler) is required. */
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

static void put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = v >> (8 * i);
}

/* The 64-byte header of booting.rst section 4. */
static uint8_t *fake_image(size_t len, uint64_t text_offset, uint64_t size, uint64_t flags)
{
	uint8_t *b = calloc(1, len);
	put_le64(b + 8, text_offset);
	put_le64(b + 16, size);
	put_le64(b + 24, flags);
	memcpy(b + 0x38, "ARM\x64", 4);
	return b;
}

static void test_image_valid(void **state)
{
	(void)state;
	uint8_t *b = fake_image(4096, 0x80000, 0x10000, 0xa);
	struct arm64_image img;
	assert_int_equal(arm64_image_parse(b, 4096, &img), 0);
	assert_int_equal(img.text_offset, 0x80000);
	assert_int_equal(img.image_size, 0x10000);
	assert_int_equal(img.flags, 0xa);
	free(b);
}

static void test_image_legacy(void **state)
{
	(void)state;
	/* image_size 0: pre-3.17, text_offset taken as 0x80000 whatever it says. */
	uint8_t *b = fake_image(4096, 0x1234000, 0, 0x1);
	struct arm64_image img;
	assert_int_equal(arm64_image_parse(b, 4096, &img), 0);
	assert_int_equal(img.text_offset, 0x80000);
	assert_true(img.image_size >= 4096);
	free(b);
}

static void test_image_bad(void **state)
{
	(void)state;
	struct arm64_image img;
	uint8_t *b = fake_image(4096, 0, 0x10000, 0);
	assert_int_equal(arm64_image_parse(b, 63, &img), -ENOEXEC); /* truncated header */
	b[0x3b] = 0x65;
	assert_int_equal(arm64_image_parse(b, 4096, &img), -ENOEXEC); /* wrong magic */
	free(b);
	b = fake_image(4096, 0, 0x10000, 0x1);
	assert_int_equal(arm64_image_parse(b, 4096, &img), -ENOTSUP); /* big endian */
	free(b);
	b = fake_image(4096, 0, UINT64_MAX, 0);
	assert_int_equal(arm64_image_parse(b, 4096, &img), -EINVAL); /* hostile size */
	free(b);
	b = fake_image(4096, UINT64_MAX - 4095, 0x10000, 0);
	assert_int_equal(arm64_image_parse(b, 4096, &img), -EINVAL); /* hostile offset */
	free(b);
}

/* A VM as the core leaves it before arch_load_kernel: 4 vCPUs, 512 MiB,
 * two virtio-mmio devices recorded. */
struct fixture {
	struct vm vm;
	struct arm64_vm a;
	struct arm64_boot b;
	uint8_t seed[16];
	void *fdt;
	int size;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	f->vm.cfg.ncpus = 4;
	f->vm.cfg.cmdline = "console=ttyAMA0 panic=1";
	f->vm.cfg.mem_size = 512 << 20;
	assert_int_equal(arch_memory_layout(&f->vm), 0);
	f->vm.arch = &f->a;
	assert_int_equal(arch_add_mmio_dev(&f->vm, 0x0a000000, 0x200, 16), 0);
	assert_int_equal(arch_add_mmio_dev(&f->vm, 0x0a001000, 0x200, 17), 0);
	f->b = (struct arm64_boot){ .initrd = 0x9f000000, .initrd_size = 0x123456,
				    .rng_seed = f->seed, .rng_seed_len = sizeof(f->seed) };
	f->fdt = calloc(1, 65536);
	f->size = arm64_fdt_build(&f->vm, &f->b, f->fdt, 65536);
	assert_true(f->size > 0);
	assert_int_equal(fdt_check_header(f->fdt), 0);
	assert_int_equal(fdt_totalsize(f->fdt), f->size);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	free(f->fdt);
	free(f);
	return 0;
}

static const fdt32_t *prop32(const void *fdt, const char *path, const char *name, int cells)
{
	int node = fdt_path_offset(fdt, path), len;
	assert_true(node >= 0);
	const fdt32_t *p = fdt_getprop(fdt, node, name, &len);
	assert_non_null(p);
	assert_int_equal(len, 4 * cells);
	return p;
}

static uint64_t cells64(const fdt32_t *p)
{
	return (uint64_t)fdt32_to_cpu(p[0]) << 32 | fdt32_to_cpu(p[1]);
}

static void assert_str(const void *fdt, const char *path, const char *name, const char *want)
{
	int node = fdt_path_offset(fdt, path);
	assert_true(node >= 0);
	const char *s = fdt_getprop(fdt, node, name, NULL);
	assert_non_null(s);
	assert_string_equal(s, want);
}

static void test_fdt_memory_cpus(void **state)
{
	struct fixture *f = *state;
	const fdt32_t *reg = prop32(f->fdt, "/memory@80000000", "reg", 4);
	assert_int_equal(cells64(reg), 0x80000000);
	assert_int_equal(cells64(reg + 2), 512 << 20);
	assert_str(f->fdt, "/memory@80000000", "device_type", "memory");
	int cpus = fdt_path_offset(f->fdt, "/cpus"), n = 0, node;
	fdt_for_each_subnode(node, f->fdt, cpus) {
		int len;
		const fdt32_t *r = fdt_getprop(f->fdt, node, "reg", &len);
		assert_int_equal(len, 4);
		assert_int_equal(fdt32_to_cpu(*r), n); /* MPIDR Aff0 = index below 16 */
		assert_string_equal(fdt_getprop(f->fdt, node, "enable-method", NULL), "psci");
		assert_string_equal(fdt_getprop(f->fdt, node, "device_type", NULL), "cpu");
		n++;
	}
	assert_int_equal(n, 4);
	assert_int_equal(arm64_mpidr(17), 0x101); /* Aff1 = 1, Aff0 = 1 */
	assert_str(f->fdt, "/psci", "compatible", "arm,psci-0.2");
	assert_str(f->fdt, "/psci", "method", "hvc");
}

static void test_fdt_gic_timer(void **state)
{
	struct fixture *f = *state;
	const char *gic = "/intc@8000000";
	assert_str(f->fdt, gic, "compatible", "arm,gic-v3");
	const fdt32_t *reg = prop32(f->fdt, gic, "reg", 8);
	assert_int_equal(cells64(reg), 0x08000000);
	assert_int_equal(cells64(reg + 2), 0x10000);
	assert_int_equal(cells64(reg + 4), 0x080a0000);
	assert_int_equal(cells64(reg + 6), 4 * 0x20000); /* 128 KiB per vCPU */
	assert_int_equal(fdt32_to_cpu(*prop32(f->fdt, gic, "#interrupt-cells", 1)), 3);
	uint32_t ph = fdt32_to_cpu(*prop32(f->fdt, gic, "phandle", 1));
	assert_int_equal(fdt32_to_cpu(*prop32(f->fdt, "/", "interrupt-parent", 1)), ph);
	assert_true(fdt_getprop(f->fdt, fdt_path_offset(f->fdt, gic), "interrupt-controller",
				NULL) != NULL);
	assert_str(f->fdt, "/timer", "compatible", "arm,armv8-timer");
	const fdt32_t *irq = prop32(f->fdt, "/timer", "interrupts", 12);
	static const uint32_t ppi[] = { 13, 14, 11, 10 };
	for (int i = 0; i < 4; i++) {
		assert_int_equal(fdt32_to_cpu(irq[3 * i]), 1); /* PPI */
		assert_int_equal(fdt32_to_cpu(irq[3 * i + 1]), ppi[i]);
	}
}

static void test_fdt_devices(void **state)
{
	struct fixture *f = *state;
	/* A PL011 (ttyAMA0), an AMBA PrimeCell with its clocks. */
	const char *uart = "/pl011@9000000";
	int node = fdt_path_offset(f->fdt, uart);
	assert_true(node >= 0);
	int len;
	const char *compat = fdt_getprop(f->fdt, node, "compatible", &len);
	assert_int_equal(len, sizeof("arm,pl011\0arm,primecell"));
	assert_memory_equal(compat, "arm,pl011\0arm,primecell", len);
	const char *names = fdt_getprop(f->fdt, node, "clock-names", &len);
	assert_int_equal(len, sizeof("uartclk\0apb_pclk"));
	assert_memory_equal(names, "uartclk\0apb_pclk", len);
	const fdt32_t *clk = prop32(f->fdt, uart, "clocks", 2);
	int clock = fdt_node_offset_by_phandle(f->fdt, fdt32_to_cpu(clk[0]));
	assert_true(clock >= 0);
	assert_int_equal(clock, fdt_node_offset_by_phandle(f->fdt, fdt32_to_cpu(clk[1])));
	assert_string_equal(fdt_getprop(f->fdt, clock, "compatible", NULL), "fixed-clock");
	const fdt32_t *irq = prop32(f->fdt, uart, "interrupts", 3);
	assert_int_equal(fdt32_to_cpu(irq[0]), 0); /* SPI */
	assert_int_equal(fdt32_to_cpu(irq[1]), arch_devices.serial_irq);
	assert_int_equal(fdt32_to_cpu(irq[2]), 4); /* level high */
	const fdt32_t *ureg = prop32(f->fdt, uart, "reg", 4);
	assert_int_equal(cells64(ureg), arch_devices.serial_base);
	assert_int_equal(cells64(ureg + 2), 0x1000);
	assert_int_equal(arch_devices.serial_bus, BUS_MMIO);
	assert_int_equal(arch_devices.serial_uart, ARCH_UART_PL011);
	assert_string_equal(arch_devices.serial_tty, "ttyAMA0");
	assert_str(f->fdt, "/pvpanic@9010000", "compatible", "qemu,pvpanic-mmio");
	assert_int_equal(cells64(prop32(f->fdt, "/pvpanic@9010000", "reg", 4)),
			 arch_devices.pvpanic_base);
	const char *v1 = "/virtio_mmio@a001000";
	assert_str(f->fdt, v1, "compatible", "virtio,mmio");
	const fdt32_t *reg = prop32(f->fdt, v1, "reg", 4);
	assert_int_equal(cells64(reg), 0x0a001000);
	assert_int_equal(cells64(reg + 2), 0x200);
	irq = prop32(f->fdt, v1, "interrupts", 3);
	assert_int_equal(fdt32_to_cpu(irq[1]), 17);
	assert_int_equal(fdt32_to_cpu(irq[2]), 1); /* edge: irqfd pulses the line */
	assert_true(fdt_path_offset(f->fdt, "/virtio_mmio@a000000") >= 0);
}

static void test_fdt_chosen(void **state)
{
	struct fixture *f = *state;
	assert_str(f->fdt, "/chosen", "bootargs", "console=ttyAMA0 panic=1");
	int chosen = fdt_path_offset(f->fdt, "/chosen");
	const char *out = fdt_getprop(f->fdt, chosen, "stdout-path", NULL);
	assert_non_null(out);
	assert_int_equal(fdt_path_offset(f->fdt, out), fdt_path_offset(f->fdt, "/pl011@9000000"));
	assert_int_equal(cells64(prop32(f->fdt, "/chosen", "linux,initrd-start", 2)), 0x9f000000);
	assert_int_equal(cells64(prop32(f->fdt, "/chosen", "linux,initrd-end", 2)),
			 0x9f000000 + 0x123456);
	prop32(f->fdt, "/chosen", "rng-seed", 4);
	/* Without an initrd there is no initrd range. */
	struct arm64_boot none = { 0 };
	uint8_t buf[8192];
	assert_true(arm64_fdt_build(&f->vm, &none, buf, sizeof(buf)) > 0);
	chosen = fdt_path_offset(buf, "/chosen");
	assert_null(fdt_getprop(buf, chosen, "linux,initrd-start", NULL));
}

static void test_fdt_nospace(void **state)
{
	struct fixture *f = *state;
	uint8_t small[256];
	assert_int_equal(arm64_fdt_build(&f->vm, &f->b, small, sizeof(small)), -FDT_ERR_NOSPACE);
	/* 64 vCPUs and 32 devices fit easily in the 2 MiB booting.rst allows. */
	f->vm.cfg.ncpus = 64;
	while (arch_add_mmio_dev(&f->vm, 0x0a000000 + 0x1000 * f->a.nmmio, 0x200, 16) == 0)
		;
	assert_int_equal(f->a.nmmio, 32);
	void *big = malloc(ARM64_FDT_MAX);
	int n = arm64_fdt_build(&f->vm, &f->b, big, ARM64_FDT_MAX);
	assert_true(n > 0 && n < 65536);
	assert_true(fdt_path_offset(big, "/cpus/cpu@303") >= 0); /* vCPU 63 */
	free(big);
}

static int run(const char *cmd)
{
	int st = system(cmd);
	return st == -1 ? -1 : WEXITSTATUS(st);
}

/* dtc must read the blob without a warning, and dts -> dtb -> dts must
 * give the same text back. Compiling the decompiled text, dtc would take the
 * PL011's clocks (plain numbers there, no &label) for non-phandles: that one
 * check is off for that step only. */
static void test_fdt_dtc_roundtrip(void **state)
{
	struct fixture *f = *state;
	char dir[] = "/tmp/test_arm64_fdt.XXXXXX", cmd[1024];
	assert_non_null(mkdtemp(dir));
	snprintf(cmd, sizeof(cmd), "%s/vm.dtb", dir);
	FILE *fp = fopen(cmd, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(f->fdt, 1, f->size, fp), (size_t)f->size);
	fclose(fp);
	snprintf(cmd, sizeof(cmd),
		 "cd %s && dtc -I dtb -O dts -o a.dts vm.dtb 2>err && ! test -s err && "
		 "dtc -W no-clocks_property -I dts -O dtb -o b.dtb a.dts 2>err && ! test -s err && "
		 "dtc -I dtb -O dts -o b.dts b.dtb && cmp -s a.dts b.dts && "
		 "grep -q 'compatible = \"virtio,mmio\"' a.dts || { cat err; exit 1; }", dir);
	int rc = run(cmd);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	run(cmd);
	assert_int_equal(rc, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_image_valid),
		cmocka_unit_test(test_image_legacy),
		cmocka_unit_test(test_image_bad),
		cmocka_unit_test_setup_teardown(test_fdt_memory_cpus, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fdt_gic_timer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fdt_devices, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fdt_chosen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fdt_nospace, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fdt_dtc_roundtrip, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
