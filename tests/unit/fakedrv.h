/* fakedrv.h - a fake virtio driver for unit tests: plays the guest side of
 * virtio-mmio and split virtqueues on a plain memory buffer, so device models
 * run without KVM. The VM has no vm_fd, so kicks and interrupts are plain
 * eventfds: kicks reach the device through a real event-loop thread, and
 * fd_wait() watches the used ring.
 *
 * Guest RAM is one region at FAKE_RAM_GPA; fd_alloc() hands out pieces of it.
 */
#ifndef FAKEDRV_H
#define FAKEDRV_H

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "eventloop.h"
#include "virtio.h"
#include "vm.h"

#define FAKE_RAM_GPA 0x100000ULL

struct fake_vm {
	struct vm vm;
	pthread_t el_thread;
};

static inline void *fake_el_run(void *arg)
{
	el_run(arg);
	return NULL;
}

/* A VM with size bytes of RAM and an event loop not yet running (devices
 * that add poll sources are created before fake_vm_start). */
static inline struct vm *fake_vm_new_paused(size_t size)
{
	struct fake_vm *f = calloc(1, sizeof(*f));
	signal(SIGPIPE, SIG_IGN); /* as in microvm's main() */
	f->vm.kvm_fd = f->vm.vm_fd = -1;
	f->vm.ram[0] = (struct vm_ram){ FAKE_RAM_GPA, size, calloc(1, size) };
	f->vm.nram = 1;
	f->vm.el = el_new();
	return &f->vm;
}

static inline void fake_vm_start(struct vm *vm)
{
	struct fake_vm *f = (struct fake_vm *)vm;
	pthread_create(&f->el_thread, NULL, fake_el_run, f->vm.el);
}

/* A VM with size bytes of RAM and a running event loop. */
static inline struct vm *fake_vm_new(size_t size)
{
	struct vm *vm = fake_vm_new_paused(size);
	fake_vm_start(vm);
	return vm;
}

static inline void fake_vm_free(struct vm *vm)
{
	struct fake_vm *f = (struct fake_vm *)vm;
	el_stop(vm->el);
	pthread_join(f->el_thread, NULL);
	el_free(vm->el);
	bus_free(&vm->bus[BUS_MMIO]);
	free(vm->ram[0].host);
	free(f);
}

static inline void *fake_ptr(struct vm *vm, uint64_t gpa)
{
	return vm->ram[0].host + (gpa - FAKE_RAM_GPA);
}

struct fd_queue {
	uint16_t size;
	uint64_t desc, avail, used;
	uint16_t avail_idx, used_seen, next_desc;
};

struct fakedrv {
	struct vm *vm;
	struct virtio_dev *dev;
	uint64_t brk; /* next free guest address */
	struct fd_queue q[VIRTIO_MAX_QUEUES];
};

static inline uint64_t fd_alloc(struct fakedrv *f, uint64_t len, uint64_t align)
{
	f->brk = (f->brk + align - 1) & ~(align - 1);
	uint64_t gpa = f->brk;
	f->brk += len;
	memset(fake_ptr(f->vm, gpa), 0, len);
	return gpa;
}

static inline uint32_t fd_rd(struct fakedrv *f, uint64_t off)
{
	uint32_t v;
	virtio_mmio_read(f->dev, off, &v, 4);
	return v;
}

static inline void fd_wr(struct fakedrv *f, uint64_t off, uint32_t v)
{
	virtio_mmio_write(f->dev, off, &v, 4);
}

/* Lay out queue q with size entries and tell the device (4.2.3.2). */
static inline void fd_queue_setup(struct fakedrv *f, unsigned q, uint16_t size)
{
	struct fd_queue *fq = &f->q[q];
	*fq = (struct fd_queue){ .size = size };
	fq->desc = fd_alloc(f, 16 * size, 16);
	fq->avail = fd_alloc(f, 6 + 2 * size, 2);
	fq->used = fd_alloc(f, 6 + 8 * size, 4);
	fd_wr(f, 0x030, q);
	fd_wr(f, 0x038, size);
	fd_wr(f, 0x080, (uint32_t)fq->desc);
	fd_wr(f, 0x084, fq->desc >> 32);
	fd_wr(f, 0x090, (uint32_t)fq->avail);
	fd_wr(f, 0x094, fq->avail >> 32);
	fd_wr(f, 0x0a0, (uint32_t)fq->used);
	fd_wr(f, 0x0a4, fq->used >> 32);
	fd_wr(f, 0x044, 1);
}

/* The driver initialisation sequence (3.1.1), accepting the offered
 * features in want; returns the status read back at the end. */
