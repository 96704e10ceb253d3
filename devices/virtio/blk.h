/* blk.h - private to the virtio-blk device (blk.c) and its copy-on-write
 * layer (blk-cow.c): the device's state, and the calls blk.c makes into
 * blk-cow.c. */
#ifndef BLK_H
#define BLK_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "virtio.h"

#define BLK_WORKERS 4

/* 5.2.4: device configuration layout, little endian. */
struct blk_config {
	uint64_t capacity;
	uint32_t size_max, seg_max;
	uint8_t geometry[4];
	uint32_t blk_size;
	uint8_t topology[8];
	uint8_t writeback, unused0;
	uint16_t num_queues;
	uint32_t max_discard_sectors, max_discard_seg, discard_sector_alignment;
	uint32_t max_write_zeroes_sectors, max_write_zeroes_seg;
	uint8_t write_zeroes_may_unmap, unused1[3];
} __attribute__((packed));

struct blk_req {
	struct blk_req *next;
	unsigned gen; /* vq->gen when popped: a reset drops the completion */
	struct vq_chain c;
};

struct blk {
	struct virtio_dev *dev;
	int fd;
	int cow;		/* copy-on-write file, or -1 */
	uint64_t cow_blk;	/* its allocation unit (a power of two >= 512) */
	/* Exclusive for partial-block writes (which fill the block from the
	 * image first), shared by reads and whole-block writes: no read sees a
	 * block half filled, no fill copies the image over a guest's write. */
	pthread_rwlock_t cow_lock;
	uint64_t sectors;
	bool readonly;
	char serial[20];
	struct blk_config cfg;
	pthread_mutex_t lock; /* job queue and free list */
	pthread_cond_t cond;
	struct blk_req *jobs, **jobs_tail, *free;
	bool starved; /* the free list ran dry with requests left in the ring */
	bool stop;
	unsigned busy;        /* requests a worker is doing */
	pthread_cond_t idle;  /* no job queued, none busy: a snapshot waits */
	pthread_t workers[BLK_WORKERS];
	struct blk_req *reqs;
};

/* --- blk-cow.c: the I/O under every request --------------------------------- */

/* Read or write all of iov (n entries) at off in fd: 0, or -1 on an error. */
int rw_full(int fd, struct iovec *iov, unsigned n, off_t off, bool wr);

/* A copy-on-write disk's read and write of the bytes from off to end,
 * under b->cow_lock: 0, or -1 on an error. */
int cow_read(struct blk *b, struct iovec *iov, unsigned n, off_t off, off_t end);
int cow_write(struct blk *b, struct iovec *iov, unsigned n, off_t off, off_t end);

/* Open --disk's cow=FILE for an image of size bytes: the fd, or -1 after
 * printing one line. */
int cow_open(const char *path, uint64_t size);

#endif
