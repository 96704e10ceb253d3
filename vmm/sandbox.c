/* sandbox.c - what a thread may still do once microvm is set up: the
 * capabilities its kind needs (none for most), no new privileges, and its
 * kind's seccomp filter (seccomp.c). Each thread confines itself before it
 * touches guest data; the main thread does so last, because threads inherit
 * the filter and the capabilities of the thread that creates them. */
#include <errno.h>
#include <linux/capability.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"
#include "sandbox.h"

#define CAP(c) (1ULL << CAP_##c)

/* The 9p server works on the share as the guest's root asks it to. */
#define P9_CAPS                                                                      \
	(CAP(CHOWN)             /* new files get the guest's owner; Tsetattr uid/gid */ \
	 | CAP(DAC_OVERRIDE)    /* files and directories of any owner and mode */     \
	 | CAP(DAC_READ_SEARCH) /* Tlink: linkat(fd, "", AT_EMPTY_PATH) needs it */   \
	 | CAP(FOWNER)          /* chmod, utimes and user.* xattrs on others' files */ \
	 | CAP(FSETID))         /* keep setgid on directories whose group root lacks */

/* Only a `privileged` share passes these through (devices/9p, P9_PRIVILEGED). */
#define P9_PRIVILEGED_CAPS                                                   \
	(CAP(MKNOD)       /* block and character device nodes */             \
	 | CAP(SETFCAP)   /* security.capability: file capabilities */       \
	 | CAP(SYS_ADMIN)) /* trusted.* xattrs (seccomp still allows no mount) */

/* Kept per kind when microvm has capabilities at all (root). Left out on
 * purpose: CAP_SYS_RESOURCE (the fd limit is raised at setup; without it
 * the guest cannot fill ext4's reserved blocks), CAP_NET_RAW (libslirp
 * pings through ICMP datagram sockets, or answers itself), CAP_SETPCAP
 * (dropped last, by capset). */
static const uint64_t keep[VM_THREAD_KINDS] = {
	[VM_THREAD_9P] = P9_CAPS,
	[VM_THREAD_9P_PRIVILEGED] = P9_CAPS | P9_PRIVILEGED_CAPS,
	/* hostfwd to a port below 1024, also added at run time (--control) */
	[VM_THREAD_EVENTLOOP] = CAP(NET_BIND_SERVICE),
};

static const char *const kind_names[VM_THREAD_KINDS] = {
	[VM_THREAD_MAIN] = "main", [VM_THREAD_VCPU] = "vcpu",
	[VM_THREAD_EVENTLOOP] = "eventloop", [VM_THREAD_BLK] = "blk",
	[VM_THREAD_9P] = "9p", [VM_THREAD_9P_PRIVILEGED] = "9p",
};

__thread enum vm_thread sandbox_self;
static bool ready; /* vm_sandbox_init ran (unit tests never call it) */
static enum vm_seccomp sandbox_mode;

const char *sandbox_kind_name(enum vm_thread kind)
{
	return kind < VM_THREAD_KINDS ? kind_names[kind] : "?";
}

/* Capabilities live per thread: the bounding set and the ambient set are
 * emptied of what this thread does not keep (while it still has
 * CAP_SETPCAP; without execve they matter little), then capset leaves only
 * keep in the permitted and effective sets and nothing inheritable. */
static int drop_caps(uint64_t keep_caps)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2];
	if (syscall(SYS_capget, &h, d) < 0)
		return -errno;
	uint64_t perm = d[0].permitted | (uint64_t)d[1].permitted << 32;
	for (int c = 0; (perm & CAP(SETPCAP)) && prctl(PR_CAPBSET_READ, c, 0, 0, 0) >= 0; c++)
		if (!(keep_caps >> c & 1))
			prctl(PR_CAPBSET_DROP, c, 0, 0, 0);
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	keep_caps &= perm;
	for (int i = 0; i < 2; i++) {
		uint32_t half = (uint32_t)(keep_caps >> 32 * i);
		d[i] = (struct __user_cap_data_struct){ .effective = half, .permitted = half };
	}
	return syscall(SYS_capset, &h, d) < 0 ? -errno : 0;
}

int vm_sandbox_init(enum vm_seccomp mode)
{
#ifdef MICROVM_SANITIZE
	const bool sanitized = true;
#else
	const bool sanitized = false;
#endif
#ifndef CONFIG_SECCOMP
	if (mode != VM_SECCOMP_AUTO && mode != VM_SECCOMP_OFF) {
		log_error("--seccomp: this microvm was built without CONFIG_SECCOMP");
		return -1;
	}
	mode = VM_SECCOMP_OFF;
#endif
	if (mode == VM_SECCOMP_AUTO)
		mode = sanitized || log_verbose ? VM_SECCOMP_TRAP : VM_SECCOMP_KILL;
	if (mode != VM_SECCOMP_OFF && sandbox_filters_build(mode) < 0)
		return -1;
	sandbox_mode = mode;
	ready = true;
	return 0;
}

void vm_sandbox_enter(enum vm_thread kind)
{
	if (!ready)
		return;
	sandbox_self = kind;
	bool root = geteuid() == 0; /* asked before the filter forbids it */
	int r = drop_caps(keep[kind]);
	if (r == 0 && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		r = -errno;
	if (r == 0 && sandbox_mode != VM_SECCOMP_OFF)
		r = sandbox_filter_install(kind);
	if (r < 0) {
		log_error("cannot confine the %s thread: %s", kind_names[kind], strerror(-r));
		_exit(VM_EXIT_ERROR);
	}
	if (kind == VM_THREAD_MAIN && root)
		log_warn("running as root: every thread dropped its capabilities but 9p's "
			 "workers (chown, dac_override, dac_read_search, fowner, fsetid; and "
			 "mknod, setfcap, sys_admin for a privileged share) and the event "
			 "loop (net_bind_service)");
}

int vm_sandbox_size(enum vm_thread kind)
{
	return ready && sandbox_mode != VM_SECCOMP_OFF && kind < VM_THREAD_KINDS
		       ? sandbox_filter_size(kind) : -1;
}
