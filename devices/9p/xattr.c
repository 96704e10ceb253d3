/* xattr.c - extended attributes the 9P2000.L way: Txattrwalk makes a fid
 * holding a value (or the list of names) that the client Treads;
 * Txattrcreate turns a fid into one the client Twrites the value into,
 * set at Tclunk. Buffers count against P9_XATTR_BUDGET so a guest cannot
 * pin host memory with them. Symlinks have none here (their xattrs can
 * only be reached by path). */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "server.h"

/* The path that reaches f's file through /proc (a magic link: getxattr
 * follows it to the very file; nothing is looked up by name). */
static void proc_path(const struct p9_fid *f, char buf[40])
{
	char n[16];
	p9_fdname(f->fd, n);
	strcpy(buf, "/proc/self/fd/");
	strcat(buf, n);
}

/* Read name's value (or, name empty, the list) into a new buffer. */
static ssize_t fetch(struct p9_server *s, struct p9_fid *f, const char *name, uint8_t **out)
{
	char path[40];
	proc_path(f, path);
	*out = NULL;
	if (S_ISLNK(f->mode))
		return name[0] ? -ENODATA : 0;
	for (int tries = 0; tries < 3; tries++) {
		ssize_t n = name[0] ? getxattr(path, name, NULL, 0) : listxattr(path, NULL, 0);
		if (n < 0)
			return -errno;
		if (n > P9_XATTR_MAX)
			return -E2BIG;
		int r = p9_xattr_reserve(s, n);
		if (r < 0)
			return r;
		uint8_t *buf = malloc(n ? n : 1);
		ssize_t got = !buf ? -1 : name[0] ? getxattr(path, name, buf, n)
						   : listxattr(path, (char *)buf, n);
		if (got >= 0) {
			p9_xattr_release(s, n - got);
			*out = buf;
			return got;
		}
		int e = buf ? errno : ENOMEM;
		free(buf);
		p9_xattr_release(s, n);
		if (e != ERANGE) /* ERANGE: it grew meanwhile, ask again */
			return -e;
	}
	return -ERANGE;
}

/* Txattrwalk fid[4] newfid[4] name[s] -> size[8]: newfid holds the value
 * of name, or with an empty name the list of names. */
int p9_xattrwalk(struct p9_op *op)
{
	char name[P9_NAME_MAX];
	uint32_t num = p9_get_u32(&op->in), newnum = p9_get_u32(&op->in);
	p9_get_str(&op->in, name, sizeof(name));
	if (P9_BAD(op))
		return -EPROTO;
	struct p9_fid *f = p9_fid_get(op->s, num);
	if (!f || f->kind != FID_FILE) {
		p9_fid_put(op->s, f);
		return -EBADF;
	}
	uint8_t *buf;
	ssize_t n = fetch(op->s, f, name, &buf);
	int fd = n < 0 ? -1 : fcntl(f->fd, F_DUPFD_CLOEXEC, 0), r = n < 0 ? (int)n : 0;
	mode_t mode = f->mode;
	p9_fid_put(op->s, f);
	if (r == 0 && fd < 0)
		r = -errno;
	if (r == 0)
		r = p9_fid_add(op->s, newnum, fd, mode, P9_NONUID, false);
	if (r == 0) {
		struct p9_fid *x = p9_fid_get(op->s, newnum);
		if (x) { /* (unless a clunk raced with us) */
			pthread_mutex_lock(&x->lock);
			x->kind = FID_XATTR_READ;
			x->xbuf = buf;
			x->xsize = n;
			buf = NULL;
			pthread_mutex_unlock(&x->lock);
			p9_fid_put(op->s, x);
		}
		p9_put_u64(&op->out, n);
	}
	if (buf) {
		free(buf);
		p9_xattr_release(op->s, n);
	}
	return r;
}

/* security.* (file capabilities, LSM labels) and trusted.* are for the
 * host's kernel and its administrator: a guest setting them could hand a
 * program in the share privileges on the host. EOPNOTSUPP, as a file
 * system without the namespace answers: cp -a passes over it quietly,
 * where EPERM is an error. */
