/* SPDX-License-Identifier: MIT */
/*
 * RFC 6901 pointers (jsonptr.h): parsing, the streaming matcher, and the
 * extraction of a few pointers from an answer as it streams in
 * (jsonextract.h), hostile answers included.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jsonextract.h"
#include "jsonptr.h"
#include "macro.h"
#include "redact.h"

/* --- parsing --- */

static void test_parse_valid(void **state)
{
	struct jsonptr p;
	const char *reason = "unset";

	assert_int_equal(jsonptr_parse("", &p, &reason), 0);
	assert_int_equal(p.n_tokens, 0);
	assert_string_equal(p.text, "");
	jsonptr_done(&p);

	assert_int_equal(jsonptr_parse("/errors/data/0/message", &p, &reason), 0);
	assert_int_equal(p.n_tokens, 4);
	assert_string_equal(p.tokens[0].name, "errors");
	assert_int_equal(p.tokens[0].index, -1);
	assert_string_equal(p.tokens[2].name, "0");
	assert_int_equal(p.tokens[2].index, 0);
	assert_string_equal(p.text, "/errors/data/0/message");
	jsonptr_done(&p);

	/* RFC 6901 section 5's examples of escapes and odd tokens */
	assert_int_equal(jsonptr_parse("/a~1b/m~0n/~01/", &p, &reason), 0);
	assert_int_equal(p.n_tokens, 4);
	assert_string_equal(p.tokens[0].name, "a/b");
	assert_string_equal(p.tokens[1].name, "m~n");
	assert_string_equal(p.tokens[2].name, "~1"); /* ~01 is "~1", not "/" */
	assert_string_equal(p.tokens[3].name, "");
	assert_int_equal(p.tokens[3].len, 0);
	jsonptr_done(&p);

	/* indexes: no leading zeros, "-" names nothing */
	assert_int_equal(jsonptr_parse("/12/01/-/0x/123456789/1234567890", &p, &reason), 0);
	assert_int_equal(p.tokens[0].index, 12);
	assert_int_equal(p.tokens[1].index, -1);
	assert_int_equal(p.tokens[2].index, -1);
	assert_int_equal(p.tokens[3].index, -1);
	assert_int_equal(p.tokens[4].index, 123456789);
	assert_int_equal(p.tokens[5].index, -1); /* beyond any answer we accept */
	jsonptr_done(&p);

	/* a zeroed one is released too */
	jsonptr_done(&p);
}

static void check_bad(const char *s, const char *want)
{
	struct jsonptr p = { .n_tokens = 99 };
	const char *reason = NULL;

	assert_int_equal(jsonptr_parse(s, &p, &reason), -EINVAL);
	assert_non_null(reason);
	assert_string_equal(reason, want);
	assert_null(p.text);
	assert_int_equal(p.n_tokens, 0);
}

static void test_parse_invalid(void **state)
{
	char many[2 * (JSONPTR_TOKENS_MAX + 1) + 1] = "";
	char ok[2 * JSONPTR_TOKENS_MAX + 1] = "";
	char longer[JSONPTR_TEXT_MAX + 2];
	struct jsonptr p;

	check_bad("status", "does not start with '/'");
	check_bad("#/status", "does not start with '/'");
	check_bad("/a~", "'~' not followed by '0' or '1'");
	check_bad("/a~2", "'~' not followed by '0' or '1'");
	check_bad("/~/b", "'~' not followed by '0' or '1'");
	check_bad("/a\tb", "contains a control character");
	check_bad("/a\x7f", "contains a control character");

	for (int i = 0; i < JSONPTR_TOKENS_MAX + 1; i++) {
		memcpy(many + 2 * i, "/a", 3);
	}
	check_bad(many, "more than 32 reference tokens");
	for (int i = 0; i < JSONPTR_TOKENS_MAX; i++) {
		memcpy(ok + 2 * i, "/a", 3);
	}
	assert_int_equal(jsonptr_parse(ok, &p, NULL), 0);
	assert_int_equal(p.n_tokens, JSONPTR_TOKENS_MAX);
	jsonptr_done(&p);

	memset(longer, 'a', sizeof(longer) - 1);
	longer[0] = '/';
	longer[sizeof(longer) - 1] = '\0';
	check_bad(longer, "longer than 256 bytes");
	longer[JSONPTR_TEXT_MAX] = '\0';
	assert_int_equal(jsonptr_parse(longer, &p, NULL), 0);
	jsonptr_done(&p);
}

