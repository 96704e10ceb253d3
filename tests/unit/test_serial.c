/* test_serial.c - the 16550A UART against hosts that do not keep up: a
 * stdin that hangs up while the guest is not reading. The device is set up through its DEVICE entry on a VM without
 * KVM; a thread plays the vCPU writing the registers. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "arch.h"
#include "device.h"
#include "fakedrv.h"

enum { THR = 0, IER = 1, IIR = 2, LSR = 5 };
#define LSR_DR 0x01
#define LSR_THRE 0x20
#define LSR_TEMT 0x40

static const struct device_desc *serial_desc(void)
{
	device_foreach(d)
		if (!strcmp(d->name, "serial"))
			return d;
	fail_msg("no serial device in the table");
	return NULL;
}

/* Bytes the tests send, position-dependent so a loss or reordering shows. */
static uint8_t pattern(size_t i)
{
	return (uint8_t)(i * 7 + (i >> 10));
}

static uint8_t reg_in(struct vm *vm, unsigned reg)
{
	uint8_t v = 0;
	bus_access(&vm->bus[arch_devices.serial_bus], arch_devices.serial_base + reg, &v, 1,
		   false);
	return v;
}

static struct vm *serial_vm(const char *opt)
{
	const struct device_desc *d = serial_desc();
	assert_int_equal(d->parse(opt), 0);
	struct vm *vm = fake_vm_new(1 << 20);
	assert_int_equal(d->setup(vm), 0);
	return vm;
}

/* Stop as microvm does (vCPUs gone, then the event loop, then teardown). */
static void serial_stop(struct vm *vm)
{
	bus_free(&vm->bus[BUS_PIO]);
	fake_vm_free(vm);
	if (serial_desc()->teardown)
		serial_desc()->teardown(NULL);
}

static double now_ms(clockid_t clock)
{
	struct timespec t;
	clock_gettime(clock, &t);
	return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

/* stdin sends more than the receive FIFO holds and hangs up while the guest
 * reads nothing: the event loop must sleep, not spin on EPOLLHUP, and every
 * byte still arrives once the guest reads. */
static void test_stdin_hangup_with_full_fifo_does_not_spin(void **state)
{
	(void)state;
	enum { N = 300 }; /* more than the 256-byte FIFO */
	uint8_t in[N];
	for (int i = 0; i < N; i++)
		in[i] = pattern(i);
	int p[2], saved = dup(STDIN_FILENO);
	assert_int_equal(pipe(p), 0);
	assert_int_equal(write(p[1], in, N), N);
	close(p[1]);
	dup2(p[0], STDIN_FILENO);
	close(p[0]);
	struct vm *vm = serial_vm("stdio");
	double start = now_ms(CLOCK_MONOTONIC);
	while (!(reg_in(vm, LSR) & LSR_DR) && now_ms(CLOCK_MONOTONIC) - start < 5000)
		usleep(1000);
	usleep(20000); /* the FIFO fills */
	clockid_t loop;
	assert_int_equal(pthread_getcpuclockid(((struct fake_vm *)vm)->el_thread, &loop), 0);
	double cpu = now_ms(loop);
	usleep(200000);
	cpu = now_ms(loop) - cpu;
	uint8_t out[N];
	int got = 0;
	start = now_ms(CLOCK_MONOTONIC);
	while (got < N && now_ms(CLOCK_MONOTONIC) - start < 5000) {
		if (reg_in(vm, LSR) & LSR_DR)
			out[got++] = reg_in(vm, THR);
		else
			usleep(1000);
	}
	serial_stop(vm);
	dup2(saved, STDIN_FILENO);
	close(saved);
	assert_true(cpu < 50); /* ms of the loop's CPU time in 200 ms */
	assert_int_equal(got, N);
	assert_memory_equal(out, in, N);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stdin_hangup_with_full_fifo_does_not_spin),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
