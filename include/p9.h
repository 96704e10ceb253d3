/* p9.h - a 9P2000.L file server, independent of any transport.
 *
 * A transport hands the server one request at a time as two iovec lists:
 * the bytes of the T-message (readable) and the space for the R-message
 * (writable). The server parses the request in place, carries it out on the
 * host directory it serves and writes the reply; reads go straight from the
 * file into the reply buffers and writes straight from the request, so guest
 * memory is never staged. Requests may run on several threads at once and
 * complete in any order.
 *
 * Everything in a request is hostile: sizes, strings, fids and names are
 * checked, a malformed message gets Rlerror (or an empty reply when there is
 * no room for even that), and every host path is resolved one component at
 * a time beneath the share's root (openat2 RESOLVE_BENEATH, no symlinks, no
 * magic links), so nothing the guest sends reaches outside it.
 *
 * Protocol reference: the 9P2000.L description in the Linux and diod
 * sources (message layouts) and 9P2000 intro(5) (fids, tags, flush).
 */
#ifndef P9_H
#define P9_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/* Largest message the server accepts (msize is negotiated down to it). */
#define P9_MAX_MSIZE (1u << 20)
/* Fids one session may hold (each holds host fds) unless p9_server_new
 * is given a lower cap. */
#define P9_DEFAULT_MAX_FIDS 65536
/* Host fds one fid may hold at once: its own, its open file, and the
 * directory's that a Tlcreate keeps until the fid goes. */
#define P9_FDS_PER_FID 3
/* Host fds a request holds for a moment beyond its fids' (a walk up
 * through "..": two of its own, two to check the parent). */
#define P9_FDS_PER_REQUEST 4
/* Bytes of xattr values all fids may buffer at once. */
#define P9_XATTR_BUDGET (16u << 20)

/* Message types (9P2000.L, plus the 9P2000 ones it keeps). */
enum {
	P9_RLERROR = 7,
	P9_TSTATFS = 8, P9_TLOPEN = 12, P9_TLCREATE = 14, P9_TSYMLINK = 16, P9_TMKNOD = 18,
	P9_TRENAME = 20, P9_TREADLINK = 22, P9_TGETATTR = 24, P9_TSETATTR = 26,
	P9_TXATTRWALK = 30, P9_TXATTRCREATE = 32, P9_TREADDIR = 40, P9_TFSYNC = 50,
	P9_TLOCK = 52, P9_TGETLOCK = 54, P9_TLINK = 70, P9_TMKDIR = 72, P9_TRENAMEAT = 74,
	P9_TUNLINKAT = 76, P9_TVERSION = 100, P9_TAUTH = 102, P9_TATTACH = 104,
	P9_TFLUSH = 108, P9_TWALK = 110, P9_TREAD = 116, P9_TWRITE = 118, P9_TCLUNK = 120,
	P9_TREMOVE = 122,
};

/* A position in a list of iovecs, for parsing a request or writing a reply.
 * Reading past the end sets err and yields zeros; writing past the end sets
 * err and drops the bytes. */
struct p9_cur {
	const struct iovec *iov;
	unsigned n;
	size_t pos, len; /* bytes consumed, bytes in total (both from the start) */
	unsigned i;      /* iov[i] holds byte pos, at offset off */
	size_t off;
	bool err;
};

/* A cursor at the start of n iovecs, limited to max bytes. */
void p9_cur_init(struct p9_cur *c, const struct iovec *iov, unsigned n, size_t max);
/* Move to absolute position pos (<= len). */
void p9_cur_seek(struct p9_cur *c, size_t pos);
/* Bytes left after the position. */
size_t p9_cur_left(const struct p9_cur *c);

uint8_t p9_get_u8(struct p9_cur *c);
uint16_t p9_get_u16(struct p9_cur *c);
uint32_t p9_get_u32(struct p9_cur *c);
uint64_t p9_get_u64(struct p9_cur *c);
/* A string[s] into buf (NUL-terminated, at most max-1 bytes). Returns its
 * length, or -1 (and err set) when it runs past the end, is longer than
 * max-1 or holds a NUL byte. */
int p9_get_str(struct p9_cur *c, char *buf, size_t max);
/* Describe the next len bytes as at most max iovecs in out and move past
 * them; returns the number of iovecs (err set when fewer bytes remain). */
unsigned p9_cur_take(struct p9_cur *c, size_t len, struct iovec *out, unsigned max);

void p9_put_u8(struct p9_cur *c, uint8_t v);
void p9_put_u16(struct p9_cur *c, uint16_t v);
void p9_put_u32(struct p9_cur *c, uint32_t v);
void p9_put_u64(struct p9_cur *c, uint64_t v);
void p9_put_str(struct p9_cur *c, const char *s);
void p9_put_bytes(struct p9_cur *c, const void *p, size_t len);

/* One request as the transport sees it. The fields after out are the
 * server's own (set by p9_begin). */
struct p9_req {
	const struct iovec *in;  /* the T-message */
	unsigned nin;
	const struct iovec *out; /* room for the R-message */
	unsigned nout;
	uint16_t tag;
	uint8_t type;
	uint64_t seq;
	struct p9_req *prev, *next; /* in the server's list of requests in flight */
};

struct p9_server;

/* p9_server_new flags. */
enum {
	P9_READONLY = 1,   /* refuse every change with EROFS */
	P9_PRIVILEGED = 2, /* let the guest set setuid and setgid bits and
			    * security.* and trusted.* xattrs, and make device
			    * nodes (refused otherwise) */
};

/* Serve the directory open as root_fd (any fd naming it; the server keeps
 * its own O_PATH copy) with P9_ flags; max_fids caps the fids (0:
 * P9_DEFAULT_MAX_FIDS). Returns NULL with errno set. */
struct p9_server *p9_server_new(int root_fd, unsigned flags, unsigned max_fids);

/* The fids each of nshares shares may hold when microvm may have nofile
 * fds (RLIMIT_NOFILE) and threads workers per share run requests: what is
 * left after microvm's own fds, at P9_FDS_PER_FID each (at least 1, at
 * most P9_DEFAULT_MAX_FIDS). */
unsigned p9_fid_budget(uint64_t nofile, unsigned nshares, unsigned threads);

/* Close every fid and free s (no request may be in flight). */
void p9_server_free(struct p9_server *s);

/* Note r as in flight, in the order the transport received requests (one
 * thread at a time). A Tflush waits for the requests noted before it. */
void p9_begin(struct p9_server *s, struct p9_req *r);

/* Carry out r and write its reply; returns the reply's length (0 when there
 * was not even room for Rlerror). Any thread; may block on host I/O. */
uint32_t p9_handle(struct p9_server *s, struct p9_req *r);

/* r's reply has reached the client: forget it (wakes a Tflush waiting). */
void p9_end(struct p9_server *s, struct p9_req *r);

/* Fids in use now (for tests and diagnostics). */
unsigned p9_fid_count(struct p9_server *s);

/* Snapshots (devices/9p/snap.c): wait until no request is in flight; save
 * msize and the fids (as paths below the root) into b; load them back on a
 * fresh server, a vanished file's fid answering ESTALE. 0 or -errno. */
struct snap_buf;
struct snap_reader;
void p9_wait_idle(struct p9_server *s);
int p9_server_save(struct p9_server *s, struct snap_buf *b);
int p9_server_load(struct p9_server *s, struct snap_reader *r);

#endif
