/* acpi.c - ACPI tables for x86 guests: RSDP, XSDT, FADT, MADT and DSDT.
 *
 * Hardware-reduced ACPI (ACPI 6.4 section 4.1): no PM1/GPE register blocks
 * and no SCI. The guest powers off by writing SLP_TYP (from \_S5) | SLP_EN
 * to the FADT sleep control register and resets by writing RESET_VALUE to
 * the reset register (4.8.3.6, 4.8.3.7). The tables sit back to back at
 * 16-byte boundaries, RSDP first; the DSDT is AML from the encoders below.
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

/* Device names are "V" and three hex digits. */
#define MAX_DEVS 4096

/* Writes that do not fit are dropped and remembered, so one pass both fills
 * the buffer and finds out whether it was large enough. */
struct out {
	uint8_t *p;
	size_t size, off;
	bool full;
};

static void out_put(struct out *o, const void *src, size_t n)
{
	if (o->full || o->off > o->size || n > o->size - o->off)
		o->full = true;
	else if (n)
		memcpy(o->p + o->off, src, n);
	o->off += n;
}

static void out_le(struct out *o, uint64_t v, size_t n)
{
	uint8_t b[8];

	for (size_t i = 0; i < n; i++)
		b[i] = v >> (8 * i);
	out_put(o, b, n);
}

static void out_u8(struct out *o, uint8_t v) { out_le(o, v, 1); }
static void out_u16(struct out *o, uint16_t v) { out_le(o, v, 2); }
static void out_u32(struct out *o, uint32_t v) { out_le(o, v, 4); }

static void out_pad(struct out *o, size_t to)
{
	while (o->off < to)
		out_u8(o, 0);
}

/* The byte that makes n bytes starting at p sum to zero (mod 256). */
static uint8_t checksum(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint8_t sum = 0;

	while (n--)
		sum += *b++;
	return -sum;
}

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
} PACKED;

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

static void sdt_hdr_init(struct sdt_hdr *h, const char *sig, uint8_t rev)
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
static void sdt_end(struct out *o, size_t start)
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

/* ACPI 6.4 chapter 20: the AML opcodes used here. */
enum {
	AML_ZERO = 0x00, AML_ONE = 0x01, AML_NAME = 0x08,
	AML_BYTE = 0x0a, AML_WORD = 0x0b, AML_DWORD = 0x0c, AML_STRING = 0x0d,
	AML_QWORD = 0x0e, AML_SCOPE = 0x10, AML_BUFFER = 0x11, AML_PACKAGE = 0x12,
	AML_EXT = 0x5b, AML_EXT_DEVICE = 0x82, AML_ROOT = '\\',
	AML_METHOD = 0x14, AML_DUAL_NAME = 0x2e, AML_NOTIFY = 0x86,
};

/* 20.2.4: a PkgLength counts its own bytes. One byte holds up to 63;
 * otherwise bits 7-6 of the lead byte give the number of follow bytes (1-3),
 * its bits 3-0 the low nibble and the follow bytes the rest. pkg_open
 * assumes one byte and pkg_close moves the body up when it needs more, so
 * nothing is written past where the package finally ends. Bodies here stay
 * far below the 2^28 limit (MAX_DEVS). */
static size_t pkg_open(struct out *o)
{
	size_t at = o->off;

	out_u8(o, 0);
	return at;
}

static void pkg_close(struct out *o, size_t at)
{
	static const uint8_t grow[3];
	size_t body = o->off - at - 1;
	size_t n = body + 1 < (1u << 6) ? 1 : body + 2 < (1u << 12) ? 2 :
		   body + 3 < (1u << 20) ? 3 : 4;
	size_t len = body + n;
	uint8_t *p;

	out_put(o, grow, n - 1);
	if (o->full)
		return;
	p = o->p + at;
	memmove(p + n, p + 1, body);
	p[0] = n == 1 ? len : (n - 1) << 6 | (len & 0xf);
	for (size_t i = 1; i < n; i++)
		p[i] = len >> (8 * i - 4);
}

/* 20.2.3: the shortest of ZeroOp, OneOp, ByteConst .. QWordConst. */
static void aml_int(struct out *o, uint64_t v)
{
	static const uint8_t prefix[9] = {
		[1] = AML_BYTE, [2] = AML_WORD, [4] = AML_DWORD, [8] = AML_QWORD,
	};
	size_t n = v <= 0xff ? 1 : v <= 0xffff ? 2 : v <= 0xffffffff ? 4 : 8;

	if (v <= 1) {
		out_u8(o, v ? AML_ONE : AML_ZERO);
		return;
	}
	out_u8(o, prefix[n]);
	out_le(o, v, n);
}

/* 20.2.2: a NameString, here one NameSeg, optionally after RootChar. */
static void aml_name(struct out *o, const char *name)
{
	if (*name == AML_ROOT)
		out_u8(o, *name++);
	out_put(o, name, 4);
}

