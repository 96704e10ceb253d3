/* conhost.c - host side of bench/console: connects to a monitor's console
 * socket, where the guest runs `mvbench con /dev/hvc0`, and measures
 * round trips and throughput both ways.
 *   conhost SOCKET ROUNDTRIPS MIB
 * Prints: "rtt_us X", "g2h_mbs X", "h2g_mbs X".
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static void full(int fd, void *buf, size_t n, int wr)
{
	for (size_t done = 0; done < n;) {
		ssize_t r = wr ? write(fd, (char *)buf + done, n - done)
			       : read(fd, (char *)buf + done, n - done);
		if (r <= 0) {
			fprintf(stderr, "conhost: connection lost\n");
			exit(1);
		}
		done += r;
	}
}

static int connect_retry(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	for (int i = 0; i < 6000; i++) {
		int fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return fd;
		close(fd);
		usleep(10000);
	}
	fprintf(stderr, "conhost: cannot connect to %s\n", path);
	exit(1);
}

static void cmd(int fd, char c, uint64_t n)
{
	full(fd, &c, 1, 1);
	full(fd, &n, 8, 1);
}

int main(int argc, char **argv)
{
	if (argc != 4)
		return 2;
	int fd = connect_retry(argv[1]);
	uint64_t rounds = strtoull(argv[2], NULL, 0), size = strtoull(argv[3], NULL, 0) << 20;
	char c = 0;
	while (c != 'R') /* the guest is ready and its tty raw */
		full(fd, &c, 1, 0);
	cmd(fd, 'E', rounds);
	double t0 = now();
	for (uint64_t i = 0; i < rounds; i++) {
		c = 'a' + i % 26;
		full(fd, &c, 1, 1);
		full(fd, &c, 1, 0);
	}
	printf("rtt_us %.1f\n", (now() - t0) / rounds * 1e6);
	static char buf[65536];
	t0 = now();
	cmd(fd, 'T', size);
	for (uint64_t left = size; left;) {
		ssize_t r = read(fd, buf, left < sizeof(buf) ? left : sizeof(buf));
		if (r <= 0)
			return 1;
		left -= r;
	}
	printf("g2h_mbs %.2f\n", size / (now() - t0) / 1e6);
	memset(buf, 'y', sizeof(buf));
	t0 = now();
	cmd(fd, 'U', size);
	for (uint64_t left = size; left;) {
		size_t k = left < sizeof(buf) ? left : sizeof(buf);
		full(fd, buf, k, 1);
		left -= k;
	}
	full(fd, &c, 1, 0);
	printf("h2g_mbs %.2f\n", size / (now() - t0) / 1e6);
	cmd(fd, 'Q', 0);
	return 0;
}
