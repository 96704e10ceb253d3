/* snapshot.c - the virtio-mmio transport in a snapshot: for each device in
 * slot order its registers, its queues (addresses, size, ready, ring
 * indices) and then its model's own state (virtio_ops save/restore). A
 * model without save makes `snapshot` refuse, naming it.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "snapshot.h"
#include "virtio.h"
#include "vm.h"

int virtio_save_none(struct virtio_dev *d, struct snap_buf *b, const char *dir, char *why,
		     size_t len)
{
	(void)d, (void)b, (void)dir, (void)why, (void)len;
	return 0;
}

int virtio_restore_none(struct virtio_dev *d, struct snap_reader *r, const char *dir)
{
	(void)d, (void)r, (void)dir;
	return 0;
}

static int mmio_refuse(struct vm *vm, char *why, size_t len)
{
	(void)vm;
	struct virtio_dev *d;
	for (unsigned i = 0; (d = virtio_mmio_dev(i)); i++) {
		if (!d->ops->save) {
			snprintf(why, len, "%s: its state cannot be saved yet; expected no such "
				 "device in a VM to snapshot", d->name);
			return -ENOTSUP;
		}
	}
	return 0;
}

static int mmio_quiesce(struct vm *vm, char *why, size_t len)
{
	(void)vm;
	struct virtio_dev *d;
	for (unsigned i = 0; (d = virtio_mmio_dev(i)); i++) {
		int r = d->ops->quiesce ? d->ops->quiesce(d, why, len) : 0;
		if (r < 0)
			return r;
	}
	return 0;
}

static void save_vq(struct snap_buf *b, struct vq *vq)
{
	pthread_mutex_lock(&vq->lock);
	snap_put_u32(b, vq->size);
	snap_put_u32(b, vq->ready | vq->event_idx << 1 | vq->indirect << 2);
	snap_put_u64(b, vq->desc_gpa);
	snap_put_u64(b, vq->avail_gpa);
	snap_put_u64(b, vq->used_gpa);
	snap_put_u32(b, vq->last_avail | (uint32_t)vq->used_idx << 16);
	snap_put_u32(b, vq->signalled);
	pthread_mutex_unlock(&vq->lock);
}

static int mmio_save(struct vm *vm, struct snap_buf *b, const char *dir, char *why, size_t len)
{
	(void)vm;
	struct virtio_dev *d;
	unsigned n = 0;
	while (virtio_mmio_dev(n))
		n++;
	snap_put_u32(b, n);
	for (unsigned i = 0; (d = virtio_mmio_dev(i)); i++) {
		pthread_mutex_lock(&d->lock);
		snap_put_u32(b, d->device_id);
		snap_put_u32(b, d->nqueues);
		snap_put_u32(b, d->status);
		snap_put_u32(b, d->dev_sel);
		snap_put_u32(b, d->drv_sel);
		snap_put_u32(b, d->queue_sel);
		snap_put_u32(b, d->config_gen);
		snap_put_u64(b, d->driver_features);
		snap_put_u32(b, atomic_load(&d->isr));
		for (unsigned q = 0; q < d->nqueues; q++)
			save_vq(b, &d->vq[q]);
		int r = d->ops->save(d, b, dir, why, len);
		pthread_mutex_unlock(&d->lock);
		if (r < 0)
			return r;
	}
	return 0;
}

/* The rings are in the restored RAM: check them as QueueReady does. */
static int restore_vq(struct virtio_dev *d, struct vq *vq, struct snap_reader *r,
		      const char *dir)
{
	vq->size = snap_get_u32(r);
	uint32_t flags = snap_get_u32(r);
	vq->desc_gpa = snap_get_u64(r);
	vq->avail_gpa = snap_get_u64(r);
	vq->used_gpa = snap_get_u64(r);
	uint32_t idx = snap_get_u32(r);
	uint32_t signalled = snap_get_u32(r);
	vq->event_idx = flags & 2;
	vq->indirect = flags & 4;
	vq->ready = false;
	if (!r->bad && (flags & 1) && vq_setup(vq) < 0) {
		log_error("--restore %s: state: %s: bad queue: expected rings inside guest RAM",
			  dir, d->name);
		return -1;
	}
	/* After vq_setup, which starts a queue at index 0. */
	vq->last_avail = idx & 0xffff;
	vq->used_idx = idx >> 16;
	vq->signalled = signalled;
	vq->ready = !r->bad && (flags & 1);
	return 0;
}

/* A kick or interrupt the saving run had not delivered yet is not in the
 * snapshot: look at every queue once, and repeat a pending interrupt (the
 * driver reads InterruptStatus and ignores it if there is nothing). */
static void restart(struct virtio_dev *d)
{
	uint64_t one = 1;
	for (unsigned q = 0; virtio_running(d) && q < d->nqueues; q++) {
		if (d->kick[q] >= 0 && write(d->kick[q], &one, sizeof(one)) < 0)
			log_debug("%s: kick: %m", d->name);
		else if (d->kick[q] < 0 && d->vq[q].ready)
			d->ops->notify(d, q);
	}
	if (atomic_load(&d->isr) && write(d->irqfd, &one, sizeof(one)) < 0)
		log_debug("%s: irqfd: %m", d->name);
}

static int restore_dev(struct virtio_dev *d, struct snap_reader *r, const char *dir)
{
	uint32_t id = snap_get_u32(r), nq = snap_get_u32(r);
	if (r->bad || id != d->device_id || nq != d->nqueues) {
		log_error("--restore %s: %s: saved as virtio device type %u: expected the same "
			  "devices in the same order", dir, d->name, id);
		return -1;
	}
	d->status = snap_get_u32(r);
	d->dev_sel = snap_get_u32(r);
	d->drv_sel = snap_get_u32(r);
	d->queue_sel = snap_get_u32(r);
	d->config_gen = snap_get_u32(r);
	d->driver_features = snap_get_u64(r);
	atomic_store(&d->isr, snap_get_u32(r));
	for (unsigned q = 0; q < d->nqueues; q++)
		if (restore_vq(d, &d->vq[q], r, dir) < 0)
			return -1;
	if (r->bad || d->ops->restore(d, r, dir) < 0)
		return -1;
	restart(d);
	return 0;
}

static int mmio_restore(struct vm *vm, struct snap_reader *r, const char *dir)
{
	(void)vm;
	struct virtio_dev *d;
	unsigned n = 0;
	while (virtio_mmio_dev(n))
		n++;
	uint32_t saved = snap_get_u32(r);
	if (saved != n) {
		log_error("--restore %s: %u virtio devices: expected %u, as saved", dir, n, saved);
		return -1;
	}
	for (unsigned i = 0; (d = virtio_mmio_dev(i)); i++) {
		if (!d->ops->restore) {
			log_error("--restore %s: %s: cannot be restored", dir, d->name);
			return -1;
		}
		pthread_mutex_lock(&d->lock);
		int rr = restore_dev(d, r, dir);
		pthread_mutex_unlock(&d->lock);
		if (rr < 0)
			return -1;
	}
	return 0;
}

SNAPSHOT_SECTION(virtio_mmio, .name = "virtio-mmio", .refuse = mmio_refuse,
		 .quiesce = mmio_quiesce, .save = mmio_save, .restore = mmio_restore);
