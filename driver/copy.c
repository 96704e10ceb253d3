/* copy.c - copy_from_host and copy_from_machine, files and directories.
 *
 * As NixOS does, through the "shared" 9p share (the test's RUN_DIR/shared,
 * /tmp/shared in the guest) when the guest has it mounted: the host copies
 * into it and the guest copies out with `cp -r`, or the other way round.
 * Guests without the mount (the tiny test guest) get the backdoor instead:
 * data to the guest follows the command line and is read by `head -c N`
 * (which never reads past its count): one round trip, and no MAX_ARG_STRLEN
 * limit; data from the guest is the command's output, which the protocol
 * returns byte for byte. Directories travel as tar there. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "api.h"

/* Paths on the host resolve against the test.json's directory. */
static char *host_path(struct ctx *x, const char *p)
{
	char *r;
	if (p[0] == '/' || !x->d->t->dir)
		return strdup(p);
	if (asprintf(&r, "%s/%s", x->d->t->dir, p) < 0)
		abort();
	return r;
}

/* "dir" and "name" of a path (dir "." or "/" when there is no other). */
static void split(const char *path, char **dir, char **name)
{
	const char *slash = strrchr(path, '/');
	*name = strdup(slash ? slash + 1 : path);
	if (!slash)
		*dir = strdup(".");
	else if (slash == path)
		*dir = strdup("/");
	else
		*dir = strndup(path, (size_t)(slash - path));
}

/* Run a command in the guest with in[0..n) on its stdin (base64 on the
 * wire), failing with the output logged on a non-zero status. */
static int guest_in(struct ctx *x, const char *cmd, const void *in, size_t n,
		    struct buf *out)
{
	struct buf b64 = { 0 }, c = { 0 };
	b64_encode(&b64, in, n);
	buf_printf(&c, "head -c %zu | base64 -d | { %s; }", b64.len, cmd);
	int st, r = bd_execute_in(x, c.p, -1, true, true, &st, out, b64.p, b64.len);
	if (r == 0 && st != 0) {
		api_log_output(x, out);
		r = ctx_fail(x, "%s: exit code %d in the guest", cmd, st);
	}
	buf_free(&b64);
	buf_free(&c);
	return r;
}

/* tar on the host: create (out gets the archive) or extract (from in). */
static int host_tar(struct ctx *x, char *const argv[], const struct buf *in, struct buf *out)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return ctx_fail(x, "pipe: %s", strerror(errno));
	pid_t pid = fork();
	if (pid == 0) {
		dup2(p[in ? 0 : 1], in ? 0 : 1);
		execvp("tar", argv);
		_exit(127);
	}
	close(p[in ? 0 : 1]);
	int fd = p[in ? 1 : 0];
	char tmp[65536];
	ssize_t k = 0;
	for (size_t off = 0; in && off < in->len && k >= 0; off += (size_t)(k > 0 ? k : 0))
		if ((k = write(fd, in->p + off, in->len - off)) < 0 && errno == EINTR)
			k = 0;
	while (!in && ((k = read(fd, tmp, sizeof(tmp))) > 0 || (k < 0 && errno == EINTR)))
		if (k > 0)
			buf_add(out, tmp, (size_t)k);
	close(fd);
	int st = 0;
	while (pid > 0 && waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (pid < 0 || !WIFEXITED(st) || WEXITSTATUS(st))
		return ctx_fail(x, "tar on the host failed (%s)", argv[1]);
	return 0;
}

static int read_file(struct ctx *x, const char *path, struct buf *b)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ctx_fail(x, "copy_from_host: %s: %s", path, strerror(errno));
	char tmp[65536];
	ssize_t k;
	while ((k = read(fd, tmp, sizeof(tmp))) > 0 || (k < 0 && errno == EINTR))
		if (k > 0)
			buf_add(b, tmp, (size_t)k);
	close(fd);
	return k < 0 ? ctx_fail(x, "copy_from_host: %s: %s", path, strerror(errno)) : 0;
}

static int to_guest_file(struct ctx *x, const char *src, mode_t mode, const char *target)
{
	struct buf data = { 0 }, c = { 0 }, out = { 0 };
	char *dir, *name;
	split(target, &dir, &name);
	buf_adds(&c, "mkdir -p ");
	shquote(&c, dir);
	buf_adds(&c, " && cat > ");
	shquote(&c, target);
	buf_printf(&c, " && chmod %o ", (unsigned)(mode & 07777));
	shquote(&c, target);
	int r = read_file(x, src, &data);
	if (r == 0)
		r = guest_in(x, c.p, data.p, data.len, &out);
	buf_free(&data);
	buf_free(&c);
	buf_free(&out);
	free(dir);
	free(name);
	return r;
}

