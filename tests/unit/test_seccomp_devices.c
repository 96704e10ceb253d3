/* test_seccomp_devices.c - the device models at work under their threads'
 * filters, confined as microvm confines them: in a child (--seccomp trap),
 * a plain and a privileged 9p share, a copy-on-write disk, the console, rng
 * and the user network with a port forward added through the control
 * channel at run time. Workers and event loops confine themselves as in
 * microvm, a "vCPU" thread drives the devices through their registers (9p
 * kicks are served on it), and the main thread confines itself last, then
 * tears down. A forbidden call ends the child with the trap line; the
 * parent then looks at what the guest left in the shares. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <cmocka.h>

#include "childrun.h"
#include "device.h"
#include "fakedrv.h"
#include "p9msg.h"

enum { S_SHARE, P_SHARE, BLK, CON, RNG, NET, NDEVS };
#define DISK (1 << 20)
#define OWNER 1234 /* a uid and gid that are not root's */

struct dev {
	struct vm *vm;
	struct virtio_dev *d;
	struct fakedrv f;
	pthread_t el;
	uint64_t req, rep; /* request and reply buffers */
	struct msg m;
};

static struct dev devs[NDEVS];
static char top[32];
static int fails, con_out[2], ctl[2], port_pipe[2];
static bool root;

#define FAIL(...) (fprintf(stderr, "FAIL " __VA_ARGS__), fails++)

/* --- 9P through the queue ---------------------------------------------------- */

/* Send t->m with a 64 KiB reply buffer; the reply's type, -1 on timeout. */
static int call(struct dev *t)
{
	m_end(&t->m);
	memcpy(fake_ptr(t->vm, t->req), t->m.b, t->m.len);
	struct fd_seg s[2] = { { t->req, t->m.len, false }, { t->rep, 65536, true } };
	fd_add(&t->f, 0, s, 2, false);
	if (!fd_wait(&t->f, 0, NULL, NULL))
		return -1;
	return ((uint8_t *)fake_ptr(t->vm, t->rep))[4];
}

/* Expect success when must (and always a reply). */
static void ok(struct dev *t, const char *what, bool must)
{
	int want = t->m.b[4] + 1, type = call(t);
	uint32_t e = 0;
	memcpy(&e, (uint8_t *)fake_ptr(t->vm, t->rep) + 7, 4);
	if (type < 0 || (must && type != want))
		FAIL("%s: reply %d (errno %u)\n", what, type, type == 7 ? e : 0);
}

static struct msg *start(struct dev *t, uint8_t type)
{
	return m_start(&t->m, type, 1);
}

static void walk(struct dev *t, uint32_t fid, uint32_t newfid, const char *name)
{
	m_u32(start(t, P9_TWALK), fid);
	m_u32(&t->m, newfid);
	m_u16(&t->m, name ? 1 : 0);
	if (name)
		m_str(&t->m, name);
	ok(t, name ? name : "walk", true);
}

static void clunk(struct dev *t, uint32_t fid)
{
	m_u32(start(t, P9_TCLUNK), fid);
	ok(t, "clunk", true);
}

static void attach(struct dev *t)
{
	m_u32(m_start(&t->m, P9_TVERSION, 0xffff), 512 * 1024);
	m_str(&t->m, "9P2000.L");
	ok(t, "version", true);
	m_u32(start(t, P9_TATTACH), 1);
	m_u32(&t->m, ~0u);
	m_str(&t->m, "root");
	m_str(&t->m, "");
	m_u32(&t->m, 0);
	ok(t, "attach", true);
}

static void lcreate(struct dev *t, uint32_t dfid, const char *name, uint32_t mode, bool must)
{
	m_u32(start(t, P9_TLCREATE), dfid);
	m_str(&t->m, name);
	m_u32(&t->m, 2); /* O_RDWR */
	m_u32(&t->m, mode);
	m_u32(&t->m, 0);
	ok(t, name, must);
}

static void setattr(struct dev *t, uint32_t fid, uint32_t valid, uint32_t mode, uint32_t id,
		    uint64_t size, bool must)
{
	m_u32(start(t, P9_TSETATTR), fid);
	m_u32(&t->m, valid);
	m_u32(&t->m, mode);
	m_u32(&t->m, id);
	m_u32(&t->m, id);
	m_u64(&t->m, size);
	m_u64(&t->m, 0);
	m_u64(&t->m, 0);
	m_u64(&t->m, 1000000000);
	m_u64(&t->m, 0);
	ok(t, "setattr", must);
}

