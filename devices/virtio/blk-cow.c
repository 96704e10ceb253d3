/* blk-cow.c - virtio-blk's copy-on-write layer and the preadv/pwritev loop
 * that every disk's I/O goes through.
 *
 * Copy-on-write (--disk PATH,cow=FILE): the image is only read; writes go to
 * FILE, a sparse file of the same size. The file's own allocation map is the
 * record of what was written (SEEK_DATA/SEEK_HOLE), so FILE alone carries
 * the state across runs. A write that covers a block of FILE only in part
 * first copies that block from the image, excluding every other access to
 * FILE meanwhile. Discard and write-zeroes are not offered: punching a hole
 * in FILE would bring the image's data back.
 *
 * Apart from blk.c because this is the one place that knows how a disk's
 * bytes lie across the image and FILE, under its own lock and invariant
 * (cow_lock, issue 23); blk.c decides what a request means and hands the
 * byte ranges here. Nothing here needs blk.c but struct blk (blk.h).
 */
#define _FILE_OFFSET_BITS 64
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "blk.h"
#include "log.h"
#include "virtio.h"

void (*blk_fill_hook)(void);

/* preadv/pwritev until all of iov is done (they may stop short). */
int rw_full(int fd, struct iovec *iov, unsigned n, off_t off, bool wr)
{
	while (n) {
		ssize_t r = wr ? pwritev(fd, iov, n, off) : preadv(fd, iov, n, off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		off += r;
		while (n && (size_t)r >= iov->iov_len) {
			r -= iov->iov_len;
			iov++;
			n--;
		}
		if (n) {
			iov->iov_base = (uint8_t *)iov->iov_base + r;
			iov->iov_len -= r;
		}
	}
	return 0;
}

/* Read or write len bytes at off between fd and the front of *iov (n
 * entries), then move *iov and *n past them. */
static int rw_part(int fd, struct iovec **iov, unsigned *n, size_t len, off_t off, bool wr)
{
	struct iovec part[VQ_MAX_CHAIN];
	unsigned k = 0;
	size_t left = len;
	while (left && k < *n) {
		part[k] = (*iov)[k];
		if (part[k].iov_len > left)
			part[k].iov_len = left;
		left -= part[k++].iov_len;
	}
	if (left || rw_full(fd, part, k, off, wr) < 0)
		return -1;
	while (len) {
		size_t step = len < (*iov)->iov_len ? len : (*iov)->iov_len;
		(*iov)->iov_base = (uint8_t *)(*iov)->iov_base + step;
		(*iov)->iov_len -= step;
		len -= step;
		if ((*iov)->iov_len == 0) {
			(*iov)++;
			(*n)--;
		}
	}
	return 0;
}

/* Reads from a copy-on-write disk: written ranges (data in the cow file)
 * from there, the rest from the image. */
int cow_read(struct blk *b, struct iovec *iov, unsigned n, off_t off, off_t end)
{
	pthread_rwlock_rdlock(&b->cow_lock);
	int r = 0;
	while (off < end && r == 0) {
		off_t data = lseek(b->cow, off, SEEK_DATA);
		bool written = data == off;
		off_t stop = written ? lseek(b->cow, off, SEEK_HOLE) : data < 0 ? end : data;
		if ((data < 0 && errno != ENXIO) || stop < 0) {
			r = -1;
			break;
		}
		if (stop > end)
			stop = end;
		r = rw_part(written ? b->cow : b->fd, &iov, &n, (size_t)(stop - off), off, false);
		off = stop;
	}
	pthread_rwlock_unlock(&b->cow_lock);
	return r;
}

/* Before a write that covers the cow block at off only in part: copy the
 * block from the image unless it was written before. cow_lock held. */
static int cow_fill(struct blk *b, off_t off)
{
	off = off & ~(off_t)(b->cow_blk - 1);
	off_t data = lseek(b->cow, off, SEEK_DATA);
	if (data == off)
		return 0;
	if (data < 0 && errno != ENXIO)
		return -1;
	uint8_t *tmp = malloc(b->cow_blk);
	uint64_t size = b->sectors * 512;
	size_t len = (uint64_t)off + b->cow_blk > size ? size - (uint64_t)off : b->cow_blk;
	struct iovec v = { tmp, len };
	int r = tmp && rw_full(b->fd, &v, 1, off, false) == 0 ? 0 : -1;
	if (blk_fill_hook)
		blk_fill_hook();
	v = (struct iovec){ tmp, len };
	if (r == 0)
		r = rw_full(b->cow, &v, 1, off, true);
	free(tmp);
	return r;
}

/* Whole-block writes share the lock: they may run together, but not while
 * a fill, which decided from the old allocation map, copies image data in. */
int cow_write(struct blk *b, struct iovec *iov, unsigned n, off_t off, off_t end)
{
	off_t mask = (off_t)b->cow_blk - 1;
	bool whole = !(off & mask) && !(end & mask);
	if (whole)
		pthread_rwlock_rdlock(&b->cow_lock);
	else
		pthread_rwlock_wrlock(&b->cow_lock);
	int r = whole ? 0 : cow_fill(b, off);
	if (r == 0 && !whole)
		r = cow_fill(b, end - 1);
	if (r == 0)
		r = rw_full(b->cow, iov, n, off, true);
	pthread_rwlock_unlock(&b->cow_lock);
	return r;
}

/* The copy-on-write file: created sparse with the image's size, or one
 * made for it before, on a file system that reports holes. */
int cow_open(const char *path, uint64_t size)
{
	struct stat st;
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0 || fstat(fd, &st) < 0) {
		log_error("--disk ...,cow=%s: %m", path);
		goto fail;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		log_error("--disk ...,cow=%s: in use by another process", path);
		goto fail;
	}
	if (st.st_size == 0 && ftruncate(fd, (off_t)size) < 0) {
		log_error("--disk ...,cow=%s: %m", path);
		goto fail;
	}
	if (st.st_size != 0 && (uint64_t)st.st_size != size) {
		log_error("--disk ...,cow=%s: %lld bytes, but the image has %llu (made for "
			  "another image?)", path, (long long)st.st_size, (unsigned long long)size);
		goto fail;
	}
	/* Without SEEK_HOLE (9p, for one) a sparse file looks all written. */
	if (fstat(fd, &st) == 0 && (uint64_t)st.st_blocks * 512 < size &&
	    lseek(fd, 0, SEEK_HOLE) >= (off_t)size) {
		log_error("--disk ...,cow=%s: its file system does not report holes "
			  "(SEEK_HOLE); put it on tmpfs, ext4, xfs or btrfs", path);
		goto fail;
	}
	return fd;
fail:
	if (fd >= 0)
		close(fd);
	return -1;
}
