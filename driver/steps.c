/* steps.c - validate the steps of a test.json script: which method on which
 * node, positional and keyword arguments against the method table, and the
 * expectations on a result. Also the one-line "node.method args" syntax the
 * interactive prompt accepts, which is turned into the same JSON. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loader.h"

static const char *const expect_keys[] = { "equals", "contains", "not_contains",
					   "matches", "status", NULL };

static const char *ptype_name(enum ptype t)
{
	switch (t) {
	case P_STR: return "a string";
	case P_INT: return "an integer >= 0";
	case P_NUM: return "a number >= 0";
	case P_BOOL: return "true or false";
	case P_STR_NULL: return "a string or null";
	case P_INT_NULL: return "an integer >= 0 or null";
	case P_STRS: return "a string";
	}
	return "a value";
}

static bool type_ok(enum ptype t, struct json_object *v)
{
	enum json_type jt = json_object_get_type(v);
	switch (t) {
	case P_STR:
	case P_STRS: return jt == json_type_string;
	case P_STR_NULL: return jt == json_type_string || jt == json_type_null;
	case P_BOOL: return jt == json_type_boolean;
	case P_INT: return jt == json_type_int && json_object_get_int64(v) >= 0;
	case P_INT_NULL:
		return jt == json_type_null || (jt == json_type_int && json_object_get_int64(v) >= 0);
	case P_NUM:
		return (jt == json_type_int || jt == json_type_double) &&
		       json_object_get_double(v) >= 0;
	}
	return false;
}

/* Check a regular expression compiles (PCRE2, Python-like syntax). */
static int check_regex(const struct lerr *e, const char *path, const char *re, void **code)
{
	int ec;
	PCRE2_SIZE off;
	pcre2_code *c = pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED, PCRE2_MULTILINE,
				      &ec, &off, NULL);
	if (!c) {
		PCRE2_UCHAR msg[160];
		pcre2_get_error_message(ec, msg, sizeof(msg));
		return lbad(e, path, "bad regular expression at offset %zu: %s", (size_t)off,
			    (char *)msg);
	}
	if (code)
		*code = c;
	else
		pcre2_code_free(c);
	return 0;
}

/* Edit distance, for "did you mean". */
static size_t distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > 40 || lb > 40)
		return 99;
	size_t d[41][41];
	for (size_t i = 0; i <= la; i++)
		d[i][0] = i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = j;
	for (size_t i = 1; i <= la; i++)
		for (size_t j = 1; j <= lb; j++) {
			size_t c = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
			size_t x = d[i - 1][j] + 1, y = d[i][j - 1] + 1;
			d[i][j] = c < x ? (c < y ? c : y) : (x < y ? x : y);
		}
	return d[la][lb];
}

static const char *closest_method(const char *name)
{
	const char *best = NULL;
	size_t bd = 3;
	for (size_t i = 0; i < nmethods; i++) {
		size_t d = distance(name, methods[i].name);
		if (d < bd && d < strlen(name)) {
			bd = d;
			best = methods[i].name;
		}
	}
	return best;
}

static int bad_node(const struct test *t, const struct lerr *e, const char *path,
		    const char *node)
{
	char list[300] = "";
	for (size_t i = 0; i < t->nnodes; i++)
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
			 i ? ", " : "", t->nodes[i].name);
	return lbad(e, path, "unknown node \"%s\" (the nodes are %s)", node, list);
}

/* Resolve "node.method" or "method" into c->m and c->node. */
static int resolve_call(const struct test *t, const struct lerr *e, const char *path,
			const char *name, struct call *c)
{
	const char *dot = strchr(name, '.');
	const char *mname = dot ? dot + 1 : name;
	c->node = -1;
	c->m = method_find(mname);
	if (!c->m) {
		const char *near = closest_method(mname);
		return lbad(e, path, "unknown method \"%s\"%s%s%s", mname,
			    near ? " (did you mean " : " (see docs/test-json.md for the list)",
			    near ? near : "", near ? "?)" : "");
	}
	if (c->m->unsupported)
		return lbad(e, path, "%s is not supported by microvmtest: %s", c->m->name,
			    c->m->unsupported);
	if (dot) {
		char node[64];
		size_t n = (size_t)(dot - name);
		if (n >= sizeof(node))
			n = sizeof(node) - 1;
		memcpy(node, name, n);
		node[n] = 0;
		if (c->m->global)
			return lbad(e, path, "%s is a driver global: call it as \"%s\", "
				    "without a node", c->m->name, c->m->name);
		c->node = test_node(t, node);
		if (c->node < 0)
			return bad_node(t, e, path, node);
	} else if (!c->m->global) {
		return lbad(e, path, "%s is a machine method: call it as \"NODE.%s\", e.g. "
			    "\"%s.%s\"", mname, mname, t->nnodes ? t->nodes[0].name : "node1",
			    mname);
	}
	return 0;
}

