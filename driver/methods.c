/* methods.c - the machine API's method table: names, parameters with the
 * NixOS defaults, what each returns, and the driver globals (start_all,
 * join_all, ...). docs/test-json.md lists the same methods; tests/driver/run
 * checks the two agree. */
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "driver.h"

#define M(n) int m_##n(struct ctx *x)
M(start); M(shutdown); M(crash); M(wait_for_shutdown); M(reboot); M(is_up);
M(execute); M(succeed); M(fail); M(wait_until_succeeds); M(wait_until_fails);
M(sleep); M(systemctl); M(wait_for_unit); M(get_unit_info); M(get_unit_property);
M(require_unit_state); M(start_job); M(stop_job); M(wait_for_job); M(wait_for_file);
M(wait_for_open_port); M(wait_for_closed_port); M(wait_for_open_unix_socket);
M(wait_for_console_text); M(get_console_log); M(send_console); M(copy_from_host);
M(copy_from_machine); M(switch_root); M(block); M(unblock); M(forward_port); M(shell_interact);
M(get_tty_text); M(wait_until_tty_matches); M(dump_tty_contents); M(wait_for_x);
M(get_window_names); M(wait_for_window);
M(start_all); M(join_all); M(log); M(serial_stdout_on); M(serial_stdout_off);

#define REQ(n, t) { n, t, true, NULL, 0 }
#define OPT_S(n, d) { n, P_STR, false, d, 0 }
#define OPT_SN(n) { n, P_STR_NULL, false, NULL, 0 }
#define OPT_I(n, d) { n, P_INT, false, NULL, d }
#define OPT_IN(n, d) { n, P_INT_NULL, false, NULL, d }
#define OPT_B(n, d) { n, P_BOOL, false, NULL, d }
#define TIMEOUT OPT_I("timeout", 900)

#define NO_SCREEN "needs a screen: microvm has no display"
#define NO_KEYBOARD "needs a keyboard: microvm has none (send_console writes to the serial console)"
#define NO_MONITOR "needs the QEMU monitor: microvm has none"

