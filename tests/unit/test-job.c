/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <syslog.h>

#include <cmocka.h>

#include "dify.h"
#include "job.h"
#include "macro.h"
#include "response.h"

static void test_outcome_strings(void **state)
{
	static const struct {
		enum job_outcome o;
		const char *s;
	} table[] = {
		{ JOB_OUTCOME_NONE, "none" },		{ JOB_OUTCOME_COMPLETED, "completed" },
		{ JOB_OUTCOME_ERROR, "error" },		{ JOB_OUTCOME_EXPIRED, "expired" },
		{ JOB_OUTCOME_UNKNOWN, "unknown" },	{ JOB_OUTCOME_TIMEOUT, "timeout" },
		{ JOB_OUTCOME_CANCELLED, "cancelled" },
	};

	assert_int_equal(ELEMENTSOF(table), _JOB_OUTCOME_MAX);
	for (size_t i = 0; i < ELEMENTSOF(table); i++) {
		assert_string_equal(job_outcome_to_string(table[i].o), table[i].s);
		assert_int_equal(job_outcome_from_string(table[i].s), table[i].o);
	}
	assert_string_equal(job_outcome_to_string(_JOB_OUTCOME_MAX), "invalid");
	assert_string_equal(job_outcome_to_string((enum job_outcome) - 1), "invalid");
	assert_int_equal(job_outcome_from_string(""), -EINVAL);
	assert_int_equal(job_outcome_from_string("Completed"), -EINVAL);
	assert_int_equal(job_outcome_from_string("completed "), -EINVAL);
	assert_int_equal(job_outcome_from_string("invalid"), -EINVAL);
	assert_int_equal(job_outcome_from_string("expire"), -EINVAL);
}

/* The PRIORITY column of CONTRACT's outcome table. */
static void test_outcome_priority(void **state)
{
	assert_int_equal(job_outcome_priority(JOB_OUTCOME_COMPLETED), 6);
	assert_int_equal(job_outcome_priority(JOB_OUTCOME_ERROR), 3);
	assert_int_equal(job_outcome_priority(JOB_OUTCOME_EXPIRED), 4);
	assert_int_equal(job_outcome_priority(JOB_OUTCOME_UNKNOWN), 4);
	assert_int_equal(job_outcome_priority(JOB_OUTCOME_TIMEOUT), 4);
	assert_int_equal(job_outcome_priority(JOB_OUTCOME_CANCELLED), 5);
	/* the syslog names agree */
	assert_int_equal(job_outcome_priority(JOB_OUTCOME_COMPLETED), LOG_INFO);
	assert_int_equal(job_outcome_priority(JOB_OUTCOME_ERROR), LOG_ERR);
	assert_int_equal(job_outcome_priority(JOB_OUTCOME_EXPIRED), LOG_WARNING);
	assert_int_equal(job_outcome_priority(JOB_OUTCOME_CANCELLED), LOG_NOTICE);
}

/* The hook column: yes for all but cancelled. */
static void test_outcome_runs_hook(void **state)
{
	assert_true(job_outcome_runs_hook(JOB_OUTCOME_COMPLETED));
	assert_true(job_outcome_runs_hook(JOB_OUTCOME_ERROR));
	assert_true(job_outcome_runs_hook(JOB_OUTCOME_EXPIRED));
	assert_true(job_outcome_runs_hook(JOB_OUTCOME_UNKNOWN));
	assert_true(job_outcome_runs_hook(JOB_OUTCOME_TIMEOUT));
	assert_false(job_outcome_runs_hook(JOB_OUTCOME_CANCELLED));
	assert_false(job_outcome_runs_hook(JOB_OUTCOME_NONE));
	assert_false(job_outcome_runs_hook(_JOB_OUTCOME_MAX));
}

static void test_state_strings(void **state)
{
	assert_string_equal(job_state_to_string(JOB_STATE_SCHEDULED), "scheduled");
	assert_string_equal(job_state_to_string(JOB_STATE_QUEUED), "queued");
	assert_string_equal(job_state_to_string(JOB_STATE_POLLING), "polling");
	assert_string_equal(job_state_to_string(JOB_STATE_STALLED), "stalled");
	assert_string_equal(job_state_to_string(JOB_STATE_FINISHED), "finished");
	assert_string_equal(job_state_to_string(_JOB_STATE_MAX), "invalid");
}

