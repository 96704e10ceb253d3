/* test_snapshot.c - the snapshot state file: header and sections built and
 * parsed back, every truncation and every corrupted byte refused with a
 * line, another build or architecture refused; the checked reader; the
 * saved machine compared with the options of a restore; and round trips
 * of the virtio-mmio transport (rng, console) and UART state through their
 * SNAPSHOT_SECTION entries. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "arch.h"
#include "device.h"
#include "fakedrv.h"
#include "options.h"
#include "p9share.h"
#include "snapshot.h"

/* A valid state: a config section and one more. */
static void build_state(struct snap_buf *b, uint64_t mem, uint32_t ncpus, const char *devices)
{
	struct snap_buf cfg = { 0 };
	snap_put_u64(&cfg, mem);
	snap_put_u32(&cfg, ncpus);
	snap_put_u32(&cfg, 1);
	snap_put_str(&cfg, devices);
	*b = (struct snap_buf){ 0 };
	snap_begin(b);
	snap_put_section(b, "config", cfg.data, cfg.len);
	snap_put_section(b, "other", "abcdef", 6);
	snap_finish(b, 42, mem);
	free(cfg.data);
}

static void test_parse_roundtrip(void **state)
{
	(void)state;
	struct snap_buf b;
	char why[256];
	struct snap_reader r;
	build_state(&b, 64 << 20, 2, "disk,net");
	assert_int_equal(b.err, 0);
	assert_int_equal(snap_parse(b.data, b.len, why, sizeof(why)), 0);
	assert_true(snap_find(b.data, b.len, "other", &r));
	char got[6];
	snap_get(&r, got, 6);
	assert_memory_equal(got, "abcdef", 6);
	assert_int_equal(snap_done(&r), 0);
	assert_false(snap_find(b.data, b.len, "missing", &r));
	const struct snap_header *h = (const void *)b.data;
	assert_int_equal(h->host_id, 42);
	assert_int_equal(h->arch, snap_arch());
	free(b.data);
}

static void test_truncated(void **state)
{
	(void)state;
	struct snap_buf b;
	char why[256];
	build_state(&b, 64 << 20, 1, "");
	for (size_t n = 0; n < b.len; n++) {
		why[0] = 0;
		assert_int_equal(snap_parse(b.data, n, why, sizeof(why)), -EINVAL);
		assert_non_null(strstr(why, "expected"));
		assert_null(strchr(why, '\n'));
	}
	free(b.data);
}

/* FNV-1a is a bijection in each byte: every single change is caught. */
static void test_corrupted(void **state)
{
	(void)state;
	struct snap_buf b;
	char why[256];
	build_state(&b, 64 << 20, 1, "disk");
	for (size_t i = 0; i < b.len; i++) {
		b.data[i] ^= 0x20;
		assert_int_equal(snap_parse(b.data, b.len, why, sizeof(why)), -EINVAL);
		b.data[i] ^= 0x20;
	}
	assert_int_equal(snap_parse(b.data, b.len, why, sizeof(why)), 0);
	b.data[sizeof(struct snap_header) + 40] ^= 1;
	snap_parse(b.data, b.len, why, sizeof(why));
	assert_non_null(strstr(why, "state checksum mismatch"));
	free(b.data);
}

/* A header made consistent again after a change: refused for the change. */
static void reseal(struct snap_buf *b)
{
	struct snap_header *h = (void *)b->data;
	h->header_sum = snap_hash(SNAP_FNV_INIT, h, offsetof(struct snap_header, header_sum));
}

static void test_other_build_and_arch(void **state)
{
	(void)state;
	struct snap_buf b;
	char why[256];
	build_state(&b, 64 << 20, 1, "");
	struct snap_header *h = (void *)b.data;
	h->build[0] ^= 0xff;
	reseal(&b);
	assert_int_equal(snap_parse(b.data, b.len, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "another microvm build"));
	h->build[0] ^= 0xff;
	h->arch = 1;
	reseal(&b);
	assert_int_equal(snap_parse(b.data, b.len, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "another architecture"));
	h->arch = snap_arch();
	h->version = 99;
	reseal(&b);
	assert_int_equal(snap_parse(b.data, b.len, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "format version 99"));
	free(b.data);
}

