/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "time-util.h"

static void test_clocks(void **state)
{
	usec_t a = now_monotonic_usec(), b = now_monotonic_usec();

	assert_true(a > 0);
	assert_true(b >= a);
	/* After 2020-01-01. */
	assert_true(now_realtime_usec() > 1577836800ULL * USEC_PER_SEC);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_clocks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
