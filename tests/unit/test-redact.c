/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "redact.h"

#define KEY "app-S3cr3tK3yF0rJ0bw4tchT3st"

/* redact() of a C string, checked against want (length included). */
static void check(const char *in, const char *secret, const char *want)
{
	size_t n = 12345;
	char *out = redact(in, strlen(in), secret, &n);

	assert_non_null(out);
	assert_string_equal(out, want);
	assert_int_equal(n, strlen(want));
	free(out);
}

static void test_every_occurrence(void **state)
{
	check("Authorization: Bearer " KEY, KEY, "Authorization: Bearer " REDACTED);
	check(KEY, KEY, REDACTED);
	check(KEY KEY, KEY, REDACTED REDACTED);
	check("{\"message\": \"headers: Bearer " KEY ", again " KEY "!\"}", KEY,
	      "{\"message\": \"headers: Bearer " REDACTED ", again " REDACTED "!\"}");
	/* only the whole key: a prefix or a part is left alone */
	check("app-S3cr3t and K3yF0r", KEY, "app-S3cr3t and K3yF0r");
	check("", KEY, "");
}

static void test_no_secret(void **state)
{
	check("nothing to hide", NULL, "nothing to hide");
	check("nothing to hide", "", "nothing to hide");
	assert_false(redact_needed("abc", 3, NULL));
	assert_false(redact_needed("abc", 3, ""));
	assert_false(redact_needed(NULL, 0, KEY));
}

static void test_overlapping_and_short(void **state)
{
	/* left to right, without overlap */
	check("aaaa", "aa", REDACTED REDACTED);
	check("aaa", "aa", REDACTED "a");
	/* a secret shorter than the marker makes the text longer */
	check("xkx", "k", "x" REDACTED "x");
}

static void test_binary(void **state)
{
	static const char in[] = "a\0" KEY "\0b";
	size_t n;
	char *out = redact(in, sizeof(in) - 1, KEY, &n);

	assert_true(redact_needed(in, sizeof(in) - 1, KEY));
	assert_non_null(out);
	assert_int_equal(n, 2 + strlen(REDACTED) + 2);
	assert_memory_equal(out, "a\0" REDACTED "\0b", n);
	assert_int_equal(out[n], '\0');
	free(out);
}

static void test_needed(void **state)
{
	const char *s = "xx" KEY;

	assert_true(redact_needed(s, strlen(s), KEY));
	/* the key cut short by the length is not there */
	assert_false(redact_needed(s, strlen(s) - 1, KEY));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_occurrence),
		cmocka_unit_test(test_no_secret),
		cmocka_unit_test(test_overlapping_and_short),
		cmocka_unit_test(test_binary),
		cmocka_unit_test(test_needed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
