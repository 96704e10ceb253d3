/* attr.c - 9P2000.L attributes and locks: getattr, setattr, statfs, lock,
 * getlock. */
#define _FILE_OFFSET_BITS 64
#include <fcntl.h>
#include <string.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "server.h"

/* Tsetattr valid bits. */
enum {
	ATTR_MODE = 1, ATTR_UID = 2, ATTR_GID = 4, ATTR_SIZE = 8, ATTR_ATIME = 0x10,
	ATTR_MTIME = 0x20, ATTR_ATIME_SET = 0x80, ATTR_MTIME_SET = 0x100,
};
#define GETATTR_BASIC 0x7ffULL
enum { P9_LOCK_RD = 0, P9_LOCK_WR = 1, P9_LOCK_UN = 2 };
enum { P9_LOCK_OK = 0, P9_LOCK_BLOCKED = 1, P9_LOCK_ERROR = 2 };

static struct p9_fid *plain_fid(struct p9_op *op, uint32_t num)
{
	struct p9_fid *f = p9_fid_get(op->s, num);
	if (f && f->kind != FID_FILE) {
		p9_fid_put(op->s, f);
		return NULL;
	}
	return f;
}

/* Tgetattr fid[4] request_mask[8] -> valid[8] qid[13] mode[4] uid[4]
 * gid[4] nlink[8] rdev[8] size[8] blksize[8] blocks[8] atime mtime ctime
 * btime (sec[8] nsec[8] each) gen[8] data_version[8]. The basic set is
 * always returned, whatever was asked. */
int p9_getattr(struct p9_op *op)
{
	uint32_t num = p9_get_u32(&op->in);
	p9_get_u64(&op->in);
	if (P9_BAD(op))
		return -EPROTO;
	struct p9_fid *f = plain_fid(op, num);
	if (!f)
		return -EBADF;
	struct stat st;
	int r = p9_stat_fd(f->fd, &st);
	p9_fid_put(op->s, f);
	if (r < 0)
		return r;
	struct p9_cur *o = &op->out;
	p9_put_u64(o, GETATTR_BASIC);
	p9_put_qid(op->s, o, &st);
	p9_put_u32(o, st.st_mode);
	p9_put_u32(o, st.st_uid);
	p9_put_u32(o, st.st_gid);
	p9_put_u64(o, st.st_nlink);
	p9_put_u64(o, st.st_rdev);
	p9_put_u64(o, st.st_size);
	p9_put_u64(o, st.st_blksize);
	p9_put_u64(o, st.st_blocks);
	const struct timespec *t[3] = { &st.st_atim, &st.st_mtim, &st.st_ctim };
	for (int i = 0; i < 3; i++) {
		p9_put_u64(o, t[i]->tv_sec);
		p9_put_u64(o, t[i]->tv_nsec);
	}
	for (int i = 0; i < 4; i++) /* btime, gen, data_version: not given */
		p9_put_u64(o, 0);
	return 0;
}

static int set_size(struct p9_server *s, struct p9_fid *f, uint64_t size)
{
	if (size > INT64_MAX)
		return -EFBIG;
	if (!S_ISREG(f->mode))
		return S_ISDIR(f->mode) ? -EISDIR : -EINVAL;
	if (f->open_fd >= 0 && (f->open_flags & O_ACCMODE) != O_RDONLY)
		return ftruncate(f->open_fd, size) < 0 ? -errno : 0;
	int fd = p9_open(s, f->fd, NULL, O_WRONLY, 0, NULL);
	if (fd < 0)
		return fd;
	int r = ftruncate(fd, size) < 0 ? -errno : 0;
	close(fd);
	return r;
}

static int set_times(struct p9_server *s, struct p9_fid *f, uint32_t valid,
		     const struct timespec ts_in[2])
{
	struct timespec ts[2];
	for (int i = 0; i < 2; i++) {
		uint32_t given = i ? ATTR_MTIME : ATTR_ATIME, set = i ? ATTR_MTIME_SET : ATTR_ATIME_SET;
		ts[i] = ts_in[i];
		if (!(valid & given))
			ts[i].tv_nsec = UTIME_OMIT;
		else if (!(valid & set))
			ts[i].tv_nsec = UTIME_NOW;
		else if (ts[i].tv_nsec >= 1000000000)
			return -EINVAL;
	}
	if (utimensat(f->fd, "", ts, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) == 0)
		return 0;
	if (errno != EINVAL || S_ISLNK(f->mode))
		return -errno;
	char name[16]; /* kernels without AT_EMPTY_PATH here: through /proc */
	p9_fdname(f->fd, name);
	return utimensat(s->proc_fd, name, ts, 0) < 0 ? -errno : 0;
}

/* Tsetattr fid[4] valid[4] mode[4] uid[4] gid[4] size[8] atime_sec[8]
 * atime_nsec[8] mtime_sec[8] mtime_nsec[8] */
