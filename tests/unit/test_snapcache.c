/* test_snapcache.c - microvmtest's snapshot cache (driver/snapshot.c,
 * driver/snapcache.c): every input of a node changes its key and nothing
 * else does; eviction removes the least recently used entries first, by
 * allocated size, and never one in use; two writers of one key never both
 * write it, and a half-written entry never carries the key's name. */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "snapcache.h"

static char dir[64];

static char *path(const char *name)
{
	char *p;
	if (asprintf(&p, "%s/%s", dir, name) < 0)
		abort();
	return p;
}

static void write_path(const char *p, size_t n)
{
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	char buf[4096];
	memset(buf, 'x', sizeof(buf));
	while (n) {
		size_t k = n < sizeof(buf) ? n : sizeof(buf);
		assert_int_equal(write(fd, buf, k), (ssize_t)k);
		n -= k;
	}
	close(fd);
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/test_snapcache.XXXXXX");
	assert_non_null(mkdtemp(dir));
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	rm_tree(dir);
	return 0;
}

/* --- the key ------------------------------------------------------------ */

struct fixture {
	struct driver d;
	struct machine m[2];
	struct node_conf n[2];
	struct disk_conf disk;
	struct share_conf share;
	struct forward_conf fwd;
	int vlans[1];
	char *vmm, *kernel, *initrd, *image, *sharedir;
};

static void fixture(struct fixture *f)
{
	memset(f, 0, sizeof(*f));
	f->vmm = path("microvm");
	f->kernel = path("vmlinuz");
	f->initrd = path("initrd.img");
	f->image = path("root.img");
	f->sharedir = path("share");
	if (access(f->vmm, F_OK) < 0) { /* the files once per test */
		write_path(f->vmm, 100);
		write_path(f->kernel, 200);
		write_path(f->initrd, 300);
		write_path(f->image, 4096);
		mkdir(f->sharedir, 0755);
	}
	f->disk = (struct disk_conf){ .path = f->image };
	f->share = (struct share_conf){ .path = f->sharedir, .tag = (char *)"data" };
	f->fwd = (struct forward_conf){ 8080, 80 };
	f->vlans[0] = 1;
	for (int i = 0; i < 2; i++)
		f->n[i] = (struct node_conf){ .name = (char *)(i ? "other" : "server"), .index = i + 1,
					      .kernel = f->kernel, .initrd = f->initrd,
					      .cmdline = (char *)"console=ttyS0", .memory = 512,
					      .cpus = 2, .user_net = true, .vlans = f->vlans,
					      .nvlans = 1 };
	f->n[0].disks = &f->disk;
	f->n[0].ndisks = 1;
	f->n[0].shares = &f->share;
	f->n[0].nshares = 1;
	f->n[0].forwards = &f->fwd;
	f->n[0].nforwards = 1;
	f->d = (struct driver){ .m = f->m, .nm = 2, .microvm = f->vmm, .has_share = true,
				.run_dir = (char *)"/run/a" };
	for (int i = 0; i < 2; i++)
		f->m[i] = (struct machine){ .d = &f->d, .conf = &f->n[i], .name = f->n[i].name,
					    .disk_cow = true, .state_dir = (char *)"/run/a/s" };
}

static void free_fixture(struct fixture *f)
{
	free(f->vmm);
	free(f->kernel);
	free(f->initrd);
	free(f->image);
	free(f->sharedir);
}

static void key(struct fixture *f, char out[SNAP_KEY_LEN + 1])
{
	struct buf b = { 0 };
	snap_inputs(&f->m[0], &b);
	snap_key_of(b.p, out);
	buf_free(&b);
}

/* Change one thing with f in its fixture state (files keep their
 * changes; fields are reset after); the key must follow. */
#define CHANGES(what, stmt)                                                   \
	do {                                                                  \
		char k2[SNAP_KEY_LEN + 1];                                    \
		key(&f, k0);                                                  \
		stmt;                                                         \
		key(&f, k2);                                                  \
		if (!strcmp(k0, k2))                                          \
			fail_msg("the key did not change with %s", what);     \
		free_fixture(&f);                                             \
		fixture(&f);                                                  \
	} while (0)

#define KEEPS(what, stmt)                                                     \
	do {                                                                  \
		char k2[SNAP_KEY_LEN + 1];                                    \
		key(&f, k0);                                                  \
		stmt;                                                         \
		key(&f, k2);                                                  \
		if (strcmp(k0, k2))                                           \
			fail_msg("the key changed with %s", what);            \
		free_fixture(&f);                                             \
		fixture(&f);                                                  \
	} while (0)

