/* bus.h - guest port I/O and MMIO dispatch.
 *
 * Devices claim address ranges on one of two buses. A vCPU exit looks the
 * address up and calls the device's handler with the offset into its range.
 * Accesses nobody claimed read as all ones and are ignored on write, as on
 * real hardware with nothing decoding the address.
 *
 * Registration happens before the vCPUs start; lookups afterwards are
 * lock-free (the table never changes while the guest runs).
 */
#ifndef BUS_H
#define BUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum bus_space { BUS_PIO, BUS_MMIO, BUS_NSPACES };

/* Handler for one access of len (1, 2, 4 or 8) bytes at offset within the
 * claimed range. data is in guest byte order (little endian). Called from
 * vCPU threads: handlers must not block on host I/O. */
typedef void (*bus_read_fn)(void *opaque, uint64_t offset, void *data, unsigned len);
typedef void (*bus_write_fn)(void *opaque, uint64_t offset, const void *data, unsigned len);

struct bus_range {
	uint64_t base, len;
	bus_read_fn read;
	bus_write_fn write;
	void *opaque;
	const char *name;
};

struct bus {
	struct bus_range *ranges; /* sorted by base, non-overlapping */
	size_t nranges;
};

/* Claim [base, base+len) on bus for a device. Returns 0, -EEXIST when the
 * range overlaps one already claimed, -EINVAL for len 0 or wrap-around,
 * -ENOMEM. */
int bus_register(struct bus *bus, uint64_t base, uint64_t len, bus_read_fn read,
		 bus_write_fn write, void *opaque, const char *name);

/* Dispatch one access. Returns true when a device claimed addr (and
 * addr+len-1 lies in the same range); otherwise reads fill data with 0xff
 * and false is returned. */
bool bus_access(const struct bus *bus, uint64_t addr, void *data, unsigned len, bool is_write);

/* The name of the device claiming addr, or NULL when nobody does. */
const char *bus_owner(const struct bus *bus, uint64_t addr);

/* Free the range table. */
void bus_free(struct bus *bus);

#endif
