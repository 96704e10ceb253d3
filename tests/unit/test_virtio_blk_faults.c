/* test_virtio_blk_faults.c - virtio-blk when the host fails it (issue 23):
 * an image truncated under a running guest, and a host disk that fills up
 * during a copy-on-write write. The guest must get VIRTIO_BLK_S_IOERR, never
 * stale or foreign bytes, and the device must go on; each test is named
 * after the fault. */
#define _FILE_OFFSET_BITS 64
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "blkdisk.h"

enum { T_IN = 0, T_OUT = 1 };
enum { S_OK = 0, S_IOERR = 1 };

/* A small tmpfs for the cow file of the test that runs, or "". */
static char tmpfs_dir[40];

static void start(struct blk *t, int cow)
{
	int fd = blk_temp_fd();
	blk_fill_pattern(fd);
	blk_start(t, 4 << 20, fd, cow, false, NULL, 64, 65536);
}

static int teardown(void **state)
{
	struct blk *t = *state;
	if (t->dev)
		blk_stop(t);
	if (tmpfs_dir[0]) {
		umount2(tmpfs_dir, MNT_DETACH);
		rmdir(tmpfs_dir);
		tmpfs_dir[0] = 0;
	}
	free(t);
	return 0;
}

/* One request with len data bytes at t->data; returns the status byte,
 * after checking the used length the device reported for it. */
static int req(struct blk *t, uint32_t type, uint64_t sector, uint32_t len)
{
	*(struct hdr *)fake_ptr(t->vm, t->hdr) = (struct hdr){ type, 0, sector };
	*(uint8_t *)fake_ptr(t->vm, t->st) = 0xee;
	struct fd_seg s[3] = { { t->hdr, 16, false }, { t->data, len, type == T_IN },
			       { t->st, 1, true } };
	uint16_t head = fd_add(&t->f, 0, s, 3, false);
	uint32_t id, got;
	assert_int_equal(fd_wait(&t->f, 0, &id, &got), 1);
	assert_int_equal(id, head);
	uint8_t st = *(uint8_t *)fake_ptr(t->vm, t->st);
	assert_int_equal(got, 1 + (type == T_IN && st == S_OK ? len : 0));
	return st;
}

static uint8_t *data(struct blk *t)
{
	return fake_ptr(t->vm, t->data);
}

/* len bytes at t->data are the image's from off on. */
static void assert_image_bytes(struct blk *t, size_t off, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (data(t)[i] != pat(off + i))
			fail_msg("byte %zu: 0x%02x, the image has 0x%02x", off + i, data(t)[i],
				 pat(off + i));
}

/* --- an image truncated under the guest ----------------------------------- */

static int setup_plain(void **state)
{
	struct blk *t = calloc(1, sizeof(*t));
	start(t, -1);
	*state = t;
	return 0;
}

/* The image shrinks to 300 KiB + 100 bytes while the guest still sees 1 MiB
 * (5.2.6.1 keeps the capacity it read): reads past the new end, or across
 * it, fail with IOERR and write no data (used length 1, the status byte);
 * what is left of the image still reads. */
static void test_image_truncated_under_guest_reads_get_ioerr(void **state)
{
	struct blk *t = *state;
	const off_t end = 300 * 1024 + 100;
	assert_int_equal(ftruncate(t->fd, end), 0);
	memset(data(t), 0xcc, 65536);
	assert_int_equal(req(t, T_IN, 1024, 4096), S_IOERR);     /* at 512 KiB */
	assert_int_equal(req(t, T_IN, 600, 1024), S_IOERR);      /* over the end */
	assert_int_equal(req(t, T_IN, DISK / 512 - 1, 512), S_IOERR); /* the old last sector */
	assert_image_bytes(t, 600 * 512, 100); /* what the file still had */
	for (size_t i = 100; i < 65536; i++)   /* and nothing after it */
		assert_int_equal(data(t)[i], 0xcc);
	assert_int_equal(req(t, T_IN, 0, 65536), S_OK);
	assert_image_bytes(t, 0, 65536);
	assert_false(fd_rd(&t->f, 0x070) & VIRTIO_STATUS_NEEDS_RESET);
}

/* Copy-on-write on an image that shrinks to 256 KiB: unwritten ranges past
 * the end fail to read, and a partial-block write there, which must copy the
 * block from the image first, fails too without putting anything in the cow
 * file (which would later read as data the image never had). */
