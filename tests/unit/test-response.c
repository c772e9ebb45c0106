/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "macro.h"
#include "response.h"
#include "test-helpers.h"

#define JOB_ID "3c90c3cc-0d44-4b50-8888-8dd25736052a"
#define ELLIPSIS "\xe2\x80\xa6"

/* A body given with its length, so that it may hold NUL bytes. */
#define BODY(s) { s, sizeof(s) - 1 }
struct body {
	const char *data;
	size_t len;
};

/* Real answers and error shapes (DIFY.md), plus pieces that stress the parser. */
static const struct body bodies[] = {
	BODY("{\"job_id\": \"" JOB_ID "\", \"job_status\": \"waiting\"}"),
	BODY("{\"job_id\": \"" JOB_ID "\", \"job_status\": \"waiting\", \"error_msg\": \"\"}"),
	BODY("{\"job_id\": \"" JOB_ID "\", \"job_status\": \"completed\", \"error_msg\": \"\"}"),
	BODY("{\"job_id\": \"" JOB_ID
	     "\", \"job_status\": \"error\", \"error_msg\": \"Embedding failed: \\u00e9\\ud83d\\ude00\\n\\\"x\\\"\"}"),
	BODY("{\"code\": \"invalid_param\", \"message\": \"The job does not exist.\", \"status\": 400}"),
	BODY("{\"code\": \"not_found\", \"message\": \"The job does not exist.\", \"status\": 404}"),
	BODY("{\"code\": \"unauthorized\", \"message\": \"Access token is invalid\", \"status\": 401}"),
	BODY("{\"code\": \"unknown\", \"message\": \"Internal Server Error\", \"status\": 500}"),
	BODY("<!doctype html>\n<title>404 Not Found</title>"),
	BODY("{\"data\": {\"job_status\": \"completed\", \"x\": [1, 2, {\"job_id\": \"n\"}]}, \"job_status\": \"waiting\"}"),
	BODY("[{\"job_status\": \"completed\"}, \"job_status\", 1.5e10, true, false, null]"),
	BODY("{\"job_status\": 1, \"job_id\": null, \"status\": \"400\", \"code\": 5, \"message\": [], \"error_msg\": {}}"),
	BODY("{\"job_status\": \"waiting\", \"job_status\": \"completed\", \"status\": -17, \"status\": 1e2}"),
	BODY("{\"error_msg\": \"a\\u0000b\", \"job_id\": \"\\u0000\", \"job_status\": \"x\\u0000\"}"),
	BODY("  \r\n\t{ \"job_status\" :\n\"completed\" }\n\n  "),
	BODY("{\"job_status\": \"completed\"} {}"),
	BODY("{\"job_status\": \"completed\""),
	BODY("{\"job_status\": \"compl\xff\xfe\"}"),
	BODY("{\"job_status\": \"completed\",}"),
	BODY("{\"status\": 99999999999999999999999, \"code\": \"c\"}"),
	BODY("{\"a\": \"\\u12\"}"),
	BODY("nul"),
	BODY("\"just a string \\\\ \\/ \\b\\f\\r\\t\""),
	BODY("-12.5e-3"),
	BODY("{\"job_status\": \"completed\"}\0"),
};

/* --- helpers --- */

static int parse_chunks(const void *data, size_t len, const size_t *cuts, size_t n_cuts,
			struct response *ret)
{
	struct response_parser *p = calloc(1, sizeof(*p));
	const char *d = data;
	size_t prev = 0;
	int r, rf;

	assert_non_null(p);
	assert_int_equal(response_parser_begin(p), 0);
	r = 0;
	for (size_t i = 0; i <= n_cuts; i++) {
		size_t end = i < n_cuts ? cuts[i] : len;
		int rr = response_parser_feed(p, d + prev, end - prev);
		assert_true(rr == 0 || rr == -EBADMSG);
		/* once failed, it stays failed */
		if (r < 0) {
			assert_int_equal(rr, -EBADMSG);
		}
		r = rr < 0 ? rr : r;
		prev = end;
	}
	rf = response_parser_complete(p);
	if (r < 0) {
		assert_int_equal(rf, -EBADMSG);
	}
	r = rf;
	if (r < 0) {
		/* an error message, on one line */
		assert_true(p->error[0] != '\0');
		assert_null(strchr(p->error, '\n'));
	}
	*ret = p->result;
	response_parser_done(p);
	assert_null(p->handle);
	free(p);
	return r;
}

