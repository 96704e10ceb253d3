/* multi.c - several tests in one invocation: `run A.json B.json ...
 * [--jobs N] [--shard I/N] [--junit FILE]`.
 *
 * Each test runs as its own `microvmtest run FILE` child, so a test that
 * crashes or hits a fatal error takes no other down and the one-test driver
 * (one thread, its global JUnit collector) stays as it is. Each child has
 * its own process group (Ctrl-C reaches this process only, which passes the
 * signal on once), its own TMPDIR under ours (a child killed outright
 * leaves its state directory there, removed with ours) and dies with us
 * (PR_SET_PDEATHSIG: SIGTERM, so it still stops its microvms). Its stdout
 * and stderr come through one pipe, logged line by line as "[NAME] line". */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "driver.h"
#include "multi.h"

/* microvm's defaults, for a node that does not say. */
#define NODE_MEMORY_MIB 512
#define NODE_CPUS 1
/* A longer line is passed on in pieces. */
#define LINE_MAX_BYTES 65536

struct job {
	const char *file;
	struct test *t;
	long mem, cpus;  /* its nodes', in all */
	char *tmp;       /* its TMPDIR (and JUnit report) under ours */
	pid_t pid;       /* running while > 0 */
	int fd;          /* its output, -1 once closed */
	struct buf part; /* a line not finished yet */
	double t0, secs;
	int status;      /* its wait status, once done */
	bool done;
};

static volatile sig_atomic_t stop_sig, stop_count;

static void on_stop(int sig)
{
	stop_sig = sig;
	stop_count++;
}

/* "MemTotal:", "MemAvailable:" of /proc/meminfo in MiB; -1 when missing. */
static long meminfo_mib(const char *key)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[256];
	long kb = -1;
	size_t n = strlen(key);
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, key, n) && sscanf(line + n, "%ld", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb < 0 ? -1 : kb / 1024;
}

static void test_needs(const struct test *t, long *mem, long *cpus)
{
	*mem = *cpus = 0;
	for (size_t i = 0; i < t->nnodes; i++) {
		*mem += t->nodes[i].memory ? t->nodes[i].memory : NODE_MEMORY_MIB;
		*cpus += t->nodes[i].cpus ? t->nodes[i].cpus : NODE_CPUS;
	}
}

int multi_fits(const struct test *t, const char *file)
{
	long mem, cpus, total = meminfo_mib("MemTotal:");
	test_needs(t, &mem, &cpus);
	if (total < 0 || mem <= total)
		return 0;
	fprintf(stderr, "microvmtest: test \"%s\" (%s): its nodes ask for %ld MiB of memory in "
		"all; this host has %ld MiB (MemTotal)\n", t->name, file, mem, total);
	return -1;
}

/* One line for a bad option value; returns exit status 2. */
static int bad_opt(const char *opt, const char *val, const char *expected)
{
	fprintf(stderr, "microvmtest: %s %s: expected %s\n", opt, val, expected);
	return 2;
}

static int parse_count(const char *s, long max, long *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || *s == '-' || *s == '+' || v < 1 || v > max)
		return -1;
	*out = v;
	return 0;
}

static int parse_shard(const char *s, long *i, long *n)
{
	const char *slash = strchr(s, '/');
	char first[32];
	if (!slash || (size_t)(slash - s) >= sizeof(first))
		return -1;
	memcpy(first, s, (size_t)(slash - s));
	first[slash - s] = 0;
	if (parse_count(first, 1000000, i) < 0 || parse_count(slash + 1, 1000000, n) < 0)
		return -1;
	return *i <= *n ? 0 : -1;
}

/* Shards: the tests sorted by name, then by file as given (plain byte
 * order), dealt out in turn: the k-th (from 0) goes to shard k mod N + 1. */
static int by_name(const void *a, const void *b)
{
	const struct job *x = *(struct job *const *)a, *y = *(struct job *const *)b;
	int c = strcmp(x->t->name, y->t->name);
	return c ? c : strcmp(x->file, y->file);
}

