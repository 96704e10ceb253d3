/* p9xattr.c - the guest's xattr tool for tests/integration/9p (busybox has
 * none): built static on the host, run by the guest from a 9p share.
 *   p9xattr set PATH NAME VALUE | get PATH NAME | list PATH | rm PATH NAME */
#include <stdio.h>
#include <string.h>
#include <sys/xattr.h>

int main(int argc, char **argv)
{
	char buf[4096];
	ssize_t n = -1;
	if (argc == 5 && !strcmp(argv[1], "set"))
		n = setxattr(argv[2], argv[3], argv[4], strlen(argv[4]), 0);
	else if (argc == 4 && !strcmp(argv[1], "rm"))
		n = removexattr(argv[2], argv[3]);
	else if (argc == 4 && !strcmp(argv[1], "get") &&
		 (n = getxattr(argv[2], argv[3], buf, sizeof(buf) - 1)) >= 0)
		printf("%.*s\n", (int)n, buf);
	else if (argc == 3 && !strcmp(argv[1], "list") &&
		 (n = listxattr(argv[2], buf, sizeof(buf))) >= 0)
		for (char *p = buf; p < buf + n; p += strlen(p) + 1)
			printf("%s\n", p);
	if (n < 0)
		perror(argv[1]);
	return n < 0;
}
