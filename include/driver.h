/* driver.h - microvmtest at run time: nodes as microvm processes, the
 * backdoor shell on each node's virtio console, the machine API, logs.
 *
 * The driver is one thread. Every wait goes through drv_pump(), which also
 * reads every node's serial output (logged as "node # line"), notices a
 * microvm that exits and a SIGINT/SIGTERM, and honours the test's global
 * deadline; so no wait can outlive the test and no pipe fills up.
 * Failures are reported through ctx_fail(): one message, logged by the step
 * runner as "!!! ...".
 */
#ifndef DRIVER_H
#define DRIVER_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

#include "testfile.h"

struct pollfd;

/* A growable byte buffer, always NUL-terminated after len. */
struct buf {
	char *p;
	size_t len, cap;
};
void buf_add(struct buf *b, const void *data, size_t n);
/* Make room for n more bytes after len. */
void buf_reserve(struct buf *b, size_t n);
void buf_adds(struct buf *b, const char *s);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_consume(struct buf *b, size_t n); /* drop the first n bytes */
/* Past max bytes, drop the oldest lines down to about max / 2; returns how
 * many bytes were dropped. */
size_t buf_keep_tail(struct buf *b, size_t max);
void buf_free(struct buf *b);

/* Append s quoted for a POSIX shell, exactly as Python's shlex.quote. */
void shquote(struct buf *out, const char *s);
/* Append base64 of data (no line breaks). */
void b64_encode(struct buf *out, const void *data, size_t n);
/* Base64 decoding state, so text can be decoded in pieces as it arrives. */
struct b64 {
	unsigned v;
	int bits;
};
/* Append the bytes of base64 text in[0..n), continuing from s (zeroed at
 * the start); returns -1 on a bad character. */
int b64_decode(struct b64 *s, struct buf *out, const char *in, size_t n);
/* Monotonic seconds. */
double now(void);
/* Remove a directory tree (no symlinks followed). */
int rm_tree(const char *path);

struct driver;

/* One node: its configuration and, when booted, its microvm process. */
struct machine {
	struct driver *d;
	const struct node_conf *conf;
	const char *name;
	char *state_dir;    /* RUN_DIR/vm-state-NAME, made at first start */
	char **disk_paths;  /* per disk: its copy-on-write file (disk_cow), else a
			     * private copy, or the file itself when readonly */
	bool disk_cow;      /* microvm's cow= file, or QEMU's qcow2 overlay */
	pid_t pid;          /* microvm, leader of its own process group; 0: none */
	int pidfd;          /* readable when microvm exits; -1 when unsupported */
	int shell_fd;       /* our end of the console socketpair (backdoor) */
	int serial_fd;      /* microvm's stdout+stderr (serial console) */
	int stdin_fd;       /* microvm's stdin (serial input), for send_console */
	bool booted, connected, allow_reboot, reboot_pending;
	int last_status;    /* microvm's last exit status, -1 before any */
	unsigned gen;       /* +1 at each spawn: a backdoor operation that sees it
			     * change lost its shell to an exit or reboot */
	int skip_lines;     /* backdoor output lines nobody will read */
	struct buf shell_in;    /* backdoor bytes received, not yet consumed */
	struct buf serial_part; /* a serial line not finished yet */
	struct buf console;     /* serial lines since start, each ending in \n */
	size_t console_mark;    /* wait_for_console_text looks from here */
	struct machine_net *net; /* switch ports, control socket (driver/net.c) */
	struct snap *snap;  /* restore or save of this boot (driver/snapshot.c) */
};

struct driver {
	struct test *t;
	struct machine *m; /* one per node, in node order */
	size_t nm;
	const char *microvm; /* the VMM binary: microvm, or QEMU with qemu set; NULL
			      * when every node has a start_script and none was found */
	bool qemu;           /* --vmm qemu: boot nodes as NixOS's qemu-vm does */
	const char *vmm;     /* "microvm" or "qemu", for the log */
	char *microvm_help;  /* its --help, to check options before use */
	char *run_dir;       /* per-run state directory */
	const char *tmp_base; /* where run_dir is made (NULL: $TMPDIR, else /tmp) */
	const char *out_dir; /* where copy_from_machine writes */
	bool has_share;      /* microvm has --share: nodes get xchg and shared */
	bool keep_state, interactive;
	double deadline;     /* the test's global timeout (monotonic) */
	int nfail;           /* steps failed so far */
	size_t output_max;   /* bytes of one command's output (backdoor.c) */
	struct drv_net *net; /* the vlans' switches (driver/net.c) */
	bool no_snapshots;   /* --no-snapshots: every node boots cold */
	char *snap_dir;      /* $MICROVMTEST_CACHE/snapshots (driver/snapshot.c) */
	unsigned long long snap_max; /* its bound in bytes allocated */
};

