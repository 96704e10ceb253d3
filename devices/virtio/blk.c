/* blk.c - virtio block device (virtio 1.2 section 5.2) on a raw image.
 *
 * The event loop pops requests and hands them to a small pool of worker
 * threads, which do the I/O straight between the image and guest memory
 * (preadv/pwritev on the chain's iovecs) and complete requests in whatever
 * order they finish. A malformed request fails with VIRTIO_BLK_S_IOERR (or
 * comes back empty when it has no status byte); it never stops the device.
 *
 * Copy-on-write disks (--disk PATH,cow=FILE) read and write through
 * blk-cow.c, which holds that layer and the preadv/pwritev loop every
 * disk's I/O goes through; this file is what a request means, the workers,
 * the --disk option and snapshots. struct blk is in blk.h for that reason.
 */
#define _FILE_OFFSET_BITS 64
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blk.h"
#include "device.h"
#include "log.h"
#include "snapshot.h"
#include "virtio.h"
#include "vm.h"

#define BLK_MAX_DISCARD_SEG 32
#define BLK_F_SEG_MAX 2
#define BLK_F_RO 5
#define BLK_F_BLK_SIZE 6
#define BLK_F_FLUSH 9
#define BLK_F_DISCARD 13
#define BLK_F_WRITE_ZEROES 14
enum { T_IN = 0, T_OUT = 1, T_FLUSH = 4, T_GET_ID = 8, T_DISCARD = 11, T_WRITE_ZEROES = 13 };
enum { S_OK = 0, S_IOERR = 1, S_UNSUPP = 2 };

struct blk_hdr {
	uint32_t type, reserved;
	uint64_t sector;
};

/* 5.2.6.1: requests beyond the capacity fail. */
static bool in_range(const struct blk *b, uint64_t sector, uint64_t bytes)
{
	return sector <= b->sectors && bytes / 512 <= b->sectors - sector;
}

static uint8_t blk_rw(struct blk *b, struct vq_cursor *cur, uint64_t sector, size_t len,
		      bool wr)
{
	struct iovec iov[VQ_MAX_CHAIN];
	/* 5.2.6.1: data is a multiple of 512 bytes. */
	if (len % 512 || !in_range(b, sector, len))
		return S_IOERR;
	if (wr && b->readonly)
		return S_IOERR; /* 5.2.6.2: writes to a VIRTIO_BLK_F_RO disk fail */
	unsigned n = vq_take(cur, len, iov, VQ_MAX_CHAIN);
	off_t off = (off_t)(sector * 512);
	int r;
	if (b->cow < 0 || len == 0)
		r = rw_full(b->fd, iov, n, off, wr);
	else if (wr)
		r = cow_write(b, iov, n, off, off + (off_t)len);
	else
		r = cow_read(b, iov, n, off, off + (off_t)len);
	return r < 0 ? S_IOERR : S_OK;
}

/* One discard or write-zeroes segment (5.2.6, struct virtio_blk_discard_write_zeroes). */
static uint8_t blk_zero(struct blk *b, struct vq_cursor *cur, bool discard)
{
	struct { uint64_t sector; uint32_t num, flags; } seg;
	if (b->readonly || b->cow >= 0)
		return S_IOERR; /* not offered on read-only and copy-on-write disks */
	unsigned nseg = cur->left / sizeof(seg);
	if (nseg == 0 || nseg > BLK_MAX_DISCARD_SEG || cur->left % sizeof(seg))
		return S_IOERR;
	for (unsigned i = 0; i < nseg; i++) {
		vq_read(cur, &seg, sizeof(seg));
		uint64_t bytes = (uint64_t)seg.num * 512;
		/* 5.2.6.2: unknown flag bits fail the request with UNSUPP. */
		if (seg.flags & ~1u)
			return S_UNSUPP;
		if (!in_range(b, seg.sector, bytes))
			return S_IOERR;
		int mode = FALLOC_FL_KEEP_SIZE |
			   (discard || (seg.flags & 1) ? FALLOC_FL_PUNCH_HOLE : FALLOC_FL_ZERO_RANGE);
		if (fallocate(b->fd, mode, seg.sector * 512, bytes) < 0 && !discard)
			return S_IOERR; /* a discard is only a hint */
	}
	return S_OK;
}

