/* bus.c - address-range dispatch for port I/O and MMIO exits. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"

int bus_register(struct bus *bus, uint64_t base, uint64_t len, bus_read_fn read,
		 bus_write_fn write, void *opaque, const char *name)
{
	if (len == 0 || base + len < base)
		return -EINVAL;
	size_t i = 0;
	while (i < bus->nranges && bus->ranges[i].base < base)
		i++;
	/* Overlap with the neighbour below or the one at/above i. */
	if (i > 0 && bus->ranges[i - 1].base + bus->ranges[i - 1].len > base)
		return -EEXIST;
	if (i < bus->nranges && base + len > bus->ranges[i].base)
		return -EEXIST;
	struct bus_range *r = realloc(bus->ranges, (bus->nranges + 1) * sizeof(*r));
	if (!r)
		return -ENOMEM;
	memmove(&r[i + 1], &r[i], (bus->nranges - i) * sizeof(*r));
	r[i] = (struct bus_range){ base, len, read, write, opaque, name };
	bus->ranges = r;
	bus->nranges++;
	return 0;
}

static const struct bus_range *bus_find(const struct bus *bus, uint64_t addr)
{
	size_t lo = 0, hi = bus->nranges;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct bus_range *r = &bus->ranges[mid];
		if (addr < r->base)
			hi = mid;
		else if (addr - r->base >= r->len)
			lo = mid + 1;
		else
			return r;
	}
	return NULL;
}

bool bus_access(const struct bus *bus, uint64_t addr, void *data, unsigned len, bool is_write)
{
	const struct bus_range *r = bus_find(bus, addr);
	/* An access straddling the end of a range is not decoded by the device. */
	if (!r || len > r->len - (addr - r->base)) {
		if (!is_write)
			memset(data, 0xff, len);
		return false;
	}
	if (is_write) {
		if (r->write)
			r->write(r->opaque, addr - r->base, data, len);
	} else if (r->read) {
		r->read(r->opaque, addr - r->base, data, len);
	} else {
		memset(data, 0, len);
	}
	return true;
}

const char *bus_owner(const struct bus *bus, uint64_t addr)
{
	const struct bus_range *r = bus_find(bus, addr);
	return r ? r->name : NULL;
}

void bus_free(struct bus *bus)
{
	free(bus->ranges);
	bus->ranges = NULL;
	bus->nranges = 0;
}
