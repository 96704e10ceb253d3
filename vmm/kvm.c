/* kvm.c - opening /dev/kvm, capability checks, VM-wide requests. */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "log.h"
#include "vm.h"

static const struct {
	int cap;
	const char *name;
} kvm_caps[] = {
	{ KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY" },
	{ KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP" },
	{ KVM_CAP_IOEVENTFD, "KVM_CAP_IOEVENTFD" },
	{ KVM_CAP_IRQFD, "KVM_CAP_IRQFD" },
	{ KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT" },
#ifdef __x86_64__
	{ KVM_CAP_PIT2, "KVM_CAP_PIT2" },
	{ KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID" },
	{ KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR" },
#endif
};

bool kvm_is_pvm(void)
{
	/* Asked first by kvm_open: vCPU threads, which may not look at
	 * files, get the answer from then. */
	static int pvm = -1;
	if (pvm < 0)
		pvm = access("/sys/module/kvm_pvm", F_OK) == 0;
	return pvm;
}

static int kvm_open_dev(void)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd >= 0)
		return fd;
	int e = errno;
	if (e == ENOENT)
		log_error("/dev/kvm does not exist: KVM is not available on this "
			  "host (load kvm_intel or kvm_amd, or enable virtualisation)");
	else if (e == EACCES || e == EPERM)
		log_error("no permission to open /dev/kvm: add the user to the "
			  "'kvm' group or run as root");
	else
		log_error("cannot open /dev/kvm: %s", strerror(e));
	return -e;
}

int kvm_open(struct vm *vm)
{
	vm->kvm_fd = kvm_open_dev();
	if (vm->kvm_fd < 0)
		return vm->kvm_fd;
	int ver = ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0);
	if (ver != KVM_API_VERSION) {
		log_error("/dev/kvm speaks KVM API %d, expected %d", ver, KVM_API_VERSION);
		return -EINVAL;
	}
	for (size_t i = 0; i < sizeof(kvm_caps) / sizeof(kvm_caps[0]); i++) {
		if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, kvm_caps[i].cap) <= 0) {
			log_error("this host's KVM lacks %s, which microvm needs",
				  kvm_caps[i].name);
			return -ENOTSUP;
		}
	}
	vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0) {
		int e = errno;
		log_error("KVM_CREATE_VM: %s", strerror(e));
		return -e;
	}
	vm->run_size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (vm->run_size <= 0) {
		log_error("KVM_GET_VCPU_MMAP_SIZE failed");
		return -EINVAL;
	}
	vm->exit_efd = eventfd(0, EFD_CLOEXEC);
	if (vm->exit_efd < 0)
		return -errno;
	if (kvm_is_pvm())
		log_debug("this host's KVM is PVM (kvm_pvm): only PVM-enabled guest kernels run here");
	return 0;
}

void vm_request_exit(struct vm *vm, enum vm_status status, const char *why)
{
	bool expected = false;
	/* The first request wins; its status is published by the eventfd
	 * write below (vm_wait_exit returns only after it). */
	if (!atomic_compare_exchange_strong(&vm->exiting, &expected, true))
		return;
	atomic_store(&vm->exit_status, status);
	log_debug("stopping: %s", why);
	uint64_t one = 1;
	if (write(vm->exit_efd, &one, sizeof(one)) < 0)
		log_error("exit eventfd: %m");
}

int vm_wait_exit(struct vm *vm, int sigfd)
{
	struct pollfd p[2] = { { vm->exit_efd, POLLIN, 0 }, { sigfd, POLLIN, 0 } };
	for (;;) {
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return VM_EXIT_ERROR;
		}
		if (p[1].revents) {
			struct signalfd_siginfo si;
			if (read(sigfd, &si, sizeof(si)) == sizeof(si))
				vm_request_exit(vm, VM_EXIT_SIGNAL, strsignal(si.ssi_signo));
		}
		/* The eventfd, not `exiting`, says the status is there: the
		 * first requester sets exiting before it stores the status, so
		 * a signal arriving in between must not read it early. */
		if (p[0].revents)
			return atomic_load(&vm->exit_status);
	}
}

int vm_set_irq(struct vm *vm, unsigned irq, int level)
{
	struct kvm_irq_level l = { .irq = irq, .level = level };
#ifdef __aarch64__
	/* irq is an SPI number (as KVM_IRQFD's gsi); the GIC's INTID is +32. */
	l.irq = KVM_ARM_IRQ_TYPE_SPI << KVM_ARM_IRQ_TYPE_SHIFT | (irq + 32);
#endif
	return ioctl(vm->vm_fd, KVM_IRQ_LINE, &l) < 0 ? -errno : 0;
}

int vm_ioeventfd(struct vm *vm, uint64_t gpa, unsigned len, uint64_t datamatch, int fd)
{
	struct kvm_ioeventfd io = { .datamatch = datamatch, .addr = gpa, .len = len, .fd = fd,
				    .flags = KVM_IOEVENTFD_FLAG_DATAMATCH };
	return ioctl(vm->vm_fd, KVM_IOEVENTFD, &io) < 0 ? -errno : 0;
}

int vm_irqfd(struct vm *vm, unsigned gsi, int fd)
{
	struct kvm_irqfd irq = { .fd = fd, .gsi = gsi };
	return ioctl(vm->vm_fd, KVM_IRQFD, &irq) < 0 ? -errno : 0;
}

double vm_elapsed_ms(const struct vm *vm)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - vm->start.tv_sec) * 1e3 + (now.tv_nsec - vm->start.tv_nsec) / 1e6;
}