/* Carry out one request; returns the bytes written into the chain. */
static uint32_t blk_do(struct blk *b, const struct vq_chain *c)
{
	struct vq_cursor rd, wr;
	struct blk_hdr h;
	vq_reader(&rd, c);
	vq_writer(&wr, c);
	/* 5.2.6: a header to read and a status byte to write at the least. */
	if (vq_read(&rd, &h, sizeof(h)) != sizeof(h) || c->in_len < 1)
		return 0;
	size_t data_in = c->in_len - 1;
	uint32_t written = 1;
	uint8_t st = S_UNSUPP;
	switch (h.type) {
	case T_IN:
		st = blk_rw(b, &wr, h.sector, data_in, false);
		written += st == S_OK ? data_in : 0;
		break;
	case T_OUT: st = blk_rw(b, &rd, h.sector, rd.left, true); break;
	case T_FLUSH: st = fdatasync(b->cow >= 0 ? b->cow : b->fd) < 0 ? S_IOERR : S_OK; break;
	case T_GET_ID: {
		char id[20] = { 0 };
		memcpy(id, b->serial, sizeof(id));
		written += vq_write(&wr, id, data_in < 20 ? data_in : 20);
		st = S_OK;
		break;
	}
	case T_DISCARD: st = blk_zero(b, &rd, true); break;
	case T_WRITE_ZEROES: st = blk_zero(b, &rd, false); break;
	}
	/* The status byte is the chain's last writable byte. */
	vq_writer(&wr, c);
	vq_skip(&wr, data_in);
	vq_write(&wr, &st, 1);
	return written;
}

static void blk_complete(struct blk *b, struct blk_req *r, uint32_t len)
{
	struct virtio_dev *d = b->dev;
	struct vq *vq = &d->vq[0];
	pthread_mutex_lock(&vq->lock);
	if (r->gen == vq->gen)
		vq_push(vq, r->c.head, len);
	pthread_mutex_unlock(&vq->lock);
	virtio_used(d, 0);
	pthread_mutex_lock(&b->lock);
	r->next = b->free;
	b->free = r;
	bool starved = b->starved;
	b->starved = false;
	pthread_mutex_unlock(&b->lock);
	if (starved) /* requests wait in the ring: have the event loop look again */
		virtio_mmio_write(d, VIRTIO_MMIO_QUEUE_NOTIFY, &(uint32_t){ 0 }, 4);
}

static void *blk_worker(void *arg)
{
	struct blk *b = arg;
	vm_sandbox_enter(VM_THREAD_BLK);
	pthread_mutex_lock(&b->lock);
	for (;;) {
		while (!b->jobs && !b->stop)
			pthread_cond_wait(&b->cond, &b->lock);
		if (b->stop)
			break;
		struct blk_req *r = b->jobs;
		b->jobs = r->next;
		if (!b->jobs)
			b->jobs_tail = &b->jobs;
		b->busy++;
		pthread_mutex_unlock(&b->lock);
		blk_complete(b, r, blk_do(b, &r->c));
		pthread_mutex_lock(&b->lock);
		if (--b->busy == 0 && !b->jobs)
			pthread_cond_broadcast(&b->idle);
	}
	pthread_mutex_unlock(&b->lock);
	return NULL;
}

static struct blk_req *blk_req_get(struct blk *b)
{
	pthread_mutex_lock(&b->lock);
	struct blk_req *r = b->free;
	if (r)
		b->free = r->next;
	else
		b->starved = true;
	pthread_mutex_unlock(&b->lock);
	return r;
}

static void blk_req_put(struct blk *b, struct blk_req *r)
{
	pthread_mutex_lock(&b->lock);
	r->next = b->free;
	b->free = r;
	pthread_mutex_unlock(&b->lock);
}

static void blk_submit(struct blk *b, struct blk_req *r)
{
	pthread_mutex_lock(&b->lock);
	r->next = NULL;
	*b->jobs_tail = r;
	b->jobs_tail = &r->next;
	pthread_cond_signal(&b->cond);
	pthread_mutex_unlock(&b->lock);
}

