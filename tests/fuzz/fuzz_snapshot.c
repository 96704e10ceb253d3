/* fuzz_snapshot.c - libFuzzer target for the snapshot state parser and the
 * virtio-mmio transport's restore (--restore reads DIR/state, which a
 * hostile or corrupt snapshot controls).
 *
 * Input byte 0 picks the mode: odd, the rest is a whole state file as
 * read from disk; even, the rest is the payload (sections) and the header
 * is made valid around it, so the fuzzer gets past the checksums into the
 * section walk and the restore of a virtio-rng device on fake guest RAM.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch.h"
#include "log.h"
#include "snapshot.h"
#include "virtio.h"
#include "vm.h"
#include "nokvm.h"

#define RAM_GPA 0x10000ULL
#define RAM_SIZE 0x4000ULL

/* The restore's one-line refusals, by the million: not printed (vmm/log.c
 * is not linked). */
const char *log_prog = "fuzz_snapshot";
bool log_verbose;
void log_error(const char *fmt, ...)
{
	(void)fmt;
}
void log_warn(const char *fmt, ...)
{
	(void)fmt;
}
void log_debug(const char *fmt, ...)
{
	(void)fmt;
}

static struct vm vm;
static struct virtio_dev *dev;

static const struct snap_section *section(const char *name)
{
	snap_section_foreach(s)
		if (!strcmp(s->name, name))
			return s;
	return NULL;
}

static void init_once(void)
{
	if (dev)
		return;
	vm.vm_fd = -1;
	vm.ram[0] = (struct vm_ram){ RAM_GPA, RAM_SIZE, calloc(1, RAM_SIZE) };
	vm.nram = 1;
	dev = virtio_rng_create(&vm);
	if (!dev)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	init_once();
	if (size < 1)
		return 0;
	struct snap_buf b = { 0 };
	if (data[0] & 1) {
		snap_put(&b, data + 1, size - 1);
	} else {
		snap_begin(&b);
		snap_put(&b, data + 1, size - 1);
		snap_finish(&b, 0, 0);
	}
	char why[256];
	struct snap_reader r;
	if (!b.err && snap_parse(b.data, b.len, why, sizeof(why)) == 0) {
		virtio_mmio_write(dev, 0x070, &(uint32_t){ 0 }, 4); /* reset */
		const struct snap_section *s = section("virtio-mmio");
		if (s && snap_find(b.data, b.len, "virtio-mmio", &r) && s->restore(&vm, &r, "DIR") == 0)
			snap_done(&r);
		char str[64];
		if (snap_find(b.data, b.len, "config", &r)) {
			snap_get_u64(&r);
			snap_get_u32(&r);
			snap_get_str(&r, str, sizeof(str));
		}
	}
	free(b.data);
	return 0;
}
