/* backdoor.c - the NixOS test backdoor protocol on a node's virtio console.
 *
 * The guest prints "Spawning backdoor root shell..." and runs bash with
 * stdin/stdout on hvc0. A command is sent as
 *     timeout T bash -c 'set -euo pipefail; CMD' | (base64 -w 0; echo)\n
 * (without a timeout the line starts with " bash", as NixOS sends it),
 * answered by one base64 line; then "echo ${PIPESTATUS[0]}\n" is answered
 * by the exit status. These bytes are what NixOS test VMs expect: keep them. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "driver.h"

static const char marker[] = "Spawning backdoor root shell...";

/* The longest line kept from the backdoor that is not a command's output
 * (what the guest prints before the marker, an exit status): longer text
 * before the marker is logged in pieces, a longer reply is an error. A
 * command's output is decoded as it arrives, up to d->output_max. */
#define BD_LINE_MAX (64 << 10)

static int closed(struct ctx *x)
{
	struct machine *m = x->m;
	if (m->gen != x->gen)
		return ctx_fail(x, "the backdoor shell went away: %s exited with status %d%s",
				m->d->vmm, m->last_status, m->pid > 0 ? " and was started again" : "");
	if (m->pid > 0)
		drv_pump(m->d, NULL, -1, 0, now() + 0.5); /* let the exit be seen */
	if (m->pid <= 0)
		return ctx_fail(x, "the backdoor shell closed the connection: %s exited "
				"with status %d", m->d->vmm, m->last_status);
	return ctx_fail(x, "the backdoor shell closed the connection");
}

/* Read what the console has into shell_in; 0 at EOF. */
static int fill(struct ctx *x, const char *what)
{
	struct machine *m = x->m;
	for (;;) {
		if (m->shell_fd < 0 || m->gen != x->gen)
			return closed(x);
		struct buf *b = &m->shell_in;
		buf_reserve(b, 65536);
		ssize_t n = read(m->shell_fd, b->p + b->len, 65536);
		if (n > 0) {
			b->len += (size_t)n;
			b->p[b->len] = 0;
			return 1;
		}
		if (n == 0)
			return closed(x);
		if (errno != EAGAIN && errno != EINTR)
			return ctx_fail(x, "reading the backdoor shell: %s", strerror(errno));
		int r = drv_pump(m->d, m, m->shell_fd, POLLIN, -1);
		if (r == IO_EXITED)
			return closed(x);
		if (r != IO_READY)
			return pump_fail(x, r, what);
	}
}

/* One line from the backdoor, without its newline. A line longer than
 * BD_LINE_MAX is dropped (the rest of it owed) and fails. */
static int readline(struct ctx *x, struct buf *line, const char *what)
{
	struct buf *b = &x->m->shell_in;
	size_t scanned = 0;
	for (;;) {
		char *nl = b->len > scanned ? memchr(b->p + scanned, '\n', b->len - scanned) : NULL;
		if (nl) {
			size_t n = (size_t)(nl - b->p);
			line->len = 0;
			buf_add(line, b->p, n);
			buf_consume(b, n + 1);
			return 0;
		}
		if (b->len > BD_LINE_MAX) {
			buf_consume(b, b->len);
			x->m->skip_lines++;
			return ctx_fail(x, "the backdoor shell sent a line longer than %d KiB while %s",
					BD_LINE_MAX >> 10, what);
		}
		scanned = b->len;
		if (fill(x, what) < 0)
			return -1;
	}
}

/* Drop one line from the backdoor, however long, without keeping it. */
static int skip_line(struct ctx *x, const char *what)
{
	struct buf *b = &x->m->shell_in;
	for (;;) {
		char *nl = b->len ? memchr(b->p, '\n', b->len) : NULL;
		buf_consume(b, nl ? (size_t)(nl - b->p) + 1 : b->len);
		if (nl)
			return 0;
		if (fill(x, what) < 0)
			return -1;
	}
}

/* "1 GiB", "64 MiB" or "1000 bytes". */
static void say_size(char *s, size_t len, size_t n)
{
	if (n >= 1 << 30 && !(n & ((1 << 30) - 1)))
		snprintf(s, len, "%zu GiB", n >> 30);
	else if (n >= 1 << 20 && !(n & ((1 << 20) - 1)))
		snprintf(s, len, "%zu MiB", n >> 20);
	else
		snprintf(s, len, "%zu bytes", n);
}

/* A command's output: one base64 line, decoded into out as it arrives, so
 * shell_in holds one read of it and out the output, once. Past
 * d->output_max bytes it fails, owing the rest of the line. */
