/* sandbox.h - between sandbox.c (capabilities, thread entry) and seccomp.c
 * (the filters, built only with CONFIG_SECCOMP). Private to vmm/. */
#ifndef SANDBOX_H
#define SANDBOX_H

#include "vm.h"

/* The calling thread's kind, as vm_sandbox_enter set it; read by the
 * SIGSYS handler, so a plain thread-local. */
extern __thread enum vm_thread sandbox_self;

/* "vcpu", "9p", ...: the kind's name in messages. */
const char *sandbox_kind_name(enum vm_thread kind);

#ifdef CONFIG_SECCOMP
/* Compile every kind's filter with mode's action for what it does not
 * allow. Returns 0, or -1 after one line. */
int sandbox_filters_build(enum vm_seccomp mode);
/* Install kind's filter on the calling thread. Returns 0 or -errno. */
int sandbox_filter_install(enum vm_thread kind);
/* System calls kind's filter allows, -1 before sandbox_filters_build. */
int sandbox_filter_size(enum vm_thread kind);
#else
static inline int sandbox_filters_build(enum vm_seccomp mode)
{
	(void)mode;
	return 0;
}
static inline int sandbox_filter_install(enum vm_thread kind)
{
	(void)kind;
	return 0;
}
static inline int sandbox_filter_size(enum vm_thread kind)
{
	(void)kind;
	return -1;
}
#endif

#endif