const struct method methods[] = {
	{ "start", false, m_start, { OPT_B("allow_reboot", 0) }, R_NONE, NULL },
	{ "shutdown", false, m_shutdown, { { 0 } }, R_NONE, NULL },
	{ "crash", false, m_crash, { { 0 } }, R_NONE, NULL },
	{ "wait_for_shutdown", false, m_wait_for_shutdown, { { 0 } }, R_NONE, NULL },
	{ "reboot", false, m_reboot, { { 0 } }, R_NONE, NULL },
	{ "is_up", false, m_is_up, { { 0 } }, R_TEXT, NULL },
	{ "execute", false, m_execute,
	  { REQ("command", P_STR), OPT_B("check_return", 1), OPT_B("check_output", 1),
	    OPT_IN("timeout", 900) }, R_STATUS_TEXT, NULL },
	{ "succeed", false, m_succeed, { REQ("commands", P_STRS), OPT_IN("timeout", -1) },
	  R_TEXT, NULL },
	{ "fail", false, m_fail, { REQ("commands", P_STRS), OPT_IN("timeout", -1) },
	  R_TEXT, NULL },
	{ "wait_until_succeeds", false, m_wait_until_succeeds,
	  { REQ("command", P_STR), TIMEOUT }, R_TEXT, NULL },
	{ "wait_until_fails", false, m_wait_until_fails, { REQ("command", P_STR), TIMEOUT },
	  R_TEXT, NULL },
	{ "sleep", false, m_sleep, { REQ("secs", P_NUM) }, R_NONE, NULL },
	{ "systemctl", false, m_systemctl, { REQ("q", P_STR), OPT_SN("user") },
	  R_STATUS_TEXT, NULL },
	{ "wait_for_unit", false, m_wait_for_unit,
	  { REQ("unit", P_STR), OPT_SN("user"), TIMEOUT }, R_NONE, NULL },
	{ "get_unit_info", false, m_get_unit_info, { REQ("unit", P_STR), OPT_SN("user") },
	  R_TEXT, NULL },
	{ "get_unit_property", false, m_get_unit_property,
	  { REQ("unit", P_STR), REQ("property", P_STR), OPT_SN("user") }, R_TEXT, NULL },
	{ "require_unit_state", false, m_require_unit_state,
	  { REQ("unit", P_STR), OPT_S("require_state", "active") }, R_NONE, NULL },
	{ "start_job", false, m_start_job, { REQ("jobname", P_STR), OPT_SN("user") },
	  R_STATUS_TEXT, NULL },
	{ "stop_job", false, m_stop_job, { REQ("jobname", P_STR), OPT_SN("user") },
	  R_STATUS_TEXT, NULL },
	{ "wait_for_job", false, m_wait_for_job, { REQ("jobname", P_STR) }, R_NONE, NULL },
	{ "wait_for_file", false, m_wait_for_file, { REQ("filename", P_STR), TIMEOUT },
	  R_NONE, NULL },
	{ "wait_for_open_port", false, m_wait_for_open_port,
	  { REQ("port", P_INT), OPT_S("addr", "localhost"), TIMEOUT }, R_NONE, NULL },
	{ "wait_for_closed_port", false, m_wait_for_closed_port,
	  { REQ("port", P_INT), OPT_S("addr", "localhost"), TIMEOUT }, R_NONE, NULL },
	{ "wait_for_open_unix_socket", false, m_wait_for_open_unix_socket,
	  { REQ("addr", P_STR), OPT_B("is_datagram", 0), TIMEOUT }, R_NONE, NULL },
	{ "wait_for_console_text", false, m_wait_for_console_text,
	  { REQ("regex", P_STR), OPT_IN("timeout", -1) }, R_NONE, NULL },
	{ "get_console_log", false, m_get_console_log, { { 0 } }, R_TEXT, NULL },
	{ "send_console", false, m_send_console, { REQ("chars", P_STR) }, R_NONE, NULL },
	{ "copy_from_host", false, m_copy_from_host,
	  { REQ("source", P_STR), REQ("target", P_STR) }, R_NONE, NULL },
	{ "copy_from_host_via_shell", false, m_copy_from_host,
	  { REQ("source", P_STR), REQ("target", P_STR) }, R_NONE, NULL },
	{ "copy_from_machine", false, m_copy_from_machine,
	  { REQ("source", P_STR), OPT_S("target_dir", "") }, R_NONE, NULL },
	{ "copy_from_vm", false, m_copy_from_machine,
	  { REQ("source", P_STR), OPT_S("target_dir", "") }, R_NONE, NULL },
	{ "switch_root", false, m_switch_root, { { 0 } }, R_NONE, NULL },
	{ "shell_interact", false, m_shell_interact, { { 0 } }, R_NONE, NULL },
	{ "block", false, m_block, { { 0 } }, R_NONE, NULL },
	{ "unblock", false, m_unblock, { { 0 } }, R_NONE, NULL },
	{ "forward_port", false, m_forward_port,
	  { OPT_I("host_port", 8080), OPT_I("guest_port", 80) }, R_NONE, NULL },
	{ "screenshot", false, NULL, { { 0 } }, R_NONE, NO_SCREEN },
	{ "get_screen_text", false, NULL, { { 0 } }, R_NONE, NO_SCREEN },
	{ "get_screen_text_variants", false, NULL, { { 0 } }, R_NONE, NO_SCREEN },
	{ "wait_for_text", false, NULL, { { 0 } }, R_NONE, NO_SCREEN },
	{ "send_key", false, NULL, { { 0 } }, R_NONE, NO_KEYBOARD },
	{ "send_chars", false, NULL, { { 0 } }, R_NONE, NO_KEYBOARD },
	{ "send_monitor_command", false, NULL, { { 0 } }, R_NONE, NO_MONITOR },
	{ "wait_for_qmp_event", false, NULL, { { 0 } }, R_NONE, NO_MONITOR },
	{ "get_tty_text", false, m_get_tty_text, { REQ("tty", P_STR) }, R_TEXT, NULL },
	{ "wait_until_tty_matches", false, m_wait_until_tty_matches,
	  { REQ("tty", P_STR), REQ("regexp", P_STR), TIMEOUT }, R_NONE, NULL },
	{ "dump_tty_contents", false, m_dump_tty_contents, { REQ("tty", P_STR) }, R_NONE, NULL },
	{ "wait_for_x", false, m_wait_for_x, { TIMEOUT }, R_NONE, NULL },
	{ "get_window_names", false, m_get_window_names, { { 0 } }, R_TEXT, NULL },
	{ "wait_for_window", false, m_wait_for_window, { REQ("regexp", P_STR), TIMEOUT },
	  R_NONE, NULL },
	{ "console_interact", false, NULL, { { 0 } }, R_NONE,
	  "use `microvmtest shell` or shell_interact at a breakpoint" },
	{ "start_all", true, m_start_all, { { 0 } }, R_NONE, NULL },
	{ "join_all", true, m_join_all, { { 0 } }, R_NONE, NULL },
	{ "log", true, m_log, { REQ("message", P_STR) }, R_NONE, NULL },
	{ "serial_stdout_on", true, m_serial_stdout_on, { { 0 } }, R_NONE, NULL },
	{ "serial_stdout_off", true, m_serial_stdout_off, { { 0 } }, R_NONE, NULL },
};
const size_t nmethods = sizeof(methods) / sizeof(methods[0]);