static int set_arg(const struct lerr *e, const char *path, struct call *c, int i,
		   struct json_object *v, const char *what)
{
	const struct param *p = &c->m->params[i];
	if (c->given[i])
		return lbad(e, path, "argument \"%s\" given twice", p->name);
	if (!type_ok(p->type, v))
		return lbad(e, path, "%s \"%s\" of %s: expected %s, got %s", what, p->name,
			    c->m->name, ptype_name(p->type), jtype(v));
	c->given[i] = true;
	c->argv[i] = v;
	return 0;
}

static int nparams(const struct method *m)
{
	int n = 0;
	while (n < MAX_PARAMS && m->params[n].name)
		n++;
	return n;
}

static int positional(const struct lerr *e, const char *path, struct call *c,
		      struct json_object *args)
{
	int np = nparams(c->m), rest = np;
	for (int i = 0; i < np; i++)
		if (c->m->params[i].type == P_STRS)
			rest = i;
	size_t n = json_object_array_length(args);
	for (size_t k = 0; k < n; k++) {
		struct json_object *v = json_object_array_get_idx(args, k);
		char *ap = path_idx(path, k);
		int r = 0;
		if (rest < np && k >= (size_t)rest) {
			/* The rest of the arguments, like Python's *commands. */
			if (!type_ok(P_STRS, v))
				r = lbad(e, ap, "argument \"%s\" of %s: expected a string, got %s",
					 c->m->params[rest].name, c->m->name, jtype(v));
			if (k == (size_t)rest) {
				c->strs = args;
				c->strs_from = k;
				c->given[rest] = true;
				c->argv[rest] = v;
			}
		} else if (k >= (size_t)np) {
			r = lbad(e, ap, "%s takes %d argument%s, got %zu", c->m->name, np,
				 np == 1 ? "" : "s", n);
		} else {
			r = set_arg(e, ap, c, (int)k, v, "argument");
		}
		free(ap);
		if (r)
			return -1;
	}
	return 0;
}

/* Keyword arguments are keys of the step named like the method's params. */
static int keywords(const struct lerr *e, const char *path, struct call *c,
		    struct json_object *j)
{
	int np = nparams(c->m);
	json_object_object_foreach(j, k, v) {
		if (!strcmp(k, "call") || !strcmp(k, "args") || !strcmp(k, "expect") ||
		    !strcmp(k, "comment"))
			continue;
		char *kp = path_key(path, k);
		int i = 0, r;
		while (i < np && strcmp(c->m->params[i].name, k))
			i++;
		if (i == np) {
			char list[200] = "";
			for (int q = 0; q < np; q++)
				snprintf(list + strlen(list), sizeof(list) - strlen(list), ", %s",
					 c->m->params[q].name);
			r = lbad(e, kp, "unknown key (expected call, args, expect, comment%s)",
				 list);
		} else if (c->m->params[i].type == P_STRS) {
			r = lbad(e, kp, "give \"%s\" in \"args\"", k);
		} else {
			r = set_arg(e, kp, c, i, v, "keyword argument");
		}
		free(kp);
		if (r)
			return -1;
	}
	for (int i = 0; i < np; i++)
		if (c->m->params[i].required && !c->given[i])
			return lbad(e, path, "%s needs the argument \"%s\" (args[%d] or the key "
				    "\"%s\")", c->m->name, c->m->params[i].name, i,
				    c->m->params[i].name);
	return 0;
}

/* A string or an array of strings under key, as a vector. */
static int strings(const struct lerr *e, const char *path, struct json_object *v,
		   const char ***out, size_t *n)
{
	if (json_object_is_type(v, json_type_string)) {
		*out = calloc(1, sizeof(char *));
		(*out)[0] = json_object_get_string(v);
		*n = 1;
		return 0;
	}
	if (!json_object_is_type(v, json_type_array))
		return lbad(e, path, "expected a string or an array of strings, got %s", jtype(v));
	*n = json_object_array_length(v);
	*out = calloc(*n ? *n : 1, sizeof(char *));
	for (size_t i = 0; i < *n; i++) {
		struct json_object *s = json_object_array_get_idx(v, i);
		if (!json_object_is_type(s, json_type_string)) {
			char *p = path_idx(path, i);
			lbad(e, p, "expected a string, got %s", jtype(s));
			free(p);
			return -1;
		}
		(*out)[i] = json_object_get_string(s);
	}
	return 0;
}