static void io(struct dev *t, uint8_t type, uint32_t fid, const char *data)
{
	m_u32(start(t, type), fid);
	m_u64(&t->m, 0);
	m_u32(&t->m, data ? strlen(data) : 100);
	if (data)
		m_raw(&t->m, data, strlen(data));
	ok(t, type == P9_TREAD ? "read" : "write", true);
}

static void xattr_set(struct dev *t, uint32_t fid, const char *name, bool must)
{
	m_u32(start(t, P9_TXATTRCREATE), fid);
	m_str(&t->m, name);
	m_u64(&t->m, 1);
	m_u32(&t->m, 0);
	ok(t, name, must);
	io(t, P9_TWRITE, fid, "1");
	m_u32(start(t, P9_TCLUNK), fid);
	ok(t, name, must); /* the clunk sets it */
}

static void lock(struct dev *t, uint8_t type, uint32_t fid)
{
	m_u32(start(t, type), fid);
	m_u8(&t->m, 1); /* write lock */
	if (type == P9_TLOCK)
		m_u32(&t->m, 0);
	m_u64(&t->m, 0);
	m_u64(&t->m, 0);
	m_u32(&t->m, 42);
	m_str(&t->m, "guest");
	ok(t, "lock", true);
}

static void names(struct dev *t, uint8_t type, uint32_t a, const char *n1, uint32_t b,
		  const char *n2)
{
	m_u32(start(t, type), a);
	if (n1)
		m_str(&t->m, n1);
	m_u32(&t->m, b);
	if (n2)
		m_str(&t->m, n2);
	ok(t, n2 ? n2 : n1, true);
}

static void make(struct dev *t, uint8_t type, const char *name, const char *target,
		 uint32_t mode, uint32_t dev, bool must)
{
	m_u32(start(t, type), 1);
	m_str(&t->m, name);
	if (target)
		m_str(&t->m, target);
	if (type != P9_TSYMLINK)
		m_u32(&t->m, mode);
	if (type == P9_TMKNOD) {
		m_u32(&t->m, major(dev));
		m_u32(&t->m, minor(dev));
	}
	m_u32(&t->m, 0);
	ok(t, name, must);
}

static void files(struct dev *t)
{
	walk(t, 1, 2, NULL);
	lcreate(t, 2, "f", 0644, true);
	io(t, P9_TWRITE, 2, "hello world");
	m_u32(start(t, P9_TFSYNC), 2);
	m_u32(&t->m, 0);
	ok(t, "fsync", true);
	io(t, P9_TREAD, 2, NULL);
	m_u32(start(t, P9_TGETATTR), 2);
	m_u64(&t->m, 0x3fff);
	ok(t, "getattr", true);
	setattr(t, 2, 1 | 8 | 0x20 | 0x100, 0600, 0, 5, true); /* mode, size, mtime */
	setattr(t, 2, 2 | 4, 0, OWNER, 0, root);                /* chown: CAP_CHOWN */
	clunk(t, 2);
	m_u32(start(t, P9_TSTATFS), 1);
	ok(t, "statfs", true);
	walk(t, 1, 3, "f");
	m_u32(start(t, P9_TLOPEN), 3);
	m_u32(&t->m, 2);
	ok(t, "lopen", true);
	lock(t, P9_TLOCK, 3);
	lock(t, P9_TGETLOCK, 3);
	clunk(t, 3);
}

