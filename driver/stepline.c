/* stepline.c - the prompt's short step syntax:
 *     node1.succeed "curl -sf localhost:8000" timeout=10
 * Words are split like a shell's (quotes, backslashes); KEY=VALUE words
 * whose KEY is a parameter of the method are keyword arguments. The words
 * become the JSON step {"call": ..., "args": [...], KEY: VALUE}, validated
 * like any step of a test.json. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loader.h"

/* Split line into words; returns the count, -1 on an open quote. */
static int words(const char *line, char ***out)
{
	char **w = NULL;
	int n = 0;
	const char *p = line;
	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == '\n')
			p++;
		if (!*p)
			break;
		char *word = calloc(strlen(p) + 1, 1), *o = word;
		if (!word)
			abort(); /* out of memory, as everywhere in the driver */
		char q = 0;
		for (; *p && (q || (*p != ' ' && *p != '\t' && *p != '\n')); p++) {
			if (q == '\'' && *p == '\'')
				q = 0;
			else if (q == '\'')
				*o++ = *p;
			else if (*p == '\\' && p[1])
				*o++ = *++p;
			else if (q == '"' && *p == '"')
				q = 0;
			else if (!q && (*p == '\'' || *p == '"'))
				q = *p;
			else
				*o++ = *p;
		}
		char **more = reallocarray(w, (size_t)n + 1, sizeof(char *));
		if (!more)
			abort();
		w = more;
		w[n++] = word;
		if (q) {
			*out = w;
			return -(n + 1);
		}
	}
	*out = w;
	return n;
}

/* A word as the JSON value a parameter of type t wants. */
static struct json_object *value(enum ptype t, const char *s)
{
	char *end;
	if (!strcmp(s, "null") && (t == P_STR_NULL || t == P_INT_NULL))
		return NULL;
	if (t == P_BOOL && (!strcmp(s, "true") || !strcmp(s, "false")))
		return json_object_new_boolean(!strcmp(s, "true"));
	if (t == P_INT || t == P_INT_NULL) {
		long long v = strtoll(s, &end, 10);
		if (*s && !*end)
			return json_object_new_int64(v);
	}
	if (t == P_NUM) {
		double v = strtod(s, &end);
		if (*s && !*end)
			return json_object_new_double(v);
	}
	return json_object_new_string(s);
}

static int param_index(const struct method *m, const char *name, size_t len)
{
	for (int i = 0; i < MAX_PARAMS && m->params[i].name; i++)
		if (strlen(m->params[i].name) == len && !strncmp(m->params[i].name, name, len))
			return i;
	return -1;
}

static struct json_object *build(const struct method *m, char **w, int n)
{
	struct json_object *j = json_object_new_object(), *args = json_object_new_array();
	json_object_object_add(j, "call", json_object_new_string(w[0]));
	int pos = 0;
	for (int k = 1; k < n; k++) {
		char *eq = strchr(w[k], '=');
		int i = m && eq ? param_index(m, w[k], (size_t)(eq - w[k])) : -1;
		if (i >= 0 && m->params[i].type != P_STRS) {
			*eq = 0;
			json_object_object_add(j, w[k], value(m->params[i].type, eq + 1));
			continue;
		}
		enum ptype t = P_STR;
		if (m && pos < MAX_PARAMS && m->params[pos].name)
			t = m->params[pos].type;
		if (m && t == P_STRS)
			pos--; /* stays on the rest-of-args parameter */
		json_object_array_add(args, value(t, w[k]));
		pos++;
	}
	json_object_object_add(j, "args", args);
	return j;
}

int step_parse_line(const struct test *t, const char *line, struct step *s,
		    char *err, size_t errlen)
{
	struct lerr e = { "<input>", err, errlen };
	memset(s, 0, sizeof(*s));
	char **w;
	int n = words(line, &w), r = -1;
	if (n < 0) {
		n = -n - 1;
		lbad(&e, NULL, "unterminated quote");
	} else if (n == 0) {
		lbad(&e, NULL, "empty step");
	} else {
		const char *dot = strchr(w[0], '.');
		struct json_object *j = build(method_find(dot ? dot + 1 : w[0]), w, n);
		r = step_parse(t, j, "$", s, err, errlen);
		if (r == 0)
			s->own = j;
		else
			json_object_put(j);
	}
	for (int i = 0; i < n; i++)
		free(w[i]);
	free(w);
	return r;
}
