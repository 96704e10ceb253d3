/* uartfifo.h - for the UART tests (test_serial.c, test_arm64_pl011.c): the
 * serial port's DEVICE entry, and the host end of --serial file:FIFO, a FIFO
 * in a fresh directory and its reader, opened non-blocking, which reads only
 * when the test does. */
#ifndef UARTFIFO_H
#define UARTFIFO_H

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "device.h"

static inline const struct device_desc *serial_desc(void)
{
	device_foreach(d)
		if (!strcmp(d->name, "serial"))
			return d;
	fail_msg("no serial device in the table");
	return NULL;
}

struct fifo_out {
	char dir[32], path[64], opt[80];
	int rfd;
};

/* Make the FIFO and open its reader; returns the --serial value to use. */
static inline const char *fifo_out_make(struct fifo_out *o)
{
	strcpy(o->dir, "/tmp/microvm-serial-XXXXXX");
	assert_non_null(mkdtemp(o->dir));
	snprintf(o->path, sizeof(o->path), "%s/out", o->dir);
	assert_int_equal(mkfifo(o->path, 0600), 0);
	o->rfd = open(o->path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	assert_true(o->rfd >= 0);
	snprintf(o->opt, sizeof(o->opt), "file:%s", o->path);
	return o->opt;
}

static inline void fifo_out_remove(struct fifo_out *o)
{
	close(o->rfd);
	unlink(o->path);
	rmdir(o->dir);
}

#endif
