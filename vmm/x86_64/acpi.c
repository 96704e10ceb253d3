/* acpi.c - ACPI tables for x86 guests: RSDP, XSDT, FADT, MADT and the layout.
 *
 * Hardware-reduced ACPI (ACPI 6.4 section 4.1): no PM1/GPE register blocks
 * and no SCI. The guest powers off by writing SLP_TYP (from \_S5) | SLP_EN
 * to the FADT sleep control register and resets by writing RESET_VALUE to
 * the reset register (4.8.3.6, 4.8.3.7). The tables sit back to back at
 * 16-byte boundaries, RSDP first. This file holds the fixed-format tables,
 * the output buffer and table header every table is written through, the
 * config checks and acpi_build; the DSDT, the one table in AML, is built by
 * acpi-dsdt.c with its encoders.
 *
 * Multi-byte table fields are little-endian. The packed structs assume a
 * little-endian host, as every host this file is built for is.
 */
#include "acpi.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#define PACKED __attribute__((packed))

#define OEM_ID "MICROV"		/* 6 characters */
#define OEM_TABLE_ID "MICROVM "	/* 8 characters */
#define CREATOR_ID "MVMM"	/* 4 characters */

void out_put(struct out *o, const void *src, size_t n)
{
	if (o->full || o->off > o->size || n > o->size - o->off)
		o->full = true;
	else if (n)
		memcpy(o->p + o->off, src, n);
	o->off += n;
}

void out_le(struct out *o, uint64_t v, size_t n)
{
	uint8_t b[8];

	for (size_t i = 0; i < n; i++)
		b[i] = v >> (8 * i);
	out_put(o, b, n);
}

void out_u8(struct out *o, uint8_t v) { out_le(o, v, 1); }
void out_u16(struct out *o, uint16_t v) { out_le(o, v, 2); }
void out_u32(struct out *o, uint32_t v) { out_le(o, v, 4); }

static void out_pad(struct out *o, size_t to)
{
	while (o->off < to)
		out_u8(o, 0);
}

/* The byte that makes n bytes starting at p sum to zero (mod 256). */
uint8_t checksum(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint8_t sum = 0;

	while (n--)
		sum += *b++;
	return -sum;
}

/* ACPI 6.4 5.2.5.3: Root System Description Pointer, revision 2. */
struct rsdp {
	char sig[8];
	uint8_t csum;		/* over the first 20 bytes (the ACPI 1.0 part) */
	char oem_id[6];
	uint8_t rev;
	uint32_t rsdt_addr;	/* 0: there is only an XSDT */
	uint32_t len;
	uint64_t xsdt_addr;
	uint8_t ext_csum;	/* over the whole structure */
	uint8_t reserved[3];
} PACKED;

/* ACPI 6.4 5.2.8: Extended System Description Table. */
struct xsdt {
	struct sdt_hdr hdr;
	uint64_t entry[2];	/* FADT, MADT */
} PACKED;

/* ACPI 6.4 5.2.3.2: Generic Address Structure. */
struct gas {
	uint8_t space, bit_width, bit_offset, access_size;
	uint64_t addr;
} PACKED;

#define GAS_SYSTEM_IO 1
#define GAS_ACCESS_BYTE 1

/* ACPI 6.4 5.2.9: Fixed ACPI Description Table, revision 6. With
 * HW_REDUCED_ACPI set, OSPM ignores offsets 46-108 and 148-243 (SCI, SMI,
 * PM1/PM2/GPE blocks, PM timer), so they stay zero here. */
struct fadt {
	struct sdt_hdr hdr;
	uint32_t firmware_ctrl;		/* 36: no FACS, optional when HW-reduced */
	uint32_t dsdt;			/* 40: 0, X_DSDT is used */
	uint8_t reserved0;
	uint8_t pm_profile;		/* 45: 0, unspecified */
	uint8_t fixed_hw[63];		/* 46: SCI_INT .. CENTURY */
	uint16_t iapc_boot_arch;	/* 109 */
	uint8_t reserved1;
	uint32_t flags;			/* 112 */
	struct gas reset_reg;		/* 116 */
	uint8_t reset_value;		/* 128 */
	uint16_t arm_boot_arch;
	uint8_t minor_version;		/* 131 */
	uint64_t x_firmware_ctrl;
	uint64_t x_dsdt;		/* 140 */
	struct gas x_fixed_hw[8];	/* 148: X_PM1a_EVT_BLK .. X_GPE1_BLK */
	struct gas sleep_control;	/* 244 */
	struct gas sleep_status;	/* 256 */
	char hypervisor_id[8];		/* 268 */
} PACKED;

