/* test_9p.c - the 9P2000.L server through a fake transport (plain buffers,
 * no VM): every message type, good and malformed, and the escapes a
 * hostile guest would try. The share is a fresh directory under /tmp with
 * a file beside it that must never be reachable. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <cmocka.h>

#include "p9msg.h"

enum { ROOT = 1, F2 = 2, F3 = 3, F4 = 4 };
#define O_DIR_DOTL 0200000

struct t {
	char top[64], root[80], outside[96];
	struct p9_server *s;
	struct msg m;
	uint8_t rep[1 << 17];
	uint32_t rlen;
	struct p9_cur rc; /* the reply after its header */
};

static struct msg *start(struct t *t, uint8_t type)
{
	return m_start(&t->m, type, 0x1234);
}

/* Send the message built so far; returns the reply's type. */
static int call_room(struct t *t, size_t room)
{
	m_end(&t->m);
	t->rlen = p9_call(t->s, t->m.b, t->m.len, t->rep, room);
	struct iovec v = { t->rep, t->rlen };
	p9_cur_init(&t->rc, &v, 1, t->rlen);
	if (t->rlen < 7)
		return -1;
	uint32_t size = p9_get_u32(&t->rc);
	assert_int_equal(size, t->rlen);
	int type = p9_get_u8(&t->rc);
	assert_int_equal(p9_get_u16(&t->rc), 0x1234);
	return type;
}

static int call(struct t *t)
{
	return call_room(t, sizeof(t->rep));
}

/* The reply's body as a cursor. */
static struct p9_cur *body(struct t *t)
{
	static struct iovec v;
	v = (struct iovec){ t->rep, t->rlen };
	p9_cur_init(&t->rc, &v, 1, t->rlen);
	p9_cur_seek(&t->rc, 7);
	return &t->rc;
}

/* Expect Rlerror; returns its errno. */
static int err_of(struct t *t)
{
	assert_int_equal(call(t), 7);
	return (int)p9_get_u32(body(t));
}

static void ok(struct t *t)
{
	int type = call(t);
	if (type == 7)
		fail_msg("Rlerror %u for type %u", p9_get_u32(body(t)), t->m.b[4]);
	assert_int_equal(type, t->m.b[4] + 1);
}

static void version(struct t *t, uint32_t msize)
{
	m_u32(start(t, P9_TVERSION), msize);
	m_str(&t->m, "9P2000.L");
	ok(t);
}

static void attach(struct t *t, uint32_t fid)
{
	m_u32(start(t, P9_TATTACH), fid);
	m_u32(&t->m, ~0u);
	m_str(&t->m, "root");
	m_str(&t->m, "");
	m_u32(&t->m, 0);
}

/* Twalk fid -> newfid through the names (NULL-terminated). */
static void walk(struct t *t, uint32_t fid, uint32_t newfid, const char **names)
{
	int n = 0;
	while (names[n])
		n++;
	m_u32(start(t, P9_TWALK), fid);
	m_u32(&t->m, newfid);
	m_u16(&t->m, n);
	for (int i = 0; i < n; i++)
		m_str(&t->m, names[i]);
}

static void clunk(struct t *t, uint32_t fid)
{
	m_u32(start(t, P9_TCLUNK), fid);
	ok(t);
}

static void lopen(struct t *t, uint32_t fid, uint32_t flags)
{
	m_u32(start(t, P9_TLOPEN), fid);
	m_u32(&t->m, flags);
}

static void lcreate(struct t *t, uint32_t fid, const char *name, uint32_t flags, uint32_t mode)
{
	m_u32(start(t, P9_TLCREATE), fid);
	m_str(&t->m, name);
	m_u32(&t->m, flags);
	m_u32(&t->m, mode);
	m_u32(&t->m, getgid());
}

static void twrite(struct t *t, uint32_t fid, uint64_t off, const char *data)
{
	m_u32(start(t, P9_TWRITE), fid);
	m_u64(&t->m, off);
	m_u32(&t->m, strlen(data));
	m_raw(&t->m, data, strlen(data));
}

static void tread(struct t *t, uint32_t fid, uint64_t off, uint32_t count)
{
	m_u32(start(t, P9_TREAD), fid);
	m_u64(&t->m, off);
	m_u32(&t->m, count);
}

