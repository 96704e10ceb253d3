/* loader.h - helpers shared by the JSON loaders (testfile.c, steps.c,
 * nixcfg.c; in loadutil.c); private to driver/. */
#ifndef DRIVER_LOADER_H
#define DRIVER_LOADER_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

#include "testfile.h"

/* Where an error is reported: the file and a buffer for the one line. */
struct lerr {
	const char *file;
	char *buf;
	size_t len;
};

/* Write "FILE: PATH: MSG" into e->buf; returns -1. */
int lbad(const struct lerr *e, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Child paths: "$.a" + key, "$.a" + index. Caller frees. */
char *path_key(const char *path, const char *key);
char *path_idx(const char *path, size_t i);
/* Name of a JSON value's type as a user would say it ("a string"). */
const char *jtype(struct json_object *j);
/* Check that every key of object j is in the NULL-terminated list keys. */
int check_keys(const struct lerr *e, struct json_object *j, const char *path,
	       const char *const *keys);

/* Typed field getters (loadutil.c): an absent key leaves *out alone and
 * returns 0; a value of another type (or out of [lo, hi]) is -1 with the
 * message in e. */
int lget_str(const struct lerr *e, struct json_object *o, const char *path, const char *key,
	     const char **out);
int lget_int(const struct lerr *e, struct json_object *o, const char *path, const char *key,
	     long lo, long hi, long *out);
int lget_bool(const struct lerr *e, struct json_object *o, const char *path, const char *key,
	      bool *out);
/* An array under key (absent: *n = 0). */
int lget_array(const struct lerr *e, struct json_object *o, const char *path, const char *key,
	       struct json_object **arr, size_t *n);
/* Resolve p against dir (NULL: as it is) into *out; with check, it must
 * exist and be a directory (want_dir) or not. */
int lfile_path(const struct lerr *e, const char *dir, const char *p, const char *path,
	       bool check, bool want_dir, char **out);

/* Node names: 1 to 63 letters, digits, '_' or '-'. */
bool node_name_ok(const char *s);
/* Sort t's nodes by name and number them from 1, as NixOS numbers nodes. */
void nodes_number(struct test *t);
/* A loader's input file, at most 16 MiB, NUL-terminated after *len bytes;
 * NULL with errno set (EFBIG). */
char *read_all(const char *file, size_t *len);

/* Strict JSON (no comments, trailing commas or text after it), or -1 with
 * "FILE: line L, column C: invalid JSON: ..." in e. */
int lparse(const struct lerr *e, const char *text, size_t len, struct json_object **out);

/* Load node key's value v (at path) into nc, the slot lnodes() gives it. */
typedef int lnode_fn(const struct lerr *e, struct test *t, const char *key,
		     struct json_object *v, const char *path, struct node_conf *nc, void *arg);
/* The object j at path mapping node names to nodes (what: how the message
 * for another type names them): at least one, each loaded by load(..., arg)
 * into t->nodes, which are then sorted and numbered (nodes_number). */
int lnodes(const struct lerr *e, struct test *t, struct json_object *j, const char *path,
	   const char *what, lnode_fn *load, void *arg);

/* A loader's top level: fill t from t->root. */
typedef int ltop_fn(const struct lerr *e, struct test *t, bool check);
/* A struct test from the JSON text of file (dir: the directory its file
 * names are relative to, or NULL): strict JSON without NUL bytes, then
 * load_top; -1 with the one-line message in err. */
int lload_text(const char *text, size_t len, const char *file, const char *dir, bool check,
	       ltop_fn *load_top, struct test **out, char *err, size_t errlen);
/* The same for the file itself (at most 16 MiB; bound_note follows "larger
 * than 16 MiB" in the message), relative names against its directory. */
int lload_file(const char *file, bool check, ltop_fn *load_top, const char *bound_note,
	       struct test **out, char *err, size_t errlen);

/* Parse one step; see step_parse(). */
int lstep(const struct test *t, const struct lerr *e, struct json_object *j,
	  const char *path, struct step *s);

#endif
