/* mvbench.c - the guest side of bench/blk and bench/console, built static
 * and added to the tiny guest's initramfs by bench/lib-guest.sh.
 *
 *   mvbench blk DEV MODE BS SECS JOBS   MODE: seqread seqwrite randread randwrite
 *       O_DIRECT I/O of BS bytes for SECS seconds with JOBS threads;
 *       prints "blk MODE BS JOBS: N ops, X MB/s, Y IOPS".
 *   mvbench con DEV
 *       hvc0 peer for bench/conhost: on 'E' echo COUNT single bytes,
 *       on 'T' send SIZE bytes, on 'U' read SIZE bytes then answer 'D';
 *       'Q' quits. COUNT and SIZE follow the letter as 8-byte numbers.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

struct job {
	int fd;
	int mode; /* 0 seqread 1 seqwrite 2 randread 3 randwrite */
	size_t bs;
	off_t size, start;
	double end;
	uint64_t ops;
	unsigned seed;
};

static void *blk_job(void *arg)
{
	struct job *j = arg;
	void *buf;
	if (posix_memalign(&buf, 4096, j->bs))
		return NULL;
	memset(buf, 0x5a, j->bs);
	off_t blocks = j->size / j->bs, pos = j->start / j->bs;
	while (now() < j->end) {
		off_t b = j->mode >= 2 ? rand_r(&j->seed) % blocks : pos++ % blocks;
		ssize_t r = (j->mode & 1) ? pwrite(j->fd, buf, j->bs, b * j->bs)
					  : pread(j->fd, buf, j->bs, b * j->bs);
		if (r != (ssize_t)j->bs) {
			perror("mvbench: I/O");
			exit(1);
		}
		j->ops++;
	}
	free(buf);
	return NULL;
}

static int blk(char **argv)
{
	static const char *modes[] = { "seqread", "seqwrite", "randread", "randwrite" };
	int mode = -1;
	for (int i = 0; i < 4; i++)
		if (!strcmp(argv[1], modes[i]))
			mode = i;
	size_t bs = strtoul(argv[2], NULL, 0);
	double secs = atof(argv[3]);
	int jobs = atoi(argv[4]);
	int fd = open(argv[0], (mode & 1 ? O_RDWR : O_RDONLY) | O_DIRECT);
	if (fd < 0 || mode < 0 || jobs < 1 || jobs > 64 || !bs) {
		fprintf(stderr, "mvbench blk: bad arguments or %s: %m\n", argv[0]);
		return 1;
	}
	off_t size = lseek(fd, 0, SEEK_END);
	struct job j[64];
	pthread_t t[64];
	double start = now();
	for (int i = 0; i < jobs; i++) {
		j[i] = (struct job){ fd, mode, bs, size, size / jobs * i, start + secs, 0, i + 1 };
		pthread_create(&t[i], NULL, blk_job, &j[i]);
	}
	uint64_t ops = 0;
	for (int i = 0; i < jobs; i++) {
		pthread_join(t[i], NULL);
		ops += j[i].ops;
	}
	if (mode & 1)
		fdatasync(fd);
	double el = now() - start;
	printf("blk %s %zu %d: %llu ops, %.1f MB/s, %.0f IOPS\n", modes[mode], bs, jobs,
	       (unsigned long long)ops, ops * bs / el / 1e6, ops / el);
	return 0;
}

static void full(int fd, void *buf, size_t n, int wr)
{
	for (size_t done = 0; done < n;) {
		ssize_t r = wr ? write(fd, (char *)buf + done, n - done)
			       : read(fd, (char *)buf + done, n - done);
		if (r <= 0) {
			perror("mvbench con");
			exit(1);
		}
		done += r;
	}
}

static int con(char **argv)
{
	int fd = open(argv[0], O_RDWR | O_NOCTTY);
	if (fd < 0) {
		perror(argv[0]);
		return 1;
	}
	static char buf[65536];
	memset(buf, 'x', sizeof(buf));
	full(fd, "R", 1, 1);
	for (;;) {
		char cmd;
		uint64_t n;
		full(fd, &cmd, 1, 0);
		if (cmd == 'Q')
			return 0;
		full(fd, &n, 8, 0);
		for (uint64_t i = 0; cmd == 'E' && i < n; i++) {
			char c;
			full(fd, &c, 1, 0);
			full(fd, &c, 1, 1);
		}
		for (uint64_t left = n; cmd == 'T' && left;) {
			size_t k = left < sizeof(buf) ? left : sizeof(buf);
			full(fd, buf, k, 1);
			left -= k;
		}
		for (uint64_t left = n; cmd == 'U' && left;) {
			ssize_t r = read(fd, buf, left < sizeof(buf) ? left : sizeof(buf));
			if (r <= 0)
				return 1;
			left -= r;
		}
		if (cmd == 'U')
			full(fd, "D", 1, 1);
	}
}

int main(int argc, char **argv)
{
	if (argc == 7 && !strcmp(argv[1], "blk"))
		return blk(argv + 2);
	if (argc == 3 && !strcmp(argv[1], "con"))
		return con(argv + 2);
	fprintf(stderr, "usage: mvbench blk DEV MODE BS SECS JOBS | mvbench con DEV\n");
	return 2;
}
