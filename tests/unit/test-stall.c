/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "stall.h"
#include "string-util.h"

#define T0 (1796203800ULL * USEC_PER_SEC)
#define AFTER (30 * USEC_PER_MINUTE)

static void test_decide(void **state)
{
	/* no status seen yet: no clock */
	assert_int_equal(stall_decide(0, 0, T0, AFTER), STALL_NOTHING);
	/* still, not long enough */
	assert_int_equal(stall_decide(T0, 0, T0 + AFTER - 1, AFTER), STALL_NOTHING);
	/* exactly StallAfter= */
	assert_int_equal(stall_decide(T0, 0, T0 + AFTER, AFTER), STALL_ANNOUNCE);
	assert_int_equal(stall_decide(T0, 0, T0 + 10 * AFTER, AFTER), STALL_ANNOUNCE);
	/* infinity: off */
	assert_int_equal(stall_decide(T0, 0, UINT64_MAX - 1, USEC_INFINITY), STALL_NOTHING);
	/* announced and still: nothing more, whatever StallAfter= is now */
	assert_int_equal(stall_decide(T0, T0 + AFTER, T0 + 5 * AFTER, AFTER), STALL_NOTHING);
	assert_int_equal(stall_decide(T0, T0 + AFTER, T0 + 5 * AFTER, USEC_INFINITY),
			 STALL_NOTHING);
	assert_int_equal(stall_decide(T0, T0 + AFTER, T0 + 5 * AFTER, 1), STALL_NOTHING);
	/* moved after the announcement: clear */
	assert_int_equal(stall_decide(T0 + 2 * AFTER, T0 + AFTER, T0 + 2 * AFTER, AFTER),
			 STALL_CLEAR);
	assert_int_equal(stall_decide(T0 + AFTER, T0 + AFTER, T0 + 2 * AFTER, USEC_INFINITY),
			 STALL_CLEAR);
	/* the wall clock went back: never a warning from a negative age */
	assert_int_equal(stall_decide(T0, 0, T0 - 1, AFTER), STALL_NOTHING);
}

static void test_observe(void **state)
{
	struct stall_clock c = { 0 };
	uint32_t waiting = stall_fingerprint("waiting", 0, 0),
		 completed = stall_fingerprint("completed", 0, 0);

	assert_int_not_equal(waiting, completed);
	assert_int_equal(stall_observe(&c, waiting, T0, AFTER), STALL_NOTHING);
	assert_int_equal(c.changed_usec, T0);
	assert_int_equal(stall_observe(&c, waiting, T0 + AFTER - 1, AFTER), STALL_NOTHING);
	assert_int_equal(stall_observe(&c, waiting, T0 + AFTER + 5, AFTER), STALL_ANNOUNCE);
	assert_int_equal(c.stalled_usec, T0 + AFTER + 5);
	/* once */
	assert_int_equal(stall_observe(&c, waiting, T0 + 3 * AFTER, AFTER), STALL_NOTHING);
	assert_int_equal(c.changed_usec, T0);
	/* moves: one clear, and the clock restarts */
	assert_int_equal(stall_observe(&c, completed, T0 + 4 * AFTER, AFTER), STALL_CLEAR);
	assert_int_equal(c.stalled_usec, 0);
	assert_int_equal(c.changed_usec, T0 + 4 * AFTER);
	assert_int_equal(stall_observe(&c, completed, T0 + 4 * AFTER + 1, AFTER), STALL_NOTHING);
	/* and can stall again */
	assert_int_equal(stall_observe(&c, completed, T0 + 5 * AFTER, AFTER), STALL_ANNOUNCE);
}

static void test_restart(void **state)
{
	/* A restored job: its clock and announcement, no fingerprint. */
	struct stall_clock c = { .changed_usec = T0, .stalled_usec = T0 + AFTER };
	uint32_t waiting = stall_fingerprint("waiting", 0, 0);

	/* the first answer keeps the clock and does not re-announce */
	assert_int_equal(stall_observe(&c, waiting, T0 + 2 * AFTER, AFTER), STALL_NOTHING);
	assert_int_equal(c.changed_usec, T0);
	assert_int_equal(c.stalled_usec, T0 + AFTER);
	assert_int_equal(stall_observe(&c, waiting, T0 + 3 * AFTER, AFTER), STALL_NOTHING);

	/* not announced before the restart, still past due: announced now */
	c = (struct stall_clock){ .changed_usec = T0 };
	assert_int_equal(stall_observe(&c, waiting, T0 + AFTER / 2, AFTER), STALL_NOTHING);
	assert_int_equal(c.changed_usec, T0);
	assert_int_equal(stall_observe(&c, waiting, T0 + AFTER, AFTER), STALL_ANNOUNCE);
}

static void test_fingerprint(void **state)
{
	assert_int_equal(stall_fingerprint("indexing", 1, 10),
			 stall_fingerprint("indexing", 1, 10));
	/* segments moving is progress */
	assert_int_not_equal(stall_fingerprint("indexing", 1, 10),
			     stall_fingerprint("indexing", 1, 11));
	/* a document done is progress */
	assert_int_not_equal(stall_fingerprint("indexing", 1, 10),
			     stall_fingerprint("indexing", 2, 10));
	assert_int_not_equal(stall_fingerprint(NULL, 0, 0), 0);
	assert_int_equal(stall_fingerprint(NULL, 0, 0), stall_fingerprint("", 0, 0));
	assert_int_not_equal(stall_fingerprint("running", 0, 0), stall_fingerprint("paused", 0, 0));
}

static void test_hint(void **state)
{
	const char *h = stall_hint(KIND_ANNOTATION_REPLY, JOB_ACTION_DISABLE, "waiting");
	assert_non_null(strstr(h, "'dataset'"));
	assert_non_null(strstr(h, "annotation reply was ever enabled"));
	h = stall_hint(KIND_ANNOTATION_REPLY, JOB_ACTION_ENABLE, "waiting");
	assert_non_null(strstr(h, "'dataset'"));
	assert_null(strstr(h, "annotation reply was ever enabled"));
	assert_non_null(strstr(stall_hint(KIND_DOCUMENT_INDEXING, 0, "paused"), "paused"));
	assert_non_null(
		strstr(stall_hint(KIND_DOCUMENT_INDEXING, 0, "indexing"), "stuck in indexing"));
	assert_non_null(strstr(stall_hint(KIND_DOCUMENT_INDEXING, 0, "waiting"), "'dataset'"));
	assert_non_null(strstr(stall_hint(KIND_WORKFLOW_RUN, 0, "paused"), "someone paused"));
	assert_non_null(strstr(stall_hint(KIND_WORKFLOW_RUN, 0, "running"), "workflows"));
	assert_non_null(strstr(stall_hint(KIND_ANNOTATION_REPLY, 0, "processing"), "Dify"));
	assert_non_null(stall_hint(_KIND_TYPE_MAX, 0, NULL));
	/* a user kind: the service's own view, and words in no list */
	h = stall_hint(KIND_USER, 0, "in_progress");
	assert_non_null(strstr(h, "service's own view"));
	assert_non_null(strstr(h, "Completed="));
	assert_null(strstr(h, "Dify"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decide),	cmocka_unit_test(test_observe),
		cmocka_unit_test(test_restart), cmocka_unit_test(test_fingerprint),
		cmocka_unit_test(test_hint),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
