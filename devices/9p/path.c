/* path.c - keeping the guest inside the share.
 *
 * The guest only ever names one component at a time, relative to a fid's
 * fd. Each is checked (no '/', not "..") and opened with openat2
 * RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS and
 * O_NOFOLLOW, so no symlink is ever followed on the host. ".." is answered by the server:
 * at the root it stays there, elsewhere the parent is checked to still lie
 * beneath the root. O_PATH fds become open files through /proc/self/fd,
 * which names the very file the fd holds (nothing is looked up again).
 */
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "server.h"

#define MAX_DEPTH 4096

int p9_check_name(const char *name)
{
	if (!name[0] || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, ".."))
		return -EINVAL;
	return 0;
}

int p9_openat(int dirfd, const char *name, int flags, mode_t mode)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_NOFOLLOW | O_CLOEXEC),
		.mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	static bool no_openat2;
	int r = p9_check_name(name);
	if (r < 0)
		return r;
	int fd;
	do {
		/* Without openat2 (before Linux 5.6, or under qemu-user), openat of
		 * one checked component with O_NOFOLLOW resolves exactly the same:
		 * no component to traverse, and the last is never followed. */
		if (__atomic_load_n(&no_openat2, __ATOMIC_RELAXED))
			fd = openat(dirfd, name, (int)how.flags, (mode_t)how.mode);
		else if ((fd = syscall(SYS_openat2, dirfd, name, &how, sizeof(how))) < 0 &&
			 errno == ENOSYS)
			__atomic_store_n(&no_openat2, true, __ATOMIC_RELAXED);
	} while (fd < 0 && (errno == EINTR || errno == ENOSYS));
	return fd < 0 ? -errno : fd;
}

