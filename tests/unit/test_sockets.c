/* test_sockets.c - the socket files of --control socket:PATH and --console
 * socket:PATH: removed on every way out, a stale one replaced, a live one or
 * a file that is no socket left alone with one line. Each case runs in a
 * child process, as microvm would: options are parsed once per process, and
 * what happens at exit is the point. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "device.h"
#include "fakedrv.h"
#include "options.h"

static char path[64];

static int setup(void **state)
{
	static int n;
	(void)state;
	snprintf(path, sizeof(path), "/tmp/microvm-sock-%d-%d", (int)getpid(), n++);
	unlink(path);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(path);
	return 0;
}

static bool exists(void)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

static int sock_at(bool do_listen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	if (do_listen)
		assert_int_equal(listen(fd, 4), 0);
	return fd;
}

/* A socket file left by a microvm that was killed: bound, nobody listening. */
static void make_stale(void)
{
	close(sock_at(false));
	assert_true(exists());
}

static bool can_connect(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	bool ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

/* What a child reports through its exit status. */
enum { OK = 0, EXPECTED_ERROR = 1, WRONG = 2 };

/* Run microvm's option parsing on --kernel k, then extra; in the child,
 * then exit() with what check() says of the result and the error text. */
static int child(const char **extra, int (*check)(int r, const char *err))
{
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		const char *args[16] = { "--kernel", "k" };
		int n = 2;
		while (*extra && n < 15)
			args[n++] = *extra++;
		args[n] = NULL;
		struct vm_config cfg;
		char err[512];
		int r = options_capture(&cfg, args, err, sizeof(err));
		exit(check(r, err)); /* exit, not _exit: atexit handlers run */
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

/* An error in one line containing want. */
static const char *want;
static int one_line_error(int r, const char *err)
{
	const char *nl = strchr(err, '\n');
	bool one = nl && !nl[1];
	return r == -EINVAL && one && strstr(err, want) ? EXPECTED_ERROR : WRONG;
}

static int listens(int r, const char *err)
{
	(void)err;
	return r == 0 && can_connect() ? OK : WRONG;
}

/* A later option is wrong: microvm returns from main with status 1. */
static void test_early_exit_removes_control_socket(void **state)
{
	(void)state;
	const char *extra[] = { "--control", NULL, "--memory", "0", NULL };
	char opt[80];
	snprintf(opt, sizeof(opt), "socket:%s", path);
	extra[1] = opt;
	want = "--memory 0";
	assert_int_equal(child(extra, one_line_error), EXPECTED_ERROR);
	assert_false(exists());
}

static void test_stale_control_socket_is_replaced(void **state)
{
	(void)state;
	make_stale();
	char opt[80];
	snprintf(opt, sizeof(opt), "socket:%s", path);
	const char *extra[] = { "--control", opt, NULL };
	assert_int_equal(child(extra, listens), OK);
	assert_false(exists()); /* and removed at the child's exit */
}

static void test_live_control_socket_is_refused(void **state)
{
	(void)state;
	int live = sock_at(true);
	char opt[80];
	snprintf(opt, sizeof(opt), "socket:%s", path);
	const char *extra[] = { "--control", opt, NULL };
	want = "in use by a running process";
	assert_int_equal(child(extra, one_line_error), EXPECTED_ERROR);
	assert_true(can_connect()); /* still the live one's */
	close(live);
}

static void test_regular_file_at_control_path_is_kept(void **state)
{
	(void)state;
	FILE *f = fopen(path, "w");
	fputs("precious", f);
	fclose(f);
	char opt[80];
	snprintf(opt, sizeof(opt), "socket:%s", path);
	const char *extra[] = { "--control", opt, NULL };
	want = "not a socket";
	assert_int_equal(child(extra, one_line_error), EXPECTED_ERROR);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode) && st.st_size == 8);
}

/* --console listens at device setup; a step after it fails (the kernel
 * does not load, say) and microvm returns from main. */
static int console_setup_then_fail(int r, const char *err)
{
	(void)err;
	if (r != 0)
		return WRONG;
	device_foreach(d) {
		if (strcmp(d->name, "virtio-console"))
			continue;
		struct vm *vm = fake_vm_new_paused(1 << 20);
		if (d->setup(vm) != 0 || !can_connect())
			return WRONG;
		return EXPECTED_ERROR;
	}
	return WRONG;
}

static void test_early_exit_removes_console_socket(void **state)
{
	(void)state;
	char opt[80];
	snprintf(opt, sizeof(opt), "socket:%s", path);
	const char *extra[] = { "--console", opt, NULL };
	assert_int_equal(child(extra, console_setup_then_fail), EXPECTED_ERROR);
	assert_false(exists());
}

static void test_stale_console_socket_is_replaced(void **state)
{
	(void)state;
	make_stale();
	char opt[80];
	snprintf(opt, sizeof(opt), "socket:%s", path);
	const char *extra[] = { "--console", opt, NULL };
	assert_int_equal(child(extra, console_setup_then_fail), EXPECTED_ERROR);
	assert_false(exists());
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_early_exit_removes_control_socket), T(test_stale_control_socket_is_replaced),
		T(test_live_control_socket_is_refused), T(test_regular_file_at_control_path_is_kept),
		T(test_early_exit_removes_console_socket), T(test_stale_console_socket_is_replaced),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
