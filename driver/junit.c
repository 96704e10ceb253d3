/* junit.c - collect the log per subtest and write a JUnit XML report, one
 * testcase per subtest (and "main" for steps outside any subtest, or when
 * there is none), as the NixOS driver's JUnit logger does. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driver.h"

/* The log kept per testcase and for the suite: the newest JUNIT_LOG_MAX
 * bytes at most, so a guest printing forever cannot take the host's
 * memory (the report says how much was left out). */
#define JUNIT_LOG_MAX (16 << 20)

struct tcase {
	char *name;
	struct buf out;
	size_t dropped; /* bytes of out's oldest lines not kept */
	struct buf failure;
	double t0, secs;
	bool failed, used, top; /* top: not inside another subtest */
};

static struct tcase main_case = { .name = "main" };
static struct tcase **cases; /* in order of their start */
static size_t ncases;
/* The subtests running now, outermost first: a nested subtest's end
 * returns to the one around it, not to main. */
static struct tcase **stack;
static size_t depth;
static struct buf suite_out;
static size_t suite_dropped;
static bool enabled; /* --junit: only then is the log kept */

static void *grow(void *p, size_t n, size_t size)
{
	p = reallocarray(p, n, size);
	if (!p)
		abort();
	return p;
}

static struct tcase *current(void)
{
	return depth ? stack[depth - 1] : &main_case;
}

void junit_enable(void)
{
	enabled = true;
}

static void keep_line(struct buf *b, size_t *dropped, const char *line)
{
	buf_adds(b, line);
	buf_add(b, "\n", 1);
	*dropped += buf_keep_tail(b, JUNIT_LOG_MAX);
}

void junit_line(const char *line)
{
	if (!main_case.t0)
		main_case.t0 = now();
	if (!enabled)
		return;
	keep_line(&suite_out, &suite_dropped, line);
	struct tcase *c = current();
	keep_line(&c->out, &c->dropped, line);
}

void junit_subtest_begin(const char *name)
{
	struct tcase *c = calloc(1, sizeof(*c));
	if (!c || !(c->name = strdup(name)))
		abort();
	c->t0 = now();
	c->top = depth == 0;
	cases = grow(cases, ncases + 1, sizeof(*cases));
	cases[ncases++] = c;
	stack = grow(stack, depth + 1, sizeof(*stack));
	stack[depth++] = c;
}

void junit_subtest_end(bool failed)
{
	if (!depth)
		return;
	struct tcase *c = stack[--depth];
	c->secs = now() - c->t0;
	c->failed |= failed;
}

static void add_failure(struct tcase *c, const char *msg)
{
	c->failed = true;
	c->used = true;
	if (c->failure.len)
		buf_add(&c->failure, "\n", 1);
	buf_adds(&c->failure, msg);
}

/* A failure inside a nested subtest is also one of every subtest around
 * it: each failing testcase carries the message. */
void junit_failure(const char *msg)
{
	if (!depth)
		add_failure(&main_case, msg);
	for (size_t i = 0; i < depth; i++)
		add_failure(stack[i], msg);
}

/* XML text: escape markup, drop characters XML 1.0 cannot hold and bytes
 * that are not UTF-8 (replaced by '?'). */
static void xml_text(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		unsigned char c = *p;
		int n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
		bool ok = n > 0;
		for (int i = 1; i < n && ok; i++)
			ok = (p[i] & 0xc0) == 0x80;
		if (!ok) {
			fputc('?', f);
			p++;
			continue;
		}
		if (n > 1) {
			fwrite(p, 1, (size_t)n, f);
			p += n;
			continue;
		}
		if (c == '<')
			fputs("&lt;", f);
		else if (c == '>')
			fputs("&gt;", f);
		else if (c == '&')
			fputs("&amp;", f);
		else if (c == '"')
			fputs("&quot;", f);
		else if (c < 0x20 && c != '\n' && c != '\t')
			fputc(c == '\r' ? '\n' : '?', f);
		else
			fputc(c, f);
		p++;
	}
}

void junit_escape(FILE *f, const char *s)
{
	xml_text(f, s);
}

static void system_out(FILE *f, const struct buf *out, size_t dropped)
{
	if (dropped)
		fprintf(f, "(%zu bytes of earlier log not kept: microvmtest keeps the last %d MiB)\n",
			dropped, JUNIT_LOG_MAX >> 20);
	xml_text(f, out->p ? out->p : "");
}

static void write_case(FILE *f, const struct tcase *c)
{
	fputs("    <testcase classname=\"microvmtest\" name=\"", f);
	xml_text(f, c->name);
	fprintf(f, "\" time=\"%.3f\">\n", c->secs);
	if (c->failed) {
		fputs("      <failure message=\"", f);
		xml_text(f, c->failure.len ? c->failure.p : "test case failed");
		fputs("\" type=\"failure\"/>\n", f);
	}
	fputs("      <system-out>", f);
	system_out(f, &c->out, c->dropped);
	fputs("</system-out>\n    </testcase>\n", f);
}

int junit_write(const char *file, const char *suite)
{
	FILE *f = fopen(file, "w");
	if (!f)
		return -1;
	bool with_main = main_case.used || ncases == 0;
	/* main's time is the run's, less its subtests', as NixOS counts it;
	 * a nested subtest's time is in the one around it already. */
	main_case.secs = main_case.t0 ? now() - main_case.t0 : 0;
	for (size_t i = 0; i < ncases; i++)
		main_case.secs -= cases[i]->top ? cases[i]->secs : 0;
	if (main_case.secs < 0)
		main_case.secs = 0;
	size_t n = ncases + with_main;
	size_t nfailed = main_case.failed && with_main;
	for (size_t i = 0; i < ncases; i++)
		nfailed += cases[i]->failed;
	fprintf(f, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<testsuites>\n");
	fputs("  <testsuite name=\"", f);
	xml_text(f, suite);
	fprintf(f, "\" tests=\"%zu\" failures=\"%zu\" errors=\"0\">\n", n, nfailed);
	if (with_main)
		write_case(f, &main_case);
	for (size_t i = 0; i < ncases; i++)
		write_case(f, cases[i]);
	fputs("    <system-out>", f);
	system_out(f, &suite_out, suite_dropped);
	fputs("</system-out>\n  </testsuite>\n</testsuites>\n", f);
	return fclose(f) ? -1 : 0;
}

void junit_free(void)
{
	for (size_t i = 0; i < ncases; i++) {
		free(cases[i]->name);
		buf_free(&cases[i]->out);
		buf_free(&cases[i]->failure);
		free(cases[i]);
	}
	free(cases);
	free(stack);
	cases = NULL;
	stack = NULL;
	ncases = depth = 0;
	main_case.t0 = 0;
	main_case.failed = main_case.used = false;
	buf_free(&main_case.out);
	main_case.dropped = 0;
	buf_free(&main_case.failure);
	buf_free(&suite_out);
	suite_dropped = 0;
	enabled = false;
}
