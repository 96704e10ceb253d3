/* server.h - what the 9P server's files share: the session, the fid table
 * and the handler convention. Private to devices/9p/. */
#ifndef P9_SERVER_H
#define P9_SERVER_H

#include <errno.h>
#include <sys/stat.h>

#include "p9.h"

#define P9_NOFID 0xffffffffu
#define P9_NONUID 0xffffffffu
#define P9_MAXWELEM 16
#define P9_HDR 7            /* size[4] type[1] tag[2] */
#define P9_NAME_MAX 256     /* a path component, with its NUL */
#define P9_PATH_MAX 4096    /* a symlink target, with its NUL */
#define P9_XATTR_MAX 65536  /* one xattr value or name list (XATTR_SIZE_MAX) */

enum p9_fid_kind { FID_FILE, FID_XATTR_READ, FID_XATTR_WRITE };

/* A fid: a host file held by an fd (O_PATH until the guest opens it, when
 * open_fd holds the open file too), or an xattr being read or written.
 * Counted references keep it alive while a request uses it after a clunk. */
struct p9_fid {
	uint32_t num;
	struct p9_fid *hnext;  /* hash chain, under s->lock */
	unsigned refs;         /* under s->lock */
	pthread_mutex_t lock;  /* open state, directory offset, xattr buffer */
	enum p9_fid_kind kind;
	int fd;                /* never -1 */
	int old_fd;            /* fd before Tlcreate moved the fid (-1): kept open until
				* the fid goes, so a racing request never meets a
				* recycled fd number */
	int open_fd;           /* -1 until Tlopen / Tlcreate */
	int open_flags;        /* host O_ flags of open_fd */
	mode_t mode;           /* S_IFMT bits of the file */
	uint32_t uid;          /* n_uname of the attach, for new files */
	char *xname;           /* xattr name (FID_XATTR_WRITE) */
	uint8_t *xbuf;
	size_t xsize;          /* value bytes held / expected */
	int xflags;
};

struct p9_server {
	int root_fd;           /* O_PATH, the share's top */
	int proc_fd;           /* /proc/self/fd, to reopen O_PATH fds */
	char *root_path;       /* the root as the kernel names it, for Tremove/Trename */
	dev_t root_dev;
	ino_t root_ino;
	bool readonly;
	bool privileged;       /* P9_PRIVILEGED */
	unsigned max_fids;
	pthread_mutex_t lock;  /* fid table, requests in flight, msize, xattr budget */
	pthread_cond_t done;   /* a request left the in-flight list */
	struct p9_fid **table;
	unsigned nbuckets, nfids;
	uint32_t msize;
	struct p9_req *inflight;
	uint64_t seq;
	size_t xattr_bytes;
	uint32_t *stale;       /* fids a restore found no file for (snap.c), under lock */
	unsigned nstale;
};

/* One request being handled: the request after its header, the reply
 * after its header. Handlers return 0 or -errno (sent as Rlerror). */
struct p9_op {
	struct p9_server *s;
	struct p9_req *req;
	struct p9_cur in, out;
};

/* Parsing ran past the end or met a bad string. */
#define P9_BAD(op) ((op)->in.err)

/* fid.c */
int p9_fids_init(struct p9_server *s);
void p9_fids_clear(struct p9_server *s);
/* The fid numbered num with a reference taken, or NULL. */
struct p9_fid *p9_fid_get(struct p9_server *s, uint32_t num);
void p9_fid_put(struct p9_server *s, struct p9_fid *f);
/* A new fid holding fd (consumed, also on failure) with mode and uid.
 * Installs it as num: -EEXIST when num is taken and replace is false,
 * -EMFILE at the cap. */
int p9_fid_add(struct p9_server *s, uint32_t num, int fd, mode_t mode, uint32_t uid,
	       bool replace);
/* Take num out of the table; returns it (the table's reference) or NULL. */
struct p9_fid *p9_fid_remove(struct p9_server *s, uint32_t num);
/* Reserve or give back xattr buffer bytes against P9_XATTR_BUDGET. */
int p9_xattr_reserve(struct p9_server *s, size_t n);
void p9_xattr_release(struct p9_server *s, size_t n);

