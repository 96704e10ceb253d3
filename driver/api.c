/* api.c - machine methods that run shell commands through the backdoor:
 * execute, succeed, fail, the wait_until_* and wait_for_* family, sleep,
 * systemctl and copying files. Names, defaults and log lines follow the
 * NixOS driver so a NixOS test reads the same here. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "driver.h"

/* execute() on x->m; output replaces x->out. */
int api_exec(struct ctx *x, const char *cmd, long timeout, int *status)
{
	x->out.len = 0;
	buf_adds(&x->out, "");
	return bd_execute(x, cmd, timeout, true, true, status, &x->out);
}

int m_execute(struct ctx *x)
{
	const struct call *c = x->c;
	x->out.len = 0;
	buf_adds(&x->out, "");
	return bd_execute(x, call_str(c, 0), call_int(c, 3), call_bool(c, 1), call_bool(c, 2),
			  &x->status, &x->out);
}

/* "output: ..." as NixOS logs it when a command fails. */
static void log_output(struct ctx *x, const struct buf *out)
{
	tlog(x->m->name, "output: %s", out->p ? out->p : "");
}

/* succeed (want_ok) or fail over every command; outputs concatenated. */
static int run_each(struct ctx *x, bool want_ok)
{
	const struct call *c = x->c;
	struct buf all = { 0 }, one = { 0 };
	buf_adds(&all, "");
	int r = 0;
	for (size_t k = 0; k < call_nstrs(c) && r == 0; k++) {
		const char *cmd = call_strs(c, k);
		struct nest n;
		int st;
		nest_begin(&n, x->m->name, "must %s: %s", want_ok ? "succeed" : "fail", cmd);
		one.len = 0;
		r = bd_execute(x, cmd, call_int(c, 1), true, true, &st, &one);
		if (r == 0 && want_ok && st != 0) {
			log_output(x, &one);
			r = ctx_fail(x, "command `%s` failed (exit code %d)", cmd, st);
		} else if (r == 0 && !want_ok && st == 0) {
			r = ctx_fail(x, "command `%s` unexpectedly succeeded", cmd);
		}
		buf_add(&all, one.p, one.len);
		nest_end(&n);
	}
	buf_free(&x->out);
	x->out = all;
	buf_free(&one);
	return r;
}

int m_succeed(struct ctx *x)
{
	return run_each(x, true);
}

int m_fail(struct ctx *x)
{
	return run_each(x, false);
}

struct until {
	const char *cmd;
	long timeout;
	bool want_ok;
};

static int check_until(struct ctx *x, void *arg, bool last)
{
	struct until *u = arg;
	int st;
	(void)last;
	if (api_exec(x, u->cmd, u->timeout, &st) < 0)
		return -1;
	return (st == 0) == u->want_ok;
}

static int wait_until(struct ctx *x, bool want_ok)
{
	struct until u = { call_str(x->c, 0), call_int(x->c, 1), want_ok };
	struct nest n;
	nest_begin(&n, x->m->name, "waiting for %s: %s", want_ok ? "success" : "failure", u.cmd);
	int r = retry(x, u.timeout, check_until, &u);
	nest_end(&n);
	return r;
}

int m_wait_until_succeeds(struct ctx *x)
{
	return wait_until(x, true);
}

int m_wait_until_fails(struct ctx *x)
{
	return wait_until(x, false);
}

/* A retried command with a fixed log line; ok when its status is 0 (or
 * not 0, for want_ok false). */
static int wait_cmd(struct ctx *x, const char *cmd, bool want_ok, long timeout, const char *what)
{
	struct until u = { cmd, 900, want_ok };
	struct nest n;
	nest_begin(&n, x->m->name, "%s", what);
	int r = retry(x, timeout, check_until, &u);
	nest_end(&n);
	return r;
}

int m_wait_for_file(struct ctx *x)
{
	char *cmd, *what;
	const char *f = call_str(x->c, 0);
	if (asprintf(&cmd, "test -e %s", f) < 0 || asprintf(&what, "waiting for file '%s'", f) < 0)
		abort();
	int r = wait_cmd(x, cmd, true, call_int(x->c, 1), what);
	free(cmd);
	free(what);
	return r;
}