/* Field by field, so that a failure names what differs. */
static void assert_response_equal(const struct response *a, const struct response *b,
				  const char *what)
{
#define CMP_FIELD(f)                                                                               \
	if (a->f != b->f) {                                                                        \
		print_error("%s: " #f " %" PRId64 " != %" PRId64 "\n", what, (int64_t)a->f,        \
			    (int64_t)b->f);                                                        \
		fail();                                                                            \
	}
#define CMP_STR(f)                                                                                 \
	if (strcmp(a->f, b->f) != 0) {                                                             \
		print_error("%s: " #f " '%s' != '%s'\n", what, a->f, b->f);                        \
		fail();                                                                            \
	}
	CMP_FIELD(is_object);
	CMP_FIELD(bad_shape);
	CMP_FIELD(has_job_id);
	CMP_FIELD(has_job_status);
	CMP_FIELD(has_error_msg);
	CMP_FIELD(has_code);
	CMP_FIELD(has_message);
	CMP_FIELD(has_status);
	CMP_FIELD(error_msg_truncated);
	CMP_FIELD(status);
	CMP_STR(job_id);
	CMP_STR(job_status);
	CMP_STR(code);
	CMP_STR(message);
	CMP_STR(error_msg);
#undef CMP_FIELD
#undef CMP_STR
	assert_memory_equal(a, b, sizeof(*a));
}

static int parse(const void *data, size_t len, struct response *ret)
{
	char error[256] = "unset";
	int r = response_parse(data, len, ret, error, sizeof(error));

	if (r == 0) {
		assert_string_equal(error, "");
	} else {
		assert_int_equal(r, -EBADMSG);
		assert_true(error[0] != '\0');
		assert_null(strchr(error, '\n'));
	}
	return r;
}

static int parse_str(const char *s, struct response *ret)
{
	return parse(s, strlen(s), ret);
}

/* Every string field is NUL-terminated within its cap. */
static void assert_strings_sane(const struct response *r)
{
	assert_true(strnlen(r->job_id, sizeof(r->job_id)) < sizeof(r->job_id));
	assert_true(strnlen(r->job_status, sizeof(r->job_status)) < sizeof(r->job_status));
	assert_true(strnlen(r->code, sizeof(r->code)) < sizeof(r->code));
	assert_true(strnlen(r->message, sizeof(r->message)) < sizeof(r->message));
	assert_true(strnlen(r->error_msg, sizeof(r->error_msg)) < sizeof(r->error_msg));
}

/* --- real answers --- */

static void test_status_answers(void **state)
{
	struct response r;

	assert_int_equal(parse_str("{\"job_id\": \"" JOB_ID "\", \"job_status\": \"waiting\"}", &r),
			 0);
	assert_true(r.is_object);
	assert_false(r.bad_shape);
	assert_true(r.has_job_id);
	assert_string_equal(r.job_id, JOB_ID);
	assert_true(r.has_job_status);
	assert_string_equal(r.job_status, "waiting");
	assert_false(r.has_error_msg);
	assert_string_equal(r.error_msg, "");
	assert_false(r.has_code);
	assert_false(r.has_message);
	assert_false(r.has_status);
	assert_int_equal(r.status, 0);

	assert_int_equal(
		parse_str("{\"job_id\": \"" JOB_ID
			  "\", \"job_status\": \"error\", \"error_msg\": \"Model quota exceeded\"}",
			  &r),
		0);
	assert_false(r.bad_shape);
	assert_string_equal(r.job_status, "error");
	assert_true(r.has_error_msg);
	assert_false(r.error_msg_truncated);
	assert_string_equal(r.error_msg, "Model quota exceeded");

	assert_int_equal(parse_str("{\"job_id\":\"" JOB_ID
				   "\",\"job_status\":\"completed\",\"error_msg\":\"\"}",
				   &r),
			 0);
	assert_string_equal(r.job_status, "completed");
	assert_true(r.has_error_msg);
	assert_string_equal(r.error_msg, "");
}

static void test_error_answers(void **state)
{
	static const struct {
		const char *body, *code, *message;
		int64_t status;
	} table[] = {
		{ "{\"code\": \"invalid_param\", \"message\": \"The job does not exist.\", \"status\": 400}",
		  "invalid_param", "The job does not exist.", 400 },
		{ "{\"code\": \"not_found\", \"message\": \"The job does not exist.\", \"status\": 404}",
		  "not_found", "The job does not exist.", 404 },
		{ "{\"code\": \"unauthorized\", \"message\": \"Access token is invalid\", \"status\": 401}",
		  "unauthorized", "Access token is invalid", 401 },
		{ "{\"code\": \"too_many_requests\", \"message\": \"Too many requests\", \"status\": 429}",
		  "too_many_requests", "Too many requests", 429 },
		{ "{\"code\": \"unknown\", \"message\": \"Internal Server Error\", \"status\": 500}",
		  "unknown", "Internal Server Error", 500 },
		{ "{\"status\": 404, \"message\": \"The requested URL was not found on the server.\", \"code\": \"not_found\"}",
		  "not_found", "The requested URL was not found on the server.", 404 },
	};

	for (size_t i = 0; i < ELEMENTSOF(table); i++) {
		struct response r;

		assert_int_equal(parse_str(table[i].body, &r), 0);
		assert_true(r.is_object);
		assert_false(r.bad_shape);
		assert_true(r.has_code);
		assert_string_equal(r.code, table[i].code);
		assert_true(r.has_message);
		assert_string_equal(r.message, table[i].message);
		assert_true(r.has_status);
		assert_int_equal(r.status, table[i].status);
		assert_false(r.has_job_status);
		assert_false(r.has_job_id);
		assert_false(r.has_error_msg);
	}
}

/* --- top-level keys only --- */

static void test_nested_keys_ignored(void **state)
{
	static const char *const bodies_nested[] = {
		"{\"data\": {\"job_status\": \"completed\", \"job_id\": \"x\", \"status\": 1}}",
		"{\"data\": [{\"job_status\": \"completed\"}]}",
		"{\"a\": {\"b\": {\"c\": {\"job_status\": \"completed\", \"message\": \"m\"}}}}",
		"{\"list\": [\"job_status\", \"completed\"]}",
		"[{\"job_status\": \"completed\"}]",
		"[\"job_status\", \"completed\"]",
		"{\"error\": {\"code\": \"not_found\", \"message\": \"The job does not exist.\"}}",
	};

	for (size_t i = 0; i < ELEMENTSOF(bodies_nested); i++) {
		struct response r;

		assert_int_equal(parse_str(bodies_nested[i], &r), 0);
		assert_false(r.has_job_status);
		assert_false(r.has_job_id);
		assert_false(r.has_status);
		assert_false(r.has_code);
		assert_false(r.has_message);
		assert_false(r.bad_shape);
		assert_string_equal(r.job_status, "");
	}
}

/* A nested key of the same name neither sets nor clobbers the top-level one. */
static void test_nested_and_top_level(void **state)
{
	struct response r;

	assert_int_equal(
		parse_str("{\"job_status\": \"waiting\", \"data\": {\"job_status\": "
			  "\"completed\", \"error_msg\": \"inner\"}, \"error_msg\": \"outer\"}",
			  &r),
		0);
	assert_true(r.has_job_status);
	assert_string_equal(r.job_status, "waiting");
	assert_string_equal(r.error_msg, "outer");
	assert_false(r.bad_shape);

	/* after a nested container closes, the next top-level key counts again */
	assert_int_equal(
		parse_str("{\"x\": [[{}], {\"y\": [1]}], \"job_status\": \"waiting\"}", &r), 0);
	assert_string_equal(r.job_status, "waiting");
	assert_false(r.bad_shape);

	/* a key whose value was a container does not hand its role to a later scalar */
	assert_int_equal(parse_str("{\"message\": [\"a\"], \"other\": \"b\"}", &r), 0);
	assert_false(r.has_message);
	assert_string_equal(r.message, "");
}

static void test_top_level_not_object(void **state)
{
	static const char *const values[] = { "[]",
					      "[1, 2]",
					      "[{}]",
					      "[{\"job_status\": \"completed\"}]",
					      "\"completed\"",
					      "0",
					      "-1.5e3",
					      "true",
					      "false",
					      "null" };

	for (size_t i = 0; i < ELEMENTSOF(values); i++) {
		struct response r;

		assert_int_equal(parse_str(values[i], &r), 0);
		assert_false(r.is_object);
		assert_false(r.bad_shape);
		assert_false(r.has_job_status);
	}
}

static void test_unrecognised_keys(void **state)
{
	static const char *const keys[] = { "job_statu",  "job_status_", "JOB_STATUS",
					    "Job_Status", " job_status", "job_status\\u0000",
					    "jobstatus" };

	for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
		char body[128];
		struct response r;

		snprintf(body, sizeof(body), "{\"%s\": \"completed\"}", keys[i]);
		assert_int_equal(parse_str(body, &r), 0);
		assert_true(r.is_object);
		assert_false(r.has_job_status);
		assert_false(r.bad_shape);
	}
}

