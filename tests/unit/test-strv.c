/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "strv.h"

/* Words joined with '|' for a readable comparison; "ERR<n>" on failure. */
static void check_split(const char *input, const char *expected)
{
	_cleanup_(strv_freep) char **words = NULL;
	char buf[256] = "";
	int r;

	r = split_words(input, &words);
	if (r < 0) {
		(void)snprintf(buf, sizeof(buf), "ERR%d", -r);
	} else {
		for (char **w = words; *w; w++) {
			size_t n = strlen(buf);

			(void)snprintf(buf + n, sizeof(buf) - n, "%s%s", w == words ? "" : "|", *w);
		}
	}
	assert_string_equal(buf, expected);
}

static void test_split_words(void **state)
{
	_cleanup_(strv_freep) char **empty = NULL;

	assert_int_equal(split_words("", &empty), 0);
	assert_non_null(empty);
	assert_null(empty[0]);

	check_split("   ", "");
	check_split("/bin/foo --quiet", "/bin/foo|--quiet");
	check_split("  a  b\tc  ", "a|b|c");
	check_split("'a b' \"c d\"", "a b|c d");
	check_split("a\"b c\"d", "ab cd");
	check_split("x \"\" y", "x||y");
	check_split("''", "");
	check_split("a\\ b", "a b");
	check_split("a\\nb", "a\nb");
	check_split("a\\tb", "a\tb");
	check_split("\\x41\\x62", "Ab");
	check_split("\\101", "A");
	check_split("\\s", " ");
	check_split("\"a\\\"b\"", "a\"b");
	check_split("'it\\'s'", "it's");
	check_split("\"a'b\"", "a'b");
	check_split("back\\\\slash", "back\\slash");
	check_split("--opt=\"x y\"", "--opt=x y");

	check_split("'unbalanced", "ERR22");
	check_split("\"x", "ERR22");
	check_split("a 'b\" c", "ERR22");
	check_split("trailing\\", "ERR22");
	check_split("\\q", "ERR22");
	check_split("\\x00", "ERR22");
	check_split("\\000", "ERR22");
	check_split("\\x4", "ERR22");
	check_split("\\x4g", "ERR22");
	check_split("\\19", "ERR22");
}

static void test_strv_push(void **state)
{
	_cleanup_(strv_freep) char **l = NULL;
	size_t n = 0, allocated = 0;
	char name[16];

	for (unsigned i = 0; i < 1000; i++) {
		char *s;

		(void)snprintf(name, sizeof(name), "w%u", i);
		s = strdup(name);
		assert_non_null(s);
		assert_int_equal(strv_push(&l, &n, &allocated, s), 0);
		assert_null(l[n]);
	}
	assert_int_equal(n, 1000);
	assert_int_equal(strv_length(l), 1000);
	assert_string_equal(l[999], "w999");
	/* grown by doubling, not one element at a time */
	assert_int_equal(allocated, 1024);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split_words),
		cmocka_unit_test(test_strv_push),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
