/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <yajl/yajl_tree.h>

#include <cmocka.h>

#include "dify.h"
#include "memory-util.h"
#include "response.h"

#define SEC USEC_PER_SEC

/* Real answers (DIFY.md). */
#define GONE_400                                                                                   \
	"{\"code\": \"invalid_param\", \"message\": \"The job does not exist.\", \"status\": 400}"
#define GONE_404                                                                                   \
	"{\"code\": \"not_found\", \"message\": \"The job does not exist.\", \"status\": 404}"
#define WERKZEUG_404                                                                               \
	"{\"code\": \"not_found\", \"message\": \"The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again.\", \"status\": 404}"
#define HTML_404                                                                                   \
	"<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>\n<h1>Not Found</h1>\n<p>The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again.</p>\n"
#define AUTH_401                                                                                   \
	"{\"code\": \"unauthorized\", \"message\": \"Access token is invalid\", \"status\": 401}"
#define QUOTA_429                                                                                  \
	"{\"code\": \"too_many_requests\", \"message\": \"Too many requests\", \"status\": 429}"
#define ERR_500 "{\"code\": \"unknown\", \"message\": \"Internal Server Error\", \"status\": 500}"
#define HTML_502 "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"

struct case_ {
	const char *name;
	enum transfer_error transfer;
	long code;
	const char *body; /* NULL: no body arrived */
	uint64_t retry_after_s;
	enum poll_kind kind;
	usec_t retry_after_usec;
};

/* Parses body (if any) into *resp and classifies the exchange. */
static void classify(enum transfer_error transfer, long code, const char *body,
		     uint64_t retry_after_s, struct response *resp, struct poll_result *ret)
{
	bool ok = false;

	memset(resp, 0, sizeof(*resp));
	if (body) {
		ok = response_parse(body, strlen(body), resp, NULL, 0) == 0;
	}
	dify_classify(transfer, code, resp, ok, retry_after_s, NULL, ret);
}

static void check_cases(const struct case_ *c, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct response resp;
		struct poll_result r;

		classify(c[i].transfer, c[i].code, c[i].body, c[i].retry_after_s, &resp, &r);
		if (r.kind != c[i].kind || r.retry_after_usec != c[i].retry_after_usec) {
			print_error("case '%s': kind %s, retry %" PRIu64 "; expected %s, %" PRIu64
				    "\n",
				    c[i].name, poll_kind_to_string(r.kind), r.retry_after_usec,
				    poll_kind_to_string(c[i].kind), c[i].retry_after_usec);
		}
		assert_int_equal(r.kind, c[i].kind);
		assert_int_equal(r.retry_after_usec, c[i].retry_after_usec);
		assert_int_equal(r.http_code, c[i].code);
		assert_int_equal(r.transfer, c[i].transfer);
		/* only a 200 with a status carries one */
		assert_non_null(r.status_text);
		assert_non_null(r.error_msg);
		if (r.kind != POLL_STATUS) {
			assert_int_equal(r.status, DIFY_STATUS_OTHER);
			assert_string_equal(r.status_text, "");
			assert_string_equal(r.error_msg, "");
		}
	}
}

static void test_status_strings(void **state)
{
	static const char *const names[] = { "waiting", "completed", "error" };

	for (size_t i = 0; i < ELEMENTSOF(names); i++) {
		assert_int_equal(dify_status_from_string(names[i]), (enum dify_status)i);
		assert_string_equal(dify_status_to_string((enum dify_status)i), names[i]);
	}
	assert_int_equal(dify_status_from_string(""), DIFY_STATUS_OTHER);
	assert_int_equal(dify_status_from_string("Completed"), DIFY_STATUS_OTHER);
	assert_int_equal(dify_status_from_string("completed "), DIFY_STATUS_OTHER);
	assert_int_equal(dify_status_from_string("cancelled"), DIFY_STATUS_OTHER);
	assert_int_equal(dify_status_from_string("other"), DIFY_STATUS_OTHER);
	/* no Dify release writes "processing" (DIFY.md): an unknown word */
	assert_int_equal(dify_status_from_string("processing"), DIFY_STATUS_OTHER);
	assert_string_equal(dify_status_to_string(DIFY_STATUS_OTHER), "other");
	assert_string_equal(dify_status_to_string(_DIFY_STATUS_MAX), "other");

	assert_false(dify_status_is_terminal(DIFY_STATUS_WAITING));
	assert_true(dify_status_is_terminal(DIFY_STATUS_COMPLETED));
	assert_true(dify_status_is_terminal(DIFY_STATUS_ERROR));
	assert_false(dify_status_is_terminal(DIFY_STATUS_OTHER));
}

