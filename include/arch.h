/* arch.h - what each architecture (vmm/x86_64, vmm/aarch64) provides.
 *
 * The core calls these hooks in this order: arch_memory_layout,
 * (vm_ram_setup), arch_vm_init, (vcpu_create for each vCPU),
 * arch_vcpus_created, (devices' setup), arch_load_kernel, arch_vcpu_init for
 * each vCPU. Each returns 0 or -errno after printing one
 * line naming what was wrong.
 */
#ifndef ARCH_H
#define ARCH_H

#include <stdint.h>

#include "vm.h"

/* Fill vm->ram[] for vm->cfg.mem_size bytes (split around holes). */
int arch_memory_layout(struct vm *vm);

/* Create the interrupt controller, timers and anything else the VM needs
 * before vCPUs exist; allocate vm->arch. */
int arch_vm_init(struct vm *vm);

/* Finish what needs every vCPU to exist, before devices are set up: arm64's
 * vGIC is initialised here, and KVM takes no irqfd before that. */
int arch_vcpus_created(struct vm *vm);

/* Load vm->cfg.kernel, initrd and cmdline into guest memory and write the
 * firmware tables (boot params, e820, ACPI or device tree). Called after all
 * devices are set up so their resources can be described. */
int arch_load_kernel(struct vm *vm);

/* Set registers, CPUID etc. of a freshly created vCPU. */
int arch_vcpu_init(struct vcpu *vcpu);

/* Handle an exit the core does not know; returns 0 to keep running, 1 when
 * the VM should stop (after vm_request_exit), -errno on failure. */
int arch_vcpu_exit(struct vcpu *vcpu, uint32_t reason);

/* The serial port's register model (devices/uart.h). */
enum arch_uart { ARCH_UART_16550, ARCH_UART_PL011 };

/* Where the arch wants the generic devices it wires up itself. */
struct arch_devices {
	enum bus_space serial_bus; uint64_t serial_base; unsigned serial_irq;
	enum arch_uart serial_uart;
	const char *serial_tty; /* the guest's name for it: console=... */
	enum bus_space pvpanic_bus; uint64_t pvpanic_base;
	uint64_t mmio_base;  /* first virtio-mmio slot */
	uint64_t mmio_stride;
	unsigned mmio_irq_base;
	unsigned mmio_slots;
};
extern const struct arch_devices arch_devices;

/* Describe an MMIO device (virtio) to the guest's firmware tables. */
struct arch_mmio_dev {
	uint64_t base, len;
	unsigned irq;
};
int arch_add_mmio_dev(struct vm *vm, uint64_t base, uint64_t len, unsigned irq);

#endif