int p9_setattr(struct p9_op *op)
{
	uint32_t num = p9_get_u32(&op->in), valid = p9_get_u32(&op->in);
	uint32_t mode = p9_get_u32(&op->in), uid = p9_get_u32(&op->in);
	uint32_t gid = p9_get_u32(&op->in);
	uint64_t size = p9_get_u64(&op->in);
	struct timespec ts[2];
	for (int i = 0; i < 2; i++) {
		ts[i].tv_sec = (int64_t)p9_get_u64(&op->in);
		ts[i].tv_nsec = (int64_t)p9_get_u64(&op->in);
	}
	if (P9_BAD(op))
		return -EPROTO;
	if (op->s->readonly)
		return -EROFS;
	struct p9_fid *f = plain_fid(op, num);
	if (!f)
		return -EBADF;
	int r = 0;
	char name[16];
	p9_fdname(f->fd, name);
	if (valid & ATTR_MODE) {
		mode_t perm = p9_perm(op->s, mode, S_ISDIR(f->mode));
		if (S_ISLNK(f->mode))
			r = -EOPNOTSUPP;
		else if (fchmodat(op->s->proc_fd, name, perm, 0) < 0)
			r = -errno;
	}
	if (r == 0 && (valid & (ATTR_UID | ATTR_GID)) &&
	    fchownat(f->fd, "", valid & ATTR_UID ? uid : (uid_t)-1,
		     valid & ATTR_GID ? gid : (gid_t)-1, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
		r = -errno;
	if (r == 0 && (valid & ATTR_SIZE))
		r = set_size(op->s, f, size);
	if (r == 0 && (valid & (ATTR_ATIME | ATTR_MTIME)))
		r = set_times(op->s, f, valid, ts);
	p9_fid_put(op->s, f);
	return r;
}

/* Tstatfs fid[4] -> type[4] bsize[4] blocks[8] bfree[8] bavail[8] files[8]
 * ffree[8] fsid[8] namelen[4] */
int p9_statfs(struct p9_op *op)
{
	uint32_t num = p9_get_u32(&op->in);
	if (P9_BAD(op))
		return -EPROTO;
	struct p9_fid *f = plain_fid(op, num);
	if (!f)
		return -EBADF;
	struct statfs st;
	int r = fstatfs(f->fd, &st) < 0 ? -errno : 0;
	p9_fid_put(op->s, f);
	if (r < 0)
		return r;
	uint64_t fsid;
	memcpy(&fsid, &st.f_fsid, sizeof(fsid));
	p9_put_u32(&op->out, st.f_type);
	p9_put_u32(&op->out, st.f_bsize);
	p9_put_u64(&op->out, st.f_blocks);
	p9_put_u64(&op->out, st.f_bfree);
	p9_put_u64(&op->out, st.f_bavail);
	p9_put_u64(&op->out, st.f_files);
	p9_put_u64(&op->out, st.f_ffree);
	p9_put_u64(&op->out, fsid);
	p9_put_u32(&op->out, st.f_namelen);
	return 0;
}

/* Locks are open-file-description locks on the fid's open file, so two
 * guest opens of one file exclude each other as they would in the guest;
 * the server never blocks (the client retries on BLOCKED). */
static int lock_args(struct p9_op *op, bool with_flags, struct flock *fl, struct p9_fid **fp,
		     char client[P9_NAME_MAX], uint32_t *proc)
{
	uint32_t num = p9_get_u32(&op->in);
	uint8_t type = p9_get_u8(&op->in);
	if (with_flags)
		p9_get_u32(&op->in);
	uint64_t start = p9_get_u64(&op->in), len = p9_get_u64(&op->in);
	*proc = p9_get_u32(&op->in);
	p9_get_str(&op->in, client, P9_NAME_MAX);
	if (P9_BAD(op))
		return -EPROTO;
	if (type > P9_LOCK_UN || start > INT64_MAX || len > INT64_MAX)
		return -EINVAL;
	*fl = (struct flock){ .l_type = type == P9_LOCK_RD ? F_RDLCK : type == P9_LOCK_WR ? F_WRLCK
										: F_UNLCK,
			      .l_whence = SEEK_SET, .l_start = start, .l_len = len };
	struct p9_fid *f = p9_fid_get(op->s, num);
	if (!f || f->kind != FID_FILE || f->open_fd < 0) {
		p9_fid_put(op->s, f);
		return -EBADF;
	}
	*fp = f;
	return 0;
}

/* Tlock fid[4] type[1] flags[4] start[8] length[8] proc_id[4]
 * client_id[s] -> status[1] */
int p9_lock(struct p9_op *op)
{
	struct flock fl;
	struct p9_fid *f;
	char client[P9_NAME_MAX];
	uint32_t proc;
	int r = lock_args(op, true, &fl, &f, client, &proc);
	if (r < 0)
		return r;
	uint8_t status = P9_LOCK_OK;
	if (fcntl(f->open_fd, F_OFD_SETLK, &fl) < 0)
		status = errno == EAGAIN || errno == EACCES ? P9_LOCK_BLOCKED : P9_LOCK_ERROR;
	p9_fid_put(op->s, f);
	p9_put_u8(&op->out, status);
	return 0;
}

/* Tgetlock fid[4] type[1] start[8] length[8] proc_id[4] client_id[s] ->
 * type[1] start[8] length[8] proc_id[4] client_id[s] */
int p9_getlock(struct p9_op *op)
{
	struct flock fl;
	struct p9_fid *f;
	char client[P9_NAME_MAX];
	uint32_t proc;
	int r = lock_args(op, false, &fl, &f, client, &proc);
	if (r < 0)
		return r;
	r = fcntl(f->open_fd, F_OFD_GETLK, &fl) < 0 ? -errno : 0;
	p9_fid_put(op->s, f);
	if (r < 0)
		return r;
	p9_put_u8(&op->out, fl.l_type == F_RDLCK ? P9_LOCK_RD : fl.l_type == F_WRLCK ? P9_LOCK_WR
										 : P9_LOCK_UN);
	p9_put_u64(&op->out, fl.l_start);
	p9_put_u64(&op->out, fl.l_len);
	p9_put_u32(&op->out, fl.l_type == F_UNLCK ? proc : 0);
	p9_put_str(&op->out, client);
	return 0;
}
