/* cpu.c - x86_64 vCPU state at reset: CPUID, MSRs, LAPIC, and the register
 * state Linux's 64-bit and PVH entry points expect. */
#include <errno.h>
#include <linux/kvm.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "arch.h"
#include "log.h"
#include "x86.h"

#define CPUID_MAX_ENTRIES 256

/* Bits needed to number n items (APIC id field widths in CPUID 0xB/0x1F). */
static unsigned order_base_2(unsigned n)
{
	unsigned b = 0;
	while ((1u << b) < n)
		b++;
	return b;
}

/* Describe the topology as one socket of ncpus single-threaded cores, with
 * APIC id == vCPU index (the MADT says the same). */
static void cpuid_fix(struct kvm_cpuid_entry2 *e, int id, int ncpus, bool tsc_deadline)
{
	unsigned shift = order_base_2(ncpus);
	switch (e->function) {
	case 1:
		/* KVM leaves the hypervisor bit to us; without it Linux never
		 * looks at the KVM leaves (no kvm-clock, no paravirt). */
		e->ecx |= 1u << 31;
		/* KVM never reports the TSC-deadline LAPIC timer here (it is a
		 * capability instead); without it Linux calibrates the LAPIC
		 * timer against the PIT first, about 100 ms of boot. */
		if (tsc_deadline)
			e->ecx |= 1u << 24;
		e->ebx = (e->ebx & 0xffff) | (uint32_t)ncpus << 16 | (uint32_t)id << 24;
		if (ncpus > 1)
			e->edx |= 1u << 28; /* HTT: the count in EBX[23:16] is valid */
		break;
	case 4: {
		unsigned level = (e->eax >> 5) & 7;
		unsigned sharing = level >= 3 ? ncpus - 1 : 0;
		e->eax = (e->eax & 0x3fff) | (uint32_t)(ncpus - 1) << 26 | sharing << 14;
		break;
	}
	case 0xb:
	case 0x1f:
		e->edx = id;
		if (e->index == 0) {        /* SMT level: one thread per core */
			e->eax = 0; e->ebx = 1; e->ecx = 1 << 8;
		} else if (e->index == 1) { /* core level: all vCPUs */
			e->eax = shift; e->ebx = ncpus; e->ecx = 2 << 8 | 1;
		} else {
			e->eax = 0; e->ebx = 0; e->ecx = e->index;
		}
		break;
	case 0x80000008:
		e->ecx = (e->ecx & ~0xf0ffu) | (ncpus - 1) | (shift << 12);
		break;
	}
}

int x86_cpu_set_cpuid(struct vcpu *v)
{
	size_t sz = sizeof(struct kvm_cpuid2) + CPUID_MAX_ENTRIES * sizeof(struct kvm_cpuid_entry2);
	struct kvm_cpuid2 *c = calloc(1, sz);
	if (!c)
		return -ENOMEM;
	c->nent = CPUID_MAX_ENTRIES;
	int r = 0;
	if (ioctl(v->vm->kvm_fd, KVM_GET_SUPPORTED_CPUID, c) < 0) {
		r = -errno;
		log_error("KVM_GET_SUPPORTED_CPUID: %s", strerror(-r));
		goto out;
	}
	bool tsc_deadline = ioctl(v->vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_TSC_DEADLINE_TIMER) > 0;
	for (unsigned i = 0; i < c->nent; i++)
		cpuid_fix(&c->entries[i], v->id, v->vm->cfg.ncpus, tsc_deadline);
	if (ioctl(v->fd, KVM_SET_CPUID2, c) < 0) {
		r = -errno;
		log_error("KVM_SET_CPUID2: %s", strerror(-r));
	}
out:
	free(c);
	return r;
}

/* LINT0 delivers the 8259's ExtINT, LINT1 the NMI, as firmware leaves them. */
static int cpu_set_lapic(struct vcpu *v)
{
	struct kvm_lapic_state l;
	if (ioctl(v->fd, KVM_GET_LAPIC, &l) < 0)
		return -errno;
	uint32_t lint0 = 0x700, lint1 = 0x400; /* delivery modes ExtINT, NMI */
	memcpy(&l.regs[0x350], &lint0, 4);
	memcpy(&l.regs[0x360], &lint1, 4);
	return ioctl(v->fd, KVM_SET_LAPIC, &l) < 0 ? -errno : 0;
}

static int cpu_set_msrs(struct vcpu *v)
{
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry e[1];
	} m = { .hdr.nmsrs = 1 };
	m.e[0].index = 0x1a0; /* IA32_MISC_ENABLE: fast string operations */
	m.e[0].data = 1;
	return ioctl(v->fd, KVM_SET_MSRS, &m) == 1 ? 0 : -EINVAL;
}

static struct kvm_segment seg(uint16_t sel, uint8_t type, bool code64)
{
	return (struct kvm_segment){
		.base = 0, .limit = 0xffffffff, .selector = sel, .type = type,
		.present = 1, .s = 1, .g = 1, .l = code64, .db = !code64,
	};
}