static void dirs(struct dev *t)
{
	make(t, P9_TMKDIR, "d", NULL, 0755, 0, true);
	make(t, P9_TSYMLINK, "l", "target", 0, 0, true);
	make(t, P9_TMKNOD, "fifo", NULL, S_IFIFO | 0644, 0, true);
	walk(t, 1, 4, "l");
	m_u32(start(t, P9_TREADLINK), 4);
	ok(t, "readlink", true);
	clunk(t, 4);
	walk(t, 1, 5, "f");
	names(t, P9_TLINK, 1, NULL, 5, "h"); /* linkat(AT_EMPTY_PATH) */
	names(t, P9_TRENAMEAT, 1, "h", 1, "h2");
	names(t, P9_TRENAME, 5, NULL, 1, "g"); /* fid-based: f -> g */
	walk(t, 1, 6, "d");
	walk(t, 6, 7, "..");
	clunk(t, 7);
	clunk(t, 6);
	walk(t, 1, 8, NULL);
	m_u32(start(t, P9_TLOPEN), 8);
	m_u32(&t->m, 0200000); /* O_DIRECTORY */
	ok(t, "lopen dir", true);
	m_u32(start(t, P9_TREADDIR), 8);
	m_u64(&t->m, 0);
	m_u32(&t->m, 4096);
	ok(t, "readdir", true);
	clunk(t, 8);
	names(t, P9_TUNLINKAT, 1, "fifo", 0, NULL);
	walk(t, 1, 9, "h2");
	m_u32(start(t, P9_TREMOVE), 9);
	ok(t, "remove", true);
	xattr_set(t, 5, "user.x", false); /* the file system may have none */
	walk(t, 1, 10, "g");
	m_u32(start(t, P9_TXATTRWALK), 10);
	m_u32(&t->m, 11);
	m_str(&t->m, "");
	ok(t, "xattrwalk", false);
	clunk(t, 10);
	/* Root's file in a directory only OWNER may enter: CAP_DAC_OVERRIDE. */
	walk(t, 1, 12, "locked");
	lcreate(t, 12, "inner", 0644, root);
}

/* A privileged share passes setuid, device nodes and trusted.* through. */
static void privileged(struct dev *t)
{
	walk(t, 1, 2, NULL);
	lcreate(t, 2, "suid", 0755, true);
	setattr(t, 2, 1, 04755, 0, 0, root);
	clunk(t, 2);
	make(t, P9_TMKNOD, "null", NULL, S_IFCHR | 0666, makedev(1, 3), root);
	walk(t, 1, 3, "suid");
	xattr_set(t, 3, "trusted.t", false); /* checked on the host */
}

/* --- the other devices --------------------------------------------------------- */

/* One chain on queue q of t; false when it is not used within 5 s. */
static bool chain(struct dev *t, unsigned q, const struct fd_seg *s, unsigned n)
{
	fd_add(&t->f, q, s, n, false);
	return fd_wait(&t->f, q, NULL, NULL);
}

static void blk_req(struct dev *t, uint32_t type, uint64_t sector, uint32_t len)
{
	struct { uint32_t type, reserved; uint64_t sector; } h = { type, 0, sector };
	uint8_t *st = fake_ptr(t->vm, t->rep + 8192);
	memcpy(fake_ptr(t->vm, t->req), &h, sizeof(h));
	memset(fake_ptr(t->vm, t->rep), 0x5a, len);
	*st = 0xff;
	struct fd_seg s[3] = { { t->req, sizeof(h), false }, { t->rep, len, type == 0 },
			       { t->rep + 8192, 1, true } };
	if (!chain(t, 0, len ? s : (struct fd_seg[]){ s[0], s[2] }, len ? 3 : 2) || *st != 0)
		FAIL("blk request %u: status %u\n", type, *st);
}

static void others(void)
{
	blk_req(&devs[BLK], 1, 1, 512); /* a part of a cow block: filled first */
	blk_req(&devs[BLK], 0, 0, 4096);
	blk_req(&devs[BLK], 4, 0, 0); /* flush */
	struct dev *c = &devs[CON];
	memcpy(fake_ptr(c->vm, c->req), "hello", 5);
	if (!chain(c, 1, &(struct fd_seg){ c->req, 5, false }, 1)) /* served right here */
		FAIL("console output\n");
	if (!chain(c, 0, &(struct fd_seg){ c->rep, 64, true }, 1))
		FAIL("console input\n");
	struct dev *r = &devs[RNG];
	if (!chain(r, 0, &(struct fd_seg){ r->rep, 64, true }, 1))
		FAIL("rng\n");
}

static void *vcpu(void *arg)
{
	(void)arg;
	vm_sandbox_enter(VM_THREAD_VCPU);
	for (int i = 0; i < NET; i++) {
		struct dev *t = &devs[i];
		if (fd_init(&t->f, t->vm, t->d, ~0ULL, 64) != 0x0f)
			FAIL("device %d: driver init\n", i);
		t->req = fd_alloc(&t->f, 65536, 8);
		t->rep = fd_alloc(&t->f, 65536 + 8192, 8);
	}
	for (int i = S_SHARE; i <= P_SHARE; i++)
		attach(&devs[i]);
	files(&devs[S_SHARE]);
	dirs(&devs[S_SHARE]);
	privileged(&devs[P_SHARE]);
	others();
	return NULL;
}

