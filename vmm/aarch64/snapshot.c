/* snapshot.c - arm64 has no snapshots yet: `snapshot` is refused with one
 * line (--restore is refused in vmm/snapshot.c). Saving one would need the
 * vGIC's distributor, redistributor and CPU-interface registers, the
 * architected timers' registers and the PSCI power state of each vCPU. */
#include <errno.h>
#include <stdio.h>

#include "snapshot.h"
#include "vm.h"

uint64_t arch_snapshot_host_id(struct vm *vm)
{
	(void)vm;
	return 0;
}

static int arm64_refuse(struct vm *vm, char *why, size_t len)
{
	(void)vm;
	snprintf(why, len, "snapshots are not supported on aarch64 yet: expected an x86_64 host");
	return -ENOTSUP;
}

SNAPSHOT_SECTION(arm64, .name = "arm64", .refuse = arm64_refuse);
