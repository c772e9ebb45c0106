/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "escape.h"

/* Escape the C string s (or n bytes of it) and compare with want. */
static void check_n(const char *s, size_t n, const char *want)
{
	char buf[512];
	char *heap;

	assert_string_equal(escape_text_buf(buf, sizeof(buf), s, n), want);
	assert_int_equal(escape_length(s, n), strlen(want));
	assert_int_equal(escape_is_clean(s, n), strcmp(s, want) == 0 && strlen(s) == n);
	heap = escape_text(s, n);
	assert_non_null(heap);
	assert_string_equal(heap, want);
	/* escaping escaped text changes nothing */
	assert_string_equal(escape_text_buf(buf, sizeof(buf), heap, strlen(heap)), want);
	assert_true(escape_is_clean(heap, strlen(heap)));
	free(heap);
}

static void check(const char *s, const char *want)
{
	check_n(s, strlen(s), want);
}

static void test_c0_and_del(void **state)
{
	check("plain text, 100% ok", "plain text, 100% ok");
	check("", "");
	check("\x1b[2Jclear", "\\x1b[2Jclear");
	check("a\nb\rc\td", "a\\x0ab\\x0dc\\x09d");
	check("\x01\x1f", "\\x01\\x1f");
	check("del\x7f", "del\\x7f");
	check_n("nul\0byte", 8, "nul\\x00byte");
	/* a backslash is not doubled */
	check("C:\\dir \\x1b", "C:\\dir \\x1b");
}

static void test_c1(void **state)
{
	/* U+009B (CSI) and U+0085 (NEL) as UTF-8 */
	check("a\xc2\x9b"
	      "2Jb",
	      "a\\xc2\\x9b2Jb");
	check("\xc2\x85", "\\xc2\\x85");
	check("\xc2\x80\xc2\x9f", "\\xc2\\x80\\xc2\\x9f");
	/* raw C1 bytes are not UTF-8 */
	check("\x9b"
	      "2J",
	      "\\x9b2J");
	check("\x85", "\\x85");
	/* U+00A0 and U+00A9 are not controls */
	check("\xc2\xa0\xc2\xa9", "\xc2\xa0\xc2\xa9");
}

static void test_utf8(void **state)
{
	check("café 中文 😀", "café 中文 😀");
	/* truncated sequences */
	check("\xe4\xb8", "\\xe4\\xb8");
	check("x\xf0\x9f\x98", "x\\xf0\\x9f\\x98");
	/* overlong '/' and overlong NUL */
	check("\xc0\xaf", "\\xc0\\xaf");
	check("\xe0\x80\xaf", "\\xe0\\x80\\xaf");
	/* a surrogate, and above U+10FFFF */
	check("\xed\xa0\x80", "\\xed\\xa0\\x80");
	check("\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80");
	/* U+10FFFF itself is valid */
	check("\xf4\x8f\xbf\xbf", "\xf4\x8f\xbf\xbf");
	/* a lead byte followed by ASCII: the ASCII is kept */
	check("\xc3(", "\\xc3(");
	check("\xff\xfe", "\\xff\\xfe");
}

static void test_cut(void **state)
{
	char buf[16];

	/* fits exactly: 15 bytes and the NUL */
	assert_string_equal(escape_text_buf(buf, sizeof(buf), "0123456789abcde", 15),
			    "0123456789abcde");
	/* one more: cut, with the ellipsis, inside the buffer */
	assert_string_equal(escape_text_buf(buf, sizeof(buf), "0123456789abcdef", 16),
			    "0123456789ab" ESCAPE_ELLIPSIS);
	/* never in the middle of an escape */
	assert_string_equal(escape_text_buf(buf, sizeof(buf), "0123456789\x1b\x1b", 12),
			    "0123456789" ESCAPE_ELLIPSIS);
	/* never in the middle of a character */
	assert_string_equal(escape_text_buf(buf, sizeof(buf), "01234567890中文", 17),
			    "01234567890" ESCAPE_ELLIPSIS);
	/* tiny buffers stay terminated */
	assert_string_equal(escape_text_buf(buf, 1, "abc", 3), "");
	assert_string_equal(escape_text_buf(buf, 3, "\x1b", 1), "");
	assert_string_equal(escape_text_buf(buf, 3, "abc", 3), "ab");
	buf[0] = 'x';
	(void)escape_text_buf(buf, 0, "abc", 3);
	assert_int_equal(buf[0], 'x');
}