static int expect_field(const struct lerr *e, const struct call *c, const char *kp,
			const char *k, struct json_object *v, struct expect *x)
{
	if (!strcmp(k, "contains"))
		return strings(e, kp, v, &x->contains, &x->ncontains);
	if (!strcmp(k, "not_contains"))
		return strings(e, kp, v, &x->not_contains, &x->nnot_contains);
	if (!strcmp(k, "status")) {
		int64_t s = json_object_get_int64(v);
		if (c->m->result != R_STATUS_TEXT)
			return lbad(e, kp, "%s has no exit status to expect (only execute, "
				    "systemctl, start_job and stop_job do)", c->m->name);
		if (!json_object_is_type(v, json_type_int) || s < 0 || s > 255)
			return lbad(e, kp, "expected an exit status from 0 to 255");
		x->has_status = true;
		x->status = (int)s;
		return 0;
	}
	if (!json_object_is_type(v, json_type_string))
		return lbad(e, kp, "expected a string, got %s", jtype(v));
	if (!strcmp(k, "equals"))
		x->equals = json_object_get_string(v);
	else
		x->matches = json_object_get_string(v);
	return x->matches ? check_regex(e, kp, x->matches, &x->re) : 0;
}

static int load_expect(const struct lerr *e, const char *path, const struct call *c,
		       struct json_object *j, struct expect *x)
{
	struct json_object *v;
	if (!json_object_object_get_ex(j, "expect", &v))
		return 0;
	char *p = path_key(path, "expect");
	int r = 0;
	if (c->m->result == R_NONE)
		r = lbad(e, p, "%s returns nothing to check", c->m->name);
	else if (!json_object_is_type(v, json_type_object))
		r = lbad(e, p, "expected an object with equals, contains, not_contains, "
			 "matches or status, got %s", jtype(v));
	else
		r = check_keys(e, v, p, expect_keys);
	x->set = true;
	if (r) {
		free(p);
		return r;
	}
	json_object_object_foreach(v, k, fv) {
		char *kp = path_key(p, k);
		r = expect_field(e, c, kp, k, fv, x);
		free(kp);
		if (r)
			break;
	}
	free(p);
	return r;
}

static int check_call_args(const struct lerr *e, const char *path, struct call *c)
{
	/* Regular expressions are checked now, not when the step runs. */
	for (int i = 0; i < nparams(c->m); i++)
		if (!strcmp(c->m->params[i].name, "regex") && c->given[i]) {
			char *p = path_key(path, "regex");
			int r = check_regex(e, p, json_object_get_string(c->argv[i]), NULL);
			free(p);
			if (r)
				return -1;
		}
	return 0;
}

static int load_call(const struct test *t, const struct lerr *e, struct json_object *j,
		     const char *path, struct step *s)
{
	struct json_object *v, *args;
	json_object_object_get_ex(j, "call", &v);
	char *cp = path_key(path, "call");
	int r = json_object_is_type(v, json_type_string)
		? resolve_call(t, e, cp, json_object_get_string(v), &s->call)
		: lbad(e, cp, "expected a string \"node.method\" or \"method\", got %s", jtype(v));
	free(cp);
	if (r)
		return -1;
	if (json_object_object_get_ex(j, "args", &args)) {
		char *ap = path_key(path, "args");
		r = json_object_is_type(args, json_type_array)
			? positional(e, ap, &s->call, args)
			: lbad(e, ap, "expected an array of arguments, got %s", jtype(args));
		free(ap);
		if (r)
			return -1;
	}
	if (keywords(e, path, &s->call, j) || check_call_args(e, path, &s->call))
		return -1;
	return load_expect(e, path, &s->call, j, &s->expect);
}

static int load_steps(const struct test *t, const struct lerr *e, struct json_object *j,
		      const char *path, struct step *s)
{
	struct json_object *v;
	char *p = path_key(path, "steps");
	int r = 0;
	if (!json_object_object_get_ex(j, "steps", &v))
		r = lbad(e, path, "missing key \"steps\" (the subtest's steps)");
	else if (!json_object_is_type(v, json_type_array))
		r = lbad(e, p, "expected an array of steps, got %s", jtype(v));
	size_t n = r ? 0 : json_object_array_length(v);
	s->steps = calloc(n ? n : 1, sizeof(*s->steps));
	for (size_t i = 0; i < n && !r; i++) {
		char *ip = path_idx(p, i);
		s->nsteps = i + 1;
		r = lstep(t, e, json_object_array_get_idx(v, i), ip, &s->steps[i]);
		free(ip);
	}
	free(p);
	return r;
}

