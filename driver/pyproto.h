/* pyproto.h - the JSON-line protocol between the engine and the Python
 * front end (driver/python/microvmtest_driver.py); private to driver/.
 *
 * Python sends one request per line and waits for its answer:
 *   {"id": 7, "node": "server", "method": "succeed", "args": ["true"],
 *    "kwargs": {"timeout": 10}}
 * ("node" null or absent for a global; "args" and "kwargs" optional). The
 * engine answers on one line:
 *   {"id": 7, "ok": VALUE}
 *   {"id": 7, "error": {"type": "RequestedAssertionFailed", "message": "..."}}
 * A request the engine cannot read is answered with type "ProtocolError"
 * (id null when it had none); the session goes on. Methods whose name begins
 * with "_" are the front end's own (logging, subtests), not the table's.
 */
#ifndef DRIVER_PYPROTO_H
#define DRIVER_PYPROTO_H

#include <stddef.h>

#include "driver.h"

struct json_object;

/* The longest request line: a command's text is at most this. */
#define PY_LINE_MAX (16 << 20)

struct py_req {
	struct json_object *root;   /* owns everything below */
	long long id;               /* -1 when the line had none (answer null) */
	const char *node;           /* NULL: a global */
	const char *method;
	struct json_object *args;   /* an array, never NULL */
	struct json_object *kwargs; /* an object, or NULL */
};

/* The first line in in: 1 and *len (the line is in->p[0..*len), its \n at
 * in->p[*len]), 0 when no line is complete yet, -1 when more than
 * PY_LINE_MAX bytes came without a newline. */
int py_next_line(const struct buf *in, size_t *len);
/* Parse one request line (without its \n). -1 with a message in err (and
 * r->id set when the line had a usable id). */
int py_parse(const char *line, size_t len, struct py_req *r, char *err, size_t errlen);
void py_req_free(struct py_req *r);
/* Append one answer line to out. py_answer_ok takes value (may be NULL for
 * null). */
void py_answer_ok(struct buf *out, long long id, struct json_object *value);
void py_answer_error(struct buf *out, long long id, const char *type, const char *message);

/* --- running the front end (driver/pyspawn.c) --------------------------- */
/* python3 (MICROVMTEST_PYTHON) on PATH, the module (MICROVMTEST_PYTHON_MODULE,
 * else found from /proc/self/exe); NULL when missing. Caller frees. */
char *py_find_python(void);
char *py_find_module(void);
/* Start `python3 MODULE --fd N` on a socketpair: our end (non-blocking) in
 * *fd. -1 with one line in err. */
int py_spawn(pid_t *pid, int *fd, char *err, size_t errlen);
/* Reap it (killing it first with kill_it): its exit status, or 128+N. */
int py_reap(pid_t pid, bool kill_it);

#endif
