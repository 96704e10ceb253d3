/* snapshot.c - x86_64 state in a snapshot: the kvm-clock, the in-kernel
 * PICs, IOAPIC and PIT, and every vCPU's registers.
 *
 * Orders that matter (as Firecracker and Cloud Hypervisor learnt them):
 * saving, MP state first (KVM_GET_MP_STATE may accept pending INIT/SIPI
 * into the LAPIC), LAPIC before the MSRs and events last (the GET ioctls
 * may change what it reports); restoring, CPUID before anything, LAPIC
 * before the MSRs (TSC_DEADLINE is meaningful only in deadline mode) and
 * the TSC before TSC_DEADLINE, events last; then KVM_KVMCLOCK_CTRL so the
 * guest does not take the pause for a soft lockup.
 */
#include <errno.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>

#include "arch.h"
#include "log.h"
#include "snapshot.h"
#include "x86.h"

#define MSR_IA32_TSC_DEADLINE 0x6e0
#define MAX_MSRS 512

struct msrs {
	struct kvm_msrs hdr;
	struct kvm_msr_entry e[MAX_MSRS];
};

/* The CPU features KVM offers; not the APIC ids of the host CPU the ioctl
 * happened to run on (CPUID leaves 1, 0xb, 0x1f, 0x8000001e). */
static uint64_t cpuid_hash(struct kvm_cpuid2 *c)
{
	uint64_t h = SNAP_FNV_INIT;
	for (unsigned i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 e = c->entries[i];
		if (e.function == 1)
			e.ebx &= 0x00ffffff;
		if (e.function == 0xb || e.function == 0x1f)
			e.edx = 0;
		if (e.function == 0x8000001e)
			e.eax = e.ebx = 0;
		h = snap_hash(h, &e, sizeof(e));
	}
	return h;
}

int x86_snapshot_prepare(struct vm *vm)
{
	struct x86_vm *x = vm->arch;
	struct {
		struct kvm_msr_list hdr;
		uint32_t idx[MAX_MSRS];
	} l = { .hdr.nmsrs = MAX_MSRS };
	if (ioctl(vm->kvm_fd, KVM_GET_MSR_INDEX_LIST, &l) < 0)
		return 0; /* snapshots then save no MSRs: refused below */
	x->nmsrs = 0;
	for (unsigned i = 0; i < l.hdr.nmsrs && x->nmsrs < MAX_MSRS; i++)
		if (l.idx[i] != MSR_IA32_TSC_DEADLINE)
			x->msr_idx[x->nmsrs++] = l.idx[i];
	/* Last: its value is a TSC deadline, read against the TSC set before. */
	x->msr_idx[x->nmsrs++] = MSR_IA32_TSC_DEADLINE;
	size_t sz = sizeof(struct kvm_cpuid2) + 256 * sizeof(struct kvm_cpuid_entry2);
	struct kvm_cpuid2 *c = calloc(1, sz);
	if (c) {
		c->nent = 256;
		if (ioctl(vm->kvm_fd, KVM_GET_SUPPORTED_CPUID, c) == 0)
			x->cpuid_hash = cpuid_hash(c);
		free(c);
	}
	return 0;
}

uint64_t arch_snapshot_host_id(struct vm *vm)
{
	return ((struct x86_vm *)vm->arch)->cpuid_hash;
}

/* Read every MSR of the list that this vCPU has; KVM_GET_MSRS stops at the
 * first it cannot read, which is dropped. */
static int get_msrs(struct vcpu *v, struct msrs *m)
{
	const struct x86_vm *x = v->vm->arch;
	unsigned n = 0;
	for (unsigned i = 0; i < x->nmsrs; i++)
		m->e[n++] = (struct kvm_msr_entry){ .index = x->msr_idx[i] };
	for (unsigned start = 0; start < n;) {
		struct msrs part;
		part.hdr.nmsrs = n - start;
		memcpy(part.e, m->e + start, (n - start) * sizeof(part.e[0]));
		int k = ioctl(v->fd, KVM_GET_MSRS, &part);
		if (k < 0)
			return -errno;
		memcpy(m->e + start, part.e, k * sizeof(part.e[0]));
		start += k;
		if (start < n) {
			memmove(m->e + start, m->e + start + 1, (n - start - 1) * sizeof(m->e[0]));
			n--;
		}
	}
	m->hdr.nmsrs = n;
	return 0;
}

#define GET(fd, req, p, what)                                    \
	do {                                                     \
		if (r == 0 && ioctl(fd, req, p) < 0) {           \
			r = -errno;                              \
			snprintf(why, len, "%s: %s", what, strerror(errno)); \
		}                                                \
	} while (0)

