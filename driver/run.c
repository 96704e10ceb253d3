/* run.c - run a script's steps: calls (with their expectations), subtests,
 * retries and breakpoints. The first failing step ends the script, as an
 * exception ends a NixOS test script; the failure is logged as "!!! ...". */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "driver.h"

/* Show at most this much of an output in a failure. */
#define SHOW_MAX 4096

static void show_output(struct ctx *x, const char *who)
{
	const struct buf *o = &x->out;
	size_t n = o->len < SHOW_MAX ? o->len : SHOW_MAX;
	if (o->len > SHOW_MAX)
		tlog(who, "output (first %d of %zu bytes): %.*s", SHOW_MAX, o->len, (int)n, o->p);
	else
		tlog(who, "output: %.*s", (int)n, o->p ? o->p : "");
}

static bool contains(const struct buf *o, const char *s)
{
	return !*s || (o->len && memmem(o->p, o->len, s, strlen(s)));
}

static int check_expect(struct ctx *x, const struct expect *e, const char *who)
{
	const struct buf *o = &x->out;
	int r = 0;
	if (e->has_status && x->status != e->status)
		r = ctx_fail(x, "expected exit status %d, got %d", e->status, x->status);
	if (!r && e->equals && (o->len != strlen(e->equals) || memcmp(o->p, e->equals, o->len)))
		r = ctx_fail(x, "expected the output to equal \"%s\"", e->equals);
	for (size_t i = 0; !r && i < e->ncontains; i++)
		if (!contains(o, e->contains[i]))
			r = ctx_fail(x, "expected the output to contain \"%s\"", e->contains[i]);
	for (size_t i = 0; !r && i < e->nnot_contains; i++)
		if (contains(o, e->not_contains[i]))
			r = ctx_fail(x, "expected the output not to contain \"%s\"",
				     e->not_contains[i]);
	if (!r && e->re) {
		pcre2_match_data *md = pcre2_match_data_create_from_pattern(e->re, NULL);
		int rc = pcre2_match(e->re, (PCRE2_SPTR)(o->p ? o->p : ""), o->len, 0, 0, md, NULL);
		if (rc == PCRE2_ERROR_NOMATCH)
			r = ctx_fail(x, "expected the output to match /%s/", e->matches);
		else if (rc < 0)
			r = regex_fail(x, rc, e->matches);
		pcre2_match_data_free(md);
	}
	if (r)
		show_output(x, who);
	return r;
}

/* Run one call; x is reset first. Every front end's calls come here. */
int run_call(struct driver *d, const struct step *s, struct ctx *x)
{
	ctx_reset(x);
	x->d = d;
	x->c = &s->call;
	x->m = s->call.node >= 0 ? &d->m[s->call.node] : NULL;
	buf_adds(&x->out, "");
	int r = s->call.m->fn(x);
	if (r == 0 && s->expect.set)
		r = check_expect(x, &s->expect, x->m ? x->m->name : NULL);
	if (r < 0 && !x->err)
		ctx_fail(x, "%s failed", s->call.m->name);
	return r;
}

static void report(struct driver *d, const struct step *s, struct ctx *x)
{
	d->nfail++;
	if (x->m)
		tlog_fail("%s: %s", x->m->name, x->err);
	else
		tlog_fail("%s", x->err);
	tlog_fail("  at %s in %s: %s", s->path, d->t->file, s->text ? s->text : "");
}

struct retry_arg {
	struct driver *d;
	const struct step *s;
	struct ctx inner;
};

static int retry_check(struct ctx *x, void *arg, bool last)
{
	struct retry_arg *a = arg;
	(void)x;
	(void)last;
	if (run_call(a->d, a->s, &a->inner) == 0)
		return 1;
	if (a->inner.interrupted)
		return -1;
	tlog(a->inner.m ? a->inner.m->name : NULL, "(not yet: %s)", a->inner.err);
	return 0;
}

static int run_retry(struct driver *d, const struct step *s)
{
	struct retry_arg a = { d, &s->steps[0], { 0 } };
	struct ctx x = { .d = d };
	int r = retry(&x, s->timeout, retry_check, &a);
	if (r < 0) {
		if (a.inner.interrupted)
			report(d, &s->steps[0], &a.inner);
		else {
			x.m = a.inner.m;
			free(x.err);
			if (asprintf(&x.err, "action timed out after %ld seconds; the last try "
				     "failed with: %s", s->timeout, a.inner.err ? a.inner.err : "?") < 0)
				abort();
			report(d, s, &x);
		}
	}
	ctx_reset(&a.inner);
	ctx_reset(&x);
	return r;
}

static int run_subtest(struct driver *d, const struct step *s)
{
	struct nest n;
	nest_begin(&n, NULL, "subtest: %s", s->name);
	junit_subtest_begin(s->name);
	int before = d->nfail;
	int r = run_steps(d, s->steps, s->nsteps);
	if (r < 0)
		tlog(NULL, "Test \"%s\" failed", s->name);
	junit_subtest_end(d->nfail != before);
	nest_end(&n);
	return r;
}

static int run_breakpoint(struct driver *d, const struct step *s)
{
	if (!d->interactive && !isatty(0)) {
		tlog(NULL, "breakpoint at %s skipped: stdin is not a terminal (use --interactive)",
		     s->path);
		return 0;
	}
	tlog(NULL, "breakpoint at %s: type steps, \"continue\" to go on, \"help\" for more",
	     s->path);
	return repl(d);
}

int run_step(struct driver *d, const struct step *s)
{
	struct ctx x = { .d = d };
	int r = 0;
	switch (s->kind) {
	case STEP_CALL:
		r = run_call(d, s, &x);
		if (r < 0)
			report(d, s, &x);
		break;
	case STEP_SUBTEST: r = run_subtest(d, s); break;
	case STEP_RETRY: r = run_retry(d, s); break;
	case STEP_BREAKPOINT: r = run_breakpoint(d, s); break;
	}
	ctx_reset(&x);
	return r;
}

int run_step_show(struct driver *d, const struct step *s)
{
	if (s->kind != STEP_CALL)
		return run_step(d, s);
	struct ctx x = { .d = d };
	int r = run_call(d, s, &x);
	if (r < 0)
		report(d, s, &x);
	else if (s->call.m->result == R_STATUS_TEXT)
		printf("(%d, %s)\n", x.status, x.out.p ? x.out.p : "");
	else if (s->call.m->result == R_TEXT)
		printf("%s\n", x.out.p ? x.out.p : "");
	fflush(stdout);
	ctx_reset(&x);
	return r;
}

int run_steps(struct driver *d, const struct step *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (run_step(d, &s[i]) < 0)
			return -1;
	return 0;
}
