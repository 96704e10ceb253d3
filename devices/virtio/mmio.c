/* mmio.c - the virtio-mmio transport, modern interface (virtio 1.2
 * section 4.2.2, Version 2).
 *
 * Registers are accessed from vCPU threads under d->lock. Queue
 * notifications mostly never reach this file on KVM: an ioeventfd per queue
 * turns the QueueNotify write into an eventfd signal that the event loop
 * handles. Queues in ops->vcpu_queues have none and are served right here,
 * on the writing vCPU. Interrupts go out through an irqfd (an edge on the
 * device's GSI).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "arch.h"
#include "eventloop.h"
#include "log.h"
#include "virtio.h"
#include "vm.h"

enum {
	REG_MAGIC = 0x000, REG_VERSION = 0x004, REG_DEVICE_ID = 0x008, REG_VENDOR_ID = 0x00c,
	REG_DEV_FEATURES = 0x010, REG_DEV_FEATURES_SEL = 0x014,
	REG_DRV_FEATURES = 0x020, REG_DRV_FEATURES_SEL = 0x024,
	REG_QUEUE_SEL = 0x030, REG_QUEUE_NUM_MAX = 0x034, REG_QUEUE_NUM = 0x038,
	REG_QUEUE_READY = 0x044, REG_QUEUE_NOTIFY = 0x050,
	REG_INT_STATUS = 0x060, REG_INT_ACK = 0x064, REG_STATUS = 0x070,
	REG_QUEUE_DESC_LO = 0x080, REG_QUEUE_DESC_HI = 0x084,
	REG_QUEUE_DRIVER_LO = 0x090, REG_QUEUE_DRIVER_HI = 0x094,
	REG_QUEUE_DEVICE_LO = 0x0a0, REG_QUEUE_DEVICE_HI = 0x0a4,
	REG_SHM_SEL = 0x0ac, REG_SHM_LEN_LO = 0x0b0, REG_SHM_LEN_HI = 0x0b4,
	REG_SHM_BASE_LO = 0x0b8, REG_SHM_BASE_HI = 0x0bc,
	REG_CONFIG_GEN = 0x0fc,
};
#define MMIO_MAGIC 0x74726976 /* "virt" */
#define MMIO_VENDOR 0x4d564d55 /* "UMVM" */

/* Offered by every device: modern interface, indirect chains, EVENT_IDX. */
#define TRANSPORT_FEATURES                                                           \
	(1ULL << VIRTIO_F_VERSION_1 | 1ULL << VIRTIO_F_INDIRECT_DESC |               \
	 1ULL << VIRTIO_F_EVENT_IDX)

bool virtio_running(const struct virtio_dev *d)
{
	return (d->status & VIRTIO_STATUS_DRIVER_OK) && !(d->status & VIRTIO_STATUS_NEEDS_RESET);
}

static void virtio_irq(struct virtio_dev *d, unsigned bit)
{
	atomic_fetch_or(&d->isr, bit);
	uint64_t one = 1;
	if (write(d->irqfd, &one, sizeof(one)) < 0)
		log_debug("%s: irqfd: %m", d->name);
}

void virtio_used(struct virtio_dev *d, unsigned q)
{
	struct vq *vq = &d->vq[q];
	pthread_mutex_lock(&vq->lock);
	bool tell = vq_should_notify(vq);
	pthread_mutex_unlock(&vq->lock);
	if (tell)
		virtio_irq(d, VIRTIO_MMIO_INT_USED);
}

void virtio_needs_reset(struct virtio_dev *d, const char *why)
{
	if (d->status & VIRTIO_STATUS_NEEDS_RESET)
		return;
	log_warn("%s: %s; device needs reset", d->name, why);
	d->status |= VIRTIO_STATUS_NEEDS_RESET;
	for (unsigned i = 0; i < d->nqueues; i++) {
		pthread_mutex_lock(&d->vq[i].lock);
		d->vq[i].ready = false;
		pthread_mutex_unlock(&d->vq[i].lock);
	}
	/* 2.1.2: with DRIVER_OK set, say so with a config change notification. */
	if (d->status & VIRTIO_STATUS_DRIVER_OK)
		virtio_irq(d, VIRTIO_MMIO_INT_CONFIG);
}

