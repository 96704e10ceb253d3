/* test_x86_cmdline.c - the kernel command line microvm builds: with
 * --no-acpi each virtio-mmio device is announced as
 * virtio_mmio.device=SIZE@BASE:IRQ; with ACPI it stays as given. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "arch.h"
#include "x86.h"

static struct vm *vm_with_devices(bool acpi, const char *cmdline)
{
	struct vm *vm = calloc(1, sizeof(*vm));
	vm->arch = calloc(1, sizeof(struct x86_vm));
	vm->cfg.cmdline = cmdline;
	vm->cfg.acpi = acpi;
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(arch_add_mmio_dev(vm, arch_devices.mmio_base +
							   i * arch_devices.mmio_stride,
						   arch_devices.mmio_stride,
						   arch_devices.mmio_irq_base + i), 0);
	return vm;
}

static void test_no_acpi(void **state)
{
	(void)state;
	struct vm *vm = vm_with_devices(false, "console=hvc0 quiet");
	char buf[512];
	assert_true(x86_cmdline(vm, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "console=hvc0 quiet pci=off"
				 " virtio_mmio.device=4K@0xd0000000:5"
				 " virtio_mmio.device=4K@0xd0001000:6"
				 " virtio_mmio.device=4K@0xd0002000:7");
	free(vm->arch);
	free(vm);
}

static void test_acpi_leaves_it(void **state)
{
	(void)state;
	struct vm *vm = vm_with_devices(true, "console=ttyS0");
	char buf[512];
	assert_int_equal(x86_cmdline(vm, buf, sizeof(buf)), 21);
	assert_string_equal(buf, "console=ttyS0 pci=off");
	free(vm->arch);
	free(vm);
}

/* The user's own pci= option is kept and no pci=off is added. */
static void test_user_pci_option(void **state)
{
	(void)state;
	struct vm *vm = vm_with_devices(true, "pci=nommconf console=ttyS0");
	char buf[512];
	assert_true(x86_cmdline(vm, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "pci=nommconf console=ttyS0");
	vm->cfg.cmdline = "quiet pci=noacpi";
	assert_true(x86_cmdline(vm, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "quiet pci=noacpi");
	vm->cfg.cmdline = "quiet nopci=1";
	assert_true(x86_cmdline(vm, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "quiet nopci=1 pci=off");
	free(vm->arch);
	free(vm);
}

static void test_too_long(void **state)
{
	(void)state;
	struct vm *vm = vm_with_devices(false, "console=ttyS0");
	char buf[40];
	assert_int_equal(x86_cmdline(vm, buf, sizeof(buf)), -E2BIG);
	free(vm->arch);
	free(vm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_acpi),
		cmocka_unit_test(test_acpi_leaves_it),
		cmocka_unit_test(test_user_pci_option),
		cmocka_unit_test(test_too_long),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
