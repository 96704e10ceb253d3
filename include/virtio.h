/* virtio.h - the virtio layer: split virtqueues, the virtio-mmio transport
 * (modern, version 2) and the device constructors.
 *
 * A device model sees a struct virtio_dev and its queues. On the event-loop
 * thread it pops validated descriptor chains (vq_pop), reads and writes them
 * through cursors (never raw descriptors), returns them (vq_push) and tells
 * the driver (virtio_used). Everything here treats the guest as hostile: ring
 * and buffer addresses come from vm_gpa_ptr(), every index is checked, and a
 * broken ring marks the device DEVICE_NEEDS_RESET instead of crashing.
 *
 * Spec references are to "Virtual I/O Device (VIRTIO) Version 1.2".
 */
#ifndef VIRTIO_H
#define VIRTIO_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

struct vm;
struct snap_buf;
struct snap_reader;

/* Device status bits (2.1). */
#define VIRTIO_STATUS_ACKNOWLEDGE 1
#define VIRTIO_STATUS_DRIVER 2
#define VIRTIO_STATUS_DRIVER_OK 4
#define VIRTIO_STATUS_FEATURES_OK 8
#define VIRTIO_STATUS_NEEDS_RESET 0x40
#define VIRTIO_STATUS_FAILED 0x80

/* Transport-independent feature bits (6). */
#define VIRTIO_F_INDIRECT_DESC 28
#define VIRTIO_F_EVENT_IDX 29
#define VIRTIO_F_VERSION_1 32

/* Device IDs (5). */
#define VIRTIO_ID_NET 1
#define VIRTIO_ID_BLOCK 2
#define VIRTIO_ID_CONSOLE 3
#define VIRTIO_ID_RNG 4
#define VIRTIO_ID_9P 9

/* Split virtqueue descriptor flags (2.7.5). */
#define VQ_DESC_F_NEXT 1
#define VQ_DESC_F_WRITE 2
#define VQ_DESC_F_INDIRECT 4
#define VQ_AVAIL_F_NO_INTERRUPT 1

/* Largest queue this implementation offers (QueueNumMax), and the most
 * buffers one chain may have (devices advertise limits below it). */
#define VQ_MAX_SIZE 256
#define VQ_MAX_CHAIN 128

/* virtio-mmio register block (4.2.2). */
#define VIRTIO_MMIO_SIZE 0x200
#define VIRTIO_MMIO_CONFIG 0x100
#define VIRTIO_MMIO_QUEUE_NOTIFY 0x050
#define VIRTIO_MMIO_INT_USED 1
#define VIRTIO_MMIO_INT_CONFIG 2

/* The guest's view of a split ring (2.7.5, 2.7.6, 2.7.8), little endian. */
struct vq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
};
struct vq_used_elem {
	uint32_t id, len;
};

/* One split virtqueue. The transport fills the driver-set fields; the ring
 * pointers are host addresses checked once at QueueReady (guest RAM never
 * moves). lock serialises pop/push between the event loop and workers. */
struct vq {
	pthread_mutex_t lock;
	const struct vm *vm;
	uint16_t size;               /* QueueNum, a power of 2 <= VQ_MAX_SIZE */
	bool ready;                  /* QueueReady and not broken */
	uint64_t desc_gpa, avail_gpa, used_gpa;
	bool event_idx, indirect;    /* negotiated features */
	volatile struct vq_desc *desc;
	volatile uint16_t *avail;    /* flags, idx, ring[size], used_event */
	volatile uint16_t *used;     /* flags, idx, then elems; avail_event after */
	uint16_t last_avail;         /* next avail ring slot to consume */
	uint16_t used_idx;           /* our copy of used->idx */
	uint16_t signalled;          /* used_idx when the driver was last told */
	unsigned gen;                /* bumped at reset: late completions are dropped */
	unsigned bad_chains;         /* counters for hostile-guest diagnostics */
	bool warned;
};

/* A validated descriptor chain: nout readable buffers, then nin writable. */
struct vq_chain {
	uint16_t head;
	unsigned nout, nin;
	uint32_t out_len, in_len;
	struct iovec iov[VQ_MAX_CHAIN];
};

/* A position in the readable or writable part of a chain. */
struct vq_cursor {
	const struct iovec *iov;
	unsigned n, i;
	size_t off;  /* into iov[i] */
	size_t left; /* bytes from here to the end */
};

/* Initialise vq (unlocked, not ready) for memory of vm. */
void vq_init(struct vq *vq, const struct vm *vm);

