/* loader.h - helpers shared by the test.json loader files (testfile.c,
 * steps.c); private to driver/. */
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

/* Parse one step; see step_parse(). */
int lstep(const struct test *t, const struct lerr *e, struct json_object *j,
	  const char *path, struct step *s);

#endif