/* --- job_track_apply --- */

static struct poll_result status_result(enum dify_status s)
{
	return (struct poll_result){
		.kind = POLL_STATUS,
		.http_code = 200,
		.status = s,
		.verdict = s == DIFY_STATUS_COMPLETED ? KIND_VERDICT_COMPLETED
			   : s == DIFY_STATUS_ERROR   ? KIND_VERDICT_ERROR
						      : KIND_VERDICT_RUNNING,
		.status_text = dify_status_to_string(s),
		.error_msg = "",
	};
}

static struct poll_result kind_result(enum poll_kind k, long code)
{
	return (struct poll_result){
		.kind = k,
		.http_code = code,
		.status = DIFY_STATUS_OTHER,
		.status_text = "",
		.error_msg = "",
	};
}

#define assert_track(t, alive, has, gone, last)                                                    \
	do {                                                                                       \
		assert_int_equal((t)->seen_alive, (alive));                                        \
		assert_int_equal((t)->has_status, (has));                                          \
		assert_int_equal((t)->gone_count, (gone));                                         \
		assert_int_equal((t)->last_status, (last));                                        \
	} while (0)

static void test_track_status(void **state)
{
	static const struct {
		enum dify_status s;
		enum job_outcome o;
	} table[] = {
		{ DIFY_STATUS_WAITING, JOB_OUTCOME_NONE },
		{ DIFY_STATUS_OTHER, JOB_OUTCOME_NONE },
		{ DIFY_STATUS_COMPLETED, JOB_OUTCOME_COMPLETED },
		{ DIFY_STATUS_ERROR, JOB_OUTCOME_ERROR },
	};

	for (size_t i = 0; i < ELEMENTSOF(table); i++) {
		struct job_track t = {};
		struct poll_result r = status_result(table[i].s);

		assert_int_equal(job_track_apply(&t, &r), table[i].o);
		assert_track(&t, true, true, 0, table[i].s);
	}
}

static void test_track_waiting_then_completed(void **state)
{
	struct job_track t = {};
	struct poll_result r;

	r = status_result(DIFY_STATUS_WAITING);
	assert_int_equal(job_track_apply(&t, &r), JOB_OUTCOME_NONE);
	assert_track(&t, true, true, 0, DIFY_STATUS_WAITING);
	r = status_result(DIFY_STATUS_WAITING);
	assert_int_equal(job_track_apply(&t, &r), JOB_OUTCOME_NONE);
	assert_track(&t, true, true, 0, DIFY_STATUS_WAITING);
	r = status_result(DIFY_STATUS_COMPLETED);
	assert_int_equal(job_track_apply(&t, &r), JOB_OUTCOME_COMPLETED);
	assert_track(&t, true, true, 0, DIFY_STATUS_COMPLETED);
}

static void test_track_gone_never_alive(void **state)
{
	struct job_track t = {};
	struct poll_result gone = kind_result(POLL_GONE, 404);

	assert_int_equal(job_track_apply(&t, &gone), JOB_OUTCOME_NONE);
	assert_track(&t, false, false, 1, 0);
	assert_int_equal(job_track_apply(&t, &gone), JOB_OUTCOME_NONE);
	assert_track(&t, false, false, 2, 0);
	assert_int_equal(job_track_apply(&t, &gone), JOB_OUTCOME_UNKNOWN);
	assert_track(&t, false, false, JOB_GONE_LIMIT, 0);
	assert_int_equal(JOB_GONE_LIMIT, 3);
}

static void test_track_gone_after_alive(void **state)
{
	struct job_track t = {};
	struct poll_result alive = status_result(DIFY_STATUS_WAITING);
	struct poll_result gone = kind_result(POLL_GONE, 400);

	assert_int_equal(job_track_apply(&t, &alive), JOB_OUTCOME_NONE);
	assert_int_equal(job_track_apply(&t, &gone), JOB_OUTCOME_NONE);
	assert_int_equal(job_track_apply(&t, &gone), JOB_OUTCOME_NONE);
	assert_int_equal(job_track_apply(&t, &gone), JOB_OUTCOME_EXPIRED);
	/* the last status stays what it was */
	assert_track(&t, true, true, 3, DIFY_STATUS_WAITING);
}