static void virtio_reset(struct virtio_dev *d)
{
	d->status = 0;
	d->dev_sel = d->drv_sel = d->queue_sel = 0;
	d->driver_features = 0;
	atomic_store(&d->isr, 0);
	for (unsigned i = 0; i < d->nqueues; i++) {
		pthread_mutex_lock(&d->vq[i].lock);
		vq_reset(&d->vq[i]);
		pthread_mutex_unlock(&d->vq[i].lock);
	}
	if (d->ops->reset)
		d->ops->reset(d);
}

static void kick(struct virtio_dev *d, uint32_t q)
{
	uint64_t one = 1;
	if (q < d->nqueues && write(d->kick[q], &one, sizeof(one)) < 0)
		log_debug("%s: kick: %m", d->name);
}

static bool on_vcpu(const struct virtio_dev *d, uint32_t q)
{
	return q < 32 && (d->ops->vcpu_queues & (1u << q));
}

/* The driver notified q (a register write or DRIVER_OK); d->lock held. */
static void queue_notify(struct virtio_dev *d, uint32_t q)
{
	if (!on_vcpu(d, q))
		kick(d, q);
	else if (q < d->nqueues && virtio_running(d) && d->vq[q].ready)
		d->ops->notify(d, q);
}

/* 3.1.1: FEATURES_OK sticks only if the driver took a subset of what was
 * offered, including VERSION_1 (this is a modern-only device). */
static bool features_ok(const struct virtio_dev *d)
{
	return !(d->driver_features & ~d->features) &&
	       (d->driver_features & (1ULL << VIRTIO_F_VERSION_1));
}

