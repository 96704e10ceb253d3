/* test_testfile.c - the test.json loader: a good file and its defaults, and
 * the exact one line each malformed file gets (docs/test-json.md). */
#include <json-c/json.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "testfile.h"

#define NODE "\"nodes\": {\"n1\": {\"kernel\": \"/k\"}}"

static char err[1024];

static struct test *load(const char *text)
{
	struct test *t = NULL;
	err[0] = 0;
	if (test_parse(text, strlen(text), "t.json", "/dir", false, &t, err, sizeof(err)) < 0)
		return NULL;
	return t;
}

/* text must fail with exactly want as its message. */
static void bad(const char *text, const char *want)
{
	struct test *t = load(text);
	if (t)
		testfile_free(t);
	assert_null(t);
	if (strcmp(err, want))
		fail_msg("for %s\n  got:  %s\n  want: %s", text, err, want);
	assert_null(strchr(err, '\n')); /* one line */
}

static void test_good(void **state)
{
	(void)state;
	struct test *t = load("{\"name\": \"x\", \"nodes\": {\"b\": {\"kernel\": \"k\", "
			      "\"memory\": 256, \"cpus\": 2, \"disks\": [\"d.img\", {\"path\": "
			      "\"/abs.img\", \"readonly\": true, \"serial\": \"s1\"}]}, \"a\": "
			      "{\"kernel\": \"/k\"}}, \"script\": [{\"call\": \"start_all\"}, "
			      "{\"call\": \"b.succeed\", \"args\": [\"true\", \"false\"], "
			      "\"timeout\": 5, \"expect\": {\"contains\": [\"a\", \"b\"]}}, "
			      "{\"subtest\": \"s\", \"steps\": [{\"call\": \"a.wait_for_unit\", "
			      "\"args\": [\"u\"]}]}, {\"retry\": {\"call\": \"a.execute\", "
			      "\"args\": [\"x\"], \"expect\": {\"status\": 0}}, \"timeout\": 3}, "
			      "{\"breakpoint\": true}]}");
	assert_non_null(t);
	assert_int_equal(t->timeout, DEFAULT_TEST_TIMEOUT);
	assert_int_equal(t->nnodes, 2);
	/* Sorted and numbered by name, as NixOS does. */
	assert_string_equal(t->nodes[0].name, "a");
	assert_int_equal(t->nodes[0].index, 1);
	assert_string_equal(t->nodes[1].name, "b");
	assert_string_equal(t->nodes[1].kernel, "/dir/k");
	assert_string_equal(t->nodes[1].disks[0].path, "/dir/d.img");
	assert_string_equal(t->nodes[1].disks[1].path, "/abs.img");
	assert_true(t->nodes[1].disks[1].readonly);
	assert_int_equal(t->nodes[1].memory, 256);
	assert_int_equal(t->nsteps, 5);
	const struct call *c = &t->steps[1].call;
	assert_string_equal(c->m->name, "succeed");
	assert_int_equal(c->node, 1);
	assert_int_equal(call_nstrs(c), 2);
	assert_string_equal(call_strs(c, 1), "false");
	assert_int_equal(call_int(c, 1), 5);
	assert_int_equal(t->steps[1].expect.ncontains, 2);
	assert_int_equal(t->steps[2].kind, STEP_SUBTEST);
	/* Defaults of an unset keyword argument. */
	const struct call *w = &t->steps[2].steps[0].call;
	assert_int_equal(call_int(w, 2), 900);
	assert_null(call_str(w, 1));
	assert_int_equal(t->steps[3].kind, STEP_RETRY);
	assert_int_equal(t->steps[3].timeout, 3);
	testfile_free(t);
}

static void test_machine_alias(void **state)
{
	(void)state;
	struct test *t = load("{\"name\": \"x\", " NODE ", \"script\": [{\"call\": "
			      "\"machine.succeed\", \"args\": [\"true\"]}]}");
	assert_non_null(t);
	assert_int_equal(t->steps[0].call.node, 0);
	testfile_free(t);
}

static void test_json_errors(void **state)
{
	(void)state;
	bad("", "t.json: line 1: invalid JSON: unexpected end of file");
	bad("{\"name\": }", "t.json: line 1, column 10: invalid JSON: unexpected character");
	bad("{}\n{}", "t.json: line 2, column 1: invalid JSON: unexpected character");
	bad("{\"name\": \"x\",}", "t.json: line 1, column 14: invalid JSON: unexpected character");
	bad("{\"name\": \"x\" // no comments\n}",
	    "t.json: line 1, column 14: invalid JSON: object value separator ',' expected");
	bad("[]", "t.json: $: expected an object with name, nodes and script, got an array");
}

