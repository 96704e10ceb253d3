/* test_acpi.c - unit tests for the x86 ACPI tables (vmm/x86_64/acpi*.c).
 *
 * The tables are checked twice: field by field here, against offsets taken
 * from the ACPI 6.4 spec rather than from acpi.c, and by iasl, which must
 * disassemble every table without complaint into the expected ASL and
 * compile the DSDT's ASL back into the same AML. iasl (acpica-tools) is
 * required: without it the iasl tests fail, they do not skip.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "acpi.h"

#define GPA 0xe0000ull
#define BUF_SIZE (256 * 1024)

static const struct acpi_dev devs3[] = {
	{ .hid = "LNRO0005", .uid = 0, .mmio_base = 0xd0000000, .mmio_len = 0x200, .irq = 5 },
	{ .hid = "QEMU0001", .uid = 0, .io_base = 0x505, .io_len = 1, .irq = -1 },
	{ .hid = "PNP0501", .uid = 1, .io_base = 0x3f8, .io_len = 8, .irq = 4 },
};

static struct acpi_config config(int ncpus, const struct acpi_dev *devs, int ndevs)
{
	return (struct acpi_config){
		.ncpus = ncpus, .lapic_addr = 0xfee00000, .ioapic_addr = 0xfec00000,
		.sleep_ctl_port = 0x600, .sleep_sts_port = 0x601, .reset_port = 0x602,
		.reset_value = 0x01, .devs = devs, .ndevs = ndevs,
	};
}

static uint16_t rd16(const uint8_t *p) { return p[0] | p[1] << 8; }
static uint32_t rd32(const uint8_t *p) { return rd16(p) | (uint32_t)rd16(p + 2) << 16; }
static uint64_t rd64(const uint8_t *p) { return rd32(p) | (uint64_t)rd32(p + 4) << 32; }

static uint8_t sum(const uint8_t *p, size_t n)
{
	uint8_t s = 0;

	while (n--)
		s += *p++;
	return s;
}

struct tables {
	uint8_t *buf;
	size_t len;
	uint64_t gpa;
	const uint8_t *xsdt, *fadt, *madt, *dsdt;
};

/* The table at guest-physical addr, which must lie wholly inside the output
 * and have a correct signature, revision and checksum (ACPI 6.4 5.2.6). */
static const uint8_t *table_at(const struct tables *t, uint64_t addr,
			       const char *sig, uint8_t rev)
{
	const uint8_t *p;
	uint32_t len;

	assert_true(addr >= t->gpa && addr - t->gpa + 36 <= t->len);
	p = t->buf + (addr - t->gpa);
	len = rd32(p + 4);
	assert_true(len >= 36 && addr - t->gpa + len <= t->len);
	assert_memory_equal(p, sig, 4);
	assert_int_equal(p[8], rev);
	assert_int_equal(sum(p, len), 0);
	assert_memory_equal(p + 10, "MICROV", 6);
	return p;
}

static void build(struct tables *t, const struct acpi_config *cfg, uint64_t gpa)
{
	ssize_t n;
	const uint8_t *r;

	t->buf = malloc(BUF_SIZE);
	assert_non_null(t->buf);
	memset(t->buf, 0xa5, BUF_SIZE);
	n = acpi_build(cfg, t->buf, BUF_SIZE, gpa);
	assert_true(n > 0 && n <= BUF_SIZE);
	t->len = n;
	t->gpa = gpa;

	/* ACPI 6.4 5.2.5.3: RSDP revision 2, at gpa, both checksums. */
	r = t->buf;
	assert_memory_equal(r, "RSD PTR ", 8);
	assert_true(r[15] == 2 && rd32(r + 20) == 36 && rd32(r + 16) == 0);	/* no RSDT */
	assert_true(sum(r, 20) == 0 && sum(r, 36) == 0);

	/* 5.2.8: the XSDT lists the FADT and the MADT. */
	t->xsdt = table_at(t, rd64(r + 24), "XSDT", 1);
	assert_int_equal(rd32(t->xsdt + 4), 36 + 2 * 8);
	t->fadt = table_at(t, rd64(t->xsdt + 36), "FACP", 6);
	t->madt = table_at(t, rd64(t->xsdt + 44), "APIC", 5);
	t->dsdt = table_at(t, rd64(t->fadt + 140), "DSDT", 2);
}