const struct method *method_find(const char *name)
{
	for (size_t i = 0; i < nmethods; i++)
		if (!strcmp(methods[i].name, name))
			return &methods[i];
	return NULL;
}

const char *call_str(const struct call *c, int i)
{
	if (c->given[i])
		return c->argv[i] ? json_object_get_string(c->argv[i]) : NULL;
	return c->m->params[i].sdef;
}

long call_int(const struct call *c, int i)
{
	if (c->given[i])
		return c->argv[i] ? (long)json_object_get_int64(c->argv[i]) : -1;
	return c->m->params[i].idef;
}

double call_num(const struct call *c, int i)
{
	return c->given[i] && c->argv[i] ? json_object_get_double(c->argv[i])
					 : (double)c->m->params[i].idef;
}

bool call_bool(const struct call *c, int i)
{
	if (c->given[i])
		return json_object_get_boolean(c->argv[i]);
	return c->m->params[i].idef != 0;
}

size_t call_nstrs(const struct call *c)
{
	return c->strs ? json_object_array_length(c->strs) - c->strs_from : 0;
}

const char *call_strs(const struct call *c, size_t k)
{
	return json_object_get_string(json_object_array_get_idx(c->strs, c->strs_from + k));
}

int m_start_all(struct ctx *x)
{
	struct nest n;
	nest_begin(&n, NULL, "start all VMs");
	int r = 0;
	for (size_t i = 0; i < x->d->nm && r == 0; i++)
		r = machine_start(x, &x->d->m[i], false);
	nest_end(&n);
	return r;
}

int m_join_all(struct ctx *x)
{
	struct nest n;
	nest_begin(&n, NULL, "wait for all VMs to finish");
	int r = 0;
	for (size_t i = 0; i < x->d->nm && r == 0; i++)
		r = machine_wait_for_shutdown(x, &x->d->m[i]);
	nest_end(&n);
	return r;
}

int m_log(struct ctx *x)
{
	tlog(NULL, "%s", call_str(x->c, 0));
	return 0;
}

int m_serial_stdout_on(struct ctx *x)
{
	(void)x;
	tlog_serial_on = true;
	return 0;
}

int m_serial_stdout_off(struct ctx *x)
{
	(void)x;
	tlog_serial_on = false;
	return 0;
}
