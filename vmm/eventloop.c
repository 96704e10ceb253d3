/* eventloop.c - epoll loop for device backends, run on one thread. Poll
 * sources (el_add_source) are polled together with the epoll fd itself.
 *
 * Watches may be added, changed and removed from any thread (a vCPU thread
 * serving a queue, a worker finishing a request): the table has a lock, and
 * each epoll event carries its slot and the slot's generation, so an event
 * already collected for a watch removed since is dropped, never delivered
 * to whatever took the slot next. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <stdio.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "eventloop.h"

#define EL_MAX_FDS 256
#define EL_MAX_SOURCES 4

struct el_watch {
	int fd;
	uint32_t gen; /* bumped each time the slot is taken */
	el_fd_fn fn;
	void *opaque;
};

struct el_source {
	el_prepare_fn prepare;
	el_dispatch_fn dispatch;
	void *opaque;
	struct pollfd *fds; /* the source's array for this turn */
	int n;
};

struct eventloop {
	int epfd;
	int stopfd; /* eventfd: el_stop() writes, the loop wakes and returns */
	pthread_mutex_t lock; /* guards watches */
	struct el_watch watches[EL_MAX_FDS];
	struct el_source sources[EL_MAX_SOURCES];
	int nsources;
	struct pollfd *pfds; /* epfd, then every source's fds */
	int pfds_cap;
};

struct eventloop *el_new(void)
{
	struct eventloop *el = calloc(1, sizeof(*el));
	if (!el)
		return NULL;
	el->epfd = epoll_create1(EPOLL_CLOEXEC);
	el->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	pthread_mutex_init(&el->lock, NULL);
	for (int i = 0; i < EL_MAX_FDS; i++)
		el->watches[i].fd = -1;
	if (el->epfd < 0 || el->stopfd < 0 ||
	    el_add_fd(el, el->stopfd, EPOLLIN, NULL, NULL) < 0) {
		int e = errno;
		el_free(el);
		errno = e;
		return NULL;
	}
	return el;
}

static struct el_watch *el_slot(struct eventloop *el, int fd)
{
	for (int i = 0; i < EL_MAX_FDS; i++)
		if (el->watches[i].fd == fd)
			return &el->watches[i];
	return NULL;
}

/* The epoll tag of slot w: its index and generation. */
static uint64_t el_tag(struct eventloop *el, const struct el_watch *w)
{
	return (uint64_t)w->gen << 32 | (uint64_t)(w - el->watches);
}

