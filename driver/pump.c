/* pump.c - the driver's one wait: poll the fd a caller waits for together
 * with every node's serial output and exit notification; signals and the
 * global deadline end any wait. Also retry() and sleeping, built on it. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "driver.h"

void machine_closed(struct machine *m); /* proc.c */

volatile sig_atomic_t drv_signal;

/* Live microvm pids, for the handler's last resort on a second signal. */
#define MAX_LIVE 256
static volatile pid_t live[MAX_LIVE];

void pump_register(pid_t pid)
{
	for (int i = 0; i < MAX_LIVE; i++)
		if (!live[i]) {
			live[i] = pid;
			return;
		}
}

void pump_unregister(pid_t pid)
{
	for (int i = 0; i < MAX_LIVE; i++)
		if (live[i] == pid)
			live[i] = 0;
}

static void on_signal(int sig)
{
	if (drv_signal) {
		/* A second Ctrl-C: the orderly cleanup is stuck; kill and go. */
		for (int i = 0; i < MAX_LIVE; i++)
			if (live[i])
				kill(-live[i], SIGKILL);
		_exit(128 + sig);
	}
	drv_signal = sig;
}

void drv_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal; /* no SA_RESTART: poll returns EINTR */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/* What a guest's serial output can make the driver hold: a line longer
 * than SERIAL_LINE_MAX is logged in pieces, and the console history
 * (wait_for_console_text, get_console_log) keeps the newest CONSOLE_MAX
 * bytes at most, so a guest printing without newlines, or forever, cannot
 * take the host's memory. */
#define SERIAL_LINE_MAX (64 << 10)
#define CONSOLE_MAX (16 << 20)

/* One serial line (or piece of one): strip \r and trailing blanks, keep,
 * log. line[n] is restored: a piece is followed by the rest of its line. */
static void serial_line(struct machine *m, char *line, size_t n)
{
	char next = line[n];
	size_t w = 0;
	for (size_t i = 0; i < n; i++)
		if (line[i] != '\r')
			line[w++] = line[i];
	while (w && (line[w - 1] == ' ' || line[w - 1] == '\t'))
		w--;
	line[w] = 0;
	buf_add(&m->console, line, w);
	buf_add(&m->console, "\n", 1);
	size_t dropped = buf_keep_tail(&m->console, CONSOLE_MAX);
	m->console_mark = m->console_mark > dropped ? m->console_mark - dropped : 0;
	tlog_serial(m->name, line);
	line[n] = next;
}

/* Log the complete lines of serial_part, and pieces of SERIAL_LINE_MAX of
 * a longer one; with flush, also what is left. */
static void serial_lines(struct machine *m, bool flush)
{
	struct buf *b = &m->serial_part;
	size_t start = 0;
	while (start < b->len) {
		char *nl = memchr(b->p + start, '\n', b->len - start);
		size_t n = nl ? (size_t)(nl - b->p) - start : b->len - start;
		if (n > SERIAL_LINE_MAX)
			n = SERIAL_LINE_MAX;
		else if (!nl && !flush && n < SERIAL_LINE_MAX)
			break;
		serial_line(m, b->p + start, n);
		start += n + (nl && b->p + start + n == nl);
	}
	buf_consume(b, start);
}

/* Read what the serial pipe has now (bounded, so one chatty node cannot
 * starve the others); lines are taken out after each read, so serial_part
 * stays below SERIAL_LINE_MAX and one read. */
static void serial_read(struct machine *m)
{
	char tmp[65536];
	for (int i = 0; i < 16 && m->serial_fd >= 0; i++) {
		ssize_t n = read(m->serial_fd, tmp, sizeof(tmp));
		if (n > 0) {
			buf_add(&m->serial_part, tmp, (size_t)n);
			serial_lines(m, false);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0) {
			close(m->serial_fd);
			m->serial_fd = -1;
		}
		break;
	}
	serial_lines(m, m->serial_fd < 0);
}

static const char *status_text(int st)
{
	switch (st) {
	case 0: return "the guest powered off";
	case 1: return "microvm failed";
	case 2: return "the guest rebooted";
	case 3: return "the guest kernel panicked";
	case 4: return "microvm was stopped by a signal";
	case 127: return "microvm could not be started";
	}
	return st > 128 ? "microvm was killed" : "unknown status";
}

/* m's microvm exited: kill what is left of its group, log, maybe restart. */
static void reap(struct machine *m)
{
	kill(-m->pid, SIGKILL);
	int st = 0;
	while (waitpid(m->pid, &st, 0) < 0 && errno == EINTR)
		;
	serial_read(m);
	m->last_status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	/* Only a node started with allow_reboot comes back, as in NixOS.
	 * microvm says "reboot" with 2; QEMU (-no-reboot) cannot tell it from
	 * poweroff, so there only an asked-for reboot() counts. */
	bool asked = m->reboot_pending;
	m->reboot_pending = false;
	bool restart = m->allow_reboot &&
		(m->d->qemu ? m->last_status == 0 && asked : m->last_status == 2);
	machine_closed(m);
	if (m->d->qemu)
		tlog(m->name, "qemu exited with status %d", m->last_status);
	else
		tlog(m->name, "microvm exited with status %d (%s)", m->last_status,
		     status_text(m->last_status));
	if (!restart)
		return;
	struct ctx x = { .d = m->d, .m = m };
	tlog(m->name, "starting vm again after the reboot");
	if (machine_spawn(&x, m) < 0)
		tlog(m->name, "cannot restart: %s", x.err);
	ctx_reset(&x);
}

