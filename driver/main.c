/* main.c - microvmtest's command line: run, shell, check. */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "driver.h"
#include "multi.h"

static const char usage[] =
	"usage: microvmtest run TEST.json [--junit FILE] [--keep-state] [--interactive]\n"
	"                       [--microvm PATH] [--out-dir DIR] [--vmm qemu [--qemu PATH]]\n"
	"       microvmtest run A.json B.json ... [--jobs N] [--shard I/N] [--junit FILE] [...]\n"
	"       microvmtest shell TEST.json NODE [--microvm PATH] [--keep-state]\n"
	"       microvmtest check TEST.json\n"
	"\n"
	"  run     start the test's nodes (one microvm each) and run its script\n"
	"  shell   boot NODE and attach the terminal to a root shell in it\n"
	"  check   validate TEST.json and the files it names; start nothing\n"
	"\n"
	"  --junit FILE     also write a JUnit XML report to FILE\n"
	"  --keep-state     keep the per-run state directory (disk copies, logs)\n"
	"  --interactive    give a prompt instead of running the script (\"run\" runs it)\n"
	"  --microvm PATH   the microvm binary (default: next to microvmtest, else PATH)\n"
	"  --out-dir DIR    where copy_from_machine writes (default: .)\n"
	"  --vmm qemu       boot nodes under QEMU as NixOS's qemu-vm does (for comparison)\n"
	"  --qemu PATH      the QEMU binary (default: qemu-system-ARCH on PATH)\n"
	"  --jobs N         several tests: N at a time (default: as many as their\n"
	"                   nodes' cpus and memory fit in the host's CPUs and free RAM)\n"
	"  --shard I/N      run only the I-th of N stable shards of the tests given\n"
	"  --no-snapshots   boot every node cold: no snapshot is restored or saved\n"
	"                   (the cache: $MICROVMTEST_CACHE, docs/test-json.md)\n"
	"\n"
	"       microvmtest nixos-driver -c CONFIG.json [-I] [-K] [-o DIR] [--junit-xml FILE]\n"
	"                                [--log-level LEVEL]\n"
	"  the NixOS test driver's command line (also as a nixos-test-driver symlink):\n"
	"  CONFIG.json is NixOS's driverConfiguration; unknown flags get a warning\n"
	"\n"
	"test.json is described in docs/test-json.md; its script is JSON steps or a\n"
	"Python testScript (needs python3). Exit status: 0 every step\n"
	"passed, 1 a step failed or the test timed out, 2 bad usage or a malformed\n"
	"test.json (nothing was started), 128+N stopped by signal N. With several\n"
	"tests: 0 only if every one passed, 1 if any did not, and a summary.\n";

struct opts {
	const char *cmd, *file, *node, *junit, *microvm, *out_dir, *qemu;
	const char *tmp_base; /* where the run directory goes (NULL: $TMPDIR) */
	bool use_qemu;
	bool keep_state, interactive;
	bool no_snapshots;
	bool nixos;           /* nixos-driver: the NixOS driver's command line */
	const char **files;   /* every TEST.json given (several: driver/multi.c) */
	size_t nfiles;
	const char *jobs, *shard;
	char **pass;          /* the options but --jobs, --shard and --junit */
	size_t npass;
	char *junit_buf;      /* junit when made from -o and --junit-xml */
};

