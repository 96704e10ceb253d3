/* test_options.c - microvm's option parsing: defaults, values, and the one
 * line each bad option gets. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "options.h"

static int parse(struct vm_config *cfg, char *err, size_t errlen, const char **args)
{
	return options_capture(cfg, args, err, errlen);
}

static void test_defaults(void **state)
{
	(void)state;
	struct vm_config c;
	char err[512];
	assert_int_equal(parse(&c, err, sizeof(err), (const char *[]){ "--kernel", "k", NULL }), 0);
	assert_string_equal(c.kernel, "k");
	assert_null(c.initrd);
	assert_int_equal(c.mem_size, 512ULL << 20);
	assert_int_equal(c.ncpus, 1);
	assert_true(c.acpi);
	assert_string_equal(err, "");
}

static void test_values(void **state)
{
	(void)state;
	struct vm_config c;
	char err[512];
	assert_int_equal(parse(&c, err, sizeof(err),
			       (const char *[]){ "--kernel", "k", "--memory", "2G", "--cpus", "8",
						 "--initrd", "i", "--cmdline", "a b", "--no-acpi",
						 NULL }), 0);
	assert_int_equal(c.mem_size, 2ULL << 30);
	assert_int_equal(c.ncpus, 8);
	assert_string_equal(c.initrd, "i");
	assert_string_equal(c.cmdline, "a b");
	assert_false(c.acpi);
	assert_int_equal(parse(&c, err, sizeof(err), (const char *[]){ "--help", NULL }), 1);
}

/* Each bad command line: -EINVAL and exactly one line containing want. */
static void expect_error(const char **args, const char *want)
{
	struct vm_config c;
	char err[512];
	assert_int_equal(parse(&c, err, sizeof(err), args), -EINVAL);
	assert_non_null(strstr(err, want));
	assert_non_null(strchr(err, '\n'));
	assert_ptr_equal(strchr(err, '\n') + 1, err + strlen(err)); /* one line */
}

static void test_errors(void **state)
{
	(void)state;
	expect_error((const char *[]){ "--kernel", "k", "--memory", "0", NULL },
		     "--memory 0: expected a size in MiB");
	expect_error((const char *[]){ "--kernel", "k", "--memory", "-5", NULL },
		     "--memory -5: expected");
	expect_error((const char *[]){ "--kernel", "k", "--memory", "12X", NULL },
		     "--memory 12X: expected");
	expect_error((const char *[]){ "--kernel", "k", "--cpus", "65", NULL },
		     "--cpus 65: expected a number from 1 to 64");
	expect_error((const char *[]){ "--kernel", "k", "--cpus", "", NULL }, "--cpus : expected");
	expect_error((const char *[]){ "--kernel", "k", "--serial", "pty", NULL },
		     "--serial pty: expected stdio, file:PATH or none");
	expect_error((const char *[]){ "--kernel", "k", "--serial", "file:", NULL },
		     "file: needs a path");
	expect_error((const char *[]){ "--kernel", "k", "--frobnicate", NULL },
		     "--frobnicate: unknown option");
	expect_error((const char *[]){ "--kernel", NULL }, "--kernel: expected a value");
	expect_error((const char *[]){ "--memory", "64", NULL }, "--kernel is required");
	expect_error((const char *[]){ "--kernel", "k", "extra", NULL },
		     "extra: unexpected argument");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
