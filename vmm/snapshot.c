/* snapshot.c - `snapshot DIR [resume|exit]` on the control channel and
 * --restore DIR: parking the vCPUs, writing DIR/state and the sparse
 * DIR/memory, and checking a snapshot before anything starts. The format
 * is in snapshot-format.c, the pieces of state in each SNAPSHOT_SECTION.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "control.h"
#include "log.h"
#include "snapshot.h"
#include "vm.h"

#define PAGE 4096
#define STATE_MAX (256u << 20) /* bounds what --restore reads of a hostile file */

/* --- the machine's shape, checked before anything starts ------------------ */

static int config_save(struct vm *vm, struct snap_buf *b, const char *dir, char *why, size_t len)
{
	(void)dir, (void)why, (void)len;
	snap_put_u64(b, vm->cfg.mem_size);
	snap_put_u32(b, vm->cfg.ncpus);
	snap_put_u32(b, vm->cfg.acpi);
	snap_put_str(b, vm->cfg.devices);
	return 0;
}

/* Compared in snapshot_load; nothing left to do once the VM exists. */
static int config_restore(struct vm *vm, struct snap_reader *r, const char *dir)
{
	(void)vm, (void)dir;
	r->off = r->len;
	return 0;
}

SNAPSHOT_SECTION(config, .name = "config", .save = config_save, .restore = config_restore);

static int config_check(const struct vm *vm, struct snap_reader *r, const char *dir)
{
	char devices[sizeof(vm->cfg.devices)];
	uint64_t mem = snap_get_u64(r);
	uint32_t ncpus = snap_get_u32(r), acpi = snap_get_u32(r);
	snap_get_str(r, devices, sizeof(devices));
	if (snap_done(r) < 0)
		log_error("--restore %s: state: bad config section: expected memory, cpus, devices", dir);
	else if (mem != vm->cfg.mem_size)
		log_error("--restore %s: --memory %llu MiB differs: expected %llu MiB, as saved", dir,
			  (unsigned long long)(vm->cfg.mem_size >> 20), (unsigned long long)(mem >> 20));
	else if (ncpus != (uint32_t)vm->cfg.ncpus)
		log_error("--restore %s: --cpus %d differs: expected %u, as saved", dir, vm->cfg.ncpus,
			  ncpus);
	else if (acpi != vm->cfg.acpi)
		log_error("--restore %s: --no-acpi differs: expected it %s, as saved", dir,
			  acpi ? "absent" : "given");
	else if (strcmp(devices, vm->cfg.devices))
		log_error("--restore %s: devices \"%s\" differ: expected \"%s\" (the same device "
			  "options in the same order), as saved", dir, vm->cfg.devices, devices);
	else
		return 0;
	return -1;
}

/* --- sparse files ---------------------------------------------------------- */

static int copy_range(int src, int dst, off_t off, off_t end, uint8_t *buf, size_t bufsz)
{
	while (off < end) {
		size_t n = end - off < (off_t)bufsz ? (size_t)(end - off) : bufsz;
		ssize_t k = pread(src, buf, n, off);
		if (k <= 0)
			return k < 0 ? -errno : -EIO;
		for (ssize_t w = 0; w < k;) {
			ssize_t m = pwrite(dst, buf + w, k - w, off + w);
			if (m <= 0)
				return m < 0 ? -errno : -EIO;
			w += m;
		}
		off += k;
	}
	return 0;
}

