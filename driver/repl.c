/* repl.c - the interactive prompt (a breakpoint step, --interactive) and
 * attaching the terminal to a guest's backdoor shell (shell_interact,
 * `microvmtest shell`). Serial output keeps being logged meanwhile. */
#include <errno.h>
#include <json-c/json.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "driver.h"

static const char help[] =
	"  NODE.METHOD ARGS... [KEY=VALUE...]   run a machine method, e.g.\n"
	"                                       node1.succeed \"uname -a\" timeout=10\n"
	"  METHOD ARGS...                       a global: start_all, join_all, log\n"
	"  {\"call\": ...}                        a step as JSON, as in test.json\n"
	"  shell NODE                           attach the terminal to NODE's root shell\n"
	"  nodes                                list the nodes and whether they are up\n"
	"  run                                  run the test script\n"
	"  continue (c)                         leave the prompt and go on\n"
	"  quit (q)                             stop the test (it fails)\n";

/* Read one line of stdin, pumping meanwhile. 1: got one, 0: EOF, -1: a
 * signal or the deadline. */
static int read_line(struct driver *d, struct buf *line)
{
	static struct buf in;
	line->len = 0;
	for (;;) {
		char *nl = in.len ? memchr(in.p, '\n', in.len) : NULL;
		if (nl) {
			buf_add(line, in.p, (size_t)(nl - in.p));
			buf_consume(&in, (size_t)(nl - in.p) + 1);
			return 1;
		}
		int r = drv_pump(d, NULL, 0, POLLIN, -1);
		if (r != IO_READY)
			return -1;
		char tmp[4096];
		ssize_t n = read(0, tmp, sizeof(tmp));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			bool partial = in.len > 0;
			buf_add(line, in.p, in.len);
			buf_free(&in);
			return partial ? 1 : 0;
		}
		buf_add(&in, tmp, (size_t)n);
	}
}

static void list_nodes(struct driver *d)
{
	for (size_t i = 0; i < d->nm; i++)
		printf("  %s (node %d): %s\n", d->m[i].name, d->m[i].conf->index,
		       d->m[i].connected ? "up" : d->m[i].booted ? "booting" : "off");
	fflush(stdout);
}

static void shell_cmd(struct driver *d, const char *arg)
{
	int k = test_node(d->t, arg);
	if (k < 0) {
		printf("no node \"%s\" (try \"nodes\")\n", arg);
		return;
	}
	struct ctx x = { .d = d, .m = &d->m[k] };
	if (shell_interact(&x) < 0)
		tlog(d->m[k].name, "%s", x.err);
	ctx_reset(&x);
}

static void step_cmd(struct driver *d, const char *line)
{
	char err[512];
	struct step s;
	int r;
	if (line[0] == '{') {
		struct json_object *j = json_tokener_parse(line);
		if (!j) {
			printf("not valid JSON\n");
			return;
		}
		r = step_parse(d->t, j, "$", &s, err, sizeof(err));
		if (r == 0)
			s.own = j;
		else
			json_object_put(j);
	} else {
		r = step_parse_line(d->t, line, &s, err, sizeof(err));
	}
	if (r < 0) {
		printf("%s\n", err);
		fflush(stdout);
		return;
	}
	run_step_show(d, &s);
	step_free(&s);
}

int repl(struct driver *d)
{
	struct buf line = { 0 };
	int r = 0;
	for (;;) {
		fprintf(stderr, "microvmtest> ");
		fflush(stderr);
		int k = read_line(d, &line);
		if (k <= 0) {
			r = k < 0 ? -1 : 0;
			break;
		}
		const char *l = line.p;
		while (*l == ' ' || *l == '\t')
			l++;
		if (!*l)
			continue;
		if (!strcmp(l, "continue") || !strcmp(l, "c"))
			break;
		if (!strcmp(l, "quit") || !strcmp(l, "q")) {
			r = -1;
			break;
		}
		if (!strcmp(l, "help"))
			fputs(help, stdout);
		else if (!strcmp(l, "nodes"))
			list_nodes(d);
		else if (!strcmp(l, "run"))
			run_steps(d, d->t->steps, d->t->nsteps);
		else if (!strncmp(l, "shell ", 6))
			shell_cmd(d, l + 6);
		else
			step_cmd(d, l);
		fflush(stdout);
	}
	buf_free(&line);
	return r;
}

