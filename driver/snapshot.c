/* snapshot.c - a node's first boot in a run, restored from the snapshot
 * cache (snapcache.c) or saved into it once settled (issue 22; the
 * contract with microvm is in docs/architecture.md, "Snapshots").
 *
 * Cold: the node boots as ever; once its backdoor shell has connected and
 * `systemctl is-system-running --wait` has returned (a guest without
 * systemctl: at once), microvm is told `snapshot DIR resume` on its control
 * socket, the console log so far is saved beside it, and the test goes
 * on. Restored: microvm --restore DIR with the same options; the shell is
 * already connected (a probe command answers instead of the banner), the
 * saved console log is replayed into the node's, and the guest's wall
 * clock is set and its RNG fed fresh bytes through the backdoor. Only a
 * node's first start in a run is either: a restart keeps its disks. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "loader.h"
#include "snapcache.h"

/* How long a boot may take to settle before no snapshot is taken. */
#define SETTLE_TIMEOUT 300
/* How long a restored shell may take to answer its probe. */
#define PROBE_TIMEOUT 60.0
/* How long microvm may take to write a snapshot. */
#define SAVE_TIMEOUT 600.0
#define DEFAULT_CACHE_MAX (8ULL << 30)

enum snap_mode { SNAP_COLD, SNAP_SAVE, SNAP_RESTORE };

struct snap {
	enum snap_mode mode;
	bool planned;  /* the node's first spawn has been seen */
	bool done;     /* saved, or restored and set up */
	bool refused;  /* its restore failed: never again in this run */
	char key[SNAP_KEY_LEN + 1];
	char *inputs;  /* the text key hashes */
	int lock;      /* KEY.lock: shared to restore, exclusive to save */
	double t0;     /* spawn of a restore */
};

/* --- configuration ------------------------------------------------------ */

static int parse_size(const char *s, unsigned long long *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	int shift = 0;
	switch (*end) {
	case 'K': case 'k': shift = 10; break;
	case 'M': case 'm': shift = 20; break;
	case 'G': case 'g': shift = 30; break;
	case 'T': case 't': shift = 40; break;
	}
	if (shift)
		end++;
	if (*end == 'i' && shift)
		end++;
	if (*end == 'B' && shift)
		end++;
	if (errno || end == s || *end || *s == '-' || v > (~0ULL >> shift))
		return -1;
	*out = v << shift;
	return 0;
}

int snap_config(struct driver *d)
{
	const char *c = getenv("MICROVMTEST_CACHE"), *max = getenv("MICROVMTEST_CACHE_MAX");
	const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
	d->snap_max = DEFAULT_CACHE_MAX;
	if (max && *max && parse_size(max, &d->snap_max) < 0) {
		fprintf(stderr, "microvmtest: MICROVMTEST_CACHE_MAX=%s: expected a size in bytes "
			"(a K, M, G or T suffix is allowed)\n", max);
		return -1;
	}
	int r;
	if (c && *c)
		r = asprintf(&d->snap_dir, "%s/snapshots", c);
	else if (xdg && *xdg)
		r = asprintf(&d->snap_dir, "%s/microvmtest/snapshots", xdg);
	else
		r = asprintf(&d->snap_dir, "%s/.cache/microvmtest/snapshots", home ? home : "/");
	if (r < 0)
		abort();
	return 0;
}

/* mkdir -p */
static int make_dirs(const char *path)
{
	char *p = strdup(path);
	int r = 0;
	for (char *s = p + 1; r == 0; s++) {
		bool last = !*s;
		if (*s != '/' && !last)
			continue;
		*s = 0;
		if (mkdir(p, 0755) < 0 && errno != EEXIST)
			r = -errno;
		if (last)
			break;
		*s = '/';
	}
	free(p);
	return r;
}

/* --- choosing, before the spawn ------------------------------------------ */

static struct snap *snap_of(struct machine *m)
{
	if (!m->snap) {
		m->snap = calloc(1, sizeof(*m->snap));
		if (!m->snap)
			abort();
		m->snap->lock = -1;
	}
	return m->snap;
}

