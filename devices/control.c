/* control.c - --control fd:N|socket:PATH: a text channel into a running
 * microvm. Each line is a command ("hostfwd_add tcp::8080-:80"), each gets
 * one reply line: "ok[ DETAIL]" or "error: WHY". fd:N is a connected
 * stream socket (the test driver passes one end of a socketpair);
 * socket:PATH listens and serves one client at a time. Runs on the event
 * loop; commands come from CONTROL_CMD() entries (include/control.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "control.h"
#include "device.h"
#include "eventloop.h"
#include "log.h"
#include "vm.h"

#define CTL_LINE 512

struct ctl {
	struct vm *vm;
	int fd;        /* the client, or -1 */
	int listen_fd; /* socket:PATH, else -1 */
	char buf[CTL_LINE];
	size_t used;
	bool overlong; /* discarding the rest of a line too long */
};

void control_run(struct vm *vm, const char *line, char *reply, size_t len)
{
	size_t name_len = strcspn(line, " ");
	const char *args = line + name_len + strspn(line + name_len, " ");
	char detail[256] = "";
	control_foreach(c) {
		if (strlen(c->name) != name_len || strncmp(c->name, line, name_len))
			continue;
		int r = c->run(vm, args, detail, sizeof(detail));
		if (r < 0)
			snprintf(reply, len, "error: %s", detail[0] ? detail : strerror(-r));
		else
			snprintf(reply, len, "ok%s%s", detail[0] ? " " : "", detail);
		return;
	}
	int n = snprintf(reply, len, "error: unknown command '%.*s'; expected one of:",
			 (int)(name_len < 40 ? name_len : 40), line);
	control_foreach(c) {
		if (n >= 0 && (size_t)n < len)
			n += snprintf(reply + n, len - n, " %s", c->usage);
	}
}

static void ctl_event(void *opaque, int fd, uint32_t events);

static void ctl_reply(struct ctl *c, const char *line)
{
	char reply[1024];
	control_run(c->vm, line, reply, sizeof(reply) - 1);
	strcat(reply, "\n");
	/* Replies are short; a client that does not read them loses them. */
	if (send(c->fd, reply, strlen(reply), MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		log_debug("control: reply lost: %m");
}

/* Run every complete line in the buffer. */
static void ctl_lines(struct ctl *c)
{
	char *nl;
	while ((nl = memchr(c->buf, '\n', c->used))) {
		*nl = 0;
		if (nl > c->buf && nl[-1] == '\r')
			nl[-1] = 0;
		if (!c->overlong)
			ctl_reply(c, c->buf);
		c->overlong = false;
		c->used -= nl + 1 - c->buf;
		memmove(c->buf, nl + 1, c->used);
	}
	if (c->used == sizeof(c->buf)) {
		if (!c->overlong)
			ctl_reply(c, "(line too long)");
		c->overlong = true;
		c->used = 0;
	}
}

static void ctl_close(struct ctl *c)
{
	el_del_fd(c->vm->el, c->fd);
	close(c->fd);
	c->fd = -1;
	c->used = 0;
	c->overlong = false;
	if (c->listen_fd >= 0)
		el_add_fd(c->vm->el, c->listen_fd, EPOLLIN, ctl_event, c);
}

static void ctl_event(void *opaque, int fd, uint32_t events)
{
	struct ctl *c = opaque;
	(void)events;
	if (fd == c->listen_fd) {
		int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd < 0 || el_add_fd(c->vm->el, cfd, EPOLLIN, ctl_event, c) < 0) {
			if (cfd >= 0)
				close(cfd);
			return;
		}
		el_del_fd(c->vm->el, fd); /* one client at a time */
		c->fd = cfd;
		return;
	}
	ssize_t n = recv(fd, c->buf + c->used, sizeof(c->buf) - c->used, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		ctl_close(c);
		return;
	}
	c->used += n;
	ctl_lines(c);
}

/* --- the option ------------------------------------------------------------ */

static const char *ctl_opt;
static int ctl_fd = -1;
static bool ctl_listening; /* socket:PATH (vm_listen_unix removes it at exit) */

static int ctl_parse(const char *v)
{
	char *end;
	long fd = !strncmp(v, "fd:", 3) && v[3] ? strtol(v + 3, &end, 10) : -1;
	bool fd_ok = fd >= 0 && !*end;
	if (ctl_opt) {
		log_error("--control %s: given twice", v);
		return -EINVAL;
	}
	if (!fd_ok && (strncmp(v, "socket:", 7) || !v[7])) {
		log_error("--control %s: expected fd:N or socket:PATH", v);
		return -EINVAL;
	}
	struct stat st;
	int type = 0;
	socklen_t tl = sizeof(type);
	if (fd_ok && (fstat(fd, &st) < 0 || !S_ISSOCK(st.st_mode) ||
		      getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) < 0 || type != SOCK_STREAM)) {
		log_error("--control %s: fd %ld is not an open stream socket", v, fd);
		return -EINVAL;
	}
	ctl_fd = fd_ok ? fd : vm_listen_unix("--control", v + 7);
	if (ctl_fd < 0)
		return -EINVAL;
	ctl_listening = !fd_ok;
	ctl_opt = v;
	return 0;
}

static int ctl_setup(struct vm *vm)
{
	if (!ctl_opt)
		return 0;
	struct ctl *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	*c = (struct ctl){ .vm = vm, .fd = -1, .listen_fd = -1 };
	if (ctl_listening)
		c->listen_fd = ctl_fd;
	else
		c->fd = ctl_fd;
	int r = el_add_fd(vm->el, ctl_fd, EPOLLIN, ctl_event, c);
	if (r < 0)
		log_error("--control %s: %s", ctl_opt, strerror(-r));
	return r;
}

DEVICE(control, .name = "control", .option = "control",
       .usage = "--control fd:N|socket:PATH  run-time commands, one per line "
		"(e.g. hostfwd_add tcp::8080-:80)",
       .parse = ctl_parse, .setup = ctl_setup);
