/* image.h - helpers for loading kernel and initrd files, shared by the
 * architecture loaders. */
#ifndef IMAGE_H
#define IMAGE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct vm;

/* Read the whole file at path into a new buffer (*buf, *len; free() it).
 * Returns 0 or -errno. */
int image_read(const char *path, uint8_t **buf, size_t *len);

/* Which compression buf starts with: "gzip", "xz", "zstd", "lz4", "lzma",
 * "bzip2", "lzo" or NULL when unknown. */
const char *image_compression(const uint8_t *buf, size_t len);

/* Decompress buf (gzip, xz or zstd) into a new buffer of at most max bytes.
 * Returns 0, -ENOTSUP for a format microvm was built without, -EINVAL for
 * corrupt data, -EFBIG when the output exceeds max, -ENOMEM. */
int image_decompress(const uint8_t *buf, size_t len, size_t max, uint8_t **out,
		     size_t *outlen);

/* Load vm->cfg.initrd, if any, page aligned just below guest-physical top
 * and not below low (the end of the kernel). Sets *gpa and *size (both 0
 * without an initrd). Returns 0, or -errno after printing one line. */
int image_load_initrd(struct vm *vm, uint64_t low, uint64_t top, uint64_t *gpa,
		      uint64_t *size);

/* The cache of unpacked kernels, so that each kernel file is decompressed
 * once, not at every boot. Entries are keyed by the source file's identity
 * (device, inode, size, mtime, ctime) and live in $MICROVM_CACHE, else
 * $XDG_CACHE_HOME/microvm, else ~/.cache/microvm; MICROVM_CACHE=off
 * disables it. */

/* A cached file, mapped read-only for parsing; its data is read into guest
 * RAM with image_pread. */
struct image_map {
	uint8_t *buf;
	size_t len;
	int fd;
};

/* Map the cached unpacked form of the file at path. Returns 0, or -ENOENT
 * when there is none (or the cache is off). */
int image_cache_map(const char *path, struct image_map *m);

/* Undo image_cache_map. */
void image_unmap(struct image_map *m);

/* Read exactly len bytes at offset off of fd into dst (guest RAM, so that
 * it lands in the anonymous, huge-page backed memory). Returns 0, -errno,
 * or -EIO when the file ends first. */
int image_pread(int fd, void *dst, size_t len, off_t off);

/* Store buf as the unpacked form of path; best effort, errors are only
 * logged with --verbose. */
void image_cache_store(const char *path, const uint8_t *buf, size_t len);

#endif