static int save_vcpu(struct vcpu *v, struct snap_buf *b, char *why, size_t len)
{
	struct kvm_mp_state mp;
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_xsave xsave;
	struct kvm_xcrs xcrs;
	struct kvm_debugregs dbg;
	struct kvm_lapic_state lapic;
	struct kvm_vcpu_events ev;
	static struct msrs m;
	int r = 0;
	GET(v->fd, KVM_GET_MP_STATE, &mp, "KVM_GET_MP_STATE");
	GET(v->fd, KVM_GET_REGS, &regs, "KVM_GET_REGS");
	GET(v->fd, KVM_GET_SREGS, &sregs, "KVM_GET_SREGS");
	GET(v->fd, KVM_GET_XSAVE, &xsave, "KVM_GET_XSAVE");
	GET(v->fd, KVM_GET_XCRS, &xcrs, "KVM_GET_XCRS");
	GET(v->fd, KVM_GET_DEBUGREGS, &dbg, "KVM_GET_DEBUGREGS");
	GET(v->fd, KVM_GET_LAPIC, &lapic, "KVM_GET_LAPIC");
	if (r == 0 && (r = get_msrs(v, &m)) < 0)
		snprintf(why, len, "KVM_GET_MSRS: %s", strerror(-r));
	GET(v->fd, KVM_GET_VCPU_EVENTS, &ev, "KVM_GET_VCPU_EVENTS");
	if (r < 0)
		return r;
	snap_put(b, &mp, sizeof(mp));
	snap_put(b, &regs, sizeof(regs));
	snap_put(b, &sregs, sizeof(sregs));
	snap_put(b, &xsave, sizeof(xsave));
	snap_put(b, &xcrs, sizeof(xcrs));
	snap_put(b, &dbg, sizeof(dbg));
	snap_put(b, &lapic, sizeof(lapic));
	snap_put_u32(b, m.hdr.nmsrs);
	snap_put(b, m.e, m.hdr.nmsrs * sizeof(m.e[0]));
	snap_put(b, &ev, sizeof(ev));
	return 0;
}

static int save_vm(struct vm *vm, struct snap_buf *b, char *why, size_t len)
{
	struct kvm_clock_data clock = { 0 };
	struct kvm_pit_state2 pit;
	struct kvm_irqchip chip[3] = { { .chip_id = KVM_IRQCHIP_PIC_MASTER },
				       { .chip_id = KVM_IRQCHIP_PIC_SLAVE },
				       { .chip_id = KVM_IRQCHIP_IOAPIC } };
	int r = 0;
	GET(vm->vm_fd, KVM_GET_CLOCK, &clock, "KVM_GET_CLOCK");
	GET(vm->vm_fd, KVM_GET_PIT2, &pit, "KVM_GET_PIT2");
	for (int i = 0; i < 3; i++)
		GET(vm->vm_fd, KVM_GET_IRQCHIP, &chip[i], "KVM_GET_IRQCHIP");
	snap_put(b, &clock, sizeof(clock));
	snap_put(b, &pit, sizeof(pit));
	snap_put(b, chip, sizeof(chip));
	return r;
}

static int x86_save(struct vm *vm, struct snap_buf *b, const char *dir, char *why, size_t len)
{
	(void)dir;
	int r = save_vm(vm, b, why, len);
	snap_put_u32(b, vm->cfg.ncpus);
	for (int i = 0; r == 0 && i < vm->cfg.ncpus; i++)
		r = save_vcpu(&vm->vcpus[i], b, why, len);
	return r;
}

static int x86_refuse(struct vm *vm, char *why, size_t len)
{
	const struct x86_vm *x = vm->arch;
	if (x->nmsrs > 1)
		return 0;
	snprintf(why, len, "this host's KVM gave no MSR list (KVM_GET_MSR_INDEX_LIST)");
	return -ENOTSUP;
}

void x86_vmgenid_update(struct vm *vm, bool notify)
{
	uint8_t *id = vm_gpa_ptr(vm, X86_VMGENID, 16);
	if (!id || !vm->cfg.acpi)
		return;
	if (getrandom(id, 16, 0) != 16)
		log_warn("vmgenid: getrandom failed; the generation ID did not change");
	/* An edge: the GED's _EVT runs Notify, and Linux's vmgenid driver
	 * reseeds the RNG from the new id. */
	if (notify && (vm_set_irq(vm, X86_GED_GSI, 1) < 0 || vm_set_irq(vm, X86_GED_GSI, 0) < 0))
		log_warn("vmgenid: cannot raise GSI %d: %m", X86_GED_GSI);
}

/* --- restoring ------------------------------------------------------------ */

#define SET(fd, req, p, what)                                                         \
	do {                                                                          \
		if (r == 0 && ioctl(fd, req, p) < 0) {                                \
			r = -errno;                                                   \
			log_error("--restore %s: vCPU %d: %s: %s", dir, id, what,     \
				  strerror(errno));                                   \
		}                                                                     \
	} while (0)

