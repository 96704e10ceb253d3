/* timeto - run a command, report when a marker appears on its output and
 * when it exits.
 *   timeto [-a MARKER2]... MARKER CMD [ARGS...]
 * Prints "marker_ms exit_ms status maxrss_kib [marker2_ms...]" on stderr
 * (-1 for a marker never seen); the command's output is discarded. Used by
 * bench/boot. */
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

/* One marker and the time it was first seen (-1: not yet). */
struct mark {
	const char *text;
	size_t len, matched;
	double ms;
};

/* Feed bytes to a marker; byte-wise, so a marker split across reads is found. */
static void scan(struct mark *m, const char *buf, ssize_t n, double start)
{
	for (ssize_t i = 0; i < n && m->ms < 0; i++) {
		m->matched = buf[i] == m->text[m->matched] ? m->matched + 1 : (buf[i] == m->text[0]);
		if (m->matched == m->len)
			m->ms = now_ms() - start;
	}
}

int main(int argc, char **argv)
{
	struct mark marks[8];
	int nmarks = 1, a = 1;
	while (a + 1 < argc && strcmp(argv[a], "-a") == 0) {
		if (nmarks == 8) {
			fprintf(stderr, "timeto: at most 7 -a markers\n");
			return 2;
		}
		marks[nmarks++] = (struct mark){ argv[a + 1], strlen(argv[a + 1]), 0, -1 };
		a += 2;
	}
	if (argc - a < 2 || !argv[a][0]) {
		fprintf(stderr, "usage: timeto [-a MARKER2]... MARKER CMD [ARGS...]\n");
		return 2;
	}
	marks[0] = (struct mark){ argv[a], strlen(argv[a]), 0, -1 };
	int p[2];
	if (pipe(p) < 0)
		return 2;
	double start = now_ms();
	pid_t pid = fork();
	if (pid == 0) {
		dup2(p[1], 1);
		close(p[0]);
		execvp(argv[a + 1], argv + a + 1);
		_exit(127);
	}
	close(p[1]);
	char buf[4096];
	ssize_t n;
	while ((n = read(p[0], buf, sizeof(buf))) > 0)
		for (int i = 0; i < nmarks; i++)
			scan(&marks[i], buf, n, start);
	int st;
	struct rusage ru;
	wait4(pid, &st, 0, &ru);
	double exit_ms = now_ms() - start;
	fprintf(stderr, "%.1f %.1f %d %ld", marks[0].ms, exit_ms,
		WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st), ru.ru_maxrss);
	for (int i = 1; i < nmarks; i++)
		fprintf(stderr, " %.1f", marks[i].ms);
	fputc('\n', stderr);
	return 0;
}
