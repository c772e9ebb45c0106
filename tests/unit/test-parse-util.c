/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <limits.h>
#include <locale.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "parse-util.h"

static void test_safe_atou(void **state)
{
	unsigned u = 7;

	assert_int_equal(safe_atou("0", &u), 0);
	assert_int_equal(u, 0);
	assert_int_equal(safe_atou("42", &u), 0);
	assert_int_equal(u, 42);
	assert_int_equal(safe_atou("007", &u), 0);
	assert_int_equal(u, 7);
	assert_int_equal(safe_atou("4294967295", &u), 0);
	assert_int_equal(u, UINT_MAX);

	u = 5;
	assert_int_equal(safe_atou("4294967296", &u), -ERANGE);
	assert_int_equal(safe_atou("99999999999999999999999", &u), -ERANGE);
	assert_int_equal(safe_atou("", &u), -EINVAL);
	assert_int_equal(safe_atou(" 1", &u), -EINVAL);
	assert_int_equal(safe_atou("1 ", &u), -EINVAL);
	assert_int_equal(safe_atou("+1", &u), -EINVAL);
	assert_int_equal(safe_atou("-1", &u), -EINVAL);
	assert_int_equal(safe_atou("0x10", &u), -EINVAL);
	assert_int_equal(safe_atou("1a", &u), -EINVAL);
	assert_int_equal(safe_atou("1.0", &u), -EINVAL);
	assert_int_equal(safe_atou(NULL, &u), -EINVAL);
	/* Failures leave the output alone. */
	assert_int_equal(u, 5);
}

static void test_safe_atou64(void **state)
{
	uint64_t v = 0;

	assert_int_equal(safe_atou64("18446744073709551615", &v), 0);
	assert_true(v == UINT64_MAX);
	assert_int_equal(safe_atou64("18446744073709551616", &v), -ERANGE);
	assert_int_equal(safe_atou64("-0", &v), -EINVAL);
	assert_int_equal(safe_atou64("", &v), -EINVAL);
	assert_int_equal(safe_atou64("12", &v), 0);
	assert_int_equal(v, 12);
}

static void test_safe_atod(void **state)
{
	double d = 0;

	assert_int_equal(safe_atod("1.5", &d), 0);
	assert_true(d == 1.5);
	assert_int_equal(safe_atod("0", &d), 0);
	assert_true(d == 0.0);
	assert_int_equal(safe_atod("-2", &d), 0);
	assert_true(d == -2.0);
	assert_int_equal(safe_atod("1e2", &d), 0);
	assert_true(d == 100.0);
	assert_int_equal(safe_atod(".25", &d), 0);
	assert_true(d == 0.25);

	assert_int_equal(safe_atod("", &d), -EINVAL);
	assert_int_equal(safe_atod(" 1", &d), -EINVAL);
	assert_int_equal(safe_atod("1 ", &d), -EINVAL);
	assert_int_equal(safe_atod("nan", &d), -EINVAL);
	assert_int_equal(safe_atod("inf", &d), -EINVAL);
	assert_int_equal(safe_atod("0x1p3", &d), -EINVAL);
	assert_int_equal(safe_atod("1,5", &d), -EINVAL);
	assert_int_equal(safe_atod("1.5.", &d), -EINVAL);
	assert_int_equal(safe_atod("e", &d), -EINVAL);
	assert_int_equal(safe_atod("1e999", &d), -ERANGE);
	assert_int_equal(safe_atod(NULL, &d), -EINVAL);
}

static void test_safe_atod_locale(void **state)
{
	double d = 0;

	/* Only where such a locale is installed; the C-locale result is
	 * checked above either way. */
	if (!setlocale(LC_NUMERIC, "de_DE.UTF-8") && !setlocale(LC_NUMERIC, "fr_FR.UTF-8")) {
		skip();
	}
	assert_int_equal(safe_atod("1.5", &d), 0);
	assert_true(d == 1.5);
	assert_int_equal(safe_atod("1,5", &d), -EINVAL);
	(void)setlocale(LC_NUMERIC, "C");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_safe_atou),
		cmocka_unit_test(test_safe_atou64),
		cmocka_unit_test(test_safe_atod),
		cmocka_unit_test(test_safe_atod_locale),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