/* A Python testScript is kept as written, checked by python3 later. */
static void test_python_script(void **state)
{
	(void)state;
	struct test *t = load("{\"name\": \"x\", " NODE ", \"testScript\": "
			      "\"machine.succeed('true')\\n\"}");
	assert_non_null(t);
	assert_string_equal(t->test_script, "machine.succeed('true')\n");
	assert_int_equal(t->nsteps, 0);
	testfile_free(t);
}

static void test_top_errors(void **state)
{
	(void)state;
	bad("{\"nodes\": {}}", "t.json: $: missing key \"name\" (the test's name)");
	bad("{\"name\": \"x\", \"script\": []}",
	    "t.json: $: missing key \"nodes\" (an object of node name -> node)");
	bad("{\"name\": \"x\", " NODE "}", "t.json: $: missing key \"script\" (an array of steps) "
	    "or \"testScript\" (Python)");
	bad("{\"name\": \"x\", " NODE ", \"script\": [], \"testScript\": \"\"}",
	    "t.json: $: give either \"script\" (steps) or \"testScript\" (Python), not both");
	bad("{\"name\": \"x\", " NODE ", \"testScript\": []}",
	    "t.json: $.testScript: expected a string of Python source, got an array");
	bad("{\"name\": 3}", "t.json: $.name: expected a string, got an integer");
	bad("{\"name\": \"x\", \"timeout\": \"1\"}",
	    "t.json: $.timeout: expected an integer from 1 to 2147483647, got \"1\"");
	bad("{\"name\": \"x\", \"nodez\": 1}",
	    "t.json: $.nodez: unknown key (expected one of name, timeout, nodes, script, "
	    "testScript, description)");
	bad("{\"name\": \"x\", \"nodes\": {}, \"script\": []}",
	    "t.json: $.nodes: expected at least one node");
	bad("{\"name\": \"x\", \"nodes\": [], \"script\": []}",
	    "t.json: $.nodes: expected an object mapping node names to nodes, got an array");
	bad("{\"name\": \"x\", " NODE ", \"script\": {}}",
	    "t.json: $.script: expected an array of steps, got an object");
}

static void test_node_errors(void **state)
{
	(void)state;
	bad("{\"name\": \"x\", \"nodes\": {\"n1\": {}}, \"script\": []}",
	    "t.json: $.nodes.n1: missing key \"kernel\" (the guest kernel file) or "
	    "\"start_script\"");
	bad("{\"name\": \"x\", \"nodes\": {\"a.b\": {\"kernel\": \"k\"}}, \"script\": []}",
	    "t.json: $.nodes.a.b: node names are 1 to 63 letters, digits, '_' or '-'");
	bad("{\"name\": \"x\", \"nodes\": {\"n1\": {\"kernel\": \"k\", \"memory\": 1}}, "
	    "\"script\": []}",
	    "t.json: $.nodes.n1.memory: expected an integer from 16 to 1048576, got 1");
	bad("{\"name\": \"x\", \"nodes\": {\"n1\": {\"kernel\": \"k\", \"memroy\": 1}}, "
	    "\"script\": []}",
	    "t.json: $.nodes.n1.memroy: unknown key (expected one of kernel, initrd, cmdline, "
	    "memory, cpus, disks, shares, vlans, forwards, user_net, start_script, snapshot)");
	bad("{\"name\": \"x\", \"nodes\": {\"n1\": {\"kernel\": \"k\", \"disks\": [1]}}, "
	    "\"script\": []}",
	    "t.json: $.nodes.n1.disks[0]: expected a file name or an object {\"path\", "
	    "\"readonly\", \"serial\"}, got an integer");
	bad("{\"name\": \"x\", \"nodes\": {\"n1\": {\"kernel\": \"k\", \"shares\": [{\"path\": "
	    "\"/\"}]}}, \"script\": []}", "t.json: $.nodes.n1.shares[0]: missing key \"tag\"");
	bad("{\"name\": \"x\", \"nodes\": {\"n1\": {\"kernel\": \"k\", \"vlans\": [300]}}, "
	    "\"script\": []}", "t.json: $.nodes.n1.vlans[0]: expected a vlan number from 0 to 255");
	bad("{\"name\": \"x\", \"nodes\": {\"n1\": {\"kernel\": \"k\", \"forwards\": "
	    "[{\"host_port\": 8080}]}}, \"script\": []}",
	    "t.json: $.nodes.n1.forwards[0]: missing key \"guest_port\"");
}

