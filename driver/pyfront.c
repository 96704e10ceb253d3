/* pyfront.c - the engine side of a Python testScript: serve the front
 * end's requests (pyproto.h) while pumping every node, so serial output is
 * logged, microvms are reaped and signals and the deadline are honoured
 * whatever Python is doing. A machine method goes through the one method
 * table as a JSON step does: steps.c binds its arguments (with NixOS's
 * defaults), run.c's run_call runs it, so the log is the same. The "_"
 * requests are the front end's own: log lines, log.nested() and subtest()
 * (JUnit testcases), the failure report. */
#include <errno.h>
#include <json-c/json.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pyproto.h"

struct pysess {
	struct driver *d;
	pid_t pid;
	int fd;
	struct buf in;
	struct nest *nests; /* open log.nested()s and subtest()s, innermost last */
	bool *subtest;
	size_t depth;
};

/* 1: a line is in s->in; 0: Python closed its end (a last line without
 * its newline is dropped: it was cut short); -1: x says why not. */
static int read_request(struct pysess *s, struct ctx *x, size_t *len)
{
	for (;;) {
		int k = py_next_line(&s->in, len);
		if (k > 0)
			return 1;
		if (k < 0)
			return ctx_fail(x, "the Python front end sent a line longer than %d MiB",
					PY_LINE_MAX >> 20);
		int r = drv_pump(s->d, NULL, s->fd, POLLIN, -1);
		if (r != IO_READY)
			return pump_fail(x, r, "running the Python testScript");
		buf_reserve(&s->in, 65536);
		ssize_t n = read(s->fd, s->in.p + s->in.len, 65536);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			return 0;
		s->in.len += (size_t)n;
		s->in.p[s->in.len] = 0;
	}
}

/* 0 when sent or Python is gone (its EOF ends the session next); -1 when
 * interrupted meanwhile. */
static int send_answer(struct pysess *s, struct ctx *x, const struct buf *b)
{
	size_t off = 0;
	while (off < b->len) {
		ssize_t w = write(s->fd, b->p + off, b->len - off);
		if (w > 0) {
			off += (size_t)w;
		} else if (w < 0 && errno == EAGAIN) {
			int r = drv_pump(s->d, NULL, s->fd, POLLOUT, -1);
			if (r != IO_READY)
				return pump_fail(x, r, "answering the Python testScript");
		} else if (!(w < 0 && errno == EINTR)) {
			return 0;
		}
	}
	return 0;
}

/* steps.c's message is "FILE: $...: what"; Python shows only what. */
static const char *bare(const struct test *t, const char *err)
{
	size_t n = strlen(t->file);
	if (!strncmp(err, t->file, n) && !strncmp(err + n, ": $", 3)) {
		const char *p = strstr(err + n + 2, ": ");
		if (p)
			return p + 2;
	}
	return err;
}

static bool is_param(const struct method *m, const char *name)
{
	for (int i = 0; i < MAX_PARAMS && m->params[i].name; i++)
		if (!strcmp(m->params[i].name, name))
			return true;
	return false;
}

/* The step a request stands for, as test.json would write it; keyword
 * arguments are refused as Python refuses them. */
static struct json_object *as_step(const struct py_req *q, const struct method *m, char *err,
				   size_t errlen)
{
	struct json_object *j = json_object_new_object();
	char name[160];
	snprintf(name, sizeof(name), "%s%s%s", q->node ? q->node : "", q->node ? "." : "",
		 q->method);
	json_object_object_add(j, "call", json_object_new_string(name));
	json_object_object_add(j, "args", json_object_get(q->args));
	if (!q->kwargs)
		return j;
	json_object_object_foreach(q->kwargs, k, v) {
		if (!is_param(m, k)) {
			snprintf(err, errlen, "%s() got an unexpected keyword argument '%.64s'",
				 q->method, k);
			json_object_put(j);
			return NULL;
		}
		json_object_object_add(j, k, json_object_get(v));
	}
	return j;
}

static struct json_object *result(const struct method *m, const struct ctx *x)
{
	const char *p = x->out.p ? x->out.p : "";
	if (m->result == R_NONE)
		return NULL;
	struct json_object *text = json_object_new_string_len(p, (int)x->out.len);
	if (m->result == R_TEXT)
		return text;
	struct json_object *a = json_object_new_array();
	json_object_array_add(a, json_object_new_int(x->status));
	json_object_array_add(a, text);
	return a;
}

