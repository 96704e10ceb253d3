/* file.c - 9P2000.L operations on one file: open, create, read, write,
 * directory listing, sync, locks. */
#define _FILE_OFFSET_BITS 64
#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "server.h"

/* Tlopen/Tlcreate flags are Linux's generic (x86) O_ values; convert them
 * so an arm64 host reads them right, keeping only what is safe to pass. */
enum {
	DOTL_WRONLY = 01, DOTL_RDWR = 02, DOTL_EXCL = 0200, DOTL_TRUNC = 01000,
	DOTL_APPEND = 02000, DOTL_DSYNC = 010000, DOTL_DIRECTORY = 0200000,
	DOTL_SYNC = 04000000,
};

static int host_flags(uint32_t f)
{
	int h = (f & 3) == DOTL_RDWR ? O_RDWR : (f & 3) == DOTL_WRONLY ? O_WRONLY : O_RDONLY;
	h |= f & DOTL_EXCL ? O_EXCL : 0;
	h |= f & DOTL_TRUNC ? O_TRUNC : 0;
	h |= f & DOTL_APPEND ? O_APPEND : 0;
	h |= f & DOTL_DSYNC ? O_DSYNC : 0;
	h |= f & DOTL_DIRECTORY ? O_DIRECTORY : 0;
	h |= (f & DOTL_SYNC) == DOTL_SYNC ? O_SYNC : 0;
	return h;
}

static bool writes(int h)
{
	return (h & O_ACCMODE) != O_RDONLY || (h & O_TRUNC);
}

/* The fid numbered by the next u32 of the request, a plain file fid. */
static struct p9_fid *file_fid(struct p9_op *op, uint32_t num, int *err)
{
	struct p9_fid *f = p9_fid_get(op->s, num);
	*err = -EBADF;
	if (f && f->kind != FID_FILE) {
		p9_fid_put(op->s, f);
		f = NULL;
	}
	return f;
}

/* Make f an open fid on fd (f->lock held). */
static int set_open(struct p9_fid *f, int fd, int flags)
{
	if (f->open_fd >= 0 || f->kind != FID_FILE) {
		close(fd);
		return -EBADF; /* opened twice */
	}
	f->open_fd = fd;
	f->open_flags = flags;
	return 0;
}

/* Tlopen fid[4] flags[4] -> qid[13] iounit[4] */
int p9_lopen(struct p9_op *op)
{
	uint32_t num = p9_get_u32(&op->in), flags = p9_get_u32(&op->in);
	int r;
	if (P9_BAD(op))
		return -EPROTO;
	int h = host_flags(flags);
	if (op->s->readonly && writes(h))
		return -EROFS;
	struct p9_fid *f = file_fid(op, num, &r);
	if (!f)
		return r;
	struct stat st;
	int fd = p9_open(op->s, f->fd, NULL, h, 0, NULL);
	r = fd < 0 ? fd : p9_stat_fd(fd, &st);
	if (fd >= 0) {
		pthread_mutex_lock(&f->lock);
		r = r < 0 ? (close(fd), r) : set_open(f, fd, h);
		pthread_mutex_unlock(&f->lock);
	}
	if (r == 0) {
		p9_put_qid(op->s, &op->out, &st);
		p9_put_u32(&op->out, 0); /* iounit: msize decides */
	}
	p9_fid_put(op->s, f);
	return r;
}

/* Tlcreate fid[4] name[s] flags[4] mode[4] gid[4] -> qid[13] iounit[4]:
 * fid, a directory, becomes the new file, open. */
