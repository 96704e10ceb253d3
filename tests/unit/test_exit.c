/* test_exit.c - how microvm's exit status is decided: the first request
 * wins, and a signal arriving while another request is being recorded does
 * not lose it. No KVM: a VM with just its exit eventfd, and a pipe standing
 * in for the signalfd. */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>
#include <cmocka.h>

#include "vm.h"

struct rig {
	struct vm vm;
	int sig[2]; /* "signalfd": read end, and ours to write */
	pthread_t waiter;
	int status;
};

static int setup(void **state)
{
	struct rig *r = calloc(1, sizeof(*r));
	r->vm.exit_efd = eventfd(0, EFD_CLOEXEC);
	assert_true(r->vm.exit_efd >= 0);
	assert_int_equal(pipe(r->sig), 0);
	*state = r;
	return 0;
}

static int teardown(void **state)
{
	struct rig *r = *state;
	close(r->vm.exit_efd);
	close(r->sig[0]);
	close(r->sig[1]);
	free(r);
	return 0;
}

static void *waiter(void *arg)
{
	struct rig *r = arg;
	r->status = vm_wait_exit(&r->vm, r->sig[0]);
	return NULL;
}

static void send_signal(struct rig *r, int signo)
{
	struct signalfd_siginfo si = { .ssi_signo = signo };
	assert_int_equal(write(r->sig[1], &si, sizeof(si)), sizeof(si));
}

static void test_signal_alone_exits_4(void **state)
{
	struct rig *r = *state;
	send_signal(r, SIGTERM);
	assert_int_equal(vm_wait_exit(&r->vm, r->sig[0]), VM_EXIT_SIGNAL);
}

static void test_guest_exit_then_signal_keeps_guest_status(void **state)
{
	struct rig *r = *state;
	vm_request_exit(&r->vm, VM_EXIT_REBOOT, "test");
	send_signal(r, SIGTERM);
	assert_int_equal(vm_wait_exit(&r->vm, r->sig[0]), VM_EXIT_REBOOT);
}

/* A vCPU has won vm_request_exit (exiting set) but not yet stored its
 * status when SIGTERM arrives: the main thread must wait for that status,
 * not return whatever exit_status held (0, "powered off"). The vCPU's half
 * way point is set up by hand to make the interleaving certain. */
static void test_signal_while_guest_status_recorded_keeps_it(void **state)
{
	struct rig *r = *state;
	atomic_store(&r->vm.exiting, true);
	send_signal(r, SIGTERM);
	pthread_create(&r->waiter, NULL, waiter, r);
	usleep(50000); /* the waiter has seen the signal and lost the race */
	atomic_store(&r->vm.exit_status, VM_EXIT_PANIC);
	uint64_t one = 1;
	assert_int_equal(write(r->vm.exit_efd, &one, sizeof(one)), sizeof(one));
	pthread_join(r->waiter, NULL);
	assert_int_equal(r->status, VM_EXIT_PANIC);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_signal_alone_exits_4, setup, teardown),
		cmocka_unit_test_setup_teardown(test_guest_exit_then_signal_keeps_guest_status,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_signal_while_guest_status_recorded_keeps_it,
						setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
