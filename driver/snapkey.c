/* snapkey.c - a node's snapshot key: the SHA-256 of a text naming every
 * input that makes its machine (snapcache.h, snap_inputs). Files are known
 * by identity (path, size, mtime, inode), not read: a disk image of
 * gigabytes costs a stat(). A start_script is read, as it is small and
 * names the kernel, initrd and command line itself. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "loader.h"
#include "snapcache.h"

/* path's real path (malloc'd), or a copy of path when it has none: two
 * spellings of one file (a test's relative "../build/x", another's absolute
 * path) make one key. */
static char *real_path(const char *path)
{
	char *real = realpath(path, NULL);
	return real ? real : strdup(path);
}

/* "REALPATH size=S mtime=T ino=I": a file's identity without reading it. */
static void ident(struct buf *b, const char *what, const char *path)
{
	struct stat st;
	char *real = path ? real_path(path) : NULL;
	if (!path)
		buf_printf(b, "%s none\n", what);
	else if (stat(real, &st) < 0)
		buf_printf(b, "%s %s missing\n", what, real);
	else
		buf_printf(b, "%s %s size=%lld mtime=%lld.%09ld ino=%llu\n", what, real,
			   (long long)st.st_size, (long long)st.st_mtim.tv_sec,
			   st.st_mtim.tv_nsec, (unsigned long long)st.st_ino);
	free(real);
}

static void hex(char *out, const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", p[i]);
}

/* A start_script's content: it names the kernel, initrd and command line. */
static void script_hash(struct buf *b, const char *path)
{
	size_t n;
	char *text = read_all(path, &n);
	unsigned char h[32];
	char x[65];
	if (!text) {
		buf_adds(b, "start_script-content unreadable\n");
		return;
	}
	sha256(text, n, h);
	hex(x, h, sizeof(h));
	buf_printf(b, "start_script-content sha256=%s\n", x);
	free(text);
}

static void boot_inputs(const struct machine *m, struct buf *b)
{
	const struct node_conf *c = m->conf;
	ident(b, "vmm", m->d->microvm);
	if (c->start_script) {
		ident(b, "start_script", c->start_script);
		script_hash(b, c->start_script);
		return;
	}
	ident(b, "kernel", c->kernel);
	ident(b, "initrd", c->initrd);
	/* As vmargs.c builds it, microvm.hosts= included. */
	if (c->cmdline || c->nvlans) {
		buf_printf(b, "cmdline %s", c->cmdline ? c->cmdline : "console=ttyS0 panic=1");
		net_cmdline((struct machine *)m, b);
		buf_adds(b, "\n");
	}
	buf_printf(b, "memory %d\ncpus %d\n", c->memory, c->cpus);
}

void snap_inputs(const struct machine *m, struct buf *b)
{
	const struct node_conf *c = m->conf;
	buf_adds(b, "microvmtest-snapshot 1\n");
	boot_inputs(m, b);
	for (size_t i = 0; i < c->ndisks; i++) {
		char what[32];
		snprintf(what, sizeof(what), "disk%zu", i);
		ident(b, what, c->disks[i].path);
		buf_printf(b, "disk%zu mode=%s serial=%s\n", i,
			   c->disks[i].readonly ? "readonly" : m->disk_cow ? "cow" : "copy",
			   c->disks[i].serial ? c->disks[i].serial : "");
	}
	/* Shares by tag, path and mode: their contents are read live. */
	for (size_t i = 0; i < c->nshares; i++) {
		char *real = real_path(c->shares[i].path);
		buf_printf(b, "share tag=%s path=%s mode=%s\n", c->shares[i].tag, real,
			   c->shares[i].readonly ? "ro" : "rw");
		free(real);
	}
	if (m->d->has_share || c->start_script)
		buf_adds(b, "share tag=xchg\nshare tag=shared\n");
	if (c->user_net || c->nforwards) {
		buf_adds(b, "net user");
		for (size_t i = 0; i < c->nforwards; i++)
			buf_printf(b, " hostfwd=%d-%d", c->forwards[i].host_port,
				   c->forwards[i].guest_port);
		buf_adds(b, "\n");
	}
	for (size_t i = 0; i < c->nvlans; i++)
		buf_printf(b, "net vlan=%d mac=52:54:00:12:%02X:%02X\n", c->vlans[i], c->vlans[i],
			   c->index);
}

void snap_key_of(const char *inputs, char key[SNAP_KEY_LEN + 1])
{
	unsigned char h[32];
	sha256(inputs, strlen(inputs), h);
	hex(key, h, SNAP_KEY_LEN / 2);
}
