/* pyproto.c - reading requests from, and writing answers to, the Python
 * front end, one JSON value per line (pyproto.h). Nothing here trusts the
 * line: its size is bounded, it must be exactly one object of the known
 * keys and types, and every failure is a message, never a crash. */
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "pyproto.h"

int py_next_line(const struct buf *in, size_t *len)
{
	size_t n = in->len < PY_LINE_MAX + 1 ? in->len : PY_LINE_MAX + 1;
	const char *nl = n ? memchr(in->p, '\n', n) : NULL;
	if (nl) {
		*len = (size_t)(nl - in->p);
		return 1;
	}
	return in->len > PY_LINE_MAX ? -1 : 0;
}

static int perr(char *err, size_t errlen, const char *msg)
{
	snprintf(err, errlen, "%s", msg);
	return -1;
}

/* The whole line must be one JSON value: json-c alone would stop after
 * the first and ignore the rest. */
static struct json_object *parse_one(const char *line, size_t len, char *err, size_t errlen)
{
	if (memchr(line, 0, len)) {
		perr(err, errlen, "a request holds a NUL byte");
		return NULL;
	}
	struct json_tokener *tok = json_tokener_new();
	struct json_object *j = json_tokener_parse_ex(tok, line, (int)len);
	enum json_tokener_error e = json_tokener_get_error(tok);
	size_t used = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	if (!j || e != json_tokener_success) {
		snprintf(err, errlen, "a request is not JSON: %s",
			 e == json_tokener_continue ? "it ends early" : json_tokener_error_desc(e));
		json_object_put(j);
		return NULL;
	}
	while (used < len && strchr(" \t\r", line[used]))
		used++;
	if (used != len) {
		json_object_put(j);
		perr(err, errlen, "a request has text after its JSON value");
		return NULL;
	}
	return j;
}

static int get_fields(struct py_req *r, char *err, size_t errlen)
{
	json_object_object_foreach(r->root, k, v) {
		enum json_type t = json_object_get_type(v);
		if (!strcmp(k, "id")) {
			if (t != json_type_int || json_object_get_int64(v) < 0)
				return perr(err, errlen, "\"id\" must be an integer >= 0");
			r->id = json_object_get_int64(v);
		} else if (!strcmp(k, "node")) {
			if (t != json_type_string && t != json_type_null)
				return perr(err, errlen, "\"node\" must be a string or null");
			r->node = t == json_type_null ? NULL : json_object_get_string(v);
		} else if (!strcmp(k, "method")) {
			if (t != json_type_string)
				return perr(err, errlen, "\"method\" must be a string");
			r->method = json_object_get_string(v);
		} else if (!strcmp(k, "args")) {
			if (t != json_type_array)
				return perr(err, errlen, "\"args\" must be an array");
			r->args = v;
		} else if (!strcmp(k, "kwargs")) {
			if (t != json_type_object)
				return perr(err, errlen, "\"kwargs\" must be an object");
			r->kwargs = v;
		} else {
			snprintf(err, errlen, "unknown key \"%.40s\" in a request", k);
			return -1;
		}
	}
	return 0;
}

int py_parse(const char *line, size_t len, struct py_req *r, char *err, size_t errlen)
{
	memset(r, 0, sizeof(*r));
	r->id = -1;
	r->root = parse_one(line, len, err, errlen);
	if (!r->root)
		return -1;
	if (!json_object_is_type(r->root, json_type_object))
		return perr(err, errlen, "a request must be a JSON object");
	long long id = -1;
	int rc = get_fields(r, err, errlen);
	/* An answer names the request only when its id was sound. */
	json_object *v;
	if (json_object_object_get_ex(r->root, "id", &v) && json_object_is_type(v, json_type_int) &&
	    json_object_get_int64(v) >= 0)
		id = json_object_get_int64(v);
	r->id = id;
	if (rc < 0)
		return -1;
	if (id < 0)
		return perr(err, errlen, "a request needs an \"id\"");
	if (!r->method || !*r->method || strlen(r->method) > 64)
		return perr(err, errlen, "a request needs a \"method\" (1 to 64 characters)");
	if (r->node && (!*r->node || strlen(r->node) > 63))
		return perr(err, errlen, "\"node\" must be a node name (1 to 63 characters)");
	if (!r->args) {
		r->args = json_object_new_array();
		json_object_object_add(r->root, "args", r->args);
	}
	return 0;
}

void py_req_free(struct py_req *r)
{
	json_object_put(r->root);
	memset(r, 0, sizeof(*r));
}

static void answer(struct buf *out, long long id, const char *key, struct json_object *v)
{
	struct json_object *a = json_object_new_object();
	json_object_object_add(a, "id", id < 0 ? NULL : json_object_new_int64(id));
	json_object_object_add(a, key, v);
	/* json-c escapes control characters, so the answer is one line. */
	buf_adds(out, json_object_to_json_string_ext(a, JSON_C_TO_STRING_PLAIN |
						     JSON_C_TO_STRING_NOSLASHESCAPE));
	buf_add(out, "\n", 1);
	json_object_put(a);
}

void py_answer_ok(struct buf *out, long long id, struct json_object *value)
{
	answer(out, id, "ok", value);
}

void py_answer_error(struct buf *out, long long id, const char *type, const char *message)
{
	struct json_object *e = json_object_new_object();
	json_object_object_add(e, "type", json_object_new_string(type));
	json_object_object_add(e, "message", json_object_new_string(message));
	answer(out, id, "error", e);
}