static void test_poll_kind_strings(void **state)
{
	static const char *const names[_POLL_KIND_MAX] = {
		[POLL_STATUS] = "status",	    [POLL_GONE] = "gone",
		[POLL_AUTH] = "unauthorized",	    [POLL_RATE_LIMITED] = "rate-limited",
		[POLL_UNAVAILABLE] = "unavailable", [POLL_SERVER_ERROR] = "server-error",
		[POLL_HTTP_ERROR] = "http-error",   [POLL_BAD_BODY] = "bad-body",
		[POLL_TRANSFER] = "transfer",
	};

	for (unsigned k = 0; k < _POLL_KIND_MAX; k++) {
		assert_string_equal(poll_kind_to_string(k), names[k]);
		assert_int_equal(poll_kind_is_trouble(k), k != POLL_STATUS && k != POLL_GONE);
	}
	assert_string_equal(poll_kind_to_string(_POLL_KIND_MAX), "invalid");
}

/* 200 answers with a job_status: the status, its text and error_msg. */
static void test_classify_status(void **state)
{
	static const struct {
		const char *body;
		enum dify_status status;
		const char *text, *error_msg;
	} table[] = {
		{ "{\"job_id\": \"3c90c3cc-0d44-4b50-8888-8dd25736052a\", \"job_status\": \"waiting\", \"error_msg\": \"\"}",
		  DIFY_STATUS_WAITING, "waiting", "" },
		/* no Dify release writes "processing" (DIFY.md): an unknown word */
		{ "{\"job_id\": \"3c90c3cc-0d44-4b50-8888-8dd25736052a\", \"job_status\": \"processing\"}",
		  DIFY_STATUS_OTHER, "processing", "" },
		{ "{\"job_id\": \"3c90c3cc-0d44-4b50-8888-8dd25736052a\", \"job_status\": \"completed\", \"error_msg\": \"\"}",
		  DIFY_STATUS_COMPLETED, "completed", "" },
		{ "{\"job_id\": \"3c90c3cc-0d44-4b50-8888-8dd25736052a\", \"job_status\": \"error\", \"error_msg\": \"Embedding model not found\"}",
		  DIFY_STATUS_ERROR, "error", "Embedding model not found" },
		{ "{\"job_status\": \"error\", \"error_msg\": \"\"}", DIFY_STATUS_ERROR, "error",
		  "" },
		{ "{\"job_status\": \"error\"}", DIFY_STATUS_ERROR, "error", "" },
		/* unknown values are statuses, not terminal and not faults */
		{ "{\"job_status\": \"cancelling\"}", DIFY_STATUS_OTHER, "cancelling", "" },
		{ "{\"job_status\": \"COMPLETED\"}", DIFY_STATUS_OTHER, "COMPLETED", "" },
		{ "{\"job_status\": \"\"}", DIFY_STATUS_OTHER, "", "" },
		/* the first top-level job_status wins over a nested one */
		{ "{\"data\": {\"job_status\": \"completed\"}, \"job_status\": \"waiting\"}",
		  DIFY_STATUS_WAITING, "waiting", "" },
		/* unknown keys and values are ignored */
		{ "{\"extra\": [1, {\"a\": null}, true], \"job_status\": \"waiting\", \"n\": 1.5e3}",
		  DIFY_STATUS_WAITING, "waiting", "" },
	};

	for (size_t i = 0; i < ELEMENTSOF(table); i++) {
		struct response resp;
		struct poll_result r;

		classify(TRANSFER_OK, 200, table[i].body, 0, &resp, &r);
		assert_int_equal(r.kind, POLL_STATUS);
		assert_int_equal(r.status, table[i].status);
		assert_string_equal(r.status_text, table[i].text);
		assert_string_equal(r.error_msg, table[i].error_msg);
		assert_int_equal(r.http_code, 200);
		assert_int_equal(r.transfer, TRANSFER_OK);
		assert_int_equal(r.retry_after_usec, 0);
		/* borrowed from the response, not copied */
		assert_ptr_equal(r.status_text, resp.job_status);
	}
}

/* A 200 that carries a Retry-After still is a status: no delay. */
static void test_classify_status_ignores_retry_after(void **state)
{
	struct response resp;
	struct poll_result r;

	classify(TRANSFER_OK, 200, "{\"job_status\": \"waiting\"}", 60, &resp, &r);
	assert_int_equal(r.kind, POLL_STATUS);
	assert_int_equal(r.retry_after_usec, 0);
}