/* 20.2.5.1 DefName: Name(name, ...); the caller writes the object. */
static void aml_name_op(struct out *o, const char *name)
{
	out_u8(o, AML_NAME);
	aml_name(o, name);
}

/* 20.2.3: String, NUL-terminated. */
static void aml_string(struct out *o, const char *s)
{
	out_u8(o, AML_STRING);
	out_put(o, s, strlen(s) + 1);
}

/* 20.2.5.4 DefBuffer: PkgLength, BufferSize, bytes. */
static void aml_buffer(struct out *o, const void *data, size_t n)
{
	size_t pkg;

	out_u8(o, AML_BUFFER);
	pkg = pkg_open(o);
	aml_int(o, n);
	out_put(o, data, n);
	pkg_close(o, pkg);
}

static bool is_upper(char c) { return c >= 'A' && c <= 'Z'; }
static bool is_digit(char c) { return c >= '0' && c <= '9'; }
static bool is_hex(char c) { return is_digit(c) || (c >= 'A' && c <= 'F'); }
static unsigned hex_val(char c) { return is_digit(c) ? c - '0' : c - 'A' + 10; }

/* ACPI 6.4 6.1.5: a _HID is an EISA id, three letters and four hex digits
 * ("PNP0501"), or an ACPI id, four letters or digits and four hex digits
 * ("LNRO0005"). */
static bool hid_valid(const char *s)
{
	size_t n = strnlen(s, 9);

	if (n != 7 && n != 8)
		return false;
	for (size_t i = 0; i < n; i++) {
		bool ok = i >= n - 4 ? is_hex(s[i]) :
			  is_upper(s[i]) || (n == 8 && is_digit(s[i]));
		if (!ok)
			return false;
	}
	return true;
}

/* An EISA id compresses to a DWORD (what ASL's EISAID() produces): three
 * 5-bit letters and the 16-bit product number, each stored big-endian. */
static void aml_hid(struct out *o, const char *hid)
{
	unsigned vendor, product = 0;

	if (strlen(hid) != 7) {
		aml_string(o, hid);
		return;
	}
	vendor = (hid[0] - '@') << 10 | (hid[1] - '@') << 5 | (hid[2] - '@');
	for (int i = 3; i < 7; i++)
		product = product << 4 | hex_val(hid[i]);
	out_u8(o, AML_DWORD);
	out_u8(o, vendor >> 8);
	out_u8(o, vendor);
	out_u8(o, product >> 8);
	out_u8(o, product);
}

/* ACPI 6.4 6.4: resource descriptors for one device's _CRS. */
enum {
	RES_MEM32_FIXED = 0x86,	/* 6.4.3.4, large item 0x06 */
	RES_IO = 0x47,		/* 6.4.2.5, small item 0x08, length 7 */
	RES_EXT_IRQ = 0x89,	/* 6.4.3.6, large item 0x09 */
	RES_END = 0x79,		/* 6.4.2.9, small item 0x0f, length 1 */
};
#define MEM_READ_WRITE 1u
#define IO_DECODE16 1u
#define IRQ_CONSUMER 1u
#define IRQ_EDGE 2u		/* polarity bit 2 clear: active high; bit 3 clear: exclusive */
#define CRS_MAX (12 + 8 + 9 + 2)

static size_t crs_build(const struct acpi_dev *d, uint8_t *buf, size_t size)
{
	struct out o = { .p = buf, .size = size };

	if (d->mmio_len) {
		out_u8(&o, RES_MEM32_FIXED);
		out_u16(&o, 9);
		out_u8(&o, MEM_READ_WRITE);
		out_u32(&o, d->mmio_base);
		out_u32(&o, d->mmio_len);
	}
	if (d->io_len) {
		out_u8(&o, RES_IO);
		out_u8(&o, IO_DECODE16);
		out_u16(&o, d->io_base);	/* minimum = maximum: fixed */
		out_u16(&o, d->io_base);
		out_u8(&o, 1);			/* alignment */
		out_u8(&o, d->io_len);
	}
	if (d->irq >= 0) {
		out_u8(&o, RES_EXT_IRQ);
		out_u16(&o, 6);
		out_u8(&o, IRQ_CONSUMER | IRQ_EDGE);
		out_u8(&o, 1);			/* interrupt table length */
		out_u32(&o, d->irq);
	}
	/* The End Tag's checksum makes the whole template sum to zero. */
	out_u8(&o, RES_END);
	out_u8(&o, checksum(buf, o.off));
	return o.off;
}

/* 20.2.5.2 DefDevice with _HID (6.1.5), _UID (6.1.12), _CRS (6.2.2). */
static void dsdt_device(struct out *o, const struct acpi_dev *d, unsigned idx)
{
	static const char hex[] = "0123456789ABCDEF";
	char seg[5] = { 'V', hex[(idx >> 8) & 15], hex[(idx >> 4) & 15], hex[idx & 15], 0 };
	uint8_t crs[CRS_MAX];
	size_t crs_len = crs_build(d, crs, sizeof(crs)), pkg;

	out_u8(o, AML_EXT);
	out_u8(o, AML_EXT_DEVICE);
	pkg = pkg_open(o);
	aml_name(o, seg);
	aml_name_op(o, "_HID");
	aml_hid(o, d->hid);
	aml_name_op(o, "_UID");
	aml_int(o, d->uid);
	if (crs_len > 2) {	/* more than the End Tag */
		aml_name_op(o, "_CRS");
		aml_buffer(o, crs, crs_len);
	}
	pkg_close(o, pkg);
}