/* A 200 with a job_status string, even an unknown one, resets the count. */
static void test_track_status_resets_gone(void **state)
{
	static const enum dify_status resetters[] = { DIFY_STATUS_WAITING, DIFY_STATUS_OTHER };
	for (size_t i = 0; i < ELEMENTSOF(resetters); i++) {
		struct job_track t = {};
		struct poll_result gone = kind_result(POLL_GONE, 404);
		struct poll_result alive = status_result(resetters[i]);

		assert_int_equal(job_track_apply(&t, &gone), JOB_OUTCOME_NONE);
		assert_int_equal(job_track_apply(&t, &gone), JOB_OUTCOME_NONE);
		assert_int_equal(t.gone_count, 2);
		assert_int_equal(job_track_apply(&t, &alive), JOB_OUTCOME_NONE);
		assert_track(&t, true, true, 0, resetters[i]);
		assert_int_equal(job_track_apply(&t, &gone), JOB_OUTCOME_NONE);
		assert_int_equal(job_track_apply(&t, &gone), JOB_OUTCOME_NONE);
		assert_int_equal(t.gone_count, 2);
		assert_int_equal(job_track_apply(&t, &gone), JOB_OUTCOME_EXPIRED);
	}
}

/* Every kind of trouble leaves the track exactly as it was. */
static void test_track_trouble_neither_counts_nor_resets(void **state)
{
	static const struct {
		enum poll_kind k;
		long code;
	} trouble[] = {
		{ POLL_AUTH, 401 },	   { POLL_AUTH, 403 },	       { POLL_RATE_LIMITED, 429 },
		{ POLL_UNAVAILABLE, 503 }, { POLL_SERVER_ERROR, 500 }, { POLL_SERVER_ERROR, 502 },
		{ POLL_HTTP_ERROR, 404 },  { POLL_HTTP_ERROR, 302 },   { POLL_BAD_BODY, 200 },
		{ POLL_TRANSFER, 0 },
	};

	for (size_t i = 0; i < ELEMENTSOF(trouble); i++) {
		struct poll_result bad = kind_result(trouble[i].k, trouble[i].code);
		struct poll_result gone = kind_result(POLL_GONE, 404);
		struct job_track t = {}, before;

		assert_true(poll_kind_is_trouble(trouble[i].k));

		/* on a fresh track */
		assert_int_equal(job_track_apply(&t, &bad), JOB_OUTCOME_NONE);
		assert_track(&t, false, false, 0, 0);

		/* between "does not exist" answers: they still add up to three */
		assert_int_equal(job_track_apply(&t, &gone), JOB_OUTCOME_NONE);
		assert_int_equal(job_track_apply(&t, &gone), JOB_OUTCOME_NONE);
		before = t;
		for (int n = 0; n < 10; n++) {
			assert_int_equal(job_track_apply(&t, &bad), JOB_OUTCOME_NONE);
		}
		assert_memory_equal(&t, &before, sizeof(t));
		assert_int_equal(job_track_apply(&t, &gone), JOB_OUTCOME_UNKNOWN);
	}
}

static void test_track_gone_saturates(void **state)
{
	struct job_track t = {};
	struct poll_result gone = kind_result(POLL_GONE, 404);

	for (unsigned i = 1; i <= 300; i++) {
		enum job_outcome o = job_track_apply(&t, &gone);
		assert_int_equal(o, i < JOB_GONE_LIMIT ? JOB_OUTCOME_NONE : JOB_OUTCOME_UNKNOWN);
		assert_int_equal(t.gone_count, MIN(i, 255U));
	}
}

/* A persisted track (restart) continues where it stopped. */
static void test_track_restored(void **state)
{
	struct job_track t = { .seen_alive = true,
			       .has_status = true,
			       .gone_count = 2,
			       .last_status = DIFY_STATUS_WAITING };
	struct poll_result gone = kind_result(POLL_GONE, 404);

	assert_int_equal(job_track_apply(&t, &gone), JOB_OUTCOME_EXPIRED);
}

/* From wire bytes to outcome: response_parse, dify_classify, job_track_apply. */
struct exchange {
	enum transfer_error transfer;
	long code;
	const char *body;
	enum poll_kind kind;
	enum job_outcome outcome;
};

