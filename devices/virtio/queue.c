/* queue.c - split virtqueues (virtio 1.2 section 2.7), device side.
 *
 * Everything the driver wrote is read once into locals before it is checked
 * (the guest may change it concurrently), every index is bounded by the queue
 * size, and every buffer is resolved through vm_gpa_ptr(), so a hostile ring
 * can make a request fail but never reach memory outside guest RAM.
 */
#include <errno.h>
#include <string.h>

#include "virtio.h"
#include "vm.h"

#define AVAIL_FLAGS 0
#define AVAIL_IDX 1
#define AVAIL_RING 2
#define USED_IDX 1

void vq_init(struct vq *vq, const struct vm *vm)
{
	memset(vq, 0, sizeof(*vq));
	pthread_mutex_init(&vq->lock, NULL);
	vq->vm = vm;
	vq->size = VQ_MAX_SIZE;
}

void vq_reset(struct vq *vq)
{
	vq->ready = false;
	vq->size = VQ_MAX_SIZE;
	vq->desc_gpa = vq->avail_gpa = vq->used_gpa = 0;
	vq->desc = NULL;
	vq->avail = vq->used = NULL;
	vq->last_avail = vq->used_idx = vq->signalled = 0;
	vq->gen++;
}

int vq_setup(struct vq *vq)
{
	uint64_t n = vq->size;
	/* 2.7: split queue sizes are powers of 2; 2.7 alignment table:
	 * descriptors 16, available ring 2, used ring 4. */
	if (n == 0 || n > VQ_MAX_SIZE || (n & (n - 1)))
		return -EINVAL;
	if ((vq->desc_gpa & 15) || (vq->avail_gpa & 1) || (vq->used_gpa & 3))
		return -EINVAL;
	void *d = vm_gpa_ptr(vq->vm, vq->desc_gpa, 16 * n);
	void *a = vm_gpa_ptr(vq->vm, vq->avail_gpa, 6 + 2 * n);
	void *u = vm_gpa_ptr(vq->vm, vq->used_gpa, 6 + 8 * n);
	if (!d || !a || !u)
		return -EINVAL;
	vq->desc = d;
	vq->avail = a;
	vq->used = u;
	vq->last_avail = vq->used_idx = vq->signalled = 0;
	return 0;
}

static volatile struct vq_used_elem *used_ring(struct vq *vq)
{
	return (volatile struct vq_used_elem *)(vq->used + 2);
}

/* Walk state: the table being followed (the ring's or an indirect one). */
struct walk {
	const uint8_t *table; /* bytes: an indirect table may be unaligned */
	uint32_t n;     /* entries in table */
	uint32_t steps; /* descriptors followed in this table */
	bool in_indirect;
};

static int chain_add(const struct vq *vq, struct vq_chain *c, const struct vq_desc *d)
{
	bool wr = d->flags & VQ_DESC_F_WRITE;
	/* 2.7.4.2: device-writable buffers come after all readable ones. */
	if (!wr && c->nin)
		return -EBADMSG;
	if (c->nout + c->nin >= VQ_MAX_CHAIN)
		return -EBADMSG;
	uint32_t *total = wr ? &c->in_len : &c->out_len;
	/* 2.7.5.1: a chain is never longer than 2^32 bytes in total. */
	if (d->len > UINT32_MAX - c->in_len - c->out_len)
		return -EBADMSG;
	void *p = vm_gpa_ptr(vq->vm, d->addr, d->len);
	if (!p)
		return -EBADMSG;
	c->iov[c->nout + c->nin] = (struct iovec){ p, d->len };
	*total += d->len;
	if (wr)
		c->nin++;
	else
		c->nout++;
	return 0;
}

/* Switch the walk to the indirect table d points at (2.7.5.3.1). */
static int enter_indirect(const struct vq *vq, struct walk *w, const struct vq_desc *d)
{
	if (!vq->indirect || w->in_indirect || (d->flags & VQ_DESC_F_NEXT))
		return -EBADMSG;
	/* 2.7.5.3.1: whole descriptors; unlike the ring's table (2.7), an
	 * indirect one has no alignment requirement. */
	if (d->len == 0 || d->len % sizeof(struct vq_desc))
		return -EBADMSG;
	w->table = vm_gpa_ptr(vq->vm, d->addr, d->len);
	if (!w->table)
		return -EBADMSG;
	w->n = d->len / sizeof(struct vq_desc);
	w->steps = 0;
	w->in_indirect = true;
	return 0;
}

/* Copy descriptor idx out of the table once (the driver may rewrite it
 * meanwhile), bytewise since the table may be unaligned; the barrier keeps
 * the compiler from reading guest memory again instead of the copy. */
static struct vq_desc desc_copy(const struct walk *w, uint32_t idx)
{
	struct vq_desc d;
	memcpy(&d, w->table + (size_t)idx * sizeof(d), sizeof(d));
	__asm__ volatile("" ::: "memory");
	return d;
}

static int chain_walk(const struct vq *vq, struct vq_chain *c)
{
	struct walk w = { (const uint8_t *)vq->desc, vq->size, 0, false };
	uint32_t idx = c->head;
	for (;;) {
		/* Bounding the steps by the table size rejects loops
		 * (2.7.5.1) and chains longer than the queue (2.7.5.3.1). */
		if (idx >= w.n || ++w.steps > w.n)
			return -EBADMSG;
		struct vq_desc d = desc_copy(&w, idx);
		int r;
		if (d.flags & VQ_DESC_F_INDIRECT) {
			if ((r = enter_indirect(vq, &w, &d)) < 0)
				return r;
			idx = 0;
			continue;
		}
		if ((r = chain_add(vq, c, &d)) < 0)
			return r;
		if (!(d.flags & VQ_DESC_F_NEXT))
			return 0;
		idx = d.next;
	}
}