/* Event loop: pop what the driver queued and hand it to the workers. */
static void blk_notify(struct virtio_dev *d, unsigned q)
{
	struct blk *b = d->priv;
	struct vq *vq = &d->vq[q];
	struct blk_req *r = NULL;
	int got = 0;
	pthread_mutex_lock(&vq->lock);
	do {
		while ((r || (r = blk_req_get(b))) && (got = vq_pop(vq, &r->c)) != 0) {
			if (got == -EIO)
				break;
			if (got < 0) {
				log_guest_once(&vq->warned, "%s: malformed descriptor chain "
					       "returned empty", d->name);
				vq_push(vq, r->c.head, 0);
				continue;
			}
			r->gen = vq->gen;
			blk_submit(b, r);
			r = NULL;
		}
	} while (r && got == 0 && vq_enable_notify(vq));
	pthread_mutex_unlock(&vq->lock);
	if (r)
		blk_req_put(b, r);
	if (got == -EIO)
		virtio_needs_reset(d, "available ring corrupt");
	virtio_used(d, q);
}

static void blk_free(struct virtio_dev *d)
{
	struct blk *b = d->priv;
	virtio_blk_destroy(d);
	free(b->reqs);
	free(b);
}

static int blk_quiesce(struct virtio_dev *d, char *why, size_t len);
static int blk_save(struct virtio_dev *d, struct snap_buf *sb, const char *dir, char *why,
		    size_t len);
static int blk_restore(struct virtio_dev *d, struct snap_reader *r, const char *dir);
static const struct virtio_ops blk_ops = { .notify = blk_notify, .free = blk_free,
					   .quiesce = blk_quiesce, .save = blk_save,
					   .restore = blk_restore };

static uint64_t blk_features(bool readonly, bool cow)
{
	uint64_t f = 1ULL << BLK_F_SEG_MAX | 1ULL << BLK_F_BLK_SIZE | 1ULL << BLK_F_FLUSH;
	if (readonly)
		return f | 1ULL << BLK_F_RO;
	if (cow)
		return f;
	return f | 1ULL << BLK_F_DISCARD | 1ULL << BLK_F_WRITE_ZEROES;
}

static void blk_fill_config(struct blk *b)
{
	b->cfg = (struct blk_config){
		.capacity = b->sectors,
		.seg_max = VQ_MAX_CHAIN - 2, /* header and status take two */
		.blk_size = 512,
		.num_queues = 1,
		.max_discard_sectors = UINT32_MAX,
		.max_discard_seg = BLK_MAX_DISCARD_SEG,
		.discard_sector_alignment = 8,
		.max_write_zeroes_sectors = UINT32_MAX,
		.max_write_zeroes_seg = BLK_MAX_DISCARD_SEG,
		.write_zeroes_may_unmap = 1,
	};
}

static int blk_start_workers(struct blk *b)
{
	b->reqs = calloc(VQ_MAX_SIZE, sizeof(*b->reqs));
	if (!b->reqs)
		return -ENOMEM;
	for (int i = VQ_MAX_SIZE - 1; i >= 0; i--) {
		b->reqs[i].next = b->free;
		b->free = &b->reqs[i];
	}
	for (int i = 0; i < BLK_WORKERS; i++) {
		int e = pthread_create(&b->workers[i], NULL, blk_worker, b);
		if (e)
			return -e;
	}
	return 0;
}

struct virtio_dev *virtio_blk_create(struct vm *vm, int fd, int cow, uint64_t size,
				     bool readonly, const char *serial, const char *name)
{
	struct blk *b = calloc(1, sizeof(*b));
	if (!b)
		return NULL;
	b->fd = fd;
	b->cow = cow;
	struct stat st;
	b->cow_blk = 4096;
	if (cow >= 0 && fstat(cow, &st) == 0)
		while (b->cow_blk < (uint64_t)st.st_blksize && b->cow_blk < (1u << 20))
			b->cow_blk <<= 1;
	pthread_rwlock_init(&b->cow_lock, NULL);
	b->sectors = size / 512;
	b->readonly = readonly;
	if (serial) /* 5.2.6: up to 20 bytes, NUL-terminated only when shorter */
		memcpy(b->serial, serial, strnlen(serial, sizeof(b->serial)));
	pthread_mutex_init(&b->lock, NULL);
	pthread_cond_init(&b->cond, NULL);
	pthread_cond_init(&b->idle, NULL);
	b->jobs_tail = &b->jobs;
	blk_fill_config(b);
	int r = blk_start_workers(b);
	if (r < 0) {
		log_error("%s: cannot start workers: %s", name, strerror(-r));
		return NULL;
	}
	b->dev = virtio_mmio_create(vm, name, VIRTIO_ID_BLOCK,
				    blk_features(readonly, cow >= 0), 1,
				    &blk_ops, b, &b->cfg, sizeof(b->cfg));
	return b->dev;
}