static void test_classify_bad_body(void **state)
{
	static const struct case_ cases[] = {
		{ "no body", TRANSFER_OK, 200, NULL, 0, POLL_BAD_BODY, 0 },
		{ "empty", TRANSFER_OK, 200, "", 0, POLL_BAD_BODY, 0 },
		{ "truncated", TRANSFER_OK, 200, "{\"job_status\": \"compl", 0, POLL_BAD_BODY, 0 },
		{ "html", TRANSFER_OK, 200, "<html>ok</html>", 0, POLL_BAD_BODY, 0 },
		{ "trailing", TRANSFER_OK, 200, "{\"job_status\": \"completed\"} x", 0,
		  POLL_BAD_BODY, 0 },
		{ "empty object", TRANSFER_OK, 200, "{}", 0, POLL_BAD_BODY, 0 },
		{ "array", TRANSFER_OK, 200, "[{\"job_status\": \"completed\"}]", 0, POLL_BAD_BODY,
		  0 },
		{ "string", TRANSFER_OK, 200, "\"completed\"", 0, POLL_BAD_BODY, 0 },
		{ "number", TRANSFER_OK, 200, "200", 0, POLL_BAD_BODY, 0 },
		{ "null", TRANSFER_OK, 200, "null", 0, POLL_BAD_BODY, 0 },
		{ "nested only", TRANSFER_OK, 200, "{\"data\": {\"job_status\": \"completed\"}}", 0,
		  POLL_BAD_BODY, 0 },
		{ "status number", TRANSFER_OK, 200, "{\"job_status\": 2}", 0, POLL_BAD_BODY, 0 },
		{ "status null", TRANSFER_OK, 200, "{\"job_status\": null}", 0, POLL_BAD_BODY, 0 },
		{ "status bool", TRANSFER_OK, 200, "{\"job_status\": true}", 0, POLL_BAD_BODY, 0 },
		{ "status array", TRANSFER_OK, 200, "{\"job_status\": [\"completed\"]}", 0,
		  POLL_BAD_BODY, 0 },
		{ "status object", TRANSFER_OK, 200, "{\"job_status\": {\"v\": \"completed\"}}", 0,
		  POLL_BAD_BODY, 0 },
		{ "status with NUL", TRANSFER_OK, 200, "{\"job_status\": \"completed\\u0000\"}", 0,
		  POLL_BAD_BODY, 0 },
		{ "job_id number", TRANSFER_OK, 200,
		  "{\"job_id\": 1, \"job_status\": \"completed\"}", 0, POLL_BAD_BODY, 0 },
		{ "error answer with 200", TRANSFER_OK, 200, GONE_404, 0, POLL_BAD_BODY, 0 },
		{ "too large", TRANSFER_TOO_LARGE, 200, "{\"job_status\": \"completed\"}", 0,
		  POLL_BAD_BODY, 0 },
	};
	check_cases(cases, ELEMENTSOF(cases));
}

/* Whose fault: the job's own answer, or the endpoint as a whole. */
static void test_classify_job_fault(void **state)
{
	static const struct {
		const char *name;
		enum transfer_error transfer;
		long code;
		const char *body;
		bool job_fault;
	} cases[] = {
		{ "500 Dify JSON", TRANSFER_OK, 500, ERR_500, true },
		{ "504 Dify JSON", TRANSFER_OK, 504, ERR_500, true },
		{ "502 nginx page", TRANSFER_OK, 502, HTML_502, false },
		{ "500 empty", TRANSFER_OK, 500, NULL, false },
		{ "500 JSON without message", TRANSFER_OK, 500, "{\"error\": \"x\"}", false },
		{ "503 Dify JSON", TRANSFER_OK, 503, ERR_500, false },
		{ "200 garbage", TRANSFER_OK, 200, "garbage", true },
		{ "200 no job_status", TRANSFER_OK, 200, "{}", true },
		{ "200 too large", TRANSFER_TOO_LARGE, 200, "{\"job_status\": \"completed\"}",
		  true },
		{ "200 status", TRANSFER_OK, 200, "{\"job_status\": \"waiting\"}", false },
		{ "401", TRANSFER_OK, 401, ERR_500, false },
		{ "429", TRANSFER_OK, 429, ERR_500, false },
		{ "404 html", TRANSFER_OK, 404, HTML_502, false },
		{ "302", TRANSFER_OK, 302, NULL, false },
		{ "gone", TRANSFER_OK, 404, GONE_404, false },
		{ "timeout", TRANSFER_TIMEOUT, 0, NULL, false },
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		struct response resp;
		struct poll_result r;

		classify(cases[i].transfer, cases[i].code, cases[i].body, 0, &resp, &r);
		if (r.job_fault != cases[i].job_fault) {
			print_error("case '%s': job_fault %d, expected %d\n", cases[i].name,
				    r.job_fault, cases[i].job_fault);
			fail();
		}
	}
}

