/* acpi-dsdt.c - the DSDT of the x86 ACPI tables: AML and device objects.
 *
 * acpi.c lays out the fixed-format tables (RSDP, XSDT, FADT, MADT); the
 * DSDT is the one table in AML byte code, so its encoders (PkgLength,
 * integers, names, buffers, EISA ids), the _CRS resource templates and the
 * device objects built from them (struct acpi_dev, vmgenid, the GED, \_S5)
 * live here, with dev_valid, the check that a device fits those encodings.
 * Both files write through the struct out of acpi.h.
 */
#include "acpi.h"

#include <stdbool.h>
#include <string.h>

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
void build_dsdt(struct out *o, const struct acpi_config *cfg)
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

bool dev_valid(const struct acpi_dev *d)
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