/* A directory: cp -r semantics in the guest, as NixOS's copy_from_host. */
static int to_guest_dir(struct ctx *x, const char *src, const char *target)
{
	struct buf tar = { 0 }, c = { 0 }, out = { 0 };
	char *dir, *name, *tdir, *tname;
	split(src, &dir, &name);
	split(target, &tdir, &tname);
	char *argv[] = { "tar", "-c", "-C", dir, "-f", "-", name, NULL };
	int r = host_tar(x, argv, NULL, &tar);
	buf_adds(&c, "t=$(mktemp -d); if tar -x -C \"$t\" && mkdir -p ");
	shquote(&c, tdir);
	buf_adds(&c, " && cp -r \"$t\"/");
	shquote(&c, name);
	buf_add(&c, " ", 1);
	shquote(&c, target);
	buf_adds(&c, "; then r=0; else r=1; fi; rm -rf \"$t\"; exit $r");
	if (r == 0)
		r = guest_in(x, c.p, tar.p, tar.len, &out);
	buf_free(&tar);
	buf_free(&c);
	buf_free(&out);
	free(dir);
	free(name);
	free(tdir);
	free(tname);
	return r;
}

/* The guest has /tmp/shared mounted from the "shared" share. */
static bool guest_has_shared(struct ctx *x)
{
	struct buf out = { 0 };
	int st = 1;
	if (x->d->has_share &&
	    bd_execute(x, "grep -q ' /tmp/shared 9p ' /proc/mounts", -1, true, true, &st, &out))
		st = 1;
	buf_free(&out);
	return x->d->has_share && st == 0;
}

/* cp -a on the host. */
static int host_cp(struct ctx *x, const char *src, const char *dst)
{
	pid_t pid = fork();
	if (pid == 0) {
		execlp("cp", "cp", "-a", "--", src, dst, (char *)NULL);
		_exit(127);
	}
	int st = 0;
	while (pid > 0 && waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (pid < 0 || !WIFEXITED(st) || WEXITSTATUS(st))
		return ctx_fail(x, "cp -a %s %s failed on the host", src, dst);
	return 0;
}

/* A fresh directory under RUN_DIR/shared; *guest gets its guest path. */
static char *shared_tmp(struct ctx *x, char **guest)
{
	char *dir;
	if (asprintf(&dir, "%s/shared/copy.XXXXXX", x->d->run_dir) < 0)
		abort();
	if (!mkdtemp(dir)) {
		ctx_fail(x, "cannot create a directory in %s/shared: %s", x->d->run_dir,
			 strerror(errno));
		free(dir);
		return NULL;
	}
	chmod(dir, 0777); /* any guest user may copy into it */
	if (asprintf(guest, "/tmp/shared/%s", strrchr(dir, '/') + 1) < 0)
		abort();
	return dir;
}

/* Run one guest command, failing on a non-zero status. */
static int guest_run(struct ctx *x, const char *what, struct buf *c)
{
	struct buf out = { 0 };
	int st, r = bd_execute(x, c->p, -1, true, true, &st, &out);
	if (r == 0 && st != 0) {
		api_log_output(x, &out);
		r = ctx_fail(x, "%s: `%s` failed in the guest (exit code %d)", what, c->p, st);
	}
	buf_free(&out);
	return r;
}

static int to_guest_shared(struct ctx *x, const char *src, const char *target)
{
	char *gdir, *hdir = shared_tmp(x, &gdir), *dir, *name;
	if (!hdir)
		return -1;
	split(src, &dir, &name);
	struct buf c = { 0 };
	int r = host_cp(x, src, hdir);
	char *tdir, *tname;
	split(target, &tdir, &tname);
	buf_adds(&c, "mkdir -p ");
	shquote(&c, tdir);
	buf_printf(&c, " && cp -r %s/", gdir);
	shquote(&c, name);
	buf_add(&c, " ", 1);
	shquote(&c, target);
	if (r == 0)
		r = guest_run(x, "copy_from_host", &c);
	rm_tree(hdir);
	buf_free(&c);
	free(hdir);
	free(gdir);
	free(dir);
	free(name);
	free(tdir);
	free(tname);
	return r;
}

int m_copy_from_host(struct ctx *x)
{
	char *src = host_path(x, call_str(x->c, 0));
	const char *target = call_str(x->c, 1);
	struct nest n;
	nest_begin(&n, x->m->name, "copying %s to %s", src, target);
	struct stat st;
	int r;
	if (stat(src, &st) < 0)
		r = ctx_fail(x, "copy_from_host: %s: %s", src, strerror(errno));
	else if (guest_has_shared(x))
		r = to_guest_shared(x, src, target);
	else if (S_ISDIR(st.st_mode))
		r = to_guest_dir(x, src, target);
	else
		r = to_guest_file(x, src, st.st_mode, target);
	nest_end(&n);
	free(src);
	return r;
}

static int write_host(struct ctx *x, const char *path, const struct buf *b)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return ctx_fail(x, "copy_from_machine: %s: %s", path, strerror(errno));
	size_t off = 0;
	while (off < b->len) {
		ssize_t w = write(fd, b->p + off, b->len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			close(fd);
			return ctx_fail(x, "copy_from_machine: %s: %s", path, strerror(errno));
		}
		off += (size_t)w;
	}
	return close(fd) < 0 ? ctx_fail(x, "copy_from_machine: %s: %s", path, strerror(errno))
			     : 0;
}

