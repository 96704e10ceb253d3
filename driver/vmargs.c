/* vmargs.c - a node's microvm command line: the options the driver gives
 * every node (serial, console, disks, shares, networks) after either
 * microvm and the node's kernel, initrd, cmdline, memory and cpus, or the
 * node's start_script, which chooses those itself (docs/test-json.md,
 * "start_script"). Also microvm --help, read once, so that a node whose
 * options the binary lacks fails in one line instead of at boot. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "driver.h"

const char *microvm_help(struct driver *d)
{
	if (d->microvm_help)
		return d->microvm_help;
	struct buf b = { 0 };
	buf_adds(&b, "");
	int p[2];
	if (d->microvm && pipe2(p, O_CLOEXEC) == 0) {
		pid_t pid = fork();
		if (pid == 0) {
			dup2(p[1], 1);
			dup2(p[1], 2);
			execl(d->microvm, d->microvm, "--help", (char *)NULL);
			_exit(127);
		}
		close(p[1]);
		char tmp[4096];
		ssize_t n;
		while ((n = read(p[0], tmp, sizeof(tmp))) > 0 || (n < 0 && errno == EINTR))
			if (n > 0)
				buf_add(&b, tmp, (size_t)n);
		close(p[0]);
		while (pid > 0 && waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	d->microvm_help = b.p;
	return b.p;
}

static int need_option(struct ctx *x, struct machine *m, const char *opt, const char *why)
{
	const char *help = microvm_help(m->d);
	const char *p = help;
	size_t n = strlen(opt);
	while ((p = strstr(p, opt)) && (p[n] == '-' || (p[n] >= 'a' && p[n] <= 'z')))
		p += n;
	if (p)
		return 0;
	return ctx_fail(x, "%s needs microvm's %s option, which %s does not have yet",
			why, opt, m->d->microvm);
}

int vm_check_options(struct ctx *x, struct machine *m)
{
	const struct node_conf *c = m->conf;
	if (m->d->qemu && (c->nshares || c->nforwards))
		return ctx_fail(x, "shares and forwards are not supported with --vmm qemu");
	/* A start_script runs this tree's microvm, which has them all. */
	if (m->d->qemu || c->start_script)
		return 0;
	const char *help = microvm_help(m->d);
	m->d->has_share = strstr(help, "--share tag=") != NULL;
	if (need_option(x, m, "--console", "the backdoor shell (a virtio console)") ||
	    (c->ndisks && need_option(x, m, "--disk", "\"disks\"")) ||
	    (c->nshares && need_option(x, m, "--share", "\"shares\"")) ||
	    (c->nvlans && need_option(x, m, "--net", "\"vlans\"")) ||
	    (c->nforwards && need_option(x, m, "--net", "\"forwards\"")) ||
	    (c->user_net && need_option(x, m, "--net", "\"user_net\"")))
		return -1;
	return 0;
}

void argv_add(char ***argv, size_t *n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	*argv = realloc(*argv, (*n + 2) * sizeof(char *));
	if (vasprintf(&(*argv)[(*n)++], fmt, ap) < 0)
		abort();
	(*argv)[*n] = NULL;
	va_end(ap);
}

/* microvm's own default command line, which vlans' options extend: the
 * serial console is ttyS0 (a 16550) on x86_64 and ttyAMA0 (a PL011) on
 * aarch64, the host's and so microvm's architecture. */
#if defined(__aarch64__)
#define DEFAULT_CMDLINE "console=ttyAMA0 panic=1"
#else
#define DEFAULT_CMDLINE "console=ttyS0 panic=1"
#endif

/* What microvm boots: the node's own choice, without a start_script. */
static void boot_args(struct machine *m, char ***a, size_t *n)
{
	const struct node_conf *c = m->conf;
	argv_add(a, n, "--kernel");
	argv_add(a, n, "%s", c->kernel);
	if (c->initrd) {
		argv_add(a, n, "--initrd");
		argv_add(a, n, "%s", c->initrd);
	}
	if (c->cmdline || c->nvlans) {
		struct buf b = { 0 };
		buf_adds(&b, c->cmdline ? c->cmdline : DEFAULT_CMDLINE);
		net_cmdline(m, &b);
		argv_add(a, n, "--cmdline");
		argv_add(a, n, "%s", b.p);
		buf_free(&b);
	}
	if (c->memory) {
		argv_add(a, n, "--memory");
		argv_add(a, n, "%d", c->memory);
	}
	if (c->cpus) {
		argv_add(a, n, "--cpus");
		argv_add(a, n, "%d", c->cpus);
	}
}

static void disk_args(struct machine *m, char ***a, size_t *n)
{
	const struct node_conf *c = m->conf;
	for (size_t i = 0; i < c->ndisks; i++) {
		argv_add(a, n, "--disk");
		const struct disk_conf *dc = &c->disks[i];
		struct buf b = { 0 };
		if (dc->readonly || !m->disk_cow)
			buf_printf(&b, "%s%s", m->disk_paths[i], dc->readonly ? ",readonly" : "");
		else
			buf_printf(&b, "%s,cow=%s", dc->path, m->disk_paths[i]);
		if (dc->serial)
			buf_printf(&b, ",serial=%s", dc->serial);
		argv_add(a, n, "%s", b.p);
		buf_free(&b);
	}
}

static void share_args(struct machine *m, char ***a, size_t *n)
{
	const struct node_conf *c = m->conf;
	for (size_t i = 0; i < c->nshares; i++) {
		argv_add(a, n, "--share");
		argv_add(a, n, "tag=%s,path=%s%s", c->shares[i].tag, c->shares[i].path,
			 c->shares[i].readonly ? ",readonly" : "");
	}
	if (m->d->has_share || c->start_script) { /* NixOS's xchg and shared */
		argv_add(a, n, "--share");
		argv_add(a, n, "tag=xchg,path=%s/xchg", m->state_dir);
		argv_add(a, n, "--share");
		argv_add(a, n, "tag=shared,path=%s/shared", m->d->run_dir);
	}
}

char **vm_argv(struct machine *m, int console_fd)
{
	char **a = NULL;
	size_t n = 0;
	if (m->conf->start_script) {
		argv_add(&a, &n, "%s", m->conf->start_script);
	} else {
		argv_add(&a, &n, "%s", m->d->microvm);
		boot_args(m, &a, &n);
	}
	argv_add(&a, &n, "--serial");
	argv_add(&a, &n, "stdio");
	argv_add(&a, &n, "--console");
	argv_add(&a, &n, "fd:%d", console_fd);
	disk_args(m, &a, &n);
	share_args(m, &a, &n);
	net_argv(m, &a, &n);
	return a;
}