/* A section length running past the end, with valid checksums. */
static void test_bad_section_length(void **state)
{
	(void)state;
	struct snap_buf b = { 0 };
	char why[256];
	snap_begin(&b);
	snap_put_section(&b, "x", "12345678", 8);
	uint64_t huge = ~0ULL;
	memcpy(b.data + sizeof(struct snap_header) + SNAP_NAME_LEN, &huge, 8);
	snap_finish(&b, 0, 0);
	assert_int_equal(snap_parse(b.data, b.len, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "runs past the end"));
	struct snap_reader r;
	assert_false(snap_find(b.data, b.len, "x", &r));
	free(b.data);
}

static void test_reader(void **state)
{
	(void)state;
	uint8_t data[6] = { 1, 0, 0, 0, 9, 9 };
	struct snap_reader r = { .p = data, .len = sizeof(data) };
	assert_int_equal(snap_get_u32(&r), 1);
	assert_int_equal(snap_done(&r), -EINVAL); /* two bytes left */
	assert_int_equal(snap_get_u32(&r), 0);    /* past the end: zero, and bad */
	assert_true(r.bad);
	char s[4];
	uint8_t str[] = { 10, 0, 0, 0, 'a' };
	r = (struct snap_reader){ .p = str, .len = sizeof(str) };
	snap_get_str(&r, s, sizeof(s));
	assert_true(r.bad);
	assert_string_equal(s, "");
}

/* --- the machine a restore describes -------------------------------------- */

static char dir[] = "/tmp/test_snapshot.XXXXXX";

static void write_file(const char *name, const void *data, size_t len, off_t size)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	if (size)
		assert_int_equal(ftruncate(fd, size), 0);
	close(fd);
}

/* snapshot_load for the given options; stderr into err. */
static int load(const char **args, char *err, size_t len)
{
	static struct vm vm;
	memset(&vm, 0, sizeof(vm));
	assert_int_equal(options_capture(&vm.cfg, args, err, len), 0);
	fflush(stderr);
	int saved = dup(2);
	FILE *tmp = tmpfile();
	dup2(fileno(tmp), 2);
	int r = snapshot_load(&vm, dir);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	rewind(tmp);
	size_t n = fread(err, 1, len - 1, tmp);
	err[n] = 0;
	fclose(tmp);
	free(vm.restore_state);
	if (r == 0)
		close(vm.restore_mem_fd);
	return r;
}