/* A start_script node: the script owns what microvm boots. */
static void test_start_script(void **state)
{
	(void)state;
	struct test *t = load("{\"name\": \"x\", \"nodes\": {\"n1\": {\"start_script\": "
			      "\"run-n1\", \"vlans\": [1]}}, \"script\": []}");
	assert_non_null(t);
	assert_string_equal(t->nodes[0].start_script, "/dir/run-n1");
	assert_null(t->nodes[0].kernel);
	assert_int_equal(t->nodes[0].nvlans, 1);
	testfile_free(t);
	bad("{\"name\": \"x\", \"nodes\": {\"n1\": {\"start_script\": \"s\", \"kernel\": "
	    "\"k\"}}, \"script\": []}",
	    "t.json: $.nodes.n1: give either \"start_script\" or \"kernel\", not both (the "
	    "script chooses the kernel, initrd, cmdline, memory and cpus)");
	bad("{\"name\": \"x\", \"nodes\": {\"n1\": {\"start_script\": \"s\", \"memory\": "
	    "1024}}, \"script\": []}",
	    "t.json: $.nodes.n1: give either \"start_script\" or \"memory\", not both (the "
	    "script chooses the kernel, initrd, cmdline, memory and cpus)");
	bad("{\"name\": \"x\", \"nodes\": {\"n1\": {\"start_script\": 1}}, \"script\": []}",
	    "t.json: $.nodes.n1.start_script: expected a string, got an integer");
}

/* NixOS's driverConfiguration (nixcfg.c): text must fail with want. */
static void nix_bad(const char *text, const char *want)
{
	struct test *t = NULL;
	err[0] = 0;
	int r = nixcfg_parse(text, strlen(text), "c.json", "/dir", false, &t, err, sizeof(err));
	if (t)
		testfile_free(t);
	assert_int_equal(r, -1);
	if (strcmp(err, want))
		fail_msg("for %s\n  got:  %s\n  want: %s", text, err, want);
}

static void test_nixcfg(void **state)
{
	(void)state;
	char script[] = "/tmp/test_nixcfg.XXXXXX", text[512];
	int fd = mkstemp(script);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "start_all()\n", 12), 12);
	close(fd);
	snprintf(text, sizeof(text), "{\"vms\": {\"b\": {\"name\": \"b\", \"start_script\": "
		 "\"/s/run-b-vm\"}, \"a\": {\"name\": \"a\", \"start_script\": \"run-a-vm\", "
		 "\"vlans\": [2]}}, \"containers\": {}, \"vlans\": [1, 2], \"global_timeout\": 60, "
		 "\"enable_ssh_backdoor\": false, \"test_script\": \"%s\", \"new\": 1}", script);
	struct test *t = NULL;
	assert_int_equal(nixcfg_parse(text, strlen(text), "c.json", "/dir", false, &t, err,
				      sizeof(err)), 0);
	assert_int_equal(t->nnodes, 2);
	assert_string_equal(t->nodes[0].name, "a");
	assert_string_equal(t->nodes[0].start_script, "/dir/run-a-vm");
	assert_int_equal(t->nodes[0].vlans[0], 2);
	assert_int_equal(t->nodes[1].index, 2);
	assert_int_equal(t->nodes[1].nvlans, 1); /* NixOS's default: vlan 1 */
	assert_true(t->nodes[1].user_net);
	assert_int_equal(t->timeout, 60);
	assert_string_equal(t->test_script, "start_all()\n");
	testfile_free(t);
	unlink(script);
	nix_bad("[]", "c.json: $: expected an object with vms, vlans, global_timeout and "
		"test_script (NixOS's driverConfiguration), got an array");
	nix_bad("{\"vms\": {\"a\": {\"name\": \"a\"}}}",
		"c.json: $.vms.a: missing key \"start_script\" (the program that starts the node)");
	nix_bad("{\"vms\": {\"a\": {\"start_script\": \"s\"}}}",
		"c.json: $: missing key \"test_script\" (the file of the Python testScript)");
	nix_bad("{\"vms\": {\"a\": {\"name\": \"a b\", \"start_script\": \"s\"}}}",
		"c.json: $.vms.a: name \"a b\": node names are 1 to 63 letters, digits, '_' or '-'");
	nix_bad("{\"vms\": {}, \"vlans\": [1, \"2\"]}",
		"c.json: $.vlans[1]: expected a vlan number from 0 to 255");
	nix_bad("{\"vms\": {\"a\": {\"start_script\": \"s\", \"vlans\": [256]}}}",
		"c.json: $.vms.a.vlans[0]: expected a vlan number from 0 to 255");
	nix_bad("{\"vms\": {\"a\": []}}",
		"c.json: $.vms.a: expected an object {\"name\", \"start_script\"}, got an array");
	nix_bad("{\"vms\": {}, \"containers\": {\"c\": {}}}",
		"c.json: $.containers: systemd-nspawn containers are not supported by microvmtest "
		"(only \"vms\")");
	nix_bad("{\"vms\": {}, \"enable_ssh_backdoor\": 1}",
		"c.json: $.enable_ssh_backdoor: expected true or false, got an integer");
	nix_bad("{\"vms\": {\"a\": {\"start_script\": \"s\"}}, \"test_script\": \"/nonexistent\"}",
		"c.json: $.test_script: file \"/nonexistent\": No such file or directory");
	nix_bad("{\"vms\": ", "c.json: line 1: invalid JSON: unexpected end of file");
}

