/* seccomp.c - one allow-list of system calls per thread kind, compiled to
 * BPF with libseccomp by the main thread before any other thread starts,
 * and installed by each thread on itself (vm_sandbox_enter). Names are
 * resolved for the architecture built for; a name it lacks (open, poll and
 * epoll_wait on arm64) is skipped, so the lists name both spellings.
 *
 * To allow a call: find the thread that makes it (`--seccomp trap` names
 * it), add it to that kind's list below, restricting arguments where that
 * is cheap, and say why if it is not obvious. docs/architecture.md,
 * "Sandbox", explains the kinds. */
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/kvm.h>
#include <linux/seccomp.h>
#include <malloc.h>
#include <seccomp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/sysinfo.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

#include "log.h"
#include "sandbox.h"

#define MAX_NR 1024 /* above every system call number of x86_64 and arm64 */

/* Every thread: the C library (malloc, thread exit, abort), logging, I/O on
 * fds it was handed. mmap and mprotect come without PROT_EXEC, tgkill only
 * within microvm (base_args). */
static const char *const base_calls[] = {
	"read", "write", "readv", "writev", "close", "futex", "munmap", "mremap", "madvise",
	"brk", "rt_sigprocmask", "rt_sigreturn", "restart_syscall", "exit", "exit_group",
	"clock_gettime", "clock_nanosleep", "nanosleep", "sched_yield", "getrandom",
	"getpid", "gettid", "fstat", "newfstatat", NULL,
};

/* vCPUs: KVM_RUN and the device models' register handlers, which write to
 * eventfds, the console's and the UART's output and change event loop
 * watches (epoll_ctl); 9p kicks only queue requests. */
static const char *const vcpu_calls[] = { "epoll_ctl", NULL };

/* The event loop: every backend's fds, and libslirp, which makes sockets
 * for the guest's connections and for port forwards added at run time. */
static const char *const eventloop_calls[] = {
	"epoll_wait", "epoll_pwait", "poll", "ppoll", "epoll_ctl", "recvfrom", "recvmsg",
	"sendto", "sendmsg", "accept", "accept4", "bind", "listen", "connect", "getsockname",
	"getpeername", "getsockopt", "setsockopt", "shutdown", "fcntl",
	/* `snapshot DIR` (vmm/snapshot.c): a new directory of new files,
	 * written sparse (pwrite, ftruncate), renamed into place, removed
	 * again on failure; copy-on-write files copied by their data ranges. */
	"mkdir", "mkdirat", "rename", "renameat", "renameat2", "unlinkat", "pwrite64",
	"pread64", "ftruncate", "lseek",
	/* ... and 9p's fids saved as the paths /proc/self/fd names. */
	"readlinkat", NULL,
};

/* Block workers: I/O on images opened at setup. */
static const char *const blk_calls[] = {
	"preadv", "pwritev", "lseek", "fallocate", "fdatasync", "fsync", NULL,
};

/* 9p workers: every file operation, confined to the share by openat2
 * RESOLVE_BENEATH and the *at calls relative to its fds (devices/9p). */
static const char *const p9_calls[] = {
	"openat", "openat2", "statx", "fstatfs", "fchownat", "fchmodat", "utimensat",
	"renameat", "renameat2", "unlinkat", "mkdirat", "symlinkat", "mknodat", "linkat",
	"readlinkat", "getxattr", "setxattr", "listxattr", "removexattr", "getdents64",
	"lseek", "preadv", "pwritev", "fsync", "fdatasync", "ftruncate", "fcntl", NULL,
};

/* Main: waits for the exit, stops and joins the others, tears devices down
 * (the UART's last output), removes its sockets (unlink) and reads
 * /proc/self/smaps opened before (--verbose). */
static const char *const main_calls[] = {
	"poll", "ppoll", "epoll_ctl", "unlink", "unlinkat", "lseek", NULL,
};

/* Sanitizer runtimes, on whichever thread reports: /proc/self/maps and the
 * binary for the report (read-only opens, sanitizer_args), alternate signal
 * stacks, limits. */
static const char *const sanitizer_calls[] = {
	"readlink", "readlinkat", "lseek", "pread64", "fcntl", "getdents", "getdents64",
	"sigaltstack", "rt_sigaction", "prctl", "sched_getaffinity", "getrlimit", "prlimit64",
	NULL,
};

