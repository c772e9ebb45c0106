/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "alloc-util.h"
#include "macro.h"

static void test_grow_array(void **state)
{
	uint32_t *a = NULL;
	size_t cap = 0;

	(void)state;
	/* nothing needed: no allocation */
	assert_true(grow_array((void **)&a, &cap, sizeof(*a), 0));
	assert_null(a);
	assert_int_equal(cap, 0);
	/* the first growth allocates at least 16 */
	assert_true(grow_array((void **)&a, &cap, sizeof(*a), 1));
	assert_non_null(a);
	assert_int_equal(cap, 16);
	/* appends keep what was there; capacity doubles */
	for (uint32_t i = 0; i < 1000; i++) {
		assert_true(grow_array((void **)&a, &cap, sizeof(*a), i + 1));
		a[i] = i * 7;
	}
	assert_int_equal(cap, 1024);
	for (uint32_t i = 0; i < 1000; i++) {
		assert_int_equal(a[i], i * 7);
	}
	/* an overflowing need fails and leaves the array alone */
	assert_false(grow_array((void **)&a, &cap, sizeof(*a), SIZE_MAX / 2 + 2));
	assert_false(grow_array((void **)&a, &cap, sizeof(*a), SIZE_MAX / sizeof(*a) + 1));
	assert_int_equal(cap, 1024);
	assert_int_equal(a[999], 999 * 7);
	free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_grow_array),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