static void test_classify_gone(void **state)
{
	static const struct case_ cases[] = {
		{ "old dify", TRANSFER_OK, 400, GONE_400, 0, POLL_GONE, 0 },
		{ "new dify", TRANSFER_OK, 404, GONE_404, 0, POLL_GONE, 0 },
		{ "compact", TRANSFER_OK, 404,
		  "{\"status\":404,\"message\":\"The job does not exist.\",\"code\":\"not_found\"}",
		  0, POLL_GONE, 0 },
		{ "extra keys", TRANSFER_OK, 400,
		  "{\"code\": \"invalid_param\", \"message\": \"The job does not exist.\", \"status\": 400, \"params\": {\"a\": [1]}}",
		  0, POLL_GONE, 0 },
		{ "retry-after ignored", TRANSFER_OK, 404, GONE_404, 30, POLL_GONE, 0 },
		/* CONTRACT: "a 400 or 404 ... (code invalid_param or not_found)" */
		{ "400 not_found", TRANSFER_OK, 400, GONE_404, 0, POLL_GONE, 0 },
		{ "404 invalid_param", TRANSFER_OK, 404, GONE_400, 0, POLL_GONE, 0 },
		{ "no code", TRANSFER_OK, 404, "{\"message\": \"The job does not exist.\"}", 0,
		  POLL_GONE, 0 },
		/* issue 14: matched by prefix, whatever the framework appends */
		{ "flask-restx suffix", TRANSFER_OK, 404,
		  "{\"code\": \"not_found\", \"message\": \"The job does not exist. You have requested this URI [/v1/apps/annotation-reply/enable/status/3c90c3cc-0d44-4b50-8888-8dd25736052a] but did you mean /v1/apps/annotation-reply/<string:action> ?\", \"status\": 404}",
		  0, POLL_GONE, 0 },
		{ "trailing space", TRANSFER_OK, 404,
		  "{\"code\": \"not_found\", \"message\": \"The job does not exist. \"}", 0,
		  POLL_GONE, 0 },
		{ "embedded NUL after", TRANSFER_OK, 404,
		  "{\"code\": \"not_found\", \"message\": \"The job does not exist.\\u0000\"}", 0,
		  POLL_GONE, 0 },
	};
	check_cases(cases, ELEMENTSOF(cases));
}

/* A 200 about another job says nothing about ours. */
static void test_classify_other_job_id(void **state)
{
	static const char body[] =
		"{\"job_id\": \"11111111-2222-4333-8444-555555555555\", \"job_status\": \"completed\", \"error_msg\": \"\"}";
	struct response resp;
	struct poll_result r;

	assert_int_equal(response_parse(body, strlen(body), &resp, NULL, 0), 0);
	dify_classify(TRANSFER_OK, 200, &resp, true, 0, "3c90c3cc-0d44-4b50-8888-8dd25736052a", &r);
	assert_int_equal(r.kind, POLL_BAD_BODY);
	/* the same id in another case is the same job */
	dify_classify(TRANSFER_OK, 200, &resp, true, 0, "11111111-2222-4333-8444-555555555555", &r);
	assert_int_equal(r.kind, POLL_STATUS);
	dify_classify(TRANSFER_OK, 200, &resp, true, 0, "11111111-2222-4333-8444-555555555555", &r);
	assert_int_equal(r.status, DIFY_STATUS_COMPLETED);

	static const char upper[] =
		"{\"job_id\": \"3C90C3CC-0D44-4B50-8888-8DD25736052A\", \"job_status\": \"waiting\"}";
	assert_int_equal(response_parse(upper, strlen(upper), &resp, NULL, 0), 0);
	dify_classify(TRANSFER_OK, 200, &resp, true, 0, "3c90c3cc-0d44-4b50-8888-8dd25736052a", &r);
	assert_int_equal(r.kind, POLL_STATUS);

	/* no job_id in the answer: nothing to compare */
	static const char none[] = "{\"job_status\": \"waiting\"}";
	assert_int_equal(response_parse(none, strlen(none), &resp, NULL, 0), 0);
	dify_classify(TRANSFER_OK, 200, &resp, true, 0, "3c90c3cc-0d44-4b50-8888-8dd25736052a", &r);
	assert_int_equal(r.kind, POLL_STATUS);
}

