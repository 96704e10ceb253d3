/* fid.c - the fid table: the client's numbers for files it holds, a hash
 * table grown as it fills, capped so a guest cannot take all the host's
 * file descriptors. */
#include <stdlib.h>
#include <unistd.h>

#include "server.h"

#define MIN_BUCKETS 256

int p9_fids_init(struct p9_server *s)
{
	s->nbuckets = MIN_BUCKETS;
	s->table = calloc(s->nbuckets, sizeof(*s->table));
	return s->table ? 0 : -ENOMEM;
}

static unsigned bucket(const struct p9_server *s, uint32_t num)
{
	return (num * 2654435761u) & (s->nbuckets - 1);
}

static void fid_free(struct p9_server *s, struct p9_fid *f)
{
	close(f->fd);
	if (f->old_fd >= 0)
		close(f->old_fd);
	if (f->open_fd >= 0)
		close(f->open_fd);
	if (f->kind != FID_FILE) /* its xsize bytes were reserved */
		p9_xattr_release(s, f->xsize);
	free(f->xbuf);
	free(f->xname);
	pthread_mutex_destroy(&f->lock);
	free(f);
}

/* Drop a reference, s->lock held; returns f when it was the last. */
static struct p9_fid *unref(struct p9_fid *f)
{
	return --f->refs == 0 ? f : NULL;
}

void p9_fids_clear(struct p9_server *s)
{
	struct p9_fid *dead = NULL;
	pthread_mutex_lock(&s->lock);
	for (unsigned i = 0; i < s->nbuckets; i++) {
		while (s->table[i]) {
			struct p9_fid *f = s->table[i];
			s->table[i] = f->hnext;
			s->nfids--;
			if (unref(f)) {
				f->hnext = dead;
				dead = f;
			}
		}
	}
	pthread_mutex_unlock(&s->lock);
	while (dead) {
		struct p9_fid *f = dead;
		dead = f->hnext;
		fid_free(s, f);
	}
}

struct p9_fid *p9_fid_get(struct p9_server *s, uint32_t num)
{
	pthread_mutex_lock(&s->lock);
	struct p9_fid *f = s->table[bucket(s, num)];
	while (f && f->num != num)
		f = f->hnext;
	if (f)
		f->refs++;
	pthread_mutex_unlock(&s->lock);
	return f;
}

void p9_fid_put(struct p9_server *s, struct p9_fid *f)
{
	if (!f)
		return;
	pthread_mutex_lock(&s->lock);
	f = unref(f);
	pthread_mutex_unlock(&s->lock);
	if (f)
		fid_free(s, f);
}

/* Double the buckets when the table is as full as it is wide (s->lock held;
 * on failure the table just stays as it is). */
static void grow(struct p9_server *s)
{
	unsigned n = s->nbuckets * 2;
	struct p9_fid **t = calloc(n, sizeof(*t));
	if (!t)
		return;
	struct p9_fid **old = s->table;
	unsigned oldn = s->nbuckets;
	s->table = t;
	s->nbuckets = n;
	for (unsigned i = 0; i < oldn; i++) {
		while (old[i]) {
			struct p9_fid *f = old[i];
			old[i] = f->hnext;
			f->hnext = t[bucket(s, f->num)];
			t[bucket(s, f->num)] = f;
		}
	}
	free(old);
}

/* Unlink num from its chain (s->lock held); returns it or NULL. */
static struct p9_fid *unlink_fid(struct p9_server *s, uint32_t num)
{
	for (struct p9_fid **p = &s->table[bucket(s, num)]; *p; p = &(*p)->hnext) {
		if ((*p)->num == num) {
			struct p9_fid *f = *p;
			*p = f->hnext;
			s->nfids--;
			return f;
		}
	}
	return NULL;
}

int p9_fid_add(struct p9_server *s, uint32_t num, int fd, mode_t mode, uint32_t uid,
	       bool replace)
{
	if (num == P9_NOFID) {
		close(fd);
		return -EINVAL;
	}
	struct p9_fid *f = calloc(1, sizeof(*f));
	if (!f) {
		close(fd);
		return -ENOMEM;
	}
	*f = (struct p9_fid){ .num = num, .refs = 1, .fd = fd, .old_fd = -1, .open_fd = -1,
			      .mode = mode & S_IFMT, .uid = uid };
	pthread_mutex_init(&f->lock, NULL);
	struct p9_fid *old = NULL;
	int r = 0;
	pthread_mutex_lock(&s->lock);
	if (replace)
		old = unlink_fid(s, num);
	for (struct p9_fid *g = s->table[bucket(s, num)]; g && r == 0; g = g->hnext)
		if (g->num == num)
			r = -EEXIST;
	if (r == 0 && s->nfids >= s->max_fids)
		r = -EMFILE;
	if (r == 0) {
		if (s->nfids >= s->nbuckets && s->nbuckets < (1u << 20))
			grow(s);
		f->hnext = s->table[bucket(s, num)];
		s->table[bucket(s, num)] = f;
		s->nfids++;
	}
	if (old)
		old = unref(old);
	pthread_mutex_unlock(&s->lock);
	if (old)
		fid_free(s, old);
	if (r < 0)
		fid_free(s, f);
	return r;
}

struct p9_fid *p9_fid_remove(struct p9_server *s, uint32_t num)
{
	pthread_mutex_lock(&s->lock);
	struct p9_fid *f = unlink_fid(s, num);
	pthread_mutex_unlock(&s->lock);
	return f;
}

/* Fds microvm keeps for itself: KVM, vCPUs, eventfds, disks, sockets. */
#define MICROVM_FDS 256

unsigned p9_fid_budget(uint64_t nofile, unsigned nshares, unsigned threads)
{
	if (nshares == 0)
		nshares = 1;
	/* Each share also holds its root and /proc/self/fd. */
	uint64_t keep = MICROVM_FDS + nshares * (2 + (uint64_t)threads * P9_FDS_PER_REQUEST);
	if (keep > nofile / 2)
		keep = nofile / 2; /* a tiny limit: leave microvm half of it */
	uint64_t per = (nofile - keep) / P9_FDS_PER_FID / nshares;
	return per < 1 ? 1 : per < P9_DEFAULT_MAX_FIDS ? (unsigned)per : P9_DEFAULT_MAX_FIDS;
}

int p9_xattr_reserve(struct p9_server *s, size_t n)
{
	int r = 0;
	pthread_mutex_lock(&s->lock);
	if (n > P9_XATTR_BUDGET - s->xattr_bytes)
		r = -ENOSPC;
	else
		s->xattr_bytes += n;
	pthread_mutex_unlock(&s->lock);
	return r;
}

void p9_xattr_release(struct p9_server *s, size_t n)
{
	pthread_mutex_lock(&s->lock);
	s->xattr_bytes -= n;
	pthread_mutex_unlock(&s->lock);
}

unsigned p9_fid_count(struct p9_server *s)
{
	pthread_mutex_lock(&s->lock);
	unsigned n = s->nfids;
	pthread_mutex_unlock(&s->lock);
	return n;
}
