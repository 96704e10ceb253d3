/* options.h - for unit tests of microvm's options: run vm_options and keep
 * what it printed on stderr, so a test can check the one line an error gets. */
#ifndef TEST_OPTIONS_H
#define TEST_OPTIONS_H

#include <stdio.h>
#include <unistd.h>

#include "vm.h"

/* argv[0] is supplied; args is NULL-terminated. Returns vm_options' result. */
static inline int options_capture(struct vm_config *cfg, const char **args,
				  char *err, size_t errlen)
{
	char *argv[32] = { "microvm" };
	int argc = 1;
	for (; args[argc - 1] && argc < 31; argc++)
		argv[argc] = (char *)args[argc - 1];
	fflush(stderr);
	int saved = dup(2);
	FILE *tmp = tmpfile();
	dup2(fileno(tmp), 2);
	int r = vm_options(cfg, argc, argv);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	rewind(tmp);
	size_t n = fread(err, 1, errlen - 1, tmp);
	err[n] = 0;
	fclose(tmp);
	return r;
}

#endif
