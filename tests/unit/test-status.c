/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "status.h"

/* 2026-12-02 09:30:00 UTC */
#define NOW (1796203800ULL * USEC_PER_SEC)

static const char *fmt(const struct status_counts *c)
{
	static char buf[STATUS_MAX];
	memset(buf, 'X', sizeof(buf));
	return status_format(buf, sizeof(buf), c);
}

static void test_counts(void **state)
{
	struct status_counts c = { .now_usec = NOW };

	assert_string_equal(
		fmt(&c),
		"Watching 0 jobs (0 requests in flight, 0 waiting for a connection), 0 finished");
	c = (struct status_counts){ .total = 3, .finished = 2, .in_flight = 1, .queued = 7 };
	assert_string_equal(
		fmt(&c),
		"Watching 1 job (1 request in flight, 7 waiting for a connection), 2 finished");
	c.total = 102;
	c.in_flight = 40;
	c.hooks_running = 1;
	assert_string_equal(
		fmt(&c),
		"Watching 100 jobs (40 requests in flight, 7 waiting for a connection), 2 finished, 1 hook running, 0 waiting");
	c.hooks_running = 0;
	c.hooks_queued = 5; /* only waiting hooks still show */
	assert_string_equal(
		fmt(&c),
		"Watching 100 jobs (40 requests in flight, 7 waiting for a connection), 2 finished, 0 hooks running, 5 waiting");
	c.hooks_queued = 0;
	c.stalled = 3;
	assert_string_equal(
		fmt(&c),
		"Watching 100 jobs (40 requests in flight, 7 waiting for a connection, 3 stalled), 2 finished");
	c.stalled = 0;
	c.batches = 2;
	c.documents_done = 25;
	c.documents_total = 40;
	assert_string_equal(
		fmt(&c),
		"Watching 100 jobs (40 requests in flight, 7 waiting for a connection), 2 finished, 2 document batches indexing: 25/40 documents done");
	c.batches = 1;
	assert_string_equal(
		fmt(&c),
		"Watching 100 jobs (40 requests in flight, 7 waiting for a connection), 2 finished, 1 document batch indexing: 25/40 documents done");
	c.batches = 0;
	c.state_failing = true;
	assert_string_equal(
		fmt(&c),
		"Watching 100 jobs (40 requests in flight, 7 waiting for a connection), 2 finished; state file not writable");
}

static void test_endpoints(void **state)
{
	struct status_endpoint e[] = {
		{ .name = "main",
		  .in_trouble = true,
		  .trouble_text = "HTTP 503",
		  .trouble_since_usec = NOW - 3600 * USEC_PER_SEC },
		{ .name = "backup", .no_key = true },
		/* yesterday: the date is shown */
		{ .name = "old",
		  .in_trouble = true,
		  .trouble_text = NULL,
		  .trouble_since_usec = NOW - 86400 * USEC_PER_SEC,
		  .no_key = true },
	};
	struct status_counts c = {
		.total = 1, .endpoints = e, .n_endpoints = 3, .state_failing = true, .now_usec = NOW
	};

	assert_string_equal(
		fmt(&c),
		"Watching 1 job (0 requests in flight, 0 waiting for a connection), 0 finished; endpoint main: HTTP 503 since 08:30; endpoint backup: no API key; endpoint old:  since Dec 01 09:30; state file not writable");
}

/* A line longer than the buffer is cut and stays terminated; an endpoint
 * that does not fit is not half-named after the cut. */
static void test_cut(void **state)
{
	struct status_endpoint e[STATUS_ENDPOINTS_MAX];
	struct status_counts c = { .endpoints = e, .n_endpoints = STATUS_ENDPOINTS_MAX };
	char buf[STATUS_MAX + 8];

	for (size_t i = 0; i < STATUS_ENDPOINTS_MAX; i++) {
		e[i] = (struct status_endpoint){ .name = "a", .no_key = true };
	}
	memset(buf, 'X', sizeof(buf));
	status_format(buf, STATUS_MAX, &c);
	assert_int_equal(strlen(buf), STATUS_MAX - 1);
	assert_int_equal(buf[STATUS_MAX], 'X'); /* nothing written past the size */
	/* STATUS_ENDPOINTS_MAX is enough: the shortest names already overflow */
	c.n_endpoints = 22;
	status_format(buf, STATUS_MAX, &c);
	assert_int_equal(strlen(buf), STATUS_MAX - 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counts),
		cmocka_unit_test(test_endpoints),
		cmocka_unit_test(test_cut),
	};
	setenv("TZ", "UTC", 1);
	tzset();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