/* Keep shard I of N in jobs[] (in the order given); returns how many. */
static size_t shard_select(struct job *jobs, size_t n, long si, long sn)
{
	struct job **order = calloc(n ? n : 1, sizeof(*order));
	bool *keep = calloc(n ? n : 1, sizeof(*keep));
	if (!order || !keep)
		abort();
	for (size_t k = 0; k < n; k++)
		order[k] = &jobs[k];
	qsort(order, n, sizeof(*order), by_name);
	for (size_t k = 0; k < n; k++)
		keep[order[k] - jobs] = (long)(k % (size_t)sn) + 1 == si;
	size_t m = 0;
	for (size_t k = 0; k < n; k++) {
		if (keep[k])
			jobs[m++] = jobs[k];
		else
			testfile_free(jobs[k].t);
	}
	free(order);
	free(keep);
	return m;
}

/* Load every test, before anything starts: a bad one is one line (exit 2). */
static int load_all(const struct multi_opts *o, struct job *jobs)
{
	char err[1024];
	for (size_t k = 0; k < o->nfiles; k++) {
		jobs[k].file = o->files[k];
		jobs[k].fd = -1;
		if (test_load(o->files[k], true, &jobs[k].t, err, sizeof(err)) < 0) {
			fprintf(stderr, "microvmtest: %s\n", err);
			return -1;
		}
		test_needs(jobs[k].t, &jobs[k].mem, &jobs[k].cpus);
	}
	return 0;
}

/* What every selected test must pass before any starts: its nodes fit the
 * host, its testScript parses. */
static int check_all(struct job *jobs, size_t n)
{
	char err[1024];
	for (size_t k = 0; k < n; k++) {
		if (multi_fits(jobs[k].t, jobs[k].file) < 0)
			return -1;
		if (jobs[k].t->test_script && py_check(jobs[k].t, err, sizeof(err)) == -1) {
			fprintf(stderr, "microvmtest: %s: %s\n", jobs[k].file, err);
			return -1;
		}
	}
	return 0;
}

/* In the child: the test's own `microvmtest run`, never returns. */
static void child_exec(const struct multi_opts *o, struct job *j, int out, pid_t parent)
{
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	sigaction(SIGINT, &dfl, NULL);
	sigaction(SIGTERM, &dfl, NULL);
	sigaction(SIGHUP, &dfl, NULL);
	setpgid(0, 0);
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (getppid() != parent)
		_exit(127);
	int in = open("/dev/null", O_RDONLY);
	if (in < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0)
		_exit(127);
	setenv("TMPDIR", j->tmp, 1);
	size_t n = 0;
	char **argv = calloc(o->npass + 8, sizeof(*argv));
	char *report = NULL;
	if (!argv || asprintf(&report, "%s/junit.xml", j->tmp) < 0)
		_exit(127);
	argv[n++] = "microvmtest";
	argv[n++] = "run";
	argv[n++] = (char *)j->file;
	for (size_t i = 0; i < o->npass; i++)
		argv[n++] = o->pass[i];
	if (o->junit) {
		argv[n++] = "--junit";
		argv[n++] = report;
	}
	execv("/proc/self/exe", argv);
	fprintf(stderr, "microvmtest: cannot run /proc/self/exe: %s\n", strerror(errno));
	_exit(127);
}

static int job_start(const struct multi_opts *o, struct job *j)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0) {
		fprintf(stderr, "microvmtest: pipe: %s\n", strerror(errno));
		return -1;
	}
	/* A signal before the child's exec must not be lost in its copy of
	 * our handler: blocked here, it is delivered after SIG_DFL. */
	sigset_t stop, old;
	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGHUP);
	sigprocmask(SIG_BLOCK, &stop, &old);
	pid_t parent = getpid(), pid = fork();
	if (pid == 0)
		child_exec(o, j, p[1], parent);
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(p[1]);
	if (pid < 0) {
		fprintf(stderr, "microvmtest: fork: %s\n", strerror(errno));
		close(p[0]);
		return -1;
	}
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	j->pid = pid;
	j->fd = p[0];
	j->t0 = now();
	return 0;
}

