/* vlanswitch.c - the driver's vlan switch (driver/switch.c) on a listening
 * SOCK_SEQPACKET socket, for tests that join microvms by hand:
 *   vlanswitch PATH      then  microvm --net vlan=1,socket=PATH ...
 * Every connection is a port. Runs until SIGTERM/SIGINT, then prints
 * "vlanswitch: N forwarded, M dropped" and removes PATH. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "driver.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

int main(int argc, char **argv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (argc != 2 || strlen(argv[1]) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "usage: vlanswitch PATH\n");
		return 2;
	}
	strcpy(sa.sun_path, argv[1]);
	int lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 16) < 0) {
		fprintf(stderr, "vlanswitch: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	struct sigaction act = { .sa_handler = on_signal };
	sigaction(SIGTERM, &act, NULL);
	sigaction(SIGINT, &act, NULL);
	signal(SIGPIPE, SIG_IGN);
	struct vswitch *s = sw_new(1);
	struct pollfd p[SW_MAX_PORTS + 1];
	while (!stop) {
		p[0] = (struct pollfd){ lfd, POLLIN, 0 };
		int n = sw_pollfds(s, p + 1, SW_MAX_PORTS);
		if (poll(p, n + 1, -1) < 0)
			continue;
		if (p[0].revents) {
			int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
			if (fd >= 0 && sw_add_port(s, fd) < 0)
				close(fd);
		}
		sw_handle(s, p + 1, n);
	}
	unsigned long long fwd, drop;
	sw_counts(s, &fwd, &drop);
	fprintf(stderr, "vlanswitch: %llu forwarded, %llu dropped\n", fwd, drop);
	sw_free(s);
	unlink(argv[1]);
	return 0;
}