/* ACPI 6.4 5.2.9: FADT Fixed Feature Flags. */
#define FADT_RESET_REG_SUP (1u << 10)
#define FADT_HW_REDUCED_ACPI (1u << 20)
/* ACPI 6.4 5.2.9.3: IA-PC Boot Architecture Flags. LEGACY_DEVICES and 8042
 * stay clear: no PnP BIOS, no keyboard controller to probe. */
#define BOOT_VGA_NOT_PRESENT (1u << 2)
#define BOOT_MSI_NOT_SUPPORTED (1u << 3)	/* no PCI */
#define BOOT_CMOS_RTC_NOT_PRESENT (1u << 5)	/* wall clock from kvmclock */

/* ACPI 6.4 5.2.12: Multiple APIC Description Table. */
struct madt {
	struct sdt_hdr hdr;
	uint32_t lapic_addr;
	uint32_t flags;
} PACKED;

#define MADT_PCAT_COMPAT 1u	/* dual 8259 present (KVM's in-kernel irqchip) */

/* ACPI 6.4 5.2.12.2: Processor Local APIC Structure. */
struct madt_lapic {
	uint8_t type, len, uid, apic_id;
	uint32_t flags;
} PACKED;

#define LAPIC_ENABLED 1u

/* ACPI 6.4 5.2.12.3: I/O APIC Structure. */
struct madt_ioapic {
	uint8_t type, len, id, reserved;
	uint32_t addr;
	uint32_t gsi_base;
} PACKED;

/* ACPI 6.4 5.2.12.5: Interrupt Source Override Structure. */
struct madt_iso {
	uint8_t type, len, bus, source;	/* bus 0: ISA */
	uint32_t gsi;
	uint16_t flags;
} PACKED;

/* ACPI 6.4 5.2.12.7: Local APIC NMI Structure. */
struct madt_lapic_nmi {
	uint8_t type, len;
	uint8_t uid;		/* 0xff: all processors */
	uint16_t flags;
	uint8_t lint;
} PACKED;

enum { MADT_LAPIC = 0, MADT_IOAPIC = 1, MADT_ISO = 2, MADT_LAPIC_NMI = 4 };

/* ACPI 6.4 5.2.12.5: MPS INTI flags. */
#define INTI_EDGE_HIGH 0x0005

_Static_assert(sizeof(struct sdt_hdr) == 36 && sizeof(struct rsdp) == 36 &&
	       sizeof(struct gas) == 12 && sizeof(struct fadt) == 276, "table sizes");
_Static_assert(sizeof(struct madt_lapic) == 8 && sizeof(struct madt_ioapic) == 12 &&
	       sizeof(struct madt_iso) == 10 && sizeof(struct madt_lapic_nmi) == 6,
	       "MADT entry sizes");

void sdt_hdr_init(struct sdt_hdr *h, const char *sig, uint8_t rev)
{
	memset(h, 0, sizeof(*h));
	memcpy(h->sig, sig, sizeof(h->sig));
	h->rev = rev;
	memcpy(h->oem_id, OEM_ID, sizeof(h->oem_id));
	memcpy(h->oem_table_id, OEM_TABLE_ID, sizeof(h->oem_table_id));
	h->oem_rev = 1;
	memcpy(h->creator_id, CREATOR_ID, sizeof(h->creator_id));
	h->creator_rev = 1;
}

/* Patch Length and Checksum of the table written from start to o->off. */
void sdt_end(struct out *o, size_t start)
{
	uint32_t len = o->off - start;
	uint8_t *t;

	if (o->full)
		return;
	t = o->p + start;
	memcpy(t + offsetof(struct sdt_hdr, len), &len, sizeof(len));
	t[offsetof(struct sdt_hdr, csum)] = 0;
	t[offsetof(struct sdt_hdr, csum)] = checksum(t, len);
}

static void build_rsdp(struct out *o, uint64_t xsdt)
{
	struct rsdp r = { .rev = 2, .len = sizeof(r), .xsdt_addr = xsdt };

	memcpy(r.sig, "RSD PTR ", sizeof(r.sig));
	memcpy(r.oem_id, OEM_ID, sizeof(r.oem_id));
	r.csum = checksum(&r, 20);
	r.ext_csum = checksum(&r, sizeof(r));
	out_put(o, &r, sizeof(r));
}

static void build_xsdt(struct out *o, uint64_t fadt, uint64_t madt)
{
	struct xsdt x = { .entry = { fadt, madt } };
	size_t start = o->off;

	sdt_hdr_init(&x.hdr, "XSDT", 1);
	out_put(o, &x, sizeof(x));
	sdt_end(o, start);
}

static struct gas gas_port8(uint16_t port)
{
	return (struct gas){ .space = GAS_SYSTEM_IO, .bit_width = 8,
			     .access_size = GAS_ACCESS_BYTE, .addr = port };
}