int snap_copy_file(int fd, const char *path, uint64_t size, bool into_fd)
{
	int other = open(path, into_fd ? O_RDONLY | O_CLOEXEC
				       : O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (other < 0)
		return -errno;
	int src = into_fd ? other : fd, dst = into_fd ? fd : other;
	struct stat st;
	int r = 0;
	if (into_fd && (fstat(src, &st) < 0 || (uint64_t)st.st_size != size))
		r = -EINVAL; /* not the size of the disk it was saved for */
	if (r == 0 && (ftruncate(dst, 0) < 0 || ftruncate(dst, size) < 0))
		r = -errno;
	uint8_t *buf = r == 0 ? malloc(1 << 20) : NULL;
	if (r == 0 && !buf)
		r = -ENOMEM;
	for (off_t off = 0; r == 0 && off < (off_t)size;) {
		off_t data = lseek(src, off, SEEK_DATA);
		if (data < 0)
			break; /* ENXIO: no data after off */
		off_t hole = lseek(src, data, SEEK_HOLE);
		if (hole < 0)
			hole = size;
		r = copy_range(src, dst, data, hole, buf, 1 << 20);
		off = hole;
	}
	free(buf);
	close(other);
	return r;
}

/* --- taking a snapshot ---------------------------------------------------- */

static double ms_since(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1e3 + (t.tv_nsec - t0->tv_nsec) / 1e6;
}

static bool page_zero(const uint8_t *p)
{
	const uint64_t *q = (const uint64_t *)p;
	for (size_t i = 0; i < PAGE / 8; i++)
		if (q[i])
			return false;
	return true;
}

/* Guest RAM into fd, regions one after another; pages of zeros stay holes. */
static int save_memory(struct vm *vm, int fd, uint64_t *size)
{
	uint64_t off = 0;
	for (int i = 0; i < vm->nram; i++) {
		const uint8_t *base = vm->ram[i].host;
		uint64_t n = vm->ram[i].size;
		for (uint64_t p = 0; p < n;) {
			if (page_zero(base + p)) {
				p += PAGE;
				continue;
			}
			uint64_t q = p + PAGE;
			while (q < n && q - p < (8u << 20) && !page_zero(base + q))
				q += PAGE;
			for (uint64_t w = p; w < q;) {
				ssize_t k = pwrite(fd, base + w, q - w, off + w);
				if (k <= 0)
					return k < 0 ? -errno : -EIO;
				w += k;
			}
			p = q;
		}
		off += n;
	}
	*size = off;
	return ftruncate(fd, off) < 0 ? -errno : 0;
}

static int save_state(struct vm *vm, const char *tmp, int dfd, uint64_t mem_size,
		      size_t *bytes, char *why, size_t wlen)
{
	struct snap_buf b = { 0 };
	snap_begin(&b);
	int r = 0;
	snap_section_foreach(s) {
		struct snap_buf sb = { 0 };
		r = s->save ? s->save(vm, &sb, tmp, why, wlen) : 0;
		if (r == 0 && (r = sb.err) < 0)
			snprintf(why, wlen, "%s: out of memory", s->name);
		if (r == 0)
			snap_put_section(&b, s->name, sb.data, sb.len);
		free(sb.data);
		if (r < 0)
			break;
	}
	if (r == 0 && (r = b.err) < 0)
		snprintf(why, wlen, "out of memory");
	if (r == 0) {
		snap_finish(&b, arch_snapshot_host_id(vm), mem_size);
		int fd = openat(dfd, "state", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		ssize_t k = fd < 0 ? -1 : write(fd, b.data, b.len);
		if (k != (ssize_t)b.len) {
			r = k < 0 ? -errno : -EIO;
			snprintf(why, wlen, "%s/state: %s", tmp, strerror(-r));
		}
		if (fd >= 0)
			close(fd);
		*bytes = b.len;
	}
	free(b.data);
	return r;
}

/* Remove what a failed snapshot left in tmp (only files we write). */
static void remove_partial(int dfd, const char *tmp)
{
	char name[32];
	unlinkat(dfd, "state", 0);
	unlinkat(dfd, "memory", 0);
	for (int i = 0; i < 64; i++) { /* more than --disk takes */
		snprintf(name, sizeof(name), "disk-%d.cow", i);
		unlinkat(dfd, name, 0);
	}
	unlinkat(AT_FDCWD, tmp, AT_REMOVEDIR);
}

/* vCPUs parked, devices quiet: write everything into tmp. */
static int save_all(struct vm *vm, const char *tmp, char *why, size_t wlen, size_t *state,
		    uint64_t *alloc)
{
	int dfd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		snprintf(why, wlen, "%s: %s", tmp, strerror(errno));
		return -errno;
	}
	int r = 0;
	uint64_t mem_size = 0;
	int mfd = openat(dfd, "memory", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (mfd < 0 || (r = save_memory(vm, mfd, &mem_size)) < 0) {
		r = r ? r : -errno;
		snprintf(why, wlen, "%s/memory: %s", tmp, strerror(-r));
	}
	struct stat st;
	if (mfd >= 0 && fstat(mfd, &st) == 0)
		*alloc = (uint64_t)st.st_blocks * 512;
	if (mfd >= 0)
		close(mfd);
	if (r == 0)
		r = save_state(vm, tmp, dfd, mem_size, state, why, wlen);
	if (r < 0)
		remove_partial(dfd, tmp);
	close(dfd);
	return r;
}

/* Each section's check, in order: refuse (can it be saved at all?) before
 * anything is paused, quiesce (drain in-flight requests) once it is. */
enum section_step { STEP_REFUSE, STEP_QUIESCE };

static int each_section(struct vm *vm, enum section_step step, char *why, size_t wlen)
{
	snap_section_foreach(s) {
		int (*fn)(struct vm *, char *, size_t) = step == STEP_REFUSE ? s->refuse : s->quiesce;
		int r = fn ? fn(vm, why, wlen) : 0;
		if (r < 0)
			return r;
	}
	return 0;
}

int snapshot_take(struct vm *vm, const char *dir, bool exit_after, char *reply, size_t len)
{
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	struct stat st;
	char tmp[4096];
	if (!*dir || lstat(dir, &st) == 0 || errno != ENOENT) {
		snprintf(reply, len, "%s: %s", dir,
			 *dir ? "exists: expected a new directory" : "expected a directory name");
		return -EEXIST;
	}
	snprintf(tmp, sizeof(tmp), "%s.partial-%d", dir, (int)getpid());
	int r = each_section(vm, STEP_REFUSE, reply, len);
	if (r < 0)
		return r;
	if (mkdir(tmp, 0755) < 0) {
		r = -errno;
		snprintf(reply, len, "%s: %s", tmp, strerror(-r));
		return r;
	}
	vcpu_pause_all(vm);
	size_t state = 0;
	uint64_t alloc = 0;
	if (atomic_load(&vm->exiting)) {
		snprintf(reply, len, "the guest is stopping");
		r = -ECANCELED;
		unlinkat(AT_FDCWD, tmp, AT_REMOVEDIR);
	} else if ((r = each_section(vm, STEP_QUIESCE, reply, len)) < 0) {
		unlinkat(AT_FDCWD, tmp, AT_REMOVEDIR);
	} else if ((r = save_all(vm, tmp, reply, len, &state, &alloc)) == 0 &&
		   rename(tmp, dir) < 0) {
		r = -errno;
		snprintf(reply, len, "rename %s to %s: %s", tmp, dir, strerror(-r));
	}
	if (r == 0) {
		snprintf(reply, len, "snapshot %s: %zu state, %llu memory (allocated), %.0f ms", dir,
			 state, (unsigned long long)alloc, ms_since(&t0));
		log_debug("%s", reply);
	}
	if (r == 0 && exit_after)
		vm_request_exit(vm, VM_EXIT_POWEROFF, "snapshot taken, exit asked for");
	else
		vcpu_resume_all(vm);
	return r;
}

static int ctl_snapshot(struct vm *vm, const char *args, char *reply, size_t len)
{
	char dir[2048], mode[16] = "resume";
	int n = sscanf(args, "%2047s %15s", dir, mode);
	char extra;
	if (n < 1 || sscanf(args, "%*s %*s %c", &extra) == 1 ||
	    (strcmp(mode, "resume") && strcmp(mode, "exit"))) {
		snprintf(reply, len, "usage: snapshot DIR [resume|exit]");
		return -EINVAL;
	}
	return snapshot_take(vm, dir, !strcmp(mode, "exit"), reply, len);
}

CONTROL_CMD(snapshot, .name = "snapshot", .usage = "snapshot DIR [resume|exit]",
	    .run = ctl_snapshot);

/* --- restoring ------------------------------------------------------------ */

static int read_state(const char *dir, uint8_t **buf, size_t *len)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/state", dir);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		log_error("--restore %s: %s: %s", dir, path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	size_t n = st.st_size > STATE_MAX ? STATE_MAX : st.st_size;
	uint8_t *b = malloc(n ? n : 1);
	size_t got = 0;
	while (b && got < n) {
		ssize_t k = read(fd, b + got, n - got);
		if (k <= 0)
			break;
		got += k;
	}
	close(fd);
	if (!b) {
		log_error("--restore %s: state: out of memory", dir);
		return -1;
	}
	*buf = b;
	*len = got;
	return 0;
}

static int open_memory(struct vm *vm, const char *dir, uint64_t size)
{
	char path[4096];
	struct stat st;
	snprintf(path, sizeof(path), "%s/memory", dir);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		log_error("--restore %s: %s: %s", dir, path, strerror(errno));
		return -1;
	}
	/* A short file would be a SIGBUS when the guest touches its end. */
	if ((uint64_t)st.st_size != size || size != vm->cfg.mem_size) {
		log_error("--restore %s: memory: %llu bytes: expected %llu (truncated?)", dir,
			  (unsigned long long)st.st_size, (unsigned long long)vm->cfg.mem_size);
		close(fd);
		return -1;
	}
	vm->restore_mem_fd = fd;
	return 0;
}