static int read_output(struct ctx *x, struct buf *out)
{
	struct machine *m = x->m;
	struct buf *b = &m->shell_in;
	struct b64 st = { 0 };
	size_t start = out->len;
	for (;;) {
		char *nl = b->len ? memchr(b->p, '\n', b->len) : NULL;
		size_t n = nl ? (size_t)(nl - b->p) : b->len;
		int bad = b64_decode(&st, out, b->p, n);
		if (bad < 0)
			ctx_fail(x, "the backdoor shell's reply is not base64: \"%.80s\"", b->p);
		buf_consume(b, nl ? n + 1 : n);
		if (!bad && out->len - start > m->d->output_max) {
			char size[32];
			say_size(size, sizeof(size), m->d->output_max);
			bad = ctx_fail(x, "the command's output passed %s, microvmtest's bound for "
				       "one command (MICROVMTEST_OUTPUT_MAX)", size);
		}
		if (bad < 0) {
			out->len = start;
			out->p[start] = 0;
			m->skip_lines += !nl;
			return -1;
		}
		if (nl)
			return 0;
		if (fill(x, "waiting for the command's output") < 0)
			return -1;
	}
}

int bd_send(struct ctx *x, const void *data, size_t n)
{
	struct machine *m = x->m;
	const char *p = data;
	while (n) {
		if (m->shell_fd < 0 || m->gen != x->gen)
			return closed(x);
		ssize_t w = write(m->shell_fd, p, n);
		if (w > 0) {
			p += w;
			n -= (size_t)w;
			continue;
		}
		if (w < 0 && errno == EPIPE)
			return closed(x);
		if (w < 0 && errno != EAGAIN && errno != EINTR)
			return ctx_fail(x, "writing to the backdoor shell: %s", strerror(errno));
		int r = drv_pump(m->d, m, m->shell_fd, POLLOUT, -1);
		if (r == IO_EXITED)
			return closed(x);
		if (r != IO_READY)
			return pump_fail(x, r, "sending a command to the guest");
	}
	return 0;
}

/* Log what the guest said before the marker, as NixOS does per chunk. */
static void say(struct machine *m, const char *p, size_t n)
{
	struct buf b = { 0 };
	for (size_t i = 0; i < n && i < 400; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c == '\n')
			buf_adds(&b, "\\n");
		else if (c == '\r')
			buf_adds(&b, "\\r");
		else if (c < 0x20 || c >= 0x7f)
			buf_printf(&b, "\\x%02x", c);
		else
			buf_add(&b, &p[i], 1);
	}
	tlog(m->name, "Guest shell says: %s", b.p ? b.p : "");
	buf_free(&b);
}

/* Drop what await_marker has logged, but for what may be the start of the
 * marker: a guest printing forever before it is not kept. */
static void drop_said(struct buf *b, size_t *said)
{
	size_t keep = sizeof(marker) - 2;
	size_t drop = b->len > keep ? b->len - keep : 0;
	if (drop > *said)
		drop = *said;
	buf_consume(b, drop);
	*said -= drop;
}

/* Wait for the marker; drop it, the newline after it and anything before.
 * What comes before is logged per line (or per BD_LINE_MAX), not kept. */
static int await_marker(struct ctx *x)
{
	struct machine *m = x->m;
	struct buf *b = &m->shell_in;
	size_t said = 0;
	double hint = now() + 30;
	for (;;) {
		char *at = b->len ? memmem(b->p, b->len, marker, sizeof(marker) - 1) : NULL;
		if (at) {
			size_t end = (size_t)(at - b->p) + sizeof(marker) - 1;
			say(m, b->p + said, end - said);
			/* The backdoor echoes a newline after the marker; give it a
			 * moment to arrive so it is not taken for an empty reply. */
			double until = now() + 0.25;
			while (b->len <= end && now() < until &&
			       drv_pump(m->d, m, m->shell_fd, POLLIN, until) == IO_READY)
				if (fill(x, "waiting for the backdoor shell") < 0)
					return -1;
			if (b->len > end && b->p[end] == '\r')
				end++;
			if (b->len > end && b->p[end] == '\n')
				end++;
			buf_consume(b, end);
			m->skip_lines = 0; /* a new shell owes nothing */
			return 0;
		}
		if (b->len > said && (memchr(b->p + said, '\n', b->len - said) ||
				      b->len - said > BD_LINE_MAX)) {
			say(m, b->p + said, b->len - said);
			said = b->len;
		}
		drop_said(b, &said);
		int r = drv_pump(m->d, m, m->shell_fd, POLLIN, hint);
		if (r == IO_TIMEOUT) {
			tlog(m->name, "Guest root shell did not produce any data yet...");
			tlog(m->name, "  To debug, enter the VM and run 'systemctl status "
			     "backdoor.service'.");
			hint = now() + 30;
			continue;
		}
		if (r == IO_EXITED)
			return closed(x);
		if (r != IO_READY)
			return pump_fail(x, r, "waiting for the backdoor shell");
		if (fill(x, "waiting for the backdoor shell") < 0)
			return -1;
	}
}

