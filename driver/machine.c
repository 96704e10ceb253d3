/* machine.c - a node's life cycle (start, shutdown, crash, reboot, ...) and
 * its serial console (wait_for_console_text, get_console_log,
 * send_console). microvm exits with 0 on poweroff and 2 on reboot; a
 * reboot is carried out by starting microvm again (pump.c). */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <errno.h>
#include <fcntl.h>
#include <pcre2.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "driver.h"

int machine_start(struct ctx *x, struct machine *m, bool allow_reboot)
{
	if (m->booted)
		return 0;
	tlog(m->name, "starting vm");
	m->allow_reboot = allow_reboot;
	struct ctx y = { .d = x->d, .m = m };
	if (machine_spawn(&y, m) < 0) {
		ctx_fail(x, "cannot start %s: %s", m->name, y.err);
		ctx_reset(&y);
		return -1;
	}
	tlog(m->name, "%s running (pid %d)", m->d->vmm, (int)m->pid);
	return 0;
}

int m_start(struct ctx *x)
{
	return machine_start(x, x->m, call_bool(x->c, 0));
}

int machine_wait_for_shutdown(struct ctx *x, struct machine *m)
{
	if (!m->booted)
		return 0;
	struct nest n;
	nest_begin(&n, m->name, "waiting for the VM to power off");
	int r = drv_pump(x->d, m, -1, 0, -1);
	nest_end(&n);
	return r == IO_EXITED ? 0 : pump_fail(x, r, "waiting for the VM to power off");
}

int m_wait_for_shutdown(struct ctx *x)
{
	return machine_wait_for_shutdown(x, x->m);
}

int m_shutdown(struct ctx *x)
{
	static const char cmd[] = "poweroff\n";
	struct machine *m = x->m;
	if (!m->booted)
		return 0;
	/* The shell must be up to hear "poweroff"; NixOS writes it blindly. */
	if (bd_connect(x) < 0 || bd_send(x, cmd, sizeof(cmd) - 1) < 0)
		return -1;
	return machine_wait_for_shutdown(x, m);
}

int m_crash(struct ctx *x)
{
	struct machine *m = x->m;
	if (!m->booted)
		return 0;
	tlog(m->name, "forced crash");
	kill(-m->pid, SIGKILL); /* a power failure: no chance to clean up */
	return machine_wait_for_shutdown(x, m);
}

/* reboot: NixOS presses Ctrl+Alt+Del and returns at once; microvm has no
 * keyboard, so the backdoor shell is told `reboot`. Only a node started
 * with allow_reboot comes back (the pump starts microvm again when it exits
 * 2); any other is shut down then, and the next command starts it, as after
 * shutdown(). */
int m_reboot(struct ctx *x)
{
	static const char cmd[] = "reboot\n";
	struct machine *m = x->m;
	if (bd_connect(x) < 0)
		return -1;
	m->reboot_pending = true;
	if (bd_send(x, cmd, sizeof(cmd) - 1) < 0)
		return -1;
	m->connected = false;
	return 0;
}

/* Before connecting after reboot(): wait until the old microvm is gone, so
 * the shell reached is the new boot's, not the dying one's. */
int machine_settle_reboot(struct ctx *x, struct machine *m)
{
	while (m->reboot_pending && m->pid > 0) {
		int r = drv_pump(x->d, NULL, -1, 0, now() + 0.02);
		if (r != IO_TIMEOUT)
			return pump_fail(x, r, "waiting for the guest to reboot");
	}
	return 0;
}

int m_is_up(struct ctx *x)
{
	buf_adds(&x->out, x->m->booted && x->m->connected ? "true" : "false");
	return 0;
}

int m_get_console_log(struct ctx *x)
{
	const struct buf *c = &x->m->console;
	/* Lines joined by newlines, as NixOS returns them. */
	buf_add(&x->out, c->p ? c->p : "", c->len ? c->len - 1 : 0);
	return 0;
}