static void run_exchanges(const struct exchange *x, size_t n)
{
	struct job_track t = {};

	for (size_t i = 0; i < n; i++) {
		struct response resp;
		struct poll_result r;
		char err[160];
		bool ok;

		ok = response_parse(x[i].body, strlen(x[i].body), &resp, err, sizeof(err)) == 0;
		dify_classify(x[i].transfer, x[i].code, &resp, ok, 0, NULL, &r);
		if (r.kind != x[i].kind) {
			print_error("exchange #%zu: kind %s, expected %s\n", i,
				    poll_kind_to_string(r.kind), poll_kind_to_string(x[i].kind));
		}
		assert_int_equal(r.kind, x[i].kind);
		assert_int_equal(job_track_apply(&t, &r), x[i].outcome);
	}
}

#define GONE_404                                                                                   \
	"{\"code\": \"not_found\", \"message\": \"The job does not exist.\", \"status\": 404}"
#define GONE_400                                                                                   \
	"{\"code\": \"invalid_param\", \"message\": \"The job does not exist.\", \"status\": 400}"

static void test_track_scenario_expired(void **state)
{
	static const struct exchange x[] = {
		{ TRANSFER_OK, 200, "{\"job_id\": \"a\", \"job_status\": \"waiting\"}", POLL_STATUS,
		  JOB_OUTCOME_NONE },
		{ TRANSFER_OK, 503, "<html>busy</html>", POLL_UNAVAILABLE, JOB_OUTCOME_NONE },
		{ TRANSFER_RESET, 0, "", POLL_TRANSFER, JOB_OUTCOME_NONE },
		{ TRANSFER_OK, 404, GONE_404, POLL_GONE, JOB_OUTCOME_NONE },
		{ TRANSFER_OK, 404, "<html>Not Found</html>", POLL_HTTP_ERROR, JOB_OUTCOME_NONE },
		{ TRANSFER_OK, 404, GONE_404, POLL_GONE, JOB_OUTCOME_NONE },
		{ TRANSFER_OK, 200, "{\"job_status\": ", POLL_BAD_BODY, JOB_OUTCOME_NONE },
		{ TRANSFER_OK, 404, GONE_404, POLL_GONE, JOB_OUTCOME_EXPIRED },
	};
	run_exchanges(x, ELEMENTSOF(x));
}

static void test_track_scenario_unknown_old_dify(void **state)
{
	static const struct exchange x[] = {
		{ TRANSFER_OK, 400, GONE_400, POLL_GONE, JOB_OUTCOME_NONE },
		{ TRANSFER_OK, 401,
		  "{\"code\": \"unauthorized\", \"message\": \"x\", \"status\": 401}", POLL_AUTH,
		  JOB_OUTCOME_NONE },
		{ TRANSFER_OK, 400, GONE_400, POLL_GONE, JOB_OUTCOME_NONE },
		{ TRANSFER_OK, 400, GONE_400, POLL_GONE, JOB_OUTCOME_UNKNOWN },
	};
	run_exchanges(x, ELEMENTSOF(x));
}

static void test_track_scenario_reset(void **state)
{
	static const struct exchange x[] = {
		{ TRANSFER_OK, 404, GONE_404, POLL_GONE, JOB_OUTCOME_NONE },
		{ TRANSFER_OK, 404, GONE_404, POLL_GONE, JOB_OUTCOME_NONE },
		{ TRANSFER_OK, 200, "{\"job_id\": \"a\", \"job_status\": \"queued-v2\"}",
		  POLL_STATUS, JOB_OUTCOME_NONE },
		{ TRANSFER_OK, 404, GONE_404, POLL_GONE, JOB_OUTCOME_NONE },
		{ TRANSFER_OK, 404, GONE_404, POLL_GONE, JOB_OUTCOME_NONE },
		{ TRANSFER_OK, 200,
		  "{\"job_id\": \"a\", \"job_status\": \"error\", \"error_msg\": \"boom\"}",
		  POLL_STATUS, JOB_OUTCOME_ERROR },
	};
	run_exchanges(x, ELEMENTSOF(x));
}