static int port_wait(struct ctx *x, bool open)
{
	long port = call_int(x->c, 0);
	const char *addr = call_str(x->c, 1);
	char *cmd, *what;
	if (asprintf(&cmd, "nc -z %s %ld", addr, port) < 0 ||
	    asprintf(&what, "waiting for TCP port %ld on %s%s", port, addr,
		     open ? "" : " to be closed") < 0)
		abort();
	int r = wait_cmd(x, cmd, open, call_int(x->c, 2), what);
	free(cmd);
	free(what);
	return r;
}

int m_wait_for_open_port(struct ctx *x)
{
	return port_wait(x, true);
}

int m_wait_for_closed_port(struct ctx *x)
{
	return port_wait(x, false);
}

int m_wait_for_open_unix_socket(struct ctx *x)
{
	const char *addr = call_str(x->c, 0);
	bool dgram = call_bool(x->c, 1);
	char *cmd, *what;
	if (asprintf(&cmd, "nc -z %s %s", dgram ? "-uU" : "-U", addr) < 0 ||
	    asprintf(&what, "waiting for UNIX-domain %s on '%s'", dgram ? "datagram" : "stream",
		     addr) < 0)
		abort();
	int r = wait_cmd(x, cmd, true, call_int(x->c, 2), what);
	free(cmd);
	free(what);
	return r;
}

int m_sleep(struct ctx *x)
{
	/* In guest time, as NixOS does: the guest runs `sleep`. */
	char cmd[64];
	snprintf(cmd, sizeof(cmd), "sleep %g", call_num(x->c, 0));
	struct nest n;
	nest_begin(&n, x->m->name, "must succeed: %s", cmd);
	int st, r = api_exec(x, cmd, -1, &st);
	if (r == 0 && st != 0)
		r = ctx_fail(x, "command `%s` failed (exit code %d)", cmd, st);
	nest_end(&n);
	return r;
}

/* systemctl Q, or as USER through su (NixOS's systemctl(q, user)). */
int api_systemctl(struct ctx *x, const char *q, const char *user, int *status)
{
	struct buf cmd = { 0 };
	if (user) {
		buf_printf(&cmd, "su -l %s --shell /bin/sh -c $'XDG_RUNTIME_DIR=/run/user/`id -u` "
			   "systemctl --user ", user);
		for (const char *p = q; *p; p++)
			buf_adds(&cmd, *p == '\'' ? "\\'" : (char[]){ *p, 0 });
		buf_adds(&cmd, "'");
	} else {
		buf_printf(&cmd, "systemctl %s", q);
	}
	int r = api_exec(x, cmd.p, 900, status);
	buf_free(&cmd);
	return r;
}

int m_systemctl(struct ctx *x)
{
	return api_systemctl(x, call_str(x->c, 0), call_str(x->c, 1), &x->status);
}

/* Paths on the host resolve against the test.json's directory. */
static char *host_path(struct ctx *x, const char *p)
{
	char *r;
	if (p[0] == '/' || !x->d->t->dir)
		return strdup(p);
	if (asprintf(&r, "%s/%s", x->d->t->dir, p) < 0)
		abort();
	return r;
}

static int guest_cmd(struct ctx *x, const struct buf *cmd, const char *what)
{
	int st;
	struct buf out = { 0 };
	int r = bd_execute(x, cmd->p, -1, true, true, &st, &out);
	if (r == 0 && st != 0) {
		log_output(x, &out);
		r = ctx_fail(x, "%s failed in the guest (exit code %d)", what, st);
	}
	buf_free(&out);
	return r;
}

/* The file goes as base64 right after the command line, read by `head -c`
 * (which never reads past its count): one round trip, and no argument
 * limit (MAX_ARG_STRLEN would cap a file inside the command at ~96 KiB). */
static int send_file(struct ctx *x, const char *data, size_t n, const char *target)
{
	struct buf cmd = { 0 }, b64 = { 0 }, out = { 0 };
	b64_encode(&b64, data, n);
	buf_printf(&cmd, "head -c %zu | base64 -d > ", b64.len);
	shquote(&cmd, target);
	int st, r = bd_execute_in(x, cmd.p, -1, true, true, &st, &out, b64.p, b64.len);
	if (r == 0 && st != 0) {
		log_output(x, &out);
		r = ctx_fail(x, "writing %s failed in the guest (exit code %d)", target, st);
	}
	buf_free(&cmd);
	buf_free(&b64);
	buf_free(&out);
	return r;
}