int p9_lcreate(struct p9_op *op)
{
	char name[P9_NAME_MAX];
	uint32_t num = p9_get_u32(&op->in);
	p9_get_str(&op->in, name, sizeof(name));
	uint32_t flags = p9_get_u32(&op->in), mode = p9_get_u32(&op->in);
	uint32_t gid = p9_get_u32(&op->in);
	int r;
	if (P9_BAD(op))
		return -EPROTO;
	if (op->s->readonly)
		return -EROFS;
	struct p9_fid *f = file_fid(op, num, &r);
	if (!f)
		return r;
	int h = host_flags(flags) & ~O_DIRECTORY;
	bool made;
	mode_t perm = p9_perm(op->s, mode, false);
	int fd = p9_open(op->s, f->fd, name, h, perm, &made);
	struct stat st;
	r = fd < 0 ? fd : 0;
	if (r == 0) {
		if (made) /* a file that was there keeps its owner */
			p9_set_owner(op->s, fd, "", f->uid, gid, perm);
		int pfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
		r = pfd < 0 || p9_stat_fd(fd, &st) < 0 ? -errno : 0;
		pthread_mutex_lock(&f->lock);
		if (r == 0 && f->open_fd < 0 && f->old_fd < 0) {
			/* The fid now names the new file. */
			f->old_fd = f->fd;
			__atomic_store_n(&f->fd, pfd, __ATOMIC_RELEASE);
			f->mode = st.st_mode & S_IFMT;
			r = set_open(f, fd, h & ~(O_EXCL | O_TRUNC));
		} else {
			r = r < 0 ? r : -EBADF;
			close(fd);
			if (pfd >= 0)
				close(pfd);
		}
		pthread_mutex_unlock(&f->lock);
	}
	if (r == 0) {
		p9_put_qid(op->s, &op->out, &st);
		p9_put_u32(&op->out, 0);
	}
	p9_fid_put(op->s, f);
	return r;
}

