/* 9p.c - virtio 9P transport (virtio 1.2 section 5.11 is a placeholder;
 * the layout is QEMU's and Linux's 9pnet_virtio): one request queue, each
 * chain one T-message (readable) and room for its R-message (writable).
 *
 * The event loop pops chains, notes them with the server in arrival order
 * (for Tflush) and hands them to worker threads, which run the server and
 * complete chains in whatever order they finish, like virtio-blk.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "device.h"
#include "log.h"
#include "p9.h"
#include "snapshot.h"
#include "virtio.h"
#include "vm.h"

#define P9_WORKERS 4
#define P9_F_MOUNT_TAG 0
#define P9_TAG_MAX 64

struct p9_config {
	uint16_t tag_len;
	char tag[P9_TAG_MAX];
} __attribute__((packed));

struct p9dev_req {
	struct p9dev_req *next;
	unsigned gen;
	struct p9_req p;
	struct vq_chain c;
};

struct p9dev {
	struct virtio_dev *dev;
	struct p9_server *srv;
	struct p9_config cfg;
	pthread_mutex_t lock; /* job queue and free list */
	pthread_cond_t cond;
	struct p9dev_req *jobs, **jobs_tail, *free;
	bool starved, stop;
	pthread_t workers[P9_WORKERS];
	unsigned nworkers;
	bool privileged; /* P9_PRIVILEGED: its workers keep more capabilities */
	unsigned flags;  /* P9_ flags of the share, which a restore must repeat */
	struct p9dev_req *reqs;
};

static void p9dev_put_req(struct p9dev *p, struct p9dev_req *r)
{
	pthread_mutex_lock(&p->lock);
	r->next = p->free;
	p->free = r;
	pthread_mutex_unlock(&p->lock);
}

static void p9dev_complete(struct p9dev *p, struct p9dev_req *r, uint32_t len)
{
	struct virtio_dev *d = p->dev;
	struct vq *vq = &d->vq[0];
	pthread_mutex_lock(&vq->lock);
	if (r->gen == vq->gen)
		vq_push(vq, r->c.head, len);
	pthread_mutex_unlock(&vq->lock);
	/* Only now may a Tflush waiting on this request be answered. */
	p9_end(p->srv, &r->p);
	virtio_used(d, 0);
	pthread_mutex_lock(&p->lock);
	r->next = p->free;
	p->free = r;
	bool starved = p->starved;
	p->starved = false;
	pthread_mutex_unlock(&p->lock);
	if (starved) /* chains wait in the ring: have the event loop look again */
		virtio_mmio_write(d, VIRTIO_MMIO_QUEUE_NOTIFY, &(uint32_t){ 0 }, 4);
}