/* --- wrong types --- */

static void test_wrong_types(void **state)
{
	static const char *const values[] = { "1",
					      "-2.5",
					      "null",
					      "true",
					      "false",
					      "[]",
					      "[\"completed\"]",
					      "{}",
					      "{\"v\": \"completed\"}" };

	for (size_t i = 0; i < ELEMENTSOF(values); i++) {
		char body[128];
		struct response r;

		snprintf(body, sizeof(body), "{\"job_status\": %s}", values[i]);
		assert_int_equal(parse_str(body, &r), 0);
		assert_true(r.is_object);
		assert_true(r.bad_shape);
		assert_false(r.has_job_status);

		snprintf(body, sizeof(body), "{\"job_id\": %s, \"job_status\": \"completed\"}",
			 values[i]);
		assert_int_equal(parse_str(body, &r), 0);
		assert_true(r.bad_shape);
		assert_false(r.has_job_id);
		assert_true(r.has_job_status);
	}

	/* a status that is a string is ignored, not a bad shape: a 200 may carry
	 * "status": "ok" next to its job_status */
	struct response r;
	assert_int_equal(parse_str("{\"status\": \"404\"}", &r), 0);
	assert_false(r.bad_shape);
	assert_false(r.has_status);
	assert_int_equal(parse_str("{\"status\": \"ok\", \"job_status\": \"completed\"}", &r), 0);
	assert_false(r.bad_shape);
	assert_true(r.has_job_status);
	assert_string_equal(r.job_status, "completed");

	/* the other string keys are simply absent when not strings */
	assert_int_equal(
		parse_str("{\"code\": 1, \"message\": [\"m\"], \"error_msg\": {\"a\": \"b\"}}", &r),
		0);
	assert_false(r.has_code);
	assert_false(r.has_message);
	assert_false(r.has_error_msg);
	assert_string_equal(r.code, "");
	assert_string_equal(r.message, "");
	assert_string_equal(r.error_msg, "");
}

/* --- numbers for "status" --- */

static void test_status_numbers(void **state)
{
	static const struct {
		const char *num;
		bool ok;
		int64_t v;
	} table[] = {
		{ "400", true, 400 },
		{ "0", true, 0 },
		{ "-0", true, 0 },
		{ "-1", true, -1 },
		{ "9223372036854775807", true, INT64_MAX },
		{ "-9223372036854775808", true, INT64_MIN },
		{ "9223372036854775808", false, 0 },
		{ "-9223372036854775809", false, 0 },
		{ "123456789012345678901234567890", false, 0 },
		{ "400.0", false, 0 },
		{ "4e2", false, 0 },
		{ "4E+2", false, 0 },
		{ "0.5", false, 0 },
	};

	for (size_t i = 0; i < ELEMENTSOF(table); i++) {
		char body[128];
		struct response r;

		snprintf(body, sizeof(body), "{\"status\": %s}", table[i].num);
		assert_int_equal(parse_str(body, &r), 0);
		if (r.has_status != table[i].ok || r.status != table[i].v) {
			print_error("status %s: has %d value %" PRId64 "\n", table[i].num,
				    r.has_status, r.status);
		}
		assert_int_equal(r.has_status, table[i].ok);
		assert_int_equal(r.status, table[i].v);
		assert_false(r.bad_shape);
	}

	/* a number under another key is not a status */
	struct response r;
	assert_int_equal(parse_str("{\"code\": 404, \"error_msg\": 1, \"x\": {\"status\": 7}}", &r),
			 0);
	assert_false(r.has_status);
	assert_false(r.bad_shape);
}