/* snap.c: true when num is a stale fid (forget: and drop it). */
bool p9_stale_forget(struct p9_server *s, uint32_t num, bool forget);

/* path.c: confinement. */
/* Check that name is one path component: not empty, ".", "..", no '/'. */
int p9_check_name(const char *name);
/* Open name beneath dirfd without following any symlink; flags gain
 * O_NOFOLLOW | O_CLOEXEC. Returns an fd or -errno. */
int p9_openat(int dirfd, const char *name, int flags, mode_t mode);
/* Walk one component (".." included, clamped at the root) from fd;
 * returns a new O_PATH fd or -errno. */
int p9_walk1(struct p9_server *s, int fd, const char *name);
/* The one way the server opens a file for I/O: fd's own file (name NULL)
 * or name beneath fd, made as a regular file with mode when missing (*made
 * says so; O_EXCL in flags: only then). Never a symlink, FIFO, socket or
 * device node (ELOOP, ENXIO), never blocking. Returns an fd or -errno. */
int p9_open(struct p9_server *s, int fd, const char *name, int flags, mode_t mode, bool *made);
/* Name of fd under /proc/self/fd, relative to s->proc_fd. */
void p9_fdname(int fd, char buf[16]);
/* The directory holding f's file now and its name there (Tremove,
 * Trename); *dirfd is an O_PATH fd to close. */
int p9_fid_parent(struct p9_server *s, struct p9_fid *f, int *dirfd, char name[P9_NAME_MAX]);
/* qid[13] of st. */
void p9_put_qid(struct p9_server *s, struct p9_cur *c, const struct stat *st);
int p9_stat_fd(int fd, struct stat *st);
/* The permission bits of mode the guest may give a file (a directory when
 * dir): without P9_PRIVILEGED no setuid, and setgid only on directories. */
mode_t p9_perm(const struct p9_server *s, uint32_t mode, bool dir);
/* Give a file the guest made (name in dirfd, or dirfd itself when name is
 * "") its owner: uid (P9_NONUID: leave) and gid; on a privileged share
 * also the setuid and setgid bits of mode, which chown clears (0 for a
 * directory: mkdir never sets them, as on Linux). */
void p9_set_owner(struct p9_server *s, int dirfd, const char *name, uint32_t uid, uint32_t gid,
		  mode_t mode);

/* Handlers, by file. */
int p9_lopen(struct p9_op *op);
int p9_lcreate(struct p9_op *op);
int p9_read(struct p9_op *op);
int p9_write(struct p9_op *op);
int p9_readdir(struct p9_op *op);
int p9_fsync(struct p9_op *op);
int p9_lock(struct p9_op *op);
int p9_getlock(struct p9_op *op);
int p9_getattr(struct p9_op *op);
int p9_setattr(struct p9_op *op);
int p9_statfs(struct p9_op *op);
int p9_readlink(struct p9_op *op);
int p9_symlink(struct p9_op *op);
int p9_mknod(struct p9_op *op);
int p9_mkdir(struct p9_op *op);
int p9_link(struct p9_op *op);
int p9_rename(struct p9_op *op);
int p9_renameat(struct p9_op *op);
int p9_unlinkat(struct p9_op *op);
int p9_remove(struct p9_op *op);
int p9_xattrwalk(struct p9_op *op);
int p9_xattrcreate(struct p9_op *op);
/* Read or write an xattr fid (Tread / Twrite on it), f->lock held. */
int p9_xattr_read(struct p9_op *op, struct p9_fid *f, uint64_t off, uint32_t count);
int p9_xattr_write(struct p9_op *op, struct p9_fid *f, uint64_t off, uint32_t count);
/* Set or remove the xattr an FID_XATTR_WRITE fid collected (at clunk). */
int p9_xattr_commit(struct p9_server *s, struct p9_fid *f);

#endif