/* Why m is not snapshotted at all, or NULL. */
static const char *why_not(struct machine *m, char *tmp, size_t len)
{
	struct driver *d = m->d;
	if (d->no_snapshots)
		return "--no-snapshots";
	if (m->conf->no_snapshot)
		return "\"snapshot\": false";
	if (d->qemu)
		return "--vmm qemu";
	/* A start_script runs this microvm too (docs/test-json.md). */
	if (!strstr(microvm_help(d), "--restore"))
		return "this microvm has no --restore";
	if (!d->snap_max)
		return "MICROVMTEST_CACHE_MAX is 0";
	if (strpbrk(d->snap_dir, " \t\n"))
		return "the cache's path has blanks, which microvm's control commands cannot carry";
	int e = make_dirs(d->snap_dir);
	if (e < 0) {
		snprintf(tmp, len, "cannot create %s: %s", d->snap_dir, strerror(-e));
		return tmp;
	}
	return NULL;
}

static bool entry_exists(const struct driver *d, const char *key)
{
	char *p;
	struct stat st;
	if (asprintf(&p, "%s/%s/state", d->snap_dir, key) < 0)
		abort();
	bool r = stat(p, &st) == 0;
	free(p);
	return r;
}

static void restore_from(struct machine *m, struct snap *s, int lock)
{
	s->mode = SNAP_RESTORE;
	s->lock = lock;
	cache_touch(m->d->snap_dir, s->key);
	tlog(m->name, "restoring from snapshot %s (in %s)", s->key, m->d->snap_dir);
}

/* Restore when the entry is there and can be held, else save when no one
 * else is writing it, else boot cold. */
static void choose(struct machine *m, struct snap *s)
{
	const char *dir = m->d->snap_dir;
	if (s->refused && entry_exists(m->d, s->key))
		return; /* kept for another run that holds it: cold, no save */
	int fd = cache_lock(dir, s->key, false);
	if (fd >= 0 && entry_exists(m->d, s->key)) {
		restore_from(m, s, fd);
		return;
	}
	if (fd >= 0)
		close(fd);
	fd = fd >= 0 ? cache_lock(dir, s->key, true) : fd;
	if (fd < 0) {
		tlog(m->name, "no snapshot: %s", fd == -EWOULDBLOCK
		     ? "another node or run is writing or removing this one's; booting cold"
		     : strerror(-fd));
		return;
	}
	/* Another run saved it meanwhile: restore it instead. */
	if (entry_exists(m->d, s->key) && flock(fd, LOCK_SH | LOCK_NB) == 0) {
		restore_from(m, s, fd);
		return;
	}
	s->mode = SNAP_SAVE;
	s->lock = fd;
	tlog(m->name, "no snapshot %s yet: booting cold, saving one once the boot has settled",
	     s->key);
}

void snap_plan(struct machine *m)
{
	struct snap *s = snap_of(m);
	s->mode = SNAP_COLD;
	if (s->planned)
		return; /* a restart: its disks are this run's */
	s->planned = true;
	char tmp[512];
	const char *why = why_not(m, tmp, sizeof(tmp));
	if (why) {
		tlog(m->name, "no snapshot: %s", why);
		return;
	}
	struct buf b = { 0 };
	snap_inputs(m, &b);
	snap_key_of(b.p, s->key);
	free(s->inputs);
	s->inputs = b.p;
	choose(m, s);
}

bool snap_control(const struct machine *m)
{
	return m->snap && m->snap->mode != SNAP_COLD;
}

void snap_argv(struct machine *m, char ***argv)
{
	if (!m->snap || m->snap->mode != SNAP_RESTORE)
		return;
	size_t n = 0;
	while ((*argv)[n])
		n++;
	argv_add(argv, &n, "--restore");
	argv_add(argv, &n, "%s/%s", m->d->snap_dir, m->snap->key);
}

