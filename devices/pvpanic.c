/* pvpanic.c - lets the guest kernel say it panicked (QEMU's pvpanic
 * interface: one register, bit 0 "panicked", bit 1 "crash loaded"), so
 * microvm exits with the panic status instead of waiting for a reboot. */
#include <string.h>

#include "arch.h"
#include "device.h"
#include "log.h"
#include "vm.h"

#define PVPANIC_PANICKED 0x1
#define PVPANIC_CRASH_LOADED 0x2

static void pvpanic_read(void *opaque, uint64_t off, void *data, unsigned len)
{
	(void)opaque;
	(void)off;
	memset(data, 0, len);
	*(uint8_t *)data = PVPANIC_PANICKED; /* the events we understand */
}

static void pvpanic_write(void *opaque, uint64_t off, const void *data, unsigned len)
{
	(void)off;
	(void)len;
	if (*(const uint8_t *)data & PVPANIC_PANICKED)
		vm_request_exit(opaque, VM_EXIT_PANIC, "guest kernel panic (pvpanic)");
}

static int pvpanic_setup(struct vm *vm)
{
	return bus_register(&vm->bus[arch_devices.pvpanic_bus], arch_devices.pvpanic_base, 1,
			    pvpanic_read, pvpanic_write, vm, "pvpanic");
}

DEVICE(pvpanic, .name = "pvpanic", .setup = pvpanic_setup);
