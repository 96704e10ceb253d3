/* childrun.h - for unit tests that run code in a forked child: its stderr
 * captured in a buffer, and an alarm so a hung child fails the test instead
 * of hanging it. */
#ifndef TEST_CHILDRUN_H
#define TEST_CHILDRUN_H

#include <signal.h>
#include <stdio.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/* Run fn(arg) in a child that exits 0 after fn unless fn exits itself,
 * killed by SIGALRM after secs seconds. Its stderr lands in err (size
 * bytes, NUL-terminated; what does not fit is read and dropped), and its
 * wait status in *status. */
static inline void run_child(void (*fn)(const void *), const void *arg, unsigned secs,
			     int *status, char *err, size_t size)
{
	int p[2];
	assert_int_equal(pipe(p), 0);
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		dup2(p[1], STDERR_FILENO);
		alarm(secs);
		fn(arg);
		_exit(0);
	}
	close(p[1]);
	size_t n = 0;
	ssize_t k;
	char sink[4096];
	while ((k = read(p[0], n < size - 1 ? err + n : sink,
			 n < size - 1 ? size - 1 - n : sizeof(sink))) > 0)
		n += n < size - 1 ? (size_t)k : 0;
	err[n] = 0;
	close(p[0]);
	assert_int_equal(waitpid(pid, status, 0), pid);
}

#endif