static void *p9dev_worker(void *arg)
{
	struct p9dev *p = arg;
	vm_sandbox_enter(p->privileged ? VM_THREAD_9P_PRIVILEGED : VM_THREAD_9P);
	pthread_mutex_lock(&p->lock);
	for (;;) {
		while (!p->jobs && !p->stop)
			pthread_cond_wait(&p->cond, &p->lock);
		if (p->stop)
			break;
		struct p9dev_req *r = p->jobs;
		p->jobs = r->next;
		if (!p->jobs)
			p->jobs_tail = &p->jobs;
		pthread_mutex_unlock(&p->lock);
		p9dev_complete(p, r, p9_handle(p->srv, &r->p));
		pthread_mutex_lock(&p->lock);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

static struct p9dev_req *p9dev_get_req(struct p9dev *p)
{
	pthread_mutex_lock(&p->lock);
	struct p9dev_req *r = p->free;
	if (r)
		p->free = r->next;
	else
		p->starved = true;
	pthread_mutex_unlock(&p->lock);
	return r;
}

static void p9dev_submit(struct p9dev *p, struct p9dev_req *r)
{
	r->p = (struct p9_req){ .in = r->c.iov, .nin = r->c.nout,
				.out = r->c.iov + r->c.nout, .nout = r->c.nin };
	p9_begin(p->srv, &r->p);
	pthread_mutex_lock(&p->lock);
	r->next = NULL;
	*p->jobs_tail = r;
	p->jobs_tail = &r->next;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

static void p9dev_notify(struct virtio_dev *d, unsigned q)
{
	struct p9dev *p = d->priv;
	struct vq *vq = &d->vq[q];
	struct p9dev_req *r = NULL;
	int got = 0;
	pthread_mutex_lock(&vq->lock);
	do {
		while ((r || (r = p9dev_get_req(p))) && (got = vq_pop(vq, &r->c)) != 0) {
			if (got == -EIO)
				break;
			if (got < 0) {
				log_guest_once(&vq->warned, "%s: malformed descriptor chain "
					       "returned empty", d->name);
				vq_push(vq, r->c.head, 0);
				continue;
			}
			r->gen = vq->gen;
			p9dev_submit(p, r);
			r = NULL;
		}
	} while (r && got == 0 && vq_enable_notify(vq));
	pthread_mutex_unlock(&vq->lock);
	if (r)
		p9dev_put_req(p, r);
	if (got == -EIO)
		virtio_needs_reset(d, "available ring corrupt");
	virtio_used(d, q);
}

static void p9dev_stop(struct p9dev *p)
{
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	for (unsigned i = 0; i < p->nworkers; i++)
		pthread_join(p->workers[i], NULL);
	p->nworkers = 0;
}

static void p9dev_free(struct virtio_dev *d)
{
	struct p9dev *p = d->priv;
	p9dev_stop(p);
	p9_server_free(p->srv);
	free(p->reqs);
	free(p);
}

/* Snapshots: requests in flight are finished first; the fid table goes in
 * as paths (devices/9p/snap.c). */
static int p9dev_quiesce(struct virtio_dev *d, char *why, size_t len)
{
	struct p9dev *p = d->priv;
	(void)why, (void)len;
	p9_wait_idle(p->srv);
	return 0;
}

static int p9dev_save(struct virtio_dev *d, struct snap_buf *b, const char *dir, char *why,
		      size_t len)
{
	struct p9dev *p = d->priv;
	(void)dir, (void)why, (void)len;
	snap_put_u32(b, p->flags);
	snap_put(b, &p->cfg, sizeof(p->cfg));
	return p9_server_save(p->srv, b);
}

/* The share's path may differ (its contents are read live); its tag and
 * mode may not. */
static int p9dev_restore(struct virtio_dev *d, struct snap_reader *r, const char *dir)
{
	struct p9dev *p = d->priv;
	struct p9_config cfg;
	uint32_t flags = snap_get_u32(r);
	snap_get(r, &cfg, sizeof(cfg));
	if (r->bad || flags != p->flags || memcmp(&cfg, &p->cfg, sizeof(cfg))) {
		log_error("--restore %s: %s: tag %.*s%s%s: expected tag %.*s%s%s, as saved", dir,
			  d->name, p->cfg.tag_len, p->cfg.tag,
			  p->flags & P9_READONLY ? ",readonly" : "",
			  p->flags & P9_PRIVILEGED ? ",privileged" : "",
			  cfg.tag_len < P9_TAG_MAX ? cfg.tag_len : P9_TAG_MAX, cfg.tag,
			  flags & P9_READONLY ? ",readonly" : "",
			  flags & P9_PRIVILEGED ? ",privileged" : "");
		return -1;
	}
	if (p9_server_load(p->srv, r) < 0) {
		log_error("--restore %s: %s: its fids do not load: expected a 9p state", dir,
			  d->name);
		return -1;
	}
	return 0;
}

/* notify only pops chains and queues them for the workers: it may run on
 * the vCPU (see vcpu_queues). */
static const struct virtio_ops p9dev_ops = { .notify = p9dev_notify, .free = p9dev_free,
					     .vcpu_queues = 1, .quiesce = p9dev_quiesce,
					     .save = p9dev_save, .restore = p9dev_restore };

static int p9dev_start(struct p9dev *p)
{
	p->reqs = calloc(VQ_MAX_SIZE, sizeof(*p->reqs));
	if (!p->reqs)
		return -ENOMEM;
	for (int i = VQ_MAX_SIZE - 1; i >= 0; i--) {
		p->reqs[i].next = p->free;
		p->free = &p->reqs[i];
	}
	for (; p->nworkers < P9_WORKERS; p->nworkers++) {
		int e = pthread_create(&p->workers[p->nworkers], NULL, p9dev_worker, p);
		if (e)
			return -e;
	}
	return 0;
}

/* A share of dir_fd with the server's P9_ flags. */
static struct virtio_dev *p9dev_create(struct vm *vm, const char *tag, int dir_fd, unsigned flags,
				       unsigned max_fids, const char *name)
{
	struct p9dev *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	size_t len = strlen(tag);
	p->cfg.tag_len = len < P9_TAG_MAX ? len : P9_TAG_MAX;
	memcpy(p->cfg.tag, tag, p->cfg.tag_len);
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	p->jobs_tail = &p->jobs;
	p->privileged = flags & P9_PRIVILEGED;
	p->flags = flags;
	p->srv = p9_server_new(dir_fd, flags, max_fids);
	int r = p->srv ? p9dev_start(p) : -errno;
	if (r < 0) {
		log_error("%s: %s", name, strerror(-r));
		p9dev_stop(p);
		p9_server_free(p->srv);
		free(p->reqs);
		free(p);
		return NULL;
	}
	p->dev = virtio_mmio_create(vm, name, VIRTIO_ID_9P, 1ULL << P9_F_MOUNT_TAG, 1, &p9dev_ops,
				    p, &p->cfg, sizeof(p->cfg.tag_len) + p->cfg.tag_len);
	return p->dev;
}

struct virtio_dev *virtio_9p_create(struct vm *vm, const char *tag, int dir_fd, bool readonly,
				    unsigned max_fids, const char *name)
{
	return p9dev_create(vm, tag, dir_fd, readonly ? P9_READONLY : 0, max_fids, name);
}

void virtio_9p_destroy(struct virtio_dev *d)
{
	p9dev_stop(d->priv);
}

/* --- --share tag=TAG,path=DIR[,readonly][,privileged] (repeatable) ------- */

#define MAX_SHARES 16

struct share_opt {
	char tag[P9_TAG_MAX + 1];
	char name[P9_TAG_MAX + 16];
	int fd;
	unsigned flags; /* P9_READONLY, P9_PRIVILEGED */
	struct virtio_dev *dev;
};
static struct share_opt shares[MAX_SHARES];
static int nshares;

static bool tag_ok(const char *t)
{
	size_t n = strlen(t);
	if (n == 0 || n > P9_TAG_MAX)
		return false;
	return strspn(t, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == n;
}

static int share_field(const char *v, char *f, struct share_opt *o, const char **path)
{
	if (!strncmp(f, "tag=", 4)) {
		if (!tag_ok(f + 4)) {
			log_error("--share %s: tag '%s': expected 1-%d characters from A-Z a-z "
				  "0-9 _ . -", v, f + 4, P9_TAG_MAX);
			return -EINVAL;
		}
		strcpy(o->tag, f + 4);
	} else if (!strncmp(f, "path=", 5) && f[5]) {
		*path = f + 5;
	} else if (!strcmp(f, "readonly") || !strcmp(f, "ro")) {
		o->flags |= P9_READONLY;
	} else if (!strcmp(f, "privileged")) {
		o->flags |= P9_PRIVILEGED;
	} else {
		log_error("--share %s: '%s': expected tag=TAG,path=DIR[,readonly][,privileged]", v,
			  f);
		return -EINVAL;
	}
	return 0;
}

static int share_open(const char *v, const char *path, struct share_opt *o)
{
	for (int i = 0; i < nshares; i++) {
		if (!strcmp(shares[i].tag, o->tag)) {
			log_error("--share %s: tag '%s' is already shared", v, o->tag);
			return -EINVAL;
		}
	}
	o->fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (o->fd < 0) {
		log_error("--share %s: %s: %m (expected a directory)", v, path);
		return -EINVAL;
	}
	return 0;
}

static int share_parse(const char *v)
{
	if (nshares == MAX_SHARES) {
		log_error("--share %s: at most %d shares", v, MAX_SHARES);
		return -EINVAL;
	}
	struct share_opt *o = &shares[nshares];
	*o = (struct share_opt){ .fd = -1 };
	char *copy = strdup(v);
	const char *path = NULL;
	int r = copy ? 0 : -ENOMEM;
	for (char *save, *f = copy ? strtok_r(copy, ",", &save) : NULL; f && r == 0;
	     f = strtok_r(NULL, ",", &save))
		r = share_field(v, f, o, &path);
	if (r == 0 && (!o->tag[0] || !path)) {
		log_error("--share %s: expected tag=TAG,path=DIR[,readonly][,privileged]", v);
		r = -EINVAL;
	}
	if (r == 0)
		r = share_open(v, path, o);
	free(copy);
	if (r < 0)
		return r;
	strcpy(o->name, "virtio-9p ");
	strcat(o->name, o->tag);
	nshares++;
	return 0;
}

/* Raise the soft fd limit to the hard one (and the hard one as far as root
 * may), then let the fids of all shares have what microvm does not need. */
static unsigned fid_cap(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return p9_fid_budget(1024, nshares, P9_WORKERS);
	if (rl.rlim_max < (1u << 20)) {
		struct rlimit more = { 1u << 20, 1u << 20 };
		if (setrlimit(RLIMIT_NOFILE, &more) == 0)
			rl = more;
	}
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	getrlimit(RLIMIT_NOFILE, &rl);
	return p9_fid_budget(rl.rlim_cur, nshares, P9_WORKERS);
}

static int share_setup(struct vm *vm)
{
	if (nshares == 0)
		return 0;
	unsigned cap = fid_cap();
	for (int i = 0; i < nshares; i++) {
		struct share_opt *o = &shares[i];
		o->dev = p9dev_create(vm, o->tag, o->fd, o->flags, cap, o->name);
		if (!o->dev)
			return -ENODEV;
		close(o->fd);
		o->fd = -1;
	}
	return 0;
}

static void share_teardown(struct vm *vm)
{
	(void)vm;
	for (int i = 0; i < nshares; i++)
		if (shares[i].dev)
			virtio_9p_destroy(shares[i].dev);
}

DEVICE(virtio_9p, .name = "virtio-9p", .option = "share",
       .usage = "--share tag=TAG,path=DIR[,readonly][,privileged]  host directory over 9P2000.L "
		"(repeatable); privileged: the guest may also set setuid/setgid bits and "
		"security.*/trusted.* xattrs and make device nodes",
       .parse = share_parse, .setup = share_setup, .teardown = share_teardown);