/* 5.2.3.2: SystemIO, 8 bits wide at offset 0, byte access. */
static void check_gas_port8(const uint8_t *g, uint16_t port)
{
	const uint8_t want[12] = { 1, 8, 0, 1, port & 0xff, port >> 8 };

	assert_memory_equal(g, want, sizeof(want));
}

/* ACPI 6.4 5.2.9. */
static void check_fadt(const struct tables *t, const struct acpi_config *cfg)
{
	const uint8_t *f = t->fadt;
	uint32_t flags = rd32(f + 112);
	uint16_t boot = rd16(f + 109);

	assert_int_equal(rd32(f + 4), 276);
	assert_int_equal(flags & 0x100400, 0x100400);	/* HW_REDUCED_ACPI, RESET_REG_SUP */
	assert_int_equal(boot & 0x3, 0);	/* no legacy devices, no 8042 */
	assert_int_equal(boot & 0x2c, 0x2c);	/* no VGA, no MSI, no CMOS RTC */
	check_gas_port8(f + 116, cfg->reset_port);
	assert_int_equal(f[128], cfg->reset_value);
	assert_int_equal(rd32(f + 40), 0);	/* 32-bit DSDT unused */
	assert_int_equal(rd64(f + 140), t->gpa + (t->dsdt - t->buf));
	check_gas_port8(f + 244, cfg->sleep_ctl_port);
	check_gas_port8(f + 256, cfg->sleep_sts_port);
}

/* ACPI 6.4 5.2.12: header, then every entry once, ids in order. */
static void check_madt(const struct tables *t, const struct acpi_config *cfg)
{
	const uint8_t *m = t->madt, *e;
	uint32_t len = rd32(m + 4), off;
	int count[5] = { 0 };

	assert_int_equal(len, 44 + 8 * cfg->ncpus + 12 + 10 + 6);
	assert_int_equal(rd32(m + 36), cfg->lapic_addr);
	assert_int_equal(rd32(m + 40), 1);	/* PCAT_COMPAT */
	for (off = 44; off < len; off += e[1]) {
		e = m + off;
		assert_true(off + 2 <= len && e[1] >= 2 && off + e[1] <= len);
		switch (e[0]) {
		case 0:		/* Processor Local APIC: UID = APIC id, enabled */
			assert_memory_equal(e, ((uint8_t[]){ 0, 8, count[0], count[0], 1, 0, 0, 0 }), 8);
			break;
		case 1:		/* I/O APIC id 0, GSI base 0 */
			assert_memory_equal(e, "\x01\x0c\0\0", 4);
			assert_int_equal(rd32(e + 4), cfg->ioapic_addr);
			assert_int_equal(rd32(e + 8), 0);
			break;
		case 2:		/* ISA IRQ0 -> GSI 2, edge, active high */
			assert_memory_equal(e, "\x02\x0a\0\0\x02\0\0\0\x05\0", 10);
			break;
		case 4:		/* Local APIC NMI: all processors, LINT1 */
			assert_memory_equal(e, "\x04\x06\xff\x05\0\x01", 6);
			break;
		default:
			fail_msg("unexpected MADT entry type %u at %u", e[0], off);
		}
		count[e[0]]++;
	}
	assert_int_equal(off, len);
	assert_int_equal(count[0], cfg->ncpus);
	assert_true(count[1] == 1 && count[2] == 1 && count[4] == 1);
}

struct aml {
	const uint8_t *p;
	size_t off, end;
};

static void aml_expect(struct aml *a, const void *bytes, size_t n)
{
	assert_true(a->off + n <= a->end);
	assert_memory_equal(a->p + a->off, bytes, n);
	a->off += n;
}

/* 20.2.4: returns where the package ends; checks the encoding is minimal. */
static size_t aml_pkglen(struct aml *a)
{
	size_t start = a->off, n, len;
	uint8_t lead;

	assert_true(a->off < a->end);
	lead = a->p[a->off++];
	n = lead >> 6;
	len = n ? lead & 0xf : lead & 0x3f;
	assert_true(n == 0 || (lead & 0x30) == 0);
	for (size_t i = 0; i < n; i++)
		len |= (size_t)a->p[a->off++] << (4 + 8 * i);
	assert_true(n == 0 || len > 63);
	assert_true(n < 2 || len >= (1u << 12));
	assert_true(n < 3 || len >= (1u << 20));
	assert_true(start + len <= a->end);
	return start + len;
}