int snapshot_load(struct vm *vm, const char *dir)
{
#ifndef __x86_64__
	log_error("--restore %s: snapshots are not supported on this architecture yet: "
		  "expected an x86_64 host", dir);
	return -1;
#endif
	uint8_t *buf;
	size_t len;
	char why[256];
	struct snap_reader r;
	if (read_state(dir, &buf, &len) < 0)
		return -1;
	if (snap_parse(buf, len, why, sizeof(why)) < 0) {
		log_error("--restore %s: state: %s", dir, why);
	} else if (!snap_find(buf, len, "config", &r)) {
		log_error("--restore %s: state: no config section: expected one", dir);
	} else if (config_check(vm, &r, dir) == 0 &&
		   open_memory(vm, dir, ((const struct snap_header *)buf)->mem_size) == 0) {
		vm->restore_state = buf;
		vm->restore_len = len;
		return 0;
	}
	free(buf);
	return -1;
}

int snapshot_apply(struct vm *vm)
{
	const char *dir = vm->cfg.restore;
	const struct snap_header *h = (const struct snap_header *)vm->restore_state;
	uint64_t host = arch_snapshot_host_id(vm);
	if (h->host_id != host) {
		log_error("--restore %s: taken on another CPU (CPUID hash %016llx): expected this "
			  "host's (%016llx)", dir, (unsigned long long)h->host_id,
			  (unsigned long long)host);
		return -1;
	}
	snap_section_foreach(s) {
		struct snap_reader r;
		if (!s->restore)
			continue;
		if (!snap_find(vm->restore_state, vm->restore_len, s->name, &r)) {
			log_error("--restore %s: state: no %s section: expected one", dir, s->name);
			return -1;
		}
		if (s->restore(vm, &r, dir) < 0)
			return -1;
		if (snap_done(&r) < 0) {
			log_error("--restore %s: state: section %s: %zu bytes: expected %zu", dir,
				  s->name, r.len, r.off);
			return -1;
		}
	}
	log_debug("restored from %s, %.1f ms after start", dir, vm_elapsed_ms(vm));
	return 0;
}