/* --- strings: escapes, caps, NULs --- */

static void test_escapes_decoded(void **state)
{
	struct response r;

	assert_int_equal(parse_str("{\"error_msg\": \"\\u00e9\\ud83d\\ude00 \\\"q\\\" \\\\ \\/ "
				   "\\b\\f\\n\\r\\t\\u0041\"}",
				   &r),
			 0);
	assert_string_equal(r.error_msg, "\xc3\xa9\xf0\x9f\x98\x80 \"q\" \\ / \b\f\n\r\tA");
	assert_false(r.error_msg_truncated);
}

static void test_embedded_nul(void **state)
{
	struct response r;

	/* in free text a NUL becomes '?', so the C string stays whole */
	assert_int_equal(
		parse_str("{\"error_msg\": \"a\\u0000b\\u0000\", \"message\": \"\\u0000x\", "
			  "\"code\": \"c\\u0000\", \"job_id\": \"i\\u0000d\"}",
			  &r),
		0);
	assert_true(r.has_error_msg);
	assert_string_equal(r.error_msg, "a?b?");
	assert_string_equal(r.message, "?x");
	assert_string_equal(r.code, "c?");
	assert_true(r.has_job_id);
	assert_string_equal(r.job_id, "i?d");
	assert_false(r.bad_shape);

	/* a status with a NUL is no status */
	assert_int_equal(parse_str("{\"job_status\": \"completed\\u0000\"}", &r), 0);
	assert_false(r.has_job_status);
	assert_true(r.bad_shape);
	assert_int_equal(parse_str("{\"job_status\": \"\\u0000\"}", &r), 0);
	assert_false(r.has_job_status);
	assert_true(r.bad_shape);

	/* a raw NUL byte is not JSON at all */
	static const char raw[] = "{\"job_status\": \"compl\0eted\"}";
	assert_int_equal(parse(raw, sizeof(raw) - 1, &r), -EBADMSG);
	static const char after[] = "{\"job_status\": \"completed\"}\0";
	assert_int_equal(parse(after, sizeof(after) - 1, &r), -EBADMSG);
}

static char *repeat(const char *unit, size_t times, const char *prefix, const char *suffix)
{
	size_t ul = strlen(unit), pl = strlen(prefix), sl = strlen(suffix);
	char *s = malloc(pl + ul * times + sl + 1);

	assert_non_null(s);
	memcpy(s, prefix, pl);
	for (size_t i = 0; i < times; i++) {
		memcpy(s + pl + i * ul, unit, ul);
	}
	memcpy(s + pl + ul * times, suffix, sl + 1);
	return s;
}

/* job_id and job_status longer than their field are not values at all. */
static void test_short_field_caps(void **state)
{
	const size_t max = RESPONSE_SHORT_MAX - 1;
	struct response r;
	char *b;

	b = repeat("s", max, "{\"job_status\": \"", "\", \"job_id\": \"\"}");
	assert_int_equal(parse_str(b, &r), 0);
	assert_true(r.has_job_status);
	assert_int_equal(strlen(r.job_status), max);
	assert_true(r.has_job_id);
	assert_string_equal(r.job_id, "");
	assert_false(r.bad_shape);
	free(b);

	b = repeat("s", max + 1, "{\"job_status\": \"", "\"}");
	assert_int_equal(parse_str(b, &r), 0);
	assert_false(r.has_job_status);
	assert_true(r.bad_shape);
	free(b);

	b = repeat("i", max, "{\"job_id\": \"", "\"}");
	assert_int_equal(parse_str(b, &r), 0);
	assert_true(r.has_job_id);
	assert_int_equal(strlen(r.job_id), max);
	assert_false(r.bad_shape);
	free(b);

	b = repeat("i", 5000, "{\"job_id\": \"", "\", \"job_status\": \"waiting\"}");
	assert_int_equal(parse_str(b, &r), 0);
	assert_false(r.has_job_id);
	assert_true(r.bad_shape);
	assert_true(r.has_job_status);
	free(b);

	/* code is cut, silently, on a character boundary */
	b = repeat("\xc3\xa9", 40, "{\"code\": \"", "\"}");
	assert_int_equal(parse_str(b, &r), 0);
	assert_true(r.has_code);
	assert_int_equal(strlen(r.code), 62); /* 31 two-byte characters */
	assert_true(test_utf8_valid(r.code));
	assert_false(r.bad_shape);
	free(b);
}

static void test_message_cap(void **state)
{
	struct response r;
	char *b;

	b = repeat("m", RESPONSE_MESSAGE_MAX - 1, "{\"message\": \"", "\"}");
	assert_int_equal(parse_str(b, &r), 0);
	assert_int_equal(strlen(r.message), RESPONSE_MESSAGE_MAX - 1);
	free(b);

	b = repeat("m", 10000, "{\"message\": \"", "\"}");
	assert_int_equal(parse_str(b, &r), 0);
	assert_true(r.has_message);
	assert_int_equal(strlen(r.message), RESPONSE_MESSAGE_MAX - 1);
	assert_int_equal(r.message[0], 'm');
	free(b);

	/* 3-byte characters: 255 = 85 * 3, so nothing is cut in half */
	b = repeat("\xe2\x82\xac", 100, "{\"message\": \"", "\"}");
	assert_int_equal(parse_str(b, &r), 0);
	assert_int_equal(strlen(r.message), 255);
	assert_true(test_utf8_valid(r.message));
	free(b);

	/* 4-byte characters: 255 would split the 64th, keep 63 */
	b = repeat("\xf0\x9f\x98\x80", 100, "{\"message\": \"", "\"}");
	assert_int_equal(parse_str(b, &r), 0);
	assert_int_equal(strlen(r.message), 252);
	assert_true(test_utf8_valid(r.message));
	free(b);
}

