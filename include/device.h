/* device.h - the device table.
 *
 * Each device file adds one DEVICE() entry; the linker gathers them into a
 * section and main() walks it, so adding a device touches its own file, one
 * Kconfig symbol and one Makefile line. Objects are linked directly (not via
 * a static library, which would drop unreferenced entries).
 */
#ifndef DEVICE_H
#define DEVICE_H

#include <stdbool.h>

struct vm;

struct device_desc {
	const char *name;
	/* Long option this device takes (e.g. "serial"), or NULL. */
	const char *option;
	/* Help line for --help, or NULL. */
	const char *usage;
	/* Remember an option value; called once per occurrence, before setup.
	 * Returns 0, or -EINVAL after printing one line naming option and value. */
	int (*parse)(const char *value);
	/* Create the device on vm (claim bus ranges, open backends).
	 * Returns 0 or -errno after printing one line. */
	int (*setup)(struct vm *vm);
	/* Undo setup at exit (flush, close). May be NULL. */
	void (*teardown)(struct vm *vm);
};

#define DEVICE(id, ...)                                                      \
	static const struct device_desc device_##id                         \
		__attribute__((used, section("microvm_devices"), aligned(8))) = \
			{ __VA_ARGS__ }

extern const struct device_desc __start_microvm_devices[];
extern const struct device_desc __stop_microvm_devices[];

#define device_foreach(d) \
	for (const struct device_desc *d = __start_microvm_devices; d < __stop_microvm_devices; d++)

#endif
