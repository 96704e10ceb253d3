/* vm.h - the virtual machine: KVM handles, guest memory, vCPUs, how it ends.
 *
 * One struct vm per process. The core (vmm/) owns it; architecture code
 * (vmm/ARCH/) fills in the layout and boot state through the hooks in
 * arch.h; devices reach guest memory only through vm_gpa_ptr().
 */
#ifndef VM_H
#define VM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "bus.h"

struct eventloop;

/* Exit statuses of microvm (documented in README and docs/architecture.md). */
enum vm_status {
	VM_EXIT_POWEROFF = 0, /* guest powered off */
	VM_EXIT_ERROR = 1,    /* monitor error: bad option, KVM failure */
	VM_EXIT_REBOOT = 2,   /* guest asked for a reset or triple-faulted */
	VM_EXIT_PANIC = 3,    /* guest kernel panicked (pvpanic) */
	VM_EXIT_SIGNAL = 4,   /* microvm got SIGTERM/SIGINT/SIGHUP */
};

#define VM_MAX_RAM_REGIONS 4
#define VM_MAX_CPUS 64

/* A contiguous piece of guest RAM backed by one host mapping. */
struct vm_ram {
	uint64_t gpa;  /* guest-physical start */
	uint64_t size; /* bytes */
	uint8_t *host; /* host address of gpa */
};

struct vcpu {
	struct vm *vm;
	int id;                /* 0..ncpus-1, also its APIC id / MPIDR index */
	int fd;                /* KVM vCPU fd */
	struct kvm_run *run;   /* mmap of the vCPU fd */
	pthread_t thread;
	bool started;
	/* Exit counts and time outside KVM_RUN, for --verbose. */
	uint64_t exits_pio, exits_mmio, exits_other;
};

/* Kinds of thread, each confined to its own seccomp allow-list and
 * capabilities (vmm/sandbox.c, vmm/seccomp.c; docs/architecture.md,
 * "Sandbox"). 9p workers of a `privileged` share keep more capabilities. */
enum vm_thread {
	VM_THREAD_MAIN, VM_THREAD_VCPU, VM_THREAD_EVENTLOOP, VM_THREAD_BLK, VM_THREAD_9P,
	VM_THREAD_9P_PRIVILEGED, VM_THREAD_KINDS
};

/* --seccomp: what a forbidden system call does. AUTO is KILL, or TRAP in
 * sanitizer builds and with --verbose. */
enum vm_seccomp { VM_SECCOMP_AUTO, VM_SECCOMP_KILL, VM_SECCOMP_TRAP, VM_SECCOMP_LOG,
		  VM_SECCOMP_OFF };

/* What the user asked for (from the command line). */
struct vm_config {
	const char *kernel;  /* path to bzImage / vmlinux / Image */
	const char *initrd;  /* path or NULL */
	const char *cmdline; /* kernel command line, never NULL */
	uint64_t mem_size;   /* bytes of guest RAM */
	int ncpus;
	bool acpi;           /* describe devices in ACPI (x86) */
	enum vm_seccomp seccomp;
	const char *restore; /* --restore DIR, or NULL */
	char devices[256];   /* device options in order ("disk,disk,net"), for --restore */
};

struct vm {
	struct vm_config cfg;
	int kvm_fd, vm_fd;
	int run_size; /* mmap size of struct kvm_run */
	struct vm_ram ram[VM_MAX_RAM_REGIONS];
	int nram;
	struct vcpu vcpus[VM_MAX_CPUS];
	struct bus bus[BUS_NSPACES];
	struct eventloop *el;
	/* Set once by the first vm_request_exit(), after it set exiting; the
	 * status microvm exits with, valid once exit_efd was written. */
	atomic_int exit_status;
	atomic_bool exiting;
	int exit_efd; /* eventfd the main thread waits on for the exit request */
	unsigned virtio_slots; /* virtio-mmio slots handed out so far */
	void *arch;   /* architecture private state */
	struct timespec start; /* when main() began, for --verbose timings */
	/* Parking the vCPUs for a snapshot (vcpu_pause_all, snapshot.h). */
	pthread_mutex_t pause_lock;
	pthread_cond_t pause_cond;
	atomic_bool pausing;
	int parked;
	/* --restore: the checked state file and DIR/memory (vm_ram_setup maps
	 * RAM privately from it instead of anonymous memory). */
	uint8_t *restore_state;
	size_t restore_len;
	int restore_mem_fd;
};

