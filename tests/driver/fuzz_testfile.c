/* fuzz_testfile.c - libFuzzer target: the test.json loader and the prompt's
 * step syntax must reject any input with one line, never crash or leak. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "testfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[512];
	struct test *t = NULL;
	if (test_parse((const char *)data, size, "fuzz.json", "/", false, &t, err, sizeof(err)) < 0)
		return 0;
	/* A valid test: also feed the input to the line syntax. */
	char *line = strndup((const char *)data, size < 256 ? size : 256);
	struct step s;
	if (step_parse_line(t, line, &s, err, sizeof(err)) == 0)
		step_free(&s);
	free(line);
	testfile_free(t);
	return 0;
}