static int cpu_set_sregs(struct vcpu *v, enum x86_entry_mode mode)
{
	struct kvm_sregs s;
	if (ioctl(v->fd, KVM_GET_SREGS, &s) < 0)
		return -errno;
	bool lm = mode == X86_ENTRY_64;
	s.cs = seg(X86_SEL_CODE, 0xb, lm);
	s.ds = s.es = s.fs = s.gs = s.ss = seg(X86_SEL_DATA, 0x3, false);
	s.tr = (struct kvm_segment){ .selector = X86_SEL_TSS, .limit = 0x67,
				     .type = 0xb, .present = 1 };
	s.gdt.base = X86_GDT;
	s.gdt.limit = 5 * 8 - 1;
	s.idt.base = 0;
	s.idt.limit = 0;
	s.cr0 = 0x11; /* PE | ET */
	s.cr4 = 0;
	s.efer = 0;
	if (lm) {
		s.cr0 |= 0x80000000; /* PG */
		s.cr3 = X86_PML4;
		s.cr4 = 0x20;        /* PAE */
		s.efer = 0x500;      /* LME | LMA */
	}
	return ioctl(v->fd, KVM_SET_SREGS, &s) < 0 ? -errno : 0;
}

int x86_cpu_init(struct vcpu *v, enum x86_entry_mode mode, uint64_t entry)
{
	int r = x86_cpu_set_cpuid(v);
	if (r == 0 && (r = cpu_set_lapic(v)) < 0)
		log_error("vCPU %d: KVM_SET_LAPIC: %s", v->id, strerror(-r));
	if (r == 0 && cpu_set_msrs(v) < 0)
		log_debug("vCPU %d: KVM_SET_MSRS failed", v->id);
	/* Only the boot CPU starts at the entry point: the in-kernel LAPIC
	 * holds the others until the guest sends them INIT/SIPI. */
	if (r < 0 || v->id != 0)
		return r;
	if ((r = cpu_set_sregs(v, mode)) < 0) {
		log_error("KVM_SET_SREGS: %s", strerror(-r));
		return r;
	}
	struct kvm_fpu fpu = { .fcw = 0x37f, .mxcsr = 0x1f80 };
	if (ioctl(v->fd, KVM_SET_FPU, &fpu) < 0)
		return -errno;
	struct kvm_regs regs = { .rflags = 2, .rip = entry };
	if (mode == X86_ENTRY_64)
		regs.rsi = X86_BOOT_PARAMS;
	else
		regs.rbx = X86_PVH_INFO;
	return ioctl(v->fd, KVM_SET_REGS, &regs) < 0 ? -errno : 0;
}

int arch_vcpu_init(struct vcpu *v)
{
	struct x86_vm *x = v->vm->arch;
	return x86_cpu_init(v, x->mode, x->entry);
}

/* A guest that jumps to the BIOS reset vector F000:FFF0 wants a reset:
 * Linux does so (machine_real_restart) after an EFI reset it cannot make,
 * which is its default on a hardware-reduced ACPI machine. microvm has no
 * BIOS, so the vector holds real-mode code that writes the reset register. */
static void x86_reset_vector(struct vm *vm)
{
	uint8_t *p = vm_gpa_ptr(vm, 0xffff0, 16);
	const uint8_t stub[] = {
		0xb0, X86_RESET_VALUE,                          /* mov al, value */
		0xba, X86_PORT_RESET & 0xff, X86_PORT_RESET >> 8, /* mov dx, port */
		0xee,                                           /* out dx, al */
		0xf4,                                           /* hlt */
		0xeb, 0xfd,                                     /* jmp hlt */
	};
	if (p)
		memcpy(p, stub, sizeof(stub));
}

int x86_setup_tables(struct vm *vm)
{
	struct x86_vm *x = vm->arch;
	uint64_t *gdt = vm_gpa_ptr(vm, X86_GDT, 5 * 8);
	uint64_t *pml4 = vm_gpa_ptr(vm, X86_PML4, 0x1000);
	uint64_t *pdpt = vm_gpa_ptr(vm, X86_PDPT, 0x1000);
	uint64_t *pd = vm_gpa_ptr(vm, X86_PD, 4 * 0x1000);
	if (!gdt || !pml4 || !pdpt || !pd)
		return -EINVAL;
	gdt[0] = gdt[1] = 0;
	gdt[2] = x->mode == X86_ENTRY_64 ? 0x00af9b000000ffffULL  /* code, 64-bit */
					 : 0x00cf9b000000ffffULL; /* code, 32-bit */
	gdt[3] = 0x00cf93000000ffffULL; /* data, flat */
	gdt[4] = 0x00008b0000000067ULL; /* TSS, busy */
	x86_reset_vector(vm);
	memset(pml4, 0, 0x1000);
	memset(pdpt, 0, 0x1000);
	pml4[0] = X86_PDPT | 0x3; /* present, writable */
	for (int i = 0; i < 4; i++)
		pdpt[i] = (X86_PD + i * 0x1000) | 0x3;
	for (int i = 0; i < 4 * 512; i++)
		pd[i] = ((uint64_t)i << 21) | 0x83; /* 2 MiB page, present, writable */
	return 0;
}