/* A walk from the root to path's components (one level) as newfid. */
static int walk1(struct t *t, uint32_t newfid, const char *name)
{
	const char *n[] = { name, NULL };
	walk(t, ROOT, newfid, n);
	return call(t);
}

static char *in_root(struct t *t, const char *name)
{
	static char p[256];
	snprintf(p, sizeof(p), "%s/%s", t->root, name);
	return p;
}

static struct t *make(bool readonly)
{
	struct t *t = calloc(1, sizeof(*t));
	strcpy(t->top, "/tmp/p9test.XXXXXX");
	assert_non_null(mkdtemp(t->top));
	snprintf(t->root, sizeof(t->root), "%s/root", t->top);
	snprintf(t->outside, sizeof(t->outside), "%s/outside", t->top);
	assert_int_equal(mkdir(t->root, 0755), 0);
	FILE *f = fopen(t->outside, "w");
	fputs("host secret\n", f);
	fclose(f);
	f = fopen(in_root(t, "hello"), "w");
	fputs("hello, world\n", f);
	fclose(f);
	assert_int_equal(mkdir(in_root(t, "sub"), 0755), 0);
	assert_int_equal(symlink("/etc", in_root(t, "etc")), 0);
	assert_int_equal(symlink("../outside", in_root(t, "up")), 0);
	int fd = open(t->root, O_PATH | O_DIRECTORY);
	t->s = p9_server_new(fd, readonly ? P9_READONLY : 0, 0);
	close(fd);
	assert_non_null(t->s);
	version(t, 65536);
	attach(t, ROOT);
	ok(t);
	return t;
}

static int setup(void **state)
{
	*state = make(false);
	return 0;
}

static int setup_ro(void **state)
{
	*state = make(true);
	return 0;
}

static int teardown(void **state)
{
	struct t *t = *state;
	p9_server_free(t->s);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", t->top);
	assert_int_equal(system(cmd), 0);
	free(t);
	return 0;
}

static void test_version(void **state)
{
	struct t *t = *state;
	m_u32(start(t, P9_TVERSION), 8u << 20);
	m_str(&t->m, "9P2000.L");
	ok(t);
	assert_int_equal(p9_get_u32(body(t)), P9_MAX_MSIZE); /* clamped */
	m_u32(start(t, P9_TVERSION), 8192);
	m_str(&t->m, "9P2000.u");
	ok(t);
	char v[16];
	struct p9_cur *c = body(t);
	p9_get_u32(c);
	p9_get_str(c, v, sizeof(v));
	assert_string_equal(v, "unknown");
	m_u32(start(t, P9_TVERSION), 100); /* too small to work with */
	m_str(&t->m, "9P2000.L");
	assert_int_equal(err_of(t), EINVAL);
	/* A new session forgets every fid. */
	assert_int_equal(p9_fid_count(t->s), 0);
}

static void test_attach(void **state)
{
	struct t *t = *state;
	attach(t, ROOT);
	assert_int_equal(err_of(t), EEXIST); /* fid in use */
	attach(t, F2);
	t->m.len -= 4 + 2 + 2; /* cut n_uname and part of aname: past the end */
	assert_int_equal(err_of(t), EPROTO);
	m_u32(start(t, P9_TAUTH), 9);
	m_str(&t->m, "u");
	m_str(&t->m, "");
	m_u32(&t->m, 0);
	assert_int_equal(err_of(t), EOPNOTSUPP);
	attach(t, F2);
	memcpy(t->m.b + 11, &(uint32_t){ 5 }, 4); /* afid: no auth here */
	assert_int_equal(err_of(t), EOPNOTSUPP);
}