static void test_quote(void **state)
{
	char buf[ESCAPE_QUOTE_SIZE];
	char longer[ESCAPE_QUOTE_MAX + 2];

	assert_string_equal(escape_quote(buf, sizeof(buf), NULL), "");
	assert_string_equal(escape_quote(buf, sizeof(buf), "Key"), "Key");

	memset(longer, 'a', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = '\0';
	/* exactly the maximum: no ellipsis */
	longer[ESCAPE_QUOTE_MAX] = '\0';
	assert_string_equal(escape_quote(buf, sizeof(buf), longer), longer);
	/* one more byte: cut */
	longer[ESCAPE_QUOTE_MAX] = 'b';
	escape_quote(buf, sizeof(buf), longer);
	assert_int_equal(strlen(buf), ESCAPE_QUOTE_MAX + strlen(ESCAPE_ELLIPSIS));
	assert_null(strchr(buf, 'b'));
	assert_non_null(strstr(buf, ESCAPE_ELLIPSIS));

	/* every byte escaped still fits, and counts as input bytes */
	char ctl[100];
	memset(ctl, '\x1b', sizeof(ctl) - 1);
	ctl[sizeof(ctl) - 1] = '\0';
	escape_quote(buf, sizeof(buf), ctl);
	assert_int_equal(strlen(buf), 4 * ESCAPE_QUOTE_MAX + strlen(ESCAPE_ELLIPSIS));
	assert_true(escape_is_clean(buf, strlen(buf)));

	/* a secret on a long line: only its start is quoted */
	const char *shadow =
		"root:$y$j9T$abcdefghijklmnopqrstuv$0123456789ABCDEFGHIJ:19000:0:99999:7:::";
	escape_quote(buf, sizeof(buf), shadow);
	assert_string_equal(buf, "root:$y$j9T$abcdefghijklmnopqrst" ESCAPE_ELLIPSIS);

	/* a character is never split at the limit: 31 ASCII + a 2-byte character */
	char mb[64];
	memset(mb, 'x', 31);
	memcpy(mb + 31, "é", 3); /* two bytes and the NUL */
	escape_quote(buf, sizeof(buf), mb);
	assert_int_equal(strlen(buf), 31 + strlen(ESCAPE_ELLIPSIS));

	/* the macro gives a temporary */
	assert_string_equal(QUOTE("a\nb"), "a\\x0ab");
}

static void check_json(const char *s, size_t n, const char *want)
{
	char *j = escape_json(s, n);

	assert_non_null(j);
	assert_string_equal(j, want);
	free(j);
}

static void test_json(void **state)
{
	check_json("", 0, "\"\"");
	check_json("café 中文", strlen("café 中文"), "\"café 中文\"");
	check_json("a\"b\\c", 5, "\"a\\\"b\\\\c\"");
	check_json("\x1b[2J\r\n\x7f", 7, "\"\\u001b[2J\\u000d\\u000a\\u007f\"");
	check_json("\xc2\x9b\xc2\x85", 4, "\"\\u009b\\u0085\"");
	check_json("\x9b\xff", 2, "\"\\ufffd\\ufffd\"");
	check_json("nul\0", 4, "\"nul\\u0000\"");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_c0_and_del), cmocka_unit_test(test_c1),
		cmocka_unit_test(test_utf8),	   cmocka_unit_test(test_cut),
		cmocka_unit_test(test_quote),	   cmocka_unit_test(test_json),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