/* Check the ring addresses and size the driver set and cache the host
 * pointers (2.7 alignment, 4.2.2 QueueNum). Returns 0 or -EINVAL. */
int vq_setup(struct vq *vq);

/* Forget all ring state, as after a device reset (lock held or no users). */
void vq_reset(struct vq *vq);

/* Take the next available chain into *c (lock held). Returns 1 with a good
 * chain, 0 when none is available, -EBADMSG for a malformed chain (c->head
 * is valid: return it with vq_push(vq, head, 0)), -EIO when the ring itself
 * is broken (the device needs a reset). */
int vq_pop(struct vq *vq, struct vq_chain *c);

/* Give back the chain just popped without using it (lock held). */
void vq_unpop(struct vq *vq);

/* Return chain head to the driver with len bytes written (lock held). */
void vq_push(struct vq *vq, uint16_t head, uint32_t len);

/* After pushes: true when the driver wants an interrupt now (2.7.7,
 * EVENT_IDX or VIRTQ_AVAIL_F_NO_INTERRUPT). Lock held. */
bool vq_should_notify(struct vq *vq);

/* Ask for a notification when more buffers arrive; true when some already
 * have (pop again before sleeping). Lock held. */
bool vq_enable_notify(struct vq *vq);

/* Cursors over c's readable (reader) or writable (writer) part. */
void vq_reader(struct vq_cursor *cur, const struct vq_chain *c);
void vq_writer(struct vq_cursor *cur, const struct vq_chain *c);

/* Copy up to len bytes out of / into the chain; returns bytes copied. */
size_t vq_read(struct vq_cursor *cur, void *buf, size_t len);
size_t vq_write(struct vq_cursor *cur, const void *buf, size_t len);

/* Move past the next len bytes; returns how many there were. */
size_t vq_skip(struct vq_cursor *cur, size_t len);

/* Describe the next len bytes (fewer if the chain ends) as at most max
 * iovecs in out and advance past them; returns the number of iovecs. */
unsigned vq_take(struct vq_cursor *cur, size_t len, struct iovec *out, unsigned max);

/* --- the virtio-mmio transport ----------------------------------------- */

struct virtio_dev;

/* What a device model provides. Called with d->lock held. */
struct virtio_ops {
	/* Queue q was notified by the driver (event-loop thread, or the vCPU's:
	 * see vcpu_queues); d->lock held. */
	void (*notify)(struct virtio_dev *d, unsigned q);
	/* The driver reset the device (vCPU thread): drop pending work. */
	void (*reset)(struct virtio_dev *d);
	/* Free the model's state (priv); no lock, nothing else runs. */
	void (*free)(struct virtio_dev *d);
	/* Bit q set: notify(q) runs on the vCPU that wrote QueueNotify, before
	 * the guest resumes, instead of on the event loop through an ioeventfd.
	 * For queues whose work never blocks and that a driver busy-waits on
	 * (Linux's hvc output) or waits on request by request (9p: one thread
	 * hop less per request; find over 5,000 files ~20 % faster nested). */
	uint32_t vcpu_queues;
	/* Snapshots (devices/virtio/snapshot.c), vCPUs parked: the model's
	 * state after the transport's. Without save, `snapshot` is refused
	 * naming the device. quiesce (may be NULL) finishes requests in
	 * flight first; restore runs after setup, before the vCPUs. */
	int (*quiesce)(struct virtio_dev *d, char *why, size_t len);
	int (*save)(struct virtio_dev *d, struct snap_buf *b, const char *dir, char *why,
		    size_t len);
	int (*restore)(struct virtio_dev *d, struct snap_reader *r, const char *dir);
};

/* A save/restore pair for a model with no state of its own. */
int virtio_save_none(struct virtio_dev *d, struct snap_buf *b, const char *dir, char *why,
		     size_t len);
int virtio_restore_none(struct virtio_dev *d, struct snap_reader *r, const char *dir);

#define VIRTIO_MAX_QUEUES 2

/* One virtio-mmio device. lock guards the registers and the device model's
 * own state; lock order is d->lock, then vq->lock. */
struct virtio_dev {
	struct vm *vm;
	const struct virtio_ops *ops;
	void *priv;                  /* the device model's state */
	const char *name;            /* for messages: "virtio-blk vda" */
	uint32_t device_id;
	uint64_t features;           /* offered (VERSION_1 etc. are added) */
	uint8_t *config;             /* device config space (5.x) */
	uint32_t config_len;
	unsigned nqueues;
	uint64_t base;               /* guest-physical register block */
	unsigned irq;                /* GSI */
	pthread_mutex_t lock;
	uint32_t status, dev_sel, drv_sel, queue_sel, config_gen;
	uint64_t driver_features;
	atomic_uint isr;             /* InterruptStatus */
	int irqfd;                   /* eventfd wired to irq (KVM irqfd) */
	int kick[VIRTIO_MAX_QUEUES]; /* eventfds wired to QueueNotify (ioeventfd) */
	struct vq vq[VIRTIO_MAX_QUEUES];
	bool warned_access, warned_order;
};

