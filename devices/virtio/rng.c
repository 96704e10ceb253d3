/* rng.c - virtio entropy device (virtio 1.2 section 5.4): /dev/hwrng in the
 * guest, filled from the host's getrandom(). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "device.h"
#include "log.h"
#include "virtio.h"
#include "vm.h"

/* Fill the writable part of c; returns the bytes written. */
static uint32_t rng_fill(const struct vq_chain *c)
{
	uint32_t done = 0;
	for (unsigned i = c->nout; i < c->nout + c->nin; i++) {
		uint8_t *p = c->iov[i].iov_base;
		size_t left = c->iov[i].iov_len;
		while (left) {
			ssize_t n = getrandom(p, left, 0);
			if (n <= 0)
				return done;
			p += n;
			left -= n;
			done += n;
		}
	}
	return done;
}

static void rng_notify(struct virtio_dev *d, unsigned q)
{
	struct vq *vq = &d->vq[q];
	struct vq_chain *c = d->priv;
	pthread_mutex_lock(&vq->lock);
	int r;
	do {
		while ((r = vq_pop(vq, c)) != 0) {
			if (r == -EIO)
				break;
			/* 5.4.6.1: a bad request is returned empty. */
			vq_push(vq, c->head, r > 0 ? rng_fill(c) : 0);
		}
	} while (r == 0 && vq_enable_notify(vq));
	pthread_mutex_unlock(&vq->lock);
	if (r == -EIO)
		virtio_needs_reset(d, "available ring corrupt");
	virtio_used(d, q);
}

static void rng_free(struct virtio_dev *d)
{
	free(d->priv);
}

/* Each request is filled when it comes: nothing in flight to save. */
static const struct virtio_ops rng_ops = { .notify = rng_notify, .free = rng_free,
					   .save = virtio_save_none,
					   .restore = virtio_restore_none };

struct virtio_dev *virtio_rng_create(struct vm *vm)
{
	struct vq_chain *c = malloc(sizeof(*c));
	if (!c)
		return NULL;
	return virtio_mmio_create(vm, "virtio-rng", VIRTIO_ID_RNG, 0, 1, &rng_ops, c, NULL, 0);
}

static bool rng_enabled = true;

static int rng_parse(const char *v)
{
	if (strcmp(v, "on") && strcmp(v, "off")) {
		log_error("--rng %s: expected on or off", v);
		return -EINVAL;
	}
	rng_enabled = !strcmp(v, "on");
	return 0;
}

static int rng_setup(struct vm *vm)
{
	return !rng_enabled || virtio_rng_create(vm) ? 0 : -ENODEV;
}

DEVICE(virtio_rng, .name = "virtio-rng", .option = "rng",
       .usage = "--rng on|off     virtio-rng, /dev/hwrng from getrandom (default on)",
       .parse = rng_parse, .setup = rng_setup);
