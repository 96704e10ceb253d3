/* test_eventloop.c - watches changed from callbacks and other threads. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/epoll.h>
#include <unistd.h>
#include <cmocka.h>

#include "eventloop.h"

struct rig {
	struct eventloop *el;
	int a[2], b[2], c[2];
	int a_runs, b_runs, c_runs;
};

static void on_a(void *o, int fd, uint32_t ev)
{
	(void)fd, (void)ev;
	((struct rig *)o)->a_runs++;
}

static void on_c(void *o, int fd, uint32_t ev)
{
	(void)fd, (void)ev;
	((struct rig *)o)->c_runs++;
}

/* Removes a (whose event is already collected) and puts c in its slot. */
static void on_b(void *o, int fd, uint32_t ev)
{
	struct rig *r = o;
	char x;
	(void)ev;
	assert_int_equal(read(fd, &x, 1), 1);
	r->b_runs++;
	assert_int_equal(el_del_fd(r->el, r->a[0]), 0);
	assert_int_equal(el_add_fd(r->el, r->c[0], EPOLLIN, on_c, r), 0);
	el_stop(r->el);
}

static void test_removed_watch_gets_no_stale_event(void **state)
{
	(void)state;
	struct rig r = { .el = el_new() };
	assert_non_null(r.el);
	assert_int_equal(pipe(r.a) | pipe(r.b) | pipe(r.c), 0);
	assert_int_equal(el_add_fd(r.el, r.a[0], EPOLLIN, on_a, &r), 0);
	assert_int_equal(el_add_fd(r.el, r.b[0], EPOLLIN, on_b, &r), 0);
	/* b becomes ready first, so epoll reports it first, a after it. */
	assert_int_equal(write(r.b[1], "x", 1), 1);
	assert_int_equal(write(r.a[1], "x", 1), 1);
	assert_int_equal(el_run(r.el), 0);
	assert_int_equal(r.b_runs, 1);
	assert_int_equal(r.a_runs, 0);
	assert_int_equal(r.c_runs, 0); /* c's pipe was never written */
	el_free(r.el);
	for (int i = 0; i < 2; i++)
		close(r.a[i]), close(r.b[i]), close(r.c[i]);
}

struct churn {
	struct eventloop *el;
	int fd;
};

static void *churn(void *o)
{
	struct churn *c = o;
	for (int i = 0; i < 2000; i++) {
		assert_int_equal(el_add_fd(c->el, c->fd, EPOLLIN, on_a, NULL), 0);
		assert_int_equal(el_del_fd(c->el, c->fd), 0);
	}
	return NULL;
}

static void on_stop_after(void *o, int fd, uint32_t ev)
{
	(void)o, (void)ev;
	char buf[64];
	if (read(fd, buf, sizeof(buf)) <= 0)
		return;
}

static void *run_loop(void *el)
{
	el_run(el);
	return NULL;
}

/* Two threads adding and removing watches while the loop runs. */
static void test_watches_from_threads(void **state)
{
	(void)state;
	struct eventloop *el = el_new();
	int p[2][2], q[2];
	assert_int_equal(pipe(p[0]) | pipe(p[1]) | pipe(q), 0);
	assert_int_equal(el_add_fd(el, q[0], EPOLLIN, on_stop_after, NULL), 0);
	pthread_t loop, t[2];
	struct churn c[2] = { { el, p[0][0] }, { el, p[1][0] } };
	assert_int_equal(pthread_create(&loop, NULL, run_loop, el), 0);
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&t[i], NULL, churn, &c[i]), 0);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	el_stop(el);
	pthread_join(loop, NULL);
	el_free(el);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_removed_watch_gets_no_stale_event),
		cmocka_unit_test(test_watches_from_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