static int bad_usage(const char *msg, const char *arg)
{
	fprintf(stderr, "microvmtest: %s%s%s (see microvmtest --help)\n", msg, arg ? " " : "",
		arg ? arg : "");
	return -1;
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "junit", required_argument, NULL, 'j' },
		{ "keep-state", no_argument, NULL, 'k' },
		{ "no-snapshots", no_argument, NULL, 'n' },
		{ "interactive", no_argument, NULL, 'i' },
		{ "microvm", required_argument, NULL, 'm' },
		{ "out-dir", required_argument, NULL, 'o' },
		{ "vmm", required_argument, NULL, 'V' },
		{ "qemu", required_argument, NULL, 'Q' },
		{ "jobs", required_argument, NULL, 'J' },
		{ "shard", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c, at;
	opterr = 0;
	while ((at = optind, c = getopt_long(argc, argv, "+", lo, NULL)) != -1) {
		/* What each of several tests is run with (driver/multi.c). */
		for (int i = at; c != 'j' && c != 'J' && c != 'S' && i < optind; i++)
			o->pass[o->npass++] = argv[i];
		switch (c) {
		case 'J': o->jobs = optarg; break;
		case 'S': o->shard = optarg; break;
		case 'j': o->junit = optarg; break;
		case 'k': o->keep_state = true; break;
		case 'n': o->no_snapshots = true; break;
		case 'i': o->interactive = true; break;
		case 'm': o->microvm = optarg; break;
		case 'o': o->out_dir = optarg; break;
		case 'Q': o->qemu = optarg; break;
		case 'V':
			if (strcmp(optarg, "qemu") && strcmp(optarg, "microvm"))
				return bad_usage("--vmm: expected microvm or qemu, got", optarg);
			o->use_qemu = !strcmp(optarg, "qemu");
			break;
		case 'h': fputs(usage, stdout); exit(0);
		default: return bad_usage("unknown option", argv[optind - 1]);
		}
	}
	return optind;
}

/* Options may come before or after the positional words. */
static int parse_args(int argc, char **argv, struct opts *o)
{
	o->files = calloc((size_t)argc, sizeof(*o->files));
	o->pass = calloc((size_t)argc, sizeof(*o->pass));
	if (!o->files || !o->pass)
		abort();
	optind = 1;
	while (optind < argc) {
		if (parse_opts(argc, argv, o) < 0)
			return -1;
		if (optind < argc && !o->cmd)
			o->cmd = argv[optind++];
		else if (optind < argc)
			o->files[o->nfiles++] = argv[optind++];
	}
	o->file = o->files[0];
	o->node = o->cmd && !strcmp(o->cmd, "shell") ? o->files[1] : NULL;
	size_t max = !o->cmd || !strcmp(o->cmd, "run") ? o->nfiles : o->node ? 2 : 1;
	if (o->nfiles > max)
		return bad_usage("unexpected argument", o->files[max]);
	if (!o->cmd)
		return bad_usage("expected a command: run, shell or check", NULL);
	if (strcmp(o->cmd, "run") && strcmp(o->cmd, "shell") && strcmp(o->cmd, "check"))
		return bad_usage("unknown command", o->cmd);
	if (!o->file)
		return bad_usage("expected TEST.json after", o->cmd);
	if (!strcmp(o->cmd, "shell") && !o->node)
		return bad_usage("expected a node name after", o->file);
	if ((o->jobs || o->shard) && strcmp(o->cmd, "run"))
		return bad_usage(o->jobs ? "--jobs: only with run, not" : "--shard: only with run, not",
				 o->cmd);
	if (o->interactive && (o->nfiles > 1 || o->jobs || o->shard))
		return bad_usage("--interactive: runs one test, without --jobs or --shard", NULL);
	return 0;
}

static int run(struct driver *d, const struct opts *o)
{
	tlog(NULL, "Test will time out and terminate in %ld seconds", d->t->timeout);
	d->deadline = now() + (double)d->t->timeout;
	struct nest n;
	nest_begin(&n, NULL, "run the VM test script");
	int r;
	if (d->t->test_script) {
		r = py_run(d);
	} else if (o->interactive) {
		tlog(NULL, "interactive: type steps, \"run\" to run the script, \"help\" for more");
		r = repl(d);
	} else {
		r = run_steps(d, d->t->steps, d->t->nsteps);
	}
	nest_end(&n);
	return r < 0 || d->nfail ? -1 : 0;
}

static int shell(struct driver *d, const struct opts *o)
{
	int k = test_node(d->t, o->node);
	if (k < 0) {
		fprintf(stderr, "microvmtest: %s: no node \"%s\" in %s\n", o->node, o->node, o->file);
		return -1;
	}
	struct ctx x = { .d = d, .m = &d->m[k] };
	int r = shell_interact(&x);
	if (r < 0)
		tlog(x.m->name, "%s", x.err);
	ctx_reset(&x);
	return r;
}

/* One command's output is held whole, as NixOS returns it: 1 GiB at most
 * unless MICROVMTEST_OUTPUT_MAX (bytes) says otherwise. */
