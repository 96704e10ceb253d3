/* server.c - the 9P2000.L session: message framing and dispatch, version,
 * attach, walk, clunk, flush. The file operations live in file.c, dir.c
 * and xattr.c. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server.h"

struct p9_server *p9_server_new(int root_fd, unsigned flags, unsigned max_fids)
{
	struct p9_server *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	*s = (struct p9_server){ .root_fd = -1, .proc_fd = -1, .readonly = flags & P9_READONLY,
				 .privileged = flags & P9_PRIVILEGED,
				 .max_fids = max_fids ? max_fids : P9_DEFAULT_MAX_FIDS,
				 .msize = P9_MAX_MSIZE };
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->done, NULL);
	struct stat st;
	char link[32], path[4096];
	snprintf(link, sizeof(link), "/proc/self/fd/%d", root_fd);
	ssize_t n = readlink(link, path, sizeof(path) - 1);
	s->root_fd = openat(root_fd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	s->proc_fd = open("/proc/self/fd", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (n > 0) {
		path[n] = 0;
		s->root_path = strdup(path);
	}
	if (s->root_fd < 0 || s->proc_fd < 0 || !s->root_path || p9_fids_init(s) < 0 ||
	    p9_stat_fd(s->root_fd, &st) < 0) {
		int e = errno ? errno : ENOMEM;
		p9_server_free(s);
		errno = e;
		return NULL;
	}
	s->root_dev = st.st_dev;
	s->root_ino = st.st_ino;
	return s;
}

void p9_server_free(struct p9_server *s)
{
	if (!s)
		return;
	if (s->table)
		p9_fids_clear(s);
	free(s->table);
	if (s->root_fd >= 0)
		close(s->root_fd);
	if (s->proc_fd >= 0)
		close(s->proc_fd);
	free(s->root_path);
	free(s->stale);
	pthread_cond_destroy(&s->done);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

/* --- requests in flight, for Tflush ------------------------------------- */

void p9_begin(struct p9_server *s, struct p9_req *r)
{
	struct p9_cur c;
	p9_cur_init(&c, r->in, r->nin, P9_HDR);
	p9_cur_seek(&c, 4);
	r->type = p9_get_u8(&c);
	r->tag = p9_get_u16(&c);
	pthread_mutex_lock(&s->lock);
	r->seq = ++s->seq;
	r->prev = NULL;
	r->next = s->inflight;
	if (r->next)
		r->next->prev = r;
	s->inflight = r;
	pthread_mutex_unlock(&s->lock);
}

void p9_end(struct p9_server *s, struct p9_req *r)
{
	pthread_mutex_lock(&s->lock);
	if (r->prev)
		r->prev->next = r->next;
	else
		s->inflight = r->next;
	if (r->next)
		r->next->prev = r->prev;
	pthread_cond_broadcast(&s->done);
	pthread_mutex_unlock(&s->lock);
}

/* Requests with this tag that came before seq are still in flight. */
static bool tag_busy(struct p9_server *s, uint16_t tag, uint64_t seq)
{
	for (struct p9_req *r = s->inflight; r; r = r->next)
		if (r->tag == tag && r->seq < seq)
			return true;
	return false;
}

/* Tflush oldtag[2]: answered once the flushed request has been answered.
 * Workers take requests in order, so it is running already and never
 * waits for this one: no deadlock. */
