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

#include "api.h"
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

/* "output: ..." as NixOS logs it when a command fails; its first
 * LOG_OUTPUT_MAX bytes (an output can be 1 GiB). */
#define LOG_OUTPUT_MAX (64 << 10)

static void log_output(struct ctx *x, const char *p, size_t n)
{
	if (n > LOG_OUTPUT_MAX)
		tlog(x->m->name, "output (first %d of %zu bytes): %.*s", LOG_OUTPUT_MAX, n,
		     LOG_OUTPUT_MAX, p);
	else
		tlog(x->m->name, "output: %.*s", (int)n, p ? p : "");
}

void api_log_output(struct ctx *x, const struct buf *out)
{
	log_output(x, out->p, out->len);
}

/* succeed (want_ok) or fail over every command; outputs concatenated, each
 * read straight into x->out (no second copy of a large one). */
static int run_each(struct ctx *x, bool want_ok)
{
	const struct call *c = x->c;
	x->out.len = 0;
	buf_adds(&x->out, "");
	int r = 0;
	for (size_t k = 0; k < call_nstrs(c) && r == 0; k++) {
		const char *cmd = call_strs(c, k);
		struct nest n;
		int st;
		size_t from = x->out.len;
		nest_begin(&n, x->m->name, "must %s: %s", want_ok ? "succeed" : "fail", cmd);
		r = bd_execute(x, cmd, call_int(c, 1), true, true, &st, &x->out);
		if (r == 0 && want_ok && st != 0) {
			log_output(x, x->out.p + from, x->out.len - from);
			r = ctx_fail(x, "command `%s` failed (exit code %d)", cmd, st);
		} else if (r == 0 && !want_ok && st == 0) {
			r = ctx_fail(x, "command `%s` unexpectedly succeeded", cmd);
		}
		nest_end(&n);
	}
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
