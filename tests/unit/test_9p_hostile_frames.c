/* test_9p_hostile_frames.c - the 9P server against a hostile guest's
 * framing and walks (issue 23): a size field of 4 GiB, and Twalks of 16
 * ".." from the root and from deep inside the share. Each test is named
 * after the input; the share is a fresh directory under /tmp. The same size
 * field through the virtio transport is in test_virtio_9p.c. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#define P9SHARE_TAG 0x4321
#include "p9share.h"

/* Directories a and a/b in the share, for the walks. */
static void make_a_b(struct t *t)
{
	char path[96];
	snprintf(path, sizeof(path), "%s/a", t->root);
	assert_int_equal(mkdir(path, 0755), 0);
	strcat(path, "/b");
	assert_int_equal(mkdir(path, 0755), 0);
}

static int setup(void **state)
{
	*state = p9share_new("/tmp/p9frames.XXXXXX", make_a_b, 0, 0);
	return 0;
}

/* A message whose size[4] says 4 GiB - 1 while 11 bytes came: the server
 * reads nothing past what it got and answers Rlerror EPROTO, for Tversion
 * (whose size is not held to msize) as for any other; the session goes on. */
static void test_size_field_of_4gib_gets_eproto(void **state)
{
	struct t *t = *state;
	uint8_t types[] = { P9_TCLUNK, P9_TVERSION, P9_TWALK };
	for (unsigned i = 0; i < sizeof(types); i++) {
		m_u32(start(t, types[i]), ROOT);
		memcpy(t->m.b, &(uint32_t){ UINT32_MAX }, 4);
		assert_int_equal(send_raw(t), RLERROR);
		assert_int_equal(t->rlen, 11);
		assert_int_equal(rep_u32(t, 7), EPROTO);
	}
	m_u32(start(t, P9_TGETATTR), ROOT);
	m_u64(&t->m, 0x7ff);
	ok(t);
}

static void walk(struct t *t, uint32_t fid, uint32_t newfid, const char *const *names,
		 unsigned n)
{
	m_u32(start(t, P9_TWALK), fid);
	m_u32(&t->m, newfid);
	m_u16(&t->m, n);
	for (unsigned i = 0; i < n; i++)
		m_str(&t->m, names[i]);
	ok(t);
}

/* qid i of the Rwalk just received: its path (the inode). */
static uint64_t qid_path(struct t *t, unsigned i)
{
	uint64_t p;
	assert_true(t->rep[9 + 13 * i] & 0x80); /* QTDIR */
	memcpy(&p, t->rep + 9 + 13 * i + 5, 8);
	return p;
}

static ino_t ino_of(struct t *t, const char *rel)
{
	char path[96];
	struct stat st;
	snprintf(path, sizeof(path), "%s%s", t->root, rel);
	assert_int_equal(stat(path, &st), 0);
	return st.st_ino;
}

/* 16 ".." (P9_MAXWELEM) from the root: 9P's ".." of the root is the root,
 * so all 16 qids are the root's and the new fid is the root. */
static void test_walk_16_dotdot_from_root_stays_at_root(void **state)
{
	struct t *t = *state;
	const char *dots[16];
	for (int i = 0; i < 16; i++)
		dots[i] = "..";
	walk(t, ROOT, F2, dots, 16);
	assert_int_equal(t->rep[7] | t->rep[8] << 8, 16);
	for (unsigned i = 0; i < 16; i++)
		assert_int_equal(qid_path(t, i), ino_of(t, ""));
	const char *a[] = { "a" };
	walk(t, F2, F3, a, 1); /* F2 is the root: "a" is right below it */
	assert_int_equal(qid_path(t, 0), ino_of(t, "/a"));
}

/* From a/b, 16 "..": a, the root, then the root fourteen times. */
static void test_walk_16_dotdot_from_subdirectory_stops_at_root(void **state)
{
	struct t *t = *state;
	const char *ab[] = { "a", "b" }, *dots[16];
	walk(t, ROOT, F2, ab, 2);
	for (int i = 0; i < 16; i++)
		dots[i] = "..";
	walk(t, F2, F3, dots, 16);
	assert_int_equal(t->rep[7] | t->rep[8] << 8, 16);
	assert_int_equal(qid_path(t, 0), ino_of(t, "/a"));
	for (unsigned i = 1; i < 16; i++)
		assert_int_equal(qid_path(t, i), ino_of(t, ""));
	const char *a[] = { "a" };
	walk(t, F3, 4, a, 1);
	assert_int_equal(qid_path(t, 0), ino_of(t, "/a"));
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, p9share_teardown)
	const struct CMUnitTest tests[] = {
		T(test_size_field_of_4gib_gets_eproto),
		T(test_walk_16_dotdot_from_root_stays_at_root),
		T(test_walk_16_dotdot_from_subdirectory_stops_at_root),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
