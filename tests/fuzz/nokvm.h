/* nokvm.h - for fuzz targets that link the virtio-mmio transport without
 * KVM or the firmware tables (fuzz_virtio_net.c, fuzz_snapshot.c): the
 * transport's links to KVM succeed and do nothing. Included once, by the
 * target's one .c file. */
#ifndef FUZZ_NOKVM_H
#define FUZZ_NOKVM_H

#include <stdint.h>

#include "arch.h"
#include "vm.h"

const struct arch_devices arch_devices = { .mmio_base = 0xd0000000, .mmio_stride = 0x1000,
					   .mmio_irq_base = 5, .mmio_slots = 4 };
int arch_add_mmio_dev(struct vm *vm, uint64_t base, uint64_t len, unsigned irq)
{
	(void)vm, (void)base, (void)len, (void)irq;
	return 0;
}
int vm_irqfd(struct vm *vm, unsigned gsi, int fd)
{
	(void)vm, (void)gsi, (void)fd;
	return 0;
}
int vm_ioeventfd(struct vm *vm, uint64_t gpa, unsigned len, uint64_t datamatch, int fd)
{
	(void)vm, (void)gpa, (void)len, (void)datamatch, (void)fd;
	return 0;
}

#endif