void virtio_blk_destroy(struct virtio_dev *d)
{
	struct blk *b = d->priv;
	if (b->stop)
		return;
	pthread_mutex_lock(&b->lock);
	b->stop = true;
	pthread_cond_broadcast(&b->cond);
	pthread_mutex_unlock(&b->lock);
	for (int i = 0; i < BLK_WORKERS; i++)
		pthread_join(b->workers[i], NULL);
}

/* --- --disk PATH[,readonly][,serial=ID][,cow=FILE] (repeatable: vda, ...) - */

#define MAX_DISKS 16

struct disk_opt {
	char name[24];
	char serial[21];
	bool readonly;
	char *cow_path;
	int fd, cow;
	uint64_t size;
	struct virtio_dev *dev;
};
static struct disk_opt disks[MAX_DISKS];
static int ndisks;

static int disk_flags(const char *v, char *flags, struct disk_opt *o)
{
	for (char *save, *f = strtok_r(flags, ",", &save); f; f = strtok_r(NULL, ",", &save)) {
		if (!strcmp(f, "readonly") || !strcmp(f, "ro")) {
			o->readonly = true;
		} else if (!strncmp(f, "serial=", 7) && f[7] && strlen(f + 7) <= 20) {
			strcpy(o->serial, f + 7);
		} else if (!strncmp(f, "cow=", 4) && f[4]) {
			free(o->cow_path);
			o->cow_path = strdup(f + 4);
		} else {
			log_error("--disk %s: '%s': expected readonly, serial=ID (ID at most "
				  "20 characters) or cow=FILE", v, f);
			return -EINVAL;
		}
	}
	if (o->readonly && o->cow_path) {
		log_error("--disk %s: readonly and cow= exclude each other", v);
		return -EINVAL;
	}
	return 0;
}