static void build_fadt(struct out *o, const struct acpi_config *cfg, uint64_t dsdt)
{
	struct fadt f = {
		.iapc_boot_arch = BOOT_VGA_NOT_PRESENT | BOOT_MSI_NOT_SUPPORTED |
				  BOOT_CMOS_RTC_NOT_PRESENT,
		.flags = FADT_HW_REDUCED_ACPI | FADT_RESET_REG_SUP,
		.reset_reg = gas_port8(cfg->reset_port),
		.reset_value = cfg->reset_value,
		.minor_version = 4,
		.x_dsdt = dsdt,
		.sleep_control = gas_port8(cfg->sleep_ctl_port),
		.sleep_status = gas_port8(cfg->sleep_sts_port),
	};
	size_t start = o->off;

	sdt_hdr_init(&f.hdr, "FACP", 6);
	memcpy(f.hypervisor_id, "microvm", sizeof(f.hypervisor_id));
	out_put(o, &f, sizeof(f));
	sdt_end(o, start);
}

static size_t madt_size(int ncpus)
{
	return sizeof(struct madt) + (size_t)ncpus * sizeof(struct madt_lapic) +
	       sizeof(struct madt_ioapic) + sizeof(struct madt_iso) +
	       sizeof(struct madt_lapic_nmi);
}

static void build_madt(struct out *o, const struct acpi_config *cfg)
{
	struct madt m = { .lapic_addr = cfg->lapic_addr, .flags = MADT_PCAT_COMPAT };
	struct madt_ioapic io = { .type = MADT_IOAPIC, .len = sizeof(io),
				  .addr = cfg->ioapic_addr };
	/* The PIT's IRQ0 is wired to IOAPIC pin 2. The flags are explicit, not
	 * "conforming": Linux takes an override whose source equals SCI_INT
	 * (0 here) as the SCI's and would default its flags to level/low. */
	struct madt_iso iso = { .type = MADT_ISO, .len = sizeof(iso), .source = 0,
				.gsi = 2, .flags = INTI_EDGE_HIGH };
	struct madt_lapic_nmi nmi = { .type = MADT_LAPIC_NMI, .len = sizeof(nmi),
				      .uid = 0xff, .flags = INTI_EDGE_HIGH, .lint = 1 };
	size_t start = o->off;

	sdt_hdr_init(&m.hdr, "APIC", 5);
	out_put(o, &m, sizeof(m));
	for (int i = 0; i < cfg->ncpus; i++) {
		struct madt_lapic l = { .type = MADT_LAPIC, .len = sizeof(l), .uid = i,
					.apic_id = i, .flags = LAPIC_ENABLED };
		out_put(o, &l, sizeof(l));
	}
	out_put(o, &io, sizeof(io));
	out_put(o, &iso, sizeof(iso));
	out_put(o, &nmi, sizeof(nmi));
	sdt_end(o, start);
}

static int config_valid(const struct acpi_config *cfg, uint64_t gpa)
{
	if (!cfg || gpa % 16 || cfg->ncpus < 1 || cfg->ncpus > 255)
		return -EINVAL;
	if (cfg->ndevs < 0 || cfg->ndevs > MAX_DEVS || (cfg->ndevs && !cfg->devs))
		return -EINVAL;
	for (int i = 0; i < cfg->ndevs; i++)
		if (!dev_valid(&cfg->devs[i]))
			return -EINVAL;
	return 0;
}

static size_t align16(size_t n)
{
	return (n + 15) & ~(size_t)15;
}

ssize_t acpi_build(const struct acpi_config *cfg, void *buf, size_t size, uint64_t gpa)
{
	struct out o = { .p = buf, .size = size };
	size_t xsdt, fadt, madt, dsdt;
	int err = config_valid(cfg, gpa);

	if (err)
		return err;
	/* Every table but the last has a size known up front, so each pointer
	 * is final when its table is written. */
	xsdt = align16(sizeof(struct rsdp));
	fadt = align16(xsdt + sizeof(struct xsdt));
	madt = align16(fadt + sizeof(struct fadt));
	dsdt = align16(madt + madt_size(cfg->ncpus));
	build_rsdp(&o, gpa + xsdt);
	out_pad(&o, xsdt);
	build_xsdt(&o, gpa + fadt, gpa + madt);
	out_pad(&o, fadt);
	build_fadt(&o, cfg, gpa + dsdt);
	out_pad(&o, madt);
	build_madt(&o, cfg);
	out_pad(&o, dsdt);
	build_dsdt(&o, cfg);
	return o.full ? -ENOSPC : (ssize_t)o.off;
}