static void check_error_msg(const char *prefix, const char *unit, size_t times, size_t want_len,
			    bool truncated)
{
	static const char head[] = "{\"job_status\": \"error\", \"error_msg\": \"";
	struct response r;
	/* the text the server meant, and the body that carries it */
	char *expect = repeat(unit, times, prefix, "");
	size_t n = sizeof(head) + strlen(expect) + 2;
	char *b = malloc(n);

	assert_non_null(b);
	snprintf(b, n, "%s%s\"}", head, expect);

	assert_int_equal(parse_str(b, &r), 0);
	assert_true(r.has_error_msg);
	assert_int_equal(r.error_msg_truncated, truncated);
	if (strlen(r.error_msg) != want_len) {
		print_error("error_msg of %zu x '%s': length %zu, expected %zu\n", times, unit,
			    strlen(r.error_msg), want_len);
		fail();
	}
	assert_true(test_utf8_valid(r.error_msg));
	if (truncated) {
		size_t kept = want_len - strlen(ELLIPSIS);
		assert_string_equal(r.error_msg + kept, ELLIPSIS);
		assert_memory_equal(r.error_msg, expect, kept);
	} else {
		assert_string_equal(r.error_msg, expect);
	}
	free(expect);
	free(b);
}

static void test_error_msg_cap(void **state)
{
	const size_t max = RESPONSE_ERROR_MAX - 1; /* 1023 bytes of text */

	check_error_msg("", "e", max, max, false);
	check_error_msg("", "e", max + 1, max, true); /* 1020 bytes and the ellipsis */
	check_error_msg("", "e", 60000, max, true);
	/* 1021 + 2 bytes fit exactly */
	check_error_msg("", "\xc3\xa9", 1, 2, false);
	{
		char *pre = repeat("a", 1021, "", "");
		check_error_msg(pre, "\xc3\xa9", 1, max, false);
		free(pre);
		/* 1022 + 2 bytes: cut before the é, then room for the ellipsis */
		pre = repeat("a", 1022, "", "");
		check_error_msg(pre, "\xc3\xa9", 1, max, true);
		free(pre);
	}
	/* 2-, 3- and 4-byte characters: 510 é, 340 €, 255 😀, each plus the ellipsis */
	check_error_msg("", "\xc3\xa9", 600, 1020 + 3, true);
	check_error_msg("", "\xe2\x82\xac", 500, 1020 + 3, true);
	check_error_msg("", "\xf0\x9f\x98\x80", 400, 1020 + 3, true);
	/* odd offsets: "x" then 2-byte characters; the ellipsis must not split one */
	check_error_msg("x", "\xc3\xa9", 600, 1019 + 3, true);
	check_error_msg("xy", "\xf0\x9f\x98\x80", 400, 1018 + 3, true);
}

/* --- malformed input --- */

static void test_malformed(void **state)
{
	static const struct body bad[] = {
		BODY(""),
		BODY(" "),
		BODY("\n\t\r "),
		BODY("{"),
		BODY("}"),
		BODY("{\"job_status\""),
		BODY("{\"job_status\":"),
		BODY("{\"job_status\": \"completed\""),
		BODY("{\"job_status\": \"completed"),
		BODY("{\"job_status\": \"completed\",}"),
		BODY("{\"job_status\": \"completed\"}}"),
		BODY("{\"job_status\": \"completed\"} {}"),
		BODY("{\"job_status\": \"completed\"}x"),
		BODY("{} []"),
		BODY("{,}"),
		BODY("{\"a\" 1}"),
		BODY("{\"a\":}"),
		BODY("{1: 2}"),
		BODY("{'job_status': 'completed'}"),
		BODY("[1, 2,]"),
		BODY("[1 2]"),
		BODY("nul"),
		BODY("tru"),
		BODY("True"),
		BODY("NaN"),
		BODY("Infinity"),
		BODY("01"),
		BODY("-"),
		BODY("1."),
		BODY(".5"),
		BODY("+1"),
		BODY("0x10"),
		BODY("\"abc"),
		BODY("\"a\\x\""),
		BODY("\"\\u12\""),
		BODY("\"\\u12g4\""),
		BODY("\"tab\there\""),
		BODY("\"nl\nhere\""),
		BODY("\"\xff\""),
		BODY("\"\xc3\""),
		BODY("{\"job_status\": \"compl\xe9ted\"}"),
		BODY("// comment\n{}"),
		BODY("/* c */ {}"),
		BODY("\xef\xbb\xbf{}"),
		BODY("<!doctype html><html><body>Not Found</body></html>"),
		BODY("\0"),
		BODY("{}\0"),
	};

	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		struct response r;
		int rr = parse(bad[i].data, bad[i].len, &r);

		if (rr != -EBADMSG) {
			print_error("body #%zu '%.*s' parsed\n", i, (int)bad[i].len, bad[i].data);
		}
		assert_int_equal(rr, -EBADMSG);
		assert_strings_sane(&r);
	}
}

static void test_valid_odd(void **state)
{
	static const char *const good[] = {
		"{}",
		" {} ",
		"\n{}\n\n",
		"[]",
		"null",
		"0",
		"\"\"",
		"{\"\": 1}",
		"[[[[]]]]",
		"{\"a\": {\"b\": {}}}",
		"\"\\ud800\\udc00\"",
		"1e308",
		"-0.0e-0",
	};

	for (size_t i = 0; i < ELEMENTSOF(good); i++) {
		struct response r;
		int rr = parse_str(good[i], &r);

		if (rr != 0) {
			print_error("body '%s' did not parse\n", good[i]);
		}
		assert_int_equal(rr, 0);
	}
}

