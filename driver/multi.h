/* multi.h - several tests in one invocation (driver/multi.c); private to
 * driver/. */
#ifndef DRIVER_MULTI_H
#define DRIVER_MULTI_H

#include <stdbool.h>
#include <stddef.h>

struct test;

struct multi_opts {
	const char **files;   /* the TEST.json files, as given */
	size_t nfiles;
	const char *jobs;     /* --jobs N, or NULL: as the host's CPUs and RAM admit */
	const char *shard;    /* --shard I/N, or NULL: every test */
	const char *junit;    /* --junit FILE (merged), or NULL */
	bool keep_state;
	char **pass;          /* the other options, given to each test's run */
	size_t npass;
};

/* Run the tests, each as its own `microvmtest run`; returns the exit status. */
int multi_run(const struct multi_opts *o);
/* Refuse a test whose nodes ask for more memory than the host has: one
 * line naming the test, returns -1. */
int multi_fits(const struct test *t, const char *file);

#endif
