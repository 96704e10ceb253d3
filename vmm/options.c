/* options.c - microvm's command line. Each bad option gets one line naming
 * the option, the value and what was expected. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "arch.h"
#include "device.h"
#include "log.h"
#include "vm.h"

#define MEM_MIN_MIB 16
#define MEM_MAX_MIB (1024 * 1024)

/* "console=ttyS0 panic=1" on x86_64, ttyAMA0 on aarch64: the serial port. */
static const char *default_cmdline(void)
{
	static char buf[64];
	snprintf(buf, sizeof(buf), "console=%s panic=1", arch_devices.serial_tty);
	return buf;
}

enum { OPT_NO_ACPI = 256, OPT_SECCOMP, OPT_NO_SECCOMP, OPT_RESTORE, OPT_DEVICE_BASE = 512 };

static const struct option core_opts[] = {
	{ "kernel", required_argument, NULL, 'k' },
	{ "initrd", required_argument, NULL, 'i' },
	{ "cmdline", required_argument, NULL, 'c' },
	{ "memory", required_argument, NULL, 'm' },
	{ "cpus", required_argument, NULL, 'n' },
	{ "no-acpi", no_argument, NULL, OPT_NO_ACPI },
	{ "seccomp", required_argument, NULL, OPT_SECCOMP },
	{ "no-seccomp", no_argument, NULL, OPT_NO_SECCOMP },
	{ "restore", required_argument, NULL, OPT_RESTORE },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
};
#define NCORE (sizeof(core_opts) / sizeof(core_opts[0]))
#define MAX_OPTS 64

void vm_usage(FILE *f)
{
	fprintf(f,
		"usage: microvm --kernel FILE [options]\n"
		"Boot a Linux kernel directly under KVM.\n\n"
		"  --kernel FILE     bzImage or ELF vmlinux (x86_64), Image (aarch64)\n"
		"  --initrd FILE     initial ramdisk\n"
		"  --cmdline STRING  kernel command line (default \"%s\")\n"
		"  --memory MIB      guest RAM in MiB, or with a G suffix (default 512)\n"
		"  --cpus N          vCPUs, 1-%d (default 1)\n"
		"  --no-acpi         no ACPI tables\n"
		"  --seccomp kill|trap|log|off  what a thread's forbidden system call does\n"
		"                    (default kill; trap, naming it, with --verbose)\n"
		"  --no-seccomp      the same as --seccomp off (without either: $MICROVM_SECCOMP)\n"
		"  --restore DIR     continue the guest saved by `snapshot DIR` (--control),\n"
		"                    given the same machine options; --kernel is not needed\n"
		"  --verbose         say what microvm does\n"
		"  --help            this text\n",
		default_cmdline(), VM_MAX_CPUS);
	device_foreach(d)
		if (d->usage)
			fprintf(f, "  %s\n", d->usage);
	fprintf(f, "\nExit status: 0 guest powered off, 1 error, 2 guest rebooted,\n"
		   "3 guest panicked, 4 stopped by a signal.\n");
}

/* Parse a decimal number with optional M/G suffix as MiB. */
static int parse_mib(const char *s, uint64_t *mib)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *s == '-')
		return -EINVAL;
	if (*end == 'G' || *end == 'g') {
		v *= 1024;
		end++;
	} else if (*end == 'M' || *end == 'm') {
		end++;
	}
	if (*end || v < MEM_MIN_MIB || v > MEM_MAX_MIB)
		return -EINVAL;
	*mib = v;
	return 0;
}

/* what: "--seccomp " or "MICROVM_SECCOMP=", for the message. */
static int parse_seccomp(struct vm_config *cfg, const char *what, const char *arg)
{
	static const char *const modes[] = { [VM_SECCOMP_KILL] = "kill",
		[VM_SECCOMP_TRAP] = "trap", [VM_SECCOMP_LOG] = "log", [VM_SECCOMP_OFF] = "off" };
	for (int m = VM_SECCOMP_KILL; m <= VM_SECCOMP_OFF; m++) {
		if (!strcmp(arg, modes[m])) {
			cfg->seccomp = m;
			return 0;
		}
	}
	log_error("%s%s: expected kill, trap, log or off", what, arg);
	return -EINVAL;
}

static int parse_core(struct vm_config *cfg, int opt, const char *arg)
{
	char *end;
	uint64_t mib;
	switch (opt) {
	case 'k': cfg->kernel = arg; return 0;
	case 'i': cfg->initrd = arg; return 0;
	case 'c': cfg->cmdline = arg; return 0;
	case 'v': log_verbose = true; return 0;
	case OPT_NO_ACPI: cfg->acpi = false; return 0;
	case OPT_SECCOMP: return parse_seccomp(cfg, "--seccomp ", arg);
	case OPT_NO_SECCOMP: cfg->seccomp = VM_SECCOMP_OFF; return 0;
	case OPT_RESTORE: cfg->restore = arg; return 0;
	case 'm':
		if (parse_mib(arg, &mib) < 0) {
			log_error("--memory %s: expected a size in MiB from %d to %d (or NG)",
				  arg, MEM_MIN_MIB, MEM_MAX_MIB);
			return -EINVAL;
		}
		cfg->mem_size = mib << 20;
		return 0;
	case 'n': {
		long n = strtol(arg, &end, 10);
		if (*arg == 0 || *end || n < 1 || n > VM_MAX_CPUS) {
			log_error("--cpus %s: expected a number from 1 to %d", arg, VM_MAX_CPUS);
			return -EINVAL;
		}
		cfg->ncpus = n;
		return 0;
	}
	}
	return -EINVAL;
}