/* A machine method or global from the table. -1 only when interrupted (the
 * session ends); a failure is an answer. */
static int call_method(struct pysess *s, const struct py_req *q, struct buf *ans)
{
	const struct method *m = method_find(q->method);
	char err[1024];
	if (!m || m->unsupported) {
		snprintf(err, sizeof(err), m ? "%s is not supported by microvmtest: %s"
			 : "no method %s in the machine API", q->method, m ? m->unsupported : "");
		py_answer_error(ans, q->id, m ? "NotImplementedError" : "AttributeError", err);
		return 0;
	}
	struct json_object *j = as_step(q, m, err, sizeof(err));
	struct step st;
	if (!j || step_parse(s->d->t, j, "$", &st, err, sizeof(err)) < 0) {
		json_object_put(j);
		py_answer_error(ans, q->id, "TypeError", j ? bare(s->d->t, err) : err);
		return 0;
	}
	st.own = j;
	struct ctx x = { .d = s->d };
	int r = run_call(s->d, &st, &x);
	if (r == 0)
		py_answer_ok(ans, q->id, result(m, &x));
	else if (!x.interrupted)
		py_answer_error(ans, q->id, "RequestedAssertionFailed", x.err);
	else if (x.m)
		tlog_fail("%s: %s", x.m->name, x.err);
	else
		tlog_fail("%s", x.err);
	ctx_reset(&x);
	step_free(&st);
	return r < 0 && x.interrupted ? -1 : 0;
}

static struct json_object *hello(struct pysess *s)
{
	const struct test *t = s->d->t;
	struct json_object *h = json_object_new_object(), *nodes = json_object_new_array();
	struct json_object *ms = json_object_new_array();
	json_object_object_add(h, "script", json_object_new_string(t->test_script));
	json_object_object_add(h, "file", json_object_new_string(t->file));
	json_object_object_add(h, "interactive", json_object_new_boolean(s->d->interactive));
	json_object_object_add(h, "timeout", json_object_new_int64(t->timeout));
	for (size_t i = 0; i < t->nnodes; i++) {
		struct json_object *n = json_object_new_object(), *v = json_object_new_array();
		json_object_object_add(n, "name", json_object_new_string(t->nodes[i].name));
		for (size_t k = 0; k < t->nodes[i].nvlans; k++)
			json_object_array_add(v, json_object_new_int(t->nodes[i].vlans[k]));
		json_object_object_add(n, "vlans", v);
		json_object_array_add(nodes, n);
	}
	json_object_object_add(h, "nodes", nodes);
	for (size_t i = 0; i < nmethods; i++) {
		struct json_object *m = json_object_new_object();
		json_object_object_add(m, "name", json_object_new_string(methods[i].name));
		json_object_object_add(m, "global", json_object_new_boolean(methods[i].global));
		json_object_array_add(ms, m);
	}
	json_object_object_add(h, "methods", ms);
	return h;
}