static inline uint32_t fd_init(struct fakedrv *f, struct vm *vm, struct virtio_dev *dev,
			       uint64_t want, uint16_t qsize)
{
	*f = (struct fakedrv){ .vm = vm, .dev = dev, .brk = FAKE_RAM_GPA };
	fd_wr(f, 0x070, 0);
	fd_wr(f, 0x070, VIRTIO_STATUS_ACKNOWLEDGE);
	fd_wr(f, 0x070, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	fd_wr(f, 0x014, 0);
	uint64_t feat = fd_rd(f, 0x010);
	fd_wr(f, 0x014, 1);
	feat |= (uint64_t)fd_rd(f, 0x010) << 32;
	feat &= want;
	fd_wr(f, 0x024, 0);
	fd_wr(f, 0x020, (uint32_t)feat);
	fd_wr(f, 0x024, 1);
	fd_wr(f, 0x020, feat >> 32);
	fd_wr(f, 0x070, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
				VIRTIO_STATUS_FEATURES_OK);
	for (unsigned q = 0; q < dev->nqueues; q++)
		fd_queue_setup(f, q, qsize);
	fd_wr(f, 0x070, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
				VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
	return fd_rd(f, 0x070);
}

static inline struct vq_desc *fd_desc(struct fakedrv *f, unsigned q, unsigned i)
{
	return (struct vq_desc *)fake_ptr(f->vm, f->q[q].desc) + i;
}

static inline uint16_t *fd_avail(struct fakedrv *f, unsigned q)
{
	return fake_ptr(f->vm, f->q[q].avail);
}

static inline uint16_t *fd_used(struct fakedrv *f, unsigned q)
{
	return fake_ptr(f->vm, f->q[q].used);
}

/* Publish head in the available ring (after the descriptors are written). */
static inline void fd_publish(struct fakedrv *f, unsigned q, uint16_t head)
{
	struct fd_queue *fq = &f->q[q];
	uint16_t *avail = fd_avail(f, q);
	avail[2 + (fq->avail_idx & (fq->size - 1))] = head;
	__atomic_store_n(&avail[1], ++fq->avail_idx, __ATOMIC_RELEASE);
}

/* One buffer of a request. */
struct fd_seg {
	uint64_t gpa;
	uint32_t len;
	bool write;
};

/* Queue a chain of n segments (through an indirect table when indirect),
 * publish it and notify; returns its head. */
static inline uint16_t fd_add(struct fakedrv *f, unsigned q, const struct fd_seg *s, unsigned n,
			      bool indirect)
{
	struct fd_queue *fq = &f->q[q];
	struct vq_desc *table;
	uint16_t head = fq->next_desc;
	if (indirect) {
		uint64_t t = fd_alloc(f, 16 * n, 16);
		table = fake_ptr(f->vm, t);
		*fd_desc(f, q, head) = (struct vq_desc){ t, 16 * n, VQ_DESC_F_INDIRECT, 0 };
		fq->next_desc = (fq->next_desc + 1) % fq->size;
	} else {
		table = fd_desc(f, q, 0);
	}
	for (unsigned i = 0; i < n; i++) {
		unsigned idx = indirect ? i : fq->next_desc;
		unsigned nxt = indirect ? i + 1 : (fq->next_desc + 1u) % fq->size;
		table[idx] = (struct vq_desc){ s[i].gpa, s[i].len,
					       (s[i].write ? VQ_DESC_F_WRITE : 0) |
						       (i + 1 < n ? VQ_DESC_F_NEXT : 0),
					       nxt };
		if (!indirect)
			fq->next_desc = nxt;
	}
	fd_publish(f, q, head);
	fd_wr(f, 0x050, q);
	return head;
}

/* Wait up to 5 s for the next used element of q; returns 1 and fills
 * *id / *len, or 0 on timeout. */
static inline int fd_wait(struct fakedrv *f, unsigned q, uint32_t *id, uint32_t *len)
{
	struct fd_queue *fq = &f->q[q];
	uint16_t *used = fd_used(f, q);
	for (int i = 0; i < 50000; i++) {
		if (__atomic_load_n(&used[1], __ATOMIC_ACQUIRE) != fq->used_seen) {
			struct vq_used_elem *e =
				(struct vq_used_elem *)(used + 2) + (fq->used_seen & (fq->size - 1));
			fq->used_seen++;
			if (id)
				*id = e->id;
			if (len)
				*len = e->len;
			return 1;
		}
		usleep(100);
	}
	return 0;
}

/* Interrupts raised since the last call (the irqfd's counter). */
static inline uint64_t fd_irqs(struct fakedrv *f)
{
	uint64_t n = 0;
	if (read(f->dev->irqfd, &n, sizeof(n)) != sizeof(n))
		return 0;
	return n;
}

/* A VM whose device never gets its kicks handled: wait for the loop to
 * have processed everything queued so far. */
static inline void fd_settle(void)
{
	usleep(20000);
}

#endif