static void test_copy(void **state)
{
	struct jsonptr p, c, z = {};

	assert_int_equal(jsonptr_parse("/a~1b/3", &p, NULL), 0);
	assert_int_equal(jsonptr_copy(&p, &c), 0);
	assert_int_equal(c.n_tokens, 2);
	assert_string_equal(c.tokens[0].name, "a/b");
	assert_int_equal(c.tokens[1].index, 3);
	assert_ptr_not_equal(c.text, p.text);
	jsonptr_done(&p);
	jsonptr_done(&c);
	assert_int_equal(jsonptr_copy(&z, &c), 0);
	assert_null(c.text);
}

/* --- extraction --- */

/* Extract ptr from json, fed in chunks of chunk bytes (0: all at once). */
static int extract(const char *ptr, const char *json, size_t chunk, size_t cap,
		   struct jsonextract_value *ret, char *error, size_t error_size)
{
	struct jsonptr p;
	struct jsonextract x = {};
	size_t len = strlen(json);
	int r;

	assert_int_equal(jsonptr_parse(ptr, &p, NULL), 0);
	assert_int_equal(jsonextract_add(&x, &p, cap), 0);
	assert_int_equal(jsonextract_begin(&x), 0);
	r = 0;
	for (size_t off = 0; r == 0 && off < len;) {
		size_t n = chunk == 0 ? len : MIN(chunk, len - off);
		r = jsonextract_feed(&x, json + off, n);
		off += n;
	}
	if (r == 0) {
		r = jsonextract_complete(&x);
	}
	*ret = x.values[0];
	if (error) {
		snprintf(error, error_size, "%s", x.error);
	}
	jsonextract_done(&x);
	jsonptr_done(&p);
	return r;
}

/* The same in every chunking: whole, 1 byte, 3 bytes. */
static void expect(const char *ptr, const char *json, enum jsonextract_type type, const char *text)
{
	static const size_t chunks[] = { 0, 1, 3 };

	for (size_t i = 0; i < ELEMENTSOF(chunks); i++) {
		struct jsonextract_value v;
		assert_int_equal(extract(ptr, json, chunks[i], JSONEXTRACT_VALUE_MAX, &v, NULL, 0),
				 0);
		if (v.type != type) {
			print_error("pointer '%s' in %s: type %s, expected %s\n", ptr, json,
				    jsonextract_type_to_string(v.type),
				    jsonextract_type_to_string(type));
		}
		assert_int_equal(v.type, type);
		assert_string_equal(v.text, text);
		assert_int_equal(v.n_matches, type == JSONEXTRACT_ABSENT ? 0 : 1);
	}
}

static void test_extract_rfc6901(void **state)
{
	/* RFC 6901 section 5's document */
	static const char doc[] = "{\"foo\": [\"bar\", \"baz\"], \"\": 0, \"a/b\": 1, \"c%d\": 2,"
				  " \"e^f\": 3, \"g|h\": 4, \"i\\\\j\": 5, \"k\\\"l\": 6, \" \": 7,"
				  " \"m~n\": 8}";

	expect("", doc, JSONEXTRACT_OBJECT, "");
	expect("/foo", doc, JSONEXTRACT_ARRAY, "");
	expect("/foo/0", doc, JSONEXTRACT_STRING, "bar");
	expect("/foo/1", doc, JSONEXTRACT_STRING, "baz");
	expect("/", doc, JSONEXTRACT_NUMBER, "0");
	expect("/a~1b", doc, JSONEXTRACT_NUMBER, "1");
	expect("/c%d", doc, JSONEXTRACT_NUMBER, "2");
	expect("/e^f", doc, JSONEXTRACT_NUMBER, "3");
	expect("/g|h", doc, JSONEXTRACT_NUMBER, "4");
	expect("/i\\j", doc, JSONEXTRACT_NUMBER, "5");
	expect("/k\"l", doc, JSONEXTRACT_NUMBER, "6");
	expect("/ ", doc, JSONEXTRACT_NUMBER, "7");
	expect("/m~0n", doc, JSONEXTRACT_NUMBER, "8");
}