/* The i-th argument if it is a string, else NULL. */
static const char *arg_str(const struct py_req *q, size_t i)
{
	struct json_object *v = json_object_array_get_idx(q->args, i);
	return json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

static void push(struct pysess *s, bool subtest, const char *node, const char *msg)
{
	s->nests = reallocarray(s->nests, s->depth + 1, sizeof(*s->nests));
	s->subtest = reallocarray(s->subtest, s->depth + 1, sizeof(*s->subtest));
	if (!s->nests || !s->subtest)
		abort();
	s->subtest[s->depth] = subtest;
	struct nest *n = &s->nests[s->depth++];
	if (subtest) {
		nest_begin(n, NULL, "subtest: %s", msg);
		junit_subtest_begin(msg);
	} else {
		nest_begin(n, node, "%s", msg);
	}
}

/* End the innermost nest; failure (or NULL) is why its block raised. */
static void pop(struct pysess *s, const char *failure)
{
	struct nest *n = &s->nests[--s->depth];
	if (s->subtest[s->depth]) {
		if (failure)
			tlog_fail("%s", failure);
		junit_subtest_end(failure != NULL);
	}
	nest_end(n);
}

static const char *node_name(struct pysess *s, const char *node)
{
	int k = node ? test_node(s->d->t, node) : -1;
	return k >= 0 ? s->d->m[k].name : NULL;
}

/* The front end's own requests; 0 when answered. */
static int session_call(struct pysess *s, const struct py_req *q, struct buf *ans)
{
	const char *m = q->method, *a0 = arg_str(q, 0);
	if (!strcmp(m, "_hello")) {
		py_answer_ok(ans, q->id, hello(s));
		return 0;
	}
	if (!strcmp(m, "_end") && s->depth) {
		pop(s, a0);
		py_answer_ok(ans, q->id, NULL);
		return 0;
	}
	if (!a0)
		return -1;
	if (!strcmp(m, "_log"))
		tlog(node_name(s, q->node), "%s", a0);
	else if (!strcmp(m, "_nest") || !strcmp(m, "_subtest"))
		push(s, m[1] == 's', node_name(s, q->node), a0);
	else if (!strcmp(m, "_fail"))
		tlog_fail("%s", a0);
	else if (!strcmp(m, "_failed")) {
		/* The script's end: the usual two lines, as for a JSON step. */
		const char *node = node_name(s, q->node), *src = arg_str(q, 2);
		struct json_object *line = json_object_array_get_idx(q->args, 1);
		s->d->nfail++;
		tlog_fail("%s%s%s", node ? node : "", node ? ": " : "", a0);
		tlog_fail("  at testScript line %d in %s: %s", json_object_get_int(line),
			  s->d->t->file, src ? src : "");
	} else
		return -1;
	py_answer_ok(ans, q->id, NULL);
	return 0;
}

/* Answer one request line into ans; -1 when the session must end. */
static int serve(struct pysess *s, const char *line, size_t len, struct buf *ans)
{
	struct py_req q;
	char err[256];
	int r = 0;
	if (py_parse(line, len, &q, err, sizeof(err)) < 0)
		py_answer_error(ans, q.id, "ProtocolError", err);
	else if (q.method[0] != '_')
		r = call_method(s, &q, ans);
	else if (session_call(s, &q, ans) < 0)
		py_answer_error(ans, q.id, "ProtocolError", "unknown or malformed front-end request");
	py_req_free(&q);
	return r;
}

/* NixOS's run_tests(): after the script, sync every machine that is up. */
static int sync_all(struct driver *d)
{
	int r = 0;
	for (size_t i = 0; i < d->nm; i++) {
		if (!d->m[i].booted || !d->m[i].connected)
			continue;
		char text[128], err[512];
		snprintf(text, sizeof(text), "{\"call\": \"%s.execute\", \"args\": [\"sync\"]}",
			 d->m[i].name);
		struct json_object *j = json_tokener_parse(text);
		struct step st;
		if (step_parse(d->t, j, "sync", &st, err, sizeof(err)) < 0) {
			json_object_put(j);
			continue;
		}
		st.own = j;
		struct ctx x = { .d = d };
		if (run_call(d, &st, &x) < 0) {
			d->nfail++;
			tlog_fail("%s: %s", d->m[i].name, x.err);
			r = -1;
		}
		ctx_reset(&x);
		step_free(&st);
	}
	return r;
}

/* Serve until Python closes its end; -1 when interrupted (logged). */
static int session(struct pysess *s)
{
	struct buf ans = { 0 };
	struct ctx x = { .d = s->d };
	int r = 0;
	size_t len;
	while (r == 0) {
		int k = read_request(s, &x, &len);
		if (k <= 0) {
			r = k;
			break;
		}
		ans.len = 0;
		r = serve(s, s->in.p, len, &ans);
		buf_consume(&s->in, len + 1);
		if (r == 0)
			r = send_answer(s, &x, &ans);
	}
	if (x.err)
		tlog_fail("%s", x.err);
	ctx_reset(&x);
	buf_free(&ans);
	return r;
}

int py_run(struct driver *d)
{
	struct pysess s = { .d = d, .fd = -1 };
	char err[512];
	if (py_spawn(&s.pid, &s.fd, err, sizeof(err)) < 0) {
		d->nfail++;
		tlog_fail("%s", err);
		return -1;
	}
	int r = session(&s);
	close(s.fd);
	int st = py_reap(s.pid, r < 0);
	/* Blocks an interrupted script left open end here; the interruption's
	 * "!!!" line already failed their testcases. */
	while (s.depth)
		pop(&s, NULL);
	if (r == 0 && st != 0 && d->nfail == 0)
		tlog_fail("the Python testScript's front end exited with status %d", st);
	if (r == 0 && st != 0)
		d->nfail++;
	if (r == 0 && st == 0 && d->nfail == 0 && !d->interactive)
		r = sync_all(d);
	buf_free(&s.in);
	free(s.nests);
	free(s.subtest);
	return r < 0 || st != 0 ? -1 : 0;
}