static int output_max(size_t *max)
{
	const char *s = getenv("MICROVMTEST_OUTPUT_MAX");
	*max = (size_t)1 << 30;
	if (!s || !*s)
		return 0;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end || !v || *s == '-' || v > SIZE_MAX / 2) {
		fprintf(stderr, "microvmtest: MICROVMTEST_OUTPUT_MAX=%s: expected a number of "
			"bytes\n", s);
		return -1;
	}
	*max = (size_t)v;
	return 0;
}

static void nixos_opt(int c, char *optarg, struct opts *o, const char **junit)
{
	switch (c) {
	case 'c': o->file = optarg; break;
	case 'I': o->interactive = true; break;
	case 'N': o->interactive = false; break;
	case 'K': o->keep_state = true; break;
	case 'n': o->no_snapshots = true; break;
	case 'o': o->out_dir = optarg; break;
	case 'j': *junit = optarg; break;
	case 'm': o->microvm = optarg; break;
	case 'L': /* the log is always at info: accepted for NixOS's wrapper */
		if (strcmp(optarg, "debug") && strcmp(optarg, "info") &&
		    strcmp(optarg, "warning") && strcmp(optarg, "error"))
			fprintf(stderr, "microvmtest: warning: --log-level %s: expected debug, "
				"info, warning or error; ignored\n", optarg);
		break;
	case 'h': fputs(usage, stdout); exit(0);
	}
}

/* Where NixOS's driver keeps state: $XDG_RUNTIME_DIR, else $TMPDIR. */
static int nixos_finish(struct opts *o, const char *junit)
{
	struct stat st;
	if (!o->file)
		return bad_usage("nixos-driver: expected -c/--config FILE (NixOS's "
				 "driverConfiguration JSON)", NULL);
	if (stat(o->out_dir, &st) < 0 || !S_ISDIR(st.st_mode) || access(o->out_dir, W_OK) < 0)
		return bad_usage("-o/--output-directory: not a writable directory:", o->out_dir);
	/* As NixOS's: the report goes under the output directory. */
	if (junit && asprintf(&o->junit_buf, "%s%s%s", junit[0] == '/' ? "" : o->out_dir,
			      junit[0] == '/' ? "" : "/", junit) < 0)
		abort();
	o->junit = o->junit_buf;
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	o->tmp_base = xdg && *xdg ? xdg : NULL;
	o->cmd = "run";
	return 0;
}

/* nixos-driver (or a nixos-test-driver symlink): the NixOS driver's flags
 * (nixos/lib/test-driver/src/test_driver/__init__.py). They change between
 * releases, so an unknown one gets a warning, not a failure. */
static int nixos_args(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "interactive", no_argument, NULL, 'I' },
		{ "no-interactive", no_argument, NULL, 'N' },
		{ "keep-machine-state", no_argument, NULL, 'K' },
		{ "no-snapshots", no_argument, NULL, 'n' },
		{ "keep-vm-state", no_argument, NULL, 'K' },
		{ "output-directory", required_argument, NULL, 'o' },
		{ "output_directory", required_argument, NULL, 'o' },
		{ "junit-xml", required_argument, NULL, 'j' },
		{ "log-level", required_argument, NULL, 'L' },
		{ "microvm", required_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int skip = argc > 1 && !strcmp(argv[1], "nixos-driver"), c;
	int ac = argc - skip;
	char **av = argv + skip;
	const char *junit = NULL;
	opterr = 0;
	optind = 0;
	while ((c = getopt_long(ac, av, ":c:IKo:", lo, NULL)) != -1) {
		if (c == ':')
			return bad_usage("option needs a value:", av[optind - 1]);
		if (c == '?' && optopt)
			fprintf(stderr, "microvmtest: warning: ignoring unknown option -%c\n", optopt);
		else if (c == '?')
			fprintf(stderr, "microvmtest: warning: ignoring unknown option %s\n",
				av[optind - 1]);
		else
			nixos_opt(c, optarg, o, &junit);
	}
	for (; optind < ac; optind++)
		fprintf(stderr, "microvmtest: warning: ignoring argument %s\n", av[optind]);
	return nixos_finish(o, junit);
}