/* Milliseconds since vm->start. */
double vm_elapsed_ms(const struct vm *vm);

/* Parse microvm's command line into cfg (defaults filled in; device options
 * go to their device's parse()). Returns 0, 1 when --help was asked for, or
 * -EINVAL after printing one line naming the bad option. */
int vm_options(struct vm_config *cfg, int argc, char **argv);

/* Print --help text to f. */
void vm_usage(FILE *f);

/* Listen on the Unix stream socket path for option (e.g. "--control", for
 * its socket:PATH). A stale socket there (nobody listening: a microvm that
 * was killed) is replaced; a live one or any other file is an error, one
 * line. The file is removed when microvm exits, however it exits. Returns
 * the listening fd (non-blocking, close-on-exec) or -1 after that line. */
int vm_listen_unix(const char *option, const char *path);

/* Host pointer for guest-physical [gpa, gpa+len) when that whole range is
 * inside one RAM region, else NULL (out of range, in a hole, or overflowing).
 * The only way any code touches guest memory. */
void *vm_gpa_ptr(const struct vm *vm, uint64_t gpa, uint64_t len);

/* Map guest RAM according to the region table already in vm->ram (filled by
 * arch_memory_layout) and register it with KVM. Returns 0 or -errno. */
int vm_ram_setup(struct vm *vm);

/* Ask the VM to stop with status: the first caller wins, vCPUs are kicked
 * out of KVM_RUN and the main thread wakes up. Safe from any thread. */
void vm_request_exit(struct vm *vm, enum vm_status status, const char *why);

/* Wait until the VM is asked to stop; a signal read from sigfd (a
 * signalfd) becomes a VM_EXIT_SIGNAL request. Returns the status of the
 * first request, once it is recorded. Main thread. */
int vm_wait_exit(struct vm *vm, int sigfd);

/* Raise (level=1) or lower (0) guest interrupt line irq through the
 * in-kernel irqchip. Returns 0 or -errno. */
int vm_set_irq(struct vm *vm, unsigned irq, int level);

/* Make a guest write of len bytes equal to datamatch at MMIO address gpa
 * signal eventfd fd inside KVM, without a userspace exit. Returns 0 or -errno. */
int vm_ioeventfd(struct vm *vm, uint64_t gpa, unsigned len, uint64_t datamatch, int fd);

/* Make each write to eventfd fd raise an edge on guest interrupt line gsi.
 * Returns 0 or -errno. */
int vm_irqfd(struct vm *vm, unsigned gsi, int fd);

/* Open /dev/kvm, create the VM and check capabilities. On failure prints one
 * line saying what is missing and returns -errno. */
int kvm_open(struct vm *vm);

/* True when /dev/kvm is the kvm_pvm module (runs only PVM-enabled kernels). */
bool kvm_is_pvm(void);

/* Create vCPU id and map its kvm_run. Returns 0 or -errno. */
int vcpu_create(struct vm *vm, int id);

/* Start one thread per vCPU running KVM_RUN until the VM exits. */
int vcpu_start_all(struct vm *vm);

/* Kick and join all vCPU threads. */
void vcpu_stop_all(struct vm *vm);

/* Handle one KVM_EXIT_IO / KVM_EXIT_MMIO; shared by the vCPU loop and tests. */
void vcpu_handle_pio(struct vcpu *vcpu);
void vcpu_handle_mmio(struct vcpu *vcpu);

/* Compile every thread kind's seccomp filter for mode (AUTO resolved here)
 * and, for TRAP, install the SIGSYS handler that names the call. Main
 * thread, after the options and before any other thread starts. Returns 0,
 * or -1 after one line. */
int vm_sandbox_init(enum vm_seccomp mode);

/* Confine the calling thread as kind: drop the capabilities kind does not
 * need, set no_new_privs, install kind's filter. The first thing each thread
 * function does; the main thread calls it once every other thread exists
 * (threads inherit both). Nothing before vm_sandbox_init (unit tests). A
 * thread that cannot be confined ends the process (status 1). */
void vm_sandbox_enter(enum vm_thread kind);

/* The number of system calls kind's filter allows (for --verbose and the
 * tests), or -1 without a filter. */
int vm_sandbox_size(enum vm_thread kind);

#endif