static void status_write(struct virtio_dev *d, uint32_t v)
{
	if (v == 0) {
		virtio_reset(d);
		return;
	}
	uint32_t added = v & ~d->status;
	if ((added & VIRTIO_STATUS_FEATURES_OK) && !features_ok(d)) {
		log_warn("%s: driver accepted features 0x%llx, offered 0x%llx", d->name,
			 (unsigned long long)d->driver_features, (unsigned long long)d->features);
		v &= ~VIRTIO_STATUS_FEATURES_OK;
	}
	/* 3.1.1: DRIVER_OK comes after FEATURES_OK stuck; until then the
	 * features, and so the queues' formats, are not settled. */
	if ((v & VIRTIO_STATUS_DRIVER_OK) && !((d->status | v) & VIRTIO_STATUS_FEATURES_OK)) {
		log_guest_once(&d->warned_order, "%s: DRIVER_OK without FEATURES_OK ignored",
			       d->name);
		v &= ~VIRTIO_STATUS_DRIVER_OK;
		added &= ~VIRTIO_STATUS_DRIVER_OK;
	}
	/* 2.1.2: the driver never clears bits; NEEDS_RESET is ours to set. */
	d->status |= v & (VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FAILED |
			  VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
	/* Buffers queued (and kicks ignored) before DRIVER_OK: look now. */
	if (added & VIRTIO_STATUS_DRIVER_OK)
		for (unsigned q = 0; q < d->nqueues; q++)
			queue_notify(d, q);
}

static void queue_ready(struct virtio_dev *d, struct vq *vq, uint32_t v)
{
	pthread_mutex_lock(&vq->lock);
	if (!v) {
		/* The driver takes its buffers back: completions still in
		 * flight carry the old generation and are dropped, as after a
		 * reset, instead of landing in the ring set up next. */
		vq->ready = false;
		vq->gen++;
	} else if (!vq->ready) {
		vq->event_idx = d->driver_features & (1ULL << VIRTIO_F_EVENT_IDX);
		vq->indirect = d->driver_features & (1ULL << VIRTIO_F_INDIRECT_DESC);
		vq->ready = vq_setup(vq) == 0;
	}
	bool bad = v && !vq->ready;
	pthread_mutex_unlock(&vq->lock);
	/* 4.2.2.2: QueueNum <= QueueNumMax; 2.7: rings aligned and in memory. */
	if (bad)
		virtio_needs_reset(d, "queue size or ring addresses invalid");
}

static void set_half(uint64_t *x, bool high, uint32_t v)
{
	*x = high ? (*x & 0xffffffffULL) | (uint64_t)v << 32 : (*x & ~0xffffffffULL) | v;
}

/* Registers of the selected queue; ignored while it is live (4.2.2.2). */
static void queue_write(struct virtio_dev *d, uint64_t off, uint32_t v)
{
	if (d->queue_sel >= d->nqueues)
		return;
	struct vq *vq = &d->vq[d->queue_sel];
	if (off == REG_QUEUE_READY && v && !(d->status & VIRTIO_STATUS_FEATURES_OK)) {
		/* 3.1.1: queues are set up after FEATURES_OK, which fixes the
		 * ring features (EVENT_IDX, INDIRECT_DESC) read at QueueReady;
		 * ignored, QueueReady reads back 0. */
		log_guest_once(&d->warned_order, "%s: QueueReady before FEATURES_OK ignored",
			       d->name);
		return;
	}
	if (off == REG_QUEUE_READY) {
		queue_ready(d, vq, v);
		return;
	}
	if (vq->ready)
		return;
	switch (off) {
	case REG_QUEUE_NUM: vq->size = v > 0xffff ? 0 : v; break;
	case REG_QUEUE_DESC_LO: case REG_QUEUE_DESC_HI:
		set_half(&vq->desc_gpa, off == REG_QUEUE_DESC_HI, v); break;
	case REG_QUEUE_DRIVER_LO: case REG_QUEUE_DRIVER_HI:
		set_half(&vq->avail_gpa, off == REG_QUEUE_DRIVER_HI, v); break;
	case REG_QUEUE_DEVICE_LO: case REG_QUEUE_DEVICE_HI:
		set_half(&vq->used_gpa, off == REG_QUEUE_DEVICE_HI, v); break;
	}
}

static void reg_write(struct virtio_dev *d, uint64_t off, uint32_t v)
{
	switch (off) {
	case REG_DEV_FEATURES_SEL: d->dev_sel = v; break;
	case REG_DRV_FEATURES_SEL: d->drv_sel = v; break;
	case REG_DRV_FEATURES:
		/* 2.2.2: features are fixed once FEATURES_OK is set. */
		if (d->drv_sel < 2 && !(d->status & VIRTIO_STATUS_FEATURES_OK))
			set_half(&d->driver_features, d->drv_sel == 1, v);
		break;
	case REG_QUEUE_SEL: d->queue_sel = v; break;
	case REG_QUEUE_NOTIFY: queue_notify(d, v); break;
	case REG_INT_ACK: atomic_fetch_and(&d->isr, ~v); break;
	case REG_STATUS: status_write(d, v); break;
	case REG_SHM_SEL: break;
	default: queue_write(d, off, v); break;
	}
}

static uint32_t queue_read(const struct virtio_dev *d, uint64_t off)
{
	if (d->queue_sel >= d->nqueues)
		return 0; /* 4.2.2: QueueNumMax 0 means "no such queue" */
	const struct vq *vq = &d->vq[d->queue_sel];
	switch (off) {
	case REG_QUEUE_NUM_MAX: return VQ_MAX_SIZE;
	case REG_QUEUE_NUM: return vq->size;
	case REG_QUEUE_READY: return vq->ready;
	case REG_QUEUE_DESC_LO: return (uint32_t)vq->desc_gpa;
	case REG_QUEUE_DESC_HI: return vq->desc_gpa >> 32;
	case REG_QUEUE_DRIVER_LO: return (uint32_t)vq->avail_gpa;
	case REG_QUEUE_DRIVER_HI: return vq->avail_gpa >> 32;
	case REG_QUEUE_DEVICE_LO: return (uint32_t)vq->used_gpa;
	case REG_QUEUE_DEVICE_HI: return vq->used_gpa >> 32;
	}
	return 0;
}

static uint32_t reg_read(struct virtio_dev *d, uint64_t off)
{
	switch (off) {
	case REG_MAGIC: return MMIO_MAGIC;
	case REG_VERSION: return 2;
	case REG_DEVICE_ID: return d->device_id;
	case REG_VENDOR_ID: return MMIO_VENDOR;
	case REG_DEV_FEATURES:
		return d->dev_sel < 2 ? (uint32_t)(d->features >> (32 * d->dev_sel)) : 0;
	case REG_INT_STATUS: return atomic_load(&d->isr);
	case REG_STATUS: return d->status;
	case REG_CONFIG_GEN: return d->config_gen;
	/* 4.2.2: a shared memory region that does not exist has length -1. */
	case REG_SHM_LEN_LO: case REG_SHM_LEN_HI:
	case REG_SHM_BASE_LO: case REG_SHM_BASE_HI: return 0xffffffff;
	}
	return queue_read(d, off);
}

/* 4.2.2.2: the driver uses aligned 32-bit accesses for the registers; the
 * config space takes any width within its bounds. */
static bool access_ok(struct virtio_dev *d, uint64_t off, unsigned len)
{
	bool ok;
	if (off < VIRTIO_MMIO_CONFIG)
		ok = len == 4 && !(off & 3);
	else
		ok = off - VIRTIO_MMIO_CONFIG <= d->config_len &&
		     len <= d->config_len - (off - VIRTIO_MMIO_CONFIG);
	if (!ok)
		log_guest_once(&d->warned_access, "%s: ignored %u-byte access at offset 0x%llx",
			       d->name, len, (unsigned long long)off);
	return ok;
}

void virtio_mmio_read(void *opaque, uint64_t off, void *data, unsigned len)
{
	struct virtio_dev *d = opaque;
	memset(data, 0, len);
	pthread_mutex_lock(&d->lock);
	if (access_ok(d, off, len)) {
		if (off >= VIRTIO_MMIO_CONFIG) {
			memcpy(data, d->config + off - VIRTIO_MMIO_CONFIG, len);
		} else {
			uint32_t v = reg_read(d, off);
			memcpy(data, &v, 4);
		}
	}
	pthread_mutex_unlock(&d->lock);
}

void virtio_mmio_write(void *opaque, uint64_t off, const void *data, unsigned len)
{
	struct virtio_dev *d = opaque;
	pthread_mutex_lock(&d->lock);
	/* The config spaces of our devices have no writable fields. */
	if (off < VIRTIO_MMIO_CONFIG && access_ok(d, off, len)) {
		uint32_t v;
		memcpy(&v, data, 4);
		reg_write(d, off, v);
	}
	pthread_mutex_unlock(&d->lock);
}

/* Event loop: the driver notified a queue. */
static void on_kick(void *opaque, int fd, uint32_t events)
{
	struct virtio_dev *d = opaque;
	uint64_t n;
	(void)events;
	if (read(fd, &n, sizeof(n)) < 0)
		return;
	pthread_mutex_lock(&d->lock);
	for (unsigned q = 0; q < d->nqueues; q++)
		if (d->kick[q] == fd && virtio_running(d) && d->vq[q].ready)
			d->ops->notify(d, q);
	pthread_mutex_unlock(&d->lock);
}

/* Eventfds for the kicks and the interrupt, wired into KVM when there is
 * one. A KVM that cannot take an MMIO ioeventfd still works: the register
 * write above signals the same eventfd. */
static int wire_eventfds(struct virtio_dev *d)
{
	struct vm *vm = d->vm;
	d->irqfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (d->irqfd < 0) {
		log_error("%s: eventfd: %m", d->name);
		return -EMFILE;
	}
	int r = vm->vm_fd >= 0 ? vm_irqfd(vm, d->irq, d->irqfd) : 0;
	if (r < 0) {
		log_error("%s: cannot wire interrupt %u (KVM_IRQFD): %s", d->name, d->irq,
			  strerror(-r));
		return r;
	}
	for (unsigned q = 0; q < d->nqueues; q++) {
		if (on_vcpu(d, q))
			continue; /* served in the register write: no kick eventfd */
		d->kick[q] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (d->kick[q] < 0) {
			log_error("%s: eventfd: %m", d->name);
			return -EMFILE;
		}
		if (vm->vm_fd >= 0 &&
		    vm_ioeventfd(vm, d->base + VIRTIO_MMIO_QUEUE_NOTIFY, 4, q, d->kick[q]) < 0)
			log_debug("%s: no ioeventfd for queue %u: %m", d->name, q);
		r = vm->el ? el_add_fd(vm->el, d->kick[q], EPOLLIN, on_kick, d) : 0;
		if (r < 0) {
			log_error("%s: event loop: %s", d->name, strerror(-r));
			return r;
		}
	}
	return 0;
}

/* Every device, for snapshots (slots are handed out in this order). */
#define MAX_DEVS 32
static struct virtio_dev *devs[MAX_DEVS];

struct virtio_dev *virtio_mmio_dev(unsigned i)
{
	return i < MAX_DEVS ? devs[i] : NULL;
}

static void remember(struct virtio_dev *d, bool add)
{
	unsigned i = 0;
	while (i < MAX_DEVS && devs[i] != (add ? NULL : d))
		i++;
	if (i == MAX_DEVS)
		return;
	if (add) {
		devs[i] = d;
		return;
	}
	memmove(devs + i, devs + i + 1, (MAX_DEVS - i - 1) * sizeof(devs[0]));
	devs[MAX_DEVS - 1] = NULL;
}

static int place(struct virtio_dev *d)
{
	struct vm *vm = d->vm;
	if (vm->virtio_slots >= arch_devices.mmio_slots) {
		log_error("%s: too many virtio devices (at most %u)", d->name,
			  arch_devices.mmio_slots);
		return -ENOSPC;
	}
	unsigned slot = vm->virtio_slots++;
	d->base = arch_devices.mmio_base + slot * arch_devices.mmio_stride;
	d->irq = arch_devices.mmio_irq_base + slot;
	int r = bus_register(&vm->bus[BUS_MMIO], d->base, VIRTIO_MMIO_SIZE, virtio_mmio_read,
			     virtio_mmio_write, d, d->name);
	if (r == 0 && vm->vm_fd >= 0)
		r = arch_add_mmio_dev(vm, d->base, arch_devices.mmio_stride, d->irq);
	if (r < 0)
		log_error("%s: cannot place at 0x%llx: %s", d->name,
			  (unsigned long long)d->base, strerror(-r));
	return r;
}

struct virtio_dev *virtio_mmio_create(struct vm *vm, const char *name, uint32_t device_id,
				      uint64_t features, unsigned nqueues,
				      const struct virtio_ops *ops, void *priv,
				      void *config, uint32_t config_len)
{
	struct virtio_dev *d = calloc(1, sizeof(*d));
	if (!d || nqueues > VIRTIO_MAX_QUEUES) {
		free(d);
		return NULL;
	}
	*d = (struct virtio_dev){ .vm = vm, .ops = ops, .priv = priv, .name = name,
				  .device_id = device_id, .features = features | TRANSPORT_FEATURES,
				  .config = config, .config_len = config_len, .nqueues = nqueues,
				  .irqfd = -1 };
	pthread_mutex_init(&d->lock, NULL);
	for (unsigned q = 0; q < nqueues; q++) {
		vq_init(&d->vq[q], vm);
		d->kick[q] = -1;
	}
	int r = place(d);
	if (r == 0)
		r = wire_eventfds(d);
	if (r < 0)
		return NULL; /* what was registered lives until exit, like devices */
	log_debug("%s at 0x%llx, GSI %u", name, (unsigned long long)d->base, d->irq);
	remember(d, true);
	return d;
}

void virtio_mmio_free(struct virtio_dev *d)
{
	remember(d, false);
	if (d->ops->free)
		d->ops->free(d);
	for (unsigned q = 0; q < d->nqueues; q++)
		if (d->kick[q] >= 0)
			close(d->kick[q]);
	if (d->irqfd >= 0)
		close(d->irqfd);
	free(d);
}