int bd_connect(struct ctx *x)
{
	struct machine *m = x->m;
	x->gen = m->gen;
	if (m->connected)
		return 0;
	struct nest n;
	nest_begin(&n, m->name, "waiting for the VM to finish booting");
	double t0 = now();
	int r = machine_settle_reboot(x, m);
	if (r == 0)
		r = machine_start(x, m, m->allow_reboot);
	x->gen = m->gen;
	/* A restored node's shell is already there (driver/snapshot.c). */
	int restored = r == 0 ? snap_await_restore(x) : 0;
	if (restored < 0)
		r = -1;
	else if (r == 0 && !restored)
		r = await_marker(x);
	if (r == 0) {
		tlog(m->name, "connected to guest root shell");
		tlog(m->name, "(connecting took %.2f seconds)", now() - t0);
		m->connected = true;
		r = snap_connected(x);
	}
	nest_end(&n);
	return r;
}

static int parse_status(struct ctx *x, const struct buf *line, int *status)
{
	char *end;
	long v = strtol(line->p ? line->p : "", &end, 10);
	while (*end == ' ' || *end == '\r')
		end++;
	if (!line->len || *end || v < 0 || v > 255)
		return ctx_fail(x, "unexpected reply from the backdoor shell instead of an exit "
				"status: \"%.80s\"", line->p ? line->p : "");
	*status = (int)v;
	return 0;
}

/* Read the output lines of commands sent without check_output. If that
 * shell is gone meanwhile (the command was a reboot or poweroff), nothing is
 * owed any more: connect to the next one, starting the node as NixOS does. */
static int skip_owed(struct ctx *x)
{
	struct machine *m = x->m;
	while (m->skip_lines > 0) {
		if (skip_line(x, "reading an earlier command's output") == 0) {
			m->skip_lines--;
			continue;
		}
		if (x->interrupted || (m->gen == x->gen && m->booted))
			return -1;
		free(x->err);
		x->err = NULL;
		m->skip_lines = 0;
		return bd_connect(x);
	}
	return 0;
}

int bd_execute_in(struct ctx *x, const char *cmd, long timeout, bool check_return,
		  bool check_output, int *status, struct buf *out, const void *in, size_t inlen)
{
	struct machine *m = x->m;
	struct buf line = { 0 }, c = { 0 }, inner = { 0 };
	int r = bd_connect(x);
	if (r == 0 && m->skip_lines > 0)
		r = skip_owed(x);
	if (r < 0)
		goto out;
	buf_printf(&inner, "set -euo pipefail; %s", cmd);
	if (timeout >= 0)
		buf_printf(&c, "timeout %ld", timeout);
	buf_adds(&c, " bash -c ");
	shquote(&c, inner.p);
	buf_adds(&c, " | (base64 -w 0; echo)\n");
	/* Input for the command follows its line: bash reads a non-seekable
	 * stdin a byte at a time, so it leaves these bytes to the command. */
	if ((r = bd_send(x, c.p, c.len)) < 0 || (inlen && (r = bd_send(x, in, inlen)) < 0))
		goto out;
	*status = -2;
	if (!check_output) {
		m->skip_lines++; /* its output line will arrive later */
		goto out;
	}
	if ((r = read_output(x, out)) < 0)
		goto out;
	*status = -1;
	if (!check_return)
		goto out;
	static const char ask[] = "echo ${PIPESTATUS[0]}\n";
	if ((r = bd_send(x, ask, sizeof(ask) - 1)) == 0 &&
	    (r = readline(x, &line, "waiting for the command's exit status")) == 0)
		r = parse_status(x, &line, status);
out:
	buf_free(&line);
	buf_free(&c);
	buf_free(&inner);
	return r;
}

int bd_execute(struct ctx *x, const char *cmd, long timeout, bool check_return,
	       bool check_output, int *status, struct buf *out)
{
	return bd_execute_in(x, cmd, timeout, check_return, check_output, status, out, NULL, 0);
}