static void test_extract_paths(void **state)
{
	static const char batch[] =
		"{\"id\": \"batch_abc\", \"object\": \"batch\", \"status\": \"failed\","
		" \"metadata\": {\"status\": \"nested, not this\"},"
		" \"errors\": {\"object\": \"list\", \"data\": [{\"code\": \"invalid_json\","
		" \"message\": \"Line 1 is bad\", \"line\": 1}, {\"message\": \"second\"}]}}";

	expect("/status", batch, JSONEXTRACT_STRING, "failed");
	expect("/metadata/status", batch, JSONEXTRACT_STRING, "nested, not this");
	expect("/errors/data/0/message", batch, JSONEXTRACT_STRING, "Line 1 is bad");
	expect("/errors/data/1/message", batch, JSONEXTRACT_STRING, "second");
	expect("/errors/data/0/line", batch, JSONEXTRACT_NUMBER, "1");
	expect("/errors/data/2/message", batch, JSONEXTRACT_ABSENT, "");
	expect("/errors/data/-/message", batch, JSONEXTRACT_ABSENT, "");
	expect("/errors/data/00/message", batch, JSONEXTRACT_ABSENT, "");
	expect("/errors/data/message", batch, JSONEXTRACT_ABSENT, "");
	expect("/status/0", batch, JSONEXTRACT_ABSENT, "");
	expect("/nope", batch, JSONEXTRACT_ABSENT, "");
	expect("/Status", batch, JSONEXTRACT_ABSENT, ""); /* exact bytes */

	/* arrays at the top and nested; elements before the one named that are
	 * containers count as one position each */
	expect("/2", "[[1, [2]], {\"a\": [3]}, \"x\", 4]", JSONEXTRACT_STRING, "x");
	expect("/0/1/0", "[[1, [2]], {\"a\": [3]}, \"x\", 4]", JSONEXTRACT_NUMBER, "2");
	expect("/1/a/0", "[[1, [2]], {\"a\": [3]}, \"x\", 4]", JSONEXTRACT_NUMBER, "3");
	/* "0" as an object member name is a member, not an index */
	expect("/0", "{\"0\": \"zero\"}", JSONEXTRACT_STRING, "zero");
	expect("/01", "{\"01\": true}", JSONEXTRACT_BOOLEAN, "true");
	expect("/-", "{\"-\": null}", JSONEXTRACT_NULL, "null");
	/* a member of the same name deeper or in a sibling does not match */
	expect("/a/b", "{\"x\": {\"a\": {\"b\": 1}}, \"a\": {\"c\": {\"b\": 2}, \"b\": 3}}",
	       JSONEXTRACT_NUMBER, "3");
	/* a scalar document */
	expect("", "\"done\"", JSONEXTRACT_STRING, "done");
	expect("/status", "\"done\"", JSONEXTRACT_ABSENT, "");
	/* escapes in keys and values are unescaped before matching */
	expect("/st\xc3\xa4tus", "{\"st\\u00e4tus\": \"\\u00e9t\\u00e9\"}", JSONEXTRACT_STRING,
	       "\xc3\xa9t\xc3\xa9");
}

static void test_extract_types(void **state)
{
	/* a status of every other type: distinct from absent, text as written */
	expect("/status", "{\"status\": 3}", JSONEXTRACT_NUMBER, "3");
	expect("/status", "{\"status\": -1.5e3}", JSONEXTRACT_NUMBER, "-1.5e3");
	expect("/status", "{\"status\": false}", JSONEXTRACT_BOOLEAN, "false");
	expect("/status", "{\"status\": null}", JSONEXTRACT_NULL, "null");
	expect("/status", "{\"status\": {\"completed\": 1}}", JSONEXTRACT_OBJECT, "");
	expect("/status", "{\"status\": [\"completed\"]}", JSONEXTRACT_ARRAY, "");
	expect("/status", "{\"status\": \"\"}", JSONEXTRACT_STRING, "");
	expect("/status", "{}", JSONEXTRACT_ABSENT, "");
	expect("/status", "[]", JSONEXTRACT_ABSENT, "");
	assert_string_equal(jsonextract_type_to_string(JSONEXTRACT_OBJECT), "an object");
	assert_string_equal(jsonextract_type_to_string(_JSONEXTRACT_TYPE_MAX), "absent");
}

static void test_extract_duplicates(void **state)
{
	struct jsonextract_value v;

	/* the last value counts, as in most JSON parsers */
	assert_int_equal(extract("/status",
				 "{\"status\": \"running\", \"x\": 1, \"status\": \"completed\"}",
				 0, 64, &v, NULL, 0),
			 0);
	assert_int_equal(v.type, JSONEXTRACT_STRING);
	assert_string_equal(v.text, "completed");
	assert_int_equal(v.n_matches, 2);

	assert_int_equal(extract("/status", "{\"status\": \"completed\", \"status\": {}}", 0, 64,
				 &v, NULL, 0),
			 0);
	assert_int_equal(v.type, JSONEXTRACT_OBJECT);
	assert_string_equal(v.text, "");
}