/* --- the user network's forward, added at run time ----------------------------- */

/* The host side: not confined, as nothing of microvm would be. Connects
 * to the port once it is forwarded. */
static void *host(void *arg)
{
	(void)arg;
	uint16_t port;
	if (read(port_pipe[0], &port, 2) != 2)
		return NULL;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		FAIL("connect to the forward: %m\n");
	usleep(200000); /* libslirp accepts, and calls the guest */
	close(fd);
	return NULL;
}

static uint16_t free_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	getsockname(fd, (struct sockaddr *)&sa, &len);
	close(fd);
	return ntohs(sa.sin_port);
}

/* Main thread, confined: one control command, its one-line answer. */
static void command(const char *line)
{
	char reply[128] = "";
	struct pollfd p = { ctl[0], POLLIN, 0 };
	if (write(ctl[0], line, strlen(line)) < 0 || poll(&p, 1, 5000) != 1 ||
	    read(ctl[0], reply, sizeof(reply) - 1) <= 0 || strncmp(reply, "ok", 2))
		FAIL("%s-> %s\n", line, reply);
}

static void forward(uint16_t port, pthread_t *h)
{
	char line[96];
	snprintf(line, sizeof(line), "hostfwd_add tcp:127.0.0.1:%u-:22\n", port);
	command(line);
	if (write(port_pipe[1], &port, 2) != 2)
		FAIL("port pipe\n");
	pthread_join(*h, NULL);
	snprintf(line, sizeof(line), "hostfwd_remove tcp:127.0.0.1:%u\n", port);
	command(line);
}

/* --- setup (unconfined) and teardown (confined, as main) ------------------------ */

static void *el_thread(void *arg)
{
	vm_sandbox_enter(VM_THREAD_EVENTLOOP);
	el_run(arg);
	return NULL;
}

static const struct device_desc *device(const char *name)
{
	device_foreach(d)
		if (!strcmp(d->name, name))
			return d;
	return NULL;
}

/* The first virtio device on vm's bus. */
static struct virtio_dev *first_dev(struct vm *vm)
{
	return vm->bus[BUS_MMIO].nranges ? vm->bus[BUS_MMIO].ranges[0].opaque : NULL;
}

static int temp_fd(void)
{
	FILE *f = tmpfile();
	int fd = dup(fileno(f));
	fclose(f);
	return ftruncate(fd, DISK) == 0 ? fd : -1;
}

static void create(void)
{
	char path[64], opt[96];
	for (int i = 0; i < NDEVS; i++)
		devs[i].vm = fake_vm_new_paused(4 << 20);
	snprintf(path, sizeof(path), "%s/s", top);
	int fd = open(path, O_PATH | O_DIRECTORY);
	devs[S_SHARE].d = virtio_9p_create(devs[S_SHARE].vm, "s", fd, false, 0, "virtio-9p s");
	close(fd);
	snprintf(opt, sizeof(opt), "tag=p,path=%s/p,privileged", top);
	const struct device_desc *p9 = device("virtio-9p");
	if (p9->parse(opt) == 0 && p9->setup(devs[P_SHARE].vm) == 0)
		devs[P_SHARE].d = first_dev(devs[P_SHARE].vm);
	devs[BLK].d = virtio_blk_create(devs[BLK].vm, temp_fd(), temp_fd(), DISK, false, "s",
					"virtio-blk vda");
	if (pipe2(con_out, O_NONBLOCK) < 0 || socketpair(AF_UNIX, SOCK_STREAM, 0, ctl) < 0)
		_exit(3);
	int in[2];
	if (pipe2(in, O_NONBLOCK) < 0 || write(in[1], "in", 2) != 2)
		_exit(3);
	devs[CON].d = virtio_console_create(devs[CON].vm, in[0], con_out[1], -1);
	devs[RNG].d = virtio_rng_create(devs[RNG].vm);
	snprintf(opt, sizeof(opt), "fd:%d", ctl[1]);
	if (device("virtio-net")->parse("user") || device("virtio-net")->setup(devs[NET].vm) ||
	    device("control")->parse(opt) || device("control")->setup(devs[NET].vm))
		_exit(3);
	devs[NET].d = first_dev(devs[NET].vm);
	for (int i = 0; i < NDEVS; i++)
		if (!devs[i].vm->bus[BUS_MMIO].nranges || !devs[i].d)
			_exit(4);
}