/* Another mtime, without waiting for the clock. */
static void retime(const char *p)
{
	struct timespec t[2] = { { 1000, 0 }, { 1000, 5 } };
	assert_int_equal(utimensat(AT_FDCWD, p, t, 0), 0);
}

/* The same size and mtime, but another inode. */
static void replace(const char *p)
{
	struct stat st;
	assert_int_equal(stat(p, &st), 0);
	char *tmp;
	assert_true(asprintf(&tmp, "%s.new", p) > 0);
	write_path(tmp, (size_t)st.st_size);
	struct timespec t[2] = { st.st_atim, st.st_mtim };
	utimensat(AT_FDCWD, tmp, t, 0);
	assert_int_equal(rename(tmp, p), 0);
	free(tmp);
}

/* p spelled another way: "DIR/./BASE", into a static buffer. */
static char *respell(const char *p)
{
	static char out[2][4096];
	static int k;
	char *o = out[k++ % 2];
	const char *slash = strrchr(p, '/');
	snprintf(o, sizeof(out[0]), "%.*s/.%s", (int)(slash - p), p, slash);
	return o;
}

static void test_key_inputs(void **state)
{
	(void)state;
	struct fixture f;
	char k0[SNAP_KEY_LEN + 1];
	fixture(&f);
	key(&f, k0);
	assert_int_equal(strlen(k0), SNAP_KEY_LEN);
	assert_int_equal(strspn(k0, "0123456789abcdef"), SNAP_KEY_LEN);
	CHANGES("the microvm binary's mtime", retime(f.vmm));
	CHANGES("the microvm binary's size", write_path(f.vmm, 101));
	CHANGES("another microvm binary", f.d.microvm = f.kernel);
	CHANGES("the kernel's mtime", retime(f.kernel));
	CHANGES("the kernel's inode", replace(f.kernel));
	CHANGES("another kernel path", f.n[0].kernel = f.initrd);
	CHANGES("the initrd's size", write_path(f.initrd, 301));
	CHANGES("no initrd", f.n[0].initrd = NULL);
	CHANGES("the command line", f.n[0].cmdline = (char *)"console=ttyS0 quiet");
	CHANGES("the memory size", f.n[0].memory = 1024);
	CHANGES("the cpus", f.n[0].cpus = 1);
	CHANGES("the disk image's content identity", write_path(f.image, 8192));
	CHANGES("the disk image's mtime", retime(f.image));
	CHANGES("a read-only disk", f.disk.readonly = true);
	CHANGES("a disk copied instead of cow=", f.m[0].disk_cow = false);
	CHANGES("a disk serial", f.disk.serial = (char *)"s1");
	CHANGES("no disk", f.n[0].ndisks = 0);
	CHANGES("a share's tag", f.share.tag = (char *)"other");
	CHANGES("a share's path", f.share.path = f.initrd);
	CHANGES("a read-only share", f.share.readonly = true);
	CHANGES("no xchg/shared shares", f.d.has_share = false);
	CHANGES("no user network", (f.n[0].user_net = false, f.n[0].nforwards = 0));
	CHANGES("a forward's port", f.fwd.host_port = 8081);
	CHANGES("a vlan", f.vlans[0] = 2);
	CHANGES("the node's number (its MAC)", f.n[0].index = 3);
	CHANGES("another node's name on the vlan (microvm.hosts=)",
		f.n[1].name = (char *)"peer");
	CHANGES("a start_script instead", f.n[0].start_script = f.initrd);
	KEEPS("the run directory", (f.d.run_dir = (char *)"/run/b", f.m[0].state_dir = (char *)"/b"));
	KEEPS("the test's other node's memory", f.n[1].memory = 64);
	KEEPS("the kernel and a disk spelled another way (one file, one key)",
	      (f.n[0].kernel = respell(f.kernel), f.disk.path = respell(f.image)));
	KEEPS("a share's path spelled another way", f.share.path = respell(f.sharedir));
	char *inside = path("share/new-file");
	KEEPS("a file added to a share", write_path(inside, 10));
	free(inside);
	/* Without a vlan (microvm.hosts= names it), the name is the node's own. */
	char k1[SNAP_KEY_LEN + 1];
	f.n[0].nvlans = 0;
	key(&f, k0);
	f.n[0].name = (char *)"renamed";
	f.m[0].name = "renamed";
	key(&f, k1);
	assert_string_equal(k0, k1);
	free_fixture(&f);
}

