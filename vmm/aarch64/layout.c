/* layout.c - aarch64 guest memory map, the in-kernel GICv3 and the record
 * of virtio-mmio devices for the device tree. */
#include <errno.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "arch.h"
#include "arm64.h"
#include "log.h"

const struct arch_devices arch_devices = {
	.serial_bus = BUS_MMIO, .serial_base = ARM64_UART, .serial_irq = ARM64_UART_SPI,
	.serial_uart = ARCH_UART_PL011, .serial_tty = "ttyAMA0",
	.pvpanic_bus = BUS_MMIO, .pvpanic_base = ARM64_PVPANIC,
	.mmio_base = ARM64_VIRTIO_MMIO, .mmio_stride = 0x1000,
	.mmio_irq_base = ARM64_VIRTIO_SPI, .mmio_slots = ARM64_VIRTIO_SLOTS,
};

int arch_memory_layout(struct vm *vm)
{
	/* One region: nothing of ours lives above the start of RAM. */
	if (vm->cfg.mem_size > ARM64_IPA_LIMIT - ARM64_RAM) {
		log_error("--memory %llu: at most %llu MiB on aarch64 (40-bit guest addresses)",
			  (unsigned long long)(vm->cfg.mem_size >> 20),
			  (unsigned long long)((ARM64_IPA_LIMIT - ARM64_RAM) >> 20));
		return -EINVAL;
	}
	vm->ram[0] = (struct vm_ram){ .gpa = ARM64_RAM, .size = vm->cfg.mem_size };
	vm->nram = 1;
	return 0;
}

uint64_t arm64_fdt_addr(const struct vm *vm)
{
	uint64_t end = vm->ram[0].gpa + vm->ram[0].size;
	return (end - ARM64_FDT_MAX) & ~(ARM64_FDT_MAX - 1);
}

static int gic_set(int fd, uint32_t group, uint64_t attr, const void *val, const char *what)
{
	struct kvm_device_attr a = { .group = group, .attr = attr, .addr = (uintptr_t)val };
	if (ioctl(fd, KVM_SET_DEVICE_ATTR, &a) == 0)
		return 0;
	int e = errno;
	log_error("vGICv3 %s: %s", what, strerror(e));
	return -e;
}

/* Create the GICv3 and place its distributor and redistributors; it is
 * initialised once all vCPUs exist (arm64_gic_init). */
static int gic_create(struct vm *vm, struct arm64_vm *a)
{
	struct kvm_create_device cd = { .type = KVM_DEV_TYPE_ARM_VGIC_V3 };
	if (ioctl(vm->vm_fd, KVM_CREATE_DEVICE, &cd) < 0) {
		int e = errno;
		log_error("cannot create a GICv3 in KVM (%s): microvm needs a host whose "
			  "KVM emulates GICv3", strerror(e));
		return -e;
	}
	a->gic_fd = cd.fd;
	uint64_t dist = ARM64_GICD, redist = ARM64_GICR;
	uint32_t nirqs = ARM64_GIC_NR_IRQS;
	int r = gic_set(a->gic_fd, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_DIST,
			&dist, "distributor address");
	if (r == 0)
		r = gic_set(a->gic_fd, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_REDIST,
			    &redist, "redistributor address");
	if (r == 0)
		r = gic_set(a->gic_fd, KVM_DEV_ARM_VGIC_GRP_NR_IRQS, 0, &nirqs, "number of IRQs");
	return r;
}

int arm64_gic_init(struct vm *vm)
{
	struct arm64_vm *a = vm->arch;
	return gic_set(a->gic_fd, KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_DEV_ARM_VGIC_CTRL_INIT, NULL,
		       "initialisation");
}

int arch_vm_init(struct vm *vm)
{
	struct arm64_vm *a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->gic_fd = -1;
	vm->arch = a;
	if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_ARM_PSCI_0_2) <= 0) {
		log_error("this host's KVM lacks KVM_CAP_ARM_PSCI_0_2, which microvm needs "
			  "to start and stop vCPUs");
		return -ENOTSUP;
	}
	return gic_create(vm, a);
}

int arch_add_mmio_dev(struct vm *vm, uint64_t base, uint64_t len, unsigned irq)
{
	struct arm64_vm *a = vm->arch;
	if (a->nmmio >= ARM64_MAX_MMIO_DEVS)
		return -ENOSPC;
	a->mmio[a->nmmio++] = (struct arch_mmio_dev){ .base = base, .len = len, .irq = irq };
	return 0;
}

int arch_vcpu_exit(struct vcpu *v, uint32_t reason)
{
	log_error("vCPU %d: unexpected KVM exit reason %u", v->id, reason);
	return -EINVAL;
}
