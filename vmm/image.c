/* image.c - reading kernel/initrd files and recognising compression. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image.h"

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
