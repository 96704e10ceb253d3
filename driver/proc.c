/* proc.c - microvm processes: finding the binary, the per-run state
 * directory, private disk copies, spawning one microvm per node with its
 * console on a socketpair and its serial port on pipes, and stopping it.
 *
 * Each microvm leads its own process group and dies with the driver
 * (PR_SET_PDEATHSIG); stopping a node kills the whole group, so nothing a
 * node started outlives it. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "driver.h"

/* The console fd number microvm gets. */
#define CONSOLE_FD 3

#if defined(__x86_64__)
#define QEMU_ARCH "x86_64"
#elif defined(__aarch64__)
#define QEMU_ARCH "aarch64"
#else
#define QEMU_ARCH "unknown"
#endif

void pump_register(pid_t pid);   /* pump.c: for the second-signal kill */
void pump_unregister(pid_t pid);
char **qemu_argv(struct machine *m, int console_fd); /* qemu.c */

static bool executable(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 && S_ISREG(st.st_mode) && access(p, X_OK) == 0;
}

/* The given path, else NAME next to this binary, else on PATH. */
static char *find_vmm(const char *given, const char *name)
{
	if (given)
		return executable(given) ? realpath(given, NULL) : NULL;
	char self[PATH_MAX], *p;
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = 0;
		char *slash = strrchr(self, '/');
		if (slash && asprintf(&p, "%.*s/%s", (int)(slash - self), self, name) > 0) {
			if (executable(p))
				return p;
			free(p);
		}
	}
	const char *path = getenv("PATH");
	char *copy = strdup(path ? path : "/usr/local/bin:/usr/bin:/bin"), *save = NULL;
	for (char *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
		if (asprintf(&p, "%s/%s", *dir ? dir : ".", name) < 0)
			abort();
		if (executable(p)) {
			free(copy);
			return p;
		}
		free(p);
	}
	free(copy);
	return NULL;
}

/* The node with a start_script, or NULL; with every: whether all have one. */
static const struct node_conf *start_script_node(const struct test *t, bool every)
{
	for (size_t i = 0; i < t->nnodes; i++)
		if (!t->nodes[i].start_script == every)
			return every ? NULL : &t->nodes[i];
	return every ? t->nodes : NULL;
}

int drv_init(struct driver *d, struct test *t, const char *microvm)
{
	char qemu[64];
	snprintf(qemu, sizeof(qemu), "qemu-system-%s", QEMU_ARCH);
	const char *name = d->qemu ? qemu : "microvm";
	const char *opt = d->qemu ? "--qemu" : "--microvm";
	const struct node_conf *ss = start_script_node(t, false);
	if (d->qemu && ss) {
		fprintf(stderr, "microvmtest: --vmm qemu: node \"%s\" has a start_script, which "
			"starts microvm itself\n", ss->name);
		return -1;
	}
	/* Only nodes without a start_script need the binary. */
	char *bin = find_vmm(microvm, name);
	if (!bin && (microvm || !start_script_node(t, true))) {
		fprintf(stderr, "microvmtest: %s%s%s: %s%s%s\n", microvm ? opt : "", microvm ? " " : "",
			microvm ? microvm : name,
			microvm ? "not an executable file"
				: "not found next to microvmtest or on PATH (give ",
			microvm ? "" : opt, microvm ? "" : " PATH)");
		return -1;
	}
	d->vmm = d->qemu ? "qemu" : "microvm";
	d->microvm = bin;
	d->t = t;
	d->nm = t->nnodes;
	d->m = calloc(d->nm, sizeof(*d->m));
	for (size_t i = 0; i < d->nm; i++) {
		struct machine *m = &d->m[i];
		m->d = d;
		m->conf = &t->nodes[i];
		m->name = t->nodes[i].name;
		m->pidfd = m->shell_fd = m->serial_fd = m->stdin_fd = -1;
		m->last_status = -1;
	}
	const char *tmp = d->tmp_base ? d->tmp_base : getenv("TMPDIR");
	if (asprintf(&d->run_dir, "%s/microvmtest.XXXXXX", tmp && *tmp ? tmp : "/tmp") < 0)
		abort();
	if (!mkdtemp(d->run_dir)) {
		fprintf(stderr, "microvmtest: cannot create %s: %s\n", d->run_dir, strerror(errno));
		free(d->run_dir);
		d->run_dir = NULL; /* nothing to remove */
		return -1;
	}
	return 0;
}

