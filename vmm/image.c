/* image.c - reading kernel/initrd files and recognising compression. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image.h"
#include "log.h"
#include "vm.h"

int image_read(const char *path, uint8_t **buf, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		int e = S_ISDIR(st.st_mode) ? EISDIR : (errno ? errno : EINVAL);
		close(fd);
		return -e;
	}
	uint8_t *p = malloc(st.st_size ? st.st_size : 1);
	if (!p) {
		close(fd);
		return -ENOMEM;
	}
	size_t got = 0;
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, p + got, st.st_size - got);
		if (r <= 0) {
			int e = r < 0 ? errno : EIO;
			free(p);
			close(fd);
			return -e;
		}
		got += r;
	}
	close(fd);
	*buf = p;
	*len = got;
	return 0;
}

static const struct {
	const char *name;
	uint8_t magic[6];
	size_t len;
} image_magics[] = {
	{ "gzip", { 0x1f, 0x8b }, 2 },
	{ "xz", { 0xfd, '7', 'z', 'X', 'Z', 0 }, 6 },
	{ "zstd", { 0x28, 0xb5, 0x2f, 0xfd }, 4 },
	{ "lz4", { 0x02, 0x21, 0x4c, 0x18 }, 4 },
	{ "bzip2", { 'B', 'Z', 'h' }, 3 },
	{ "lzo", { 0x89, 'L', 'Z', 'O' }, 4 },
	{ "lzma", { 0x5d, 0, 0 }, 3 },
};

const char *image_compression(const uint8_t *buf, size_t len)
{
	for (size_t i = 0; i < sizeof(image_magics) / sizeof(image_magics[0]); i++)
		if (len >= image_magics[i].len &&
		    !memcmp(buf, image_magics[i].magic, image_magics[i].len))
			return image_magics[i].name;
	return NULL;
}

/* Cache file name for path, or -ENOENT when caching is off or impossible. */
static int image_cache_name(const char *path, char *name, size_t size)
{
	const char *dir = getenv("MICROVM_CACHE"), *base = NULL, *sub = "";
	if (dir && !strcmp(dir, "off"))
		return -ENOENT;
	if (!dir || !*dir) {
		if ((base = getenv("XDG_CACHE_HOME")) && *base)
			sub = "/microvm";
		else if ((base = getenv("HOME")) && *base)
			sub = "/.cache/microvm";
		else
			return -ENOENT;
	}
	struct stat st;
	if (stat(path, &st) < 0)
		return -errno;
	char id[160];
	snprintf(id, sizeof(id), "%llu:%llu:%lld:%lld.%ld:%lld.%ld",
		 (unsigned long long)st.st_dev, (unsigned long long)st.st_ino,
		 (long long)st.st_size, (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec,
		 (long long)st.st_ctim.tv_sec, st.st_ctim.tv_nsec);
	uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */
	for (const char *c = id; *c; c++)
		h = (h ^ (uint8_t)*c) * 0x100000001b3ULL;
	int n = snprintf(name, size, "%s%s/kernel-%016llx", dir ? dir : base, sub,
			 (unsigned long long)h);
	return n > 0 && (size_t)n < size ? 0 : -ENAMETOOLONG;
}

int image_cache_map(const char *path, struct image_map *m)
{
	char name[4096];
	int r = image_cache_name(path, name, sizeof(name));
	if (r < 0)
		return r;
	m->fd = open(name, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (m->fd < 0 || fstat(m->fd, &st) < 0 || st.st_size == 0) {
		r = m->fd < 0 ? -errno : -ENOENT;
		if (m->fd >= 0)
			close(m->fd);
		return r;
	}
	m->len = st.st_size;
	m->buf = mmap(NULL, m->len, PROT_READ, MAP_PRIVATE, m->fd, 0);
	if (m->buf == MAP_FAILED) {
		r = -errno;
		close(m->fd);
		return r;
	}
	return 0;
}

void image_unmap(struct image_map *m)
{
	munmap(m->buf, m->len);
	close(m->fd);
}

int image_pread(int fd, void *dst, size_t len, off_t off)
{
	uint8_t *p = dst;
	while (len) {
		ssize_t n = pread(fd, p, len, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n;
		len -= n;
		off += n;
	}
	return 0;
}

static int mkdir_p(char *dir)
{
	for (char *p = dir + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		int r = mkdir(dir, 0755);
		*p = '/';
		if (r < 0 && errno != EEXIST)
			return -errno;
	}
	return mkdir(dir, 0755) < 0 && errno != EEXIST ? -errno : 0;
}

void image_cache_store(const char *path, const uint8_t *buf, size_t len)
{
	char name[4096], tmp[4200];
	if (image_cache_name(path, name, sizeof(name)) < 0)
		return;
	char *slash = strrchr(name, '/');
	*slash = 0;
	int r = mkdir_p(name);
	*slash = '/';
	/* Write beside it and rename: concurrent microvms never see half a file. */
	snprintf(tmp, sizeof(tmp), "%s.%d.tmp", name, (int)getpid());
	int fd = r < 0 ? -1 : open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		log_debug("kernel cache %s: not stored: %s", name, strerror(r < 0 ? -r : errno));
		return;
	}
	size_t done = 0;
	while (done < len) {
		ssize_t w = write(fd, buf + done, len - done);
		if (w <= 0)
			break;
		done += w;
	}
	if (close(fd) == 0 && done == len && rename(tmp, name) == 0)
		log_debug("kernel cache: stored %s", name);
	else
		unlink(tmp);
}

int image_load_initrd(struct vm *vm, uint64_t low, uint64_t top, uint64_t *gpa,
		      uint64_t *size)
{
	*gpa = *size = 0;
	if (!vm->cfg.initrd)
		return 0;
	uint8_t *buf;
	size_t len;
	int r = image_read(vm->cfg.initrd, &buf, &len);
	if (r < 0) {
		log_error("--initrd %s: %s", vm->cfg.initrd, strerror(-r));
		return r;
	}
	uint64_t at = (top - len) & ~0xfffULL;
	if (len > top || at < low || !vm_gpa_ptr(vm, at, len)) {
		log_error("--initrd %s: %zu MiB does not fit in guest RAM above the kernel "
			  "(try a larger --memory)", vm->cfg.initrd, (len >> 20) + 1);
		free(buf);
		return -EFBIG;
	}
	memcpy(vm_gpa_ptr(vm, at, len), buf, len);
	free(buf);
	*gpa = at;
	*size = len;
	return 0;
}