static int read_host(struct ctx *x, const char *path, struct buf *b, mode_t *mode)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		if (fd >= 0)
			close(fd);
		return ctx_fail(x, "copy_from_host: %s: %s", path, strerror(errno));
	}
	*mode = st.st_mode & 07777;
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return ctx_fail(x, "copy_from_host: %s: only regular files can be copied "
				"(directories need the 9p share, not in microvm yet)", path);
	}
	char tmp[65536];
	ssize_t k;
	while ((k = read(fd, tmp, sizeof(tmp))) > 0)
		buf_add(b, tmp, (size_t)k);
	close(fd);
	return k < 0 ? ctx_fail(x, "copy_from_host: %s: %s", path, strerror(errno)) : 0;
}

/* copy_from_host through the backdoor; the 9p path comes with shares. */
int m_copy_from_host(struct ctx *x)
{
	char *src = host_path(x, call_str(x->c, 0));
	const char *target = call_str(x->c, 1);
	struct buf data = { 0 }, cmd = { 0 };
	mode_t mode = 0;
	struct nest n;
	nest_begin(&n, x->m->name, "copying %s to %s", src, target);
	int r = read_host(x, src, &data, &mode);
	if (r == 0) {
		char *dir = strdup(target), *slash = strrchr(dir, '/');
		buf_adds(&cmd, "mkdir -p ");
		shquote(&cmd, slash && slash != dir ? (*slash = 0, dir) : slash ? "/" : ".");
		free(dir);
		r = guest_cmd(x, &cmd, "mkdir");
	}
	if (r == 0)
		r = send_file(x, data.p ? data.p : "", data.len, target);
	if (r == 0) {
		cmd.len = 0;
		buf_printf(&cmd, "chmod %o ", (unsigned)mode);
		shquote(&cmd, target);
		r = guest_cmd(x, &cmd, "chmod");
	}
	nest_end(&n);
	buf_free(&data);
	buf_free(&cmd);
	free(src);
	return r;
}

static int write_host(struct ctx *x, const char *path, const struct buf *b)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return ctx_fail(x, "copy_from_machine: %s: %s", path, strerror(errno));
	size_t off = 0;
	while (off < b->len) {
		ssize_t w = write(fd, b->p + off, b->len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			close(fd);
			return ctx_fail(x, "copy_from_machine: %s: %s", path, strerror(errno));
		}
		off += (size_t)w;
	}
	return close(fd) < 0 ? ctx_fail(x, "copy_from_machine: %s: %s", path, strerror(errno))
			     : 0;
}

static int mkdirs(char *path)
{
	for (char *p = path + 1; *p; p++)
		if (*p == '/') {
			*p = 0;
			int r = mkdir(path, 0755);
			*p = '/';
			if (r < 0 && errno != EEXIST)
				return -1;
		}
	return mkdir(path, 0755) < 0 && errno != EEXIST ? -1 : 0;
}

/* copy_from_machine(source, target_dir): into OUT_DIR/target_dir/. The
 * backdoor already returns output byte for byte, so `cat` is the copy. */
int m_copy_from_machine(struct ctx *x)
{
	const char *src = call_str(x->c, 0), *tdir = call_str(x->c, 1);
	const char *base = strrchr(src, '/') ? strrchr(src, '/') + 1 : src;
	struct buf cmd = { 0 }, data = { 0 };
	char *dir, *dst;
	if (asprintf(&dir, "%s%s%s", x->d->out_dir, *tdir ? "/" : "", tdir) < 0 ||
	    asprintf(&dst, "%s/%s", dir, base) < 0)
		abort();
	struct nest n;
	nest_begin(&n, x->m->name, "copying %s from the machine to %s", src, dst);
	buf_adds(&cmd, "cat ");
	shquote(&cmd, src);
	int st, r = bd_execute(x, cmd.p, -1, true, true, &st, &data);
	if (r == 0 && st != 0)
		r = ctx_fail(x, "copy_from_machine: cannot read %s in the guest (exit code %d%s)",
			     src, st, st == 1 ? "; directories are not supported yet" : "");
	if (r == 0 && !*base)
		r = ctx_fail(x, "copy_from_machine: %s: expected a file name", src);
	if (r == 0 && mkdirs(dir) < 0)
		r = ctx_fail(x, "copy_from_machine: %s: %s", dir, strerror(errno));
	if (r == 0)
		r = write_host(x, dst, &data);
	nest_end(&n);
	buf_free(&cmd);
	buf_free(&data);
	free(dir);
	free(dst);
	return r;
}