static void machine_free(struct machine *m)
{
	for (size_t i = 0; m->disk_paths && i < m->conf->ndisks; i++)
		free(m->disk_paths[i]);
	free(m->disk_paths);
	free(m->state_dir);
	buf_free(&m->shell_in);
	buf_free(&m->serial_part);
	buf_free(&m->console);
	snap_free(m);
}

void drv_cleanup(struct driver *d)
{
	for (size_t i = 0; i < d->nm; i++)
		if (d->m[i].pid > 0)
			machine_kill(&d->m[i]);
	if (d->run_dir) {
		if (d->keep_state)
			tlog(NULL, "keeping the VM state in %s", d->run_dir);
		else if (rm_tree(d->run_dir) < 0)
			tlog(NULL, "cannot remove %s: %s", d->run_dir, strerror(errno));
	}
	net_free(d);
	for (size_t i = 0; i < d->nm; i++)
		machine_free(&d->m[i]);
	free(d->m);
	free(d->run_dir);
	free(d->microvm_help);
	free(d->snap_dir);
	free((char *)d->microvm);
	memset(d, 0, sizeof(*d));
}

/* Copy [off, end) of in to the same offsets of out: copy_file_range, else
 * (across file systems it says EXDEV, e.g. 9p to tmpfs) read and write. */