static bool exited(struct machine *m)
{
	if (m->pid <= 0)
		return false;
	siginfo_t si = { .si_pid = 0 };
	return waitid(P_PID, (id_t)m->pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid;
}

static int poll_timeout(struct driver *d, double until, bool need_tick)
{
	double t = d->deadline > 0 ? d->deadline : -1;
	if (until >= 0 && (t < 0 || until < t))
		t = until;
	int ms = -1;
	if (t >= 0) {
		double left = t - now();
		ms = left <= 0 ? 0 : (int)(left * 1000) + 1;
	}
	if (need_tick && (ms < 0 || ms > 50))
		ms = 50; /* no pidfd: look for exits every 50 ms */
	return ms;
}

int drv_pump(struct driver *d, struct machine *m, int fd, short events, double until)
{
	int nnet = net_nfds(d);
	struct pollfd *p = calloc(2 * d->nm + 1 + nnet, sizeof(*p));
	int r;
	for (;;) {
		if (drv_signal) {
			r = IO_SIGNAL;
			break;
		}
		size_t n = 0;
		bool tick = false;
		p[n++] = (struct pollfd){ fd, events, 0 };
		for (size_t i = 0; i < d->nm; i++) {
			p[n++] = (struct pollfd){ d->m[i].serial_fd, POLLIN, 0 };
			p[n++] = (struct pollfd){ d->m[i].pidfd, POLLIN, 0 };
			tick |= d->m[i].pid > 0 && d->m[i].pidfd < 0;
		}
		int net = net_pollfds(d, p + n, nnet);
		int k = poll(p, n + net, poll_timeout(d, until, tick));
		if (k < 0 && errno != EINTR) {
			r = -errno;
			break;
		}
		for (size_t i = 0; k > 0 && i < d->nm; i++)
			if (p[1 + 2 * i].revents)
				serial_read(&d->m[i]);
		if (k > 0)
			net_handle(d, p + n, net);
		for (size_t i = 0; i < d->nm; i++)
			if (exited(&d->m[i]))
				reap(&d->m[i]);
		if (k > 0 && fd >= 0 && p[0].revents) {
			r = IO_READY;
			break;
		}
		if (m && m->pid <= 0) {
			r = IO_EXITED;
			break;
		}
		double t = now();
		if (d->deadline > 0 && t >= d->deadline) {
			r = IO_DEADLINE;
			break;
		}
		if (until >= 0 && t >= until) {
			r = IO_TIMEOUT;
			break;
		}
	}
	free(p);
	return r;
}

int pump_fail(struct ctx *x, int r, const char *what)
{
	switch (r) {
	case IO_SIGNAL:
		x->interrupted = true;
		return ctx_fail(x, "interrupted by %s while %s", strsignal(drv_signal), what);
	case IO_DEADLINE:
		x->interrupted = true;
		return ctx_fail(x, "the test's timeout (%ld seconds) was reached while %s",
				x->d->t->timeout, what);
	case IO_EXITED:
		return ctx_fail(x, "%s exited (status %d) while %s", x->d->vmm,
				x->m ? x->m->last_status : -1, what);
	case IO_TIMEOUT:
		return ctx_fail(x, "timed out while %s", what);
	}
	return ctx_fail(x, "poll: %s (while %s)", strerror(-r), what);
}

int drv_sleep(struct ctx *x, double s)
{
	int r = drv_pump(x->d, NULL, -1, 0, now() + s);
	return r == IO_TIMEOUT ? 0 : pump_fail(x, r, "sleeping");
}

/* NixOS retries once a second; waits here start at 10 ms and back off to
 * 100 ms, so a wait returns within 0.1 s of its condition (plus the time
 * one check takes). A check runs processes in the guest, which compete
 * with the boot being waited for: the pause after a check is at least as
 * long as the check took, so checks never take more than half the time. */
int retry(struct ctx *x, long timeout, int (*check)(struct ctx *, void *, bool), void *arg)
{
	double end = now() + (double)timeout, backoff = 0.01;
	for (;;) {
		double start = now();
		bool last = start >= end;
		/* A check that first waits for the guest's shell says nothing
		 * about what checks cost. */
		bool connected = !x->m || x->m->connected;
		int r = check(x, arg, last);
		if (r != 0)
			return r < 0 ? -1 : 0;
		if (last)
			return ctx_fail(x, "action timed out after %ld seconds", timeout);
		double took = connected ? now() - start : 0, left = end - now();
		double pause = took > backoff ? took : backoff;
		if (drv_sleep(x, left < pause ? (left > 0 ? left : 0) : pause) < 0)
			return -1;
		backoff = backoff * 1.5 > 0.1 ? 0.1 : backoff * 1.5;
	}
}