static void test_missing_kernel_file(void **state)
{
	(void)state;
	struct test *t = NULL;
	const char *text = "{\"name\": \"x\", \"nodes\": {\"n1\": {\"kernel\": \"nope\"}}, "
			   "\"script\": []}";
	assert_int_equal(test_parse(text, strlen(text), "t.json", "/nonexistent", true, &t, err,
				    sizeof(err)), -1);
	assert_string_equal(err, "t.json: $.nodes.n1.kernel: file \"/nonexistent/nope\": "
				 "No such file or directory");
}

#define S(steps) "{\"name\": \"x\", \"nodes\": {\"n1\": {\"kernel\": \"k\"}, \"n2\": " \
		 "{\"kernel\": \"k\"}}, \"script\": [" steps "]}"

static void test_step_errors(void **state)
{
	(void)state;
	bad(S("1"), "t.json: $.script[0]: expected a step object ({\"call\": ...}, {\"subtest\": "
		    "...}, {\"retry\": ...} or {\"breakpoint\": true}), got an integer");
	bad(S("{}"), "t.json: $.script[0]: expected a step: an object with \"call\", "
		     "\"subtest\", \"retry\" or \"breakpoint\"");
	bad(S("{\"call\": \"n1.succed\"}"),
	    "t.json: $.script[0].call: unknown method \"succed\" (did you mean succeed?)");
	bad(S("{\"call\": \"n3.succeed\"}"),
	    "t.json: $.script[0].call: unknown node \"n3\" (the nodes are n1, n2)");
	bad(S("{\"call\": \"succeed\"}"),
	    "t.json: $.script[0].call: succeed is a machine method: call it as "
	    "\"NODE.succeed\", e.g. \"n1.succeed\"");
	bad(S("{\"call\": \"n1.start_all\"}"),
	    "t.json: $.script[0].call: start_all is a driver global: call it as \"start_all\", "
	    "without a node");
	bad(S("{\"call\": \"n1.screenshot\", \"args\": [\"x\"]}"),
	    "t.json: $.script[0].call: screenshot is not supported by microvmtest: needs a "
	    "screen: microvm has no display");
	bad(S("{\"call\": \"n1.succeed\"}"),
	    "t.json: $.script[0]: succeed needs the argument \"commands\" (args[0] or the key "
	    "\"commands\")");
	bad(S("{\"call\": \"n1.succeed\", \"args\": [\"true\", 3]}"),
	    "t.json: $.script[0].args[1]: argument \"commands\" of succeed: expected a string, "
	    "got an integer");
	bad(S("{\"call\": \"n1.wait_for_unit\", \"args\": [\"u\", null, 1, 2]}"),
	    "t.json: $.script[0].args[3]: wait_for_unit takes 3 arguments, got 4");
	bad(S("{\"call\": \"n1.wait_for_unit\", \"args\": [\"u\"], \"timeout\": \"5\"}"),
	    "t.json: $.script[0].timeout: keyword argument \"timeout\" of wait_for_unit: "
	    "expected an integer >= 0, got a string");
	bad(S("{\"call\": \"n1.wait_for_unit\", \"args\": [\"u\"], \"unit\": \"v\"}"),
	    "t.json: $.script[0].unit: argument \"unit\" given twice");
	bad(S("{\"call\": \"n1.wait_for_unit\", \"args\": [\"u\"], \"timout\": 5}"),
	    "t.json: $.script[0].timout: unknown key (expected call, args, expect, comment, "
	    "unit, user, timeout)");
	bad(S("{\"call\": \"n1.wait_for_console_text\", \"args\": [\"(\"]}"),
	    "t.json: $.script[0].regex: bad regular expression at offset 1: missing closing "
	    "parenthesis");
}