/* What one method call works on and returns. */
struct ctx {
	struct driver *d;
	struct machine *m; /* NULL for a global */
	const struct call *c;
	struct buf out;    /* R_TEXT / R_STATUS_TEXT result */
	int status;        /* R_STATUS_TEXT result */
	char *err;         /* set by ctx_fail */
	bool interrupted;  /* failed because of a signal or the global timeout */
	unsigned gen;      /* the machine's gen when the backdoor was connected */
};
/* Record why the call failed (the first reason wins); returns -1. */
int ctx_fail(struct ctx *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ctx_reset(struct ctx *x);
/* ctx_fail for a PCRE2 match error (rc < -1, e.g. its match limit), which
 * must not pass for "no match": a wait would then run into its timeout. */
int regex_fail(struct ctx *x, int rc, const char *regex);

/* Set by the SIGINT/SIGTERM/SIGHUP handler; every wait gives up when set. */
extern volatile sig_atomic_t drv_signal;
void drv_signals(void);

/* --- logs (driver/tlog.c): stderr, in the NixOS driver's format -------- */
void tlog(const char *machine, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void tlog_serial(const char *machine, const char *line);
/* "!!! msg": a failure, also recorded for the JUnit report. */
void tlog_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
extern bool tlog_serial_on;
struct nest {
	const char *machine;
	char *msg;
	double t0;
};
/* Log msg, then at nest_end "(finished: msg, in S seconds)". */
void nest_begin(struct nest *n, const char *machine, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void nest_end(struct nest *n);

/* --- JUnit (driver/junit.c): fed by the log ----------------------------- */
void junit_enable(void); /* keep the log for the report (--junit) */
void junit_line(const char *line);
void junit_subtest_begin(const char *name);
void junit_subtest_end(bool failed);
void junit_failure(const char *msg);
int junit_write(const char *file, const char *suite);
/* Write s as XML text (attribute-safe), as the report does. */
void junit_escape(FILE *f, const char *s);
void junit_free(void);

/* --- processes (driver/proc.c, driver/pump.c) --------------------------- */
int drv_init(struct driver *d, struct test *t, const char *microvm);
/* Kill every microvm, remove the run directory unless keep_state. */
void drv_cleanup(struct driver *d);
/* Spawn microvm for m (not waiting for boot). */
int machine_spawn(struct ctx *x, struct machine *m);
/* m's command line (driver/vmargs.c): microvm and the node's boot options,
 * or its start_script; then the driver's options, the console on console_fd. */
char **vm_argv(struct machine *m, int console_fd);
/* Check that microvm has the options m needs (nothing for a start_script). */
int vm_check_options(struct ctx *x, struct machine *m);
/* microvm --help, read once ("" without a microvm binary). */
const char *microvm_help(struct driver *d);
/* Stop m's microvm: SIGTERM, a short grace, then SIGKILL its process group. */
void machine_kill(struct machine *m);

enum { IO_READY = 1, IO_TIMEOUT = 0, IO_EXITED = -2, IO_SIGNAL = -3, IO_DEADLINE = -4 };
/* Wait until fd has events (fd < 0: none), the monotonic time until passes
 * (IO_TIMEOUT; until < 0: never), m's microvm exits (IO_EXITED; m may be
 * NULL), a signal (IO_SIGNAL) or the global deadline (IO_DEADLINE); all the
 * while logging serial output and reaping microvms. */
int drv_pump(struct driver *d, struct machine *m, int fd, short events, double until);
/* ctx_fail with the reason for a negative drv_pump result. */
int pump_fail(struct ctx *x, int r, const char *what);

/* --- the backdoor (driver/backdoor.c) ----------------------------------- */
/* Wait for "Spawning backdoor root shell..." (starting m if needed). */
int bd_connect(struct ctx *x);
/* Run cmd as NixOS's execute(): timeout < 0 means none. *status is -1
 * without check_return, -2 without check_output. */
int bd_execute(struct ctx *x, const char *cmd, long timeout, bool check_return,
	       bool check_output, int *status, struct buf *out);
/* bd_execute, then send in[0..inlen) for the command to read on stdin. */
int bd_execute_in(struct ctx *x, const char *cmd, long timeout, bool check_return,
		  bool check_output, int *status, struct buf *out, const void *in, size_t inlen);
/* Write all of data to the backdoor. */
int bd_send(struct ctx *x, const void *data, size_t n);

/* --- helpers for method implementations --------------------------------- */
/* Call check(x, arg, last_try) until it returns 1, with a short adaptive
 * interval; after timeout seconds one last try, then "action timed out". */
int retry(struct ctx *x, long timeout, int (*check)(struct ctx *, void *, bool), void *arg);
/* Sleep s seconds, pumping. */
int drv_sleep(struct ctx *x, double s);
/* Start m (NixOS start(): asynchronous, no wait for boot). */
int machine_start(struct ctx *x, struct machine *m, bool allow_reboot);
int machine_wait_for_shutdown(struct ctx *x, struct machine *m);
/* After reboot(): wait until the old microvm is gone (bd_connect). */
int machine_settle_reboot(struct ctx *x, struct machine *m);

/* --- the front ends over the one method table: JSON steps (driver/run.c),
 * Python testScripts (driver/pyfront.c, its protocol in pyproto.c), the
 * prompt (driver/repl.c); each turns its input into a struct step ------- */
/* Run one call step (with its expect) into x, which is reset first; logs
 * as every front end's calls do, but reports no failure (x->err says it). */
int run_call(struct driver *d, const struct step *s, struct ctx *x);
/* Check a testScript's syntax with python3, before anything boots: 0; -1
 * with "$.testScript line N: ..." in err; -2 when python3 or the front
 * end's module is missing (err says which). */
int py_check(const struct test *t, char *err, size_t errlen);
/* Run the test's Python testScript (and the prompt for --interactive);
 * returns 0 when it passed. */
int py_run(struct driver *d);
/* Run steps; returns 0 when all passed. */
int run_steps(struct driver *d, const struct step *s, size_t n);
int run_step(struct driver *d, const struct step *s);
/* run_step, printing a call's result on stdout (for the prompt). */
int run_step_show(struct driver *d, const struct step *s);
/* The interactive prompt; returns when the user continues (0) or quits (-1). */
int repl(struct driver *d);
/* Attach the terminal to m's backdoor shell until EOF on stdin. */
int shell_interact(struct ctx *x);

/* --- networks (driver/net.c): vlan switches in the poll loop, control
 * sockets; called by proc.c around spawning and by the pump ------------- */
void argv_add(char ***argv, size_t *n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int net_prepare(struct ctx *x, struct machine *m); /* before fork */
void net_argv(struct machine *m, char ***a, size_t *n); /* --net, --control */
void net_qemu_argv(struct machine *m, char ***a, size_t *n); /* --vmm qemu: vlan NICs */
void net_cmdline(struct machine *m, struct buf *b);     /* microvm.hosts=... */
void net_child(struct machine *m);   /* in the child: fds into place */
void net_spawned(struct machine *m); /* in the parent after fork */
void net_closed(struct machine *m);  /* microvm gone: ports closed */
void net_free(struct driver *d);
int net_nfds(struct driver *d);      /* an upper bound for net_pollfds */
int net_pollfds(struct driver *d, struct pollfd *p, int max);
void net_handle(struct driver *d, const struct pollfd *p, int n);

/* One command on m's control socket, waiting up to timeout seconds for
 * the reply line (into *reply). */
int net_control(struct ctx *x, const char *cmd, double timeout, struct buf *reply);

/* --- snapshots (driver/snapshot.c): a node's first boot in a run is
 * restored from the cache, or saved into it once settled -------------- */
/* Read MICROVMTEST_CACHE and MICROVMTEST_CACHE_MAX into d; -1 after one
 * line on stderr when a value is bad. */
int snap_config(struct driver *d);
/* Before spawning m: choose restore, save or neither (logged). */
void snap_plan(struct machine *m);
/* Whether m's microvm needs a control socket for a snapshot. */
bool snap_control(const struct machine *m);
/* Append --restore DIR to a restore's argv. */
void snap_argv(struct machine *m, char ***argv);
/* After spawning: a restore's console log replayed into m->console. */
void snap_spawned(struct machine *m);
/* In bd_connect, for a restore: 1 once the restored shell answers, 0 when
 * m is not being restored (or the snapshot was refused and m was started
 * cold instead: wait for the marker), -1 on failure. */
int snap_await_restore(struct ctx *x);
/* In bd_connect once connected: save a settled first boot, or set the
 * clock and reseed the RNG of a restored one. */
int snap_connected(struct ctx *x);
/* m's microvm is gone: release its cache entry. */
void snap_closed(struct machine *m);
void snap_free(struct machine *m);

/* --- vlan switches (driver/switch.c) ------------------------------------- */
/* One Ethernet switch per vlan, hosted in the driver's poll loop: each port
 * is our end of a SOCK_SEQPACKET socketpair whose other end a microvm's
 * --net vlan=N,fd=FD uses, one frame per message. It learns source MACs and
 * sends a unicast frame to its port, floods the rest; a blocked port's
 * frames are dropped both ways (a pulled cable). A port whose socket is
 * full loses the frame, as on a real switch. */
struct vswitch;
#define SW_MAX_PORTS 64
struct vswitch *sw_new(int vlan);
/* Add a port on fd (made non-blocking); returns its number, the lowest
 * free one, or -ENOSPC when SW_MAX_PORTS are open. */
int sw_add_port(struct vswitch *s, int fd);
/* Take a port's link down (blocked) or up. */
void sw_block(struct vswitch *s, int port, bool blocked);
/* Close a port (its microvm exited or is restarting) and free its number.
 * A port the switch saw EOF on keeps its number until this. */
void sw_close_port(struct vswitch *s, int port);
/* The fds to poll, at most max; returns how many were written to p. */
int sw_pollfds(const struct vswitch *s, struct pollfd *p, int max);
/* Forward what the ports in p (from sw_pollfds, revents filled) hold. */
void sw_handle(struct vswitch *s, const struct pollfd *p, int n);
/* Frames forwarded and dropped so far. */
void sw_counts(const struct vswitch *s, unsigned long long *forwarded,
	       unsigned long long *dropped);
void sw_free(struct vswitch *s);

#endif