static void test_walk(void **state)
{
	struct t *t = *state;
	const char *hello[] = { "hello", NULL }, *none[] = { NULL };
	walk(t, ROOT, F2, hello);
	ok(t);
	struct p9_cur *c = body(t);
	assert_int_equal(p9_get_u16(c), 1);
	assert_int_equal(p9_get_u8(c), 0); /* a file */
	walk(t, ROOT, F2, hello);
	assert_int_equal(err_of(t), EEXIST); /* newfid in use */
	walk(t, 99, F3, none);
	assert_int_equal(err_of(t), EBADF);
	walk(t, ROOT, F3, none); /* clone */
	ok(t);
	assert_int_equal(p9_get_u16(body(t)), 0);
	/* Partial: the first name is there, the second not: one qid, no fid. */
	const char *part[] = { "sub", "nothing", NULL };
	walk(t, ROOT, F4, part);
	ok(t);
	assert_int_equal(p9_get_u16(body(t)), 1);
	assert_int_equal(p9_fid_count(t->s), 3);
	const char *miss[] = { "nothing", NULL };
	walk(t, ROOT, F4, miss);
	assert_int_equal(err_of(t), ENOENT);
	/* Too many names. */
	const char *many[18];
	for (int i = 0; i < 17; i++)
		many[i] = "sub";
	many[17] = NULL;
	walk(t, ROOT, F4, many);
	assert_int_equal(err_of(t), E2BIG);
	/* A fid walked onto itself moves. */
	const char *sub[] = { "sub", NULL };
	walk(t, F3, F3, sub);
	ok(t);
	assert_int_equal(p9_get_u16(body(t)), 1);
}

static void test_escape(void **state)
{
	struct t *t = *state;
	/* ".." chains stop at the root: the qid is the root's. */
	const char *root_only[] = { NULL };
	walk(t, ROOT, F2, root_only);
	ok(t);
	const char *dots[] = { "sub", "..", "..", "..", "..", NULL };
	walk(t, ROOT, F3, dots);
	ok(t);
	struct p9_cur *c = body(t);
	assert_int_equal(p9_get_u16(c), 5);
	p9_cur_seek(c, 9 + 13 * 4);
	uint8_t qtype = p9_get_u8(c);
	p9_get_u32(c);
	uint64_t path = p9_get_u64(c);
	struct stat st;
	assert_int_equal(stat(t->root, &st), 0);
	assert_int_equal(qtype, 0x80);
	assert_int_equal(path, st.st_ino);
	clunk(t, F3);
	/* Symlinks are never followed: walking through one fails, inside or out. */
	const char *via_etc[] = { "etc", "passwd", NULL }, *via_up[] = { "up", NULL };
	walk(t, ROOT, F4, via_etc);
	ok(t); /* stops at the link: one qid, F4 not made */
	assert_int_equal(p9_get_u16(body(t)), 1);
	tread(t, F4, 0, 10);
	assert_int_equal(err_of(t), EBADF);
	int e;
	walk(t, ROOT, F4, via_up);
	ok(t); /* the link itself, as a symlink qid */
	assert_int_equal(p9_get_u16(c = body(t)), 1);
	assert_int_equal(p9_get_u8(c), 0x02);
	lopen(t, F4, 0);
	assert_int_equal(err_of(t), ELOOP);
	clunk(t, F4);
	/* Names with a slash, "." and ".." as a new name. */
	const char *slash[] = { "sub/../../outside", NULL };
	walk(t, ROOT, F4, slash);
	assert_int_equal(err_of(t), EINVAL);
	lcreate(t, ROOT, "../outside", 02, 0644);
	assert_int_equal(err_of(t), EINVAL);
	/* Creating through a dangling or outward symlink fails. */
	assert_int_equal(symlink("../newfile", in_root(t, "dangling")), 0);
	walk(t, ROOT, F4, root_only);
	ok(t);
	lcreate(t, F4, "dangling", 02 | 0100, 0644);
	assert_int_equal(err_of(t), ELOOP);
	lcreate(t, F4, "up", 02 | 01000, 0644);
	e = err_of(t);
	assert_true(e == ELOOP || e == EEXIST);
	/* Rename and link out of the tree. */
	m_u32(start(t, P9_TRENAMEAT), ROOT);
	m_str(&t->m, "hello");
	m_u32(&t->m, ROOT);
	m_str(&t->m, "../stolen");
	assert_int_equal(err_of(t), EINVAL);
	const char *hello[] = { "hello", NULL };
	walk(t, ROOT, F3, hello);
	ok(t);
	m_u32(start(t, P9_TLINK), ROOT);
	m_u32(&t->m, F3);
	m_str(&t->m, "../stolen");
	assert_int_equal(err_of(t), EINVAL);
	m_u32(start(t, P9_TRENAME), F3);
	m_u32(&t->m, ROOT);
	m_str(&t->m, "..");
	assert_int_equal(err_of(t), EINVAL);
	/* The share's root cannot be renamed or removed. */
	m_u32(start(t, P9_TRENAME), F2);
	m_u32(&t->m, ROOT);
	m_str(&t->m, "x");
	assert_int_equal(err_of(t), EBUSY);
	assert_int_equal(access(in_root(t, "../stolen"), F_OK), -1);
	FILE *f = fopen(t->outside, "r");
	char line[32] = "";
	assert_non_null(fgets(line, sizeof(line), f));
	fclose(f);
	assert_string_equal(line, "host secret\n");
}