static int load_retry(const struct test *t, const struct lerr *e, struct json_object *j,
		      const char *path, struct step *s)
{
	static const char *const keys[] = { "retry", "timeout", "comment", NULL };
	struct json_object *v;
	if (check_keys(e, j, path, keys))
		return -1;
	s->timeout = 900;
	if (json_object_object_get_ex(j, "timeout", &v)) {
		if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0 ||
		    json_object_get_int64(v) > 1000000) {
			char *p = path_key(path, "timeout");
			lbad(e, p, "expected seconds, an integer from 0 to 1000000");
			free(p);
			return -1;
		}
		s->timeout = (long)json_object_get_int64(v);
	}
	json_object_object_get_ex(j, "retry", &v);
	s->steps = calloc(1, sizeof(*s->steps));
	s->nsteps = 1;
	char *p = path_key(path, "retry");
	int r = lstep(t, e, v, p, s->steps);
	if (!r && s->steps->kind != STEP_CALL)
		r = lbad(e, p, "expected a call step to retry");
	free(p);
	return r;
}

static int load_subtest(const struct test *t, const struct lerr *e, struct json_object *j,
			const char *path, struct step *s)
{
	static const char *const keys[] = { "subtest", "steps", "comment", NULL };
	struct json_object *v;
	json_object_object_get_ex(j, "subtest", &v);
	if (check_keys(e, j, path, keys))
		return -1;
	if (!json_object_is_type(v, json_type_string) || !*json_object_get_string(v)) {
		char *p = path_key(path, "subtest");
		lbad(e, p, "expected the subtest's name, a non-empty string");
		free(p);
		return -1;
	}
	s->name = json_object_get_string(v);
	return load_steps(t, e, j, path, s);
}

static int load_breakpoint(const struct lerr *e, struct json_object *j, const char *path)
{
	static const char *const keys[] = { "breakpoint", "comment", NULL };
	struct json_object *v;
	json_object_object_get_ex(j, "breakpoint", &v);
	if (check_keys(e, j, path, keys))
		return -1;
	if (!json_object_is_type(v, json_type_boolean) || !json_object_get_boolean(v)) {
		char *p = path_key(path, "breakpoint");
		lbad(e, p, "expected true");
		free(p);
		return -1;
	}
	return 0;
}

int lstep(const struct test *t, const struct lerr *e, struct json_object *j,
	  const char *path, struct step *s)
{
	static const char *const kinds[] = { "call", "subtest", "breakpoint", "retry" };
	s->path = strdup(path);
	s->text = json_object_to_json_string_ext(j, JSON_C_TO_STRING_NOSLASHESCAPE);
	if (!json_object_is_type(j, json_type_object))
		return lbad(e, path, "expected a step object ({\"call\": ...}, {\"subtest\": "
			    "...}, {\"retry\": ...} or {\"breakpoint\": true}), got %s", jtype(j));
	int found = -1;
	for (int k = 0; k < 4; k++) {
		if (!json_object_object_get_ex(j, kinds[k], NULL))
			continue;
		if (found >= 0)
			return lbad(e, path, "a step has one of call, subtest, retry, breakpoint; "
				    "this one has both %s and %s", kinds[found], kinds[k]);
		found = k;
	}
	s->kind = found == 1 ? STEP_SUBTEST : found == 2 ? STEP_BREAKPOINT
		: found == 3 ? STEP_RETRY : STEP_CALL;
	switch (found) {
	case 0: return load_call(t, e, j, path, s);
	case 1: return load_subtest(t, e, j, path, s);
	case 2: return load_breakpoint(e, j, path);
	case 3: return load_retry(t, e, j, path, s);
	}
	return lbad(e, path, "expected a step: an object with \"call\", \"subtest\", "
		    "\"retry\" or \"breakpoint\"");
}

int step_parse(const struct test *t, struct json_object *j, const char *path,
	       struct step *s, char *err, size_t errlen)
{
	struct lerr e = { t->file, err, errlen };
	memset(s, 0, sizeof(*s));
	if (lstep(t, &e, j, path, s)) {
		step_free(s);
		return -1;
	}
	return 0;
}

void step_free(struct step *s)
{
	for (size_t i = 0; i < s->nsteps; i++)
		step_free(&s->steps[i]);
	free(s->steps);
	free(s->expect.contains);
	free(s->expect.not_contains);
	if (s->expect.re)
		pcre2_code_free(s->expect.re);
	free(s->path);
	if (s->own)
		json_object_put(s->own);
	memset(s, 0, sizeof(*s));
}
