/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "macro.h"
#include "memory-util.h"

static void test_erase_and_free(void **state)
{
	_cleanup_(erase_and_freep) char *secret = strdup("sekrit");

	assert_non_null(secret);
	erase_and_free(NULL);
}

static void test_erase_secret(void **state)
{
	char buf[] = "sekrit-key";
	static const char zeros[sizeof(buf)] = { 0 };

	erase_secret(buf, sizeof(buf));
	assert_memory_equal(buf, zeros, sizeof(buf));
	erase_secret(NULL, 10);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_erase_and_free),
		cmocka_unit_test(test_erase_secret),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
