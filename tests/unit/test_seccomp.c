/* test_seccomp.c - the thread kinds' filters are real: a forked child
 * confines itself as one kind, makes one call, and either goes on or dies
 * of SIGSYS (--seccomp kill) or names the call and exits 1 (trap). Also the
 * capabilities each kind keeps (as root), and, in sanitizer builds, that
 * ASan, UBSan and LeakSanitizer still report under the filters. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/kvm.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>
#include <cmocka.h>

#include "childrun.h"
#include "options.h"
#include "vm.h"

#ifdef MICROVM_SANITIZE
#define SANITIZED true
#else
#define SANITIZED false
#endif

struct run {
	int status;
	char err[16384]; /* the child's stderr */
};

/* Run fn(arg) in a child whose stderr is r->err; it exits 0 after fn. */
static void run(void (*fn)(const void *), const void *arg, struct run *r)
{
	run_child(fn, arg, 30, &r->status, r->err, sizeof(r->err));
}

static void probe(const void *arg)
{
	(void)arg;
	prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	/* A kernel with filters says EFAULT to a NULL program. */
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, NULL) == 0 || errno != EFAULT)
		_exit(1);
}

/* qemu-user (the arm64 unit tests) takes no seccomp filters. */
static bool have_seccomp(void)
{
	static int have = -1;
	struct run *r = malloc(sizeof(*r));
	if (have < 0) {
		run(probe, NULL, r);
		have = WIFEXITED(r->status) && WEXITSTATUS(r->status) == 0;
	}
	free(r);
	return have;
}

/* --- one call per child, a table of what each kind may do ------------------ */

enum op {
	OP_WRITE, OP_EXECVE, OP_MMAP_RW, OP_MMAP_EXEC, OP_THREAD, OP_TGKILL_SELF,
	OP_TGKILL_OTHER, OP_KVM_RUN, OP_TCGETS, OP_SOCKET_INET, OP_SOCKET_UNIX,
	OP_OPEN_RO, OP_OPEN_WRITE, OP_OPENAT2, OP_PREADV, OP_MKNOD, OP_POLL, OP_UNLINK,
};
static const char *const op_names[] = {
	"write", "execve", "mmap rw", "mmap exec", "pthread_create", "tgkill self",
	"tgkill other", "ioctl KVM_RUN", "ioctl TCGETS", "socket AF_INET", "socket AF_UNIX",
	"open read-only", "open for writing", "openat2", "preadv", "mknodat", "poll", "unlink",
};
enum want { ALLOW, KILL, KILL_UNSANITIZED /* sanitizer builds allow it */ };

struct row {
	enum vm_thread kind;
	enum op op;
	enum want want;
};

static const struct row rows[] = {
	{ VM_THREAD_VCPU, OP_WRITE, ALLOW },
	{ VM_THREAD_VCPU, OP_KVM_RUN, ALLOW },
	{ VM_THREAD_VCPU, OP_TGKILL_SELF, ALLOW },
	{ VM_THREAD_VCPU, OP_MMAP_RW, ALLOW },
	{ VM_THREAD_VCPU, OP_TCGETS, KILL_UNSANITIZED },
	{ VM_THREAD_VCPU, OP_SOCKET_INET, KILL },
	{ VM_THREAD_VCPU, OP_OPEN_RO, KILL_UNSANITIZED },
	{ VM_THREAD_VCPU, OP_THREAD, KILL },
	{ VM_THREAD_VCPU, OP_TGKILL_OTHER, KILL },
	{ VM_THREAD_VCPU, OP_MMAP_EXEC, KILL },
	{ VM_THREAD_VCPU, OP_EXECVE, KILL },
	{ VM_THREAD_EVENTLOOP, OP_SOCKET_INET, ALLOW },
	{ VM_THREAD_EVENTLOOP, OP_OPEN_RO, ALLOW },
	{ VM_THREAD_EVENTLOOP, OP_TCGETS, ALLOW },
	{ VM_THREAD_EVENTLOOP, OP_SOCKET_UNIX, KILL },
	{ VM_THREAD_EVENTLOOP, OP_OPEN_WRITE, KILL },
	{ VM_THREAD_EVENTLOOP, OP_KVM_RUN, KILL },
	{ VM_THREAD_EVENTLOOP, OP_OPENAT2, KILL },
	{ VM_THREAD_EVENTLOOP, OP_MMAP_EXEC, KILL },
	{ VM_THREAD_EVENTLOOP, OP_EXECVE, KILL },
	{ VM_THREAD_BLK, OP_PREADV, ALLOW },
	{ VM_THREAD_BLK, OP_OPEN_RO, KILL_UNSANITIZED },
	{ VM_THREAD_BLK, OP_OPENAT2, KILL },
	{ VM_THREAD_BLK, OP_SOCKET_INET, KILL },
	{ VM_THREAD_BLK, OP_EXECVE, KILL },
	{ VM_THREAD_9P, OP_OPENAT2, ALLOW },
	{ VM_THREAD_9P, OP_OPEN_RO, ALLOW },
	{ VM_THREAD_9P, OP_OPEN_WRITE, ALLOW },
	{ VM_THREAD_9P, OP_MKNOD, ALLOW },
	{ VM_THREAD_9P, OP_SOCKET_INET, KILL },
	{ VM_THREAD_9P, OP_KVM_RUN, KILL },
	{ VM_THREAD_9P, OP_EXECVE, KILL },
	{ VM_THREAD_9P_PRIVILEGED, OP_MKNOD, ALLOW },
	{ VM_THREAD_9P_PRIVILEGED, OP_EXECVE, KILL },
	{ VM_THREAD_MAIN, OP_POLL, ALLOW },
	{ VM_THREAD_MAIN, OP_UNLINK, ALLOW },
	{ VM_THREAD_MAIN, OP_SOCKET_INET, KILL },
	{ VM_THREAD_MAIN, OP_OPEN_RO, KILL_UNSANITIZED },
	{ VM_THREAD_MAIN, OP_KVM_RUN, KILL },
	{ VM_THREAD_MAIN, OP_EXECVE, KILL },
};