/* LeakSanitizer's check at exit, on the main thread: a tracer thread
 * (clone) stops the others with ptrace while it scans their stacks. */
static const char *const leak_calls[] = {
	"clone", "ptrace", "wait4", "getppid", NULL,
};

/* A call allowed only when (argument arg & mask) == value. */
struct arg_rule {
	const char *name;
	unsigned arg;
	uint64_t mask, value;
};
#define INT_ARG 0xffffffffULL /* the kernel reads int and ioctl numbers as 32 bits */
/* Opens that can neither write nor create (O_TMPFILE less O_DIRECTORY,
 * which it includes). */
#define OPEN_WRITES (O_ACCMODE | O_CREAT | O_TRUNC | O_APPEND | (O_TMPFILE & ~O_DIRECTORY))

static const struct arg_rule base_args[] = {
	{ "mmap", 2, PROT_EXEC, 0 }, /* no new code at run time */
	{ "mprotect", 2, PROT_EXEC, 0 },
	{ NULL, 0, 0, 0 },
};

static const struct arg_rule vcpu_args[] = {
	{ "ioctl", 1, INT_ARG, KVM_RUN },
	{ "ioctl", 1, INT_ARG, KVM_IRQ_LINE },  /* the UART's interrupt */
	{ "ioctl", 1, INT_ARG, KVM_GET_REGS },  /* where a triple fault happened */
	{ "ioctl", 1, INT_ARG, KVM_GET_SREGS },
	{ NULL, 0, 0, 0 },
};

#ifdef __x86_64__
#define SNAPSHOT_IOCTLS                                                                      \
	{ "ioctl", 1, INT_ARG, KVM_GET_MP_STATE }, { "ioctl", 1, INT_ARG, KVM_GET_REGS },    \
	{ "ioctl", 1, INT_ARG, KVM_GET_SREGS }, { "ioctl", 1, INT_ARG, KVM_GET_XSAVE },      \
	{ "ioctl", 1, INT_ARG, KVM_GET_XCRS }, { "ioctl", 1, INT_ARG, KVM_GET_DEBUGREGS },   \
	{ "ioctl", 1, INT_ARG, KVM_GET_LAPIC }, { "ioctl", 1, INT_ARG, KVM_GET_MSRS },       \
	{ "ioctl", 1, INT_ARG, KVM_GET_VCPU_EVENTS }, { "ioctl", 1, INT_ARG, KVM_GET_CLOCK }, \
	{ "ioctl", 1, INT_ARG, KVM_GET_PIT2 }, { "ioctl", 1, INT_ARG, KVM_GET_IRQCHIP },
#else
#define SNAPSHOT_IOCTLS
#endif

static const struct arg_rule eventloop_args[] = {
	{ "socket", 0, INT_ARG, AF_INET }, /* libslirp, IPv6 off (net-user.c) */
	{ "ioctl", 1, INT_ARG, KVM_IRQ_LINE }, /* the UART's interrupt, on input */
	{ "ioctl", 1, INT_ARG, FIONREAD },     /* libslirp, before a UDP read */
	{ "ioctl", 1, INT_ARG, TCGETS },       /* glib's isatty() in a warning */
	/* libslirp reads /etc/resolv.conf when the guest first asks
	 * 10.0.2.3, and again when it changes (newfstatat, in every list). */
	{ "openat", 2, OPEN_WRITES, 0 },
	/* The snapshot's files: created, never an existing file opened. */
	{ "openat", 2, OPEN_WRITES | O_EXCL, O_WRONLY | O_CREAT | O_EXCL },
	/* A snapshot reads the VM's state (vmm/x86_64/snapshot.c). */
	SNAPSHOT_IOCTLS
	{ NULL, 0, 0, 0 },
};

static const struct arg_rule sanitizer_args[] = {
	{ "ioctl", 1, INT_ARG, TCGETS }, /* isatty(): colours or not */
	{ "open", 1, OPEN_WRITES, 0 },
	{ "openat", 2, OPEN_WRITES, 0 },
	{ NULL, 0, 0, 0 },
};

struct kind_list {
	const char *const *calls;
	const struct arg_rule *args;
};