/* Open and check the image now, before KVM is touched. */
static int disk_open(const char *v, const char *path, struct disk_opt *o)
{
	bool rdonly = o->readonly || o->cow_path;
	o->fd = open(path, (rdonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (o->fd < 0) {
		bool perm = errno == EACCES || errno == EROFS || errno == EPERM;
		log_error("--disk %s: %m%s", path,
			  perm && !rdonly ? " (add ,readonly or ,cow=FILE to leave it unchanged)" : "");
		return -EINVAL;
	}
	off_t end = lseek(o->fd, 0, SEEK_END);
	if (end < 0 || end % 512) {
		log_error("--disk %s: size %lld bytes is not a multiple of 512", path,
			  (long long)end);
		return -EINVAL;
	}
	if (flock(o->fd, (rdonly ? LOCK_SH : LOCK_EX) | LOCK_NB) < 0) {
		log_error("--disk %s: in use by another process", path);
		return -EINVAL;
	}
	(void)v;
	o->size = end;
	if (o->cow_path && (o->cow = cow_open(o->cow_path, o->size)) < 0)
		return -EINVAL;
	return 0;
}

static int disk_parse(const char *v)
{
	if (ndisks == MAX_DISKS) {
		log_error("--disk %s: at most %d disks", v, MAX_DISKS);
		return -EINVAL;
	}
	struct disk_opt *o = &disks[ndisks];
	*o = (struct disk_opt){ .fd = -1, .cow = -1 };
	char *copy = strdup(v);
	char *comma = copy ? strchr(copy, ',') : NULL;
	if (comma)
		*comma = 0;
	int r = copy && *copy ? 0 : -EINVAL;
	if (r < 0)
		log_error("--disk %s: expected PATH[,readonly][,serial=ID][,cow=FILE]", v);
	if (r == 0 && comma)
		r = disk_flags(v, comma + 1, o);
	if (r == 0)
		r = disk_open(v, copy, o);
	free(copy);
	if (r < 0) {
		if (o->fd >= 0)
			close(o->fd);
		if (o->cow >= 0)
			close(o->cow);
		return r;
	}
	snprintf(o->name, sizeof(o->name), "virtio-blk vd%c", 'a' + ndisks);
	ndisks++;
	return 0;
}

static int disk_setup(struct vm *vm)
{
	for (int i = 0; i < ndisks; i++) {
		struct disk_opt *o = &disks[i];
		o->dev = virtio_blk_create(vm, o->fd, o->cow, o->size, o->readonly,
					   o->serial[0] ? o->serial : NULL, o->name);
		if (!o->dev)
			return -ENODEV;
	}
	return 0;
}

static void disk_teardown(struct vm *vm)
{
	(void)vm;
	for (int i = 0; i < ndisks; i++)
		if (disks[i].dev)
			virtio_blk_destroy(disks[i].dev);
}

/* --- snapshots: requests in flight finished first; a cow= file's data
 * copied into DIR/disk-N.cow (N: the disk's index among --disk), and on
 * restore into the new run's cow= file. A disk written in place would no
 * longer match the snapshot: refused. ----------------------------------------- */

static int disk_index(const struct virtio_dev *d)
{
	for (int i = 0; i < ndisks; i++)
		if (disks[i].dev == d)
			return i;
	return -1;
}

static int blk_quiesce(struct virtio_dev *d, char *why, size_t len)
{
	struct blk *b = d->priv;
	(void)why, (void)len;
	pthread_mutex_lock(&b->lock);
	while (b->jobs || b->busy)
		pthread_cond_wait(&b->idle, &b->lock);
	pthread_mutex_unlock(&b->lock);
	return 0;
}

static int blk_save(struct virtio_dev *d, struct snap_buf *sb, const char *dir, char *why,
		    size_t len)
{
	struct blk *b = d->priv;
	int i = disk_index(d);
	snap_put_u64(sb, b->sectors);
	snap_put_u32(sb, b->readonly | (b->cow >= 0) << 1);
	if (b->cow < 0)
		return 0;
	char path[4096];
	snprintf(path, sizeof(path), "%s/disk-%d.cow", dir, i);
	int r = snap_copy_file(b->cow, path, b->sectors * 512, false);
	if (r < 0)
		snprintf(why, len, "%s: %s", path, strerror(-r));
	return r;
}

static int blk_restore(struct virtio_dev *d, struct snap_reader *r, const char *dir)
{
	struct blk *b = d->priv;
	int i = disk_index(d);
	uint64_t sectors = snap_get_u64(r);
	uint32_t flags = snap_get_u32(r);
	if (r->bad || sectors != b->sectors || flags != (uint32_t)(b->readonly | (b->cow >= 0) << 1)) {
		log_error("--restore %s: --disk %d: %llu bytes%s: expected %llu bytes%s, as saved",
			  dir, i, (unsigned long long)b->sectors * 512,
			  b->readonly ? ",readonly" : b->cow >= 0 ? ",cow=" : "",
			  (unsigned long long)sectors * 512,
			  flags & 1 ? ",readonly" : flags & 2 ? ",cow=" : "");
		return -1;
	}
	if (b->cow < 0)
		return 0;
	char path[4096];
	snprintf(path, sizeof(path), "%s/disk-%d.cow", dir, i);
	int e = snap_copy_file(b->cow, path, sectors * 512, true);
	if (e < 0)
		log_error("--restore %s: %s: %s", dir, path, strerror(-e));
	return e < 0 ? -1 : 0;
}

static int disk_refuse(struct vm *vm, char *why, size_t len)
{
	(void)vm;
	for (int i = 0; i < ndisks; i++) {
		if (!disks[i].readonly && disks[i].cow < 0) {
			snprintf(why, len, "--disk %d (%s) is written in place: expected readonly "
				 "or cow=FILE, so that the snapshot keeps what it holds", i,
				 disks[i].name);
			return -EPERM;
		}
	}
	return 0;
}

SNAPSHOT_SECTION(virtio_blk, .name = "virtio-blk", .refuse = disk_refuse);

DEVICE(virtio_blk, .name = "virtio-blk", .option = "disk",
       .usage = "--disk PATH[,readonly][,serial=ID][,cow=FILE]  raw disk image (repeatable: "
		"vda, vdb, ...); cow=: PATH is only read, writes go to FILE (sparse, kept)",
       .parse = disk_parse, .setup = disk_setup, .teardown = disk_teardown);