static void *idle(void *arg)
{
	return arg;
}

static void do_op(enum op op)
{
	char buf[16];
	struct iovec iov = { buf, sizeof(buf) };
	struct open_how how = { .flags = O_PATH | O_CLOEXEC, .resolve = RESOLVE_BENEATH };
	struct termios t;
	pthread_t th;
	char *argv[] = { "true", NULL }, *envp[] = { NULL };
	switch (op) {
	case OP_WRITE: (void)!write(STDERR_FILENO, "", 0); break;
	case OP_EXECVE: execve("/bin/true", argv, envp); break;
	case OP_MMAP_RW: munmap(mmap(NULL, 4096, PROT_READ | PROT_WRITE,
				     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), 4096); break;
	case OP_MMAP_EXEC: mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS,
				-1, 0); break;
	case OP_THREAD: pthread_create(&th, NULL, idle, NULL); break;
	case OP_TGKILL_SELF: syscall(SYS_tgkill, getpid(), gettid(), 0); break;
	case OP_TGKILL_OTHER: syscall(SYS_tgkill, getppid(), getppid(), 0); break;
	case OP_KVM_RUN: ioctl(STDIN_FILENO, KVM_RUN, 0); break; /* ENOTTY: not a vCPU */
	case OP_TCGETS: ioctl(STDIN_FILENO, TCGETS, &t); break;
	case OP_SOCKET_INET: socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0); break;
	case OP_SOCKET_UNIX: socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0); break;
	case OP_OPEN_RO: openat(AT_FDCWD, "/proc/self/stat", O_RDONLY | O_CLOEXEC); break;
	case OP_OPEN_WRITE: openat(AT_FDCWD, "/dev/null", O_WRONLY | O_CLOEXEC); break;
	case OP_OPENAT2: syscall(SYS_openat2, AT_FDCWD, "/", &how, sizeof(how)); break;
	case OP_PREADV: preadv(STDIN_FILENO, &iov, 1, 0); break;
	case OP_MKNOD: mknodat(AT_FDCWD, "/nonexistent/fifo", S_IFIFO | 0600, 0); break;
	case OP_POLL: poll(NULL, 0, 0); break;
	case OP_UNLINK: unlink("/nonexistent/socket"); break;
	}
}

static void run_op(const void *arg)
{
	const struct row *row = arg;
	if (vm_sandbox_init(VM_SECCOMP_KILL) < 0)
		_exit(3);
	/* stdin on /dev/null: a file for preadv and ioctl to fail on. */
	int null = open("/dev/null", O_RDWR);
	dup2(null, STDIN_FILENO);
	vm_sandbox_enter(row->kind);
	fprintf(stderr, "entered\n");
	do_op(row->op);
	_exit(0);
}