static const struct kind_list lists[VM_THREAD_KINDS] = {
	[VM_THREAD_MAIN] = { main_calls, NULL },
	[VM_THREAD_VCPU] = { vcpu_calls, vcpu_args },
	[VM_THREAD_EVENTLOOP] = { eventloop_calls, eventloop_args },
	[VM_THREAD_BLK] = { blk_calls, NULL },
	[VM_THREAD_9P] = { p9_calls, NULL },
	[VM_THREAD_9P_PRIVILEGED] = { p9_calls, NULL },
};

static struct sock_fprog progs[VM_THREAD_KINDS];
static int sizes[VM_THREAD_KINDS];
static const char *names[MAX_NR]; /* for the SIGSYS handler: filled before */

/* One allow rule; *n counts the system calls allowed, once each. */
static int allow(scmp_filter_ctx ctx, const char *name, const struct scmp_arg_cmp *cmp,
		 uint8_t *seen, int *n)
{
	int nr = seccomp_syscall_resolve_name(name);
	if (nr < 0)
		return 0; /* not on this architecture */
	int r = seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, nr, cmp ? 1 : 0, cmp);
	if (r == -EEXIST)
		r = 0; /* allowed already, without a condition */
	if (r == 0 && nr < MAX_NR && !(seen[nr / 8] & 1 << nr % 8)) {
		seen[nr / 8] |= 1 << nr % 8;
		(*n)++;
	}
	if (r < 0)
		log_error("seccomp: cannot allow %s: %s", name, strerror(-r));
	return r;
}

static int allow_calls(scmp_filter_ctx ctx, const char *const *calls, uint8_t *seen, int *n)
{
	int r = 0;
	for (; calls && *calls && r == 0; calls++)
		r = allow(ctx, *calls, NULL, seen, n);
	return r;
}

static int allow_args(scmp_filter_ctx ctx, const struct arg_rule *a, uint8_t *seen, int *n)
{
	int r = 0;
	for (; a && a->name && r == 0; a++) {
		struct scmp_arg_cmp cmp = { a->arg, SCMP_CMP_MASKED_EQ, a->mask, a->value };
		r = allow(ctx, a->name, &cmp, seen, n);
	}
	return r;
}

/* kind's rules into ctx; returns the number of calls allowed, or -1. */
static int add_rules(scmp_filter_ctx ctx, enum vm_thread kind)
{
	uint8_t seen[MAX_NR / 8] = { 0 };
	int n = 0;
	/* raise() and pthread_kill() signal threads of this process only. */
	struct scmp_arg_cmp own = { 0, SCMP_CMP_MASKED_EQ, INT_ARG, (uint64_t)getpid() };
	int r = allow_calls(ctx, base_calls, seen, &n);
	if (r == 0)
		r = allow_args(ctx, base_args, seen, &n);
	if (r == 0)
		r = allow(ctx, "tgkill", &own, seen, &n);
	if (r == 0)
		r = allow_calls(ctx, lists[kind].calls, seen, &n);
	if (r == 0)
		r = allow_args(ctx, lists[kind].args, seen, &n);
#ifdef MICROVM_SANITIZE
	if (r == 0)
		r = allow_calls(ctx, sanitizer_calls, seen, &n);
	if (r == 0)
		r = allow_args(ctx, sanitizer_args, seen, &n);
	if (r == 0 && kind == VM_THREAD_MAIN)
		r = allow_calls(ctx, leak_calls, seen, &n);
#else
	(void)sanitizer_calls, (void)sanitizer_args, (void)leak_calls;
#endif
	/* KVM_RUN comes first in the vCPU's filter: it runs at every exit. */
	if (r == 0 && kind == VM_THREAD_VCPU)
		seccomp_syscall_priority(ctx, SCMP_SYS(ioctl), 255);
	return r < 0 ? -1 : n;
}