void snap_spawned(struct machine *m)
{
	struct snap *s = m->snap;
	if (!s || s->mode != SNAP_RESTORE)
		return;
	s->t0 = now();
	char *p;
	size_t n;
	if (asprintf(&p, "%s/%s/console.log", m->d->snap_dir, s->key) < 0)
		abort();
	char *log = read_all(p, &n);
	free(p);
	if (log)
		buf_add(&m->console, log, n);
	free(log);
}

void snap_closed(struct machine *m)
{
	struct snap *s = m->snap;
	if (!s || s->lock < 0)
		return;
	/* A save that did not happen leaves no lock file behind (cache_lock
	 * copes with one removed under it). */
	if (s->mode == SNAP_SAVE && !entry_exists(m->d, s->key)) {
		char *p;
		if (asprintf(&p, "%s/%s.lock", m->d->snap_dir, s->key) < 0)
			abort();
		unlink(p);
		free(p);
	}
	close(s->lock);
	s->lock = -1;
}

void snap_free(struct machine *m)
{
	if (!m->snap)
		return;
	snap_closed(m);
	free(m->snap->inputs);
	free(m->snap);
	m->snap = NULL;
}

/* --- restoring ------------------------------------------------------------ */

/* The last line of m's console: microvm's own message when it refused. */
static void last_line(struct machine *m, char *out, size_t len)
{
	const struct buf *c = &m->console;
	size_t end = c->len;
	while (end && c->p[end - 1] == '\n')
		end--;
	size_t start = end;
	while (start && c->p[start - 1] != '\n')
		start--;
	snprintf(out, len, "%.*s", (int)(end - start), c->p ? c->p + start : "");
}

/* Wait until the restored shell prints the probe's answer; its input is
 * not its output, so an echoing tty cannot fake it. */
static int probe(struct ctx *x)
{
	struct machine *m = x->m;
	unsigned nonce = (unsigned)getpid() ^ (unsigned)(now() * 1e6);
	char cmd[64], want[40];
	snprintf(cmd, sizeof(cmd), "printf 'restored-%%s\\n' %08x\n", nonce);
	snprintf(want, sizeof(want), "restored-%08x\n", nonce);
	if (bd_send(x, cmd, strlen(cmd)) < 0)
		return -1;
	double until = now() + PROBE_TIMEOUT;
	struct buf *b = &m->shell_in;
	for (;;) {
		char *at = b->len ? memmem(b->p, b->len, want, strlen(want)) : NULL;
		if (at) {
			buf_consume(b, (size_t)(at - b->p) + strlen(want));
			return 0;
		}
		if (m->shell_fd < 0 || m->gen != x->gen)
			return ctx_fail(x, "microvm exited");
		buf_reserve(b, 4096);
		ssize_t n = read(m->shell_fd, b->p + b->len, 4096);
		if (n > 0) {
			b->len += (size_t)n;
			b->p[b->len] = 0;
			continue;
		}
		if (n == 0)
			return ctx_fail(x, "the restored shell closed the connection");
		if (errno != EAGAIN && errno != EINTR)
			return ctx_fail(x, "reading the restored shell: %s", strerror(errno));
		int r = drv_pump(m->d, m, m->shell_fd, POLLIN, until);
		if (r == IO_TIMEOUT)
			return ctx_fail(x, "the restored shell did not answer within %.0f s",
					PROBE_TIMEOUT);
		if (r == IO_EXITED)
			return ctx_fail(x, "microvm exited");
		if (r != IO_READY)
			return pump_fail(x, r, "waiting for the restored shell");
	}
}

/* The snapshot did not restore: drop it (unless another run holds it) and
 * the disk state the attempt made, then boot cold (saving a new one). */