static void test_extract_hostile(void **state)
{
	struct jsonextract_value v;
	char error[160], *big, *deep;
	size_t n = 200000;

	/* a huge string: cut to the cap on a character boundary */
	big = malloc(n + 64);
	assert_non_null(big);
	size_t off = (size_t)snprintf(big, 64, "{\"status\": \"");
	for (size_t i = 0; i < n; i += 2) {
		memcpy(big + off + i, "\xc3\xa9", 2); /* é */
	}
	memcpy(big + off + n, "\"}", 3);
	assert_int_equal(extract("/status", big, 4096, 64, &v, NULL, 0), 0);
	assert_int_equal(v.type, JSONEXTRACT_STRING);
	assert_true(v.truncated);
	assert_int_equal(strlen(v.text), 62); /* 31 whole é, not 63 bytes */
	free(big);

	/* \u0000 inside */
	assert_int_equal(
		extract("/status", "{\"status\": \"compl\\u0000eted\"}", 0, 64, &v, NULL, 0), 0);
	assert_true(v.has_nul);
	assert_string_equal(v.text, "compl?eted");

	/* invalid UTF-8: the answer is refused */
	assert_int_equal(
		extract("/status", "{\"status\": \"\xff\xfe\"}", 0, 64, &v, error, sizeof(error)),
		-EBADMSG);
	assert_non_null(strstr(error, "UTF8"));
	assert_null(strchr(error, '\n'));

	/* truncated, empty, trailing garbage, two documents */
	assert_int_equal(extract("/status", "{\"status\": \"comp", 0, 64, &v, NULL, 0), -EBADMSG);
	assert_int_equal(extract("/status", "", 0, 64, &v, NULL, 0), -EBADMSG);
	assert_int_equal(extract("/status", "{} x", 0, 64, &v, NULL, 0), -EBADMSG);
	assert_int_equal(extract("/status", "{} {}", 0, 64, &v, NULL, 0), -EBADMSG);

	/* deep nesting: refused past the cap, whatever the pointer */
	size_t depth = JSONEXTRACT_NESTING_MAX + 1;
	deep = malloc(2 * depth + 1);
	assert_non_null(deep);
	memset(deep, '[', depth);
	memset(deep + depth, ']', depth);
	deep[2 * depth] = '\0';
	assert_int_equal(extract("/0/0", deep, 0, 64, &v, error, sizeof(error)), -EBADMSG);
	assert_string_equal(error, "nested deeper than 512 levels");
	/* and accepted at the cap */
	deep[2 * depth - 1] = '\0';
	assert_int_equal(extract("/0/0", deep + 1, 0, 64, &v, NULL, 0), 0);
	assert_int_equal(v.type, JSONEXTRACT_ARRAY);
	free(deep);
}