/* Write the first n bytes of the guest's output to stdout; drop them. */
static int copy_out(struct ctx *x, size_t n)
{
	struct buf *b = &x->m->shell_in;
	size_t off = 0;
	while (off < n) {
		ssize_t w = write(1, b->p + off, n - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return ctx_fail(x, "writing to stdout: %s", strerror(errno));
		off += (size_t)w;
	}
	buf_consume(b, n);
	return 0;
}

/* One round: stdin -> guest shell, guest shell -> stdout. 0 at EOF on
 * stdin; with eof set, only the guest's output is read (not copied). */
static int relay(struct ctx *x, bool eof)
{
	struct machine *m = x->m;
	struct pollfd p[2] = { { eof ? -1 : 0, POLLIN, 0 }, { m->shell_fd, POLLIN, 0 } };
	if (poll(p, 2, 50) < 0 && errno != EINTR)
		return ctx_fail(x, "poll: %s", strerror(errno));
	int r = drv_pump(x->d, m, -1, 0, now()); /* serial, exits, signals */
	if (r != IO_TIMEOUT)
		return pump_fail(x, r, "attached to the guest shell");
	char tmp[4096];
	if (p[1].revents) {
		ssize_t n = read(m->shell_fd, tmp, sizeof(tmp));
		if (n == 0)
			return ctx_fail(x, "the guest shell closed the connection");
		if (n > 0)
			buf_add(&m->shell_in, tmp, (size_t)n);
		if (!eof && copy_out(x, m->shell_in.len) < 0)
			return -1;
	}
	if (p[0].revents) {
		ssize_t n = read(0, tmp, sizeof(tmp));
		if (n == 0)
			return 0;
		if (n > 0 && bd_send(x, tmp, (size_t)n) < 0)
			return -1;
	}
	return 1;
}

/* End of input (Ctrl-D, or the end of a pipe): the guest shell stays, as
 * NixOS's does for the rest of the test. Show the answers to what was sent:
 * everything before a marker echoed after it (at most 10 s). */
static int finish(struct ctx *x)
{
	static const char mark[] = "microvmtest-shell-done";
	struct buf *b = &x->m->shell_in;
	char cmd[64];
	snprintf(cmd, sizeof(cmd), "\necho %s\n", mark);
	if (bd_send(x, cmd, strlen(cmd)) < 0)
		return -1;
	double end = now() + 10;
	while (now() < end) {
		char *at = b->len ? memmem(b->p, b->len, mark, sizeof(mark) - 1) : NULL;
		if (at) {
			size_t n = (size_t)(at - b->p);
			int r = copy_out(x, n);
			char *nl = memchr(b->p, '\n', b->len);
			buf_consume(b, nl ? (size_t)(nl - b->p) + 1 : b->len);
			return r;
		}
		/* Show what came so far but what may begin the marker: a guest
		 * printing fast for those 10 s is not kept. */
		if (b->len >= sizeof(mark) && copy_out(x, b->len - sizeof(mark) + 1) < 0)
			return -1;
		if (relay(x, true) < 0)
			return -1;
	}
	return copy_out(x, b->len);
}

int shell_interact(struct ctx *x)
{
	if (bd_connect(x) < 0)
		return -1;
	tlog(x->m->name, "Terminal is ready (there is no initial prompt):");
	int r;
	if (copy_out(x, x->m->shell_in.len) < 0)
		return -1;
	while ((r = relay(x, false)) > 0)
		;
	return r == 0 ? finish(x) : r;
}
