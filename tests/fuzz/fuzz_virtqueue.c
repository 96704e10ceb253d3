/* fuzz_virtqueue.c - libFuzzer target for split-virtqueue chain walking.
 *
 * The input becomes guest RAM holding a queue of 16 entries (descriptors,
 * available and used rings) and whatever the descriptors point at; the
 * first bytes pick the features. Every chain vq_pop() accepts is read and
 * written end to end through the cursors, so ASan catches any buffer the
 * walk let through outside guest memory.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "virtio.h"
#include "vm.h"

#define RAM_GPA 0x10000ULL
#define RAM_SIZE 0x4000ULL

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct vm vm;
	static struct vq_chain c;
	uint8_t *ram = calloc(1, RAM_SIZE);
	if (size > 1)
		memcpy(ram, data + 1, size - 1 < RAM_SIZE ? size - 1 : RAM_SIZE);
	vm.ram[0] = (struct vm_ram){ RAM_GPA, RAM_SIZE, ram };
	vm.nram = 1;
	struct vq vq;
	vq_init(&vq, &vm);
	uint8_t knobs = size ? data[0] : 0;
	vq.size = 16;
	vq.desc_gpa = RAM_GPA;
	vq.avail_gpa = RAM_GPA + 0x100;
	vq.used_gpa = RAM_GPA + 0x200;
	vq.indirect = knobs & 1;
	vq.event_idx = knobs & 2;
	if (vq_setup(&vq) == 0) {
		vq.ready = true;
		uint8_t scratch[512];
		for (int i = 0; i < 32; i++) {
			int r = vq_pop(&vq, &c);
			if (r == 0 || r == -EIO)
				break;
			struct vq_cursor rd, wr;
			vq_reader(&rd, &c);
			vq_writer(&wr, &c);
			while (vq_read(&rd, scratch, sizeof(scratch)))
				;
			while (vq_write(&wr, scratch, sizeof(scratch)))
				;
			vq_push(&vq, c.head, r > 0 ? c.in_len : 0);
			vq_should_notify(&vq);
			vq_enable_notify(&vq);
		}
	}
	free(ram);
	return 0;
}