static int build_opts(struct option *opts, const struct device_desc **devs)
{
	int n = NCORE;
	memcpy(opts, core_opts, sizeof(core_opts));
	device_foreach(d) {
		if (!d->option || n >= MAX_OPTS - 1)
			continue;
		devs[n - NCORE] = d;
		opts[n] = (struct option){ d->option, required_argument, NULL,
					   OPT_DEVICE_BASE + n - (int)NCORE };
		n++;
	}
	opts[n] = (struct option){ 0 };
	return n;
}

/* The device options in order, which a snapshot's machine must repeat
 * (--control is no part of the machine). */
static void note_device(struct vm_config *cfg, const char *opt)
{
	size_t n = strlen(cfg->devices);
	if (!strcmp(opt, "control"))
		return;
	snprintf(cfg->devices + n, sizeof(cfg->devices) - n, "%s%s", n ? "," : "", opt);
}

int vm_options(struct vm_config *cfg, int argc, char **argv)
{
	struct option opts[MAX_OPTS];
	const struct device_desc *devs[MAX_OPTS];
	build_opts(opts, devs);
	*cfg = (struct vm_config){ .cmdline = default_cmdline(), .mem_size = 512ULL << 20,
				   .ncpus = 1, .acpi = true };
	optind = 1;
	opterr = 0;
	int opt;
	while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		if (opt == 'h')
			return 1;
		if (opt == '?' || opt == ':') {
			const char *bad = argv[optind - 1];
			log_error(opt == ':' ? "%s: expected a value (see --help)"
					     : "%s: unknown option (see --help)", bad);
			return -EINVAL;
		}
		if (opt >= OPT_DEVICE_BASE)
			note_device(cfg, devs[opt - OPT_DEVICE_BASE]->option);
		int r = opt >= OPT_DEVICE_BASE ? devs[opt - OPT_DEVICE_BASE]->parse(optarg)
					       : parse_core(cfg, opt, optarg);
		if (r < 0)
			return r;
	}
	if (optind < argc) {
		log_error("%s: unexpected argument (options start with --)", argv[optind]);
		return -EINVAL;
	}
	if (!cfg->kernel && !cfg->restore) {
		log_error("--kernel is required (see --help)");
		return -EINVAL;
	}
	/* A test suite sets the mode of every microvm it starts this way. */
	const char *env = getenv("MICROVM_SECCOMP");
	if (cfg->seccomp == VM_SECCOMP_AUTO && env && *env)
		return parse_seccomp(cfg, "MICROVM_SECCOMP=", env);
	return 0;
}

/* --- socket:PATH options (--control, --console) ----------------------------- */

#define MAX_SOCKETS 8
static char *sockets[MAX_SOCKETS]; /* files to remove at exit */
static int nsockets;

static void remove_sockets(void)
{
	for (int i = 0; i < nsockets; i++)
		unlink(sockets[i]);
}

/* After EADDRINUSE: 1 when path is a socket nobody listens on (left by a
 * microvm that was killed), 0 when someone does, -1 when it is no socket. */
static int socket_stale(const char *path, const struct sockaddr_un *sa)
{
	struct stat st;
	if (lstat(path, &st) < 0 || !S_ISSOCK(st.st_mode))
		return -1;
	/* Non-blocking: a live listener with a full backlog says EAGAIN. */
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int stale = fd >= 0 && connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) < 0 &&
		    errno == ECONNREFUSED;
	if (fd >= 0)
		close(fd);
	return stale;
}

/* bind, replacing a stale socket; prints the line on failure. */
static int bind_path(int fd, const char *option, const char *path, const struct sockaddr_un *sa)
{
	if (bind(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0)
		return 0;
	int e = errno, stale = e == EADDRINUSE ? socket_stale(path, sa) : 0;
	if (stale == 1) {
		if (unlink(path) == 0 && bind(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0)
			return 0;
		e = errno;
	}
	if (e == EADDRINUSE && stale == 0)
		log_error("%s socket:%s: in use by a running process (another microvm?)", option,
			  path);
	else if (e == EADDRINUSE && stale < 0)
		log_error("%s socket:%s: exists and is not a socket; not replacing it", option,
			  path);
	else
		log_error("%s socket:%s: %s", option, path, strerror(e));
	return -1;
}

int vm_listen_unix(const char *option, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path) || nsockets == MAX_SOCKETS) {
		log_error("%s socket:%s: %s", option, path,
			  nsockets == MAX_SOCKETS ? "too many sockets" : "path too long");
		return -1;
	}
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind_path(fd, option, path, &sa) < 0) {
		if (fd < 0)
			log_error("%s socket:%s: %s", option, path, strerror(errno));
		else
			close(fd);
		return -1;
	}
	/* From here on the file is ours: removed however microvm exits
	 * (main returning early included), short of SIGKILL, whose leftover
	 * the next run finds stale. */
	if (!(sockets[nsockets] = strdup(path)) || (nsockets == 0 && atexit(remove_sockets))) {
		unlink(path);
		close(fd);
		log_error("%s socket:%s: out of memory", option, path);
		return -1;
	}
	nsockets++;
	if (listen(fd, 1) < 0) {
		log_error("%s socket:%s: %s", option, path, strerror(errno));
		close(fd);
		return -1; /* the file goes at exit */
	}
	return fd;
}
