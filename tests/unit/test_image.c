/* test_image.c - image_pread: exact bytes at any offset and length, nothing
 * written past the end, and -EIO for a file that ends first. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "image.h"

/* A temporary file of len bytes, byte i being a function of i that repeats
 * only every 251 bytes (so bytes read from or to the wrong place show). */
static int pattern_file(size_t len)
{
	char path[] = "/tmp/test_image.XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	unlink(path);
	uint8_t *b = malloc(len);
	for (size_t i = 0; i < len; i++)
		b[i] = i % 251;
	assert_int_equal(write(fd, b, len), (ssize_t)len);
	free(b);
	return fd;
}

static void check_read(int fd, size_t len, off_t off)
{
	uint8_t *dst = malloc(len + 1);
	dst[len] = 0xee;
	assert_int_equal(image_pread(fd, dst, len, off), 0);
	for (size_t i = 0; i < len; i++)
		if (dst[i] != (uint8_t)((off + i) % 251))
			fail_msg("byte %zu of a %zu-byte read at %lld is wrong", i, len, (long long)off);
	assert_int_equal(dst[len], 0xee); /* nothing past the end */
	free(dst);
}

static void test_small(void **state)
{
	(void)state;
	int fd = pattern_file(1 << 20);
	check_read(fd, 1 << 20, 0);
	check_read(fd, 4097, 12345);
	close(fd);
}

/* A kernel-sized read, not a multiple of a page or a huge page, at an odd
 * offset. */
static void test_large(void **state)
{
	(void)state;
	size_t big = (24u << 20) + 4099;
	int fd = pattern_file(big + 7);
	check_read(fd, big, 7);
	close(fd);
}

static void test_short_file(void **state)
{
	(void)state;
	size_t len = 3u << 20;
	int fd = pattern_file(len);
	uint8_t *dst = malloc(len);
	assert_int_equal(image_pread(fd, dst, len, 1), -EIO);
	assert_int_equal(image_pread(fd, dst, 100, len), -EIO);
	assert_int_equal(image_pread(-1, dst, len, 0), -EBADF);
	free(dst);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_small),
		cmocka_unit_test(test_large),
		cmocka_unit_test(test_short_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
