/* test_bus.c - address-range registration and dispatch. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "bus.h"

struct dev {
	uint64_t last_off;
	uint32_t last_val;
	int writes;
};

static void dev_read(void *o, uint64_t off, void *data, unsigned len)
{
	(void)o;
	memset(data, 0, len);
	*(uint8_t *)data = (uint8_t)off;
}

static void dev_write(void *o, uint64_t off, const void *data, unsigned len)
{
	struct dev *d = o;
	d->last_off = off;
	d->last_val = 0;
	memcpy(&d->last_val, data, len > 4 ? 4 : len);
	d->writes++;
}

static void test_register(void **state)
{
	(void)state;
	struct bus b = { 0 };
	struct dev d = { 0 };
	assert_int_equal(bus_register(&b, 0x100, 0x10, dev_read, dev_write, &d, "a"), 0);
	assert_int_equal(bus_register(&b, 0x80, 0x10, dev_read, dev_write, &d, "b"), 0);
	assert_int_equal(bus_register(&b, 0x10f, 1, NULL, NULL, NULL, "c"), -EEXIST);
	assert_int_equal(bus_register(&b, 0xf8, 0x10, NULL, NULL, NULL, "d"), -EEXIST);
	assert_int_equal(bus_register(&b, 0x8f, 2, NULL, NULL, NULL, "e"), -EEXIST);
	assert_int_equal(bus_register(&b, 0x90, 0x70, NULL, NULL, NULL, "f"), 0);
	assert_int_equal(bus_register(&b, 0x200, 0, NULL, NULL, NULL, "g"), -EINVAL);
	assert_int_equal(bus_register(&b, UINT64_MAX, 2, NULL, NULL, NULL, "h"), -EINVAL);
	assert_int_equal(b.nranges, 3);
	assert_true(b.ranges[0].base < b.ranges[1].base && b.ranges[1].base < b.ranges[2].base);
	bus_free(&b);
}

static void test_dispatch(void **state)
{
	(void)state;
	struct bus b = { 0 };
	struct dev d = { 0 };
	bus_register(&b, 0x3f8, 8, dev_read, dev_write, &d, "uart");
	uint32_t v = 0xab;
	assert_true(bus_access(&b, 0x3fb, &v, 1, true));
	assert_int_equal(d.last_off, 3);
	assert_int_equal(d.last_val, 0xab);
	uint8_t r = 0;
	assert_true(bus_access(&b, 0x3fd, &r, 1, false));
	assert_int_equal(r, 5);
	/* Unclaimed: reads all ones, writes go nowhere. */
	uint32_t u = 0;
	assert_false(bus_access(&b, 0x80, &u, 4, false));
	assert_int_equal(u, 0xffffffff);
	assert_false(bus_access(&b, 0x80, &v, 1, true));
	/* Straddling the end of a range is not decoded. */
	assert_false(bus_access(&b, 0x3ff, &u, 2, false));
	assert_int_equal(d.writes, 1);
	bus_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_register),
		cmocka_unit_test(test_dispatch),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
