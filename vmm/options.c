/* options.c - microvm's command line. Each bad option gets one line naming
 * the option, the value and what was expected. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "device.h"
#include "log.h"
#include "vm.h"

#define MEM_MIN_MIB 16
#define MEM_MAX_MIB (1024 * 1024)
#define DEFAULT_CMDLINE "console=ttyS0 panic=1"

enum { OPT_NO_ACPI = 256, OPT_DEVICE_BASE = 512 };

static const struct option core_opts[] = {
	{ "kernel", required_argument, NULL, 'k' },
	{ "initrd", required_argument, NULL, 'i' },
	{ "cmdline", required_argument, NULL, 'c' },
	{ "memory", required_argument, NULL, 'm' },
	{ "cpus", required_argument, NULL, 'n' },
	{ "no-acpi", no_argument, NULL, OPT_NO_ACPI },
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
		"  --cmdline STRING  kernel command line (default \"" DEFAULT_CMDLINE "\")\n"
		"  --memory MIB      guest RAM in MiB, or with a G suffix (default 512)\n"
		"  --cpus N          vCPUs, 1-%d (default 1)\n"
		"  --no-acpi         no ACPI tables\n"
		"  --verbose         say what microvm does\n"
		"  --help            this text\n",
		VM_MAX_CPUS);
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

int vm_options(struct vm_config *cfg, int argc, char **argv)
{
	struct option opts[MAX_OPTS];
	const struct device_desc *devs[MAX_OPTS];
	build_opts(opts, devs);
	*cfg = (struct vm_config){ .cmdline = DEFAULT_CMDLINE, .mem_size = 512ULL << 20,
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
		int r = opt >= OPT_DEVICE_BASE ? devs[opt - OPT_DEVICE_BASE]->parse(optarg)
					       : parse_core(cfg, opt, optarg);
		if (r < 0)
			return r;
	}
	if (optind < argc) {
		log_error("%s: unexpected argument (options start with --)", argv[optind]);
		return -EINVAL;
	}
	if (!cfg->kernel) {
		log_error("--kernel is required (see --help)");
		return -EINVAL;
	}
	return 0;
}
