/* layout.c - x86_64 guest memory map, e820 and VM-wide KVM setup. */
#include <errno.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "arch.h"
#include "log.h"
#include "x86.h"

const struct arch_devices arch_devices = {
	.serial_bus = BUS_PIO, .serial_base = 0x3f8, .serial_irq = 4,
	.serial_uart = ARCH_UART_16550, .serial_tty = "ttyS0",
	.pvpanic_bus = BUS_PIO, .pvpanic_base = X86_PORT_PVPANIC,
	.mmio_base = X86_VIRTIO_MMIO, .mmio_stride = 0x1000,
	.mmio_irq_base = 5, .mmio_slots = 19, /* GSI 5..23 of the IOAPIC */
};

int arch_memory_layout(struct vm *vm)
{
	uint64_t size = vm->cfg.mem_size;
	if (size <= X86_MMIO_HOLE) {
		vm->ram[0] = (struct vm_ram){ .gpa = 0, .size = size };
		vm->nram = 1;
		return 0;
	}
	vm->ram[0] = (struct vm_ram){ .gpa = 0, .size = X86_MMIO_HOLE };
	vm->ram[1] = (struct vm_ram){ .gpa = X86_4G, .size = size - X86_MMIO_HOLE };
	vm->nram = 2;
	return 0;
}

uint64_t x86_lowmem_end(const struct vm *vm)
{
	return vm->ram[0].size;
}

int x86_e820(const struct vm *vm, struct e820_entry *e, int max)
{
	if (max < 4)
		return -ENOSPC;
	int n = 0;
	e[n++] = (struct e820_entry){ 0, X86_EBDA, E820_RAM };
	/* EBDA, ACPI tables and the legacy ROM area: never guest RAM. */
	e[n++] = (struct e820_entry){ X86_EBDA, X86_HIMEM - X86_EBDA, E820_RESERVED };
	e[n++] = (struct e820_entry){ X86_HIMEM, x86_lowmem_end(vm) - X86_HIMEM, E820_RAM };
	if (vm->nram > 1)
		e[n++] = (struct e820_entry){ vm->ram[1].gpa, vm->ram[1].size, E820_RAM };
	return n;
}

int arch_vm_init(struct vm *vm)
{
	struct x86_vm *x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	vm->arch = x;
	/* Intel VMX needs these three pages somewhere the guest will not use;
	 * just below the LAPIC/IOAPIC area is the usual spot. */
	if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, 0xfffbd000UL) < 0)
		log_debug("KVM_SET_TSS_ADDR: %m");
	uint64_t idmap = 0xfffbc000;
	if (ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &idmap) < 0)
		log_debug("KVM_SET_IDENTITY_MAP_ADDR: %m");
	if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0) {
		int e = errno;
		log_error("KVM_CREATE_IRQCHIP: %s", strerror(e));
		return -e;
	}
	/* No SPEAKER_DUMMY: the kernel then also emulates port 0x61, whose
	 * channel-2 output bit Linux needs to calibrate the TSC against the PIT. */
	struct kvm_pit_config pit = { .flags = 0 };
	if (ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0) {
		int e = errno;
		log_error("KVM_CREATE_PIT2: %s", strerror(e));
		return -e;
	}
	return x86_power_setup(vm);
}

/* The irqchip exists already: x86 wants it before the vCPUs. */
int arch_vcpus_created(struct vm *vm)
{
	return x86_snapshot_prepare(vm);
}

int arch_add_mmio_dev(struct vm *vm, uint64_t base, uint64_t len, unsigned irq)
{
	struct x86_vm *x = vm->arch;
	if (x->mmio.n >= 32)
		return -ENOSPC;
	x->mmio.base[x->mmio.n] = base;
	x->mmio.len[x->mmio.n] = len;
	x->mmio.irq[x->mmio.n] = irq;
	x->mmio.n++;
	return 0;
}

/* A triple fault resets a PC. Said aloud with where the guest was, as a
 * guest that asks for a reset never does this. On AMD, KVM resets the vCPU
 * before it reports the shutdown (the VMCB is undefined after one), so
 * registers in their reset state say nothing of where the guest was. */
static int triple_fault(struct vcpu *v)
{
	struct kvm_regs r;
	struct kvm_sregs s;
	if (ioctl(v->fd, KVM_GET_REGS, &r) < 0 || ioctl(v->fd, KVM_GET_SREGS, &s) < 0)
		log_warn("vcpu %d: triple fault; resetting the guest", v->id);
	else if (r.rip == 0xfff0 && s.cs.base == 0xffff0000 && !s.cr3)
		log_warn("vcpu %d: triple fault (where is unknown: the vCPU was already reset, "
			 "as KVM does on AMD); resetting the guest", v->id);
	else
		log_warn("vcpu %d: triple fault (rip %#llx rsp %#llx cr0 %#llx cr3 %#llx "
			 "cr4 %#llx); resetting the guest", v->id, r.rip, r.rsp, s.cr0, s.cr3, s.cr4);
	vm_request_exit(v->vm, VM_EXIT_REBOOT, "triple fault");
	return 1;
}

int arch_vcpu_exit(struct vcpu *v, uint32_t reason)
{
	if (reason == KVM_EXIT_SHUTDOWN)
		return triple_fault(v);
	log_error("vCPU %d: unexpected KVM exit reason %u", v->id, reason);
	return -EINVAL;
}

int x86_cmdline(const struct vm *vm, char *buf, size_t size)
{
	const struct x86_vm *x = vm->arch;
	/* There is no PCI host bridge: saying so spares the guest ~33,000 port
	 * exits of config-space probing (early quirks, the AGP aperture scan).
	 * A pci= option of the user's own wins. */
	bool pci = strncmp(vm->cfg.cmdline, "pci=", 4) == 0 || strstr(vm->cfg.cmdline, " pci=");
	int n = snprintf(buf, size, "%s%s", vm->cfg.cmdline, pci ? "" : " pci=off");
	/* Without ACPI the guest finds virtio-mmio devices only through
	 * virtio_mmio.device=SIZE@BASE:IRQ (VIRTIO_MMIO_CMDLINE_DEVICES). */
	for (int i = 0; !vm->cfg.acpi && x && i < x->mmio.n && n >= 0 && (size_t)n < size; i++)
		n += snprintf(buf + n, size - n, " virtio_mmio.device=%lluK@0x%llx:%u",
			      (unsigned long long)x->mmio.len[i] >> 10,
			      (unsigned long long)x->mmio.base[i], x->mmio.irq[i]);
	return n < 0 || (size_t)n >= size ? -E2BIG : n;
}
