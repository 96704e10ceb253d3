/* dir.c - 9P2000.L operations on names in a directory: readlink, symlink,
 * mknod, mkdir, link, rename, renameat, unlinkat, remove. Every name is one
 * checked component under a fid's directory fd, and no call follows a
 * symlink, so nothing lands outside the share. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "server.h"

#define UNLINK_REMOVEDIR 0x200 /* Tunlinkat flag, Linux's AT_REMOVEDIR */

/* The plain fid numbered num with a reference, or NULL. */
static struct p9_fid *dir_fid(struct p9_op *op, uint32_t num)
{
	struct p9_fid *f = p9_fid_get(op->s, num);
	if (f && f->kind != FID_FILE) {
		p9_fid_put(op->s, f);
		return NULL;
	}
	return f;
}

/* Reply with the qid of name, just made in dirfd with mode, after giving it
 * its owner. */
static int made(struct p9_op *op, int dirfd, const char *name, uint32_t uid, uint32_t gid,
		mode_t mode)
{
	struct stat st;
	p9_set_owner(op->s, dirfd, name, uid, gid, mode);
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	p9_put_qid(op->s, &op->out, &st);
	return 0;
}

/* Treadlink fid[4] -> target[s] */
int p9_readlink(struct p9_op *op)
{
	uint32_t num = p9_get_u32(&op->in);
	if (P9_BAD(op))
		return -EPROTO;
	struct p9_fid *f = dir_fid(op, num);
	if (!f)
		return -EBADF;
	char buf[P9_PATH_MAX];
	ssize_t n = readlinkat(f->fd, "", buf, sizeof(buf) - 1);
	p9_fid_put(op->s, f);
	if (n < 0)
		return -errno;
	buf[n] = 0;
	p9_put_str(&op->out, buf);
	return 0;
}

/* Tsymlink fid[4] name[s] symtgt[s] gid[4] -> qid[13]. The target is only
 * stored: the server never follows it. */
int p9_symlink(struct p9_op *op)
{
	char name[P9_NAME_MAX], target[P9_PATH_MAX];
	uint32_t num = p9_get_u32(&op->in);
	p9_get_str(&op->in, name, sizeof(name));
	p9_get_str(&op->in, target, sizeof(target));
	uint32_t gid = p9_get_u32(&op->in);
	if (P9_BAD(op))
		return -EPROTO;
	if (op->s->readonly)
		return -EROFS;
	int r = p9_check_name(name);
	struct p9_fid *f = r < 0 ? NULL : dir_fid(op, num);
	if (!f)
		return r < 0 ? r : -EBADF;
	r = symlinkat(target, f->fd, name) < 0 ? -errno : made(op, f->fd, name, f->uid, gid, 0);
	p9_fid_put(op->s, f);
	return r;
}

/* Tmknod dfid[4] name[s] mode[4] major[4] minor[4] gid[4] -> qid[13].
 * FIFOs, sockets and regular files only unless the share is privileged: a
 * device node made by the guest would be a real host device to anyone on
 * the host who opens it (the server itself never opens one). */
int p9_mknod(struct p9_op *op)
{
	char name[P9_NAME_MAX];
	uint32_t num = p9_get_u32(&op->in);
	p9_get_str(&op->in, name, sizeof(name));
	uint32_t mode = p9_get_u32(&op->in);
	uint32_t major = p9_get_u32(&op->in), minor = p9_get_u32(&op->in);
	uint32_t gid = p9_get_u32(&op->in);
	if (P9_BAD(op))
		return -EPROTO;
	if (op->s->readonly)
		return -EROFS;
	bool dev = S_ISCHR(mode) || S_ISBLK(mode);
	if (!S_ISFIFO(mode) && !S_ISSOCK(mode) && !S_ISREG(mode) && (mode & S_IFMT) &&
	    !(dev && op->s->privileged))
		return -EPERM;
	int r = p9_check_name(name);
	struct p9_fid *f = r < 0 ? NULL : dir_fid(op, num);
	if (!f)
		return r < 0 ? r : -EBADF;
	mode_t perm = p9_perm(op->s, mode, false);
	r = mknodat(f->fd, name, (mode & S_IFMT) | perm, dev ? makedev(major, minor) : 0) < 0
		    ? -errno : made(op, f->fd, name, f->uid, gid, perm);
	p9_fid_put(op->s, f);
	return r;
}

/* Tmkdir dfid[4] name[s] mode[4] gid[4] -> qid[13] */
int p9_mkdir(struct p9_op *op)
{
	char name[P9_NAME_MAX];
	uint32_t num = p9_get_u32(&op->in);
	p9_get_str(&op->in, name, sizeof(name));
	uint32_t mode = p9_get_u32(&op->in), gid = p9_get_u32(&op->in);
	if (P9_BAD(op))
		return -EPROTO;
	if (op->s->readonly)
		return -EROFS;
	int r = p9_check_name(name);
	struct p9_fid *f = r < 0 ? NULL : dir_fid(op, num);
	if (!f)
		return r < 0 ? r : -EBADF;
	mode_t perm = p9_perm(op->s, mode, true);
	r = mkdirat(f->fd, name, perm) < 0 ? -errno : made(op, f->fd, name, f->uid, gid, 0);
	p9_fid_put(op->s, f);
	return r;
}