/* --- chunking --- */

/* Every split point, and every pair of split points of short bodies, gives the
 * result of one chunk. */
static void test_every_split(void **state)
{
	for (size_t b = 0; b < ELEMENTSOF(bodies); b++) {
		const char *d = bodies[b].data;
		size_t len = bodies[b].len;
		struct response whole, part;
		int rw = parse_chunks(d, len, NULL, 0, &whole);

		assert_strings_sane(&whole);
		for (size_t i = 0; i <= len; i++) {
			size_t cut[1] = { i };
			int rp = parse_chunks(d, len, cut, 1, &part);

			if (rp != rw) {
				print_error("body #%zu split at %zu: %d, whole: %d\n", b, i, rp,
					    rw);
			}
			assert_int_equal(rp, rw);
			assert_response_equal(&part, &whole, "split");
		}
		if (len > 80) {
			continue;
		}
		for (size_t i = 0; i <= len; i++) {
			for (size_t j = i; j <= len; j++) {
				size_t cuts[2] = { i, j };
				int rp = parse_chunks(d, len, cuts, 2, &part);

				assert_int_equal(rp, rw);
				assert_response_equal(&part, &whole, "split2");
			}
		}
	}
}

static void test_byte_by_byte(void **state)
{
	for (size_t b = 0; b < ELEMENTSOF(bodies); b++) {
		const char *d = bodies[b].data;
		size_t len = bodies[b].len;
		size_t *cuts = calloc(len + 1, sizeof(size_t));
		struct response whole, part;
		int rw, rp;

		assert_non_null(cuts);
		for (size_t i = 0; i < len; i++) {
			cuts[i] = i + 1;
		}
		rw = parse_chunks(d, len, NULL, 0, &whole);
		rp = parse_chunks(d, len, cuts, len, &part);
		assert_int_equal(rp, rw);
		assert_response_equal(&part, &whole, "byte by byte");
		free(cuts);
	}
}

/* Expected results of some of the bodies above, so that "same as whole" is
 * anchored to the right answer. */
static void test_bodies_expected(void **state)
{
	struct response r;

	assert_int_equal(parse(bodies[3].data, bodies[3].len, &r), 0);
	assert_string_equal(r.job_status, "error");
	assert_string_equal(r.error_msg, "Embedding failed: \xc3\xa9\xf0\x9f\x98\x80\n\"x\"");

	assert_int_equal(parse(bodies[9].data, bodies[9].len, &r), 0);
	assert_string_equal(r.job_status, "waiting");
	assert_false(r.has_job_id);

	assert_int_equal(parse(bodies[11].data, bodies[11].len, &r), 0);
	assert_true(r.bad_shape);
	assert_false(r.has_job_status);
	assert_false(r.has_job_id);
	assert_false(r.has_status);

	assert_int_equal(parse(bodies[13].data, bodies[13].len, &r), 0);
	assert_string_equal(r.error_msg, "a?b");
	assert_string_equal(r.job_id, "?");
	assert_false(r.has_job_status);
	assert_true(r.bad_shape);

	assert_int_equal(parse(bodies[14].data, bodies[14].len, &r), 0);
	assert_string_equal(r.job_status, "completed");

	assert_int_equal(parse(bodies[19].data, bodies[19].len, &r), 0);
	assert_false(r.has_status);
	assert_string_equal(r.code, "c");

	for (size_t i = 15; i <= 18; i++) {
		assert_int_equal(parse(bodies[i].data, bodies[i].len, &r), -EBADMSG);
	}
	assert_int_equal(parse(bodies[24].data, bodies[24].len, &r), -EBADMSG);
}

/* Empty chunks anywhere change nothing. */
static void test_empty_chunks(void **state)
{
	static const char body[] = "{\"job_status\": \"completed\"}";
	struct response_parser *p = calloc(1, sizeof(*p));

	assert_non_null(p);
	assert_int_equal(response_parser_begin(p), 0);
	assert_int_equal(response_parser_feed(p, body, 0), 0);
	assert_int_equal(response_parser_feed(p, body, 10), 0);
	assert_int_equal(response_parser_feed(p, body + 10, 0), 0);
	assert_int_equal(response_parser_feed(p, body + 10, sizeof(body) - 11), 0);
	assert_int_equal(response_parser_feed(p, body, 0), 0);
	assert_int_equal(response_parser_complete(p), 0);
	assert_string_equal(p->result.job_status, "completed");
	response_parser_done(p);

	/* no chunk at all is an empty body */
	assert_int_equal(response_parser_begin(p), 0);
	assert_int_equal(response_parser_complete(p), -EBADMSG);
	assert_true(p->error[0] != '\0');
	response_parser_done(p);
	free(p);
}

/* --- large bodies: the arena overflows into malloc --- */

static void check_large(const char *body, size_t len, const char *status)
{
	/* Not 1: yajl re-lexes a token that spans chunks from its start, so tiny
	 * chunks of a long string cost O(n^2); test_byte_by_byte covers them. */
	static const size_t chunk_sizes[] = { 61, 1000, 4096, 16384, 65536 };
	struct response whole, part;

	assert_int_equal(parse(body, len, &whole), 0);
	assert_string_equal(whole.job_status, status);
	for (size_t c = 0; c < ELEMENTSOF(chunk_sizes); c++) {
		size_t n = (len + chunk_sizes[c] - 1) / chunk_sizes[c];
		size_t *cuts = calloc(n + 1, sizeof(size_t));

		assert_non_null(cuts);
		for (size_t i = 0; i + 1 < n; i++) {
			cuts[i] = (i + 1) * chunk_sizes[c];
		}
		assert_int_equal(parse_chunks(body, len, cuts, n > 0 ? n - 1 : 0, &part), 0);
		assert_response_equal(&part, &whole, "large");
		free(cuts);
	}
}

