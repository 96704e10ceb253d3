/* fuzz_virtio_net.c - libFuzzer target for virtio-net's receive and
 * transmit paths on a vlan socket.
 *
 * Input: byte 0 picks the features the driver accepts (indirect, event
 * index, mergeable buffers, checksum offload), bytes 1-8 the lengths (x8)
 * of up to eight frames the switch sends, the rest is guest RAM holding a
 * receive queue (descriptors at 0x0, available ring 0x100, used 0x200) and
 * a transmit queue (0x400, 0x500, 0x600) of 16 entries each, and whatever
 * they point at. The switch's frames are slices of that RAM image. Both
 * queues are processed, everything the device sends is read back, and the
 * device is reset for the next input, so ASan sees every access the rings
 * and frames can cause.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "arch.h"
#include "virtio.h"
#include "vm.h"
#include "nokvm.h"

#define RAM_GPA 0x10000ULL
#define RAM_SIZE 0x4000ULL
#define QSIZE 16

static struct vm vm;
static struct virtio_dev *dev;
static int host; /* the switch's end */
static uint8_t *ram;

static void wr(uint64_t off, uint32_t v)
{
	virtio_mmio_write(dev, off, &v, 4);
}

static void setup_queue(unsigned q, uint64_t base)
{
	wr(0x030, q);
	wr(0x038, QSIZE);
	wr(0x080, RAM_GPA + base);
	wr(0x084, 0);
	wr(0x090, RAM_GPA + base + 0x100);
	wr(0x094, 0);
	wr(0x0a0, RAM_GPA + base + 0x200);
	wr(0x0a4, 0);
	wr(0x044, 1);
}

static void init_once(void)
{
	static const uint8_t mac[6] = { 0x52, 0x54, 0, 0x12, 1, 1 };
	int sv[2];
	ram = calloc(1, RAM_SIZE);
	vm.kvm_fd = vm.vm_fd = -1;
	vm.ram[0] = (struct vm_ram){ RAM_GPA, RAM_SIZE, ram };
	vm.nram = 1;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) < 0)
		abort();
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	host = sv[1];
	dev = virtio_net_vlan_create(&vm, sv[0], mac, "virtio-net fuzz");
	if (!dev)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!dev)
		init_once();
	if (size < 9)
		return 0;
	uint8_t knobs = data[0];
	memset(ram, 0, RAM_SIZE);
	memcpy(ram, data + 9, size - 9 < RAM_SIZE ? size - 9 : RAM_SIZE);
	/* Driver: reset, features, queues, DRIVER_OK. */
	uint64_t feat = 1ULL << VIRTIO_F_VERSION_1 | (knobs & 1 ? 1ULL << VIRTIO_F_INDIRECT_DESC : 0) |
			(knobs & 2 ? 1ULL << VIRTIO_F_EVENT_IDX : 0) | (knobs & 4 ? 1ULL << 15 : 0) |
			(knobs & 8 ? 3ULL : 0) | 1ULL << 5;
	wr(0x070, 0);
	wr(0x070, 3);
	wr(0x024, 0);
	wr(0x020, (uint32_t)feat);
	wr(0x024, 1);
	wr(0x020, feat >> 32);
	wr(0x070, 11);
	setup_queue(0, 0);
	setup_queue(1, 0x400);
	wr(0x070, 15);
	/* The switch sends its frames, then the device works both queues. */
	for (int i = 0; i < 8; i++) {
		size_t len = data[1 + i] * 8, at = 0x800 + i * 0x200;
		if (len && send(host, ram + at, len < RAM_SIZE - at ? len : RAM_SIZE - at,
				MSG_DONTWAIT) < 0)
			break;
	}
	pthread_mutex_lock(&dev->lock);
	for (int round = 0; round < 2 && virtio_running(dev); round++) {
		dev->ops->notify(dev, 1);
		dev->ops->notify(dev, 0);
	}
	pthread_mutex_unlock(&dev->lock);
	uint8_t buf[2048];
	while (recv(host, buf, sizeof(buf), MSG_DONTWAIT) >= 0)
		;
	wr(0x070, 0);
	while (recv(host, buf, sizeof(buf), MSG_DONTWAIT) >= 0)
		;
	return 0;
}