static bool privileged_name(const char *name)
{
	return !strncmp(name, "security.", 9) || !strncmp(name, "trusted.", 8);
}

/* Txattrcreate fid[4] name[s] attr_size[8] flags[4]: fid becomes the
 * buffer for a value of attr_size bytes, set when it is clunked. */
int p9_xattrcreate(struct p9_op *op)
{
	char name[P9_NAME_MAX];
	uint32_t num = p9_get_u32(&op->in);
	p9_get_str(&op->in, name, sizeof(name));
	uint64_t size = p9_get_u64(&op->in);
	uint32_t flags = p9_get_u32(&op->in);
	if (P9_BAD(op))
		return -EPROTO;
	if (op->s->readonly)
		return -EROFS;
	if (!name[0] || (flags & ~(uint32_t)(XATTR_CREATE | XATTR_REPLACE)))
		return -EINVAL;
	if (size > P9_XATTR_MAX)
		return -E2BIG;
	if (!op->s->privileged && privileged_name(name))
		return -EOPNOTSUPP;
	struct p9_fid *f = p9_fid_get(op->s, num);
	if (!f || f->kind != FID_FILE) {
		p9_fid_put(op->s, f);
		return -EBADF;
	}
	int r = S_ISLNK(f->mode) ? -EOPNOTSUPP : p9_xattr_reserve(op->s, size);
	uint8_t *buf = r < 0 ? NULL : calloc(1, size ? size : 1);
	char *xname = r < 0 ? NULL : strdup(name);
	if (r == 0 && (!buf || !xname)) {
		r = -ENOMEM;
		p9_xattr_release(op->s, size);
	}
	pthread_mutex_lock(&f->lock);
	if (r == 0 && (f->kind != FID_FILE || f->open_fd >= 0)) {
		r = -EBADF;
		p9_xattr_release(op->s, size);
	}
	if (r == 0) {
		f->kind = FID_XATTR_WRITE;
		f->xbuf = buf;
		f->xname = xname;
		f->xsize = size;
		f->xflags = flags;
		buf = NULL;
		xname = NULL;
	}
	pthread_mutex_unlock(&f->lock);
	free(buf);
	free(xname);
	p9_fid_put(op->s, f);
	return r;
}

int p9_xattr_read(struct p9_op *op, struct p9_fid *f, uint64_t off, uint32_t count)
{
	if (f->kind != FID_XATTR_READ)
		return -EBADF;
	if (off > f->xsize)
		return -EINVAL;
	if (count > f->xsize - off)
		count = f->xsize - off;
	p9_put_u32(&op->out, count);
	p9_put_bytes(&op->out, f->xbuf + off, count);
	return 0;
}

int p9_xattr_write(struct p9_op *op, struct p9_fid *f, uint64_t off, uint32_t count)
{
	if (off > f->xsize || count > f->xsize - off)
		return -ENOSPC; /* more than attr_size announced */
	struct iovec iov[P9_MAX_MSIZE / 4096 + 8];
	unsigned n = p9_cur_take(&op->in, count, iov, sizeof(iov) / sizeof(iov[0]));
	uint8_t *p = f->xbuf + off;
	for (unsigned i = 0; i < n; i++) {
		memcpy(p, iov[i].iov_base, iov[i].iov_len);
		p += iov[i].iov_len;
	}
	p9_put_u32(&op->out, count);
	return 0;
}

int p9_xattr_commit(struct p9_server *s, struct p9_fid *f)
{
	char path[40];
	proc_path(f, path);
	(void)s;
	/* The client removes an xattr by creating it empty with XATTR_REPLACE. */
	if (f->xsize == 0 && (f->xflags & XATTR_REPLACE))
		return removexattr(path, f->xname) < 0 ? -errno : 0;
	return setxattr(path, f->xname, f->xbuf, f->xsize, f->xflags) < 0 ? -errno : 0;
}