/* A 400 or 404 without Dify's exact body is endpoint trouble, not "gone". */
static void test_classify_not_gone(void **state)
{
	static const struct case_ cases[] = {
		{ "werkzeug json", TRANSFER_OK, 404, WERKZEUG_404, 0, POLL_HTTP_ERROR, 0 },
		{ "werkzeug html", TRANSFER_OK, 404, HTML_404, 0, POLL_HTTP_ERROR, 0 },
		{ "no body", TRANSFER_OK, 404, NULL, 0, POLL_HTTP_ERROR, 0 },
		{ "empty body", TRANSFER_OK, 404, "", 0, POLL_HTTP_ERROR, 0 },
		{ "empty object", TRANSFER_OK, 404, "{}", 0, POLL_HTTP_ERROR, 0 },
		{ "no period", TRANSFER_OK, 404,
		  "{\"code\": \"not_found\", \"message\": \"The job does not exist\"}", 0,
		  POLL_HTTP_ERROR, 0 },
		{ "other case", TRANSFER_OK, 404,
		  "{\"code\": \"not_found\", \"message\": \"the job does not exist.\"}", 0,
		  POLL_HTTP_ERROR, 0 },
		{ "nested", TRANSFER_OK, 404,
		  "{\"error\": {\"code\": \"not_found\", \"message\": \"The job does not exist.\"}}",
		  0, POLL_HTTP_ERROR, 0 },
		{ "array", TRANSFER_OK, 404,
		  "[{\"code\": \"not_found\", \"message\": \"The job does not exist.\"}]", 0,
		  POLL_HTTP_ERROR, 0 },
		{ "message not a string", TRANSFER_OK, 404,
		  "{\"code\": \"not_found\", \"message\": [\"The job does not exist.\"]}", 0,
		  POLL_HTTP_ERROR, 0 },
		{ "truncated", TRANSFER_OK, 404,
		  "{\"code\": \"not_found\", \"message\": \"The job does not exist.\"", 0,
		  POLL_HTTP_ERROR, 0 },
		{ "other code", TRANSFER_OK, 404,
		  "{\"code\": \"app_unavailable\", \"message\": \"The job does not exist.\"}", 0,
		  POLL_HTTP_ERROR, 0 },
		{ "400 other message", TRANSFER_OK, 400,
		  "{\"code\": \"invalid_param\", \"message\": \"Invalid action\", \"status\": 400}",
		  0, POLL_HTTP_ERROR, 0 },
		{ "400 html", TRANSFER_OK, 400, "<html>Bad Request</html>", 0, POLL_HTTP_ERROR, 0 },
		{ "410", TRANSFER_OK, 410, GONE_404, 0, POLL_HTTP_ERROR, 0 },
		{ "409", TRANSFER_OK, 409, "{\"code\": \"conflict\"}", 0, POLL_HTTP_ERROR, 0 },
		{ "401 with gone body", TRANSFER_OK, 401, GONE_404, 0, POLL_AUTH, 0 },
		{ "500 with gone body", TRANSFER_OK, 500, GONE_404, 0, POLL_SERVER_ERROR, 0 },
		{ "404 too large", TRANSFER_TOO_LARGE, 404, GONE_404, 0, POLL_TRANSFER, 0 },
	};
	check_cases(cases, ELEMENTSOF(cases));
}

static void test_classify_http_errors(void **state)
{
	static const struct case_ cases[] = {
		{ "401", TRANSFER_OK, 401, AUTH_401, 0, POLL_AUTH, 0 },
		{ "401 no body", TRANSFER_OK, 401, NULL, 0, POLL_AUTH, 0 },
		{ "403", TRANSFER_OK, 403, "<html>Forbidden</html>", 0, POLL_AUTH, 0 },
		{ "429", TRANSFER_OK, 429, QUOTA_429, 0, POLL_RATE_LIMITED, 0 },
		{ "429 retry", TRANSFER_OK, 429, QUOTA_429, 30, POLL_RATE_LIMITED, 30 * SEC },
		{ "429 retry 1h", TRANSFER_OK, 429, NULL, 3600, POLL_RATE_LIMITED, 3600 * SEC },
		{ "429 retry >1h", TRANSFER_OK, 429, NULL, 3601, POLL_RATE_LIMITED, 3600 * SEC },
		{ "429 retry huge", TRANSFER_OK, 429, NULL, UINT64_MAX, POLL_RATE_LIMITED,
		  3600 * SEC },
		{ "503", TRANSFER_OK, 503, "<html>busy</html>", 0, POLL_UNAVAILABLE, 0 },
		{ "503 retry", TRANSFER_OK, 503, "<html>busy</html>", 120, POLL_UNAVAILABLE,
		  120 * SEC },
		{ "503 retry 2 days", TRANSFER_OK, 503, NULL, 172800, POLL_UNAVAILABLE,
		  3600 * SEC },
		{ "500", TRANSFER_OK, 500, ERR_500, 0, POLL_SERVER_ERROR, 0 },
		{ "500 retry ignored", TRANSFER_OK, 500, ERR_500, 30, POLL_SERVER_ERROR, 0 },
		{ "502", TRANSFER_OK, 502, HTML_502, 0, POLL_SERVER_ERROR, 0 },
		{ "504 retry ignored", TRANSFER_OK, 504, NULL, 10, POLL_SERVER_ERROR, 0 },
		{ "599", TRANSFER_OK, 599, NULL, 0, POLL_SERVER_ERROR, 0 },
		{ "600", TRANSFER_OK, 600, NULL, 0, POLL_HTTP_ERROR, 0 },
		{ "499", TRANSFER_OK, 499, NULL, 0, POLL_HTTP_ERROR, 0 },
		{ "418", TRANSFER_OK, 418, NULL, 5, POLL_HTTP_ERROR, 0 },
		{ "302", TRANSFER_OK, 302, "", 0, POLL_HTTP_ERROR, 0 },
		{ "304", TRANSFER_OK, 304, NULL, 0, POLL_HTTP_ERROR, 0 },
		{ "201", TRANSFER_OK, 201, "{\"job_status\": \"completed\"}", 0, POLL_HTTP_ERROR,
		  0 },
		{ "204", TRANSFER_OK, 204, NULL, 0, POLL_HTTP_ERROR, 0 },
		{ "100", TRANSFER_OK, 100, NULL, 0, POLL_HTTP_ERROR, 0 },
	};
	check_cases(cases, ELEMENTSOF(cases));
}