static void test_large_bodies(void **state)
{
	const size_t big = RESPONSE_BODY_MAX - 200;
	struct response r;
	char *b;

	/* one long unknown string before the status */
	b = repeat("x", big, "{\"padding\": \"", "\", \"job_status\": \"completed\"}");
	assert_true(strlen(b) < RESPONSE_BODY_MAX);
	check_large(b, strlen(b), "completed");
	free(b);

	/* a long error_msg: cut to its cap */
	b = repeat("\xe2\x82\xac", big / 3, "{\"job_status\": \"error\", \"error_msg\": \"", "\"}");
	check_large(b, strlen(b), "error");
	assert_int_equal(parse_str(b, &r), 0);
	assert_true(r.error_msg_truncated);
	assert_int_equal(strlen(r.error_msg), 1023);
	free(b);

	/* a long key, and many escapes (decoded in a separate buffer) */
	b = repeat("k", big, "{\"", "\": 1, \"job_status\": \"waiting\"}");
	check_large(b, strlen(b), "waiting");
	free(b);
	b = repeat("\\u00e9", big / 6, "{\"error_msg\": \"", "\", \"job_status\": \"waiting\"}");
	check_large(b, strlen(b), "waiting");
	assert_int_equal(parse_str(b, &r), 0);
	assert_true(r.error_msg_truncated);
	assert_true(test_utf8_valid(r.error_msg));
	free(b);

	/* many small values */
	b = repeat("{\"job_status\": \"x\"}, ", big / 21, "{\"a\": [",
		   "0], \"job_status\": \"waiting\"}");
	check_large(b, strlen(b), "waiting");
	free(b);
}

/* Deep nesting grows yajl's stack past the arena; a nested status stays ignored. */
static void test_deep_nesting(void **state)
{
	const size_t depth = 20000;
	struct response r;
	char *open = repeat("{\"job_status\": [", depth, "{\"a\": ", "");
	char *close = repeat("]}", depth, "", "}");
	size_t n = strlen(open) + strlen(close) + 64;
	char *b = malloc(n);

	assert_non_null(b);
	snprintf(b, n, "%s\"completed\"%s", open, close);
	assert_int_equal(parse_str(b, &r), 0);
	assert_true(r.is_object);
	assert_false(r.has_job_status);
	assert_false(r.bad_shape);
	check_large(b, strlen(b), "");

	/* unbalanced: one bracket short */
	b[strlen(b) - 1] = '\0';
	assert_int_equal(parse_str(b, &r), -EBADMSG);
	free(b);
	free(open);
	free(close);

	b = repeat("[", 60000, "", "");
	assert_int_equal(parse_str(b, &r), -EBADMSG);
	free(b);
	b = repeat("[", 30000, "", "");
	char *c = repeat("]", 30000, b, "");
	assert_int_equal(parse_str(c, &r), 0);
	assert_false(r.is_object);
	free(b);
	free(c);
}

/* --- parser life cycle --- */

static void test_lifecycle(void **state)
{
	struct response_parser *p = calloc(1, sizeof(*p));
	static const char good[] = "{\"job_status\": \"waiting\"}";
	static const char bad[] = "{\"job_status\" \"waiting\"}";

	assert_non_null(p);

	/* end accepts a zeroed parser, and twice */
	response_parser_done(p);
	response_parser_done(p);
	/* feed and finish before begin */
	assert_int_equal(response_parser_feed(p, good, 3), -EINVAL);
	assert_int_equal(response_parser_complete(p), -EINVAL);

	/* a failure sticks; later input is ignored */
	assert_int_equal(response_parser_begin(p), 0);
	assert_int_equal(response_parser_feed(p, bad, sizeof(bad) - 1), -EBADMSG);
	assert_true(p->failed);
	assert_true(p->error[0] != '\0');
	assert_null(strchr(p->error, '\n'));
	assert_int_equal(response_parser_feed(p, good, sizeof(good) - 1), -EBADMSG);
	assert_false(p->result.has_job_status);
	assert_int_equal(response_parser_complete(p), -EBADMSG);
	response_parser_done(p);
	assert_null(p->handle);

	/* the same parser, reused, starts clean */
	assert_int_equal(response_parser_begin(p), 0);
	assert_false(p->failed);
	assert_string_equal(p->error, "");
	assert_int_equal(response_parser_feed(p, good, sizeof(good) - 1), 0);
	assert_int_equal(response_parser_complete(p), 0);
	assert_true(p->result.has_job_status);
	assert_string_equal(p->result.job_status, "waiting");
	response_parser_done(p);

	assert_int_equal(response_parser_begin(p), 0);
	assert_int_equal(response_parser_feed(p, "{\"code\": \"x\"}", 13), 0);
	assert_int_equal(response_parser_complete(p), 0);
	assert_false(p->result.has_job_status);
	assert_string_equal(p->result.job_status, "");
	assert_string_equal(p->result.code, "x");
	response_parser_done(p);

	/* ended before finishing (a request cancelled mid-body) */
	assert_int_equal(response_parser_begin(p), 0);
	assert_int_equal(response_parser_feed(p, good, 10), 0);
	response_parser_done(p);
	free(p);
}

/* Many parsers in sequence, each ended mid-way or after a big body: no leak
 * (ASan) and no arena state carried over. */
