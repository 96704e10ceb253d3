/* tlog.c - the test log on stderr, in the NixOS driver's format:
 * "node1: waiting for unit x", "(finished: waiting for unit x, in 0.42
 * seconds)", "node1 # <serial line>", "!!! <failure>". Every line also goes
 * to the JUnit collector. Colours only when stderr is a terminal. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "driver.h"

bool tlog_serial_on = true;

static int colour = -1;

static void emit(const char *style, const char *machine, const char *sep, const char *msg)
{
	if (colour < 0)
		colour = isatty(2);
	struct buf b = { 0 };
	if (machine)
		buf_printf(&b, "%s%s", machine, sep);
	buf_adds(&b, msg);
	junit_line(b.p);
	if (colour && style)
		fprintf(stderr, "%s%s\033[0m\n", style, b.p);
	else
		fprintf(stderr, "%s\n", b.p);
	buf_free(&b);
}

static char *vfmt(const char *fmt, va_list ap)
{
	char *s;
	if (vasprintf(&s, fmt, ap) < 0)
		abort();
	return s;
}

void tlog(const char *machine, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s = vfmt(fmt, ap);
	va_end(ap);
	emit(NULL, machine, ": ", s);
	free(s);
}

void tlog_serial(const char *machine, const char *line)
{
	if (tlog_serial_on)
		emit("\033[2m", machine, " # ", line);
}

void tlog_fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s = vfmt(fmt, ap);
	va_end(ap);
	char *line;
	if (asprintf(&line, "!!! %s", s) < 0)
		abort();
	emit("\033[31m", NULL, NULL, line);
	junit_failure(s);
	free(line);
	free(s);
}

void nest_begin(struct nest *n, const char *machine, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	n->msg = vfmt(fmt, ap);
	va_end(ap);
	n->machine = machine;
	n->t0 = now();
	emit("\033[1;32m", machine, ": ", n->msg);
}

void nest_end(struct nest *n)
{
	if (!n->msg)
		return;
	tlog(n->machine, "(finished: %s, in %.2f seconds)", n->msg, now() - n->t0);
	free(n->msg);
	n->msg = NULL;
}