static void test_classify_transfer(void **state)
{
	for (enum transfer_error e = TRANSFER_TIMEOUT; e < _TRANSFER_ERROR_MAX; e++) {
		struct case_ cases[] = {
			{ "no answer", e, 0, NULL, 0, POLL_TRANSFER, 0 },
			/* a status line arrived, then the body broke off */
			{ "answer cut", e, 404, "{\"code\": \"not_found\"", 0, POLL_TRANSFER, 0 },
			{ "cut after 503", e, 503, NULL, 30, POLL_TRANSFER, 0 },
			{ "cut after 500", e, 500, NULL, 0, POLL_TRANSFER, 0 },
		};
		check_cases(cases, ELEMENTSOF(cases));
		if (e != TRANSFER_TOO_LARGE) {
			struct case_ c200 = { "cut 200", e,
					      200,	 "{\"job_status\": \"completed\"}",
					      0,	 POLL_TRANSFER,
					      0 };
			check_cases(&c200, 1);
		}
	}
	{
		/* no HTTP code, yet no transfer error: still no answer */
		struct case_ c = { "code 0", TRANSFER_OK,   0, "{\"job_status\": \"completed\"}",
				   0,	     POLL_TRANSFER, 0 };
		check_cases(&c, 1);
	}
}

/* dify_classify overwrites every field of *ret. */
static void test_classify_resets_result(void **state)
{
	struct response resp;
	struct poll_result r;

	memset(&r, 0x5a, sizeof(r));
	classify(TRANSFER_OK, 502, NULL, 0, &resp, &r);
	assert_int_equal(r.kind, POLL_SERVER_ERROR);
	assert_int_equal(r.transfer, TRANSFER_OK);
	assert_int_equal(r.status, DIFY_STATUS_OTHER);
	assert_string_equal(r.status_text, "");
	assert_string_equal(r.error_msg, "");
	assert_int_equal(r.retry_after_usec, 0);

	/* body_ok false: resp is not looked at, even when it holds a status */
	memset(&resp, 0, sizeof(resp));
	resp.is_object = resp.has_job_status = true;
	memcpy(resp.job_status, "completed", sizeof("completed"));
	dify_classify(TRANSFER_OK, 200, &resp, false, 0, NULL, &r);
	assert_int_equal(r.kind, POLL_BAD_BODY);
	dify_classify(TRANSFER_OK, 200, &resp, true, 0, NULL, &r);
	assert_int_equal(r.kind, POLL_STATUS);
	assert_int_equal(r.status, DIFY_STATUS_COMPLETED);
	dify_classify(TRANSFER_OK, 200, NULL, false, 0, NULL, &r);
	assert_int_equal(r.kind, POLL_BAD_BODY);
	dify_classify(TRANSFER_OK, 404, NULL, false, 0, NULL, &r);
	assert_int_equal(r.kind, POLL_HTTP_ERROR);
}

/* A long error_msg arrives truncated, with the flag set. */
static void test_classify_long_error_msg(void **state)
{
	char body[4096];
	char msg[3000];
	struct response resp;
	struct poll_result r;

	memset(msg, 'x', sizeof(msg) - 1);
	msg[sizeof(msg) - 1] = '\0';
	snprintf(body, sizeof(body), "{\"job_status\": \"error\", \"error_msg\": \"%s\"}", msg);
	classify(TRANSFER_OK, 200, body, 0, &resp, &r);
	assert_int_equal(r.kind, POLL_STATUS);
	assert_int_equal(r.status, DIFY_STATUS_ERROR);
	assert_true(resp.error_msg_truncated);
	assert_int_equal(strlen(r.error_msg), RESPONSE_ERROR_MAX - 1);
	assert_string_equal(r.error_msg + RESPONSE_ERROR_MAX - 4, "\xe2\x80\xa6");
	assert_memory_equal(r.error_msg, msg, RESPONSE_ERROR_MAX - 4);
}

/* --- URLs and headers --- */

static const uint8_t job_id[16] = { 0x3c, 0x90, 0xc3, 0xcc, 0x0d, 0x44, 0x4b, 0x50,
				    0x88, 0x88, 0x8d, 0xd2, 0x57, 0x36, 0x05, 0x2a };