static void test_expect_errors(void **state)
{
	(void)state;
	bad(S("{\"call\": \"n1.wait_for_unit\", \"args\": [\"u\"], \"expect\": {}}"),
	    "t.json: $.script[0].expect: wait_for_unit returns nothing to check");
	bad(S("{\"call\": \"n1.succeed\", \"args\": [\"x\"], \"expect\": {\"status\": 0}}"),
	    "t.json: $.script[0].expect.status: succeed has no exit status to expect (only "
	    "execute, systemctl, start_job and stop_job do)");
	bad(S("{\"call\": \"n1.succeed\", \"args\": [\"x\"], \"expect\": {\"contain\": \"a\"}}"),
	    "t.json: $.script[0].expect.contain: unknown key (expected one of equals, contains, "
	    "not_contains, matches, status)");
	bad(S("{\"call\": \"n1.succeed\", \"args\": [\"x\"], \"expect\": {\"contains\": [1]}}"),
	    "t.json: $.script[0].expect.contains[0]: expected a string, got an integer");
	bad(S("{\"call\": \"n1.succeed\", \"args\": [\"x\"], \"expect\": {\"matches\": \"[\"}}"),
	    "t.json: $.script[0].expect.matches: bad regular expression at offset 1: missing "
	    "terminating ] for character class");
}

static void test_block_errors(void **state)
{
	(void)state;
	bad(S("{\"subtest\": \"\", \"steps\": []}"),
	    "t.json: $.script[0].subtest: expected the subtest's name, a non-empty string");
	bad(S("{\"subtest\": \"s\"}"), "t.json: $.script[0]: missing key \"steps\" (the "
				       "subtest's steps)");
	bad(S("{\"subtest\": \"s\", \"steps\": [{\"call\": \"x\"}]}"),
	    "t.json: $.script[0].steps[0].call: unknown method \"x\" (see docs/test-json.md for "
	    "the list)");
	bad(S("{\"breakpoint\": false}"), "t.json: $.script[0].breakpoint: expected true");
	bad(S("{\"call\": \"start_all\", \"subtest\": \"s\"}"),
	    "t.json: $.script[0]: a step has one of call, subtest, retry, breakpoint; this one "
	    "has both call and subtest");
	bad(S("{\"retry\": {\"subtest\": \"s\", \"steps\": []}}"),
	    "t.json: $.script[0].retry: expected a call step to retry");
}

static void test_line_syntax(void **state)
{
	(void)state;
	struct test *t = load(S(""));
	assert_non_null(t);
	struct step s;
	assert_int_equal(step_parse_line(t, "n2.succeed 'echo \"a b\"' x\\ y timeout=7", &s, err,
					 sizeof(err)), 0);
	assert_int_equal(s.call.node, 1);
	assert_int_equal(call_nstrs(&s.call), 2);
	assert_string_equal(call_strs(&s.call, 0), "echo \"a b\"");
	assert_string_equal(call_strs(&s.call, 1), "x y");
	assert_int_equal(call_int(&s.call, 1), 7);
	step_free(&s);
	assert_int_equal(step_parse_line(t, "n1.wait_for_open_port 80 addr=::1", &s, err,
					 sizeof(err)), 0);
	assert_int_equal(call_int(&s.call, 0), 80);
	assert_string_equal(call_str(&s.call, 1), "::1");
	step_free(&s);
	assert_int_equal(step_parse_line(t, "n1.succeed 'open", &s, err, sizeof(err)), -1);
	assert_string_equal(err, "<input>: unterminated quote");
	assert_int_equal(step_parse_line(t, "n1.nope", &s, err, sizeof(err)), -1);
	testfile_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_machine_alias),
		cmocka_unit_test(test_json_errors),
		cmocka_unit_test(test_top_errors),
		cmocka_unit_test(test_node_errors),
		cmocka_unit_test(test_missing_kernel_file),
		cmocka_unit_test(test_start_script),
		cmocka_unit_test(test_nixcfg),
		cmocka_unit_test(test_step_errors),
		cmocka_unit_test(test_python_script),
		cmocka_unit_test(test_expect_errors),
		cmocka_unit_test(test_block_errors),
		cmocka_unit_test(test_line_syntax),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