/* 20.2.3: ZeroOp, OneOp, ByteConst .. QWordConst. */
static uint64_t aml_integer(struct aml *a)
{
	static const size_t width[] = { [0x0a] = 1, [0x0b] = 2, [0x0c] = 4, [0x0e] = 8 };
	uint8_t op = a->p[a->off++];
	uint64_t v = 0;

	if (op <= 1)
		return op;
	assert_true(op < sizeof(width) / sizeof(width[0]) && width[op]);
	for (size_t i = 0; i < width[op]; i++)
		v |= (uint64_t)a->p[a->off++] << (8 * i);
	return v;
}

static void check_device_aml(struct aml *a, const struct acpi_dev *d, int idx)
{
	char name[16];
	size_t dev_end, buf_end, n;

	aml_expect(a, "\x5b\x82", 2);			/* DeviceOp */
	dev_end = aml_pkglen(a);
	snprintf(name, sizeof(name), "V%03X", idx);
	aml_expect(a, name, 4);
	aml_expect(a, "\x08_HID", 5);
	if (strlen(d->hid) == 7) {
		aml_expect(a, "\x0c", 1);		/* EISA id as DWordConst */
		a->off += 4;
	} else {
		aml_expect(a, "\x0d", 1);
		aml_expect(a, d->hid, strlen(d->hid) + 1);
	}
	aml_expect(a, "\x08_UID", 5);
	assert_int_equal(aml_integer(a), d->uid);
	if (!d->mmio_len && !d->io_len && d->irq < 0) {
		assert_int_equal(a->off, dev_end);	/* no resources, no _CRS */
		return;
	}
	aml_expect(a, "\x08_CRS\x11", 6);		/* Name(_CRS, Buffer) */
	buf_end = aml_pkglen(a);
	n = aml_integer(a);
	assert_int_equal(a->off + n, buf_end);
	/* 6.4.2.9: End Tag last, its checksum zeroes the template's sum. */
	assert_int_equal(a->p[buf_end - 2], 0x79);
	assert_int_equal(sum(a->p + a->off, n), 0);
	a->off = buf_end;
	assert_int_equal(a->off, dev_end);
}

static void check_dsdt(const struct tables *t, const struct acpi_config *cfg)
{
	struct aml a = { .p = t->dsdt, .off = 36, .end = rd32(t->dsdt + 4) };
	size_t scope_end, pkg_end;

	aml_expect(&a, "\x10", 1);			/* ScopeOp */
	scope_end = aml_pkglen(&a);
	aml_expect(&a, "\\_SB_", 5);
	for (int i = 0; i < cfg->ndevs; i++)
		check_device_aml(&a, &cfg->devs[i], i);
	assert_int_equal(a.off, scope_end);
	aml_expect(&a, "\x08\\_S5_\x12", 7);		/* Name(\_S5_, Package) */
	pkg_end = aml_pkglen(&a);
	aml_expect(&a, "\x04", 1);
	assert_int_equal(aml_integer(&a), ACPI_S5_TYPE);
	for (int i = 0; i < 3; i++)
		assert_int_equal(aml_integer(&a), 0);
	assert_int_equal(a.off, pkg_end);
	assert_int_equal(a.off, a.end);
}

static void test_tables(void **state)
{
	static const int ncpus[] = { 1, 2, 8, 255 };
	static const int ndevs[] = { 0, 2, 3 };
	static const uint64_t gpas[] = { GPA, 0x100000000ull };
	(void)state;

	for (int k = 0; k < 4 * 3 * 2; k++) {
		struct acpi_config cfg = config(ncpus[k % 4], devs3, ndevs[k / 4 % 3]);
		struct tables t;

		build(&t, &cfg, gpas[k / 12]);
		check_fadt(&t, &cfg);
		check_madt(&t, &cfg);
		check_dsdt(&t, &cfg);
		free(t.buf);
	}
}