static void test_status_url(void **state)
{
	static const char want_enable[] = "https://api.dify.ai/v1/apps/annotation-reply/enable/"
					  "status/3c90c3cc-0d44-4b50-8888-8dd25736052a";
	static const char want_disable[] = "http://10.0.0.5:8080/v1/apps/annotation-reply/disable/"
					   "status/3c90c3cc-0d44-4b50-8888-8dd25736052a";
	char buf[256];
	const size_t n = sizeof(want_enable) - 1;

	assert_int_equal(dify_status_url(buf, sizeof(buf), "https://api.dify.ai/v1",
					 JOB_ACTION_ENABLE, job_id),
			 n);
	assert_string_equal(buf, want_enable);
	assert_int_equal(dify_status_url(buf, sizeof(buf), "http://10.0.0.5:8080/v1",
					 JOB_ACTION_DISABLE, job_id),
			 sizeof(want_disable) - 1);
	assert_string_equal(buf, want_disable);

	/* exactly enough room, then one byte short */
	assert_int_equal(
		dify_status_url(buf, n + 1, "https://api.dify.ai/v1", JOB_ACTION_ENABLE, job_id),
		n);
	assert_string_equal(buf, want_enable);
	assert_int_equal(
		dify_status_url(buf, n, "https://api.dify.ai/v1", JOB_ACTION_ENABLE, job_id),
		-ENOBUFS);
	assert_int_equal(
		dify_status_url(buf, 1, "https://api.dify.ai/v1", JOB_ACTION_ENABLE, job_id),
		-ENOBUFS);

	/* upper-case hex never appears */
	static const uint8_t ff[16] = { 0xff, 0xff, 0xff, 0xff, 0xab, 0xcd, 0xef, 0x00,
					0,    1,    2,	  3,	4,    5,    6,	  7 };
	assert_int_equal(dify_status_url(buf, sizeof(buf), "http://h/v1", JOB_ACTION_ENABLE, ff),
			 strlen("http://h/v1/apps/annotation-reply/enable/status/") + 36);
	assert_string_equal(buf, "http://h/v1/apps/annotation-reply/enable/status/"
				 "ffffffff-abcd-ef00-0001-020304050607");
}

static void test_start_url(void **state)
{
	char buf[128];
	static const char want[] = "https://api.dify.ai/v1/apps/annotation-reply/enable";
	const size_t n = sizeof(want) - 1;

	assert_int_equal(
		dify_start_url(buf, sizeof(buf), "https://api.dify.ai/v1", JOB_ACTION_ENABLE), n);
	assert_string_equal(buf, want);
	assert_int_equal(
		dify_start_url(buf, sizeof(buf), "https://d.example/v1", JOB_ACTION_DISABLE),
		strlen("https://d.example/v1/apps/annotation-reply/disable"));
	assert_string_equal(buf, "https://d.example/v1/apps/annotation-reply/disable");
	assert_int_equal(dify_start_url(buf, n + 1, "https://api.dify.ai/v1", JOB_ACTION_ENABLE),
			 n);
	assert_int_equal(dify_start_url(buf, n, "https://api.dify.ai/v1", JOB_ACTION_ENABLE),
			 -ENOBUFS);
}

/* --- start body --- */

static void check_body_parses_back(const char *body, double score, const char *provider,
				   const char *model)
{
	char err[256];
	yajl_val v = yajl_tree_parse(body, err, sizeof(err));
	const char *p_score[] = { "score_threshold", NULL };
	const char *p_provider[] = { "embedding_provider_name", NULL };
	const char *p_model[] = { "embedding_model_name", NULL };

	if (!v) {
		print_error("'%s' does not parse: %s\n", body, err);
		fail();
	}
	assert_true(YAJL_IS_OBJECT(v));
	assert_int_equal(YAJL_GET_OBJECT(v)->len, 3);
	yajl_val s = yajl_tree_get(v, p_score, yajl_t_number);
	yajl_val p = yajl_tree_get(v, p_provider, yajl_t_string);
	yajl_val m = yajl_tree_get(v, p_model, yajl_t_string);
	assert_non_null(s);
	assert_non_null(p);
	assert_non_null(m);
	/* the number reads back as the very same double */
	assert_true(YAJL_IS_DOUBLE(s) || YAJL_IS_INTEGER(s));
	if (YAJL_GET_DOUBLE(s) != score) {
		print_error("score %.17g read back as %.17g from '%s'\n", score, YAJL_GET_DOUBLE(s),
			    body);
		fail();
	}
	assert_string_equal(YAJL_GET_STRING(p), provider);
	assert_string_equal(YAJL_GET_STRING(m), model);
	yajl_tree_free(v);
}

