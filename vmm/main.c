/* main.c - microvm: boot a Linux kernel under KVM, exit with how it stopped. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arch.h"
#include "device.h"
#include "eventloop.h"
#include "log.h"
#include "snapshot.h"
#include "vm.h"

static void *eventloop_thread(void *arg)
{
	struct vm *vm = arg;
	vm_sandbox_enter(VM_THREAD_EVENTLOOP);
	if (el_run(vm->el) < 0)
		vm_request_exit(vm, VM_EXIT_ERROR, "event loop failed");
	return NULL;
}

/* Say what is wrong with a file before touching KVM. */
static int check_file(const char *opt, const char *path)
{
	struct stat st;
	if (stat(path, &st) < 0 || access(path, R_OK) < 0) {
		log_error("%s %s: %s", opt, path, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		log_error("%s %s: not a regular file", opt, path);
		return -1;
	}
	return 0;
}

/* --verbose: the monitor's own resident memory, guest RAM not counted, from
 * f: /proc/self/smaps, opened before the main thread's filter (no open
 * after it), read now. */
static void report_rss(const struct vm *vm, FILE *f)
{
	if (!f)
		return;
	char line[256];
	unsigned long lo = 0, hi = 0, kib, total = 0, guest = 0;
	bool in_guest = false;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2) {
			in_guest = false;
			/* RAM can show as several areas (the kernel splits
			 * a mapping as pages change): count each inside it. */
			for (int i = 0; i < vm->nram; i++)
				in_guest |= lo >= (uintptr_t)vm->ram[i].host &&
					    lo < (uintptr_t)vm->ram[i].host + vm->ram[i].size;
		} else if (sscanf(line, "Rss: %lu kB", &kib) == 1) {
			total += kib;
			guest += in_guest ? kib : 0;
		}
	}
	fclose(f);
	log_debug("RSS %lu KiB: guest RAM %lu KiB, monitor %lu KiB", total, guest, total - guest);
}

/* Build the machine: memory, irqchip, devices, kernel, vCPUs. */
static int vm_build(struct vm *vm)
{
	int r = kvm_open(vm);
	if (r == 0)
		r = arch_memory_layout(vm);
	if (r == 0)
		r = vm_ram_setup(vm);
	if (r == 0)
		r = arch_vm_init(vm);
	for (int i = 0; r == 0 && i < vm->cfg.ncpus; i++)
		r = vcpu_create(vm, i);
	if (r == 0)
		r = arch_vcpus_created(vm);
	if (r == 0 && !(vm->el = el_new()))
		r = -errno;
	device_foreach(d) {
		if (r == 0 && d->setup)
			r = d->setup(vm);
	}
	/* A restore's kernel, tables and registers are in the snapshot. */
	if (vm->cfg.restore)
		return r == 0 ? snapshot_apply(vm) : r;
	if (r == 0)
		r = arch_load_kernel(vm);
	for (int i = 0; r == 0 && i < vm->cfg.ncpus; i++)
		r = arch_vcpu_init(&vm->vcpus[i]);
	return r;
}

int main(int argc, char **argv)
{
	static struct vm vm;
	clock_gettime(CLOCK_MONOTONIC, &vm.start);
	log_prog = "microvm";
	int r = vm_options(&vm.cfg, argc, argv);
	if (r != 0) {
		if (r == 1)
			vm_usage(stdout);
		return r == 1 ? 0 : VM_EXIT_ERROR;
	}
	/* Termination signals become an orderly stop; SIGUSR1 kicks vCPUs
	 * and is unblocked only in their threads. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	sigdelset(&set, SIGUSR1);
	int sigfd = signalfd(-1, &set, SFD_CLOEXEC);
	signal(SIGPIPE, SIG_IGN);

	pthread_mutex_init(&vm.pause_lock, NULL);
	pthread_cond_init(&vm.pause_cond, NULL);
	if (vm.cfg.restore ? snapshot_load(&vm, vm.cfg.restore) < 0
			   : check_file("--kernel", vm.cfg.kernel) < 0 ||
				     (vm.cfg.initrd && check_file("--initrd", vm.cfg.initrd) < 0))
		return VM_EXIT_ERROR;
	if (vm_sandbox_init(vm.cfg.seccomp) < 0 || vm_build(&vm) < 0)
		return VM_EXIT_ERROR;
	pthread_t elt;
	if (pthread_create(&elt, NULL, eventloop_thread, &vm) != 0 || vcpu_start_all(&vm) < 0)
		return VM_EXIT_ERROR;
	FILE *smaps = log_verbose ? fopen("/proc/self/smaps", "r") : NULL;
	vm_sandbox_enter(VM_THREAD_MAIN); /* last: every other thread exists */
	int status = vm_wait_exit(&vm, sigfd);
	vcpu_stop_all(&vm);
	el_stop(vm.el);
	pthread_join(elt, NULL);
	device_foreach(d) {
		if (d->teardown)
			d->teardown(&vm);
	}
	if (log_verbose)
		report_rss(&vm, smaps);
	log_debug("exit status %d after %.1f ms", status, vm_elapsed_ms(&vm));
	return status;
}
