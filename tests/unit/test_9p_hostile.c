/* test_9p_hostile.c - the 9P server against what a hostile guest sends
 * (security review, issue 23): each test is named after the input. The
 * share is a fresh directory under /tmp; requests go through the fake
 * transport of p9msg.h. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "p9share.h"

enum { SETATTR_MODE = 1, SETATTR_UID = 2, SETATTR_GID = 4 };

/* Expect Rlerror; returns its errno. */
static int err_of(struct t *t)
{
	int type = call(t);
	if (type != RLERROR)
		fail_msg("expected Rlerror, got type %d for type %u", type, t->m.b[4]);
	return (int)rep_u32(t, 7);
}

static void walk0(struct t *t, uint32_t fid, uint32_t newfid, const char *name)
{
	m_u32(start(t, P9_TWALK), fid);
	m_u32(&t->m, newfid);
	m_u16(&t->m, name ? 1 : 0);
	if (name)
		m_str(&t->m, name);
}

static void lcreate(struct t *t, uint32_t fid, const char *name, uint32_t flags, uint32_t mode)
{
	m_u32(start(t, P9_TLCREATE), fid);
	m_str(&t->m, name);
	m_u32(&t->m, flags);
	m_u32(&t->m, mode);
	m_u32(&t->m, 12345); /* a gid nobody has: a chown would show */
}

static void lopen(struct t *t, uint32_t fid, uint32_t flags)
{
	m_u32(start(t, P9_TLOPEN), fid);
	m_u32(&t->m, flags);
}

static void mknod_(struct t *t, const char *name, uint32_t mode, uint32_t major, uint32_t minor)
{
	m_u32(start(t, P9_TMKNOD), ROOT);
	m_str(&t->m, name);
	m_u32(&t->m, mode);
	m_u32(&t->m, major);
	m_u32(&t->m, minor);
	m_u32(&t->m, 0);
}

static void setattr(struct t *t, uint32_t fid, uint32_t valid, uint32_t mode, uint32_t id)
{
	m_u32(start(t, P9_TSETATTR), fid);
	m_u32(&t->m, valid);
	m_u32(&t->m, mode);
	m_u32(&t->m, id);
	m_u32(&t->m, id);
	for (int i = 0; i < 5; i++)
		m_u64(&t->m, 0);
}

static char *in_root(struct t *t, const char *name)
{
	static char p[96];
	snprintf(p, sizeof(p), "%s/%s", t->root, name);
	return p;
}

static mode_t mode_of(struct t *t, const char *name)
{
	struct stat st;
	assert_int_equal(lstat(in_root(t, name), &st), 0);
	return st.st_mode;
}

static struct t *make(unsigned flags, unsigned max_fids)
{
	return p9share_new("/tmp/p9hostile.XXXXXX", NULL, flags, max_fids);
}

static int setup(void **state)
{
	*state = make(0, 0);
	return 0;
}

/* --- 1: opening what the guest may not open ------------------------------ */

struct bg_call {
	struct t *t;
	int type;
};

static void *bg_call_run(void *arg)
{
	struct bg_call *c = arg;
	c->type = call(c->t);
	return NULL;
}

/* Send the message built so far on a thread; a reply within two seconds
 * is its type, and none is a failure (after opening name for writing, to
 * let a worker stuck in open(2) of that FIFO go). */
static int call_or_unblock(struct t *t, const char *fifo)
{
	struct bg_call c = { t, -1 };
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, bg_call_run, &c), 0);
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 2;
	if (pthread_timedjoin_np(th, NULL, &until) != 0) {
		int fd = open(in_root(t, fifo), O_RDWR | O_NONBLOCK);
		pthread_join(th, NULL);
		close(fd);
		fail_msg("type %u on the FIFO blocked the server", t->m.b[4]);
	}
	return c.type;
}

static void test_lcreate_on_existing_fifo_does_not_block(void **state)
{
	struct t *t = *state;
	mknod_(t, "fifo", S_IFIFO | 0644, 0, 0);
	ok(t);
	walk0(t, ROOT, F2, NULL);
	ok(t);
	lcreate(t, F2, "fifo", 0, 0644); /* O_RDONLY: waits for a writer */
	assert_int_equal(call_or_unblock(t, "fifo"), RLERROR);
	assert_int_equal(rep_u32(t, 7), ENXIO);
	lcreate(t, F2, "fifo", 1, 0644); /* O_WRONLY: no reader, ENXIO either way */
	assert_int_equal(call_or_unblock(t, "fifo"), RLERROR);
	assert_int_equal(rep_u32(t, 7), ENXIO);
	/* The fid is still the directory, and a plain name still works. */
	lcreate(t, F2, "plain", 2, 0644);
	ok(t);
}