static int do_flush(struct p9_op *op)
{
	uint16_t oldtag = p9_get_u16(&op->in);
	if (P9_BAD(op))
		return -EPROTO;
	struct p9_server *s = op->s;
	pthread_mutex_lock(&s->lock);
	while (tag_busy(s, oldtag, op->req->seq))
		pthread_cond_wait(&s->done, &s->lock);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

/* --- session ------------------------------------------------------------ */

/* Tversion msize[4] version[s]: starts a new session, every fid clunked. */
static int do_version(struct p9_op *op)
{
	char version[32];
	uint32_t msize = p9_get_u32(&op->in);
	if (p9_get_str(&op->in, version, sizeof(version)) < 0)
		strcpy(version, "?"); /* too long: some dialect we do not know */
	else if (P9_BAD(op))
		return -EPROTO;
	if (msize < 4096)
		return -EINVAL;
	if (msize > P9_MAX_MSIZE)
		msize = P9_MAX_MSIZE;
	p9_fids_clear(op->s);
	pthread_mutex_lock(&op->s->lock);
	op->s->msize = msize;
	pthread_mutex_unlock(&op->s->lock);
	p9_put_u32(&op->out, msize);
	p9_put_str(&op->out, strncmp(version, "9P2000.L", 8) ? "unknown" : "9P2000.L");
	return 0;
}

/* Tattach fid[4] afid[4] uname[s] aname[s] n_uname[4]: the share's root.
 * There is no authentication (afid must be NOFID) and aname is ignored. */
static int do_attach(struct p9_op *op)
{
	char uname[P9_NAME_MAX], aname[P9_PATH_MAX];
	uint32_t fid = p9_get_u32(&op->in), afid = p9_get_u32(&op->in);
	p9_get_str(&op->in, uname, sizeof(uname));
	p9_get_str(&op->in, aname, sizeof(aname));
	uint32_t uid = p9_get_u32(&op->in);
	if (P9_BAD(op))
		return -EPROTO;
	if (afid != P9_NOFID)
		return -EOPNOTSUPP;
	struct stat st;
	int fd = fcntl(op->s->root_fd, F_DUPFD_CLOEXEC, 0);
	if (fd < 0 || p9_stat_fd(fd, &st) < 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		return -e;
	}
	int r = p9_fid_add(op->s, fid, fd, st.st_mode, uid, false);
	if (r == 0)
		p9_put_qid(op->s, &op->out, &st);
	return r;
}

/* Twalk fid[4] newfid[4] nwname[2] wname[s]...: up to 16 steps from fid.
 * A walk that fails at the first step is an error; a later failure returns
 * the qids walked so far and leaves newfid unused. */
static int do_walk(struct p9_op *op)
{
	char names[P9_MAXWELEM][P9_NAME_MAX];
	uint32_t fid = p9_get_u32(&op->in), newfid = p9_get_u32(&op->in);
	uint16_t n = p9_get_u16(&op->in);
	if (n > P9_MAXWELEM)
		return -E2BIG;
	for (unsigned i = 0; i < n; i++)
		p9_get_str(&op->in, names[i], P9_NAME_MAX);
	if (P9_BAD(op))
		return -EPROTO;
	struct p9_fid *f = p9_fid_get(op->s, fid);
	if (!f)
		return -EBADF;
	if (f->kind != FID_FILE) {
		p9_fid_put(op->s, f);
		return -EBADF;
	}
	struct stat st;
	int fd = fcntl(f->fd, F_DUPFD_CLOEXEC, 0), r = fd < 0 ? -errno : 0;
	uint32_t uid = f->uid;
	p9_fid_put(op->s, f);
	if (r == 0)
		r = p9_stat_fd(fd, &st);
	p9_put_u16(&op->out, 0);
	unsigned done = 0;
	for (; r == 0 && done < n; done++) {
		int next = p9_walk1(op->s, fd, names[done]);
		if (next < 0 || p9_stat_fd(next, &st) < 0) {
			r = next < 0 ? next : -errno;
			if (next >= 0)
				close(next);
			break;
		}
		close(fd);
		fd = next;
		p9_put_qid(op->s, &op->out, &st);
	}
	if (done < n || r < 0) {
		if (fd >= 0)
			close(fd);
		if (done == 0)
			return r;
	} else {
		r = p9_fid_add(op->s, newfid, fd, st.st_mode, uid, newfid == fid);
		if (r < 0)
			return r;
	}
	p9_cur_seek(&op->out, P9_HDR);
	p9_put_u16(&op->out, done);
	p9_cur_seek(&op->out, P9_HDR + 2 + 13 * done);
	return 0;
}

/* Tclunk fid[4]: forget fid; an xattr being written is set now. */
static int do_clunk(struct p9_op *op)
{
	uint32_t fid = p9_get_u32(&op->in);
	if (P9_BAD(op))
		return -EPROTO;
	struct p9_fid *f = p9_fid_remove(op->s, fid);
	if (!f)
		return p9_stale_forget(op->s, fid, true) ? 0 : -EBADF;
	int r = 0;
	if (f->kind == FID_XATTR_WRITE) {
		pthread_mutex_lock(&f->lock);
		r = p9_xattr_commit(op->s, f);
		pthread_mutex_unlock(&f->lock);
	}
	p9_fid_put(op->s, f);
	return r;
}

static int do_auth(struct p9_op *op)
{
	(void)op;
	return -EOPNOTSUPP;
}

typedef int (*p9_handler)(struct p9_op *op);

static const p9_handler handlers[256] = {
	[P9_TSTATFS] = p9_statfs, [P9_TLOPEN] = p9_lopen, [P9_TLCREATE] = p9_lcreate,
	[P9_TSYMLINK] = p9_symlink, [P9_TMKNOD] = p9_mknod, [P9_TRENAME] = p9_rename,
	[P9_TREADLINK] = p9_readlink, [P9_TGETATTR] = p9_getattr, [P9_TSETATTR] = p9_setattr,
	[P9_TXATTRWALK] = p9_xattrwalk, [P9_TXATTRCREATE] = p9_xattrcreate,
	[P9_TREADDIR] = p9_readdir, [P9_TFSYNC] = p9_fsync, [P9_TLOCK] = p9_lock,
	[P9_TGETLOCK] = p9_getlock, [P9_TLINK] = p9_link, [P9_TMKDIR] = p9_mkdir,
	[P9_TRENAMEAT] = p9_renameat, [P9_TUNLINKAT] = p9_unlinkat, [P9_TVERSION] = do_version,
	[P9_TAUTH] = do_auth, [P9_TATTACH] = do_attach, [P9_TFLUSH] = do_flush,
	[P9_TWALK] = do_walk, [P9_TREAD] = p9_read, [P9_TWRITE] = p9_write,
	[P9_TCLUNK] = do_clunk, [P9_TREMOVE] = p9_remove,
};

/* Frame the reply: size[4] type[1] tag[2] before the body written so far. */
static uint32_t finish(struct p9_op *op, uint8_t type)
{
	uint32_t len = op->out.pos;
	p9_cur_seek(&op->out, 0);
	p9_put_u32(&op->out, len);
	p9_put_u8(&op->out, type);
	p9_put_u16(&op->out, op->req->tag);
	return len;
}

static uint32_t lerror(struct p9_op *op, int err)
{
	if (op->out.len < P9_HDR + 4)
		return 0; /* no room even for Rlerror */
	op->out.err = false;
	p9_cur_seek(&op->out, P9_HDR);
	p9_put_u32(&op->out, err);
	return finish(op, P9_RLERROR);
}

/* The little-endian u32 at byte off of r's request, if it is there. */
static bool iov_peek_u32(const struct p9_req *r, size_t off, uint32_t *v)
{
	struct p9_cur c;
	p9_cur_init(&c, r->in, r->nin, P9_MAX_MSIZE + 1);
	p9_cur_seek(&c, off);
	*v = p9_get_u32(&c);
	return !c.err;
}

uint32_t p9_handle(struct p9_server *s, struct p9_req *r)
{
	pthread_mutex_lock(&s->lock);
	uint32_t msize = s->msize;
	pthread_mutex_unlock(&s->lock);
	struct p9_op op = { .s = s, .req = r };
	p9_cur_init(&op.in, r->in, r->nin, P9_MAX_MSIZE + 1);
	p9_cur_init(&op.out, r->out, r->nout, msize);
	uint32_t size = p9_get_u32(&op.in);
	p9_cur_seek(&op.in, P9_HDR);
	p9_cur_seek(&op.out, P9_HDR);
	/* size[4] counts the whole message; what follows it is not ours. */
	if (op.in.err || size < P9_HDR || size > op.in.len)
		return lerror(&op, EPROTO);
	if (size > msize && r->type != P9_TVERSION)
		return lerror(&op, EMSGSIZE);
	op.in.len = size;
	p9_handler h = (r->type & 1) ? NULL : handlers[r->type];
	int e = h ? h(&op) : -EOPNOTSUPP;
	/* A fid whose file was gone at a restore: the first field is the fid
	 * of every request that names one first. */
	uint32_t fid;
	if (e == -EBADF && s->nstale && r->nin && size >= P9_HDR + 4 &&
	    iov_peek_u32(r, P9_HDR, &fid) && p9_stale_forget(s, fid, false))
		e = -ESTALE;
	if (e == 0 && op.out.err)
		e = -EMSGSIZE; /* the reply did not fit the client's buffer */
	return e < 0 ? lerror(&op, -e) : finish(&op, r->type + 1);
}
