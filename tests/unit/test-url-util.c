/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "url-util.h"

static void test_url_host_is_loopback(void **state)
{
	assert_true(url_host_is_loopback("http://localhost"));
	assert_true(url_host_is_loopback("http://LOCALHOST:8080/v1"));
	assert_true(url_host_is_loopback("HTTP://localhost/"));
	assert_true(url_host_is_loopback("http://127.0.0.1/v1"));
	assert_true(url_host_is_loopback("http://127.1.2.3:80"));
	assert_true(url_host_is_loopback("https://[::1]:443/x"));
	assert_true(url_host_is_loopback("http://[::1]"));
	assert_true(url_host_is_loopback("http://user:pw@localhost/"));
	assert_true(url_host_is_loopback("http://localhost?x"));
	/* The last '@' ends the user part, as in curl. */
	assert_true(url_host_is_loopback("http://user@evil.example@localhost/"));

	assert_false(url_host_is_loopback("http://localhost.example.com"));
	assert_false(url_host_is_loopback("http://127.0.0.1.evil.example/"));
	assert_false(url_host_is_loopback("http://10.0.0.1"));
	assert_false(url_host_is_loopback("http://128.0.0.1"));
	assert_false(url_host_is_loopback("http://[::2]"));
	assert_false(url_host_is_loopback("http://[::1"));
	assert_false(url_host_is_loopback("http://::1/"));
	assert_false(url_host_is_loopback("ftp://localhost"));
	assert_false(url_host_is_loopback("localhost"));
	assert_false(url_host_is_loopback("http://"));
	assert_false(url_host_is_loopback("http://localhost@evil.example/"));
	assert_false(url_host_is_loopback("http://evil.example/?x=@localhost"));
	assert_false(url_host_is_loopback(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_url_host_is_loopback),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