static void teardown(void)
{
	char out[16] = "";
	if (read(con_out[0], out, sizeof(out)) != 5 || memcmp(out, "hello", 5))
		FAIL("console output on the host: '%s'\n", out);
	for (int i = 0; i < NDEVS; i++) {
		el_stop(devs[i].vm->el);
		pthread_join(devs[i].el, NULL);
	}
	virtio_9p_destroy(devs[S_SHARE].d);
	device("virtio-9p")->teardown(devs[P_SHARE].vm);
	virtio_blk_destroy(devs[BLK].d);
	device("virtio-net")->teardown(devs[NET].vm);
}

static void machine(const void *arg)
{
	(void)arg;
	pthread_t v, h;
	uint16_t port = free_port();
	if (vm_sandbox_init(VM_SECCOMP_TRAP) < 0 || pipe(port_pipe) < 0)
		_exit(3);
	create();
	for (int i = 0; i < NDEVS; i++)
		pthread_create(&devs[i].el, NULL, el_thread, devs[i].vm->el);
	pthread_create(&h, NULL, host, NULL);
	pthread_create(&v, NULL, vcpu, NULL);
	vm_sandbox_enter(VM_THREAD_MAIN);
	pthread_join(v, NULL);
	forward(port, &h);
	teardown();
	fprintf(stderr, "done\n");
	exit(fails ? 2 : 0); /* atexit, stdio and LeakSanitizer under main's filter */
}

/* --- the test -------------------------------------------------------------------- */

static char *at(const char *rel)
{
	static char p[128];
	snprintf(p, sizeof(p), "%s/%s", top, rel);
	return p;
}

/* What the guest left on the host. */
static void check_host(void)
{
	struct stat st;
	assert_int_equal(lstat(at("s/g"), &st), 0);
	assert_int_equal(st.st_size, 5);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(lstat(at("s/l"), &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	assert_int_equal(lstat(at("s/d"), &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(lstat(at("s/fifo"), &st), -1);
	assert_int_equal(lstat(at("s/h2"), &st), -1);
	if (!root)
		return;
	assert_int_equal(lstat(at("s/g"), &st), 0);
	assert_int_equal(st.st_uid, OWNER);
	assert_int_equal(lstat(at("s/locked/inner"), &st), 0);
	assert_int_equal(lstat(at("p/suid"), &st), 0);
	assert_int_equal(st.st_mode & 07777, 04755);
	assert_int_equal(lstat(at("p/null"), &st), 0);
	assert_true(S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3));
	char v[4];
	ssize_t n = lgetxattr(at("p/suid"), "trusted.t", v, sizeof(v));
	assert_true(n == 1 || (n < 0 && errno == EOPNOTSUPP));
}

/* A kernel with filters says EFAULT to a NULL program. */
static bool have_seccomp(void)
{
	pid_t pid = fork();
	if (pid == 0) {
		prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
		_exit(syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, NULL) < 0 && errno == EFAULT
			      ? 0 : 1);
	}
	int status;
	return pid > 0 && waitpid(pid, &status, 0) == pid && status == 0;
}

static void test_devices_work_under_their_filters(void **state)
{
	(void)state;
	int status;
	static char err[65536];
	if (!have_seccomp())
		skip(); /* qemu-user takes no filters */
	root = geteuid() == 0;
	strcpy(top, "/tmp/scdev.XXXXXX");
	assert_non_null(mkdtemp(top));
	assert_int_equal(mkdir(at("s"), 0755) | mkdir(at("p"), 0755) | mkdir(at("s/locked"), 0), 0);
	if (root)
		assert_int_equal(chown(at("s/locked"), OWNER, OWNER), 0);
	run_child(machine, NULL, 60, &status, err, sizeof(err));
	if (status != 0 || !strstr(err, "done\n"))
		print_error("status %#x, stderr:\n%s", status, err);
	assert_null(strstr(err, "forbidden"));
	assert_null(strstr(err, "FAIL"));
	assert_int_equal(status, 0);
	check_host();
	char cmd[64];
	snprintf(cmd, sizeof(cmd), "chmod -R u+rwx %s; rm -rf %s", top, top);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_devices_work_under_their_filters),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