static void test_reuse_after_large(void **state)
{
	struct response_parser *p = calloc(1, sizeof(*p));
	char *big = repeat("z", RESPONSE_BODY_MAX - 100, "{\"p\": \"", "\"}");
	static const char small[] = "{\"job_status\": \"completed\", \"error_msg\": \"\"}";

	assert_non_null(p);
	for (int round = 0; round < 20; round++) {
		assert_int_equal(response_parser_begin(p), 0);
		assert_int_equal(response_parser_feed(p, big, strlen(big) / (round + 1)), 0);
		if (round % 2 == 0) {
			response_parser_done(p);
			continue;
		}
		response_parser_done(p);
		assert_int_equal(response_parser_begin(p), 0);
		assert_int_equal(response_parser_feed(p, small, sizeof(small) - 1), 0);
		assert_int_equal(response_parser_complete(p), 0);
		assert_string_equal(p->result.job_status, "completed");
		assert_true(p->arena_used <= RESPONSE_ARENA_SIZE);
		response_parser_done(p);
	}
	free(big);
	free(p);
}

static void test_parse_null_outputs(void **state)
{
	static const char good[] = "{\"job_status\": \"waiting\"}";
	char err[8] = "unset";

	assert_int_equal(response_parse(good, sizeof(good) - 1, NULL, NULL, 0), 0);
	assert_int_equal(response_parse("{", 1, NULL, NULL, 0), -EBADMSG);
	/* a short error buffer holds a cut, terminated message */
	assert_int_equal(response_parse("{", 1, NULL, err, sizeof(err)), -EBADMSG);
	assert_true(strlen(err) > 0 && strlen(err) < sizeof(err));
	assert_int_equal(response_parse(good, sizeof(good) - 1, NULL, err, sizeof(err)), 0);
	assert_string_equal(err, "");
}

/* A key the server echoes is gone from every string kept, however the body
 * is cut into chunks; the parse itself is unchanged. */
static void test_secret_redacted(void **state)
{
	static const char key[] = "app-S3cr3tK3yF0rJ0bw4tchT3st";
	static const char body[] =
		"{\"job_id\": \"x\", \"job_status\": \"error\", \"error_msg\": \"got "
		"Authorization: Bearer app-S3cr3tK3yF0rJ0bw4tchT3st; twice: "
		"app-S3cr3tK3yF0rJ0bw4tchT3st\", \"message\": \"Bearer "
		"app-S3cr3tK3yF0rJ0bw4tchT3st\", \"code\": \"app-S3cr3tK3yF0rJ0bw4tchT3st\"}";
	const size_t len = sizeof(body) - 1;

	for (size_t chunk = 1; chunk <= len; chunk += (chunk < 40 ? 1 : 37)) {
		struct response_parser p = {};
		assert_int_equal(response_parser_begin(&p), 0);
		p.secret = key;
		for (size_t off = 0; off < len; off += chunk) {
			assert_int_equal(
				response_parser_feed(&p, body + off, MIN(chunk, len - off)), 0);
		}
		assert_int_equal(response_parser_complete(&p), 0);
		assert_string_equal(p.result.job_status, "error");
		assert_string_equal(p.result.error_msg,
				    "got Authorization: Bearer [redacted]; twice: [redacted]");
		assert_string_equal(p.result.message, "Bearer [redacted]");
		assert_string_equal(p.result.code, "[redacted]");
		response_parser_done(&p);
	}
}

/* A key past a field's cap: cut after redaction, so no piece of it stays. */
static void test_secret_redacted_before_cut(void **state)
{
	static const char key[] = "app-S3cr3tK3yF0rJ0bw4tchT3st";
	char body[600];
	char pad[RESPONSE_MESSAGE_MAX];
	struct response_parser p = {};

	/* the key starts 10 bytes before the message's cap */
	memset(pad, 'x', RESPONSE_MESSAGE_MAX - 11);
	pad[RESPONSE_MESSAGE_MAX - 11] = '\0';
	snprintf(body, sizeof(body), "{\"message\": \"%s%s and more\"}", pad, key);
	assert_int_equal(response_parser_begin(&p), 0);
	p.secret = key;
	assert_int_equal(response_parser_feed(&p, body, strlen(body)), 0);
	assert_int_equal(response_parser_complete(&p), 0);
	assert_null(strstr(p.result.message, "app-S3"));
	assert_non_null(strstr(p.result.message, "[redacted"));
	response_parser_done(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status_answers),
		cmocka_unit_test(test_error_answers),
		cmocka_unit_test(test_nested_keys_ignored),
		cmocka_unit_test(test_nested_and_top_level),
		cmocka_unit_test(test_top_level_not_object),
		cmocka_unit_test(test_unrecognised_keys),
		cmocka_unit_test(test_wrong_types),
		cmocka_unit_test(test_status_numbers),
		cmocka_unit_test(test_escapes_decoded),
		cmocka_unit_test(test_embedded_nul),
		cmocka_unit_test(test_secret_redacted),
		cmocka_unit_test(test_secret_redacted_before_cut),
		cmocka_unit_test(test_short_field_caps),
		cmocka_unit_test(test_message_cap),
		cmocka_unit_test(test_error_msg_cap),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_valid_odd),
		cmocka_unit_test(test_every_split),
		cmocka_unit_test(test_byte_by_byte),
		cmocka_unit_test(test_bodies_expected),
		cmocka_unit_test(test_empty_chunks),
		cmocka_unit_test(test_large_bodies),
		cmocka_unit_test(test_deep_nesting),
		cmocka_unit_test(test_lifecycle),
		cmocka_unit_test(test_reuse_after_large),
		cmocka_unit_test(test_parse_null_outputs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