static const char *kind_name(enum vm_thread k)
{
	static const char *const n[] = { "main", "vcpu", "eventloop", "blk", "9p",
					 "9p privileged" };
	return n[k];
}

/* Every row: ALLOW exits 0, KILL dies of SIGSYS after entering. */
static void test_each_kind_allows_its_calls_and_is_killed_for_others(void **state)
{
	(void)state;
	if (!have_seccomp())
		skip();
	struct run *r = malloc(sizeof(*r));
	int bad = 0;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *row = &rows[i];
		bool kill = row->want == KILL || (row->want == KILL_UNSANITIZED && !SANITIZED);
		run(run_op, row, r);
		bool entered = strstr(r->err, "entered\n") != NULL;
		bool ok = entered && (kill ? WIFSIGNALED(r->status) && WTERMSIG(r->status) == SIGSYS
					   : WIFEXITED(r->status) && WEXITSTATUS(r->status) == 0);
		if (!ok) {
			print_error("%s thread, %s: expected %s, got status %#x; stderr: %s\n",
				    kind_name(row->kind), op_names[row->op],
				    kill ? "SIGSYS" : "exit 0", r->status, r->err);
			bad++;
		}
	}
	free(r);
	assert_int_equal(bad, 0);
}

/* --- trap: the one line ----------------------------------------------------- */

static void *blk_socket(void *arg)
{
	(void)arg;
	vm_sandbox_enter(VM_THREAD_BLK);
	socket(AF_INET, SOCK_STREAM, 0);
	return NULL;
}

static void trap_in_thread(const void *arg)
{
	(void)arg;
	if (vm_sandbox_init(VM_SECCOMP_TRAP) < 0)
		_exit(3);
	pthread_t t;
	pthread_create(&t, NULL, blk_socket, NULL);
	pthread_join(t, NULL);
	_exit(0); /* not reached: the handler exits 1 */
}

static void test_trap_names_thread_and_call(void **state)
{
	(void)state;
	if (!have_seccomp())
		skip();
	struct run *r = malloc(sizeof(*r));
	char want[128];
	const char *fmt = "microvm: seccomp: thread blk made forbidden syscall socket (%d)\n";
	snprintf(want, sizeof(want), fmt, (int)SYS_socket);
	run(trap_in_thread, NULL, r);
	assert_true(WIFEXITED(r->status));
	assert_int_equal(WEXITSTATUS(r->status), VM_EXIT_ERROR);
	assert_string_equal(r->err, want);
	free(r);
}

static void off_then_socket(const void *arg)
{
	(void)arg;
	if (vm_sandbox_init(VM_SECCOMP_OFF) < 0 || vm_sandbox_size(VM_THREAD_VCPU) != -1)
		_exit(3);
	vm_sandbox_enter(VM_THREAD_VCPU);
	if (socket(AF_INET, SOCK_DGRAM, 0) < 0 || prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
		_exit(4);
}

/* --no-seccomp: no filter, but no new privileges all the same. */
static void test_off_installs_no_filter(void **state)
{
	(void)state;
	struct run *r = malloc(sizeof(*r));
	run(off_then_socket, NULL, r);
	assert_true(WIFEXITED(r->status));
	assert_int_equal(WEXITSTATUS(r->status), 0);
	free(r);
}

/* --- sizes, for the record ------------------------------------------------ */

static void sizes(const void *arg)
{
	(void)arg;
	/* trap: kill-process needs a kernel that has it, qemu-user has none */
	if (vm_sandbox_init(VM_SECCOMP_TRAP) < 0)
		_exit(3);
	for (int k = 0; k < VM_THREAD_KINDS; k++)
		fprintf(stderr, "%d\n", vm_sandbox_size(k));
}

static void test_sizes(void **state)
{
	(void)state;
	struct run *r = malloc(sizeof(*r));
	int n[VM_THREAD_KINDS];
	run(sizes, NULL, r);
	assert_int_equal(r->status, 0);
	char *p = r->err;
	for (int k = 0; k < VM_THREAD_KINDS; k++) {
		n[k] = (int)strtol(p, &p, 10);
		print_message("%s threads: %d system calls allowed\n", kind_name(k), n[k]);
		assert_true(n[k] > 20);
	}
	/* The vCPU, the most exposed, has the shortest list. */
	for (int k = 0; k < VM_THREAD_KINDS; k++)
		assert_true(n[VM_THREAD_VCPU] <= n[k]);
	free(r);
}

/* --- capabilities (as root) -------------------------------------------------- */

#define CAP(c) (1ULL << CAP_##c)
#define P9_CAPS (CAP(CHOWN) | CAP(DAC_OVERRIDE) | CAP(DAC_READ_SEARCH) | CAP(FOWNER) | CAP(FSETID))

static const uint64_t want_caps[VM_THREAD_KINDS] = {
	[VM_THREAD_EVENTLOOP] = CAP(NET_BIND_SERVICE),
	[VM_THREAD_9P] = P9_CAPS,
	[VM_THREAD_9P_PRIVILEGED] = P9_CAPS | CAP(MKNOD) | CAP(SETFCAP) | CAP(SYS_ADMIN),
};

static void caps_of(const void *arg)
{
	enum vm_thread kind = *(const enum vm_thread *)arg;
	if (vm_sandbox_init(VM_SECCOMP_OFF) < 0)
		_exit(3);
	vm_sandbox_enter(kind);
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2];
	if (syscall(SYS_capget, &h, d) < 0)
		_exit(4);
	uint64_t eff = d[0].effective | (uint64_t)d[1].effective << 32;
	uint64_t perm = d[0].permitted | (uint64_t)d[1].permitted << 32;
	uint64_t inh = d[0].inheritable | (uint64_t)d[1].inheritable << 32;
	bool admin = want_caps[kind] & CAP(SYS_ADMIN);
	bool bounded = prctl(PR_CAPBSET_READ, CAP_SYS_ADMIN, 0, 0, 0) == admin;
	fprintf(stderr, "caps %llx %llx %llx %d\n", (unsigned long long)eff,
		(unsigned long long)perm, (unsigned long long)inh, bounded);
}

