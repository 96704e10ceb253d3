/* junit.c - collect the log per subtest and write a JUnit XML report, one
 * testcase per subtest (and "main" for steps outside any subtest, or when
 * there is none), as the NixOS driver's JUnit logger does. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driver.h"

struct tcase {
	char *name;
	struct buf out;
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

void junit_line(const char *line)
{
	if (!main_case.t0)
		main_case.t0 = now();
	buf_adds(&suite_out, line);
	buf_add(&suite_out, "\n", 1);
	struct tcase *c = current();
	buf_adds(&c->out, line);
	buf_add(&c->out, "\n", 1);
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
	xml_text(f, c->out.p ? c->out.p : "");
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
	xml_text(f, suite_out.p ? suite_out.p : "");
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
	buf_free(&main_case.failure);
	buf_free(&suite_out);
}
