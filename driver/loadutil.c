/* loadutil.c - what the JSON loaders (testfile.c, steps.c, nixcfg.c) share:
 * the one-line error "FILE: $.path: what was expected", JSON paths, typed
 * getters, file names resolved against the file's directory, the nodes
 * object, and reading and parsing the file into a struct test. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "loader.h"

int lbad(const struct lerr *e, const char *path, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (path)
		snprintf(e->buf, e->len, "%s: %s: %s", e->file, path, msg);
	else
		snprintf(e->buf, e->len, "%s: %s", e->file, msg);
	return -1;
}

char *path_key(const char *path, const char *key)
{
	char *p;
	if (asprintf(&p, "%s.%s", path, key) < 0)
		abort();
	return p;
}

char *path_idx(const char *path, size_t i)
{
	char *p;
	if (asprintf(&p, "%s[%zu]", path, i) < 0)
		abort();
	return p;
}

const char *jtype(struct json_object *j)
{
	switch (json_object_get_type(j)) {
	case json_type_null: return "null";
	case json_type_boolean: return "a boolean";
	case json_type_double: return "a number";
	case json_type_int: return "an integer";
	case json_type_object: return "an object";
	case json_type_array: return "an array";
	case json_type_string: return "a string";
	}
	return "a value";
}

int check_keys(const struct lerr *e, struct json_object *j, const char *path,
	       const char *const *keys)
{
	json_object_object_foreach(j, k, v) {
		(void)v;
		bool ok = false;
		for (size_t i = 0; keys[i] && !ok; i++)
			ok = !strcmp(k, keys[i]);
		if (ok)
			continue;
		char list[400] = "";
		for (size_t i = 0; keys[i]; i++)
			snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
				 i ? ", " : "", keys[i]);
		char *p = path_key(path, k);
		lbad(e, p, "unknown key (expected one of %s)", list);
		free(p);
		return -1;
	}
	return 0;
}

/* Typed field getters: absent keys leave *out alone and return 0. */
int lget_str(const struct lerr *e, struct json_object *o, const char *path,
		   const char *key, const char **out)
{
	struct json_object *v;
	if (!json_object_object_get_ex(o, key, &v))
		return 0;
	if (!json_object_is_type(v, json_type_string)) {
		char *p = path_key(path, key);
		lbad(e, p, "expected a string, got %s", jtype(v));
		free(p);
		return -1;
	}
	*out = json_object_get_string(v);
	return 0;
}

int lget_int(const struct lerr *e, struct json_object *o, const char *path,
		   const char *key, long lo, long hi, long *out)
{
	struct json_object *v;
	if (!json_object_object_get_ex(o, key, &v))
		return 0;
	int64_t x = json_object_get_int64(v);
	if (!json_object_is_type(v, json_type_int) || x < lo || x > hi) {
		char *p = path_key(path, key);
		lbad(e, p, "expected an integer from %ld to %ld, got %s", lo, hi,
		     json_object_to_json_string_ext(v, JSON_C_TO_STRING_NOSLASHESCAPE));
		free(p);
		return -1;
	}
	*out = (long)x;
	return 0;
}

int lget_bool(const struct lerr *e, struct json_object *o, const char *path,
		    const char *key, bool *out)
{
	struct json_object *v;
	if (!json_object_object_get_ex(o, key, &v))
		return 0;
	if (!json_object_is_type(v, json_type_boolean)) {
		char *p = path_key(path, key);
		lbad(e, p, "expected true or false, got %s", jtype(v));
		free(p);
		return -1;
	}
	*out = json_object_get_boolean(v);
	return 0;
}

/* An array under key (absent: *n = 0). */
int lget_array(const struct lerr *e, struct json_object *o, const char *path,
		     const char *key, struct json_object **arr, size_t *n)
{
	*n = 0;
	if (!json_object_object_get_ex(o, key, arr))
		return 0;
	if (!json_object_is_type(*arr, json_type_array)) {
		char *p = path_key(path, key);
		lbad(e, p, "expected an array, got %s", jtype(*arr));
		free(p);
		return -1;
	}
	*n = json_object_array_length(*arr);
	return 0;
}