static void test_root_keeps_only_each_kinds_capabilities(void **state)
{
	(void)state;
	if (geteuid() != 0)
		skip(); /* nothing to drop */
	struct run *r = malloc(sizeof(*r));
	for (enum vm_thread k = 0; k < VM_THREAD_KINDS; k++) {
		run(caps_of, &k, r);
		unsigned long long eff, perm, inh;
		int bounded;
		assert_int_equal(r->status, 0);
		const char *caps = strstr(r->err, "caps "); /* main says "running as root" */
		assert_non_null(caps);
		int got = sscanf(caps, "caps %llx %llx %llx %d", &eff, &perm, &inh, &bounded);
		assert_int_equal(got, 4);
		print_message("%s: effective %#llx\n", kind_name(k), eff);
		assert_int_equal(eff, want_caps[k]);
		assert_int_equal(perm, want_caps[k]);
		assert_int_equal(inh, 0);
		assert_true(bounded);
	}
	free(r);
}

/* --- sanitizer runtimes under the filters ---------------------------------- */

static char *volatile sink; /* keeps GCC from dropping the allocation */

static void heap_overflow(const void *arg)
{
	if (vm_sandbox_init(VM_SECCOMP_TRAP) < 0)
		_exit(3);
	vm_sandbox_enter(*(const enum vm_thread *)arg);
	volatile size_t n = 9;
	sink = malloc(8);
	memset(sink, 1, n);
}

static void int_overflow(const void *arg)
{
	if (vm_sandbox_init(VM_SECCOMP_TRAP) < 0)
		_exit(3);
	vm_sandbox_enter(*(const enum vm_thread *)arg);
	volatile int x = INT_MAX;
	x = x + 1;
}

/* A sanitizer's report is not cut short by a forbidden call. */
static void check_report(void (*fn)(const void *), const char *want)
{
	struct run *r = malloc(sizeof(*r));
	for (enum vm_thread k = 0; k < VM_THREAD_KINDS; k++) {
		run(fn, &k, r);
		if (!strstr(r->err, want) || strstr(r->err, "forbidden"))
			print_error("%s thread, status %#x: %s", kind_name(k), r->status, r->err);
		assert_non_null(strstr(r->err, want));
		assert_null(strstr(r->err, "forbidden"));
	}
	free(r);
}

static void test_asan_reports_under_every_filter(void **state)
{
	(void)state;
#if defined(MICROVM_SANITIZE) && defined(__SANITIZE_ADDRESS__)
	if (!have_seccomp())
		skip();
	check_report(heap_overflow, "AddressSanitizer: heap-buffer-overflow");
#else
	(void)heap_overflow, (void)check_report;
	skip(); /* not an ASan build */
#endif
}

