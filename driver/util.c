/* util.c - byte buffers, shell quoting, base64, time, tree removal and the
 * failure message of a call. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <errno.h>
#include <ftw.h>
#include <pcre2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "driver.h"

void buf_reserve(struct buf *b, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n + 1)
			cap *= 2;
		b->p = realloc(b->p, cap);
		if (!b->p)
			abort();
		b->cap = cap;
	}
}

void buf_add(struct buf *b, const void *data, size_t n)
{
	buf_reserve(b, n);
	if (n)
		memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = 0;
}

void buf_adds(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

void buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s;
	int n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		abort();
	buf_add(b, s, (size_t)n);
	free(s);
}

void buf_consume(struct buf *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
	} else {
		memmove(b->p, b->p + n, b->len - n);
		b->len -= n;
	}
	if (b->p)
		b->p[b->len] = 0;
}

size_t buf_keep_tail(struct buf *b, size_t max)
{
	if (b->len <= max)
		return 0;
	/* Down to half, so that dropping (a memmove) stays rare. */
	size_t from = b->len - max / 2;
	const char *nl = memchr(b->p + from - 1, '\n', b->len - from + 1);
	size_t drop = nl ? (size_t)(nl - b->p) + 1 : from;
	buf_consume(b, drop);
	return drop;
}

void buf_free(struct buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

/* shlex.quote: safe strings as they are, the rest in single quotes with
 * each ' written as '"'"'. The backdoor protocol depends on these bytes. */
void shquote(struct buf *out, const char *s)
{
	static const char safe[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				   "0123456789_@%+=:,./-";
	if (!*s) {
		buf_adds(out, "''");
		return;
	}
	if (strspn(s, safe) == strlen(s)) {
		buf_adds(out, s);
		return;
	}
	buf_add(out, "'", 1);
	for (; *s; s++) {
		if (*s == '\'')
			buf_adds(out, "'\"'\"'");
		else
			buf_add(out, s, 1);
	}
	buf_add(out, "'", 1);
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void b64_encode(struct buf *out, const void *data, size_t n)
{
	const unsigned char *d = data;
	char q[4];
	for (size_t i = 0; i < n; i += 3) {
		unsigned v = d[i] << 16;
		if (i + 1 < n)
			v |= d[i + 1] << 8;
		if (i + 2 < n)
			v |= d[i + 2];
		q[0] = b64[v >> 18];
		q[1] = b64[(v >> 12) & 63];
		q[2] = i + 1 < n ? b64[(v >> 6) & 63] : '=';
		q[3] = i + 2 < n ? b64[v & 63] : '=';
		buf_add(out, q, 4);
	}
}

int b64_decode(struct b64 *s, struct buf *out, const char *in, size_t n)
{
	static signed char rev[256];
	if (!rev['B']) {
		memset(rev, -1, sizeof(rev));
		for (int i = 0; i < 64; i++)
			rev[(unsigned char)b64[i]] = (signed char)i;
	}
	buf_reserve(out, n / 4 * 3 + 3);
	char *o = out->p + out->len;
	/* Locals: stores through o may alias *s, which would slow the loop. */
	unsigned v = s->v;
	int bits = s->bits;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)in[i];
		if (c == '=' || c == '\r' || c == '\n')
			continue;
		if (rev[c] < 0)
			return -1;
		v = (v << 6) | (unsigned)rev[c];
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			*o++ = (char)((v >> bits) & 0xff);
		}
	}
	s->v = v;
	s->bits = bits;
	out->len = (size_t)(o - out->p);
	out->p[out->len] = 0;
	return 0;
}

double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	int r = flag == FTW_DP ? rmdir(path) : unlink(path);
	return r < 0 && errno != ENOENT ? -1 : 0;
}

int rm_tree(const char *path)
{
	return nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int ctx_fail(struct ctx *x, const char *fmt, ...)
{
	if (x->err)
		return -1;
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&x->err, fmt, ap) < 0)
		abort();
	va_end(ap);
	return -1;
}

int regex_fail(struct ctx *x, int rc, const char *regex)
{
	PCRE2_UCHAR msg[160];
	if (pcre2_get_error_message(rc, msg, sizeof(msg)) < 0)
		snprintf((char *)msg, sizeof(msg), "error %d", rc);
	return ctx_fail(x, "matching /%s/ failed: %s", regex, (char *)msg);
}

void ctx_reset(struct ctx *x)
{
	buf_free(&x->out);
	free(x->err);
	x->err = NULL;
	x->status = 0;
	x->interrupted = false;
}