/* Resolve p against dir; check it exists when asked. */
int lfile_path(const struct lerr *e, const char *dir, const char *p,
		     const char *path, bool check, bool want_dir, char **out)
{
	if (!*p)
		return lbad(e, path, "expected a file name, got an empty string");
	if (p[0] == '/' || !dir)
		*out = strdup(p);
	else if (asprintf(out, "%s/%s", dir, p) < 0)
		abort();
	if (!check)
		return 0;
	struct stat st;
	if (stat(*out, &st) < 0)
		return lbad(e, path, "%s \"%s\": %s", want_dir ? "directory" : "file",
			    *out, strerror(errno));
	if (want_dir != !!S_ISDIR(st.st_mode))
		return lbad(e, path, "\"%s\" is %sa directory, expected %s", *out,
			    want_dir ? "not " : "", want_dir ? "a directory" : "a file");
	return 0;
}


int lnodes(const struct lerr *e, struct test *t, struct json_object *j, const char *path,
	   const char *what, lnode_fn *load, void *arg)
{
	if (!json_object_is_type(j, json_type_object))
		return lbad(e, path, "expected an object mapping node names to %s, got %s", what,
			    jtype(j));
	size_t n = json_object_object_length(j);
	if (n == 0)
		return lbad(e, path, "expected at least one node");
	t->nodes = calloc(n, sizeof(*t->nodes));
	json_object_object_foreach(j, key, v) {
		char *p = path_key(path, key);
		int r = load(e, t, key, v, p, &t->nodes[t->nnodes++], arg);
		free(p);
		if (r)
			return -1;
	}
	nodes_number(t);
	return 0;
}

/* A loader's input is small: the bound keeps a FIFO or /dev/zero named by
 * mistake from taking the host's memory. */
#define LOAD_FILE_MAX (16 << 20)

/* The file's bytes, NUL-terminated, or NULL with errno set (EFBIG past
 * LOAD_FILE_MAX). */
char *read_all(const char *file, size_t *len)
{
	FILE *f = fopen(file, "rb");
	if (!f)
		return NULL;
	size_t cap = 4096, n = 0, r;
	char *b = malloc(cap);
	int e = b ? 0 : ENOMEM;
	while (!e && (r = fread(b + n, 1, cap - n, f)) > 0) {
		n += r;
		if (n > LOAD_FILE_MAX)
			e = EFBIG;
		else if (n == cap) {
			char *more = realloc(b, cap * 2);
			if (!more) {
				e = ENOMEM;
				break;
			}
			b = more;
			cap *= 2;
		}
	}
	if (!e && ferror(f))
		e = errno ? errno : EIO;
	fclose(f);
	if (e) {
		free(b);
		errno = e;
		return NULL;
	}
	b[n] = 0; /* n < cap: a full buffer was grown before the next read */
	*len = n;
	return b;
}

int lload_text(const char *text, size_t len, const char *file, const char *dir, bool check,
	       ltop_fn *load_top, struct test **out, char *err, size_t errlen)
{
	struct lerr e = { file, err, errlen };
	struct test *t = calloc(1, sizeof(*t));
	t->file = strdup(file);
	t->dir = dir ? strdup(dir) : NULL;
	t->timeout = DEFAULT_TEST_TIMEOUT;
	int r = memchr(text, 0, len) ? lbad(&e, NULL, "invalid JSON: the file contains a NUL byte")
				      : lparse(&e, text, len, &t->root);
	if (r || load_top(&e, t, check)) {
		testfile_free(t);
		return -1;
	}
	*out = t;
	return 0;
}

int lload_file(const char *file, bool check, ltop_fn *load_top, const char *bound_note,
	       struct test **out, char *err, size_t errlen)
{
	struct lerr e = { file, err, errlen };
	size_t len;
	char *text = read_all(file, &len);
	if (!text && errno == EFBIG)
		return lbad(&e, NULL, "cannot read: larger than %d MiB%s", LOAD_FILE_MAX >> 20,
			    bound_note);
	if (!text)
		return lbad(&e, NULL, "cannot read: %s", strerror(errno));
	char *abs = realpath(file, NULL);
	char *slash = abs ? strrchr(abs, '/') : NULL;
	if (slash)
		*(slash == abs ? slash + 1 : slash) = 0;
	int r = lload_text(text, len, file, abs, check, load_top, out, err, errlen);
	free(abs);
	free(text);
	return r;
}