static void test_cow_image_truncated_under_guest_gets_ioerr(void **state)
{
	struct blk *t = calloc(1, sizeof(*t));
	*state = t;
	FILE *f = tmpfile();
	int cow = dup(fileno(f));
	fclose(f);
	assert_int_equal(ftruncate(cow, DISK), 0);
	start(t, cow);
	assert_int_equal(ftruncate(t->fd, 256 * 1024), 0);
	assert_int_equal(req(t, T_IN, 1024, 4096), S_IOERR);
	memset(data(t), 0xaa, 512);
	assert_int_equal(req(t, T_OUT, 1025, 512), S_IOERR);
	errno = 0;
	assert_int_equal(lseek(t->cow, 0, SEEK_DATA), -1);
	assert_int_equal(errno, ENXIO);
	memset(data(t), 0xbb, 4096); /* a whole block needs no fill: it works */
	assert_int_equal(req(t, T_OUT, 1024, 4096), S_OK);
	memset(data(t), 0, 4096);
	assert_int_equal(req(t, T_IN, 1024, 4096), S_OK);
	for (size_t i = 0; i < 4096; i++)
		assert_int_equal(data(t)[i], 0xbb);
	assert_int_equal(req(t, T_IN, 0, 4096), S_OK);
	assert_image_bytes(t, 0, 4096);
}

/* --- the host disk full during copy-on-write ------------------------------ */

static uint64_t fnv1a(int fd)
{
	static uint8_t buf[DISK];
	assert_int_equal(pread(fd, buf, DISK, 0), DISK);
	uint64_t h = 0xcbf29ce484222325ULL;
	for (size_t i = 0; i < DISK; i++)
		h = (h ^ buf[i]) * 0x100000001b3ULL;
	return h;
}

/* A 64 KiB tmpfs in a mount namespace of this process's own, so ENOSPC is
 * the real thing. Needs CAP_SYS_ADMIN; false (the test skips) without. */
static bool small_tmpfs(char dir[40])
{
	strcpy(dir, "/tmp/blkfull.XXXXXX");
	if (!mkdtemp(dir))
		return false;
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("blkfull", dir, "tmpfs", 0, "size=64k") < 0) {
		print_message("skipped: no private tmpfs (%s); run as root for a real ENOSPC\n",
			      strerror(errno));
		rmdir(dir);
		dir[0] = 0;
		return false;
	}
	return true;
}

/* Fill the file system under dir; returns the filler's path. */
static const char *fill_up(const char *dir)
{
	static char path[64];
	snprintf(path, sizeof(path), "%s/filler", dir);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	static uint8_t page[4096];
	while (write(fd, page, sizeof(page)) > 0)
		;
	assert_int_equal(errno, ENOSPC);
	close(fd);
	return path;
}

/* The cow file's disk is full when the guest writes: a partial block (whose
 * fill needs space) and a whole one both fail with IOERR; the image is
 * unchanged, nothing half-written shows through reads, the device goes on,
 * and once space is back the same write succeeds. */
static void test_host_disk_full_during_cow_write_gets_ioerr(void **state)
{
	struct blk *t = calloc(1, sizeof(*t));
	*state = t;
	t->cow = -1;
	if (!small_tmpfs(tmpfs_dir))
		skip();
	char path[64];
	snprintf(path, sizeof(path), "%s/disk.cow", tmpfs_dir);
	int cow = open(path, O_RDWR | O_CREAT, 0600);
	assert_true(cow >= 0);
	assert_int_equal(ftruncate(cow, DISK), 0);
	start(t, cow);
	uint64_t before = fnv1a(t->fd);
	const char *filler = fill_up(tmpfs_dir);
	memset(data(t), 0xaa, 8192);
	assert_int_equal(req(t, T_OUT, 1, 512), S_IOERR);   /* fills block 0 first */
	assert_int_equal(req(t, T_OUT, 16, 8192), S_IOERR); /* blocks 2 and 3, whole */
	assert_false(fd_rd(&t->f, 0x070) & VIRTIO_STATUS_NEEDS_RESET);
	assert_int_equal(fnv1a(t->fd), before);
	errno = 0;
	assert_int_equal(lseek(t->cow, 0, SEEK_DATA), -1);
	assert_int_equal(errno, ENXIO);
	assert_int_equal(req(t, T_IN, 0, 32768), S_OK);
	assert_image_bytes(t, 0, 32768);
	assert_int_equal(unlink(filler), 0);
	memset(data(t), 0xaa, 512);
	assert_int_equal(req(t, T_OUT, 1, 512), S_OK);
	assert_int_equal(req(t, T_IN, 0, 4096), S_OK);
	for (size_t i = 0; i < 4096; i++)
		assert_int_equal(data(t)[i], i >= 512 && i < 1024 ? 0xaa : pat(i));
	assert_int_equal(fnv1a(t->fd), before);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_image_truncated_under_guest_reads_get_ioerr,
						setup_plain, teardown),
		cmocka_unit_test_teardown(test_cow_image_truncated_under_guest_gets_ioerr,
					  teardown),
		cmocka_unit_test_teardown(test_host_disk_full_during_cow_write_gets_ioerr,
					  teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
