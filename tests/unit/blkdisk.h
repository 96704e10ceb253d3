/* blkdisk.h - for the virtio-blk unit tests: the device on a temporary image
 * of DISK bytes, driven by the fake driver of fakedrv.h, with guest memory
 * for one request's header, data and status byte. */
#ifndef TEST_BLKDISK_H
#define TEST_BLKDISK_H

#include <stdbool.h>
#include <stdio.h>

#include "fakedrv.h"

#define DISK (1 << 20)

struct blk {
	struct vm *vm;
	struct virtio_dev *dev;
	struct fakedrv f;
	int fd, cow; /* the image, and the copy-on-write file or -1 */
	uint64_t hdr, data, st;
};

struct hdr {
	uint32_t type, reserved;
	uint64_t sector;
};

/* An empty temporary file of DISK bytes. */
static inline int blk_temp_fd(void)
{
	FILE *f = tmpfile();
	int fd = dup(fileno(f));
	fclose(f);
	assert_int_equal(ftruncate(fd, DISK), 0);
	return fd;
}

/* A byte of the pattern the image tests put in the image: position-
 * dependent, so a byte from elsewhere shows. */
static inline uint8_t pat(size_t off)
{
	return (uint8_t)(off * 13 + off / 4096);
}

/* Write pat() over all of the image fd. */
static inline void blk_fill_pattern(int fd)
{
	static uint8_t img[DISK];
	for (size_t i = 0; i < DISK; i++)
		img[i] = pat(i);
	assert_int_equal(pwrite(fd, img, DISK, 0), DISK);
}

/* The device on image fd and cow (or -1), with serial (or NULL), in a VM of
 * ram bytes; queue 0 of qsize entries, and data_len bytes of data. */
static inline void blk_start(struct blk *b, size_t ram, int fd, int cow, bool readonly,
			     const char *serial, uint16_t qsize, size_t data_len)
{
	b->vm = fake_vm_new(ram);
	b->fd = fd;
	b->cow = cow;
	b->dev = virtio_blk_create(b->vm, fd, cow, DISK, readonly, serial, "virtio-blk vda");
	assert_non_null(b->dev);
	assert_int_equal(fd_init(&b->f, b->vm, b->dev, ~0ULL, qsize), 0x0f);
	b->hdr = fd_alloc(&b->f, 16, 16);
	b->data = fd_alloc(&b->f, data_len, 4096);
	b->st = fd_alloc(&b->f, 1, 1);
}

static inline void blk_stop(struct blk *b)
{
	fake_vm_free(b->vm);
	virtio_mmio_free(b->dev);
	close(b->fd);
	if (b->cow >= 0)
		close(b->cow);
}

/* A cmocka teardown for a struct blk that setup allocated and started. */
static inline int blk_teardown(void **state)
{
	struct blk *b = *state;
	blk_stop(b);
	free(b);
	return 0;
}

#endif