/* Everything after loading: the same for test.json and the NixOS driver's
 * configuration. Returns the exit status. */
static int drive(struct test *t, const struct opts *o)
{
	char err[1024];
	/* A testScript's syntax is checked before anything boots, too. */
	int pr = t->test_script && strcmp(o->cmd, "shell") ? py_check(t, err, sizeof(err)) : 0;
	if (pr < 0) {
		fprintf(stderr, "microvmtest: %s: %s\n", o->file, err);
		/* Without python3 a Python test fails; a syntax error is a
		 * malformed test.json. */
		return pr == -2 && !strcmp(o->cmd, "run") ? 1 : 2;
	}
	if (!strcmp(o->cmd, "check")) {
		if (t->test_script)
			printf("%s: ok (%zu node%s, a Python testScript)\n", o->file, t->nnodes,
			       t->nnodes == 1 ? "" : "s");
		else
			printf("%s: ok (%zu node%s, %zu step%s)\n", o->file, t->nnodes,
			       t->nnodes == 1 ? "" : "s", t->nsteps, t->nsteps == 1 ? "" : "s");
		return 0;
	}
	struct driver d = { .keep_state = o->keep_state, .interactive = o->interactive,
			    .out_dir = o->out_dir, .qemu = o->use_qemu, .tmp_base = o->tmp_base,
			    .no_snapshots = o->no_snapshots };
	if (output_max(&d.output_max) < 0 || multi_fits(t, o->file) < 0 || snap_config(&d) < 0)
		return 2;
	if (o->junit)
		junit_enable();
	drv_signals();
	if (drv_init(&d, t, o->use_qemu ? o->qemu : o->microvm) < 0) {
		/* One line was printed; nothing was started. */
		drv_cleanup(&d);
		return 2;
	}
	double t0 = now();
	int r = !strcmp(o->cmd, "run") ? run(&d, o) : shell(&d, o);
	struct nest n;
	nest_begin(&n, NULL, "cleanup");
	drv_cleanup(&d);
	nest_end(&n);
	if (o->junit && junit_write(o->junit, t->name) < 0)
		fprintf(stderr, "microvmtest: %s %s: cannot write it\n",
			o->nixos ? "--junit-xml" : "--junit", o->junit);
	if (!strcmp(o->cmd, "run"))
		tlog(NULL, "test \"%s\" %s in %.2f seconds", t->name,
		     drv_signal ? "interrupted" : r == 0 ? "passed" : "failed", now() - t0);
	junit_free();
	if (drv_signal)
		return 128 + drv_signal;
	return r == 0 ? 0 : 1;
}

static bool nixos_mode(int argc, char **argv)
{
	const char *base = strrchr(argv[0], '/');
	base = base ? base + 1 : argv[0];
	return !strcmp(base, "nixos-test-driver") || (argc > 1 && !strcmp(argv[1], "nixos-driver"));
}

static int main_free(struct opts *o, int status)
{
	free(o->junit_buf);
	free(o->files);
	free(o->pass);
	return status;
}

int main(int argc, char **argv)
{
	struct opts o = { .out_dir = "." };
	if (argc == 2 && !strcmp(argv[1], "--help")) {
		fputs(usage, stdout);
		return 0;
	}
	o.nixos = nixos_mode(argc, argv);
	if ((o.nixos ? nixos_args(argc, argv, &o) : parse_args(argc, argv, &o)) < 0)
		return main_free(&o, 2);
	if (!o.nixos && !strcmp(o.cmd, "run") && (o.nfiles > 1 || o.jobs || o.shard)) {
		struct multi_opts mo = { .files = o.files, .nfiles = o.nfiles, .jobs = o.jobs,
					 .shard = o.shard, .junit = o.junit,
					 .keep_state = o.keep_state, .pass = o.pass,
					 .npass = o.npass };
		return main_free(&o, multi_run(&mo));
	}
	char err[1024];
	struct test *t;
	int r = o.nixos ? nixcfg_load(o.file, &t, err, sizeof(err))
			: test_load(o.file, true, &t, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "microvmtest: %s\n", err);
		return main_free(&o, 2);
	}
	r = drive(t, &o);
	testfile_free(t);
	return main_free(&o, r);
}