/* preadv/pwritev until len bytes or the end of the file; returns bytes. */
static ssize_t rw_all(int fd, struct iovec *iov, unsigned n, off_t off, bool wr)
{
	ssize_t done = 0;
	while (n) {
		ssize_t r = wr ? pwritev(fd, iov, n, off) : preadv(fd, iov, n, off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return done ? done : -errno;
		if (r == 0)
			break;
		done += r;
		off += r;
		while (n && (size_t)r >= iov->iov_len) {
			r -= iov->iov_len;
			iov++;
			n--;
		}
		if (n) {
			iov->iov_base = (uint8_t *)iov->iov_base + r;
			iov->iov_len -= r;
		}
	}
	return done;
}

/* The open fid numbered num (or an xattr fid when xattr_ok). */
static struct p9_fid *open_fid(struct p9_op *op, uint32_t num)
{
	struct p9_fid *f = p9_fid_get(op->s, num);
	if (f && f->kind == FID_FILE && f->open_fd < 0) {
		p9_fid_put(op->s, f);
		return NULL;
	}
	return f;
}

/* Tread fid[4] offset[8] count[4] -> count[4] data[count], read straight
 * into the reply's buffers. */
int p9_read(struct p9_op *op)
{
	uint32_t num = p9_get_u32(&op->in);
	uint64_t off = p9_get_u64(&op->in);
	uint32_t count = p9_get_u32(&op->in);
	if (P9_BAD(op))
		return -EPROTO;
	if (off > INT64_MAX)
		return -EINVAL;
	struct p9_fid *f = open_fid(op, num);
	if (!f)
		return -EBADF;
	int r = 0;
	size_t room = p9_cur_left(&op->out);
	if (count > room - (room < 4 ? room : 4))
		count = room < 4 ? 0 : room - 4;
	if (f->kind != FID_FILE) {
		pthread_mutex_lock(&f->lock);
		r = p9_xattr_read(op, f, off, count);
		pthread_mutex_unlock(&f->lock);
	} else {
		struct iovec iov[P9_MAX_MSIZE / 4096 + 8];
		p9_put_u32(&op->out, 0);
		unsigned n = p9_cur_take(&op->out, count, iov, sizeof(iov) / sizeof(iov[0]));
		ssize_t got = rw_all(f->open_fd, iov, n, off, false);
		r = got < 0 ? (int)got : 0;
		if (r == 0) {
			p9_cur_seek(&op->out, P9_HDR);
			p9_put_u32(&op->out, got);
			p9_cur_seek(&op->out, P9_HDR + 4 + got);
		}
	}
	p9_fid_put(op->s, f);
	return r;
}

/* Twrite fid[4] offset[8] count[4] data[count] -> count[4], written
 * straight from the request's buffers. */
int p9_write(struct p9_op *op)
{
	uint32_t num = p9_get_u32(&op->in);
	uint64_t off = p9_get_u64(&op->in);
	uint32_t count = p9_get_u32(&op->in);
	if (P9_BAD(op) || count > p9_cur_left(&op->in))
		return -EPROTO;
	if (off > INT64_MAX)
		return -EINVAL;
	struct p9_fid *f = open_fid(op, num);
	if (!f)
		return -EBADF;
	int r;
	if (f->kind == FID_XATTR_WRITE) {
		pthread_mutex_lock(&f->lock);
		r = p9_xattr_write(op, f, off, count);
		pthread_mutex_unlock(&f->lock);
	} else if (f->kind != FID_FILE || (f->open_flags & O_ACCMODE) == O_RDONLY) {
		r = -EBADF;
	} else {
		struct iovec iov[P9_MAX_MSIZE / 4096 + 8];
		unsigned n = p9_cur_take(&op->in, count, iov, sizeof(iov) / sizeof(iov[0]));
		ssize_t done = rw_all(f->open_fd, iov, n, off, true);
		r = done < 0 ? (int)done : 0;
		if (r == 0)
			p9_put_u32(&op->out, done);
	}
	p9_fid_put(op->s, f);
	return r;
}

/* dirent type to qid type (the client only looks at dir and symlink). */
static void put_dirent(struct p9_op *op, const struct dirent64 *d)
{
	struct stat st = { .st_ino = d->d_ino, .st_dev = op->s->root_dev };
	st.st_mode = d->d_type == DT_DIR ? S_IFDIR : d->d_type == DT_LNK ? S_IFLNK : S_IFREG;
	p9_put_qid(op->s, &op->out, &st);
	p9_put_u64(&op->out, d->d_off);
	p9_put_u8(&op->out, d->d_type);
	p9_put_str(&op->out, d->d_name);
}

/* Treaddir fid[4] offset[8] count[4] -> count[4] entries: qid[13]
 * offset[8] type[1] name[s] each, as many as fit in count. */
int p9_readdir(struct p9_op *op)
{
	uint32_t num = p9_get_u32(&op->in);
	uint64_t off = p9_get_u64(&op->in);
	uint32_t count = p9_get_u32(&op->in);
	if (P9_BAD(op))
		return -EPROTO;
	struct p9_fid *f = open_fid(op, num);
	if (!f || f->kind != FID_FILE) {
		p9_fid_put(op->s, f);
		return -EBADF;
	}
	size_t room = p9_cur_left(&op->out);
	if (count > room - (room < 4 ? room : 4))
		count = room < 4 ? 0 : room - 4;
	size_t bufsz = count < 65536 ? count + 512 : 65536;
	char *buf = malloc(bufsz);
	int r = buf ? 0 : -ENOMEM;
	p9_put_u32(&op->out, 0);
	size_t start = op->out.pos, used = 0;
	pthread_mutex_lock(&f->lock);
	if (r == 0 && lseek(f->open_fd, (off_t)off, SEEK_SET) < 0)
		r = -errno;
	while (r == 0) {
		long n = syscall(SYS_getdents64, f->open_fd, buf, bufsz);
		if (n <= 0) {
			r = n < 0 ? -errno : 0;
			break;
		}
		long pos = 0;
		bool full = false;
		while (pos < n) {
			struct dirent64 *d = (struct dirent64 *)(buf + pos);
			size_t need = 13 + 8 + 1 + 2 + strlen(d->d_name);
			/* The next Treaddir starts from the last entry's offset. */
			if (used + need > count) {
				/* Not even one entry: an empty reply would be the end
				 * of the directory to the client; getdents64 says
				 * EINVAL for a buffer this small. */
				r = used ? 0 : -EINVAL;
				full = true;
				break;
			}
			put_dirent(op, d);
			used += need;
			pos += d->d_reclen;
		}
		if (full)
			break;
	}
	pthread_mutex_unlock(&f->lock);
	free(buf);
	p9_fid_put(op->s, f);
	if (r < 0)
		return r;
	p9_cur_seek(&op->out, P9_HDR);
	p9_put_u32(&op->out, used);
	p9_cur_seek(&op->out, start + used);
	return 0;
}

/* Tfsync fid[4] datasync[4] */
int p9_fsync(struct p9_op *op)
{
	uint32_t num = p9_get_u32(&op->in), datasync = p9_get_u32(&op->in);
	if (P9_BAD(op))
		return -EPROTO;
	struct p9_fid *f = open_fid(op, num);
	if (!f || f->kind != FID_FILE) {
		p9_fid_put(op->s, f);
		return -EBADF;
	}
	int r = (datasync ? fdatasync(f->open_fd) : fsync(f->open_fd)) < 0 ? -errno : 0;
	p9_fid_put(op->s, f);
	return r;
}