int vq_pop(struct vq *vq, struct vq_chain *c)
{
	if (!vq->ready)
		return 0;
	uint16_t avail_idx = __atomic_load_n(&vq->avail[AVAIL_IDX], __ATOMIC_ACQUIRE);
	uint16_t pending = avail_idx - vq->last_avail;
	if (pending == 0)
		return 0;
	/* 2.7.6: the driver never has more than size buffers outstanding. */
	if (pending > vq->size)
		return -EIO;
	uint16_t head = vq->avail[AVAIL_RING + (vq->last_avail & (vq->size - 1))];
	/* 2.7.6: ring entries are heads of chains in the descriptor table. */
	if (head >= vq->size)
		return -EIO;
	vq->last_avail++;
	c->head = head;
	c->nout = c->nin = 0;
	c->out_len = c->in_len = 0;
	int r = chain_walk(vq, c);
	if (r < 0) {
		vq->bad_chains++;
		return r;
	}
	return 1;
}

void vq_unpop(struct vq *vq)
{
	vq->last_avail--;
}

void vq_push(struct vq *vq, uint16_t head, uint32_t len)
{
	if (!vq->ready)
		return;
	volatile struct vq_used_elem *e = &used_ring(vq)[vq->used_idx & (vq->size - 1)];
	e->id = head;
	e->len = len;
	vq->used_idx++;
	/* 2.7.8: the element is visible before the index that publishes it. */
	__atomic_store_n(&vq->used[USED_IDX], vq->used_idx, __ATOMIC_RELEASE);
}

bool vq_should_notify(struct vq *vq)
{
	if (!vq->ready)
		return false;
	/* Order the used index store before reading the driver's wishes. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	uint16_t old = vq->signalled, now = vq->used_idx;
	if (old == now)
		return false;
	vq->signalled = now;
	if (!vq->event_idx)
		return !(vq->avail[AVAIL_FLAGS] & VQ_AVAIL_F_NO_INTERRUPT);
	/* 2.7.7.2: interrupt when used_event lies in [old, now). */
	uint16_t used_event = vq->avail[AVAIL_RING + vq->size];
	return (uint16_t)(now - used_event - 1) < (uint16_t)(now - old);
}

bool vq_enable_notify(struct vq *vq)
{
	if (!vq->ready)
		return false;
	if (vq->event_idx)
		vq->used[2 + 4 * vq->size] = vq->last_avail; /* avail_event, 2.7.10 */
	/* Publish our wish before looking again, or a kick could be lost. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return __atomic_load_n(&vq->avail[AVAIL_IDX], __ATOMIC_ACQUIRE) != vq->last_avail;
}

static void cursor_init(struct vq_cursor *cur, const struct iovec *iov, unsigned n, size_t len)
{
	*cur = (struct vq_cursor){ .iov = iov, .n = n, .left = len };
}

void vq_reader(struct vq_cursor *cur, const struct vq_chain *c)
{
	cursor_init(cur, c->iov, c->nout, c->out_len);
}

void vq_writer(struct vq_cursor *cur, const struct vq_chain *c)
{
	cursor_init(cur, c->iov + c->nout, c->nin, c->in_len);
}

/* Advance by up to len bytes within the current iovec; returns its host
 * pointer and the span. */
static uint8_t *cursor_span(struct vq_cursor *cur, size_t len, size_t *span)
{
	while (cur->i < cur->n && cur->off == cur->iov[cur->i].iov_len) {
		cur->i++;
		cur->off = 0;
	}
	if (cur->i == cur->n) {
		*span = 0;
		return NULL;
	}
	size_t room = cur->iov[cur->i].iov_len - cur->off;
	uint8_t *p = (uint8_t *)cur->iov[cur->i].iov_base + cur->off;
	*span = len < room ? len : room;
	cur->off += *span;
	cur->left -= *span;
	return p;
}

size_t vq_read(struct vq_cursor *cur, void *buf, size_t len)
{
	size_t done = 0, span;
	uint8_t *p;
	while (done < len && (p = cursor_span(cur, len - done, &span))) {
		memcpy((uint8_t *)buf + done, p, span);
		done += span;
	}
	return done;
}

size_t vq_write(struct vq_cursor *cur, const void *buf, size_t len)
{
	size_t done = 0, span;
	uint8_t *p;
	while (done < len && (p = cursor_span(cur, len - done, &span))) {
		memcpy(p, (const uint8_t *)buf + done, span);
		done += span;
	}
	return done;
}

unsigned vq_take(struct vq_cursor *cur, size_t len, struct iovec *out, unsigned max)
{
	unsigned n = 0;
	size_t span;
	uint8_t *p;
	while (len && n < max && (p = cursor_span(cur, len, &span))) {
		out[n++] = (struct iovec){ p, span };
		len -= span;
	}
	return n;
}

size_t vq_skip(struct vq_cursor *cur, size_t len)
{
	size_t done = 0, span;
	while (done < len && cursor_span(cur, len - done, &span))
		done += span;
	return done;
}
