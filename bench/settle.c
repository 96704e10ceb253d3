/* settle - touch MIB of fresh anonymous memory, then free it; run by the
 * benches between two VMs.
 *   settle MIB
 * Prints "settle: MIB MiB in N ms" on stderr.
 *
 * Why: in the emulated harness (QEMU's TCG runs the outer VM), memory that a
 * VM has just given back is very slow to touch again: 31 MiB read into
 * fresh memory took 1.0-1.9 s right after a VM exited and 0.14-0.18 s after
 * this tool had touched 1.5 GiB first (bench notes in docs/architecture.md).
 * Whichever monitor starts next would pay that inside its boot time; on
 * hardware KVM the cost does not exist. Touching the memory here moves it
 * out of every measured run, for both monitors alike. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
	char *end;
	unsigned long mib = argc == 2 ? strtoul(argv[1], &end, 10) : 0;
	if (argc != 2 || !mib || *end || mib > (1ul << 20)) {
		fprintf(stderr, "usage: settle MIB (1 to 1048576)\n");
		return 2;
	}
	size_t len = mib << 20, page = sysconf(_SC_PAGESIZE);
	double t0 = now_ms();
	volatile char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED) {
		perror("settle: mmap");
		return 1;
	}
	/* Huge pages, as guest RAM gets them. */
	madvise((void *)p, len, MADV_HUGEPAGE);
	for (size_t i = 0; i < len; i += page)
		p[i] = 1;
	munmap((void *)p, len);
	fprintf(stderr, "settle: %lu MiB in %.0f ms\n", mib, now_ms() - t0);
	return 0;
}