static int copy_range(int in, int out, off_t off, off_t end)
{
	static char tmp[1 << 16];
	bool plain = false;
	while (off < end) {
		size_t want = (size_t)(end - off);
		ssize_t n;
		if (!plain) {
			loff_t a = off, b = off;
			n = copy_file_range(in, &a, out, &b, want, 0);
			if (n < 0 && (errno == EXDEV || errno == EINVAL || errno == ENOSYS ||
				      errno == EOPNOTSUPP)) {
				plain = true;
				continue;
			}
		} else {
			n = pread(in, tmp, want < sizeof(tmp) ? want : sizeof(tmp), off);
			if (n > 0 && pwrite(out, tmp, (size_t)n, off) != n)
				return -1;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n == 0 ? (errno = EIO, -1) : -1;
		off += n;
	}
	return 0;
}

/* Copy src to dst keeping holes; the kernel may share extents (reflink). */
static int copy_file(const char *src, const char *dst)
{
	int in = open(src, O_RDONLY | O_CLOEXEC), out = -1, r = -1;
	struct stat st;
	if (in < 0 || fstat(in, &st) < 0)
		goto done;
	out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (out < 0)
		goto done;
	if (ioctl(out, FICLONE, in) == 0) {
		r = 0;
		goto done;
	}
	if (ftruncate(out, st.st_size) < 0)
		goto done;
	off_t off = 0;
	while (off < st.st_size) {
		off_t data = lseek(in, off, SEEK_DATA);
		if (data < 0) {
			if (errno == ENXIO)
				break; /* only a hole is left */
			goto done;
		}
		off_t hole = lseek(in, data, SEEK_HOLE);
		if (hole < 0)
			goto done;
		if (copy_range(in, out, data, hole) < 0)
			goto done;
		off = hole;
	}
	r = 0;
done:
	if (r < 0)
		r = -errno;
	if (in >= 0)
		close(in);
	if (out >= 0 && close(out) < 0 && r == 0)
		r = -errno;
	return r;
}


/* QEMU's overlay: a qcow2 file over the raw image, as NixOS's qemu-vm
 * keeps a VM's writes in a qcow2 file. */
static int qcow2_overlay(const char *base, const char *path)
{
	pid_t pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		dup2(null, 1);
		execlp("qemu-img", "qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b",
		       base, path, (char *)NULL);
		_exit(127);
	}
	int st = 0;
	while (pid > 0 && waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return pid > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

/* One writable disk's private state: a copy-on-write file (microvm's
 * cow=, which microvm creates, or a qcow2 overlay for QEMU) so that no
 * image is copied, else a copy of the image. */
static int prepare_disk(struct ctx *x, struct machine *m, size_t i)
{
	const struct disk_conf *dc = &m->conf->disks[i];
	const char *base = strrchr(dc->path, '/');
	const char *ext = !m->disk_cow ? "" : m->d->qemu ? ".qcow2" : ".cow";
	if (asprintf(&m->disk_paths[i], "%s/disk%zu-%s%s", m->state_dir, i,
		     base ? base + 1 : dc->path, ext) < 0)
		abort();
	if (m->disk_cow && !m->d->qemu)
		return 0;
	if (m->disk_cow) {
		if (qcow2_overlay(dc->path, m->disk_paths[i]) < 0)
			return ctx_fail(x, "disk %s: qemu-img create -f qcow2 -b ... %s failed "
					"(is qemu-utils installed?)", dc->path, m->disk_paths[i]);
		return 0;
	}
	int r = copy_file(dc->path, m->disk_paths[i]);
	if (r < 0)
		return ctx_fail(x, "disk %s: cannot copy it to %s: %s", dc->path,
				m->disk_paths[i], strerror(-r));
	return 0;
}

/* The state directory and private disk state, once per run: a restarted
 * node keeps its disks, as a NixOS VM keeps its state across reboots. */
static int prepare_state(struct ctx *x, struct machine *m)
{
	if (m->state_dir)
		return 0;
	if (asprintf(&m->state_dir, "%s/vm-state-%s", m->d->run_dir, m->name) < 0)
		abort();
	if (mkdir(m->state_dir, 0700) < 0 && errno != EEXIST)
		return ctx_fail(x, "cannot create %s: %s", m->state_dir, strerror(errno));
	/* NixOS's xchg (per node) and shared (per test) directories. */
	char *xchg, *shared;
	if (asprintf(&xchg, "%s/xchg", m->state_dir) < 0 ||
	    asprintf(&shared, "%s/shared", m->d->run_dir) < 0)
		abort();
	int e = (mkdir(xchg, 0755) < 0 && errno != EEXIST) ||
		(mkdir(shared, 0755) < 0 && errno != EEXIST) ? errno : 0;
	free(xchg);
	free(shared);
	if (e)
		return ctx_fail(x, "cannot create %s's xchg or shared directory: %s", m->name,
				strerror(e));
	m->disk_paths = calloc(m->conf->ndisks + 1, sizeof(char *));
	/* a start_script's microvm is this one, which has cow= */
	m->disk_cow = m->d->qemu || m->conf->start_script || strstr(microvm_help(m->d), ",cow=");
	for (size_t i = 0; i < m->conf->ndisks; i++) {
		if (m->conf->disks[i].readonly)
			m->disk_paths[i] = strdup(m->conf->disks[i].path);
		else if (prepare_disk(x, m, i) < 0)
			return -1;
	}
	return 0;
}

static void free_argv(char **a)
{
	for (size_t i = 0; a && a[i]; i++)
		free(a[i]);
	free(a);
}

/* In the child: become a process group that dies with the driver, put the
 * console on CONSOLE_FD and the serial port on stdio, then exec microvm. */
static void child(struct machine *m, char **argv, int console, int in, int out, pid_t parent)
{
	setpgid(0, 0);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(127);
	signal(SIGPIPE, SIG_DFL);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0 ||
	    dup2(console, CONSOLE_FD) < 0 || chdir(m->state_dir) < 0)
		_exit(127);
	net_child(m);
	setenv("TMPDIR", m->state_dir, 1);
	execv(argv[0], argv);
	fprintf(stderr, "microvmtest: cannot run %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void close_pair(int fd[2])
{
	close_fd(&fd[0]);
	close_fd(&fd[1]);
}

/* The console socketpair and the serial pipes; none of them is left open
 * when one fails (EMFILE), or every failed start would leak fds. */
static int channels(struct ctx *x, int sv[2], int in[2], int out[2])
{
	sv[0] = sv[1] = in[0] = in[1] = out[0] = out[1] = -1;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return ctx_fail(x, "socketpair: %s", strerror(errno));
	if (pipe2(in, O_CLOEXEC) == 0 && pipe2(out, O_CLOEXEC) == 0)
		return 0;
	int e = errno;
	close_pair(sv);
	close_pair(in);
	return ctx_fail(x, "pipe: %s", strerror(e));
}

int machine_spawn(struct ctx *x, struct machine *m)
{
	if (vm_check_options(x, m) || prepare_state(x, m))
		return -1;
	snap_plan(m);
	if (net_prepare(x, m) < 0) {
		net_closed(m);
		return -1;
	}
	int sv[2], in[2], out[2];
	if (channels(x, sv, in, out) < 0) {
		net_closed(m);
		return -1;
	}
	char **argv = m->d->qemu ? qemu_argv(m, CONSOLE_FD) : vm_argv(m, CONSOLE_FD);
	snap_argv(m, &argv);
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid == 0)
		child(m, argv, sv[1], in[0], out[1], parent);
	free_argv(argv);
	net_spawned(m);
	close(sv[1]);
	close(in[0]);
	close(out[1]);
	if (pid < 0) {
		close(sv[0]);
		close(in[1]);
		close(out[0]);
		return ctx_fail(x, "fork: %s", strerror(errno));
	}
	setpgid(pid, pid); /* also here, so a kill right away finds the group */
	pump_register(pid);
	m->pid = pid;
	m->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	m->shell_fd = sv[0];
	m->stdin_fd = in[1];
	m->serial_fd = out[0];
	fcntl(m->shell_fd, F_SETFL, O_NONBLOCK);
	fcntl(m->serial_fd, F_SETFL, O_NONBLOCK);
	m->booted = true;
	m->connected = false;
	m->gen++;
	m->skip_lines = 0;
	m->shell_in.len = 0;
	m->console.len = 0;
	m->console_mark = 0;
	snap_spawned(m);
	return 0;
}

/* Called by the pump once m's microvm has exited and been reaped. */
void machine_closed(struct machine *m)
{
	pump_unregister(m->pid);
	m->pid = 0;
	close_fd(&m->pidfd);
	close_fd(&m->shell_fd);
	close_fd(&m->stdin_fd);
	close_fd(&m->serial_fd);
	net_closed(m);
	snap_closed(m);
	m->booted = m->connected = false;
}

void machine_kill(struct machine *m)
{
	if (m->pid <= 0)
		return;
	kill(m->pid, SIGTERM);
	double until = now() + 1.0;
	siginfo_t si;
	/* WNOWAIT: the leader stays a zombie, so its group id cannot be reused
	 * before the group is killed below. */
	for (;;) {
		si.si_pid = 0;
		if (waitid(P_PID, (id_t)m->pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0 &&
		    errno != EINTR)
			break;
		if (si.si_pid || now() >= until)
			break;
		struct pollfd p = { m->pidfd, POLLIN, 0 };
		poll(&p, m->pidfd >= 0, 20);
	}
	kill(-m->pid, SIGKILL); /* the whole group, stragglers included */
	int st = 0;
	while (waitpid(m->pid, &st, 0) < 0 && errno == EINTR)
		;
	m->last_status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	machine_closed(m);
}
