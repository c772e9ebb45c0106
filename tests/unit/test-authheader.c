/* SPDX-License-Identifier: MIT */
/*
 * AuthHeader= and Header= (authheader.h): what is accepted, each refusal
 * with FILE:LINE, and that the key goes into the auth line only.
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

#include "authheader.h"
#include "string-util.h"

#define KEY "sk-ant-api03-SECRETSECRET"

static void test_default(void **state)
{
	struct authheader h = {};
	const char *k;
	size_t len;
	int e = 1;

	assert_string_equal(authheader_template(&h), "Authorization: Bearer {key}");
	assert_string_equal(authheader_template(NULL), AUTHHEADER_DEFAULT);
	char *line = authheader_build(&h, KEY, &e);
	assert_int_equal(e, 0);
	assert_string_equal(line, "Authorization: Bearer " KEY);
	assert_true(authheader_find_key(&h, line, &k, &len));
	assert_int_equal(len, strlen(KEY));
	assert_memory_equal(k, KEY, len);
	assert_false(authheader_find_key(&h, "Authorization: Bearer ", &k, &len));
	assert_false(authheader_find_key(&h, "x-api-key: " KEY, &k, &len));
	free(line);
	authheader_done(&h);
	authheader_done(&h);
}

static void test_custom(void **state)
{
	struct authheader h = {};
	struct diag_list d = {};
	const char *k;
	size_t len;
	int e;

	/* blanks around the value dropped, one blank after the colon */
	assert_int_equal(authheader_set_auth(&h, "x-api-key:{key}  ", "e.conf", 3, &d), 0);
	assert_int_equal(d.n, 0);
	assert_string_equal(h.auth, "x-api-key: {key}");
	assert_int_equal(h.line_auth, 3);
	char *line = authheader_build(&h, KEY, &e);
	assert_string_equal(line, "x-api-key: " KEY);
	assert_true(authheader_find_key(&h, line, &k, &len));
	assert_memory_equal(k, KEY, len);
	assert_int_equal(len, strlen(KEY));
	free(line);

	/* text around the key */
	assert_int_equal(authheader_set_auth(&h, "Authorization: Token token=\"{key}\", v=2",
					     "e.conf", 4, &d),
			 0);
	line = authheader_build(&h, "abc", &e);
	assert_string_equal(line, "Authorization: Token token=\"abc\", v=2");
	assert_true(authheader_find_key(&h, line, &k, &len));
	assert_int_equal(len, 3);
	assert_memory_equal(k, "abc", 3);
	free(line);

	/* empty: back to the default */
	assert_int_equal(authheader_set_auth(&h, "", "e.conf", 5, &d), 0);
	assert_null(h.auth);
	assert_int_equal(d.n, 0);

	/* keys that would end the header or are no key */
	assert_null(authheader_build(&h, "abc\r\nX-Evil: 1", &e));
	assert_int_equal(e, -EINVAL);
	assert_null(authheader_build(&h, "", &e));
	assert_int_equal(e, -EINVAL);
	assert_null(authheader_build(&h, NULL, &e));
	assert_int_equal(e, -EINVAL);
	authheader_done(&h);
	diag_list_done(&d);
}

static void expect_refused(bool auth, const char *value, const char *message)
{
	struct authheader h = {};
	struct diag_list d = {};

	if (auth) {
		assert_int_equal(authheader_set_auth(&h, value, "e.conf", 7, &d), 0);
		assert_null(h.auth);
	} else {
		assert_int_equal(authheader_add_extra(&h, value, "e.conf", 7, &d), 0);
		assert_int_equal(h.n_extra, 0);
	}
	assert_int_equal(d.n, 1);
	assert_int_equal(d.items[0].level, DIAG_ERROR);
	assert_int_equal(d.items[0].line, 7);
	assert_string_equal(d.items[0].file, "e.conf");
	if (!streq(d.items[0].message, message)) {
		print_error("'%s':\n got  %s\n want %s\n", value, d.items[0].message, message);
	}
	assert_string_equal(d.items[0].message, message);
	authheader_done(&h);
	diag_list_done(&d);
}

static void test_refused(void **state)
{
	expect_refused(
		true, "x-api-key: KEY",
		"Invalid AuthHeader= value 'x-api-key: KEY': the value must contain {key} exactly once");
	expect_refused(
		true, "x-api-key: {key}{key}",
		"Invalid AuthHeader= value 'x-api-key: {key}{key}': the value must contain {key} exactly once");
	expect_refused(
		true, "{key}: x",
		"Invalid AuthHeader= value '{key}: x': the header name is not an HTTP token (letters, digits, !#$%&'*+-.^_`|~)");
	expect_refused(
		true, "x api key: {key}",
		"Invalid AuthHeader= value 'x api key: {key}': the header name is not an HTTP token (letters, digits, !#$%&'*+-.^_`|~)");
	expect_refused(true, "Bearer {key}",
		       "Invalid AuthHeader= value 'Bearer {key}': expected 'Name: value'");
	expect_refused(true, "x-api-key {key}",
		       "Invalid AuthHeader= value 'x-api-key {key}': expected 'Name: value'");
	expect_refused(true, ": {key}",
		       "Invalid AuthHeader= value ': {key}': expected 'Name: value'");
	expect_refused(
		true, "x-api-key: {key}\r\nX-Evil: 1",
		"Invalid AuthHeader= value 'x-api-key: {key}\\x0d\\x0aX-Evil: 1': a control character (a header is one line)");
	expect_refused(
		true, "Host: {key}",
		"Invalid AuthHeader= value 'Host: {key}': that header is set by the HTTP layer");
	expect_refused(
		true, "proxy-authorization: Bearer {key}",
		"Invalid AuthHeader= value 'proxy-authorization: Bearer {key…': that header is set by the HTTP layer");

	expect_refused(
		false, "anthropic-version: {key}",
		"Invalid Header= value 'anthropic-version: {key}': {key} belongs in AuthHeader= only");
	expect_refused(
		false, "authorization: Bearer abc",
		"Invalid Header= value 'authorization: Bearer abc': Authorization belongs in AuthHeader=");
	expect_refused(
		false, "Content-Length: 5",
		"Invalid Header= value 'Content-Length: 5': that header is set by the HTTP layer");
	expect_refused(
		false, "TRANSFER-ENCODING: chunked",
		"Invalid Header= value 'TRANSFER-ENCODING: chunked': that header is set by the HTTP layer");
	expect_refused(
		false, "Connection: close",
		"Invalid Header= value 'Connection: close': that header is set by the HTTP layer");
	expect_refused(
		false, "X-A: 1\nX-B: 2",
		"Invalid Header= value 'X-A: 1\\x0aX-B: 2': a control character (a header is one line)");
	expect_refused(
		false, "X-A: 1\x7f",
		"Invalid Header= value 'X-A: 1\\x7f': a control character (a header is one line)");
	expect_refused(false, "X-A", "Invalid Header= value 'X-A': expected 'Name: value'");
}