static int mkdirs(char *path)
{
	for (char *p = path + 1; *p; p++)
		if (*p == '/') {
			*p = 0;
			int r = mkdir(path, 0755);
			*p = '/';
			if (r < 0 && errno != EEXIST)
				return -1;
		}
	return mkdir(path, 0755) < 0 && errno != EEXIST ? -1 : 0;
}

/* Run cmd in the guest; its output is the data. */
static int from_guest(struct ctx *x, const char *what, const char *q1, const char *q2,
		      struct buf *data)
{
	struct buf c = { 0 };
	buf_adds(&c, what);
	shquote(&c, q1);
	if (q2) {
		buf_add(&c, " ", 1);
		shquote(&c, q2);
	}
	int st, r = bd_execute(x, c.p, -1, true, true, &st, data);
	if (r == 0 && st != 0)
		r = ctx_fail(x, "copy_from_machine: `%s` failed in the guest (exit code %d)", c.p,
			     st);
	buf_free(&c);
	return r;
}

/* The guest copies src into the shared directory, the host takes it to dir. */
static int from_guest_shared(struct ctx *x, const char *src, const char *dir, const char *name)
{
	char *gdir, *hdir = shared_tmp(x, &gdir), *hsrc;
	if (!hdir)
		return -1;
	if (asprintf(&hsrc, "%s/%s", hdir, name) < 0)
		abort();
	struct buf c = { 0 };
	buf_adds(&c, "cp -r ");
	shquote(&c, src);
	buf_printf(&c, " %s/", gdir);
	int r = guest_run(x, "copy_from_machine", &c);
	if (r == 0 && mkdirs((char *)dir) < 0)
		r = ctx_fail(x, "copy_from_machine: %s: %s", dir, strerror(errno));
	if (r == 0)
		r = host_cp(x, hsrc, dir);
	rm_tree(hdir);
	buf_free(&c);
	free(hsrc);
	free(hdir);
	free(gdir);
	return r;
}

/* copy_from_machine(source, target_dir): into OUT_DIR/target_dir/. */
int m_copy_from_machine(struct ctx *x)
{
	const char *src = call_str(x->c, 0), *tdir = call_str(x->c, 1);
	char *sdir, *name, *dir, *dst;
	split(src, &sdir, &name);
	if (asprintf(&dir, "%s%s%s", x->d->out_dir, *tdir ? "/" : "", tdir) < 0 ||
	    asprintf(&dst, "%s/%s", dir, name) < 0)
		abort();
	struct nest n;
	nest_begin(&n, x->m->name, "copying %s from the machine to %s", src, dst);
	struct buf data = { 0 }, q = { 0 };
	int st, r = 0;
	bool is_dir = false;
	if (!*name) {
		r = ctx_fail(x, "copy_from_machine: %s: expected a file name", src);
	} else if (guest_has_shared(x)) {
		r = from_guest_shared(x, src, dir, name);
		goto out;
	} else {
		buf_adds(&q, "test -d ");
		shquote(&q, src);
		r = bd_execute(x, q.p, -1, true, true, &st, &data);
		is_dir = r == 0 && st == 0;
		data.len = 0;
	}
	if (r == 0)
		r = is_dir ? from_guest(x, "tar -c -f - -C ", sdir, name, &data)
			   : from_guest(x, "cat ", src, NULL, &data);
	if (r == 0 && mkdirs(dir) < 0)
		r = ctx_fail(x, "copy_from_machine: %s: %s", dir, strerror(errno));
	char *argv[] = { "tar", "-x", "-C", dir, "-f", "-", NULL };
	if (r == 0)
		r = is_dir ? host_tar(x, argv, &data, NULL) : write_host(x, dst, &data);
out:
	nest_end(&n);
	buf_free(&data);
	buf_free(&q);
	free(sdir);
	free(name);
	free(dir);
	free(dst);
	return r;
}
