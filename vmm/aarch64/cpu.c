/* cpu.c - aarch64 vCPU reset state: KVM's preferred CPU model with PSCI
 * 0.2+, the boot CPU at the kernel entry with x0 = device tree (booting.rst
 * section 5), the others powered off until the guest's PSCI CPU_ON. */
#include <errno.h>
#include <linux/kvm.h>
#include <stddef.h>
#include <string.h>
#include <sys/ioctl.h>

#include "arch.h"
#include "arm64.h"
#include "log.h"

#define CORE_REG(name) \
	(KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE | KVM_REG_ARM_CORE_REG(name))
/* EL1h with D, A, I and F masked: what booting.rst asks for. */
#define PSTATE_EL1H_MASKED 0x3c5

static int set_reg(struct vcpu *v, uint64_t id, uint64_t val, const char *name)
{
	struct kvm_one_reg r = { .id = id, .addr = (uintptr_t)&val };
	if (ioctl(v->fd, KVM_SET_ONE_REG, &r) == 0)
		return 0;
	int e = errno;
	log_error("vCPU %d: cannot set %s: %s", v->id, name, strerror(e));
	return -e;
}

static int preferred_target(struct vm *vm, struct kvm_vcpu_init *target)
{
	if (ioctl(vm->vm_fd, KVM_ARM_PREFERRED_TARGET, target) == 0)
		return 0;
	int e = errno;
	log_error("KVM_ARM_PREFERRED_TARGET: %s", strerror(e));
	return -e;
}

/* x1-x3 are zero after KVM's reset, as booting.rst wants. */
static int boot_regs(struct vcpu *v, const struct arm64_vm *a)
{
	int r = set_reg(v, CORE_REG(regs.pstate), PSTATE_EL1H_MASKED, "pstate");
	if (r == 0)
		r = set_reg(v, CORE_REG(regs.regs[0]), a->fdt, "x0");
	if (r == 0)
		r = set_reg(v, CORE_REG(regs.pc), a->entry, "pc");
	return r;
}

static int vcpu_init(struct vcpu *v, const struct kvm_vcpu_init *target)
{
	struct kvm_vcpu_init init = *target;
	init.features[0] |= 1u << KVM_ARM_VCPU_PSCI_0_2;
	if (v->id != 0)
		init.features[0] |= 1u << KVM_ARM_VCPU_POWER_OFF;
	if (ioctl(v->fd, KVM_ARM_VCPU_INIT, &init) == 0)
		return 0;
	int e = errno;
	log_error("vCPU %d: KVM_ARM_VCPU_INIT: %s", v->id, strerror(e));
	return -e;
}

/* Every vCPU gets its CPU model, then the vGIC (which sizes its
 * redistributors by the vCPUs that exist) is initialised, so that devices
 * can wire irqfds; QEMU and kvmtool keep the same order. */
int arch_vcpus_created(struct vm *vm)
{
	struct kvm_vcpu_init target;
	int r = preferred_target(vm, &target);
	for (int i = 0; r == 0 && i < vm->cfg.ncpus; i++)
		r = vcpu_init(&vm->vcpus[i], &target);
	return r < 0 ? r : arm64_gic_init(vm);
}

/* Only the boot CPU has state to set; the others wait for PSCI CPU_ON. */
int arch_vcpu_init(struct vcpu *v)
{
	return v->id == 0 ? boot_regs(v, v->vm->arch) : 0;
}
