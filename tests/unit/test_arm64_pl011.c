/* test_arm64_pl011.c - the PL011 (aarch64's ttyAMA0) as Linux's amba-pl011
 * driver uses it: the PrimeCell IDs the AMBA bus matches, reset values,
 * output with TXFF/BUSY back-pressure, input, loopback and the interrupt
 * levels. Set up through the serial port's DEVICE entry on a VM without
 * KVM, as test_serial.c does for the 16550. */
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "arch.h"
#include "device.h"
#include "fakedrv.h"
#include "uartfifo.h"

enum { DR = 0x000, FR = 0x018, IBRD = 0x024, CR = 0x030, IFLS = 0x034, IMSC = 0x038,
       RIS = 0x03c, MIS = 0x040 };
#define FR_BUSY 0x08
#define FR_RXFE 0x10
#define FR_TXFF 0x20
#define FR_TXFE 0x80
#define INT_RX 0x10
#define INT_TX 0x20
#define INT_RT 0x40

static uint32_t rd(struct vm *vm, unsigned off, unsigned len)
{
	uint32_t v = 0;
	bus_access(&vm->bus[BUS_MMIO], arch_devices.serial_base + off, &v, len, false);
	return v;
}

static void wr(struct vm *vm, unsigned off, uint32_t v)
{
	bus_access(&vm->bus[BUS_MMIO], arch_devices.serial_base + off, &v, 2, true);
}

static struct vm *uart_vm(const char *opt)
{
	assert_int_equal(serial_desc()->parse(opt), 0);
	struct vm *vm = fake_vm_new(1 << 20);
	assert_int_equal(serial_desc()->setup(vm), 0);
	return vm;
}

static void uart_stop(struct vm *vm)
{
	bus_free(&vm->bus[BUS_MMIO]);
	fake_vm_free(vm);
	serial_desc()->teardown(NULL);
}

/* Output into a FIFO nobody reads until the test does. */
static struct vm *fifo_vm(struct fifo_out *o)
{
	return uart_vm(fifo_out_make(o));
}

/* Linux's AMBA bus reads these (with apb_pclk on) to bind amba-pl011. */
static void test_primecell_ids(void **state)
{
	(void)state;
	struct fifo_out o;
	struct vm *vm = fifo_vm(&o);
	static const uint8_t want[8] = { 0x11, 0x10, 0x34, 0x00, 0x0d, 0xf0, 0x05, 0xb1 };
	for (unsigned i = 0; i < 8; i++)
		assert_int_equal(rd(vm, 0xfe0 + 4 * i, 4), want[i]);
	uint32_t periph = 0;
	for (unsigned i = 0; i < 4; i++)
		periph |= rd(vm, 0xfe0 + 4 * i, 4) << 8 * i;
	assert_int_equal(periph & 0x000fffff, 0x00041011); /* amba-pl011's match */
	uart_stop(vm);
	fifo_out_remove(&o);
}

static void test_reset_values(void **state)
{
	(void)state;
	struct fifo_out o;
	struct vm *vm = fifo_vm(&o);
	assert_int_equal(rd(vm, CR, 2), 0x300);   /* TXE | RXE, UART off */
	assert_int_equal(rd(vm, IFLS, 2), 0x12);  /* half-full levels */
	assert_int_equal(rd(vm, FR, 2) & (FR_RXFE | FR_TXFE | FR_TXFF | FR_BUSY),
			 FR_RXFE | FR_TXFE);
	assert_int_equal(rd(vm, IMSC, 2), 0);
	assert_int_equal(rd(vm, MIS, 2), 0);      /* masked: no interrupt */
	wr(vm, IBRD, 0x1234);
	assert_int_equal(rd(vm, IBRD, 4), 0x1234);
	assert_int_equal(rd(vm, IBRD + 1, 1), 0x12); /* byte access inside a word */
	uart_stop(vm);
	fifo_out_remove(&o);
}

/* Bytes written to DR reach the host in order; with the host not reading,
 * TXFF and BUSY tell the driver to wait and the TX interrupt drops; once it
 * reads, TXFE and the TX interrupt return. */
static void test_output_backpressure(void **state)
{
	(void)state;
	struct fifo_out o;
	struct vm *vm = fifo_vm(&o);
	wr(vm, CR, 0x301);
	wr(vm, IMSC, INT_TX);
	assert_int_equal(rd(vm, MIS, 2), INT_TX); /* room: the level is up */
	size_t cap = (size_t)fcntl(o.rfd, F_GETPIPE_SZ), n = 0;
	while (!(rd(vm, FR, 2) & FR_TXFF) && n < cap + 8192)
		wr(vm, DR, (uint8_t)(n++ * 7));
	assert_true(rd(vm, FR, 2) & FR_TXFF);
	assert_true(rd(vm, FR, 2) & FR_BUSY);
	assert_int_equal(rd(vm, RIS, 2) & INT_TX, 0);
	assert_int_equal(rd(vm, MIS, 2), 0);
	static uint8_t got[1 << 20];
	size_t have = 0;
	struct pollfd p = { o.rfd, POLLIN, 0 };
	while (have < n && poll(&p, 1, 5000) == 1) {
		ssize_t r = read(o.rfd, got + have, n - have);
		if (r <= 0)
			break;
		have += r;
	}
	assert_int_equal(have, n);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(got[i], (uint8_t)(i * 7));
	for (int i = 0; i < 500 && !(rd(vm, FR, 2) & FR_TXFE); i++)
		usleep(1000);
	assert_int_equal(rd(vm, FR, 2) & (FR_TXFE | FR_BUSY | FR_TXFF), FR_TXFE);
	assert_int_equal(rd(vm, MIS, 2), INT_TX);
	uart_stop(vm);
	fifo_out_remove(&o);
}

/* Input from stdin comes out of DR in order, with the RX and RX-timeout
 * levels up while bytes wait; loopback (CR.LBE) turns output into input. */
static void test_input_and_loopback(void **state)
{
	(void)state;
	int p[2], saved = dup(STDIN_FILENO);
	assert_int_equal(pipe(p), 0);
	assert_int_equal(write(p[1], "ttyAMA0", 7), 7);
	dup2(p[0], STDIN_FILENO);
	close(p[0]);
	struct vm *vm = uart_vm("stdio");
	wr(vm, CR, 0x301);
	wr(vm, IMSC, INT_RX | INT_RT);
	for (int i = 0; i < 5000 && (rd(vm, FR, 2) & FR_RXFE); i++)
		usleep(1000);
	usleep(20000); /* all seven bytes in */
	assert_int_equal(rd(vm, MIS, 2), INT_RX | INT_RT);
	char got[8] = { 0 };
	for (int i = 0; i < 7; i++)
		got[i] = (char)rd(vm, DR, 2);
	assert_string_equal(got, "ttyAMA0");
	assert_true(rd(vm, FR, 2) & FR_RXFE);
	assert_int_equal(rd(vm, MIS, 2), 0);
	wr(vm, CR, 0x381); /* loopback */
	wr(vm, DR, 'L');
	assert_int_equal(rd(vm, FR, 2) & FR_RXFE, 0);
	assert_int_equal(rd(vm, DR, 2), 'L');
	uart_stop(vm);
	close(p[1]);
	dup2(saved, STDIN_FILENO);
	close(saved);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_primecell_ids),
		cmocka_unit_test(test_reset_values),
		cmocka_unit_test(test_output_backpressure),
		cmocka_unit_test(test_input_and_loopback),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
