/* eventloop.h - the device event loop (one thread, epoll).
 *
 * Backends (stdin for the serial port, sockets, block workers'
 * completions) register file descriptors here; callbacks run on the loop
 * thread. vCPU threads never wait in it, but any thread may add, change or
 * remove a watch: an event collected for a watch removed meanwhile is
 * dropped.
 */
#ifndef EVENTLOOP_H
#define EVENTLOOP_H

#include <poll.h>
#include <stdint.h>

struct eventloop;

/* Called with the fd and the epoll events that fired. */
typedef void (*el_fd_fn)(void *opaque, int fd, uint32_t events);

/* Create a loop. Returns NULL with errno set on failure. */
struct eventloop *el_new(void);

/* Watch fd for events (EPOLLIN, EPOLLOUT, ...), calling fn(opaque, fd, ev).
 * Returns 0 or -errno. */
int el_add_fd(struct eventloop *el, int fd, uint32_t events, el_fd_fn fn, void *opaque);

/* Change the events watched on fd. Returns 0 or -errno. */
int el_mod_fd(struct eventloop *el, int fd, uint32_t events);

/* Stop watching fd (it is not closed). Returns 0 or -errno. */
int el_del_fd(struct eventloop *el, int fd);

/* A poll source, for libraries that hand out a fresh set of fds every turn
 * instead of registering them (libslirp). Before each wait, prepare returns
 * its own array of *n pollfds and may lower *timeout_ms (-1: no limit);
 * after the wait, dispatch runs with revents filled in that array (also
 * when only the timeout expired). Both run on the loop thread. */
typedef struct pollfd *(*el_prepare_fn)(void *opaque, int *n, int *timeout_ms);
typedef void (*el_dispatch_fn)(void *opaque);

/* Add a poll source (before el_run). Returns 0 or -errno. */
int el_add_source(struct eventloop *el, el_prepare_fn prepare, el_dispatch_fn dispatch,
		  void *opaque);

/* Run callbacks until el_stop(); returns 0 or -errno on epoll failure.
 * Meant to run on its own thread. */
int el_run(struct eventloop *el);

/* Make el_run() return; safe from any thread. */
void el_stop(struct eventloop *el);

/* Free the loop (after el_run() has returned). */
void el_free(struct eventloop *el);

/* A non-blocking fd (close-on-exec) for what fd refers to, opened with mode
 * (O_RDONLY, O_WRONLY): a private open file description through
 * /proc/self/fd where possible, so that the flags of a stdin or stdout
 * shared with the parent shell stay as they are; for a regular file or
 * block device a duplicate (they never say EAGAIN); for a socket, which
 * cannot be reopened, a duplicate made non-blocking. -1 with errno. */
int el_nonblock_fd(int fd, int mode);

#endif