static void test_extract_several(void **state)
{
	static const char body[] =
		"{\"status\": \"failed\", \"errors\": {\"data\": [{\"message\": \"bad key sk-SECRET here\"}]}}";
	struct jsonptr status, error, whole;
	const struct jsonptr *ptrs[] = { &status, &error, &whole };
	struct jsonextract x = {};

	assert_int_equal(jsonptr_parse("/status", &status, NULL), 0);
	assert_int_equal(jsonptr_parse("/errors/data/0/message", &error, NULL), 0);
	assert_int_equal(jsonptr_parse("", &whole, NULL), 0);

	assert_int_equal(jsonextract_buffer(&x, ptrs, 3, 64, body, strlen(body)), 0);
	assert_null(x.handle);
	assert_string_equal(x.values[0].text, "failed");
	assert_string_equal(x.values[1].text, "bad key sk-SECRET here");
	assert_int_equal(x.values[2].type, JSONEXTRACT_OBJECT);

	/* the key, echoed by the server, is redacted before the copy */
	x = (struct jsonextract){ .secret = "sk-SECRET" };
	assert_int_equal(jsonextract_add(&x, &status, 64), 0);
	assert_int_equal(jsonextract_add(&x, &error, 64), 1);
	assert_int_equal(jsonextract_begin(&x), 0);
	assert_int_equal(jsonextract_feed(&x, body, strlen(body)), 0);
	assert_int_equal(jsonextract_complete(&x), 0);
	jsonextract_done(&x);
	jsonextract_done(&x);
	assert_string_equal(x.values[1].text, "bad key " REDACTED " here");

	/* also when the key is cut across chunks, and in a number */
	static const char numbers[] =
		"{\"status\": 1234567, \"errors\": {\"data\": [{\"message\": \"sk-SECRET\"}]}}";
	x = (struct jsonextract){ .secret = "sk-SECRET" };
	assert_int_equal(jsonextract_add(&x, &error, 64), 0);
	assert_int_equal(jsonextract_begin(&x), 0);
	for (size_t i = 0; i < strlen(numbers); i++) {
		assert_int_equal(jsonextract_feed(&x, numbers + i, 1), 0);
	}
	assert_int_equal(jsonextract_complete(&x), 0);
	jsonextract_done(&x);
	assert_string_equal(x.values[0].text, REDACTED);
	x = (struct jsonextract){ .secret = "345" };
	assert_int_equal(jsonextract_add(&x, &status, 64), 0);
	assert_int_equal(jsonextract_begin(&x), 0);
	assert_int_equal(jsonextract_feed(&x, numbers, strlen(numbers)), 0);
	assert_int_equal(jsonextract_complete(&x), 0);
	jsonextract_done(&x);
	assert_int_equal(x.values[0].type, JSONEXTRACT_NUMBER);
	assert_string_equal(x.values[0].text, "12" REDACTED "67");

	/* limits of add() */
	x = (struct jsonextract){};
	for (int i = 0; i < JSONEXTRACT_POINTERS_MAX; i++) {
		assert_int_equal(jsonextract_add(&x, &status, 2), i);
	}
	assert_int_equal(jsonextract_add(&x, &status, 2), -E2BIG);
	x = (struct jsonextract){};
	assert_int_equal(jsonextract_add(&x, &status, 1), -EINVAL);
	assert_int_equal(jsonextract_add(&x, &status, JSONEXTRACT_VALUE_MAX + 1), -EINVAL);
	/* feed before begin */
	assert_int_equal(jsonextract_feed(&x, "{}", 2), -EINVAL);

	jsonptr_done(&status);
	jsonptr_done(&error);
	jsonptr_done(&whole);
}

/* The matcher on its own, without yajl: events by hand. */
static void test_matcher_events(void **state)
{
	struct jsonptr p;
	struct jsonptr_matcher m;

	/* {"a": [{"b": 1}, {"b": 2}]} with /a/1/b */
	assert_int_equal(jsonptr_parse("/a/1/b", &p, NULL), 0);
	jsonptr_matcher_init(&m, &p);
	assert_false(jsonptr_matcher_start(&m, false));
	jsonptr_matcher_key(&m, "a", 1);
	assert_false(jsonptr_matcher_start(&m, true));
	assert_false(jsonptr_matcher_start(&m, false));
	jsonptr_matcher_key(&m, "b", 1);
	assert_false(jsonptr_matcher_scalar(&m));
	jsonptr_matcher_end(&m);
	assert_false(jsonptr_matcher_start(&m, false));
	jsonptr_matcher_key(&m, "b", 1);
	assert_true(jsonptr_matcher_scalar(&m));
	jsonptr_matcher_end(&m);
	jsonptr_matcher_end(&m);
	jsonptr_matcher_end(&m);
	assert_int_equal(m.depth, 0);
	assert_int_equal(m.on_path, 0);
	/* unbalanced ends are harmless */
	jsonptr_matcher_end(&m);
	assert_int_equal(m.depth, 0);
	/* the key with an embedded NUL does not match "b" */
	assert_false(jsonptr_matcher_start(&m, false));
	jsonptr_matcher_key(&m, "a\0", 2);
	assert_false(jsonptr_matcher_start(&m, true));
	jsonptr_done(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_valid),
		cmocka_unit_test(test_parse_invalid),
		cmocka_unit_test(test_copy),
		cmocka_unit_test(test_extract_rfc6901),
		cmocka_unit_test(test_extract_paths),
		cmocka_unit_test(test_extract_types),
		cmocka_unit_test(test_extract_duplicates),
		cmocka_unit_test(test_extract_hostile),
		cmocka_unit_test(test_extract_several),
		cmocka_unit_test(test_matcher_events),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