static void test_job_new_free(void **state)
{
	struct job *j = job_new();

	assert_non_null(j);
	assert_int_equal(j->outcome, JOB_OUTCOME_NONE);
	assert_false(job_is_finished(j));
	assert_false(heap_node_queued(&j->timer));
	assert_int_equal(j->timer.index, HEAP_INVALID_INDEX);
	assert_int_equal(j->dirty_idx, UINT32_MAX);
	assert_int_equal(j->deadline_usec, USEC_INFINITY);
	assert_int_equal(j->polls, 0);
	assert_int_equal(j->flags, 0);
	assert_false(j->track.seen_alive);
	assert_int_equal(j->track.gone_count, 0);
	assert_null(j->endpoint);
	assert_null(j->file);
	assert_null(j->result);
	assert_null(j->request);

	j->outcome = JOB_OUTCOME_COMPLETED;
	assert_true(job_is_finished(j));

	/* what the job owns goes with it (ASan reports a leak otherwise) */
	j->file = strdup("a.job");
	j->description = strdup("desc");
	j->hook = strdup("");
	j->result = calloc(1, sizeof(*j->result));
	assert_non_null(j->result);
	j->result->error_msg = strdup("boom");
	j->result->body = strdup("{}");
	j->result->body_len = 2;
	job_free(j);

	job_free(NULL);
}

/* 100,000 jobs must fit in a few tens of MiB (job.h). */
/* A job of a [Kind:NAME]: its identity text behind it, its name and id. */
static void test_job_user(void **state)
{
	struct job *j = job_new_kind(KIND_USER), *w = job_new_kind(KIND_WORKFLOW_RUN);
	struct kind_ident ident = { .kind = KIND_USER, .user = "openai-batch\nbatch_abc\nA=1" },
			  back, bad = { .kind = KIND_USER, .user = "no-newline" };
	char buf[KIND_ID_STRING_MAX], what[JOB_WHAT_MAX];

	assert_non_null(j);
	assert_non_null(job_user(j));
	assert_null(job_user(w));
	assert_string_equal(job_kind_name(j), "invalid"); /* no identity yet */
	assert_int_equal(job_set_ident(j, &bad), -EINVAL);
	assert_int_equal(job_set_ident(j, &ident), 0);
	assert_string_equal(job_kind_name(j), "openai-batch");
	assert_string_equal(job_id_string(j, buf), "batch_abc");
	assert_string_equal(job_what(j, what, sizeof(what)), "openai-batch job");
	job_ident(j, &back);
	assert_true(back.user != ident.user); /* a copy, owned by the job */
	assert_true(kind_ident_equal(&back, &ident));
	/* set again (a rename keeps the job): the old text is freed */
	assert_int_equal(job_set_ident(j, &ident), 0);
	assert_string_equal(job_kind_name(w), "workflow-run");
	job_free(j);
	job_free(w);
}

static void test_job_size(void **state)
{
	assert_true(sizeof(struct job) <= 256);
	assert_int_equal(sizeof(struct job_track), 5);
#if defined(__x86_64__)
	/* kinds did not make annotation jobs bigger: the dataset and progress of
	 * document-indexing live behind its job (job_new_kind()); stalls added
	 * 32 bytes (the stall clock, 24, and StallAfter=, 8): 18.4 MB for
	 * 100,000 jobs */
	assert_int_equal(sizeof(struct job), 184);
#endif
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_outcome_strings),
		cmocka_unit_test(test_outcome_priority),
		cmocka_unit_test(test_outcome_runs_hook),
		cmocka_unit_test(test_state_strings),
		cmocka_unit_test(test_track_status),
		cmocka_unit_test(test_track_waiting_then_completed),
		cmocka_unit_test(test_track_gone_never_alive),
		cmocka_unit_test(test_track_gone_after_alive),
		cmocka_unit_test(test_track_status_resets_gone),
		cmocka_unit_test(test_track_trouble_neither_counts_nor_resets),
		cmocka_unit_test(test_track_gone_saturates),
		cmocka_unit_test(test_track_restored),
		cmocka_unit_test(test_track_scenario_expired),
		cmocka_unit_test(test_track_scenario_unknown_old_dify),
		cmocka_unit_test(test_track_scenario_reset),
		cmocka_unit_test(test_job_new_free),
		cmocka_unit_test(test_job_size),
		cmocka_unit_test(test_job_user),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