/* ACPI 6.4 7.4.2: \_S5 is {SLP_TYPa, SLP_TYPb, reserved, reserved}; a
 * hardware-reduced OSPM puts SLP_TYPa into the sleep control register. */
static void dsdt_s5(struct out *o)
{
	size_t pkg;

	aml_name_op(o, "\\_S5_");
	out_u8(o, AML_PACKAGE);
	pkg = pkg_open(o);
	out_u8(o, 4);	/* NumElements */
	aml_int(o, ACPI_S5_TYPE);
	aml_int(o, 0);
	aml_int(o, 0);
	aml_int(o, 0);
	pkg_close(o, pkg);
}

/* The VM generation ID (Microsoft's "Virtual Machine Generation ID"
 * paper; Linux's drivers/virt/vmgenid.c): ADDR is the id's address as
 * Package {low 32 bits, high 32 bits}. */
static void dsdt_vmgenid(struct out *o, uint64_t addr)
{
	size_t pkg, addr_pkg;

	out_u8(o, AML_EXT);
	out_u8(o, AML_EXT_DEVICE);
	pkg = pkg_open(o);
	aml_name(o, "VGEN");
	aml_name_op(o, "_HID");
	aml_string(o, "VMGENCTR");
	aml_name_op(o, "_CID");
	aml_string(o, "VM_GEN_COUNTER");
	aml_name_op(o, "ADDR");
	out_u8(o, AML_PACKAGE);
	addr_pkg = pkg_open(o);
	out_u8(o, 2);
	aml_int(o, addr & 0xffffffff);
	aml_int(o, addr >> 32);
	pkg_close(o, addr_pkg);
	pkg_close(o, pkg);
}

/* ACPI 6.4 5.6.9: a Generic Event Device; its interrupt runs _EVT, which
 * tells the vmgenid device its id changed (Notify 0x80). */
static void dsdt_ged(struct out *o, unsigned gsi)
{
	struct acpi_dev d = { .hid = "ACPI0013", .irq = (int)gsi };
	uint8_t crs[CRS_MAX];
	size_t crs_len = crs_build(&d, crs, sizeof(crs)), pkg, method;

	out_u8(o, AML_EXT);
	out_u8(o, AML_EXT_DEVICE);
	pkg = pkg_open(o);
	aml_name(o, "GED0");
	aml_name_op(o, "_HID");
	aml_hid(o, d.hid);
	aml_name_op(o, "_UID");
	aml_int(o, 0);
	aml_name_op(o, "_CRS");
	aml_buffer(o, crs, crs_len);
	out_u8(o, AML_METHOD);		/* Method (_EVT, 1) */
	method = pkg_open(o);
	aml_name(o, "_EVT");
	out_u8(o, 1);
	out_u8(o, AML_NOTIFY);		/* Notify (\_SB.VGEN, 0x80) */
	out_u8(o, AML_ROOT);
	out_u8(o, AML_DUAL_NAME);
	out_put(o, "_SB_VGEN", 8);
	aml_int(o, 0x80);
	pkg_close(o, method);
	pkg_close(o, pkg);
}

/* ACPI 6.4 5.2.11.1: revision 2, so integers are 64-bit. */
static void build_dsdt(struct out *o, const struct acpi_config *cfg)
{
	struct sdt_hdr h;
	size_t start = o->off, pkg;

	sdt_hdr_init(&h, "DSDT", 2);
	out_put(o, &h, sizeof(h));
	out_u8(o, AML_SCOPE);		/* 20.2.5.1 DefScope */
	pkg = pkg_open(o);
	aml_name(o, "\\_SB_");
	for (int i = 0; i < cfg->ndevs; i++)
		dsdt_device(o, &cfg->devs[i], i);
	if (cfg->vmgenid) {
		dsdt_vmgenid(o, cfg->vmgenid);
		dsdt_ged(o, cfg->ged_gsi);
	}
	pkg_close(o, pkg);
	dsdt_s5(o);
	sdt_end(o, start);
}

static bool dev_valid(const struct acpi_dev *d)
{
	if (!d->hid || !hid_valid(d->hid))
		return false;
	/* Memory32Fixed and IO descriptors have 32-bit and 16/8-bit fields. */
	if (d->mmio_len && (d->mmio_base > UINT32_MAX ||
			    d->mmio_base + d->mmio_len > (1ull << 32)))
		return false;
	if (d->io_len && (d->io_len > 0xff || d->io_base + d->io_len > 0x10000))
		return false;
	return true;
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
