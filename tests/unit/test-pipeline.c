/* SPDX-License-Identifier: MIT */
/* The daemon's restore and cancel/settle decisions (pipeline.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "pipeline.h"

static const char *const action_names[] = {
	[RESTORE_RESUME] = "resume",
	[RESTORE_FINISHED] = "finished",
	[RESTORE_WATCH_ORPHAN] = "watch-orphan",
	[RESTORE_ORPHAN_ENDED] = "orphan-ended",
	[RESTORE_CANCEL] = "cancel",
	[RESTORE_FORGET] = "forget",
	[RESTORE_REPORT] = "report",
	[RESTORE_RUN_HOOK] = "run-hook",
};

static void expect(struct restore_input in, enum restore_action want)
{
	enum restore_action got = pipeline_restore_action(&in);
	if (got != want) {
		fail_msg(
			"filed=%d outcome=%d journaled=%d running=%d done=%d alive=%d: got %s, want %s",
			in.filed, in.has_outcome, in.journaled, in.hook_running, in.hook_done,
			in.hook_alive, action_names[got], action_names[want]);
	}
}

static void test_restore_filed(void **state)
{
	/* pending: polled again, whatever the hook columns say */
	expect((struct restore_input){ .filed = true }, RESTORE_RESUME);
	expect((struct restore_input){ .filed = true,
				       .journaled = true,
				       .hook_running = true,
				       .hook_alive = true },
	       RESTORE_RESUME);
	/* finished: result restored; journal entry and hook left to resume_jobs() */
	expect((struct restore_input){ .filed = true, .has_outcome = true }, RESTORE_FINISHED);
	expect((struct restore_input){ .filed = true, .has_outcome = true, .journaled = true },
	       RESTORE_FINISHED);
	expect(
		(struct restore_input){
			.filed = true, .has_outcome = true, .journaled = true, .hook_done = true },
		RESTORE_FINISHED);
	/* a hook the crashed daemon started: waited for, or recorded as ended,
	 * never run a second time */
	expect((struct restore_input){ .filed = true,
				       .has_outcome = true,
				       .journaled = true,
				       .hook_running = true,
				       .hook_alive = true },
	       RESTORE_WATCH_ORPHAN);
	expect((struct restore_input){ .filed = true,
				       .has_outcome = true,
				       .journaled = true,
				       .hook_running = true },
	       RESTORE_ORPHAN_ENDED);
}

static void test_restore_unfiled(void **state)
{
	/* removed while down: cancelled (and reported so) */
	expect((struct restore_input){ 0 }, RESTORE_CANCEL);
	expect((struct restore_input){ .hook_running = true, .hook_alive = true }, RESTORE_CANCEL);
	/* all done: nothing to say, the row goes */
	expect((struct restore_input){ .has_outcome = true, .journaled = true, .hook_done = true },
	       RESTORE_FORGET);
	/* the journal entry first, then the hook */
	expect((struct restore_input){ .has_outcome = true }, RESTORE_REPORT);
	expect((struct restore_input){ .has_outcome = true, .hook_done = true }, RESTORE_REPORT);
	expect((struct restore_input){ .has_outcome = true, .journaled = true }, RESTORE_RUN_HOOK);
	expect((struct restore_input){ .has_outcome = true,
				       .journaled = true,
				       .hook_running = true,
				       .hook_alive = true },
	       RESTORE_WATCH_ORPHAN);
	expect((struct restore_input){ .has_outcome = true,
				       .journaled = true,
				       .hook_running = true },
	       RESTORE_ORPHAN_ENDED);
}

/* Every combination gets an action, and an alive orphan is never run again
 * nor forgotten while it runs. */
static void test_restore_all(void **state)
{
	for (unsigned m = 0; m < 64; m++) {
		struct restore_input in = {
			.filed = m & 1,
			.has_outcome = m & 2,
			.journaled = m & 4,
			.hook_running = m & 8,
			.hook_done = (m & 16) && !(m & 8), /* one hook state at a time */
			.hook_alive = (m & 32) && (m & 8),
		};
		enum restore_action a = pipeline_restore_action(&in);
		assert_true(a < _RESTORE_ACTION_MAX);
		if (in.has_outcome && in.hook_running && in.hook_alive) {
			assert_int_equal(a, RESTORE_WATCH_ORPHAN);
		}
		if (a == RESTORE_RUN_HOOK || a == RESTORE_FORGET) {
			assert_true(in.journaled && !in.filed);
		}
	}
}

/* job_is_finished() means: it has an outcome */
static struct job job(enum job_outcome o, uint16_t flags)
{
	return (struct job){ .outcome = (uint8_t)o,
			     .state = o == JOB_OUTCOME_NONE ? JOB_STATE_POLLING
							    : JOB_OUTCOME_COMPLETED,
			     .flags = flags };
}

