/* vcpu.c - one thread per vCPU running KVM_RUN and dispatching its exits. */
#include <errno.h>
#include <linux/kvm.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "arch.h"
#include "log.h"
#include "snapshot.h"
#include "vm.h"

/* Signal used to kick a vCPU thread out of KVM_RUN. */
#define VCPU_KICK_SIGNAL SIGUSR1

int vcpu_create(struct vm *vm, int id)
{
	struct vcpu *v = &vm->vcpus[id];
	v->vm = vm;
	v->id = id;
	v->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, id);
	if (v->fd < 0) {
		int e = errno;
		log_error("KVM_CREATE_VCPU %d: %s", id, strerror(e));
		return -e;
	}
	v->run = mmap(NULL, vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
	if (v->run == MAP_FAILED) {
		int e = errno;
		v->run = NULL;
		log_error("mmap of vCPU %d: %s", id, strerror(e));
		return -e;
	}
	return 0;
}

void vcpu_handle_pio(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	bool wr = run->io.direction == KVM_EXIT_IO_OUT;
	/* A rep ins/outs arrives as count consecutive items. */
	for (uint32_t i = 0; i < run->io.count; i++) {
		bus_access(&v->vm->bus[BUS_PIO], run->io.port, data, run->io.size, wr);
		data += run->io.size;
	}
}

void vcpu_handle_mmio(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	unsigned len = run->mmio.len;
	if (len > sizeof(run->mmio.data))
		len = sizeof(run->mmio.data);
	bus_access(&v->vm->bus[BUS_MMIO], run->mmio.phys_addr, run->mmio.data, len,
		   run->mmio.is_write);
}

static void vcpu_system_event(struct vcpu *v)
{
	switch (v->run->system_event.type) {
	case KVM_SYSTEM_EVENT_SHUTDOWN:
		vm_request_exit(v->vm, VM_EXIT_POWEROFF, "guest system event: shutdown");
		break;
	case KVM_SYSTEM_EVENT_RESET:
		vm_request_exit(v->vm, VM_EXIT_REBOOT, "guest system event: reset");
		break;
	case KVM_SYSTEM_EVENT_CRASH:
		vm_request_exit(v->vm, VM_EXIT_PANIC, "guest system event: crash");
		break;
	default:
		log_warn("vCPU %d: unknown system event %u", v->id, v->run->system_event.type);
	}
}

static void vcpu_internal_error(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	log_error("vCPU %d: KVM internal error, suberror %u%s", v->id,
		  run->internal.suberror,
		  run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION
			  ? " (KVM could not emulate a guest instruction)" : "");
	/* kvm_pvm runs only guests built for PVM: a stock kernel dies here in
	 * KVM's instruction emulator, which deserves a clue. */
	if (kvm_is_pvm())
		log_error("this host's KVM is PVM (kvm_pvm): only PVM-enabled guest kernels "
			  "run natively here; stock kernels need hardware KVM (see "
			  "tests/harness/nested)");
	vm_request_exit(v->vm, VM_EXIT_ERROR, "KVM internal error");
}

