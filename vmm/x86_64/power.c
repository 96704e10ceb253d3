/* power.c - how an x86 guest stops: the ACPI sleep control and reset
 * registers named in the FADT, the i8042 reset line, and the ACPI tables
 * that describe them. */
#include <errno.h>
#include <string.h>

#include "acpi.h"
#include "arch.h"
#include "log.h"
#include "x86.h"

static void power_write(void *opaque, uint64_t off, const void *data, unsigned len)
{
	struct vm *vm = opaque;
	uint8_t v = *(const uint8_t *)data;
	(void)len;
	if (off == X86_PORT_SLEEP_CTL - X86_PORT_SLEEP_CTL) {
		/* ACPI 6.4 sec. 4.8.3.7: SLP_TYPx in bits 2-4, SLP_EN bit 5. */
		if ((v & ACPI_SLP_EN) && ((v >> 2) & 7) == ACPI_S5_TYPE)
			vm_request_exit(vm, VM_EXIT_POWEROFF, "ACPI S5 (poweroff)");
	} else if (off == X86_PORT_RESET - X86_PORT_SLEEP_CTL && v == X86_RESET_VALUE) {
		vm_request_exit(vm, VM_EXIT_REBOOT, "ACPI reset register");
	}
}

static void power_read(void *opaque, uint64_t off, void *data, unsigned len)
{
	(void)opaque;
	(void)off;
	memset(data, 0, len); /* sleep status: never "woken" */
}

/* The keyboard controller's "pulse reset line" command, Linux's reboot=k. */
static void i8042_write(void *opaque, uint64_t off, const void *data, unsigned len)
{
	(void)off;
	(void)len;
	if (*(const uint8_t *)data == 0xfe)
		vm_request_exit(opaque, VM_EXIT_REBOOT, "i8042 reset");
}

static void i8042_read(void *opaque, uint64_t off, void *data, unsigned len)
{
	(void)opaque;
	(void)off;
	memset(data, 0, len); /* status: input buffer empty, so a reset can be sent */
}

int x86_power_setup(struct vm *vm)
{
	int r = bus_register(&vm->bus[BUS_PIO], X86_PORT_SLEEP_CTL, 3, power_read,
			     power_write, vm, "acpi-power");
	if (r == 0)
		r = bus_register(&vm->bus[BUS_PIO], 0x64, 1, i8042_read, i8042_write, vm,
				 "i8042-reset");
	return r;
}

uint64_t x86_acpi_setup(struct vm *vm)
{
	struct x86_vm *x = vm->arch;
	struct acpi_dev devs[34];
	int n = 0;
	for (int i = 0; i < x->mmio.n; i++)
		devs[n++] = (struct acpi_dev){ .hid = "LNRO0005", .uid = i,
					       .mmio_base = x->mmio.base[i],
					       .mmio_len = x->mmio.len[i], .irq = x->mmio.irq[i] };
	/* Hardware-reduced ACPI makes Linux drop the legacy PIC and with it
	 * the fixed ISA IRQs: the UART's IRQ 4 is only wired up (IOAPIC pin
	 * programmed) for a port the DSDT describes. */
	if (bus_owner(&vm->bus[BUS_PIO], arch_devices.serial_base))
		devs[n++] = (struct acpi_dev){ .hid = "PNP0501", .uid = 0,
					       .io_base = arch_devices.serial_base, .io_len = 8,
					       .irq = arch_devices.serial_irq };
#ifdef CONFIG_PVPANIC
	devs[n++] = (struct acpi_dev){ .hid = "QEMU0001", .uid = 0, .io_base = X86_PORT_PVPANIC,
				       .io_len = 1, .irq = -1 };
#endif
	struct acpi_config cfg = {
		.ncpus = vm->cfg.ncpus, .lapic_addr = X86_LAPIC, .ioapic_addr = X86_IOAPIC,
		.sleep_ctl_port = X86_PORT_SLEEP_CTL, .sleep_sts_port = X86_PORT_SLEEP_STS,
		.reset_port = X86_PORT_RESET, .reset_value = X86_RESET_VALUE,
		.devs = devs, .ndevs = n,
		.vmgenid = X86_VMGENID, .ged_gsi = X86_GED_GSI,
	};
	size_t size = X86_VMGENID - X86_ACPI;
	void *buf = vm_gpa_ptr(vm, X86_ACPI, size);
	ssize_t r = buf ? acpi_build(&cfg, buf, size, X86_ACPI) : -EINVAL;
	x86_vmgenid_update(vm, false);
	if (r < 0) {
		log_error("cannot build ACPI tables: %s", strerror((int)-r));
		return 0;
	}
	return X86_ACPI;
}
