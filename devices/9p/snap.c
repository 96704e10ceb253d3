/* snap.c - a 9p server's state in a snapshot: msize and the fid table, each
 * fid as its path relative to the share's root (what /proc/self/fd says of
 * its fd) and whether and how it was open. A restore reopens each path
 * beneath the root; a fid whose file has gone (or was deleted while open)
 * becomes stale: any use answers ESTALE, and Tclunk forgets it. Fids in
 * the middle of an xattr transfer are dropped (EBADF on use). */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "server.h"
#include "snapshot.h"

#define SNAP_STALE 1u
#define SNAP_OPEN 2u
#define DELETED " (deleted)"

void p9_wait_idle(struct p9_server *s)
{
	pthread_mutex_lock(&s->lock);
	while (s->inflight)
		pthread_cond_wait(&s->done, &s->lock);
	pthread_mutex_unlock(&s->lock);
}

/* f's path below the root into rel ("" for the root); false when it has
 * none any more. */
static bool fid_path(struct p9_server *s, const struct p9_fid *f, char *rel, size_t len)
{
	char name[16], path[P9_PATH_MAX + 64];
	p9_fdname(f->fd, name);
	ssize_t n = readlinkat(s->proc_fd, name, path, sizeof(path) - 1);
	size_t root = strlen(s->root_path), dl = strlen(DELETED);
	if (n <= 0)
		return false;
	path[n] = 0;
	if ((size_t)n >= dl && !strcmp(path + n - dl, DELETED))
		return false;
	if (strncmp(path, s->root_path, root) || (path[root] && path[root] != '/') ||
	    strlen(path + root) >= len)
		return false;
	strcpy(rel, path[root] ? path + root + 1 : "");
	return true;
}

static void save_fid(struct p9_server *s, struct p9_fid *f, struct snap_buf *b)
{
	static char rel[P9_PATH_MAX + 64];
	pthread_mutex_lock(&f->lock);
	bool live = fid_path(s, f, rel, sizeof(rel));
	snap_put_u32(b, f->num);
	snap_put_u32(b, (live ? 0 : SNAP_STALE) | (f->open_fd >= 0 ? SNAP_OPEN : 0));
	snap_put_u32(b, f->open_flags);
	snap_put_u32(b, f->uid);
	snap_put_str(b, live ? rel : "");
	pthread_mutex_unlock(&f->lock);
}

int p9_server_save(struct p9_server *s, struct snap_buf *b)
{
	pthread_mutex_lock(&s->lock);
	unsigned n = 0;
	for (unsigned i = 0; i < s->nbuckets; i++)
		for (struct p9_fid *f = s->table[i]; f; f = f->hnext)
			n += f->kind == FID_FILE;
	snap_put_u32(b, s->msize);
	snap_put_u32(b, n + s->nstale);
	for (unsigned i = 0; i < s->nbuckets; i++)
		for (struct p9_fid *f = s->table[i]; f; f = f->hnext)
			if (f->kind == FID_FILE)
				save_fid(s, f, b);
	for (unsigned i = 0; i < s->nstale; i++) {
		snap_put_u32(b, s->stale[i]);
		snap_put_u32(b, SNAP_STALE);
		snap_put_u32(b, 0);
		snap_put_u32(b, 0);
		snap_put_str(b, "");
	}
	pthread_mutex_unlock(&s->lock);
	return 0;
}

static void add_stale(struct p9_server *s, uint32_t num)
{
	uint32_t *t = realloc(s->stale, (s->nstale + 1) * sizeof(*t));
	if (!t)
		return; /* then EBADF instead of ESTALE */
	s->stale = t;
	s->stale[s->nstale++] = num;
}

bool p9_stale_forget(struct p9_server *s, uint32_t num, bool forget)
{
	bool found = false;
	pthread_mutex_lock(&s->lock);
	for (unsigned i = 0; i < s->nstale && !found; i++) {
		if (s->stale[i] != num)
			continue;
		found = true;
		if (forget)
			s->stale[i] = s->stale[--s->nstale];
	}
	pthread_mutex_unlock(&s->lock);
	return found;
}

/* Reopen rel beneath the root without following a symlink anywhere. */
static int reopen(struct p9_server *s, const char *rel)
{
	struct open_how how = { .flags = O_PATH | O_NOFOLLOW | O_CLOEXEC,
				.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
					   RESOLVE_NO_MAGICLINKS };
	long fd = syscall(SYS_openat2, s->root_fd, *rel ? rel : ".", &how, sizeof(how));
	return fd < 0 ? -errno : (int)fd;
}

static int load_fid(struct p9_server *s, uint32_t num, uint32_t flags, int open_flags,
		    uint32_t uid, const char *rel)
{
	struct stat st;
	int fd = flags & SNAP_STALE ? -ENOENT : reopen(s, rel);
	if (fd >= 0 && p9_stat_fd(fd, &st) < 0) {
		close(fd);
		fd = -ENOENT;
	}
	if (fd < 0) {
		add_stale(s, num);
		return 0;
	}
	int r = p9_fid_add(s, num, fd, st.st_mode, uid, false);
	if (r < 0 || !(flags & SNAP_OPEN))
		return r == -EEXIST ? -EINVAL : 0;
	/* Reopened as the guest opened it, but never truncated again. */
	int of = open_flags & ~(O_CREAT | O_EXCL | O_TRUNC);
	struct p9_fid *f = p9_fid_get(s, num);
	int ofd = f ? p9_open(s, f->fd, NULL, of, 0, NULL) : -EBADF;
	if (ofd >= 0) {
		f->open_fd = ofd;
		f->open_flags = of;
	} else if (f) {
		p9_fid_put(s, p9_fid_remove(s, num)); /* the table's reference */
		add_stale(s, num);
	}
	p9_fid_put(s, f);
	return 0;
}

int p9_server_load(struct p9_server *s, struct snap_reader *r)
{
	static char rel[P9_PATH_MAX + 64];
	uint32_t msize = snap_get_u32(r), n = snap_get_u32(r);
	if (r->bad || msize > P9_MAX_MSIZE)
		return -EINVAL;
	s->msize = msize;
	for (uint32_t i = 0; i < n && !r->bad; i++) {
		uint32_t num = snap_get_u32(r), flags = snap_get_u32(r);
		int open_flags = snap_get_u32(r);
		uint32_t uid = snap_get_u32(r);
		snap_get_str(r, rel, sizeof(rel));
		if (!r->bad && load_fid(s, num, flags, open_flags, uid, rel) < 0)
			return -EINVAL;
	}
	return r->bad ? -EINVAL : 0;
}