/* libseccomp 2.5 exports only to an fd: through a memfd into memory. */
static int export_prog(scmp_filter_ctx ctx, struct sock_fprog *prog)
{
	int fd = memfd_create("microvm-seccomp", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	int r = seccomp_export_bpf(ctx, fd);
	off_t len = r == 0 ? lseek(fd, 0, SEEK_END) : -1;
	struct sock_filter *f = len > 0 ? malloc(len) : NULL;
	if (r == 0 && (!f || pread(fd, f, len, 0) != len))
		r = -EIO;
	close(fd);
	if (r < 0) {
		free(f);
		return r;
	}
	*prog = (struct sock_fprog){ .len = len / sizeof(*f), .filter = f };
	return 0;
}

static uint32_t action(enum vm_seccomp mode)
{
	return mode == VM_SECCOMP_TRAP ? SCMP_ACT_TRAP
	       : mode == VM_SECCOMP_LOG ? SCMP_ACT_LOG : SCMP_ACT_KILL_PROCESS;
}

static int build_kind(enum vm_thread kind, enum vm_seccomp mode)
{
	scmp_filter_ctx ctx = seccomp_init(action(mode));
	if (!ctx) {
		log_error("seccomp: libseccomp cannot make a filter (kernel without seccomp?)");
		return -1;
	}
	/* no_new_privs is set by vm_sandbox_enter; a foreign ABI (x32, i386)
	 * gets the same action as a forbidden call. */
	int r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
	if (r == 0)
		r = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, action(mode));
	int n = r == 0 ? add_rules(ctx, kind) : -1;
	if (n >= 0 && (r = export_prog(ctx, &progs[kind])) < 0)
		log_error("seccomp: cannot compile the %s filter: %s", sandbox_kind_name(kind),
			  strerror(-r));
	seccomp_release(ctx);
	if (n < 0 || r < 0)
		return -1;
	sizes[kind] = n;
	if (kind != VM_THREAD_9P_PRIVILEGED) /* the same list as 9p's */
		log_debug("seccomp: %s threads may make %d system calls (%u BPF instructions)",
			  sandbox_kind_name(kind), n, progs[kind].len);
	return 0;
}

/* Append s to line at *n (async-signal-safe). */
static void put(char *line, size_t size, size_t *n, const char *s)
{
	while (*s && *n < size)
		line[(*n)++] = *s++;
}

static void put_num(char *line, size_t size, size_t *n, long v)
{
	char d[24];
	int i = sizeof(d) - 1;
	d[i] = 0;
	bool neg = v < 0;
	unsigned long u = neg ? -(unsigned long)v : (unsigned long)v;
	do
		d[--i] = '0' + u % 10;
	while ((u /= 10) && i > 1);
	if (neg)
		d[--i] = '-';
	put(line, size, n, d + i);
}

/* --seccomp trap: one line naming the thread and the call, then exit 1.
 * Only write and _exit: the thread may have been anywhere. */
static void on_sigsys(int sig, siginfo_t *si, void *uc)
{
	(void)sig, (void)uc;
	char line[160];
	size_t n = 0;
	int nr = si->si_syscall;
	put(line, sizeof(line), &n, log_prog);
	put(line, sizeof(line), &n, ": seccomp: thread ");
	put(line, sizeof(line), &n, sandbox_kind_name(sandbox_self));
	put(line, sizeof(line), &n, " made forbidden syscall ");
	put(line, sizeof(line), &n, nr >= 0 && nr < MAX_NR && names[nr] ? names[nr] : "?");
	put(line, sizeof(line), &n, " (");
	put_num(line, sizeof(line) - 2, &n, nr);
	put(line, sizeof(line), &n, ")\n");
	if (write(STDERR_FILENO, line, n) < 0) {
		/* nothing else to say it with */
	}
	_exit(VM_EXIT_ERROR);
}

/* The handler may not allocate, so the names are looked up now. */
static int trap_setup(void)
{
	for (int nr = 0; nr < MAX_NR; nr++)
		names[nr] = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
	struct sigaction sa = { .sa_sigaction = on_sigsys, .sa_flags = SA_SIGINFO };
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, NULL) < 0) {
		log_error("seccomp: SIGSYS handler: %m");
		return -1;
	}
	return 0;
}

int sandbox_filters_build(enum vm_seccomp mode)
{
	/* The first thread that needs a malloc arena beyond the eighth has
	 * glibc count the CPUs in /sys/devices/system/cpu/online, an open no
	 * filter allows: set its default limit (8 per CPU) now. */
	mallopt(M_ARENA_MAX, 8 * get_nprocs());
	if (mode == VM_SECCOMP_TRAP && trap_setup() < 0)
		return -1;
	for (int k = 0; k < VM_THREAD_KINDS; k++)
		if (build_kind(k, mode) < 0)
			return -1;
	return 0;
}

int sandbox_filter_install(enum vm_thread kind)
{
	return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &progs[kind]) < 0 ? -errno : 0;
}

int sandbox_filter_size(enum vm_thread kind)
{
	return progs[kind].filter ? sizes[kind] : -1;
}
