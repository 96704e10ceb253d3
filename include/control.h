/* control.h - microvm's control channel (--control): text commands at run
 * time, one line each, answered with one line ("ok" or "error: WHY").
 *
 * Devices add commands with one CONTROL_CMD() entry, gathered in a linker
 * section like the device table, so the channel knows no device. Commands
 * run on the event-loop thread.
 */
#ifndef CONTROL_H
#define CONTROL_H

#include <stddef.h>

struct vm;

struct control_cmd {
	const char *name;
	const char *usage; /* "name ARGS", for the reply to an unknown command */
	/* args: the rest of the line. Returns 0 (reply may hold a detail) or
	 * -errno with reply saying why. */
	int (*run)(struct vm *vm, const char *args, char *reply, size_t len);
};

#define CONTROL_CMD(id, ...)                                                   \
	static const struct control_cmd control_##id                          \
		__attribute__((used, section("microvm_control"), aligned(8))) = \
			{ __VA_ARGS__ }

/* Weak: a build without any command still links. */
extern const struct control_cmd __start_microvm_control[] __attribute__((weak));
extern const struct control_cmd __stop_microvm_control[] __attribute__((weak));

#define control_foreach(c) \
	for (const struct control_cmd *c = __start_microvm_control; c < __stop_microvm_control; c++)

/* Run one command line (no newline) and write the reply line (no newline)
 * into reply. Used by the channel and by tests. */
void control_run(struct vm *vm, const char *line, char *reply, size_t len);

#endif
