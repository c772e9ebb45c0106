/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "uuid-util.h"

static void test_uuid(void **state)
{
	static const uint8_t expected[16] = { 0x3c, 0x90, 0xc3, 0xcc, 0x0d, 0x44, 0x4b, 0x50,
					      0x88, 0x88, 0x8d, 0xd2, 0x57, 0x36, 0x05, 0x2a };
	uint8_t id[16];
	char buf[UUID_STRING_MAX];

	assert_int_equal(uuid_from_string("3c90c3cc-0d44-4b50-8888-8dd25736052a", id), 0);
	assert_memory_equal(id, expected, 16);
	assert_int_equal(uuid_from_string("3C90C3CC-0D44-4B50-8888-8DD25736052A", id), 0);
	assert_memory_equal(id, expected, 16);
	assert_string_equal(uuid_to_string(id, buf), "3c90c3cc-0d44-4b50-8888-8dd25736052a");

	assert_int_equal(uuid_from_string("", id), -EINVAL);
	assert_int_equal(uuid_from_string(NULL, id), -EINVAL);
	assert_int_equal(uuid_from_string("3c90c3cc0d444b5088888dd25736052a", id), -EINVAL);
	assert_int_equal(uuid_from_string("3c90c3cc-0d44-4b50-8888-8dd25736052", id), -EINVAL);
	assert_int_equal(uuid_from_string("3c90c3cc-0d44-4b50-8888-8dd25736052aa", id), -EINVAL);
	assert_int_equal(uuid_from_string("3c90c3cc-0d44-4b50-8888-8dd25736052g", id), -EINVAL);
	assert_int_equal(uuid_from_string("3c90c3c-c0d44-4b50-8888-8dd25736052a", id), -EINVAL);
	assert_int_equal(uuid_from_string("{3c90c3cc-0d44-4b50-8888-8dd25736052}", id), -EINVAL);
	assert_int_equal(uuid_from_string(" 3c90c3cc-0d44-4b50-8888-8dd2573605a", id), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_uuid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