#define DONE_FLAGS (JOB_FLAG_JOURNALED | JOB_FLAG_HOOK_DONE)

static void test_job_done(void **state)
{
	struct job j = job(JOB_OUTCOME_COMPLETED, DONE_FLAGS);

	assert_true(pipeline_job_done(&j));
	j = job(JOB_OUTCOME_COMPLETED, JOB_FLAG_JOURNALED); /* hook due */
	assert_false(pipeline_job_done(&j));
	j = job(JOB_OUTCOME_COMPLETED, JOB_FLAG_HOOK_DONE); /* journal entry due */
	assert_false(pipeline_job_done(&j));
	/* on a list: whoever holds the list frees it */
	j = job(JOB_OUTCOME_COMPLETED, DONE_FLAGS | JOB_FLAG_REPORT_QUEUED);
	assert_false(pipeline_job_done(&j));
	j = job(JOB_OUTCOME_COMPLETED, DONE_FLAGS | JOB_FLAG_UNSETTLED);
	assert_false(pipeline_job_done(&j));
	j = job(JOB_OUTCOME_COMPLETED, DONE_FLAGS | JOB_FLAG_HOOK_RUNNING);
	assert_false(pipeline_job_done(&j));
	/* not finished: nothing is done */
	j = job(JOB_OUTCOME_NONE, DONE_FLAGS);
	assert_false(pipeline_job_done(&j));
}

static void test_settle(void **state)
{
	struct job j = job(JOB_OUTCOME_NONE, 0);

	/* a pending job whose file went: cancelled, unless a file names it again */
	assert_int_equal(pipeline_settle_action(&j, false), SETTLE_CANCEL);
	assert_int_equal(pipeline_settle_action(&j, true), SETTLE_KEEP);
	j = job(JOB_OUTCOME_COMPLETED, DONE_FLAGS); /* finished and reported: still the job */
	assert_int_equal(pipeline_settle_action(&j, true), SETTLE_KEEP);
	assert_int_equal(pipeline_settle_action(&j, false), SETTLE_CANCEL);
	/* detached while on the list (renamed, then its new file named another job) */
	j = job(JOB_OUTCOME_COMPLETED, DONE_FLAGS | JOB_FLAG_CANCELLED);
	assert_int_equal(pipeline_settle_action(&j, false), SETTLE_FREE);
	j = job(JOB_OUTCOME_COMPLETED,
		JOB_FLAG_JOURNALED | JOB_FLAG_CANCELLED | JOB_FLAG_HOOK_RUNNING);
	assert_int_equal(pipeline_settle_action(&j, false), SETTLE_LEAVE);
	j = job(JOB_OUTCOME_COMPLETED, JOB_FLAG_CANCELLED | JOB_FLAG_REPORT_QUEUED);
	assert_int_equal(pipeline_settle_action(&j, false), SETTLE_LEAVE);
}

/* The stress of test_rename on a loaded machine: a finished job's file was
 * copied (the copy refused as a duplicate) and removed; the batch ended; the
 * copy was renamed over another job's file before the settle re-read it. The
 * job was cancelled and forgotten, and the renamed copy accepted as a new
 * job: a second result and a second hook. The next batch decides instead. */
static void test_settle_later(void **state)
{
	struct job j = job(JOB_OUTCOME_COMPLETED, DONE_FLAGS | JOB_FLAG_SETTLE_LATER);

	assert_int_equal(pipeline_settle_action(&j, false), SETTLE_LATER);
	assert_int_equal(pipeline_settle_action(&j, true), SETTLE_KEEP);
	j = job(JOB_OUTCOME_NONE, JOB_FLAG_SETTLE_LATER); /* pending: not cancelled yet either */
	assert_int_equal(pipeline_settle_action(&j, false), SETTLE_LATER);
	/* cancelled meanwhile (its new file named another job): as before */
	j = job(JOB_OUTCOME_COMPLETED, DONE_FLAGS | JOB_FLAG_CANCELLED | JOB_FLAG_SETTLE_LATER);
	assert_int_equal(pipeline_settle_action(&j, false), SETTLE_FREE);
	/* the next settle, the flag cleared: no file by then is a removal */
	j = job(JOB_OUTCOME_COMPLETED, DONE_FLAGS);
	assert_int_equal(pipeline_settle_action(&j, false), SETTLE_CANCEL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_restore_filed), cmocka_unit_test(test_restore_unfiled),
		cmocka_unit_test(test_restore_all),   cmocka_unit_test(test_job_done),
		cmocka_unit_test(test_settle),	      cmocka_unit_test(test_settle_later),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