static void test_ubsan_reports_under_every_filter(void **state)
{
	(void)state;
#ifdef MICROVM_SANITIZE
	if (!have_seccomp() || !strstr(MICROVM_SANITIZE, "undefined"))
		skip();
	check_report(int_overflow, "runtime error: signed integer overflow");
#else
	(void)int_overflow;
	skip(); /* not a UBSan build */
#endif
}

static void *blocked(void *arg)
{
	int *p = arg;
	char c;
	vm_sandbox_enter(VM_THREAD_VCPU);
	(void)!read(p[0], &c, 1); /* never written */
	return NULL;
}

/* Main's filter is the last; the exit path (atexit, stdio, and in ASan
 * builds LeakSanitizer stopping the other threads) runs under it. */
static void leak_at_exit(const void *arg)
{
	(void)arg;
	static int p[2];
	pthread_t t;
	if (vm_sandbox_init(VM_SECCOMP_TRAP) < 0 || pipe(p) < 0)
		_exit(3);
	pthread_create(&t, NULL, blocked, p);
	vm_sandbox_enter(VM_THREAD_MAIN);
	sink = malloc(64);
	sink = NULL; /* lost: LeakSanitizer reports it */
	fprintf(stderr, "exiting\n");
	exit(0);
}

static void test_exit_and_leak_check_under_main_filter(void **state)
{
	(void)state;
	if (!have_seccomp())
		skip();
	struct run *r = malloc(sizeof(*r));
	run(leak_at_exit, NULL, r);
	assert_null(strstr(r->err, "forbidden"));
	assert_non_null(strstr(r->err, "exiting\n"));
#if defined(MICROVM_SANITIZE) && defined(__SANITIZE_ADDRESS__)
	assert_non_null(strstr(r->err, "LeakSanitizer: detected memory leaks"));
	assert_non_null(strstr(r->err, "leak_at_exit"));
#else
	assert_int_equal(r->status, 0);
#endif
	free(r);
}

/* --seccomp, --no-seccomp, and MICROVM_SECCOMP when neither is given. */
static void test_options(void **state)
{
	(void)state;
	struct vm_config c;
	char err[256];
	const char *trap[] = { "--kernel", "k", "--seccomp", "trap", NULL };
	const char *off[] = { "--kernel", "k", "--no-seccomp", NULL };
	const char *none[] = { "--kernel", "k", NULL };
	const char *bad[] = { "--kernel", "k", "--seccomp", "nope", NULL };
	unsetenv("MICROVM_SECCOMP"); /* a suite may run with it set */
	assert_int_equal(options_capture(&c, trap, err, sizeof(err)), 0);
	assert_int_equal(c.seccomp, VM_SECCOMP_TRAP);
	assert_int_equal(options_capture(&c, off, err, sizeof(err)), 0);
	assert_int_equal(c.seccomp, VM_SECCOMP_OFF);
	assert_int_equal(options_capture(&c, none, err, sizeof(err)), 0);
	assert_int_equal(c.seccomp, VM_SECCOMP_AUTO);
	assert_int_equal(options_capture(&c, bad, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "microvm: --seccomp nope: expected kill, trap, log or off\n");
	setenv("MICROVM_SECCOMP", "log", 1);
	assert_int_equal(options_capture(&c, none, err, sizeof(err)), 0);
	assert_int_equal(c.seccomp, VM_SECCOMP_LOG);
	assert_int_equal(options_capture(&c, off, err, sizeof(err)), 0);
	assert_int_equal(c.seccomp, VM_SECCOMP_OFF); /* the option wins */
	setenv("MICROVM_SECCOMP", "nope", 1);
	assert_int_equal(options_capture(&c, none, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "MICROVM_SECCOMP=nope: expected kill, trap, log or off"));
	unsetenv("MICROVM_SECCOMP");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_options),
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_each_kind_allows_its_calls_and_is_killed_for_others),
		cmocka_unit_test(test_trap_names_thread_and_call),
		cmocka_unit_test(test_off_installs_no_filter),
		cmocka_unit_test(test_root_keeps_only_each_kinds_capabilities),
		cmocka_unit_test(test_asan_reports_under_every_filter),
		cmocka_unit_test(test_ubsan_reports_under_every_filter),
		cmocka_unit_test(test_exit_and_leak_check_under_main_filter),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
