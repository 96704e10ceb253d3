/* snapcache.c - the snapshot cache's directory (layout in snapshot.h):
 * locks, committing a written entry, removing one, and keeping the whole
 * below its bound, least recently used first. Safe with several runs at
 * once: every change is a rename or happens under the entry's lock. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "snapcache.h"

int cache_lock(const char *dir, const char *key, bool exclusive)
{
	char *p;
	if (asprintf(&p, "%s/%s.lock", dir, key) < 0)
		abort();
	int r = -EAGAIN;
	/* A lock file removed (with its entry) between our open and flock is
	 * not the one others use: try again on the new one. */
	for (int tries = 0; tries < 5 && r == -EAGAIN; tries++) {
		int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
		if (fd < 0) {
			r = -errno;
			break;
		}
		if (flock(fd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) < 0) {
			r = errno == EWOULDBLOCK ? -EWOULDBLOCK : -errno;
			close(fd);
			break;
		}
		struct stat a, b;
		if (fstat(fd, &a) == 0 && stat(p, &b) == 0 && a.st_ino == b.st_ino &&
		    a.st_dev == b.st_dev) {
			r = fd;
			break;
		}
		close(fd);
	}
	free(p);
	return r;
}

int cache_commit(const char *dir, const char *staging, const char *key)
{
	char *p;
	if (asprintf(&p, "%s/%s", dir, key) < 0)
		abort();
	int r = rename(staging, p) < 0 ? -errno : 0;
	free(p);
	/* rename() onto a directory that is not empty: another run's entry. */
	if (r == -ENOTEMPTY || r == -EEXIST) {
		rm_tree(staging);
		r = -EEXIST;
	}
	return r;
}

int cache_remove(const char *dir, const char *key)
{
	char *p, *dead, *lock;
	if (asprintf(&p, "%s/%s", dir, key) < 0 ||
	    asprintf(&dead, "%s/%s.dead-%d", dir, key, (int)getpid()) < 0 ||
	    asprintf(&lock, "%s/%s.lock", dir, key) < 0)
		abort();
	/* Out of the name first, so nobody sees it half removed. */
	int r = rename(p, dead) < 0 ? -errno : 0;
	if (r == 0 && rm_tree(dead) < 0)
		r = -errno;
	unlink(lock);
	free(p);
	free(dead);
	free(lock);
	return r;
}

void cache_touch(const char *dir, const char *key)
{
	char *p;
	if (asprintf(&p, "%s/%s", dir, key) < 0)
		abort();
	utimensat(AT_FDCWD, p, NULL, 0);
	free(p);
}

/* Bytes allocated to the files of directory fd (and below). */
static unsigned long long dir_size(int fd)
{
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return 0;
	}
	unsigned long long sum = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		struct stat st;
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") ||
		    fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		sum += (unsigned long long)st.st_blocks * 512;
		if (S_ISDIR(st.st_mode)) {
			int sub = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC |
					 O_NOFOLLOW);
			if (sub >= 0)
				sum += dir_size(sub);
		}
	}
	closedir(d);
	return sum;
}

unsigned long long cache_entry_size(const char *dir, const char *key)
{
	char *p;
	if (asprintf(&p, "%s/%s", dir, key) < 0)
		abort();
	int fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	free(p);
	return fd < 0 ? 0 : dir_size(fd);
}

static bool is_key(const char *s)
{
	size_t n = strspn(s, "0123456789abcdef");
	return n == SNAP_KEY_LEN && !s[n];
}

/* KEY.tmp-PID[.partial-N] or KEY.dead-PID of a process that is gone. */
static bool stale(const char *name)
{
	const char *t = strstr(name, ".tmp-");
	if (!t)
		t = strstr(name, ".dead-");
	if (!t || t - name != SNAP_KEY_LEN)
		return false;
	long pid = strtol(strchr(t + 1, '-') + 1, NULL, 10);
	return pid > 0 && kill((pid_t)pid, 0) < 0 && errno == ESRCH;
}

struct entry {
	char key[SNAP_KEY_LEN + 1];
	unsigned long long size;
	struct timespec used;
};

static int older(const void *a, const void *b)
{
	const struct timespec *x = &((const struct entry *)a)->used;
	const struct timespec *y = &((const struct entry *)b)->used;
	if (x->tv_sec != y->tv_sec)
		return x->tv_sec < y->tv_sec ? -1 : 1;
	return x->tv_nsec < y->tv_nsec ? -1 : x->tv_nsec > y->tv_nsec;
}

/* The entries of dir; stale staging directories are removed on the way. */
static struct entry *list(const char *dir, size_t *n)
{
	DIR *d = opendir(dir);
	struct entry *v = NULL;
	*n = 0;
	if (!d)
		return NULL;
	struct dirent *e;
	while ((e = readdir(d))) {
		struct stat st;
		if (stale(e->d_name)) {
			char *p;
			if (asprintf(&p, "%s/%s", dir, e->d_name) < 0)
				abort();
			rm_tree(p);
			free(p);
			continue;
		}
		if (!is_key(e->d_name) || fstatat(dirfd(d), e->d_name, &st, 0) < 0 ||
		    !S_ISDIR(st.st_mode))
			continue;
		v = realloc(v, (*n + 1) * sizeof(*v));
		memcpy(v[*n].key, e->d_name, SNAP_KEY_LEN + 1);
		v[*n].used = st.st_mtim;
		v[*n].size = cache_entry_size(dir, e->d_name);
		(*n)++;
	}
	closedir(d);
	return v;
}

int cache_evict(const char *dir, unsigned long long max, const char *keep)
{
	size_t n;
	struct entry *v = list(dir, &n);
	unsigned long long total = 0;
	for (size_t i = 0; i < n; i++)
		total += v[i].size;
	if (n)
		qsort(v, n, sizeof(*v), older);
	int removed = 0;
	for (size_t i = 0; i < n && total > max; i++) {
		if (keep && !strcmp(v[i].key, keep))
			continue;
		int fd = cache_lock(dir, v[i].key, true);
		if (fd < 0)
			continue; /* in use (restored or being removed) by another run */
		if (cache_remove(dir, v[i].key) == 0) {
			total -= v[i].size;
			removed++;
		}
		close(fd);
	}
	free(v);
	return removed;
}