/* Tlink dfid[4] fid[4] name[s]: a hard link to fid's file as dfid/name. */
int p9_link(struct p9_op *op)
{
	char name[P9_NAME_MAX];
	uint32_t dnum = p9_get_u32(&op->in), num = p9_get_u32(&op->in);
	p9_get_str(&op->in, name, sizeof(name));
	if (P9_BAD(op))
		return -EPROTO;
	if (op->s->readonly)
		return -EROFS;
	int r = p9_check_name(name);
	if (r < 0)
		return r;
	struct p9_fid *d = dir_fid(op, dnum), *f = dir_fid(op, num);
	if (!d || !f) {
		r = -EBADF;
	} else if (linkat(f->fd, "", d->fd, name, AT_EMPTY_PATH) < 0) {
		r = -errno;
		/* Without CAP_DAC_READ_SEARCH: through /proc (not for symlinks). */
		char fdname[16];
		p9_fdname(f->fd, fdname);
		if ((r == -ENOENT || r == -EPERM) && !S_ISLNK(f->mode))
			r = linkat(op->s->proc_fd, fdname, d->fd, name, AT_SYMLINK_FOLLOW) < 0
				    ? -errno : 0;
	}
	p9_fid_put(op->s, d);
	p9_fid_put(op->s, f);
	return r;
}

/* Trename fid[4] dfid[4] name[s]: move fid's file to dfid/name. */
int p9_rename(struct p9_op *op)
{
	char name[P9_NAME_MAX], old[P9_NAME_MAX];
	uint32_t num = p9_get_u32(&op->in), dnum = p9_get_u32(&op->in);
	p9_get_str(&op->in, name, sizeof(name));
	if (P9_BAD(op))
		return -EPROTO;
	if (op->s->readonly)
		return -EROFS;
	int r = p9_check_name(name), from = -1;
	if (r < 0)
		return r;
	struct p9_fid *f = dir_fid(op, num), *d = dir_fid(op, dnum);
	if (!f || !d)
		r = -EBADF;
	if (r == 0)
		r = p9_fid_parent(op->s, f, &from, old);
	if (r == 0 && renameat(from, old, d->fd, name) < 0)
		r = -errno;
	if (from >= 0)
		close(from);
	p9_fid_put(op->s, f);
	p9_fid_put(op->s, d);
	return r;
}

/* Trenameat olddirfid[4] oldname[s] newdirfid[4] newname[s] */
int p9_renameat(struct p9_op *op)
{
	char old[P9_NAME_MAX], name[P9_NAME_MAX];
	uint32_t onum = p9_get_u32(&op->in);
	p9_get_str(&op->in, old, sizeof(old));
	uint32_t nnum = p9_get_u32(&op->in);
	p9_get_str(&op->in, name, sizeof(name));
	if (P9_BAD(op))
		return -EPROTO;
	if (op->s->readonly)
		return -EROFS;
	int r = p9_check_name(old) < 0 || p9_check_name(name) < 0 ? -EINVAL : 0;
	if (r < 0)
		return r;
	struct p9_fid *o = dir_fid(op, onum), *n = dir_fid(op, nnum);
	if (!o || !n)
		r = -EBADF;
	else if (renameat(o->fd, old, n->fd, name) < 0)
		r = -errno;
	p9_fid_put(op->s, o);
	p9_fid_put(op->s, n);
	return r;
}

/* Tunlinkat dirfid[4] name[s] flags[4] */
int p9_unlinkat(struct p9_op *op)
{
	char name[P9_NAME_MAX];
	uint32_t num = p9_get_u32(&op->in);
	p9_get_str(&op->in, name, sizeof(name));
	uint32_t flags = p9_get_u32(&op->in);
	if (P9_BAD(op))
		return -EPROTO;
	if (op->s->readonly)
		return -EROFS;
	int r = p9_check_name(name);
	struct p9_fid *f = r < 0 ? NULL : dir_fid(op, num);
	if (!f)
		return r < 0 ? r : -EBADF;
	r = unlinkat(f->fd, name, flags & UNLINK_REMOVEDIR ? AT_REMOVEDIR : 0) < 0 ? -errno : 0;
	p9_fid_put(op->s, f);
	return r;
}

/* Tremove fid[4]: unlink fid's file; the fid is clunked either way. */
int p9_remove(struct p9_op *op)
{
	char name[P9_NAME_MAX];
	uint32_t num = p9_get_u32(&op->in);
	if (P9_BAD(op))
		return -EPROTO;
	struct p9_fid *f = p9_fid_remove(op->s, num);
	if (!f)
		return -EBADF;
	int r = op->s->readonly ? -EROFS : f->kind != FID_FILE ? -EBADF : 0, dir = -1;
	if (r == 0)
		r = p9_fid_parent(op->s, f, &dir, name);
	if (r == 0 && unlinkat(dir, name, S_ISDIR(f->mode) ? AT_REMOVEDIR : 0) < 0)
		r = -errno;
	if (dir >= 0)
		close(dir);
	p9_fid_put(op->s, f);
	return r;
}