static void test_lopen_of_fifo_does_not_block(void **state)
{
	struct t *t = *state;
	mknod_(t, "fifo", S_IFIFO | 0644, 0, 0);
	ok(t);
	walk0(t, ROOT, F2, "fifo");
	ok(t);
	lopen(t, F2, 0);
	assert_int_equal(call_or_unblock(t, "fifo"), RLERROR);
	assert_int_equal(rep_u32(t, 7), ENXIO);
}

static void test_lcreate_on_existing_device_node_is_refused(void **state)
{
	struct t *t = *state;
	/* A device node in the share: the host's, or one a privileged share made. */
	if (mknod(in_root(t, "null"), S_IFCHR | 0600, makedev(1, 3)) < 0)
		skip(); /* not root: no device nodes to test with */
	walk0(t, ROOT, F2, NULL);
	ok(t);
	lcreate(t, F2, "null", 2, 0644);
	assert_int_equal(err_of(t), ENXIO);
	struct stat st;
	assert_int_equal(lstat(in_root(t, "null"), &st), 0);
	assert_int_equal(st.st_gid, getgid()); /* not chowned to the guest's gid */
	walk0(t, ROOT, F3, "null");
	ok(t);
	lopen(t, F3, 2);
	assert_int_equal(err_of(t), ENXIO);
}

static void test_lcreate_on_existing_file_keeps_its_owner(void **state)
{
	struct t *t = *state;
	FILE *f = fopen(in_root(t, "file"), "w");
	fclose(f);
	walk0(t, ROOT, F2, NULL);
	ok(t);
	lcreate(t, F2, "file", 2, 0644);
	ok(t);
	struct stat st;
	assert_int_equal(lstat(in_root(t, "file"), &st), 0);
	assert_int_equal(st.st_gid, getgid());
	walk0(t, ROOT, F3, NULL);
	ok(t);
	lcreate(t, F3, "file", 2 | 0200, 0644); /* O_EXCL */
	assert_int_equal(err_of(t), EEXIST);
}

/* --- 2: what a root guest could plant for the host ---------------------- */

static void xattrcreate(struct t *t, uint32_t fid, const char *name, uint64_t size, uint32_t flags)
{
	m_u32(start(t, P9_TXATTRCREATE), fid);
	m_str(&t->m, name);
	m_u64(&t->m, size);
	m_u32(&t->m, flags);
}

/* Set name to value on the file fid names (through a clone of it). */
static int set_xattr(struct t *t, uint32_t fid, const char *name, const char *value)
{
	walk0(t, fid, F3, NULL);
	ok(t);
	xattrcreate(t, F3, name, strlen(value), 0);
	int type = call(t);
	if (type == RLERROR) {
		int e = (int)rep_u32(t, 7);
		m_u32(start(t, P9_TCLUNK), F3);
		ok(t);
		return e;
	}
	m_u32(start(t, P9_TWRITE), F3);
	m_u64(&t->m, 0);
	m_u32(&t->m, strlen(value));
	m_raw(&t->m, value, strlen(value));
	ok(t);
	m_u32(start(t, P9_TCLUNK), F3);
	return call(t) == RLERROR ? (int)rep_u32(t, 7) : 0;
}

/* F2 becomes the new file name, made with mode. */
static void create_file(struct t *t, const char *name, uint32_t mode)
{
	walk0(t, ROOT, F2, NULL);
	ok(t);
	lcreate(t, F2, name, 2, mode);
	ok(t);
}

static void test_setattr_setuid_setgid_mode_is_stripped(void **state)
{
	struct t *t = *state;
	create_file(t, "prog", 0755);
	setattr(t, F2, SETATTR_MODE, 06755, 0);
	ok(t);
	assert_int_equal(mode_of(t, "prog") & 07777, 0755);
	/* With a chown in the same request, the mode still loses them. */
	setattr(t, F2, SETATTR_MODE | SETATTR_UID | SETATTR_GID, 04711, getuid());
	ok(t);
	assert_int_equal(mode_of(t, "prog") & 07777, 0711);
	/* A directory keeps setgid (it passes its group on); setuid goes. */
	m_u32(start(t, P9_TMKDIR), ROOT);
	m_str(&t->m, "dir");
	m_u32(&t->m, 0755);
	m_u32(&t->m, 0);
	ok(t);
	walk0(t, ROOT, F3, "dir");
	ok(t);
	setattr(t, F3, SETATTR_MODE, 06775, 0);
	ok(t);
	assert_int_equal(mode_of(t, "dir") & 07777, 02775);
}