static int fall_back(struct ctx *x, const char *why)
{
	struct machine *m = x->m;
	struct snap *s = m->snap;
	char line[256] = "";
	/* A microvm that refused the snapshot says why as it exits. */
	if (m->pid > 0 && !x->interrupted)
		drv_pump(m->d, m, -1, 0, now() + 1);
	if (m->pid > 0)
		machine_kill(m);
	else
		last_line(m, line, sizeof(line));
	snap_closed(m);
	int fd = cache_lock(m->d->snap_dir, s->key, true);
	bool gone = fd >= 0 && cache_remove(m->d->snap_dir, s->key) == 0;
	if (fd >= 0)
		close(fd);
	tlog(m->name, "snapshot %s not restored (%s%s%s); %s, booting cold", s->key, why,
	     *line ? ": " : "", line, gone ? "removed it" : "kept it (in use by another run)");
	for (size_t i = 0; i < m->conf->ndisks; i++)
		if (!m->conf->disks[i].readonly && m->disk_cow)
			unlink(m->disk_paths[i]);
	s->planned = false;
	s->refused = true;
	if (machine_spawn(x, m) < 0)
		return -1;
	x->gen = m->gen;
	return 0;
}

int snap_await_restore(struct ctx *x)
{
	struct snap *s = x->m->snap;
	if (!s || s->mode != SNAP_RESTORE || s->done)
		return 0;
	if (probe(x) == 0)
		return 1;
	if (x->interrupted)
		return -1;
	char *why = x->err;
	x->err = NULL;
	int r = fall_back(x, why ? why : "?");
	free(why);
	return r;
}

/* One command: the wall clock from the host's now, and with seed, bytes
 * for the guest's RNG. */
static int set_clock(struct ctx *x, const unsigned char *seed, size_t n, int *status)
{
	struct timespec ts;
	struct buf cmd = { 0 }, out = { 0 };
	clock_gettime(CLOCK_REALTIME, &ts);
	buf_printf(&cmd, "{ date -s @%lld.%09ld || date -s @%lld; } >/dev/null 2>&1",
		   (long long)ts.tv_sec, ts.tv_nsec, (long long)ts.tv_sec);
	if (seed) {
		buf_adds(&cmd, "; echo ");
		b64_encode(&cmd, seed, n);
		buf_adds(&cmd, " | base64 -d >/dev/urandom");
	}
	int r = bd_execute(x, cmd.p, 60, true, true, status, &out);
	buf_free(&cmd);
	buf_free(&out);
	return r;
}

/* Wall clock from the host, fresh bytes into the guest's RNG. A restored
 * guest's first commands are slow (every page it touches is faulted in
 * from the snapshot's memory), and the time sent is as old as the command
 * took to start: set it again until a command answers within 0.5 s. */
static int after_restore(struct ctx *x)
{
	struct machine *m = x->m;
	struct snap *s = m->snap;
	s->done = true;
	unsigned char seed[64];
	if (getrandom(seed, sizeof(seed), 0) != (ssize_t)sizeof(seed))
		return ctx_fail(x, "getrandom: %s", strerror(errno));
	int st = 0, r = 0;
	for (int i = 0; i < 4 && r == 0; i++) {
		double t0 = now();
		r = set_clock(x, i ? NULL : seed, sizeof(seed), &st);
		if (now() - t0 < 0.5)
			break;
	}
	if (r == 0 && st != 0)
		tlog(m->name, "after the restore, setting the clock and seeding the RNG "
		     "exited %d", st);
	if (r == 0)
		tlog(m->name, "restored from snapshot %s (%.0f ms)", s->key, (now() - s->t0) * 1e3);
	return r;
}

/* --- saving ---------------------------------------------------------------- */

/* Wait for the boot to settle: is-system-running --wait returns (whatever
 * it says), at once without systemctl. 0 when settled. */
static int settle(struct ctx *x)
{
	struct buf out = { 0 };
	int st;
	int r = bd_execute(x, "if command -v systemctl >/dev/null; then "
			   "systemctl is-system-running --wait; fi", SETTLE_TIMEOUT, true, true,
			   &st, &out);
	buf_free(&out);
	if (r < 0)
		return -1;
	if (st == 124) {
		tlog(x->m->name, "no snapshot: the boot did not settle within %d s "
		     "(systemctl is-system-running --wait)", SETTLE_TIMEOUT);
		return 1;
	}
	return 0;
}