static void test_enospc(void **state)
{
	struct acpi_config cfg = config(8, devs3, 3);
	uint8_t *buf = malloc(BUF_SIZE);
	ssize_t need = acpi_build(&cfg, buf, BUF_SIZE, GPA);
	const size_t sizes[] = { 0, 1, 35, 36, 100, need / 2, need - 1 };
	(void)state;

	assert_non_null(buf);
	assert_true(need > 0);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		memset(buf, 0xa5, BUF_SIZE);
		assert_int_equal(acpi_build(&cfg, buf, sizes[i], GPA), -ENOSPC);
		for (size_t j = sizes[i]; j < BUF_SIZE; j++)
			if (buf[j] != 0xa5)
				fail_msg("size %zu: byte %zu written", sizes[i], j);
	}
	assert_int_equal(acpi_build(&cfg, NULL, 0, GPA), -ENOSPC);
	assert_int_equal(acpi_build(&cfg, buf, need, GPA), need);
	free(buf);
}

static void expect_einval(struct acpi_config cfg, uint64_t gpa)
{
	uint8_t buf[4096];

	assert_int_equal(acpi_build(&cfg, buf, sizeof(buf), gpa), -EINVAL);
}

static void test_einval(void **state)
{
	static const struct acpi_dev bad[] = {
		{ .hid = NULL }, { .hid = "lnro0005" }, { .hid = "LNRO005" },
		{ .hid = "LNRO00051" }, { .hid = "PNP050G" },
		/* Memory32Fixed is 32-bit, IO has a 16-bit base and 8-bit length. */
		{ .hid = "LNRO0005", .mmio_base = 0x100000000ull, .mmio_len = 0x200 },
		{ .hid = "LNRO0005", .mmio_base = 0xfffff000, .mmio_len = 0x2000 },
		{ .hid = "QEMU0001", .io_base = 0x100, .io_len = 256 },
		{ .hid = "QEMU0001", .io_base = 0xffff, .io_len = 2 },
	};
	static const struct acpi_dev edge_devs[] = {
		{ .hid = "LNRO0005", .mmio_base = 0xfffff000, .mmio_len = 0x1000 },
		{ .hid = "QEMU0001", .io_base = 0xff00, .io_len = 0xff },
	};
	struct acpi_config edge;
	uint8_t buf[4096];
	(void)state;

	assert_int_equal(acpi_build(NULL, buf, sizeof(buf), GPA), -EINVAL);
	expect_einval(config(0, NULL, 0), GPA);
	expect_einval(config(-1, NULL, 0), GPA);
	expect_einval(config(256, NULL, 0), GPA);
	expect_einval(config(1, devs3, -1), GPA);
	expect_einval(config(1, NULL, 1), GPA);
	expect_einval(config(1, devs3, 4097), GPA);	/* names run out */
	expect_einval(config(1, NULL, 0), GPA + 8);	/* RSDP not 16-aligned */
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_einval(config(1, &bad[i], 1), GPA);

	/* The largest ranges the descriptors can hold are fine. */
	edge = config(255, edge_devs, 2);
	assert_true(acpi_build(&edge, buf, sizeof(buf), GPA) > 0);
}

struct tmp { char dir[256], log[300]; };

static int tmp_setup(void **state)
{
	struct tmp *t = calloc(1, sizeof(*t));
	const char *base = getenv("TMPDIR");

	*state = t;
	if (!t)
		return -1;
	snprintf(t->dir, sizeof(t->dir), "%s/test_acpi.XXXXXX", base && *base ? base : "/tmp");
	if (!mkdtemp(t->dir))
		return -1;
	snprintf(t->log, sizeof(t->log), "%s/iasl.log", t->dir);
	return 0;
}