static void test_lcreate_and_mknod_with_setuid_mode_are_stripped(void **state)
{
	struct t *t = *state;
	create_file(t, "prog", 06755);
	assert_int_equal(mode_of(t, "prog") & 07777, 0755);
	mknod_(t, "prog2", S_IFREG | 06755, 0, 0);
	ok(t);
	assert_int_equal(mode_of(t, "prog2") & 07777, 0755);
}

static void test_xattrcreate_security_capability_is_refused(void **state)
{
	struct t *t = *state;
	create_file(t, "prog", 0755);
	/* cap_setuid+ep as a VFS_CAP_REVISION_2 value would need 20 bytes;
	 * the name alone is refused, whatever follows. */
	assert_int_equal(set_xattr(t, F2, "security.capability", "xxxxxxxxxxxxxxxxxxxx"),
			 EOPNOTSUPP);
	assert_int_equal(set_xattr(t, F2, "security.selinux", "system_u:object_r:shadow_t:s0"),
			 EOPNOTSUPP);
	assert_int_equal(set_xattr(t, F2, "trusted.overlay.redirect", "/etc"), EOPNOTSUPP);
	assert_int_equal(getxattr(in_root(t, "prog"), "trusted.overlay.redirect", NULL, 0), -1);
	/* Removing one is refused alike (an empty XATTR_REPLACE). */
	xattrcreate(t, F2, "security.capability", 0, XATTR_REPLACE);
	assert_int_equal(err_of(t), EOPNOTSUPP);
	/* user.* is the guest's. */
	assert_int_equal(set_xattr(t, F2, "user.note", "fine"), 0);
}

static void test_mknod_char_device_is_refused(void **state)
{
	struct t *t = *state;
	mknod_(t, "mem", S_IFCHR | 0666, 1, 1);
	assert_int_equal(err_of(t), EPERM);
	mknod_(t, "sda", S_IFBLK | 0666, 8, 0);
	assert_int_equal(err_of(t), EPERM);
	assert_int_equal(access(in_root(t, "mem"), F_OK), -1);
	mknod_(t, "sock", S_IFSOCK | 0644, 0, 0);
	ok(t);
}

static int setup_privileged(void **state)
{
	*state = make(P9_PRIVILEGED, 0);
	return 0;
}

static void test_privileged_share_passes_setuid_xattrs_and_devices_through(void **state)
{
	struct t *t = *state;
	if (geteuid() != 0)
		skip(); /* setuid root files, trusted.* and device nodes need root */
	create_file(t, "prog", 04755); /* chown after create does not clear it */
	assert_int_equal(mode_of(t, "prog") & 07777, 04755);
	setattr(t, F2, SETATTR_MODE, 06755, 0);
	ok(t);
	assert_int_equal(mode_of(t, "prog") & 07777, 06755);
	assert_int_equal(set_xattr(t, F2, "trusted.note", "kept"), 0);
	char v[8] = "";
	assert_int_equal(getxattr(in_root(t, "prog"), "trusted.note", v, sizeof(v)), 4);
	assert_memory_equal(v, "kept", 4);
	mknod_(t, "null", S_IFCHR | 0666, 1, 3);
	ok(t);
	struct stat st;
	assert_int_equal(lstat(in_root(t, "null"), &st), 0);
	assert_true(S_ISCHR(st.st_mode));
	assert_int_equal(st.st_rdev, makedev(1, 3));
	/* The server itself still never opens one. */
	walk0(t, ROOT, F3, "null");
	ok(t);
	lopen(t, F3, 2);
	assert_int_equal(err_of(t), ENXIO);
}

/* --- 13a: a readdir too small for one entry ------------------------------ */

static void readdir_(struct t *t, uint32_t fid, uint64_t off, uint32_t count)
{
	m_u32(start(t, P9_TREADDIR), fid);
	m_u64(&t->m, off);
	m_u32(&t->m, count);
}