static void test_key_script_content(void **state)
{
	(void)state;
	struct fixture f;
	char k0[SNAP_KEY_LEN + 1], k1[SNAP_KEY_LEN + 1];
	fixture(&f);
	char *script = path("run-vm");
	write_path(script, 50);
	f.n[0].start_script = script;
	key(&f, k0);
	/* The same size and times, another content: NixOS's store keeps both. */
	struct stat st;
	stat(script, &st);
	int fd = open(script, O_WRONLY);
	assert_int_equal(pwrite(fd, "y", 1, 0), 1);
	close(fd);
	struct timespec t[2] = { st.st_atim, st.st_mtim };
	utimensat(AT_FDCWD, script, t, 0);
	key(&f, k1);
	assert_string_not_equal(k0, k1);
	free(script);
	free_fixture(&f);
}

/* --- eviction ------------------------------------------------------------- */

/* An entry KEY (digit c repeated) of n bytes, last used at time t. */
static void entry(char c, size_t n, time_t t, char key[SNAP_KEY_LEN + 1])
{
	memset(key, c, SNAP_KEY_LEN);
	key[SNAP_KEY_LEN] = 0;
	char *e = path(key), *f;
	assert_int_equal(mkdir(e, 0755), 0);
	assert_true(asprintf(&f, "%s/memory", e) > 0);
	write_path(f, n);
	struct timespec ts[2] = { { t, 0 }, { t, 0 } };
	assert_int_equal(utimensat(AT_FDCWD, e, ts, 0), 0);
	free(f);
	free(e);
}

static bool exists(const char *key)
{
	char *p = path(key);
	struct stat st;
	bool r = stat(p, &st) == 0;
	free(p);
	return r;
}

static void test_evict_lru(void **state)
{
	(void)state;
	char a[33], b[33], c[33];
	entry('a', 1 << 20, 1000, a);
	entry('b', 1 << 20, 3000, b);
	entry('c', 1 << 20, 2000, c);
	unsigned long long one = cache_entry_size(dir, a);
	assert_true(one >= 1 << 20); /* blocks allocated, not fewer */
	/* Room for everything: nothing goes. */
	assert_int_equal(cache_evict(dir, 3 * one, NULL), 0);
	/* Room for two: the least recently used, a. */
	assert_int_equal(cache_evict(dir, 2 * one, NULL), 1);
	assert_false(exists(a));
	assert_true(exists(b) && exists(c));
	/* c used now: b is the oldest. */
	cache_touch(dir, c);
	assert_int_equal(cache_evict(dir, one, NULL), 1);
	assert_false(exists(b));
	assert_true(exists(c));
	/* keep is never removed, even over the bound. */
	assert_int_equal(cache_evict(dir, 0, c), 0);
	assert_true(exists(c));
}

static void test_evict_sparse(void **state)
{
	(void)state;
	char a[33], b[33];
	entry('a', 4096, 1000, a);
	entry('b', 4096, 2000, b);
	/* A sparse file of 1 GiB takes a few blocks: it counts as such. */
	char *p;
	assert_true(asprintf(&p, "%s/%s/memory", dir, a) > 0);
	assert_int_equal(truncate(p, 1LL << 30), 0);
	free(p);
	assert_true(cache_entry_size(dir, a) < 1 << 20);
	assert_int_equal(cache_evict(dir, 1 << 20, NULL), 0);
}

static void test_evict_in_use(void **state)
{
	(void)state;
	char a[33], b[33];
	entry('a', 1 << 20, 1000, a);
	entry('b', 1 << 20, 2000, b);
	int fd = cache_lock(dir, a, false); /* a run restoring from a */
	assert_true(fd >= 0);
	/* a is in use: b goes instead, though newer. */
	assert_int_equal(cache_evict(dir, 1 << 20, NULL), 1);
	assert_true(exists(a));
	assert_false(exists(b));
	/* Nobody may take a for writing or removal meanwhile. */
	assert_int_equal(cache_lock(dir, a, true), -EWOULDBLOCK);
	close(fd);
	assert_int_equal(cache_evict(dir, 0, NULL), 1);
	assert_false(exists(a));
	/* Its lock file went with it. */
	char *lock = path("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.lock");
	assert_int_equal(access(lock, F_OK), -1);
	free(lock);
}

