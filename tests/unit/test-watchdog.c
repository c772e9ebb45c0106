/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "watchdog.h"

#define SEC USEC_PER_SEC
#define BOUND (15 * SEC) /* WatchdogSec=30s */
#define NOW (1000 * SEC)

static struct watchdog_sample idle(void)
{
	return (struct watchdog_sample){ .now_usec = NOW,
					 .oldest_due_usec = USEC_INFINITY,
					 .oldest_report_usec = USEC_INFINITY };
}

static void test_nothing_to_do(void **state)
{
	struct watchdog_sample s = idle();
	/* a daemon with no job and no result is healthy */
	assert_int_equal(watchdog_check(&s, BOUND), WATCHDOG_PROGRESSING);
}

static void test_polls(void **state)
{
	struct watchdog_sample s = idle();

	s.oldest_due_usec = NOW + 5 * SEC; /* due later */
	assert_int_equal(watchdog_check(&s, BOUND), WATCHDOG_PROGRESSING);
	s.oldest_due_usec = NOW - 2 * SEC; /* late, but within the bound */
	assert_int_equal(watchdog_check(&s, BOUND), WATCHDOG_PROGRESSING);
	s.oldest_due_usec = NOW - BOUND; /* exactly the bound */
	assert_int_equal(watchdog_check(&s, BOUND), WATCHDOG_PROGRESSING);
	s.oldest_due_usec = NOW - BOUND - 1; /* due and not sent for longer */
	assert_int_equal(watchdog_check(&s, BOUND), WATCHDOG_POLLS_LATE);
	s.oldest_due_usec = 0; /* due since the epoch of the clock */
	assert_int_equal(watchdog_check(&s, BOUND), WATCHDOG_POLLS_LATE);
}

static void test_results(void **state)
{
	struct watchdog_sample s = idle();

	s.oldest_report_usec = NOW - BOUND;
	assert_int_equal(watchdog_check(&s, BOUND), WATCHDOG_PROGRESSING);
	s.oldest_report_usec = NOW - BOUND - 1; /* a result waits too long */
	assert_int_equal(watchdog_check(&s, BOUND), WATCHDOG_RESULTS_LATE);
	/* held back on purpose (state file not writable): not a hang */
	s.reports_held = true;
	assert_int_equal(watchdog_check(&s, BOUND), WATCHDOG_PROGRESSING);
	/* but late polls still count */
	s.oldest_due_usec = NOW - 60 * SEC;
	assert_int_equal(watchdog_check(&s, BOUND), WATCHDOG_POLLS_LATE);
	/* a result queued this instant */
	s = idle();
	s.oldest_report_usec = NOW;
	assert_int_equal(watchdog_check(&s, BOUND), WATCHDOG_PROGRESSING);
}

static void test_clock_edges(void **state)
{
	struct watchdog_sample s = idle();

	/* a time after now (queued during this turn, sampled earlier) is not late */
	s.oldest_report_usec = NOW + 1;
	s.oldest_due_usec = NOW + 1;
	assert_int_equal(watchdog_check(&s, BOUND), WATCHDOG_PROGRESSING);
	/* early in the clock's life: now smaller than the bound */
	s = idle();
	s.now_usec = 3 * SEC;
	s.oldest_due_usec = 0;
	assert_int_equal(watchdog_check(&s, BOUND), WATCHDOG_PROGRESSING);
	/* a zero bound: anything in the past is late */
	s = idle();
	s.oldest_due_usec = NOW - 1;
	assert_int_equal(watchdog_check(&s, 0), WATCHDOG_POLLS_LATE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nothing_to_do),
		cmocka_unit_test(test_polls),
		cmocka_unit_test(test_results),
		cmocka_unit_test(test_clock_edges),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
