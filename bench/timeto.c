/* timeto - run a command, report when a marker appears on its output and
 * when it exits.
 *   timeto MARKER CMD [ARGS...]
 * Prints "marker_ms exit_ms status maxrss_kib" on stderr (marker_ms -1 when
 * never seen); the command's output is discarded. Used by bench/boot. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: timeto MARKER CMD [ARGS...]\n");
		return 2;
	}
	const char *marker = argv[1];
	size_t mlen = strlen(marker), matched = 0;
	int p[2];
	if (pipe(p) < 0)
		return 2;
	double start = now_ms(), marker_ms = -1;
	pid_t pid = fork();
	if (pid == 0) {
		dup2(p[1], 1);
		close(p[0]);
		execvp(argv[2], argv + 2);
		_exit(127);
	}
	close(p[1]);
	char buf[4096];
	ssize_t n;
	while ((n = read(p[0], buf, sizeof(buf))) > 0) {
		/* Byte-wise match so a marker split across reads is found. */
		for (ssize_t i = 0; i < n && marker_ms < 0; i++) {
			matched = buf[i] == marker[matched] ? matched + 1 : (buf[i] == marker[0]);
			if (matched == mlen)
				marker_ms = now_ms() - start;
		}
	}
	int st;
	struct rusage ru;
	wait4(pid, &st, 0, &ru);
	double exit_ms = now_ms() - start;
	fprintf(stderr, "%.1f %.1f %d %ld\n", marker_ms, exit_ms,
		WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st), ru.ru_maxrss);
	return 0;
}
