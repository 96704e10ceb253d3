/* acpi.h - ACPI tables for x86 guests (hardware-reduced ACPI).
 *
 * microvm has no firmware; these tables are what the guest kernel learns the
 * machine from: CPUs and interrupt controllers (MADT), how to power off and
 * reset (FADT sleep control / reset registers, DSDT \_S5), and the devices
 * that have no other enumeration (virtio-mmio "LNRO0005", pvpanic
 * "QEMU0001") as DSDT device objects with their resources.
 */
#ifndef X86_ACPI_H
#define X86_ACPI_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* One device object in the DSDT. */
struct acpi_dev {
	const char *hid;     /* _HID, e.g. "LNRO0005" (virtio-mmio), "QEMU0001" (pvpanic) */
	unsigned uid;        /* _UID, unique per _HID */
	uint64_t mmio_base;  /* Memory32Fixed resource when mmio_len != 0 */
	uint32_t mmio_len;
	uint16_t io_base;    /* IO resource when io_len != 0 */
	uint16_t io_len;
	int irq;             /* Extended interrupt (GSI, edge, active high) when >= 0 */
};

struct acpi_config {
	int ncpus;              /* LAPIC entries with ids 0..ncpus-1 */
	uint32_t lapic_addr;    /* 0xfee00000 */
	uint32_t ioapic_addr;   /* 0xfec00000, id 0, GSI base 0 */
	uint16_t sleep_ctl_port; /* FADT SLEEP_CONTROL_REG (8-bit SystemIO) */
	uint16_t sleep_sts_port; /* FADT SLEEP_STATUS_REG (8-bit SystemIO) */
	uint16_t reset_port;     /* FADT RESET_REG (8-bit SystemIO) */
	uint8_t reset_value;     /* FADT RESET_VALUE */
	const struct acpi_dev *devs;
	int ndevs;
	/* A VM generation ID device (_CID "VM_GEN_COUNTER") whose 16-byte id
	 * is at guest-physical vmgenid (0: none), and a Generic Event Device
	 * (ACPI0013) on GSI ged_gsi whose event notifies it (a restore). */
	uint64_t vmgenid;
	unsigned ged_gsi;
};

/* Value of SLP_TYPx in the \_S5 package; the guest writes
 * (ACPI_S5_TYPE << 2) | ACPI_SLP_EN to the sleep control register to power off. */
#define ACPI_S5_TYPE 5
#define ACPI_SLP_EN 0x20

/* Build RSDP, XSDT, FADT, MADT and DSDT into buf, which the guest will see
 * at guest-physical address gpa (16-byte aligned). The RSDP is first, at gpa.
 * Returns the number of bytes used, or -ENOSPC when size is too small,
 * -EINVAL for a bad config (ncpus < 1 or > 255, ndevs < 0). */
ssize_t acpi_build(const struct acpi_config *cfg, void *buf, size_t size, uint64_t gpa);

#endif