static void test_evict_stale_staging(void **state)
{
	(void)state;
	/* A writer that died (a pid that is not alive) left its staging. */
	pid_t pid = fork();
	if (pid == 0)
		_exit(0);
	waitpid(pid, NULL, 0);
	char name[80], live[80];
	snprintf(name, sizeof(name), "%032d.tmp-%d.partial-7", 0, (int)pid);
	snprintf(live, sizeof(live), "%032d.tmp-%d", 0, (int)getpid());
	char *p = path(name), *q = path(live);
	assert_int_equal(mkdir(p, 0755), 0);
	assert_int_equal(mkdir(q, 0755), 0);
	cache_evict(dir, 1ULL << 40, NULL);
	assert_int_equal(access(p, F_OK), -1);
	assert_int_equal(access(q, F_OK), 0); /* ours: still being written */
	free(p);
	free(q);
}

/* --- concurrent writers --------------------------------------------------- */

#define WRITERS 6

/* One run that missed KEY: write it if no one else is, as snapshot.c does.
 * Exit 0: wrote it, 1: another run was writing, 2: another run's entry got
 * there first, 3: an error. */
static int writer(const char *key, int i)
{
	int fd = cache_lock(dir, key, true);
	if (fd == -EWOULDBLOCK)
		return 1;
	if (fd < 0)
		return 3;
	char *staging, *f;
	if (asprintf(&staging, "%s/%s.tmp-%d", dir, key, (int)getpid()) < 0 ||
	    asprintf(&f, "%s/state", staging) < 0)
		return 3;
	if (mkdir(staging, 0755) < 0)
		return 3;
	write_path(f, 4096 * (size_t)(i + 1));
	usleep(100 * 1000); /* the others try meanwhile */
	int r = cache_commit(dir, staging, key);
	close(fd);
	return r == 0 ? 0 : r == -EEXIST ? 2 : 3;
}

static void test_concurrent_writers(void **state)
{
	(void)state;
	const char *key = "0123456789abcdef0123456789abcdef";
	pid_t pids[WRITERS];
	int counts[4] = { 0 };
	for (int i = 0; i < WRITERS; i++) {
		pids[i] = fork();
		if (pids[i] == 0)
			_exit(writer(key, i));
	}
	for (int i = 0; i < WRITERS; i++) {
		int st;
		assert_int_equal(waitpid(pids[i], &st, 0), pids[i]);
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) < 4);
		counts[WEXITSTATUS(st)]++;
	}
	assert_int_equal(counts[3], 0);
	assert_int_equal(counts[0], 1); /* exactly one wrote it */
	assert_int_equal(counts[0] + counts[1] + counts[2], WRITERS);
	/* The entry is whole: its state file and nothing left in staging. */
	char *state_file = path("0123456789abcdef0123456789abcdef/state");
	struct stat st;
	assert_int_equal(stat(state_file, &st), 0);
	assert_true(st.st_size > 0 && st.st_size % 4096 == 0);
	free(state_file);
	/* A second commit of the key loses, and its staging is removed. */
	char *staging = path("0123456789abcdef0123456789abcdef.tmp-1");
	assert_int_equal(mkdir(staging, 0755), 0);
	char *f;
	assert_true(asprintf(&f, "%s/state", staging) > 0);
	write_path(f, 10);
	assert_int_equal(cache_commit(dir, staging, key), -EEXIST);
	assert_int_equal(access(staging, F_OK), -1);
	free(f);
	free(staging);
}

/* Readers share an entry; a writer or remover waits for none of them. */
static void test_locks(void **state)
{
	(void)state;
	const char *key = "ffffffffffffffffffffffffffffffff";
	int r1 = cache_lock(dir, key, false), r2 = cache_lock(dir, key, false);
	assert_true(r1 >= 0 && r2 >= 0);
	assert_int_equal(cache_lock(dir, key, true), -EWOULDBLOCK);
	close(r1);
	close(r2);
	int w = cache_lock(dir, key, true);
	assert_true(w >= 0);
	assert_int_equal(cache_lock(dir, key, false), -EWOULDBLOCK);
	close(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_key_inputs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_key_script_content, setup, teardown),
		cmocka_unit_test_setup_teardown(test_evict_lru, setup, teardown),
		cmocka_unit_test_setup_teardown(test_evict_sparse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_evict_in_use, setup, teardown),
		cmocka_unit_test_setup_teardown(test_evict_stale_staging, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_writers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_locks, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