int p9_stat_fd(int fd, struct stat *st)
{
	return fstatat(fd, "", st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
}

static bool is_root(const struct p9_server *s, const struct stat *st)
{
	return st->st_dev == s->root_dev && st->st_ino == s->root_ino;
}

/* True when dirfd's directory has the root among its ancestors: a directory
 * moved out of the share on the host must not lead the guest out. */
static bool beneath_root(const struct p9_server *s, int dirfd)
{
	int fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
	bool ok = false;
	for (int depth = 0; fd >= 0 && depth < MAX_DEPTH; depth++) {
		struct stat st, up;
		if (p9_stat_fd(fd, &st) < 0)
			break;
		if (is_root(s, &st)) {
			ok = true;
			break;
		}
		int p = openat(fd, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
		close(fd);
		fd = p;
		if (fd < 0 || p9_stat_fd(fd, &up) < 0 || (up.st_dev == st.st_dev &&
							 up.st_ino == st.st_ino))
			break; /* reached the host's / */
	}
	if (fd >= 0)
		close(fd);
	return ok;
}

int p9_walk1(struct p9_server *s, int fd, const char *name)
{
	struct stat st;
	if (strcmp(name, "..") && strcmp(name, "."))
		return p9_openat(fd, name, O_PATH, 0);
	if (p9_stat_fd(fd, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	if (!strcmp(name, ".") || is_root(s, &st)) {
		int d = fcntl(fd, F_DUPFD_CLOEXEC, 0);
		return d < 0 ? -errno : d;
	}
	int p = openat(fd, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (p < 0)
		return -errno;
	if (!beneath_root(s, p)) {
		close(p);
		return -EACCES;
	}
	return p;
}

void p9_fdname(int fd, char buf[16])
{
	snprintf(buf, 16, "%d", fd);
}

/* Open fd's own file for I/O. Only regular files and directories: a FIFO
 * would block a worker (or its reader would wait on the guest), and a
 * device node, made by the guest or not, is a host device. */
static int open_checked(struct p9_server *s, int fd, int flags)
{
	struct stat st;
	char name[16];
	int r = p9_stat_fd(fd, &st);
	if (r < 0)
		return r;
	if (S_ISLNK(st.st_mode))
		return -ELOOP;
	if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
		return -ENXIO;
	if (S_ISDIR(st.st_mode) && (flags & O_CREAT))
		return -EISDIR; /* as open(O_CREAT) of a directory */
	p9_fdname(fd, name);
	/* O_NONBLOCK too: the type cannot change under a /proc reopen (it
	 * names this inode), but no open the guest causes may ever wait. */
	r = openat(s->proc_fd, name, (flags & ~(O_CREAT | O_EXCL | O_PATH)) | O_CLOEXEC |
					     O_NOCTTY | O_NONBLOCK);
	return r < 0 ? -errno : r;
}

int p9_open(struct p9_server *s, int fd, const char *name, int flags, mode_t mode, bool *made)
{
	if (made)
		*made = false;
	if (!name)
		return open_checked(s, fd, flags);
	/* Only a fresh file is opened by name (so it is a regular one); what
	 * is there already is looked at through O_PATH before it is opened. */
	for (int tries = 0; tries < 8; tries++) {
		int r = p9_openat(fd, name, flags | O_CREAT | O_EXCL | O_NONBLOCK, mode);
		if (r >= 0 && made)
			*made = true;
		if (r != -EEXIST || (flags & O_EXCL))
			return r;
		int p = p9_openat(fd, name, O_PATH, 0);
		if (p == -ENOENT)
			continue; /* removed meanwhile: make it after all */
		if (p < 0)
			return p;
		r = open_checked(s, p, flags | O_CREAT);
		close(p);
		return r;
	}
	return -EAGAIN;
}

int p9_fid_parent(struct p9_server *s, struct p9_fid *f, int *dirfd, char name[P9_NAME_MAX])
{
	char link[32], path[PATH_MAX];
	snprintf(link, sizeof(link), "%d", f->fd);
	ssize_t n = readlinkat(s->proc_fd, link, path, sizeof(path) - 1);
	if (n < 0)
		return -errno;
	path[n] = 0;
	size_t rl = strlen(s->root_path);
	const char *rel = path + rl;
	if (strncmp(path, s->root_path, rl) || (rl > 1 && *rel && *rel != '/'))
		return -EXDEV; /* deleted, or moved out of the share on the host */
	while (*rel == '/')
		rel++;
	const char *slash = strrchr(rel, '/');
	const char *base = slash ? slash + 1 : rel;
	if (strlen(base) >= P9_NAME_MAX || p9_check_name(base) < 0)
		return -EBUSY; /* the root itself, or a name we cannot take */
	strcpy(name, base);
	/* Walk down from the root one component at a time, as the guest would. */
	char dir[PATH_MAX], *save;
	snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - rel) : 0, rel);
	int d = fcntl(s->root_fd, F_DUPFD_CLOEXEC, 0);
	for (char *c = strtok_r(dir, "/", &save); c && d >= 0; c = strtok_r(NULL, "/", &save)) {
		int next = p9_openat(d, c, O_PATH | O_DIRECTORY, 0);
		close(d);
		d = next;
	}
	if (d < 0)
		return d == -1 ? -errno : d;
	/* The name must still be this fid's file (the path was read racily). */
	struct stat a, b;
	if (p9_stat_fd(f->fd, &a) < 0 || fstatat(d, name, &b, AT_SYMLINK_NOFOLLOW) < 0 ||
	    a.st_dev != b.st_dev || a.st_ino != b.st_ino) {
		close(d);
		return -ENOENT;
	}
	*dirfd = d;
	return 0;
}

void p9_put_qid(struct p9_server *s, struct p9_cur *c, const struct stat *st)
{
	uint8_t type = S_ISDIR(st->st_mode) ? 0x80 : S_ISLNK(st->st_mode) ? 0x02 : 0;
	uint64_t path = st->st_ino;
	/* Files on another file system mounted inside the share: keep their
	 * numbers apart from the root file system's. */
	if (st->st_dev != s->root_dev)
		path ^= ((uint64_t)st->st_dev * 0x9e3779b97f4a7c15ULL) & 0xffff000000000000ULL;
	p9_put_u8(c, type);
	p9_put_u32(c, 0);
	p9_put_u64(c, path);
}

mode_t p9_perm(const struct p9_server *s, uint32_t mode, bool dir)
{
	/* A setuid or setgid program in the share runs with those ids for
	 * whoever on the host starts it. On a directory setgid only hands its
	 * group to new files (setuid there means nothing). */
	mode &= 07777;
	if (!s->privileged)
		mode &= dir ? ~(uint32_t)S_ISUID : ~(uint32_t)(S_ISUID | S_ISGID);
	return mode;
}

/* Set the setuid and setgid bits of mode on name in dirfd again, keeping
 * the rest of its mode: chown cleared them. */
static void set_id_bits(struct p9_server *s, int dirfd, const char *name, mode_t mode)
{
	struct stat st;
	char fdname[16];
	int fd = name[0] ? p9_openat(dirfd, name, O_PATH, 0) : dirfd;
	if (fd < 0)
		return;
	p9_fdname(fd, fdname);
	if (p9_stat_fd(fd, &st) == 0 && !S_ISLNK(st.st_mode))
		fchmodat(s->proc_fd, fdname, (st.st_mode & 01777) | (mode & 06000), 0);
	if (fd != dirfd)
		close(fd);
}

void p9_set_owner(struct p9_server *s, int dirfd, const char *name, uint32_t uid, uint32_t gid,
		  mode_t mode)
{
	/* Unprivileged, chown fails and the file keeps microvm's own ids. */
	if (fchownat(dirfd, name, uid == P9_NONUID ? (uid_t)-1 : uid, gid,
		     AT_SYMLINK_NOFOLLOW | (name[0] ? 0 : AT_EMPTY_PATH)) < 0)
		errno = 0;
	if (s->privileged && (mode & 06000))
		set_id_bits(s, dirfd, name, mode);
}
