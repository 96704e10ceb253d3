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

#include <stdbool.h>
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

/* --- private to acpi.c and acpi-dsdt.c: the table builder ------------------ */

/* Device names are "V" and three hex digits. */
#define MAX_DEVS 4096

/* Writes that do not fit are dropped and remembered, so one pass both fills
 * the buffer and finds out whether it was large enough. */
struct out {
	uint8_t *p;
	size_t size, off;
	bool full;
};

/* acpi.c: append n bytes, or v as n little-endian bytes, to o. */
void out_put(struct out *o, const void *src, size_t n);
void out_le(struct out *o, uint64_t v, size_t n);
void out_u8(struct out *o, uint8_t v);
void out_u16(struct out *o, uint16_t v);
void out_u32(struct out *o, uint32_t v);

/* acpi.c: the byte that makes n bytes starting at p sum to zero (mod 256). */
uint8_t checksum(const void *p, size_t n);

/* ACPI 6.4 5.2.6: System Description Table Header. */
struct sdt_hdr {
	char sig[4];
	uint32_t len;
	uint8_t rev;
	uint8_t csum;
	char oem_id[6];
	char oem_table_id[8];
	uint32_t oem_rev;
	char creator_id[4];
	uint32_t creator_rev;
} __attribute__((packed));

/* acpi.c: fill a header with microvm's OEM and creator ids; once the table
 * from start to o->off is written, patch its Length and Checksum. */
void sdt_hdr_init(struct sdt_hdr *h, const char *sig, uint8_t rev);
void sdt_end(struct out *o, size_t start);

/* acpi-dsdt.c: append the DSDT for cfg (devices, vmgenid and GED, \_S5). */
void build_dsdt(struct out *o, const struct acpi_config *cfg);

/* acpi-dsdt.c: whether d's _HID is well formed and its resources fit the
 * descriptors' fields. */
bool dev_valid(const struct acpi_dev *d);

#endif