static void test_start_body_exact(void **state)
{
	static const struct {
		double score;
		const char *provider, *model, *want;
	} table[] = {
		{ 0.9, "openai", "text-embedding-3-small",
		  "{\"score_threshold\": 0.9, \"embedding_provider_name\": \"openai\", \"embedding_model_name\": \"text-embedding-3-small\"}" },
		{ 0.0, "p", "m",
		  "{\"score_threshold\": 0, \"embedding_provider_name\": \"p\", \"embedding_model_name\": \"m\"}" },
		{ 1.0, "p", "m",
		  "{\"score_threshold\": 1, \"embedding_provider_name\": \"p\", \"embedding_model_name\": \"m\"}" },
		{ 0.75, "cohere", "embed-multilingual-v3.0",
		  "{\"score_threshold\": 0.75, \"embedding_provider_name\": \"cohere\", \"embedding_model_name\": \"embed-multilingual-v3.0\"}" },
		/* %.15g would say 0.3: not the same double */
		{ 0.1 + 0.2, "p", "m",
		  "{\"score_threshold\": 0.30000000000000004, \"embedding_provider_name\": \"p\", \"embedding_model_name\": \"m\"}" },
		/* quotes, backslashes and control characters are escaped */
		{ 0.5, "a\"b\\c", "tab\there\nnl\x01\x1f",
		  "{\"score_threshold\": 0.5, \"embedding_provider_name\": \"a\\\"b\\\\c\", \"embedding_model_name\": \"tab\\u0009here\\u000anl\\u0001\\u001f\"}" },
		/* UTF-8 and DEL pass through */
		{ 0.5, "\xe6\x99\xba\xe8\xb0\xb1", "m\x7f/\xc3\xa9",
		  "{\"score_threshold\": 0.5, \"embedding_provider_name\": \"\xe6\x99\xba\xe8\xb0\xb1\", \"embedding_model_name\": \"m\x7f/\xc3\xa9\"}" },
	};

	for (size_t i = 0; i < ELEMENTSOF(table); i++) {
		int error = 1;
		char *b =
			dify_start_body(table[i].score, table[i].provider, table[i].model, &error);

		assert_non_null(b);
		assert_int_equal(error, 0);
		assert_string_equal(b, table[i].want);
		check_body_parses_back(b, table[i].score, table[i].provider, table[i].model);
		free(b);
	}
}

/* Values that need all 17 digits, and the worst case for escaping. */
static void test_start_body_round_trip(void **state)
{
	static const double scores[] = { 0.1,
					 1.0 / 3.0,
					 2.0 / 3.0,
					 0.123456789012345678,
					 2.2250738585072014e-308,
					 0.99999999999999989,
					 1e-300,
					 0.7000000000000001 };
	char provider[513], model[1025];

	/* every byte 0x01..0x7f, repeatedly */
	for (size_t i = 0; i < sizeof(provider) - 1; i++) {
		provider[i] = (char)(1 + i % 127);
	}
	provider[sizeof(provider) - 1] = '\0';
	/* all control characters: six bytes each */
	for (size_t i = 0; i < sizeof(model) - 1; i++) {
		model[i] = (char)(1 + i % 31);
	}
	model[sizeof(model) - 1] = '\0';

	for (size_t i = 0; i < ELEMENTSOF(scores); i++) {
		int error = 1;
		char *b = dify_start_body(scores[i], provider, model, &error);

		assert_non_null(b);
		assert_int_equal(error, 0);
		check_body_parses_back(b, scores[i], provider, model);
		free(b);
	}
}

static void test_start_body_invalid(void **state)
{
	static const struct {
		double score;
		const char *provider, *model;
	} table[] = {
		{ -0.1, "p", "m" },	{ 1.0000000000000002, "p", "m" },
		{ 2.0, "p", "m" },	{ NAN, "p", "m" },
		{ INFINITY, "p", "m" }, { -INFINITY, "p", "m" },
		{ 0.5, "", "m" },	{ 0.5, "p", "" },
		{ 0.5, NULL, "m" },	{ 0.5, "p", NULL },
	};

	for (size_t i = 0; i < ELEMENTSOF(table); i++) {
		int error = 0;

		assert_null(
			dify_start_body(table[i].score, table[i].provider, table[i].model, &error));
		assert_int_equal(error, -EINVAL);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status_strings),
		cmocka_unit_test(test_poll_kind_strings),
		cmocka_unit_test(test_classify_status),
		cmocka_unit_test(test_classify_status_ignores_retry_after),
		cmocka_unit_test(test_classify_bad_body),
		cmocka_unit_test(test_classify_gone),
		cmocka_unit_test(test_classify_other_job_id),
		cmocka_unit_test(test_classify_not_gone),
		cmocka_unit_test(test_classify_http_errors),
		cmocka_unit_test(test_classify_transfer),
		cmocka_unit_test(test_classify_resets_result),
		cmocka_unit_test(test_classify_long_error_msg),
		cmocka_unit_test(test_status_url),
		cmocka_unit_test(test_start_url),
		cmocka_unit_test(test_start_body_exact),
		cmocka_unit_test(test_start_body_round_trip),
		cmocka_unit_test(test_start_body_invalid),
		cmocka_unit_test(test_classify_job_fault),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
