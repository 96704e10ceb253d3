/* pyspawn.c - finding python3 and the front-end module, running it: once
 * to check a testScript's syntax (`check`, and before `run` boots
 * anything), once to run the script on one end of a socketpair. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pyproto.h"

#define MODULE "microvmtest_driver.py"

/* MICROVMTEST_PYTHON, else python3; searched on PATH. Caller frees. */
char *py_find_python(void)
{
	const char *py = getenv("MICROVMTEST_PYTHON");
	if (!py || !*py)
		py = "python3";
	if (strchr(py, '/'))
		return access(py, X_OK) == 0 ? strdup(py) : NULL;
	const char *path = getenv("PATH");
	char *copy = strdup(path ? path : "/usr/bin:/bin"), *save = NULL, *res = NULL;
	for (char *dir = strtok_r(copy, ":", &save); dir && !res; dir = strtok_r(NULL, ":", &save)) {
		char *f;
		if (asprintf(&f, "%s/%s", *dir ? dir : ".", py) < 0)
			abort();
		if (access(f, X_OK) == 0)
			res = f;
		else
			free(f);
	}
	free(copy);
	return res;
}

/* MICROVMTEST_PYTHON_MODULE, else the installed copy (PREFIX/bin/.. ->
 * PREFIX/share/microvmtest) or the source tree's (build/ARCH/..). */
char *py_find_module(void)
{
	const char *env = getenv("MICROVMTEST_PYTHON_MODULE");
	if (env && *env)
		return access(env, R_OK) == 0 ? strdup(env) : NULL;
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return NULL;
	exe[n] = 0;
	*strrchr(exe, '/') = 0;
	static const char *const rel[] = { "../share/microvmtest/", "../../driver/python/" };
	for (size_t i = 0; i < 2; i++) {
		char *f;
		if (asprintf(&f, "%s/%s%s", exe, rel[i], MODULE) < 0)
			abort();
		if (access(f, R_OK) == 0)
			return f;
		free(f);
	}
	return NULL;
}

/* Both, or one line in err: a test with a testScript needs them. */
static int find_both(char **py, char **mod, char *err, size_t errlen)
{
	*py = py_find_python();
	*mod = py ? py_find_module() : NULL;
	if (!*py)
		snprintf(err, errlen, "$.testScript: a Python testScript needs python3, which is "
			 "not on PATH (or set MICROVMTEST_PYTHON)");
	else if (!*mod)
		snprintf(err, errlen, "$.testScript: cannot find %s next to microvmtest (set "
			 "MICROVMTEST_PYTHON_MODULE)", MODULE);
	if (*py && *mod)
		return 0;
	free(*py);
	free(*mod);
	return -1;
}

static void child_common(pid_t parent)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(127);
	/* Ctrl-C is the engine's: it stops the test and this process with it.
	 * Python leaves an ignored SIGINT alone. */
	signal(SIGINT, SIG_IGN);
	signal(SIGPIPE, SIG_DFL);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

/* Write all of s to fd, then read fd2 to EOF into out. */
static void feed_and_read(int fd, const char *s, int fd2, struct buf *out)
{
	size_t n = strlen(s);
	while (n) {
		ssize_t w = write(fd, s, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		s += w;
		n -= (size_t)w;
	}
	close(fd);
	char tmp[4096];
	ssize_t r;
	while ((r = read(fd2, tmp, sizeof(tmp))) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			break;
		if (out->len < 4096)
			buf_add(out, tmp, (size_t)r);
	}
	close(fd2);
}

int py_check(const struct test *t, char *err, size_t errlen)
{
	char *py, *mod;
	if (find_both(&py, &mod, err, errlen) < 0)
		return -2;
	int in[2], out[2];
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0) {
		snprintf(err, errlen, "$.testScript: pipe: %s", strerror(errno));
		free(py);
		free(mod);
		return -1;
	}
	pid_t parent = getpid(), pid = fork();
	if (pid == 0) {
		child_common(parent);
		if (dup2(in[0], 0) < 0 || dup2(out[1], 1) < 0)
			_exit(127);
		execl(py, py, mod, "--check", (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	struct buf msg = { 0 };
	feed_and_read(in[1], t->test_script, out[0], &msg);
	int st = -1;
	while (pid > 0 && waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	int r = 0;
	if (pid < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		char *nl = msg.p ? strchr(msg.p, '\n') : NULL;
		if (nl)
			*nl = 0;
		snprintf(err, errlen, "$.testScript %s", msg.len ? msg.p
			 : "could not be checked: python3 failed to run the front end");
		r = -1;
	}
	buf_free(&msg);
	free(py);
	free(mod);
	return r;
}

int py_spawn(pid_t *pid, int *fd, char *err, size_t errlen)
{
	char *py, *mod;
	if (find_both(&py, &mod, err, errlen) < 0)
		return -1;
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		snprintf(err, errlen, "socketpair: %s", strerror(errno));
		free(py);
		free(mod);
		return -1;
	}
	pid_t parent = getpid();
	*pid = fork();
	if (*pid == 0) {
		child_common(parent);
		char fdarg[16];
		snprintf(fdarg, sizeof(fdarg), "%d", sv[1]);
		fcntl(sv[1], F_SETFD, 0);
		execl(py, py, mod, "--fd", fdarg, (char *)NULL);
		fprintf(stderr, "microvmtest: cannot run %s: %s\n", py, strerror(errno));
		_exit(127);
	}
	close(sv[1]);
	free(py);
	free(mod);
	if (*pid < 0) {
		close(sv[0]);
		snprintf(err, errlen, "fork: %s", strerror(errno));
		return -1;
	}
	*fd = sv[0];
	fcntl(*fd, F_SETFL, O_NONBLOCK);
	return 0;
}

/* Stop the front end (when the engine gives up on it) and reap it; its
 * exit status, or 128+N for signal N. */
int py_reap(pid_t pid, bool kill_it)
{
	if (kill_it)
		kill(pid, SIGKILL);
	int st = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}