static void test_extra(void **state)
{
	struct authheader h = {};
	struct diag_list d = {};
	char value[64];

	assert_int_equal(authheader_set_auth(&h, "x-api-key: {key}", "e.conf", 2, &d), 0);
	assert_int_equal(
		authheader_add_extra(&h, "anthropic-version:  2023-06-01 ", "e.conf", 3, &d), 0);
	assert_int_equal(authheader_add_extra(&h, "Accept: application/json", "e.conf", 4, &d), 0);
	assert_int_equal(authheader_add_extra(&h, "X-Empty:", "e.conf", 5, &d), 0);
	assert_int_equal(d.n, 0);
	assert_int_equal(h.n_extra, 3);
	assert_string_equal(h.extra[0], "anthropic-version: 2023-06-01");
	assert_string_equal(h.extra[2], "X-Empty: ");
	assert_int_equal(h.extra_lines[1], 4);
	assert_int_equal(authheader_validate(&h, "e.conf", &d), 0);

	/* the name of the auth header, in any case: an error at its line */
	assert_int_equal(authheader_add_extra(&h, "X-API-Key: other", "e.conf", 6, &d), 0);
	assert_int_equal(authheader_validate(&h, "e.conf", &d), -EINVAL);
	assert_int_equal(d.n, 1);
	assert_int_equal(d.items[0].line, 6);
	assert_string_equal(d.items[0].message,
			    "Header= names 'X-API-Key', the header AuthHeader= carries the key in");
	diag_list_done(&d);

	/* an empty Header= forgets the earlier ones */
	assert_int_equal(authheader_add_extra(&h, "", "e.conf", 7, &d), 0);
	assert_int_equal(h.n_extra, 0);
	assert_int_equal(authheader_validate(&h, "e.conf", &d), 0);

	/* at most AUTHHEADER_EXTRA_MAX */
	for (int i = 0; i < AUTHHEADER_EXTRA_MAX; i++) {
		snprintf(value, sizeof(value), "X-%d: v", i);
		assert_int_equal(authheader_add_extra(&h, value, "e.conf", 8, &d), 0);
	}
	assert_int_equal(d.n, 0);
	assert_int_equal(authheader_add_extra(&h, "X-Last: v", "e.conf", 9, &d), 0);
	assert_int_equal(d.n, 1);
	assert_string_equal(d.items[0].message, "Too many Header= lines, at most 16");
	assert_int_equal(h.n_extra, AUTHHEADER_EXTRA_MAX);
	authheader_done(&h);
	diag_list_done(&d);
}

/* Every header line a request of the endpoint gets: the key only in one. */
static void test_key_only_in_auth_line(void **state)
{
	struct authheader h = {};
	struct diag_list d = {};
	int e;

	assert_int_equal(authheader_set_auth(&h, "x-api-key: {key}", "e.conf", 1, &d), 0);
	assert_int_equal(authheader_add_extra(&h, "anthropic-version: 2023-06-01", "e.conf", 2, &d),
			 0);
	assert_int_equal(
		authheader_add_extra(&h, "X-Key-Hint: {KEY} is not a placeholder", "e.conf", 3, &d),
		0);
	assert_int_equal(authheader_validate(&h, "e.conf", &d), 0);
	assert_int_equal(d.n, 0);

	char *auth = authheader_build(&h, KEY, &e);
	assert_non_null(auth);
	const char *lines[AUTHHEADER_EXTRA_MAX + 1];
	size_t n = 0;
	lines[n++] = auth;
	for (size_t i = 0; i < h.n_extra; i++) {
		lines[n++] = h.extra[i];
	}
	size_t with_key = 0;
	for (size_t i = 0; i < n; i++) {
		with_key += strstr(lines[i], KEY) != NULL;
		assert_null(strchr(lines[i], '\n'));
		assert_null(strchr(lines[i], '\r'));
	}
	assert_int_equal(with_key, 1);
	assert_non_null(strstr(auth, KEY));
	/* and only once in it */
	assert_null(strstr(strstr(auth, KEY) + 1, KEY));
	free(auth);
	authheader_done(&h);
	diag_list_done(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default),
		cmocka_unit_test(test_custom),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_extra),
		cmocka_unit_test(test_key_only_in_auth_line),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