/* Handle one exit; false when the vCPU thread should stop. */
static bool vcpu_exit(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		v->exits_pio++;
		vcpu_handle_pio(v);
		return true;
	case KVM_EXIT_MMIO:
		v->exits_mmio++;
		vcpu_handle_mmio(v);
		return true;
	case KVM_EXIT_INTR:
		v->exits_other++;
		return true;
	case KVM_EXIT_SYSTEM_EVENT:
		vcpu_system_event(v);
		return false;
	case KVM_EXIT_INTERNAL_ERROR:
		vcpu_internal_error(v);
		return false;
	case KVM_EXIT_FAIL_ENTRY:
		log_error("vCPU %d: KVM entry failed, reason 0x%llx", v->id,
			  (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		vm_request_exit(v->vm, VM_EXIT_ERROR, "entry failure");
		return false;
	default: {
		int r = arch_vcpu_exit(v, run->exit_reason);
		if (r < 0)
			vm_request_exit(v->vm, VM_EXIT_ERROR, "unhandled exit");
		return r == 0;
	}
	}
}

/* --verbose: which exits a guest caused, the first thing to look at when a
 * boot is slow (each one costs a round trip through the host). */
static void vcpu_report(const struct vcpu *v)
{
	log_debug("vCPU %d: %llu port I/O exits, %llu MMIO exits, %llu others", v->id,
		  (unsigned long long)v->exits_pio, (unsigned long long)v->exits_mmio,
		  (unsigned long long)v->exits_other);
}

/* A snapshot wants this vCPU still: complete the exit in progress (KVM
 * finishes a port or MMIO read only on the next KVM_RUN, which
 * immediate_exit makes return at once), then wait until resumed. */
static void vcpu_park(struct vcpu *v)
{
	struct vm *vm = v->vm;
	v->run->immediate_exit = 1;
	ioctl(v->fd, KVM_RUN, 0);
	v->run->immediate_exit = 0;
	pthread_mutex_lock(&vm->pause_lock);
	vm->parked++;
	pthread_cond_broadcast(&vm->pause_cond);
	while (atomic_load(&vm->pausing) && !atomic_load(&vm->exiting))
		pthread_cond_wait(&vm->pause_cond, &vm->pause_lock);
	vm->parked--;
	pthread_cond_broadcast(&vm->pause_cond);
	pthread_mutex_unlock(&vm->pause_lock);
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *v = arg;
	vm_sandbox_enter(VM_THREAD_VCPU);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, VCPU_KICK_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);

	if (v->id == 0)
		log_debug("first KVM_RUN %.2f ms after start", vm_elapsed_ms(v->vm));
	while (!atomic_load(&v->vm->exiting)) {
		if (atomic_load(&v->vm->pausing)) {
			vcpu_park(v);
			continue;
		}
		if (ioctl(v->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				v->run->immediate_exit = 0;
				continue;
			}
			log_error("vCPU %d: KVM_RUN: %m", v->id);
			vm_request_exit(v->vm, VM_EXIT_ERROR, "KVM_RUN failed");
			break;
		}
		if (!vcpu_exit(v))
			break;
	}
	vcpu_report(v);
	return NULL;
}

static void vcpu_kick_handler(int sig)
{
	(void)sig;
}

int vcpu_start_all(struct vm *vm)
{
	struct sigaction sa = { .sa_handler = vcpu_kick_handler };
	sigaction(VCPU_KICK_SIGNAL, &sa, NULL);
	for (int i = 0; i < vm->cfg.ncpus; i++) {
		struct vcpu *v = &vm->vcpus[i];
		int e = pthread_create(&v->thread, NULL, vcpu_thread, v);
		if (e) {
			log_error("cannot start vCPU thread: %s", strerror(e));
			return -e;
		}
		v->started = true;
	}
	return 0;
}

void vcpu_pause_all(struct vm *vm)
{
	pthread_mutex_lock(&vm->pause_lock);
	atomic_store(&vm->pausing, true);
	int running = 0;
	for (int i = 0; i < vm->cfg.ncpus; i++) {
		struct vcpu *v = &vm->vcpus[i];
		if (!v->started)
			continue;
		running++;
		/* As in vcpu_stop_all: the flag is set first, so a vCPU that
		 * clears immediate_exit after this looks at it again. */
		v->run->immediate_exit = 1;
		pthread_kill(v->thread, VCPU_KICK_SIGNAL);
	}
	/* A vCPU thread that ended (the guest is stopping) never parks. */
	while (vm->parked < running && !atomic_load(&vm->exiting))
		pthread_cond_wait(&vm->pause_cond, &vm->pause_lock);
	pthread_mutex_unlock(&vm->pause_lock);
}

void vcpu_resume_all(struct vm *vm)
{
	pthread_mutex_lock(&vm->pause_lock);
	atomic_store(&vm->pausing, false);
	pthread_cond_broadcast(&vm->pause_cond);
	pthread_mutex_unlock(&vm->pause_lock);
}

void vcpu_stop_all(struct vm *vm)
{
	atomic_store(&vm->exiting, true);
	pthread_mutex_lock(&vm->pause_lock);
	pthread_cond_broadcast(&vm->pause_cond);
	pthread_mutex_unlock(&vm->pause_lock);
	for (int i = 0; i < vm->cfg.ncpus; i++) {
		struct vcpu *v = &vm->vcpus[i];
		if (!v->started)
			continue;
		/* immediate_exit makes a KVM_RUN that has not started yet
		 * return at once; the signal interrupts one in progress. */
		v->run->immediate_exit = 1;
		pthread_kill(v->thread, VCPU_KICK_SIGNAL);
		pthread_join(v->thread, NULL);
		v->started = false;
	}
}
