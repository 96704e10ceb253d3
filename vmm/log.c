/* log.c - one-line diagnostics on stderr. */
#include <stdio.h>

#include "log.h"

const char *log_prog = "microvm";
bool log_verbose;

static void vlog(const char *kind, const char *fmt, va_list ap)
{
	char buf[1024];
	vsnprintf(buf, sizeof(buf), fmt, ap);
	/* One fprintf so lines from different threads do not interleave. */
	fprintf(stderr, "%s: %s%s\n", log_prog, kind, buf);
}

void log_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog("", fmt, ap);
	va_end(ap);
}

void log_warn(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog("warning: ", fmt, ap);
	va_end(ap);
}

void log_debug(const char *fmt, ...)
{
	if (!log_verbose)
		return;
	va_list ap;
	va_start(ap, fmt);
	vlog("", fmt, ap);
	va_end(ap);
}