static void test_create_read_write(void **state)
{
	struct t *t = *state;
	const char *none[] = { NULL };
	walk(t, ROOT, F2, none);
	ok(t);
	lcreate(t, F2, "new", 02, 0640);
	ok(t);
	twrite(t, F2, 0, "0123456789");
	ok(t);
	assert_int_equal(p9_get_u32(body(t)), 10);
	twrite(t, F2, 20, "tail");
	ok(t);
	tread(t, F2, 5, 100);
	ok(t);
	struct p9_cur *c = body(t);
	assert_int_equal(p9_get_u32(c), 19);
	assert_memory_equal(t->rep + 11, "56789\0\0\0\0\0\0\0\0\0\0tail", 19);
	tread(t, F2, 1000, 100); /* past the end: nothing */
	ok(t);
	assert_int_equal(p9_get_u32(body(t)), 0);
	/* A reply buffer smaller than count: the read is cut to fit. */
	tread(t, F2, 0, 100);
	assert_int_equal(call_room(t, 11 + 4), P9_TREAD + 1);
	assert_int_equal(p9_get_u32(body(t)), 4);
	m_u32(start(t, P9_TFSYNC), F2);
	m_u32(&t->m, 0);
	ok(t);
	lopen(t, F2, 0); /* already open */
	assert_int_equal(err_of(t), EBADF);
	clunk(t, F2);
	struct stat st;
	assert_int_equal(stat(in_root(t, "new"), &st), 0);
	assert_int_equal(st.st_mode & 0777, 0640);
	assert_int_equal(st.st_size, 24);
	/* Open an existing file read-only: writes are refused. */
	assert_int_equal(walk1(t, F3, "hello"), P9_TWALK + 1);
	lopen(t, F3, 0);
	ok(t);
	twrite(t, F3, 0, "x");
	assert_int_equal(err_of(t), EBADF);
	tread(t, F3, 0, 5);
	ok(t);
	assert_memory_equal(t->rep + 11, "hello", 5);
	/* Read on a fid never opened. */
	assert_int_equal(walk1(t, F4, "hello"), P9_TWALK + 1);
	tread(t, F4, 0, 5);
	assert_int_equal(err_of(t), EBADF);
	/* Write whose count runs past the message. */
	twrite(t, F3, 0, "abc");
	memcpy(t->m.b + 7 + 12, &(uint32_t){ 1000 }, 4);
	assert_int_equal(err_of(t), EPROTO);
}

static void test_readdir(void **state)
{
	struct t *t = *state;
	for (int i = 0; i < 300; i++) {
		char n[32];
		snprintf(n, sizeof(n), "sub/entry-with-a-long-name-%03d", i);
		close(open(in_root(t, n), O_CREAT | O_WRONLY, 0644));
	}
	assert_int_equal(walk1(t, F2, "sub"), P9_TWALK + 1);
	lopen(t, F2, O_DIR_DOTL);
	ok(t);
	/* Small counts: many round trips, every entry exactly once. */
	uint64_t off = 0;
	int seen = 0, dots = 0, rounds = 0;
	char seen_map[300] = { 0 };
	for (;;) {
		m_u32(start(t, P9_TREADDIR), F2);
		m_u64(&t->m, off);
		m_u32(&t->m, 700);
		ok(t);
		struct p9_cur *c = body(t);
		uint32_t count = p9_get_u32(c);
		assert_true(count <= 700);
		if (count == 0)
			break;
		rounds++;
		size_t end = 11 + count;
		while (c->pos < end) {
			char name[256];
			p9_cur_seek(c, c->pos + 13);
			off = p9_get_u64(c);
			p9_get_u8(c);
			assert_true(p9_get_str(c, name, sizeof(name)) > 0);
			int k;
			if (!strcmp(name, ".") || !strcmp(name, ".."))
				dots++;
			else if (sscanf(name, "entry-with-a-long-name-%d", &k) == 1 && k < 300 &&
				 !seen_map[k]++)
				seen++;
			else
				fail_msg("unexpected or repeated entry %s", name);
		}
	}
	assert_int_equal(seen, 300);
	assert_int_equal(dots, 2);
	assert_true(rounds > 5);
	/* Readdir on a fid not opened. */
	m_u32(start(t, P9_TREADDIR), ROOT);
	m_u64(&t->m, 0);
	m_u32(&t->m, 700);
	assert_int_equal(err_of(t), EBADF);
}