int m_send_console(struct ctx *x)
{
	struct machine *m = x->m;
	const char *s = call_str(x->c, 0);
	size_t n = strlen(s);
	if (m->stdin_fd < 0)
		return ctx_fail(x, "send_console: %s is not running", m->name);
	fcntl(m->stdin_fd, F_SETFL, O_NONBLOCK);
	while (n) {
		ssize_t w = write(m->stdin_fd, s, n);
		if (w > 0) {
			s += w;
			n -= (size_t)w;
			continue;
		}
		if (w < 0 && errno != EAGAIN && errno != EINTR)
			return ctx_fail(x, "send_console: %s", strerror(errno));
		int r = drv_pump(x->d, m, m->stdin_fd, POLLOUT, -1);
		if (r != IO_READY)
			return pump_fail(x, r, "writing to the serial console");
	}
	return 0;
}

/* Search the console from the mark; on a match, move the mark past the
 * matching line (the lines a NixOS wait consumes from its queue). Returns 1
 * on a match, 0 on none, or PCRE2's negative error code. */
static int console_match(struct machine *m, pcre2_code *re, pcre2_match_data *md)
{
	const struct buf *c = &m->console;
	if (m->console_mark > c->len)
		m->console_mark = c->len;
	int rc = pcre2_match(re, (PCRE2_SPTR)(c->p ? c->p : ""), c->len, m->console_mark, 0, md,
			     NULL);
	if (rc < 0)
		return rc == PCRE2_ERROR_NOMATCH ? 0 : rc;
	size_t end = pcre2_get_ovector_pointer(md)[1];
	const char *nl = end < c->len ? memchr(c->p + end, '\n', c->len - end) : NULL;
	m->console_mark = nl ? (size_t)(nl - c->p) + 1 : c->len;
	return 1;
}

/* Match, then wait for more serial output, until a match, an error, the
 * timeout or the machine's end. */
static int console_wait(struct ctx *x, pcre2_code *re, pcre2_match_data *md, const char *regex,
			long timeout)
{
	struct machine *m = x->m;
	double until = timeout < 0 ? -1 : now() + (double)timeout;
	int p = IO_READY;
	for (;;) {
		int found = console_match(m, re, md);
		if (found < 0)
			return regex_fail(x, found, regex);
		if (found)
			return 0;
		if (p == IO_TIMEOUT)
			return ctx_fail(x, "action timed out after %ld seconds", timeout);
		if (p != IO_READY)
			return pump_fail(x, p, "waiting for console text");
		if (m->serial_fd < 0 && until < 0)
			return ctx_fail(x, "%s stopped before %s appeared on its console", m->name,
					regex);
		/* Woken by new serial output, not by polling. */
		p = drv_pump(x->d, NULL, m->serial_fd, POLLIN, until);
	}
}

int m_wait_for_console_text(struct ctx *x)
{
	const char *regex = call_str(x->c, 0);
	int ec;
	PCRE2_SIZE off;
	/* Python's re for str patterns (Unicode \w, \d, \s), but ^ and $ at
	 * each line: NixOS glues its lines without a separator. */
	pcre2_code *re = pcre2_compile((PCRE2_SPTR)regex, PCRE2_ZERO_TERMINATED,
				       PCRE2_MULTILINE | PCRE2_UTF | PCRE2_UCP |
				       PCRE2_MATCH_INVALID_UTF, &ec, &off, NULL);
	if (!re)
		return ctx_fail(x, "bad regular expression: %s", regex);
	pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
	struct nest n;
	nest_begin(&n, x->m->name, "waiting for %s to appear on console", regex);
	int r = console_wait(x, re, md, regex, call_int(x->c, 1));
	nest_end(&n);
	pcre2_match_data_free(md);
	pcre2_code_free(re);
	return r;
}

int api_wait_for_unit_name(struct ctx *x, const char *unit, const char *user, long timeout);

/* switch_root: stage 1 to stage 2 with an initrd backdoor (NixOS's
 * testing.initrdBackdoor); the shell changes, so connect again. */
int m_switch_root(struct ctx *x)
{
	if (api_wait_for_unit_name(x, "initrd.target", NULL, 900) < 0)
		return -1;
	int st;
	struct buf out = { 0 };
	int r = bd_execute(x, "systemctl isolate --no-block initrd-switch-root.target "
			   "2>/dev/null >/dev/null", 900, false, false, &st, &out);
	buf_free(&out);
	x->m->connected = false;
	return r < 0 ? -1 : bd_connect(x);
}

int m_shell_interact(struct ctx *x)
{
	return shell_interact(x);
}