static void emit_line(const struct job *j, bool prefix, const char *s, size_t n)
{
	struct buf b = { 0 };
	if (prefix)
		buf_printf(&b, "[%s] ", j->t->name);
	buf_add(&b, s, n);
	buf_add(&b, "\n", 1);
	for (size_t off = 0; off < b.len;) {
		ssize_t w = write(2, b.p + off, b.len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	buf_free(&b);
}

/* Pass on the complete lines of j's output (all of it at_end). */
static void flush_lines(struct job *j, bool prefix, bool at_end)
{
	char *nl;
	while ((nl = memchr(j->part.p, '\n', j->part.len))) {
		emit_line(j, prefix, j->part.p, (size_t)(nl - j->part.p));
		buf_consume(&j->part, (size_t)(nl - j->part.p) + 1);
	}
	if (j->part.len && (at_end || j->part.len >= LINE_MAX_BYTES)) {
		emit_line(j, prefix, j->part.p, j->part.len);
		buf_consume(&j->part, j->part.len);
	}
}

/* Read what j's pipe holds; closes it at EOF. */
static void job_read(struct job *j, bool prefix)
{
	char chunk[16384];
	for (;;) {
		ssize_t r = read(j->fd, chunk, sizeof(chunk));
		if (r > 0) {
			buf_add(&j->part, chunk, (size_t)r);
			flush_lines(j, prefix, false);
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
			close(j->fd);
			j->fd = -1;
			flush_lines(j, prefix, true);
		}
		return;
	}
}

/* Reap j if it exited: its last output is read, its pipe closed (a
 * process it left holding the pipe is not waited for). */
static bool job_reap(struct job *j, bool prefix)
{
	int st;
	if (j->pid <= 0 || waitpid(j->pid, &st, WNOHANG) != j->pid)
		return false;
	j->status = st;
	j->secs = now() - j->t0;
	j->pid = 0;
	j->done = true;
	if (j->fd >= 0)
		job_read(j, prefix);
	if (j->fd >= 0) {
		close(j->fd);
		j->fd = -1;
	}
	flush_lines(j, prefix, true);
	return true;
}

struct sched {
	struct job *jobs;
	size_t n, next, running;
	long jobs_max;       /* --jobs, or 0: as the host admits */
	long cpus, mem;      /* the host's online CPUs, MemAvailable (MiB) */
	long used_cpus, used_mem;
};

/* The first test not started that may start now, or NULL. One test always
 * may; with --jobs, up to N; else while the running tests' nodes and its
 * own fit the host's CPUs and available memory. */
static struct job *next_job(struct sched *s)
{
	for (size_t k = 0; k < s->n; k++) {
		struct job *j = &s->jobs[k];
		if (j->t0 > 0) /* started */
			continue;
		if (!s->running)
			return j;
		if (s->jobs_max)
			return s->running < (size_t)s->jobs_max ? j : NULL;
		if (s->used_cpus + j->cpus <= s->cpus && s->used_mem + j->mem <= s->mem)
			return j;
	}
	return NULL;
}

static void stop_all(struct sched *s, int sig)
{
	for (size_t k = 0; k < s->n; k++)
		if (s->jobs[k].pid > 0)
			kill(s->jobs[k].pid, sig);
}

/* Run the tests; returns -1 when one could not be started (and then the
 * others are stopped). */
static int schedule(const struct multi_opts *o, struct sched *s, bool prefix)
{
	int forwarded = 0, failed = 0;
	struct pollfd *pf = calloc(s->n + 1, sizeof(*pf));
	if (!pf)
		abort();
	for (;;) {
		struct job *j;
		while (!stop_sig && !failed && (j = next_job(s))) {
			if (job_start(o, j) < 0) {
				failed = 1;
				stop_all(s, SIGTERM);
				break;
			}
			s->running++;
			s->used_cpus += j->cpus;
			s->used_mem += j->mem;
		}
		if (!s->running && (stop_sig || failed || !next_job(s)))
			break;
		if (stop_count > forwarded) {
			/* once: an orderly stop; again: each test's second signal
			 * kills its microvms at once */
			stop_all(s, stop_sig);
			forwarded = stop_count;
		}
		size_t np = 0;
		for (size_t k = 0; k < s->n; k++)
			if (s->jobs[k].fd >= 0)
				pf[np++] = (struct pollfd){ .fd = s->jobs[k].fd, .events = POLLIN };
		poll(pf, np, 100);
		for (size_t k = 0; k < s->n; k++) {
			j = &s->jobs[k];
			if (j->fd >= 0)
				job_read(j, prefix);
			if (job_reap(j, prefix)) {
				s->running--;
				s->used_cpus -= j->cpus;
				s->used_mem -= j->mem;
			}
		}
	}
	free(pf);
	return failed ? -1 : 0;
}

static bool passed(const struct job *j)
{
	return j->done && WIFEXITED(j->status) && WEXITSTATUS(j->status) == 0;
}

static void outcome(const struct job *j, char *s, size_t n)
{
	if (!j->done)
		snprintf(s, n, "not run");
	else if (WIFSIGNALED(j->status))
		snprintf(s, n, "killed by signal %d (%s)", WTERMSIG(j->status),
			 strsignal(WTERMSIG(j->status)));
	else if (WEXITSTATUS(j->status) > 128)
		snprintf(s, n, "interrupted (exit status %d)", WEXITSTATUS(j->status));
	else
		snprintf(s, n, "exit status %d", WEXITSTATUS(j->status));
}

static int by_time(const void *a, const void *b)
{
	const struct job *x = *(struct job *const *)a, *y = *(struct job *const *)b;
	return (x->secs < y->secs) - (x->secs > y->secs);
}

static void summary(struct job *jobs, size_t n, double secs)
{
	struct job **order = calloc(n ? n : 1, sizeof(*order));
	size_t npass = 0;
	if (!order)
		abort();
	for (size_t k = 0; k < n; k++) {
		order[k] = &jobs[k];
		npass += passed(&jobs[k]);
	}
	qsort(order, n, sizeof(*order), by_time);
	fprintf(stderr, "microvmtest: %zu test%s in %.2f seconds: %zu passed, %zu failed "
		"(slowest first)\n", n, n == 1 ? "" : "s", secs, npass, n - npass);
	for (size_t k = 0; k < n; k++) {
		const struct job *j = order[k];
		char why[128];
		outcome(j, why, sizeof(why));
		fprintf(stderr, "  %-6s %8.2f s  %s (%s)%s%s\n", passed(j) ? "passed" : "FAILED",
			j->secs, j->t->name, j->file, passed(j) ? "" : ": ", passed(j) ? "" : why);
	}
	free(order);
}

/* The suites of a test's own report (between <testsuites> and its end),
 * or one failed testcase when it wrote none. */
static void junit_part(FILE *f, const struct job *j)
{
	char *path = NULL, *text = NULL;
	size_t len = 0;
	if (asprintf(&path, "%s/junit.xml", j->tmp) < 0)
		abort();
	FILE *in = fopen(path, "r");
	if (in) {
		FILE *mem = open_memstream(&text, &len);
		char chunk[16384];
		size_t r;
		while (mem && (r = fread(chunk, 1, sizeof(chunk), in)) > 0)
			fwrite(chunk, 1, r, mem);
		if (mem)
			fclose(mem);
		fclose(in);
	}
	const char *open = text ? strstr(text, "<testsuites>\n") : NULL;
	const char *end = text ? strstr(text, "</testsuites>") : NULL;
	if (open && end && end > open) {
		open += strlen("<testsuites>\n");
		fwrite(open, 1, (size_t)(end - open), f);
	} else {
		char why[128];
		outcome(j, why, sizeof(why));
		fputs("  <testsuite name=\"", f);
		junit_escape(f, j->t->name);
		fputs("\" tests=\"1\" failures=\"1\" errors=\"0\">\n"
		      "    <testcase classname=\"microvmtest\" name=\"main\" time=\"0\">\n"
		      "      <failure message=\"", f);
		junit_escape(f, "no report: ");
		junit_escape(f, why);
		fprintf(f, "\" type=\"failure\"/>\n    </testcase>\n  </testsuite>\n");
	}
	free(text);
	free(path);
}

static int junit_merge(const char *file, const struct job *jobs, size_t n)
{
	FILE *f = fopen(file, "w");
	if (!f)
		return -1;
	fputs("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<testsuites>\n", f);
	for (size_t k = 0; k < n; k++)
		if (jobs[k].done)
			junit_part(f, &jobs[k]);
	fputs("</testsuites>\n", f);
	return fclose(f) ? -1 : 0;
}

/* Our directory under $TMPDIR and one per test inside it. */
static char *make_dirs(struct job *jobs, size_t n)
{
	const char *tmp = getenv("TMPDIR");
	char *dir = NULL;
	if (asprintf(&dir, "%s/microvmtest-jobs.XXXXXX", tmp && *tmp ? tmp : "/tmp") < 0)
		abort();
	if (!mkdtemp(dir)) {
		fprintf(stderr, "microvmtest: cannot create %s: %s\n", dir, strerror(errno));
		free(dir);
		return NULL;
	}
	for (size_t k = 0; k < n; k++) {
		if (asprintf(&jobs[k].tmp, "%s/%zu", dir, k + 1) < 0)
			abort();
		if (mkdir(jobs[k].tmp, 0700) < 0) {
			fprintf(stderr, "microvmtest: cannot create %s: %s\n", jobs[k].tmp,
				strerror(errno));
			rm_tree(dir);
			free(dir);
			return NULL;
		}
	}
	return dir;
}

static void on_signals(void)
{
	struct sigaction sa = { .sa_handler = on_stop }; /* no SA_RESTART */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/* Run what is selected; returns the exit status. */
static int run_selected(const struct multi_opts *o, struct job *jobs, size_t n, long jobs_max)
{
	struct sched s = { .jobs = jobs, .n = n, .jobs_max = jobs_max,
			   .cpus = sysconf(_SC_NPROCESSORS_ONLN), .mem = meminfo_mib("MemAvailable:") };
	char *dir = make_dirs(jobs, n);
	if (!dir)
		return 2;
	if (jobs_max)
		fprintf(stderr, "microvmtest: %zu test%s, %ld at a time (--jobs)\n", n,
			n == 1 ? "" : "s", jobs_max);
	else
		fprintf(stderr, "microvmtest: %zu test%s, as many at a time as their nodes fit in "
			"%ld CPUs and %ld MiB available\n", n, n == 1 ? "" : "s", s.cpus, s.mem);
	double t0 = now();
	on_signals();
	int r = schedule(o, &s, n > 1);
	summary(jobs, n, now() - t0);
	if (o->junit && junit_merge(o->junit, jobs, n) < 0)
		fprintf(stderr, "microvmtest: --junit %s: cannot write it\n", o->junit);
	if (o->keep_state)
		fprintf(stderr, "microvmtest: the tests' state directories are kept in %s\n", dir);
	else if (rm_tree(dir) < 0)
		fprintf(stderr, "microvmtest: cannot remove %s: %s\n", dir, strerror(errno));
	free(dir);
	if (stop_sig)
		return 128 + stop_sig;
	for (size_t k = 0; k < n; k++)
		if (!passed(&jobs[k]))
			return 1;
	return r < 0 ? 1 : 0;
}

int multi_run(const struct multi_opts *o)
{
	long jobs_max = 0, si = 1, sn = 1;
	if (o->jobs && parse_count(o->jobs, 1024, &jobs_max) < 0)
		return bad_opt("--jobs", o->jobs, "a number of tests at a time, 1 to 1024");
	if (o->shard && parse_shard(o->shard, &si, &sn) < 0)
		return bad_opt("--shard", o->shard, "I/N, shard I of N with 1 <= I <= N (e.g. 1/4)");
	struct job *jobs = calloc(o->nfiles, sizeof(*jobs));
	if (!jobs)
		abort();
	int r = 2;
	size_t n = o->nfiles;
	if (load_all(o, jobs) == 0) {
		n = shard_select(jobs, o->nfiles, si, sn);
		if (check_all(jobs, n) == 0)
			r = run_selected(o, jobs, n, jobs_max);
	}
	for (size_t k = 0; k < n; k++) {
		testfile_free(jobs[k].t);
		free(jobs[k].tmp);
		buf_free(&jobs[k].part);
	}
	free(jobs);
	return r;
}
