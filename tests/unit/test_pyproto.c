/* test_pyproto.c - the JSON-line protocol with the Python front end
 * (driver/pyproto.c): requests as Python sends them, answers as Python
 * reads them, and every hostile or truncated line getting a message, not a
 * crash or a misread. */
#include <json-c/json.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "pyproto.h"

static char err[256];

static int parse(const char *line, struct py_req *r)
{
	err[0] = 0;
	return py_parse(line, strlen(line), r, err, sizeof(err));
}

static void test_request(void **state)
{
	(void)state;
	struct py_req r;
	assert_int_equal(parse("{\"id\": 7, \"node\": \"server\", \"method\": \"succeed\", "
			       "\"args\": [\"echo \\u00e9\\n\"], \"kwargs\": {\"timeout\": 10}}", &r), 0);
	assert_int_equal(r.id, 7);
	assert_string_equal(r.node, "server");
	assert_string_equal(r.method, "succeed");
	assert_string_equal(json_object_get_string(json_object_array_get_idx(r.args, 0)),
			    "echo \xc3\xa9\n");
	assert_non_null(r.kwargs);
	py_req_free(&r);
	/* A global, no args: args is an empty array, node and kwargs absent. */
	assert_int_equal(parse("{\"id\": 0, \"node\": null, \"method\": \"start_all\"}", &r), 0);
	assert_null(r.node);
	assert_null(r.kwargs);
	assert_int_equal(json_object_array_length(r.args), 0);
	py_req_free(&r);
}

/* line must be refused with want in the message; id as the answer's. */
static void refused(const char *line, const char *want, long long id)
{
	struct py_req r;
	if (parse(line, &r) == 0)
		fail_msg("accepted: %s", line);
	if (!strstr(err, want))
		fail_msg("for %s\n  got:  %s\n  want: %s", line, err, want);
	assert_int_equal(r.id, id);
	py_req_free(&r);
}

static void test_hostile(void **state)
{
	(void)state;
	refused("", "not JSON: it ends early", -1);
	refused("{\"id\": 1, \"method\": \"succeed\", \"args\": [\"tru", "it ends early", -1);
	refused("{\"id\": 1, \"method\": \"x\"} {\"id\": 2}", "text after its JSON value", -1);
	refused("[1, 2]", "must be a JSON object", -1);
	refused("\"succeed\"", "must be a JSON object", -1);
	refused("{\"method\": \"succeed\"}", "needs an \"id\"", -1);
	refused("{\"id\": -3, \"method\": \"succeed\"}", "\"id\" must be an integer >= 0", -1);
	refused("{\"id\": \"1\", \"method\": \"succeed\"}", "\"id\" must be an integer", -1);
	refused("{\"id\": 4}", "needs a \"method\"", 4);
	refused("{\"id\": 4, \"method\": \"\"}", "needs a \"method\"", 4);
	refused("{\"id\": 4, \"method\": 3}", "\"method\" must be a string", 4);
	refused("{\"id\": 5, \"method\": \"succeed\", \"args\": {}}", "\"args\" must be an array", 5);
	refused("{\"id\": 5, \"method\": \"succeed\", \"kwargs\": []}", "\"kwargs\" must be an object", 5);
	refused("{\"id\": 5, \"method\": \"succeed\", \"node\": 1}", "\"node\" must be a string", 5);
	refused("{\"id\": 5, \"method\": \"succeed\", \"node\": \"\"}", "\"node\" must be a node name", 5);
	refused("{\"id\": 6, \"method\": \"succeed\", \"evil\": 1}", "unknown key \"evil\"", 6);
	char deep[4096] = "{\"id\": 8, \"method\": \"x\", \"args\": ";
	for (int i = 0; i < 1000; i++)
		strcat(deep, "[");
	refused(deep, "not JSON", -1);
	/* A NUL inside the line: json-c would stop there and see a whole value. */
	struct py_req r;
	static const char nul[] = "{\"id\": 9, \"method\": \"x\"}\0garbage";
	assert_int_equal(py_parse(nul, sizeof(nul) - 1, &r, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "NUL"));
	py_req_free(&r);
}

static void test_lines(void **state)
{
	(void)state;
	struct buf in = { 0 };
	size_t len;
	assert_int_equal(py_next_line(&in, &len), 0);
	buf_adds(&in, "{\"id\": 1");
	assert_int_equal(py_next_line(&in, &len), 0); /* truncated: wait for more */
	buf_adds(&in, ", \"method\": \"x\"}\n{\"id\"");
	assert_int_equal(py_next_line(&in, &len), 1);
	assert_int_equal(len, strlen("{\"id\": 1, \"method\": \"x\"}"));
	buf_consume(&in, len + 1);
	assert_int_equal(py_next_line(&in, &len), 0);
	/* More than PY_LINE_MAX without a newline is refused, not kept. */
	in.len = 0;
	buf_reserve(&in, PY_LINE_MAX + 2);
	memset(in.p, 'x', PY_LINE_MAX + 1);
	in.len = PY_LINE_MAX + 1;
	assert_int_equal(py_next_line(&in, &len), -1);
	in.p[PY_LINE_MAX] = '\n';
	assert_int_equal(py_next_line(&in, &len), 1);
	assert_int_equal(len, PY_LINE_MAX);
	buf_free(&in);
}

/* An answer is one line of JSON that reads back to what was sent. */
static struct json_object *read_back(const struct buf *b)
{
	assert_true(b->len > 0 && b->p[b->len - 1] == '\n');
	assert_ptr_equal(memchr(b->p, '\n', b->len), b->p + b->len - 1);
	struct json_object *j = json_tokener_parse(b->p);
	assert_non_null(j);
	return j;
}

static void test_answers(void **state)
{
	(void)state;
	struct buf b = { 0 };
	static const char out[] = "line 1\nline 2\t\x01\"\\ \0after nul";
	py_answer_ok(&b, 3, json_object_new_string_len(out, sizeof(out) - 1));
	struct json_object *j = read_back(&b), *v;
	assert_true(json_object_object_get_ex(j, "id", &v));
	assert_int_equal(json_object_get_int(v), 3);
	assert_true(json_object_object_get_ex(j, "ok", &v));
	assert_int_equal(json_object_get_string_len(v), sizeof(out) - 1);
	assert_memory_equal(json_object_get_string(v), out, sizeof(out) - 1);
	json_object_put(j);

	b.len = 0;
	py_answer_ok(&b, 4, NULL);
	assert_string_equal(b.p, "{\"id\":4,\"ok\":null}\n");
	b.len = 0;
	py_answer_error(&b, -1, "ProtocolError", "a request is not JSON:\nbad");
	j = read_back(&b);
	assert_true(json_object_object_get_ex(j, "id", &v));
	assert_null(v);
	assert_true(json_object_object_get_ex(j, "error", &v));
	assert_string_equal(json_object_get_string(json_object_object_get(v, "type")),
			    "ProtocolError");
	assert_string_equal(json_object_get_string(json_object_object_get(v, "message")),
			    "a request is not JSON:\nbad");
	json_object_put(j);
	buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request),
		cmocka_unit_test(test_hostile),
		cmocka_unit_test(test_lines),
		cmocka_unit_test(test_answers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