int el_add_fd(struct eventloop *el, int fd, uint32_t events, el_fd_fn fn, void *opaque)
{
	int r = 0;
	pthread_mutex_lock(&el->lock);
	struct el_watch *w = el_slot(el, -1);
	if (!w) {
		r = -ENOSPC;
		goto out;
	}
	w->gen++; /* a slot left free by a failed add just skips a generation */
	struct epoll_event ev = { .events = events, .data.u64 = el_tag(el, w) };
	if (epoll_ctl(el->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		r = -errno;
		goto out;
	}
	w->fd = fd, w->fn = fn, w->opaque = opaque;
out:
	pthread_mutex_unlock(&el->lock);
	return r;
}

int el_mod_fd(struct eventloop *el, int fd, uint32_t events)
{
	int r = -ENOENT;
	pthread_mutex_lock(&el->lock);
	struct el_watch *w = el_slot(el, fd);
	if (w) {
		struct epoll_event ev = { .events = events, .data.u64 = el_tag(el, w) };
		r = epoll_ctl(el->epfd, EPOLL_CTL_MOD, fd, &ev) < 0 ? -errno : 0;
	}
	pthread_mutex_unlock(&el->lock);
	return r;
}

int el_del_fd(struct eventloop *el, int fd)
{
	int r = -ENOENT;
	pthread_mutex_lock(&el->lock);
	struct el_watch *w = el_slot(el, fd);
	if (w) {
		epoll_ctl(el->epfd, EPOLL_CTL_DEL, fd, NULL);
		w->fd = -1;
		r = 0;
	}
	pthread_mutex_unlock(&el->lock);
	return r;
}

/* The watch an event was collected for, copied out, if it still exists. */
static bool el_lookup(struct eventloop *el, uint64_t tag, struct el_watch *out)
{
	uint32_t i = (uint32_t)tag, gen = tag >> 32;
	pthread_mutex_lock(&el->lock);
	bool live = i < EL_MAX_FDS && el->watches[i].gen == gen && el->watches[i].fd >= 0;
	if (live)
		*out = el->watches[i];
	pthread_mutex_unlock(&el->lock);
	return live;
}

int el_add_source(struct eventloop *el, el_prepare_fn prepare, el_dispatch_fn dispatch,
		  void *opaque)
{
	if (el->nsources == EL_MAX_SOURCES)
		return -ENOSPC;
	el->sources[el->nsources++] = (struct el_source){ prepare, dispatch, opaque, NULL, 0 };
	return 0;
}

/* Without sources, wait in epoll alone. With them, poll the epoll fd and
 * the sources' fds together, then collect the epoll events without
 * waiting. Returns the epoll events ready, or -1 with errno. */
static int el_wait(struct eventloop *el, struct epoll_event *evs, int max)
{
	if (!el->nsources)
		return epoll_wait(el->epfd, evs, max, -1);
	int timeout = -1, total = 1;
	for (int i = 0; i < el->nsources; i++) {
		struct el_source *s = &el->sources[i];
		s->fds = s->prepare(s->opaque, &s->n, &timeout);
		total += s->n;
	}
	if (total > el->pfds_cap) {
		struct pollfd *p = realloc(el->pfds, total * sizeof(*p));
		if (!p)
			return -1;
		el->pfds = p;
		el->pfds_cap = total;
	}
	el->pfds[0] = (struct pollfd){ el->epfd, POLLIN, 0 };
	for (int i = 0, at = 1; i < el->nsources; at += el->sources[i++].n)
		if (el->sources[i].n)
			memcpy(el->pfds + at, el->sources[i].fds,
			       el->sources[i].n * sizeof(struct pollfd));
	if (poll(el->pfds, total, timeout) < 0)
		return -1;
	for (int i = 0, at = 1; i < el->nsources; at += el->sources[i++].n)
		for (int j = 0; j < el->sources[i].n; j++)
			el->sources[i].fds[j].revents = el->pfds[at + j].revents;
	return el->pfds[0].revents ? epoll_wait(el->epfd, evs, max, 0) : 0;
}

int el_run(struct eventloop *el)
{
	struct epoll_event evs[32];
	for (;;) {
		int n = el_wait(el, evs, 32);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (int i = 0; i < n; i++) {
			struct el_watch w;
			if (!el_lookup(el, evs[i].data.u64, &w))
				continue;
			if (w.fd == el->stopfd)
				return 0;
			if (w.fn)
				w.fn(w.opaque, w.fd, evs[i].events);
		}
		for (int i = 0; i < el->nsources; i++)
			el->sources[i].dispatch(el->sources[i].opaque);
	}
}

void el_stop(struct eventloop *el)
{
	uint64_t one = 1;
	if (write(el->stopfd, &one, sizeof(one)) < 0) {
		/* The counter cannot overflow from one write; nothing to do. */
	}
}

void el_free(struct eventloop *el)
{
	if (!el)
		return;
	if (el->epfd >= 0)
		close(el->epfd);
	if (el->stopfd >= 0)
		close(el->stopfd);
	free(el->pfds);
	pthread_mutex_destroy(&el->lock);
	free(el);
}

int el_nonblock_fd(int fd, int mode)
{
	struct stat st;
	char path[32];
	if (fstat(fd, &st) < 0)
		return -1;
	if (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode))
		return fcntl(fd, F_DUPFD_CLOEXEC, 3); /* never EAGAIN anyway */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	int r = open(path, mode | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (r < 0 && (r = fcntl(fd, F_DUPFD_CLOEXEC, 3)) >= 0) /* sockets */
		fcntl(r, F_SETFL, fcntl(r, F_GETFL) | O_NONBLOCK);
	return r;
}
