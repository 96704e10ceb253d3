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

/* Parse one step; see step_parse(). */
int lstep(const struct test *t, const struct lerr *e, struct json_object *j,
	  const char *path, struct step *s);

#endif