/* Set what KVM takes of the saved MSRs; one it refuses is skipped. */
static void set_msrs(struct vcpu *v, struct msrs *m)
{
	for (unsigned start = 0; start < m->hdr.nmsrs;) {
		struct msrs part;
		part.hdr.nmsrs = m->hdr.nmsrs - start;
		memcpy(part.e, m->e + start, part.hdr.nmsrs * sizeof(part.e[0]));
		int k = ioctl(v->fd, KVM_SET_MSRS, &part);
		if (k < 0)
			k = 0;
		start += k;
		if (start < m->hdr.nmsrs) {
			log_debug("vCPU %d: MSR %#x not restored", v->id, m->e[start].index);
			start++;
		}
	}
}

static int restore_vcpu(struct vcpu *v, struct snap_reader *rd, const char *dir)
{
	struct kvm_mp_state mp;
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_xsave xsave;
	struct kvm_xcrs xcrs;
	struct kvm_debugregs dbg;
	struct kvm_lapic_state lapic;
	struct kvm_vcpu_events ev;
	static struct msrs m;
	int r = 0, id = v->id;
	snap_get(rd, &mp, sizeof(mp));
	snap_get(rd, &regs, sizeof(regs));
	snap_get(rd, &sregs, sizeof(sregs));
	snap_get(rd, &xsave, sizeof(xsave));
	snap_get(rd, &xcrs, sizeof(xcrs));
	snap_get(rd, &dbg, sizeof(dbg));
	snap_get(rd, &lapic, sizeof(lapic));
	m.hdr.nmsrs = snap_get_u32(rd);
	if (m.hdr.nmsrs > MAX_MSRS)
		rd->bad = true;
	else
		snap_get(rd, m.e, m.hdr.nmsrs * sizeof(m.e[0]));
	snap_get(rd, &ev, sizeof(ev));
	if (rd->bad) {
		log_error("--restore %s: state: vCPU %d: truncated registers: expected all", dir, id);
		return -1;
	}
	if (x86_cpu_set_cpuid(v) < 0)
		return -1;
	SET(v->fd, KVM_SET_MP_STATE, &mp, "KVM_SET_MP_STATE");
	SET(v->fd, KVM_SET_REGS, &regs, "KVM_SET_REGS");
	SET(v->fd, KVM_SET_SREGS, &sregs, "KVM_SET_SREGS");
	SET(v->fd, KVM_SET_XSAVE, &xsave, "KVM_SET_XSAVE");
	SET(v->fd, KVM_SET_XCRS, &xcrs, "KVM_SET_XCRS");
	SET(v->fd, KVM_SET_DEBUGREGS, &dbg, "KVM_SET_DEBUGREGS");
	SET(v->fd, KVM_SET_LAPIC, &lapic, "KVM_SET_LAPIC");
	if (r == 0)
		set_msrs(v, &m);
	ev.flags |= KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SIPI_VECTOR;
	SET(v->fd, KVM_SET_VCPU_EVENTS, &ev, "KVM_SET_VCPU_EVENTS");
	/* EINVAL when the guest has no kvm-clock: nothing to tell it. */
	if (r == 0)
		ioctl(v->fd, KVM_KVMCLOCK_CTRL, 0);
	return r;
}

static int x86_restore(struct vm *vm, struct snap_reader *rd, const char *dir)
{
	struct kvm_clock_data clock;
	struct kvm_pit_state2 pit;
	struct kvm_irqchip chip[3];
	int r = 0, id = -1;
	snap_get(rd, &clock, sizeof(clock));
	snap_get(rd, &pit, sizeof(pit));
	snap_get(rd, chip, sizeof(chip));
	uint32_t ncpus = snap_get_u32(rd);
	if (rd->bad || ncpus != (uint32_t)vm->cfg.ncpus) {
		log_error("--restore %s: state: x86 section: expected %d vCPUs", dir, vm->cfg.ncpus);
		return -1;
	}
	clock.flags = 0; /* only KVM_CLOCK_REALTIME is taken, and not wanted */
	SET(vm->vm_fd, KVM_SET_CLOCK, &clock, "KVM_SET_CLOCK");
	SET(vm->vm_fd, KVM_SET_PIT2, &pit, "KVM_SET_PIT2");
	for (int i = 0; i < 3; i++)
		SET(vm->vm_fd, KVM_SET_IRQCHIP, &chip[i], "KVM_SET_IRQCHIP");
	for (int i = 0; r == 0 && i < vm->cfg.ncpus; i++)
		r = restore_vcpu(&vm->vcpus[i], rd, dir);
	/* Two restores of one snapshot must not share random numbers. */
	if (r == 0)
		x86_vmgenid_update(vm, true);
	return r;
}

SNAPSHOT_SECTION(x86, .name = "x86", .refuse = x86_refuse, .save = x86_save,
		 .restore = x86_restore);