static int write_file(const char *dir, const char *name, const char *data, size_t n)
{
	char *p;
	if (asprintf(&p, "%s/%s", dir, name) < 0)
		abort();
	int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	free(p);
	if (fd < 0)
		return -errno;
	int r = 0;
	while (n && r == 0) {
		ssize_t w = write(fd, data, n);
		if (w < 0 && errno != EINTR)
			r = -errno;
		if (w > 0) {
			data += w;
			n -= (size_t)w;
		}
	}
	if (close(fd) < 0 && r == 0)
		r = -errno;
	return r;
}

/* Complete the staging directory microvm wrote and give it its name. */
static int commit(struct machine *m, const char *staging)
{
	struct snap *s = m->snap;
	const struct buf *c = &m->console;
	int r = write_file(staging, "console.log", c->p ? c->p : "", c->len);
	if (r == 0)
		r = write_file(staging, "inputs", s->inputs, strlen(s->inputs));
	if (r == 0)
		r = cache_commit(m->d->snap_dir, staging, s->key);
	if (r < 0 && r != -EEXIST)
		rm_tree(staging);
	return r;
}

/* After a commit: the new entry within the bound, the oldest out. */
static void bound(struct machine *m)
{
	struct driver *d = m->d;
	const char *key = m->snap->key;
	unsigned long long size = cache_entry_size(d->snap_dir, key);
	if (size > d->snap_max) {
		cache_remove(d->snap_dir, key); /* still under our exclusive lock */
		tlog(m->name, "snapshot %s takes %llu MiB, more than MICROVMTEST_CACHE_MAX "
		     "(%llu MiB): not kept", key, size >> 20, d->snap_max >> 20);
		return;
	}
	int n = cache_evict(d->snap_dir, d->snap_max, key);
	if (n)
		tlog(m->name, "removed %d least recently used snapshot%s to stay within %llu MiB",
		     n, n == 1 ? "" : "s", d->snap_max >> 20);
}

static int save(struct ctx *x)
{
	struct machine *m = x->m;
	struct snap *s = m->snap;
	char *staging, *cmd;
	if (asprintf(&staging, "%s/%s.tmp-%d", m->d->snap_dir, s->key, (int)getpid()) < 0 ||
	    asprintf(&cmd, "snapshot %s resume\n", staging) < 0)
		abort();
	rm_tree(staging); /* a node of this run that failed before */
	struct buf reply = { 0 };
	double t0 = now();
	int r = net_control(x, cmd, SAVE_TIMEOUT, &reply);
	if (r < 0 && !x->interrupted && m->pid > 0) {
		tlog(m->name, "no snapshot: %s", x->err);
		free(x->err);
		x->err = NULL;
		r = 0;
	} else if (r == 0) {
		reply.p[strcspn(reply.p, "\n")] = 0;
		if (strncmp(reply.p, "ok", 2)) {
			tlog(m->name, "no snapshot: microvm says: %s", reply.p);
			rm_tree(staging);
		} else if ((r = commit(m, staging)) < 0) {
			tlog(m->name, "no snapshot: %s", r == -EEXIST
			     ? "another run saved this node's first" : strerror(-r));
			r = 0;
		} else {
			tlog(m->name, "saved snapshot %s in %.0f ms (%s)", s->key, (now() - t0) * 1e3,
			     reply.p);
			bound(m);
		}
	}
	snap_closed(m); /* the entry is whole (or not there): others may use it */
	buf_free(&reply);
	free(cmd);
	free(staging);
	return r;
}

int snap_connected(struct ctx *x)
{
	struct snap *s = x->m->snap;
	if (!s || s->done || s->mode == SNAP_COLD)
		return 0;
	if (s->mode == SNAP_RESTORE)
		return after_restore(x);
	s->done = true;
	int r = settle(x);
	if (r != 0) {
		snap_closed(x->m);
		return r < 0 ? -1 : 0;
	}
	return save(x);
}