static void test_readdir_with_count_below_one_entry_is_not_eof(void **state)
{
	struct t *t = *state;
	FILE *f = fopen(in_root(t, "a-rather-long-name-for-one-entry"), "w");
	fclose(f);
	walk0(t, ROOT, F2, NULL);
	ok(t);
	lopen(t, F2, 0200000); /* O_DIRECTORY */
	ok(t);
	/* 24 bytes hold no entry (qid, offset, type, name: 24 + the name). */
	readdir_(t, F2, 0, 24);
	assert_int_equal(err_of(t), EINVAL);
	readdir_(t, F2, 0, 0);
	assert_int_equal(err_of(t), EINVAL);
	/* Room for "." or "..": one entry, not an error. */
	readdir_(t, F2, 0, 26);
	ok(t);
	assert_in_range(rep_u32(t, 7), 25, 26);
	/* A reply buffer too small for one entry is the same case. */
	readdir_(t, F2, 0, 8192);
	assert_int_equal(call_room(t, 7 + 4 + 20), RLERROR);
	assert_int_equal(rep_u32(t, 7), EINVAL);
	/* The real end of the directory is still an empty reply. */
	readdir_(t, F2, 0, 8192);
	ok(t);
	uint64_t last = 0;
	for (uint32_t at = 11, n = rep_u32(t, 7); at < 11 + n;) {
		uint16_t len;
		memcpy(&last, t->rep + at + 13, 8);
		memcpy(&len, t->rep + at + 22, 2);
		at += 24 + len;
	}
	readdir_(t, F2, last, 8192);
	ok(t);
	assert_int_equal(rep_u32(t, 7), 0);
}

/* --- 8: fids up to the fd limit ------------------------------------------ */

static struct rlimit saved_nofile;

static int setup_fd_limit(void **state)
{
	/* 2048 fds, a limit at which a budget of two fds per fid overshoots. */
	getrlimit(RLIMIT_NOFILE, &saved_nofile);
	struct rlimit low = { 2048, saved_nofile.rlim_max };
	if (saved_nofile.rlim_max < 2048 || setrlimit(RLIMIT_NOFILE, &low) < 0)
		return -1;
	*state = make(0, p9_fid_budget(2048, 1, 4));
	return 0;
}

static int teardown_fd_limit(void **state)
{
	p9share_teardown(state);
	setrlimit(RLIMIT_NOFILE, &saved_nofile);
	return 0;
}

static void test_fids_opened_to_the_fd_limit_get_emfile_not_the_monitor(void **state)
{
	struct t *t = *state;
	char name[16];
	/* Every fid a created file: its own fd, the open file, the old directory's. */
	uint32_t fid = F2;
	for (;; fid++) {
		walk0(t, ROOT, fid, NULL);
		if (call(t) == RLERROR)
			break;
		snprintf(name, sizeof(name), "f%u", fid);
		lcreate(t, fid, name, 2, 0644);
		if (call(t) == RLERROR)
			fail_msg("Tlcreate of fid %u: Rlerror %u: microvm ran out of fds", fid,
				 rep_u32(t, 7));
	}
	/* The cap said no, not the host: a walk only dups one fd. */
	assert_int_equal(rep_u32(t, 7), EMFILE);
	if (p9_fid_count(t->s) != p9_fid_budget(2048, 1, 4))
		fail_msg("a walk failed at %u fids, below the cap of %u: microvm ran out of fds",
			 p9_fid_count(t->s), p9_fid_budget(2048, 1, 4));
	/* What is left is microvm's: enough for every worker's request and more. */
	int fds[64];
	for (int i = 0; i < 64; i++)
		assert_true((fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0);
	for (int i = 0; i < 64; i++)
		close(fds[i]);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, p9share_teardown)
	const struct CMUnitTest tests[] = {
		T(test_lcreate_on_existing_fifo_does_not_block),
		T(test_lopen_of_fifo_does_not_block),
		T(test_lcreate_on_existing_device_node_is_refused),
		T(test_lcreate_on_existing_file_keeps_its_owner),
		T(test_setattr_setuid_setgid_mode_is_stripped),
		T(test_lcreate_and_mknod_with_setuid_mode_are_stripped),
		T(test_xattrcreate_security_capability_is_refused),
		T(test_mknod_char_device_is_refused),
		cmocka_unit_test_setup_teardown(
			test_privileged_share_passes_setuid_xattrs_and_devices_through,
			setup_privileged, p9share_teardown),
		T(test_readdir_with_count_below_one_entry_is_not_eof),
		cmocka_unit_test_setup_teardown(
			test_fids_opened_to_the_fd_limit_get_emfile_not_the_monitor, setup_fd_limit,
			teardown_fd_limit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
