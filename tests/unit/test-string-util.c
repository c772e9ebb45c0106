/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "macro.h"
#include "string-util.h"
#include "strv.h"

static void test_strings(void **state)
{
	_cleanup_(freep) char *a = strjoin("a", "bc", "", "d");
	_cleanup_(freep) char *b = strjoin("only");
	_cleanup_(freep) char *c = strdup_or_null("x");
	char *l[] = { (char *)"a", (char *)"b", NULL };

	assert_string_equal(a, "abcd");
	assert_string_equal(b, "only");
	assert_string_equal(c, "x");
	assert_null(strdup_or_null(NULL));
	assert_int_equal(strv_length(l), 2);
	assert_int_equal(strv_length(NULL), 0);
	assert_true(streq_ptr(NULL, NULL));
	assert_false(streq_ptr("a", NULL));
	assert_true(isempty(""));
	assert_true(isempty(NULL));
	assert_string_equal(strempty(NULL), "");
}

/* config.c, jobfile.c and http.c keep "the value set last" with it */
static void test_free_and_strdup(void **state)
{
	char *p = NULL;
	const char *v = "value";

	assert_int_equal(free_and_strdup(&p, v), 0);
	assert_string_equal(p, "value");
	assert_ptr_not_equal(p, v);
	assert_int_equal(free_and_strdup(&p, "other"), 0);
	assert_string_equal(p, "other");
	assert_int_equal(free_and_strdup(&p, NULL), 0);
	assert_null(p);
}

static void test_name_is_valid(void **state)
{
	char long_name[66];

	assert_true(name_is_valid("a"));
	assert_true(name_is_valid("support-bot"));
	assert_true(name_is_valid("A_b.c-9"));
	assert_true(name_is_valid("..."));
	memset(long_name, 'x', 64);
	long_name[64] = '\0';
	assert_true(name_is_valid(long_name));
	long_name[64] = 'x';
	long_name[65] = '\0';
	assert_false(name_is_valid(long_name));

	assert_false(name_is_valid(""));
	assert_false(name_is_valid(NULL));
	assert_false(name_is_valid("a b"));
	assert_false(name_is_valid("a/b"));
	assert_false(name_is_valid("caf\xc3\xa9"));
	assert_false(name_is_valid("a:b"));
	assert_false(name_is_valid("."));
	assert_false(name_is_valid(".."));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_strings),
		cmocka_unit_test(test_name_is_valid),
		cmocka_unit_test(test_free_and_strdup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