static __attribute__((unused)) void test_options_mismatch(void **state)
{
	(void)state;
	char err[512];
	struct snap_buf b;
	assert_non_null(mkdtemp(dir));
	build_state(&b, 64 << 20, 2, "rng");
	write_file("state", b.data, b.len, 0);
	write_file("memory", "", 0, 64 << 20);
	const char *same[] = { "--restore", dir, "--memory", "64", "--cpus", "2", "--rng", "on",
			       NULL };
	assert_int_equal(load(same, err, sizeof(err)), 0);
	const char *mem[] = { "--restore", dir, "--memory", "128", "--cpus", "2", "--rng", "on",
			      NULL };
	assert_int_equal(load(mem, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "--memory 128 MiB differs: expected 64 MiB"));
	assert_ptr_equal(strchr(err, '\n'), err + strlen(err) - 1); /* one line */
	const char *cpus[] = { "--restore", dir, "--memory", "64", "--rng", "on", NULL };
	assert_int_equal(load(cpus, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "--cpus 1 differs: expected 2"));
	const char *devs[] = { "--restore", dir, "--memory", "64", "--cpus", "2", NULL };
	assert_int_equal(load(devs, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "devices \"\" differ: expected \"rng\""));
	/* A memory file shorter than the RAM would be a SIGBUS later. */
	write_file("memory", "", 0, 1 << 20);
	assert_int_equal(load(same, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "memory: 1048576 bytes: expected 67108864"));
	write_file("state", b.data, b.len / 2, 0);
	assert_int_equal(load(same, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "truncated"));
	char path[256];
	snprintf(path, sizeof(path), "%s/state", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/memory", dir);
	unlink(path);
	rmdir(dir);
	free(b.data);
}

#ifndef __x86_64__
/* Snapshots are x86_64 only this round: --restore says so in one line. */
static void test_restore_refused(void **state)
{
	(void)state;
	char err[512];
	assert_non_null(mkdtemp(dir));
	const char *args[] = { "--restore", dir, NULL };
	assert_int_equal(load(args, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not supported on this architecture"));
	assert_ptr_equal(strchr(err, '\n'), err + strlen(err) - 1);
	rmdir(dir);
}
#endif

/* --- device state round trips ---------------------------------------------- */

static const struct snap_section *section(const char *name)
{
	snap_section_foreach(s)
		if (!strcmp(s->name, name))
			return s;
	fail_msg("no section %s", name);
	return NULL;
}

/* Save section name, then restore it (after the caller's changes). */
static void save(struct vm *vm, const char *name, struct snap_buf *b)
{
	char why[256] = "";
	*b = (struct snap_buf){ 0 };
	assert_int_equal(section(name)->save(vm, b, "/nonexistent", why, sizeof(why)), 0);
}

static int restore(struct vm *vm, const char *name, const struct snap_buf *b)
{
	struct snap_reader r = { .p = b->data, .len = b->len };
	int e = section(name)->restore(vm, &r, "DIR");
	return e == 0 ? snap_done(&r) : e;
}

static void test_virtio_mmio_roundtrip(void **state)
{
	(void)state;
	struct vm *vm = fake_vm_new(1 << 20);
	struct virtio_dev *d = virtio_rng_create(vm);
	struct fakedrv f;
	assert_int_equal(fd_init(&f, vm, d, ~0ULL, 8), 0x0f);
	uint64_t a = fd_alloc(&f, 64, 1);
	struct fd_seg s = { a, 64, true };
	uint32_t id, len;
	fd_add(&f, 0, &s, 1, true);
	assert_int_equal(fd_wait(&f, 0, &id, &len), 1);
	struct vq saved = d->vq[0];
	uint32_t status = d->status;
	uint64_t feat = d->driver_features;
	struct snap_buf b;
	save(vm, "virtio-mmio", &b);
	/* A driver reset forgets it all; the restore brings it back. */
	fd_wr(&f, 0x070, 0);
	assert_int_equal(d->status, 0);
	assert_false(d->vq[0].ready);
	assert_int_equal(restore(vm, "virtio-mmio", &b), 0);
	assert_int_equal(d->status, status);
	assert_int_equal(d->driver_features, feat);
	assert_true(d->vq[0].ready);
	assert_int_equal(d->vq[0].size, saved.size);
	assert_int_equal(d->vq[0].desc_gpa, saved.desc_gpa);
	assert_int_equal(d->vq[0].last_avail, saved.last_avail);
	assert_int_equal(d->vq[0].used_idx, saved.used_idx);
	/* The restored device works on. */
	fd_add(&f, 0, &s, 1, true);
	assert_int_equal(fd_wait(&f, 0, &id, &len), 1);
	assert_int_equal(len, 64);
	/* Truncated state: refused, every length. */
	for (size_t n = 0; n < b.len; n++) {
		struct snap_buf t = { .data = b.data, .len = n };
		assert_int_not_equal(restore(vm, "virtio-mmio", &t), 0);
	}
	/* A ring address outside RAM is refused, not mapped. */
	memset(b.data + 52, 0xff, 8); /* the first queue's desc_gpa */
	assert_int_equal(restore(vm, "virtio-mmio", &b), -1);
	free(b.data);
	fake_vm_free(vm);
	virtio_mmio_free(d);
}

static __attribute__((unused)) uint8_t uart(struct vm *vm, unsigned reg, int v)
{
	uint8_t b = v;
	bus_access(&vm->bus[arch_devices.serial_bus], arch_devices.serial_base + reg, &b, 1,
		   v >= 0);
	return b;
}

/* The UART's registers and the bytes the guest has not read yet. */
static __attribute__((unused)) void test_serial_roundtrip(void **state)
{
	(void)state;
	const struct device_desc *serial = NULL;
	device_foreach(d)
		if (!strcmp(d->name, "serial"))
			serial = d;
	assert_non_null(serial);
	assert_int_equal(serial->parse("file:/dev/null"), 0);
	struct vm *vm = fake_vm_new(1 << 20);
	assert_int_equal(serial->setup(vm), 0);
	uart(vm, 3, 0x03); /* LCR: 8N1 */
	uart(vm, 7, 0x5a); /* SCR */
	uart(vm, 4, 0x10); /* MCR: loopback, so THR bytes land in the receive FIFO */
	uart(vm, 0, 'A');
	uart(vm, 0, 'B');
	uart(vm, 1, 0x01); /* IER: receive interrupt */
	struct snap_buf b;
	save(vm, "serial", &b);
	assert_int_equal(uart(vm, 0, -1), 'A');
	uart(vm, 7, 0);
	uart(vm, 1, 0);
	assert_int_equal(restore(vm, "serial", &b), 0);
	assert_int_equal(uart(vm, 7, -1), 0x5a);
	assert_int_equal(uart(vm, 1, -1), 0x01);
	assert_int_equal(uart(vm, 3, -1), 0x03);
	assert_true(uart(vm, 5, -1) & 1); /* LSR: data ready */
	assert_int_equal(uart(vm, 0, -1), 'A');
	assert_int_equal(uart(vm, 0, -1), 'B');
	assert_false(uart(vm, 5, -1) & 1);
	b.len--; /* truncated: refused */
	assert_int_not_equal(restore(vm, "serial", &b), 0);
	free(b.data);
	bus_free(&vm->bus[BUS_PIO]);
	fake_vm_free(vm);
	serial->teardown(NULL);
}

/* A device without save hooks makes `snapshot` refuse, naming it. */
static void test_refuse_names_device(void **state)
{
	(void)state;
	struct vm *vm = fake_vm_new(1 << 20);
	static const struct virtio_ops ops = { 0 };
	struct virtio_dev *d = virtio_mmio_create(vm, "virtio-test x", 99, 0, 1, &ops, NULL,
						  NULL, 0);
	char why[256] = "";
	assert_int_equal(section("virtio-mmio")->refuse(vm, why, sizeof(why)), -ENOTSUP);
	assert_non_null(strstr(why, "virtio-test x: its state cannot be saved"));
	fake_vm_free(vm);
	virtio_mmio_free(d);
}

/* A cow file's copy keeps its holes, both ways, and replaces what the
 * target held. */
static void test_copy_sparse(void **state)
{
	(void)state;
	char src[] = "/tmp/test_snapshot_src.XXXXXX", dst[64], back[] = "/tmp/test_snapshot_back.XXXXXX";
	int s = mkstemp(src), b = mkstemp(back);
	assert_true(s >= 0 && b >= 0);
	assert_int_equal(ftruncate(s, 8 << 20), 0);
	assert_int_equal(pwrite(s, "data", 4, 3 << 20), 4);
	snprintf(dst, sizeof(dst), "%s.copy", src);
	unlink(dst);
	assert_int_equal(snap_copy_file(s, dst, 8 << 20, false), 0);
	assert_int_equal(snap_copy_file(s, dst, 8 << 20, false), -EEXIST); /* never overwritten */
	assert_int_equal(pwrite(b, "old", 3, 0), 3);
	assert_int_equal(snap_copy_file(b, dst, 8 << 20, true), 0);
	struct stat st;
	assert_int_equal(fstat(b, &st), 0);
	assert_int_equal(st.st_size, 8 << 20);
	assert_true(st.st_blocks * 512 < (1 << 20)); /* holes stayed holes */
	char buf[4];
	assert_int_equal(pread(b, buf, 4, 3 << 20), 4);
	assert_memory_equal(buf, "data", 4);
	assert_int_equal(pread(b, buf, 3, 0), 3);
	assert_memory_equal(buf, "\0\0\0", 3); /* the old contents are gone */
	assert_int_equal(snap_copy_file(b, dst, 4 << 20, true), -EINVAL); /* another size */
	close(s);
	close(b);
	unlink(src);
	unlink(back);
	unlink(dst);
}

/* --- 9p: fids as paths, reopened by a fresh server ------------------------- */

static void p9_prepare(struct t *t)
{
	char path[64];
	snprintf(path, sizeof(path), "%s/a", t->root);
	FILE *f = fopen(path, "w");
	fputs("hello", f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/d", t->root);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/d/b", t->root);
	fclose(fopen(path, "w"));
}

static void p9_walk(struct t *t, uint32_t fid, uint32_t newfid, const char *name)
{
	m_u32(start(t, P9_TWALK), fid);
	m_u32(&t->m, newfid);
	m_u16(&t->m, 1);
	m_str(&t->m, name);
	ok(t);
}

static int p9_getattr_err(struct t *t, uint32_t fid)
{
	m_u32(start(t, P9_TGETATTR), fid);
	m_u64(&t->m, 0x7ff);
	return call(t) == RLERROR ? (int)rep_u32(t, 7) : 0;
}

static void test_9p_roundtrip(void **state)
{
	(void)state;
	struct t *t = p9share_new("/tmp/test_snapshot9p.XXXXXX", p9_prepare, 0, 0);
	p9_walk(t, ROOT, F2, "a");
	m_u32(start(t, P9_TLOPEN), F2);
	m_u32(&t->m, 2 | 01000); /* O_RDWR | O_TRUNC: not truncated again */
	ok(t);
	m_u32(start(t, P9_TWRITE), F2);
	m_u64(&t->m, 0);
	m_u32(&t->m, 5);
	m_raw(&t->m, "HELLO", 5);
	ok(t);
	p9_walk(t, ROOT, F3, "d");
	p9_walk(t, F3, 4, "b");
	struct snap_buf b = { 0 };
	p9_wait_idle(t->s);
	assert_int_equal(p9_server_save(t->s, &b), 0);
	/* A fresh server on the same directory, where d/b has gone. */
	p9_server_free(t->s);
	char path[64];
	snprintf(path, sizeof(path), "%s/d/b", t->root);
	assert_int_equal(unlink(path), 0);
	int fd = open(t->root, O_PATH | O_DIRECTORY);
	t->s = p9_server_new(fd, 0, 0);
	close(fd);
	struct snap_reader r = { .p = b.data, .len = b.len };
	assert_int_equal(p9_server_load(t->s, &r), 0);
	assert_int_equal(snap_done(&r), 0);
	/* The open fid reads on, without Tversion, Tattach or Tlopen again. */
	m_u32(start(t, P9_TREAD), F2);
	m_u64(&t->m, 0);
	m_u32(&t->m, 5);
	ok(t);
	assert_int_equal(rep_u32(t, 7), 5);
	assert_memory_equal(t->rep + 11, "HELLO", 5);
	assert_int_equal(p9_getattr_err(t, F3), 0);
	assert_int_equal(p9_getattr_err(t, 4), ESTALE); /* its file went */
	m_u32(start(t, P9_TCLUNK), 4);
	ok(t);
	assert_int_equal(p9_getattr_err(t, 4), EBADF); /* forgotten */
	p9_walk(t, ROOT, 5, "d");
	/* Truncated state: an error, never a crash. */
	for (size_t n = 0; n < b.len; n += 3) {
		p9_server_free(t->s);
		fd = open(t->root, O_PATH | O_DIRECTORY);
		t->s = p9_server_new(fd, 0, 0);
		close(fd);
		r = (struct snap_reader){ .p = b.data, .len = n };
		assert_int_not_equal(p9_server_load(t->s, &r) == 0 && snap_done(&r) == 0, 1);
	}
	free(b.data);
	void *st = t;
	p9share_teardown(&st);
}

#ifdef __x86_64__
#include "acpi.h"

static bool has_bytes(const uint8_t *p, size_t n, const void *want, size_t len)
{
	for (size_t i = 0; i + len <= n; i++)
		if (!memcmp(p + i, want, len))
			return true;
	return false;
}

/* vmgenid in the DSDT: the device Linux's driver binds, its id's address,
 * and the GED whose _EVT notifies it. */
static void test_vmgenid_tables(void **state)
{
	(void)state;
	static uint8_t buf[0x10000];
	struct acpi_config cfg = { .ncpus = 1, .lapic_addr = 0xfee00000,
				   .ioapic_addr = 0xfec00000, .vmgenid = 0xfe000, .ged_gsi = 3 };
	ssize_t n = acpi_build(&cfg, buf, sizeof(buf), 0xe0000);
	assert_true(n > 0);
	assert_true(has_bytes(buf, n, "VGEN", 4));
	assert_true(has_bytes(buf, n, "VMGENCTR", 9));
	assert_true(has_bytes(buf, n, "VM_GEN_COUNTER", 15));
	assert_true(has_bytes(buf, n, "ADDR\x12\x08\x02\x0c\x00\xe0\x0f\x00\x00", 13));
	assert_true(has_bytes(buf, n, "ACPI0013", 9));
	assert_true(has_bytes(buf, n, "_EVT\x01\x86\\\x2e_SB_VGEN\x0a\x80", 17));
	cfg.vmgenid = 0;
	n = acpi_build(&cfg, buf, sizeof(buf), 0xe0000);
	assert_false(has_bytes(buf, n, "VMGENCTR", 9));
}
#endif

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_roundtrip),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_corrupted),
		cmocka_unit_test(test_other_build_and_arch),
		cmocka_unit_test(test_bad_section_length),
		cmocka_unit_test(test_reader),
#ifdef __x86_64__
		cmocka_unit_test(test_options_mismatch),
#else
		cmocka_unit_test(test_restore_refused),
#endif
		cmocka_unit_test(test_virtio_mmio_roundtrip),
		cmocka_unit_test(test_refuse_names_device),
#ifdef __x86_64__ /* a 16550's registers; arm64's PL011 has others */
		cmocka_unit_test(test_serial_roundtrip),
#endif
		cmocka_unit_test(test_9p_roundtrip),
		cmocka_unit_test(test_copy_sparse),
#ifdef __x86_64__
		cmocka_unit_test(test_vmgenid_tables),
#endif
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