static void test_attrs(void **state)
{
	struct t *t = *state;
	assert_int_equal(walk1(t, F2, "hello"), P9_TWALK + 1);
	m_u32(start(t, P9_TGETATTR), F2);
	m_u64(&t->m, 0x3fff);
	ok(t);
	struct p9_cur *c = body(t);
	assert_int_equal(p9_get_u64(c), 0x7ff);
	p9_cur_seek(c, 7 + 8 + 13);
	uint32_t mode = p9_get_u32(c);
	assert_true(S_ISREG(mode));
	p9_cur_seek(c, 7 + 8 + 13 + 12 + 16);
	assert_int_equal(p9_get_u64(c), 13); /* size */
	/* chmod, truncate, mtime. */
	m_u32(start(t, P9_TSETATTR), F2);
	m_u32(&t->m, 1 | 8 | 0x20 | 0x100);
	m_u32(&t->m, 0600);
	m_u32(&t->m, 0);
	m_u32(&t->m, 0);
	m_u64(&t->m, 5);
	m_u64(&t->m, 0);
	m_u64(&t->m, 0);
	m_u64(&t->m, 1000000000);
	m_u64(&t->m, 5);
	ok(t);
	struct stat st;
	assert_int_equal(stat(in_root(t, "hello"), &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(st.st_size, 5);
	assert_int_equal(st.st_mtim.tv_sec, 1000000000);
	/* Truncating a directory fails. */
	assert_int_equal(walk1(t, F3, "sub"), P9_TWALK + 1);
	m_u32(start(t, P9_TSETATTR), F3);
	m_u32(&t->m, 8);
	for (int i = 0; i < 3; i++)
		m_u32(&t->m, 0);
	for (int i = 0; i < 5; i++)
		m_u64(&t->m, 0);
	assert_int_equal(err_of(t), EISDIR);
	m_u32(start(t, P9_TSTATFS), ROOT);
	ok(t);
	c = body(t);
	p9_get_u32(c);
	assert_true(p9_get_u32(c) > 0); /* bsize */
	m_u32(start(t, P9_TSTATFS), 77);
	assert_int_equal(err_of(t), EBADF);
}

static void test_names(void **state)
{
	struct t *t = *state;
	m_u32(start(t, P9_TMKDIR), ROOT);
	m_str(&t->m, "dir");
	m_u32(&t->m, 0750);
	m_u32(&t->m, getgid());
	ok(t);
	assert_int_equal(p9_get_u8(body(t)), 0x80);
	m_u32(start(t, P9_TSYMLINK), ROOT);
	m_str(&t->m, "abs");
	m_str(&t->m, "/etc/passwd");
	m_u32(&t->m, getgid());
	ok(t);
	assert_int_equal(walk1(t, F2, "abs"), P9_TWALK + 1);
	m_u32(start(t, P9_TREADLINK), F2);
	ok(t);
	char target[64];
	p9_get_str(body(t), target, sizeof(target));
	assert_string_equal(target, "/etc/passwd");
	m_u32(start(t, P9_TMKNOD), ROOT);
	m_str(&t->m, "fifo");
	m_u32(&t->m, S_IFIFO | 0644);
	m_u32(&t->m, 0);
	m_u32(&t->m, 0);
	m_u32(&t->m, getgid());
	ok(t);
	struct stat st;
	assert_int_equal(lstat(in_root(t, "fifo"), &st), 0);
	assert_true(S_ISFIFO(st.st_mode));
	/* A FIFO is never opened by the server (it would block). */
	assert_int_equal(walk1(t, F3, "fifo"), P9_TWALK + 1);
	lopen(t, F3, 0);
	assert_int_equal(err_of(t), ENXIO);
	m_u32(start(t, P9_TMKNOD), ROOT);
	m_str(&t->m, "disk");
	m_u32(&t->m, S_IFBLK | 0600);
	m_u32(&t->m, 8);
	m_u32(&t->m, 0);
	m_u32(&t->m, 0);
	assert_int_equal(err_of(t), EPERM);
	/* Hard link, rename over an existing file, unlink, remove. */
	assert_int_equal(walk1(t, F4, "hello"), P9_TWALK + 1);
	m_u32(start(t, P9_TLINK), ROOT);
	m_u32(&t->m, F4);
	m_str(&t->m, "hello2");
	ok(t);
	assert_int_equal(lstat(in_root(t, "hello2"), &st), 0);
	assert_int_equal(st.st_nlink, 2);
	m_u32(start(t, P9_TRENAMEAT), ROOT);
	m_str(&t->m, "hello2");
	m_u32(&t->m, ROOT);
	m_str(&t->m, "abs");
	ok(t);
	assert_int_equal(lstat(in_root(t, "abs"), &st), 0);
	assert_true(S_ISREG(st.st_mode));
	m_u32(start(t, P9_TRENAME), F4); /* fid-based: hello -> dir/moved */
	m_u32(&t->m, ROOT);
	m_str(&t->m, "moved");
	ok(t);
	assert_int_equal(access(in_root(t, "moved"), F_OK), 0);
	m_u32(start(t, P9_TUNLINKAT), ROOT);
	m_str(&t->m, "dir");
	m_u32(&t->m, 0x200);
	ok(t);
	m_u32(start(t, P9_TUNLINKAT), ROOT);
	m_str(&t->m, "dir");
	m_u32(&t->m, 0x200);
	assert_int_equal(err_of(t), ENOENT);
	m_u32(start(t, P9_TREMOVE), F4);
	ok(t);
	assert_int_equal(access(in_root(t, "moved"), F_OK), -1);
	m_u32(start(t, P9_TREMOVE), F4); /* clunked by the remove */
	assert_int_equal(err_of(t), EBADF);
}

static void test_locks(void **state)
{
	struct t *t = *state;
	for (uint32_t fid = F2; fid <= F3; fid++) {
		assert_int_equal(walk1(t, fid, "hello"), P9_TWALK + 1);
		lopen(t, fid, 2);
		ok(t);
	}
	m_u32(start(t, P9_TLOCK), F2);
	m_u8(&t->m, 1);
	m_u32(&t->m, 0);
	m_u64(&t->m, 0);
	m_u64(&t->m, 0);
	m_u32(&t->m, 42);
	m_str(&t->m, "guest");
	ok(t);
	assert_int_equal(p9_get_u8(body(t)), 0);
	t->m.b[7 + 4 + 1 + 4 + 16] = 7; /* proc_id of another process, same lock: F3 */
	memcpy(t->m.b + 7, &(uint32_t){ F3 }, 4);
	ok(t);
	assert_int_equal(p9_get_u8(body(t)), 1); /* blocked */
	m_u32(start(t, P9_TGETLOCK), F3);
	m_u8(&t->m, 1);
	m_u64(&t->m, 0);
	m_u64(&t->m, 0);
	m_u32(&t->m, 7);
	m_str(&t->m, "guest");
	ok(t);
	assert_int_equal(p9_get_u8(body(t)), 1); /* F2's write lock is in the way */
	m_u32(start(t, P9_TLOCK), F2);
	m_u8(&t->m, 9); /* no such type */
	m_u32(&t->m, 0);
	m_u64(&t->m, 0);
	m_u64(&t->m, 0);
	m_u32(&t->m, 42);
	m_str(&t->m, "guest");
	assert_int_equal(err_of(t), EINVAL);
}

static void test_xattr(void **state)
{
	struct t *t = *state;
	if (setxattr(in_root(t, "hello"), "user.probe", "1", 1, 0) < 0) {
		print_message("skipped: %s has no user xattrs (%m)\n", t->root);
		skip();
	}
	assert_int_equal(walk1(t, F2, "hello"), P9_TWALK + 1);
	m_u32(start(t, P9_TXATTRCREATE), F2);
	m_str(&t->m, "user.test");
	m_u64(&t->m, 5);
	m_u32(&t->m, 0);
	ok(t);
	twrite(t, F2, 0, "value");
	ok(t);
	twrite(t, F2, 3, "toolong");
	assert_int_equal(err_of(t), ENOSPC);
	clunk(t, F2);
	char v[16] = "";
	assert_int_equal(getxattr(in_root(t, "hello"), "user.test", v, sizeof(v)), 5);
	assert_memory_equal(v, "value", 5);
	/* Read it back, and the list. */
	assert_int_equal(walk1(t, F4, "hello"), P9_TWALK + 1);
	m_u32(start(t, P9_TXATTRWALK), F4);
	m_u32(&t->m, F3);
	m_str(&t->m, "user.test");
	ok(t);
	assert_int_equal(p9_get_u64(body(t)), 5);
	tread(t, F3, 0, 100);
	ok(t);
	assert_int_equal(p9_get_u32(body(t)), 5);
	assert_memory_equal(t->rep + 11, "value", 5);
	clunk(t, F3);
	m_u32(start(t, P9_TXATTRWALK), F4);
	m_u32(&t->m, F3);
	m_str(&t->m, "");
	ok(t);
	assert_true(p9_get_u64(body(t)) >= sizeof("user.test") + sizeof("user.probe"));
	clunk(t, F3);
	m_u32(start(t, P9_TXATTRWALK), F4);
	m_u32(&t->m, F3);
	m_str(&t->m, "user.none");
	assert_int_equal(err_of(t), ENODATA);
	/* Removal: empty with XATTR_REPLACE. */
	m_u32(start(t, P9_TXATTRCREATE), F4);
	m_str(&t->m, "user.test");
	m_u64(&t->m, 0);
	m_u32(&t->m, 2);
	ok(t);
	clunk(t, F4);
	assert_int_equal(getxattr(in_root(t, "hello"), "user.test", v, sizeof(v)), -1);
	/* Too big a value. */
	assert_int_equal(walk1(t, F4, "hello"), P9_TWALK + 1);
	m_u32(start(t, P9_TXATTRCREATE), F4);
	m_str(&t->m, "user.big");
	m_u64(&t->m, 1 << 20);
	m_u32(&t->m, 0);
	assert_int_equal(err_of(t), E2BIG);
}

static void test_readonly(void **state)
{
	struct t *t = *state;
	assert_int_equal(walk1(t, F2, "hello"), P9_TWALK + 1);
	lopen(t, F2, 2);
	assert_int_equal(err_of(t), EROFS);
	lopen(t, F2, 0);
	ok(t);
	lcreate(t, ROOT, "x", 2, 0644);
	assert_int_equal(err_of(t), EROFS);
	m_u32(start(t, P9_TMKDIR), ROOT);
	m_str(&t->m, "d");
	m_u32(&t->m, 0755);
	m_u32(&t->m, 0);
	assert_int_equal(err_of(t), EROFS);
	m_u32(start(t, P9_TUNLINKAT), ROOT);
	m_str(&t->m, "hello");
	m_u32(&t->m, 0);
	assert_int_equal(err_of(t), EROFS);
	m_u32(start(t, P9_TSETATTR), F2);
	m_u32(&t->m, 1);
	for (int i = 0; i < 3; i++)
		m_u32(&t->m, 0);
	for (int i = 0; i < 5; i++)
		m_u64(&t->m, 0);
	assert_int_equal(err_of(t), EROFS);
	m_u32(start(t, P9_TXATTRCREATE), F2);
	m_str(&t->m, "user.x");
	m_u64(&t->m, 1);
	m_u32(&t->m, 0);
	assert_int_equal(err_of(t), EROFS);
	m_u32(start(t, P9_TREMOVE), F2);
	assert_int_equal(err_of(t), EROFS);
	assert_int_equal(access(in_root(t, "hello"), F_OK), 0);
}

static void test_malformed(void **state)
{
	struct t *t = *state;
	/* size larger than what was sent, smaller than a header. */
	m_u32(start(t, P9_TCLUNK), ROOT);
	m_end(&t->m);
	t->rlen = p9_call(t->s, t->m.b, t->m.len - 2, t->rep, sizeof(t->rep));
	assert_int_equal(t->rep[4], 7);
	memcpy(t->m.b, &(uint32_t){ 3 }, 4);
	t->rlen = p9_call(t->s, t->m.b, t->m.len, t->rep, sizeof(t->rep));
	assert_int_equal(t->rep[4], 7);
	assert_int_equal(p9_get_u32(body(t)), EPROTO);
	/* Nothing at all, or a few bytes. */
	t->rlen = p9_call(t->s, t->m.b, 0, t->rep, sizeof(t->rep));
	assert_int_equal(t->rlen, 11);
	/* Unknown and reply types. */
	start(t, 200);
	assert_int_equal(err_of(t), EOPNOTSUPP);
	start(t, P9_TWALK + 1);
	assert_int_equal(err_of(t), EOPNOTSUPP);
	/* A string running past the end. */
	m_u32(start(t, P9_TMKDIR), ROOT);
	m_u16(&t->m, 300);
	m_raw(&t->m, "abc", 3);
	assert_int_equal(err_of(t), EPROTO);
	/* A string with a NUL inside. */
	m_u32(start(t, P9_TMKDIR), ROOT);
	m_u16(&t->m, 3);
	m_raw(&t->m, "a\0b", 3);
	m_u32(&t->m, 0755);
	m_u32(&t->m, 0);
	assert_int_equal(err_of(t), EPROTO);
	/* No room for a reply at all: nothing written, nothing crashes. */
	m_u32(start(t, P9_TSTATFS), ROOT);
	assert_int_equal(call_room(t, 8), -1);
	/* Room for Rlerror but not the reply. */
	m_u32(start(t, P9_TSTATFS), ROOT);
	assert_int_equal(call_room(t, 20), 7);
	assert_int_equal(p9_get_u32(body(t)), EMSGSIZE);
	/* Bigger than the negotiated msize. */
	version(t, 4096);
	attach(t, ROOT);
	ok(t);
	m_u32(start(t, P9_TWRITE), ROOT);
	m_u64(&t->m, 0);
	m_u32(&t->m, 5000);
	t->m.len += 5000;
	assert_int_equal(err_of(t), EMSGSIZE);
	/* A flush for a tag nobody uses is answered at once. */
	m_u16(start(t, P9_TFLUSH), 999);
	ok(t);
	/* Clunk twice. */
	clunk(t, ROOT);
	m_u32(start(t, P9_TCLUNK), ROOT);
	assert_int_equal(err_of(t), EBADF);
}

static void test_fid_cap(void **state)
{
	(void)state;
	char dir[] = "/tmp/p9cap.XXXXXX";
	assert_non_null(mkdtemp(dir));
	int fd = open(dir, O_PATH | O_DIRECTORY);
	struct t *t = calloc(1, sizeof(*t));
	t->s = p9_server_new(fd, 0, 4);
	close(fd);
	for (uint32_t fid = 0; fid < 4; fid++) {
		attach(t, fid);
		ok(t);
	}
	attach(t, 4);
	assert_int_equal(err_of(t), EMFILE);
	const char *none[] = { NULL };
	walk(t, 0, 5, none);
	assert_int_equal(err_of(t), EMFILE);
	clunk(t, 3);
	walk(t, 0, 5, none);
	ok(t);
	p9_server_free(t->s);
	free(t);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_version, setup, teardown),
		cmocka_unit_test_setup_teardown(test_attach, setup, teardown),
		cmocka_unit_test_setup_teardown(test_walk, setup, teardown),
		cmocka_unit_test_setup_teardown(test_escape, setup, teardown),
		cmocka_unit_test_setup_teardown(test_create_read_write, setup, teardown),
		cmocka_unit_test_setup_teardown(test_readdir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_attrs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_locks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_xattr, setup, teardown),
		cmocka_unit_test_setup_teardown(test_readonly, setup_ro, teardown),
		cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
		cmocka_unit_test(test_fid_cap),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