/* Create the transport for a device and place it in the next virtio-mmio
 * slot: claim the registers, wire ioeventfds and the irqfd, describe it to
 * the firmware tables and watch the kicks on vm->el. On a VM without KVM
 * (vm->vm_fd < 0: unit tests, fuzzing) the eventfds are plain eventfds that
 * the caller reads. Returns NULL after printing one line. */
struct virtio_dev *virtio_mmio_create(struct vm *vm, const char *name, uint32_t device_id,
				      uint64_t features, unsigned nqueues,
				      const struct virtio_ops *ops, void *priv,
				      void *config, uint32_t config_len);

/* The i-th virtio-mmio device created (slot order), or NULL past the last. */
struct virtio_dev *virtio_mmio_dev(unsigned i);

/* Close and free d and its model (tests; microvm keeps devices until exit).
 * The caller has stopped the event loop and frees the bus. */
void virtio_mmio_free(struct virtio_dev *d);

/* Register access, as the MMIO bus calls it (offset into the block). */
void virtio_mmio_read(void *opaque, uint64_t off, void *data, unsigned len);
void virtio_mmio_write(void *opaque, uint64_t off, const void *data, unsigned len);

/* Tell the driver that q has used buffers, when it wants to know
 * (takes the queue lock). */
void virtio_used(struct virtio_dev *d, unsigned q);

/* The driver broke the device contract: log once, set DEVICE_NEEDS_RESET and
 * send a configuration change notification (2.1.2). d->lock held. */
void virtio_needs_reset(struct virtio_dev *d, const char *why);

/* True when the driver has set DRIVER_OK and the device works. d->lock held. */
bool virtio_running(const struct virtio_dev *d);

/* --- device constructors (used by their DEVICE setup and by tests) ------ */

/* virtio-blk on an open image fd of size bytes (a multiple of 512). With
 * cow >= 0, fd is only read and writes go to cow (a sparse file of the same
 * size whose allocated ranges are the written ones); -1 for none. */
struct virtio_dev *virtio_blk_create(struct vm *vm, int fd, int cow, uint64_t size, bool readonly,
				     const char *serial, const char *name);

/* Stop the workers of a virtio-blk device (at exit). */
void virtio_blk_destroy(struct virtio_dev *d);

/* Tests only: called by a copy-on-write fill between reading the image and
 * writing the copy, to force an interleaving. NULL in microvm. */
extern void (*blk_fill_hook)(void);

/* virtio-console: guest output to out_fd, input from in_fd (-1: none);
 * listen_fd >= 0 accepts one connection at a time as both. */
struct virtio_dev *virtio_console_create(struct vm *vm, int in_fd, int out_fd, int listen_fd);

/* virtio-net on a vlan: fd is a SOCK_SEQPACKET or SOCK_DGRAM socket that
 * carries one Ethernet frame per message (no virtio header). */
struct virtio_dev *virtio_net_vlan_create(struct vm *vm, int fd, const uint8_t mac[6],
					  const char *name);

/* virtio-net on the user network (libslirp on vm->el, 10.0.2.0/24);
 * restricted: the guest reaches nothing but what forwards bring in. */
struct virtio_dev *virtio_net_user_create(struct vm *vm, const uint8_t mac[6], bool restricted,
					  const char *name);

/* Add (or remove) a forward into a user network: spec as in
 * hostfwd=[tcp|udp]:[HOST]:PORT-[GUEST]:PORT. Returns 0, or -errno with
 * *why saying what went wrong. Event-loop thread or before it runs. */
int virtio_net_hostfwd(struct virtio_dev *d, const char *spec, bool add, const char **why);

/* virtio-rng filled from getrandom(). */
struct virtio_dev *virtio_rng_create(struct vm *vm);

/* virtio-9p serving the directory dir_fd names (the server keeps its own
 * fd) under mount tag tag, with at most max_fids fids (0: the default). */
struct virtio_dev *virtio_9p_create(struct vm *vm, const char *tag, int dir_fd, bool readonly,
				    unsigned max_fids, const char *name);

/* Stop the workers of a virtio-9p device (at exit). */
void virtio_9p_destroy(struct virtio_dev *d);

#endif