static int tmp_teardown(void **state)
{
	struct tmp *t = *state;
	DIR *d = opendir(t->dir);
	struct dirent *e;

	while (d && (e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			unlinkat(dirfd(d), e->d_name, 0);
	if (d)
		closedir(d);
	rmdir(t->dir);
	free(t);
	return 0;
}

/* The whole file, NUL-terminated, and its size in *len. */
static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *s = calloc(1, BUF_SIZE * 8);

	if (!f)
		fail_msg("cannot open %s: %s", path, strerror(errno));
	assert_non_null(s);
	*len = fread(s, 1, BUF_SIZE * 8 - 1, f);
	fclose(f);
	return s;
}

/* Run iasl in the temporary directory; fail on a nonzero exit. */
static void iasl(struct tmp *t, const char *args, const char *file)
{
	char cmd[1024];
	size_t n;
	int status;

	snprintf(cmd, sizeof(cmd), "cd '%s' && iasl -vs %s %s >iasl.log 2>&1 </dev/null",
		 t->dir, args, file);
	status = system(cmd);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
		fail_msg("iasl not found in PATH: install acpica-tools to run this test");
	if (status) {
		char *log = read_file(t->log, &n);

		print_error("%s", log);
		free(log);
		fail_msg("\"%s\" failed (status %#x)", cmd, status);
	}
}

/* Disassemble one table; returns the .dsl text with comments and
 * whitespace removed, after checking iasl found nothing wrong. */
static char *disassemble(struct tmp *t, const char *name, const uint8_t *table)
{
	char path[512], *text, *log, *out, *o;
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s.dat", t->dir, name);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(table, 1, rd32(table + 4), f), rd32(table + 4));
	assert_int_equal(fclose(f), 0);
	iasl(t, "-d", strrchr(path, '/') + 1);
	strcpy(path + strlen(path) - 3, "dsl");
	text = read_file(path, &n);
	log = read_file(t->log, &n);
	if (strstr(text, "Incorrect") || strstr(log, "Incorrect") || strstr(log, "Error"))
		fail_msg("iasl complains about %s:\n%s\n%s", name, log, text);
	free(log);
	out = o = calloc(1, strlen(text) + 1);
	assert_non_null(out);
	for (const char *s = text; *s; s++) {
		if (s[0] == '/' && s[1] == '/')
			s += strcspn(s, "\n");
		else if (s[0] == '/' && s[1] == '*')
			s = strstr(s, "*/") ? strstr(s, "*/") + 1 : s + strlen(s);
		else if (*s != ' ' && *s != '\n' && *s != '\t')
			*o++ = *s;
		if (!*s)
			break;
	}
	free(text);
	return out;
}

static void expect_text(const char *text, const char *name, const char *want)
{
	if (!strstr(text, want))
		fail_msg("%s: expected \"%s\" in\n%s", name, want, text);
}

/* What iasl prints for a device, comments and whitespace removed. */
static void device_asl(char *out, size_t n, int idx, const struct acpi_dev *d)
{
	char hid[32], uid[16], res[256] = "";
	size_t r = 0;

	snprintf(hid, sizeof(hid), strlen(d->hid) == 7 ? "EisaId(\"%s\")" : "\"%s\"", d->hid);
	snprintf(uid, sizeof(uid), d->uid == 0 ? "Zero" : d->uid == 1 ? "One" :
		 d->uid <= 0xff ? "0x%02X" : d->uid <= 0xffff ? "0x%04X" : "0x%08X", d->uid);
	if (d->mmio_len)
		r += snprintf(res + r, sizeof(res) - r, "Memory32Fixed(ReadWrite,0x%08X,0x%08X,)",
			      (unsigned)d->mmio_base, d->mmio_len);
	if (d->io_len)
		r += snprintf(res + r, sizeof(res) - r, "IO(Decode16,0x%04X,0x%04X,0x01,0x%02X,)",
			      d->io_base, d->io_base, d->io_len);
	if (d->irq >= 0)
		snprintf(res + r, sizeof(res) - r,
			 "Interrupt(ResourceConsumer,Edge,ActiveHigh,Exclusive,,,){0x%08X,}", d->irq);
	snprintf(out, n, "Device(V%03X){Name(_HID,%s)Name(_UID,%s)%s%s%s}", idx, hid, uid,
		 *res ? "Name(_CRS,ResourceTemplate(){" : "", res, *res ? "})" : "");
}

/* The DSDT disassembles to exactly the expected ASL, which iasl compiles
 * back to our AML; only the header and the End Tag checksums (iasl writes
 * 0, "assume correct", 6.4.2.9) may differ. */
static void check_dsdt_iasl(struct tmp *t, const struct tables *tb, const struct acpi_config *cfg)
{
	size_t cap = 4096 + (size_t)cfg->ndevs * 256, len = rd32(tb->dsdt + 4), r, aml_len;
	char *want = malloc(cap), *text = disassemble(t, "dsdt", tb->dsdt), *tail, path[512];
	uint8_t *aml;

	assert_non_null(want);
	r = snprintf(want, cap, "Scope(\\_SB){");
	for (int i = 0; i < cfg->ndevs; i++) {
		device_asl(want + r, cap - r, i, &cfg->devs[i]);
		r += strlen(want + r);
	}
	snprintf(want + r, cap - r, "}Name(\\_S5,Package(0x04){0x%02X,Zero,Zero,Zero})}",
		 ACPI_S5_TYPE);
	tail = strstr(text, "Scope(") ? strstr(text, "Scope(") : text;
	if (strcmp(tail, want)) {
		size_t i = 0;

		while (tail[i] == want[i])
			i++;
		i = i > 80 ? i - 80 : 0;
		fail_msg("DSDT disassembly:\n%.240s\nexpected:\n%.240s", tail + i, want + i);
	}
	free(want);
	free(text);

	/* -on: keep \_SB_ rooted as we wrote it. */
	iasl(t, "-on", "dsdt.dsl");
	snprintf(path, sizeof(path), "%s/dsdt.aml", t->dir);
	aml = (uint8_t *)read_file(path, &aml_len);
	assert_int_equal(aml_len, len);
	for (size_t i = 36; i < len; i++)
		if (aml[i] != tb->dsdt[i] && !(aml[i] == 0 && tb->dsdt[i - 1] == 0x79))
			fail_msg("DSDT byte %zu: ours %#x, iasl %#x", i, tb->dsdt[i], aml[i]);
	free(aml);
}

static void check_iasl(struct tmp *t, const struct acpi_config *cfg)
{
	struct tables tb;
	char *text, want[128];
	int n = 0;

	build(&tb, cfg, GPA);
	check_dsdt_iasl(t, &tb, cfg);
	text = disassemble(t, "facp", tb.fadt);
	expect_text(text, "FADT", "ResetRegisterSupported(V2):1");
	expect_text(text, "FADT", "HardwareReduced(V5):1");
	snprintf(want, sizeof(want), "DSDTAddress:%016llX", (unsigned long long)rd64(tb.fadt + 140));
	expect_text(text, "FADT", want);
	free(text);

	text = disassemble(t, "apic", tb.madt);
	for (const char *p = text; (p = strstr(p, "[ProcessorLocalAPIC]")); p++)
		n++;
	assert_int_equal(n, cfg->ncpus);
	expect_text(text, "MADT", "PC-ATCompatibility:1");
	free(text);

	text = disassemble(t, "xsdt", tb.xsdt);
	snprintf(want, sizeof(want), "ACPITableAddress0:%016llX", (unsigned long long)rd64(tb.xsdt + 36));
	expect_text(text, "XSDT", want);
	free(text);
	free(tb.buf);
}

static void test_iasl(void **state)
{
	struct acpi_config cfg = config(2, devs3, 3);

	check_iasl(*state, &cfg);
	cfg.ndevs = 0;
	check_iasl(*state, &cfg);
}

/* Enough devices for a 3-byte PkgLength around \_SB, and 255 CPUs. */
static void test_iasl_many(void **state)
{
	enum { N = 300 };
	struct acpi_dev *d = calloc(N, sizeof(*d));
	struct acpi_config cfg = config(255, d, N);

	assert_non_null(d);
	for (int i = 0; i < N; i++) {
		d[i] = devs3[i % 3];
		d[i].uid = i < 3 ? i : i * 1000;	/* up to DWordConst */
		d[i].mmio_base += i * 0x200;
		d[i].irq = d[i].irq < 0 ? -1 : 5 + i % 19;
	}
	d[N - 1] = (struct acpi_dev){ .hid = "ACPI0007", .uid = 7, .irq = -1 };	/* no resources */
	check_iasl(*state, &cfg);
	free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tables),
		cmocka_unit_test(test_enospc),
		cmocka_unit_test(test_einval),
		cmocka_unit_test_setup_teardown(test_iasl, tmp_setup, tmp_teardown),
		cmocka_unit_test_setup_teardown(test_iasl_many, tmp_setup, tmp_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
