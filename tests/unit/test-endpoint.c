/* SPDX-License-Identifier: MIT */
/*
 * The endpoint's bookkeeping without an event loop: its FIFO of due jobs
 * (order, removal anywhere, counts), the Retry-After block, and the trouble
 * tracking that decides what the poller logs: when the endpoint's trouble
 * starts, changes and ends, and when faults of single jobs' answers are those
 * jobs' own and when (ENDPOINT_FAULT_JOBS different jobs in a streak) the
 * endpoint's, each job counted once per streak.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "endpoint.h"

static struct job jobs[6];

static struct endpoint *new_endpoint(void)
{
	struct endpoint *e = endpoint_new("ep");

	assert_non_null(e);
	assert_string_equal(e->name, "ep");
	for (size_t i = 0; i < ELEMENTSOF(jobs); i++) {
		jobs[i] = (struct job){ .endpoint = e };
	}
	return e;
}

static void test_queue_fifo(void **state)
{
	struct endpoint *e = new_endpoint();

	assert_null(endpoint_queue_pop(e));
	for (size_t i = 0; i < 4; i++) {
		endpoint_queue_push(e, &jobs[i]);
		assert_int_equal(e->n_queued, i + 1);
	}
	for (size_t i = 0; i < 4; i++) {
		assert_ptr_equal(endpoint_queue_pop(e), &jobs[i]);
		assert_null(jobs[i].queue_next);
		assert_int_equal(e->n_queued, 3 - i);
	}
	assert_null(endpoint_queue_pop(e));
	assert_null(e->queue_head);
	assert_null(e->queue_tail);
	/* empty again: a push starts a fresh list */
	endpoint_queue_push(e, &jobs[5]);
	assert_ptr_equal(e->queue_head, &jobs[5]);
	assert_ptr_equal(e->queue_tail, &jobs[5]);
	assert_ptr_equal(endpoint_queue_pop(e), &jobs[5]);
	e = endpoint_free(e);
	assert_null(e);
	assert_null(endpoint_free(NULL));
}

static void test_queue_remove(void **state)
{
	struct endpoint *e = new_endpoint();

	for (size_t i = 0; i < 5; i++) {
		endpoint_queue_push(e, &jobs[i]);
	}
	assert_false(endpoint_queue_remove(e, &jobs[5])); /* not queued */
	assert_int_equal(e->n_queued, 5);
	assert_true(endpoint_queue_remove(e, &jobs[2])); /* middle */
	assert_true(endpoint_queue_remove(e, &jobs[0])); /* head */
	assert_true(endpoint_queue_remove(e, &jobs[4])); /* tail */
	assert_false(endpoint_queue_remove(e, &jobs[4]));
	assert_int_equal(e->n_queued, 2);
	assert_ptr_equal(e->queue_tail, &jobs[3]);
	/* a push after the tail was removed goes after the new tail */
	endpoint_queue_push(e, &jobs[5]);
	assert_ptr_equal(endpoint_queue_pop(e), &jobs[1]);
	assert_ptr_equal(endpoint_queue_pop(e), &jobs[3]);
	assert_ptr_equal(endpoint_queue_pop(e), &jobs[5]);
	assert_null(endpoint_queue_pop(e));
	assert_int_equal(e->n_queued, 0);
	endpoint_free(e);
}

static void test_slots_and_block(void **state)
{
	struct endpoint *e = new_endpoint();
	struct endpoint_config conf = { .max_concurrent = 2 };
	int headers; /* any non-NULL reference will do */

	assert_false(endpoint_has_slot(e)); /* not configured */
	assert_false(endpoint_usable(e, 0));
	e->conf = &conf;
	assert_true(endpoint_has_slot(e));
	assert_false(endpoint_usable(e, 0)); /* no key */
	e->headers = (struct http_headers *)&headers;
	assert_true(endpoint_usable(e, 0));
	e->in_flight = 2;
	assert_false(endpoint_has_slot(e));
	e->in_flight = 1;
	assert_true(endpoint_has_slot(e));

	endpoint_block_until(e, 5000);
	assert_int_equal(e->blocked_until_usec, 5000);
	endpoint_block_until(e, 3000); /* an earlier end does not shorten it */
	assert_int_equal(e->blocked_until_usec, 5000);
	assert_false(endpoint_usable(e, 4999));
	assert_true(endpoint_usable(e, 5000));
	endpoint_block_until(e, 9000);
	assert_int_equal(e->blocked_until_usec, 9000);
	e->headers = NULL;
	endpoint_free(e);
}

static const struct poll_result good = { .kind = POLL_STATUS };
static const struct poll_result gone = { .kind = POLL_GONE };
static const struct poll_result refused = { .kind = POLL_TRANSFER, .transfer = TRANSFER_CONNECT };
static const struct poll_result unavailable = { .kind = POLL_UNAVAILABLE, .http_code = 503 };
static const struct poll_result job_fault = { .kind = POLL_BAD_BODY, .job_fault = true };

static struct endpoint_trouble_step update(struct endpoint *e, struct job *j,
					   const struct poll_result *r, usec_t now)
{
	struct endpoint_trouble_step s;

	endpoint_trouble_update(e, j, r, now, &s);
	return s;
}

static void test_trouble_start_change_end(void **state)
{
	struct endpoint *e = new_endpoint();
	struct endpoint_trouble_step s;

	s = update(e, &jobs[0], &good, 100);
	assert_false(s.endpoint_started || s.endpoint_ended || s.job_started || s.job_ended);

	s = update(e, &jobs[0], &refused, 1000);
	assert_true(s.endpoint_started);
	assert_false(s.job_started);
	assert_true(e->in_trouble);
	assert_int_equal(e->trouble_since_usec, 1000);
	assert_int_equal(e->trouble_polls, 1);
	assert_int_equal(e->trouble_kind, POLL_TRANSFER);
	endpoint_trouble_set_text(e, "connect");

	/* the same trouble again: counted, nothing to log */
	s = update(e, &jobs[1], &refused, 2000);
	assert_false(s.endpoint_started || s.endpoint_ended);
	assert_int_equal(e->trouble_polls, 2);

	/* another kind: said again, still the trouble that began at 1000 */
	s = update(e, &jobs[1], &unavailable, 3000);
	assert_true(s.endpoint_started);
	assert_int_equal(e->trouble_since_usec, 1000);
	assert_int_equal(e->trouble_kind, POLL_UNAVAILABLE);
	assert_int_equal(e->trouble_http_code, 503);
	assert_int_equal(e->trouble_polls, 3);
	endpoint_trouble_set_text(e, "HTTP 503");

	/* "does not exist" is a good answer too: the trouble ends */
	s = update(e, &jobs[2], &gone, 4000);
	assert_true(s.endpoint_ended);
	assert_false(s.endpoint_started);
	assert_int_equal(s.ended_polls, 3);
	assert_int_equal(s.ended_since_usec, 1000);
	assert_string_equal(s.ended_text, "HTTP 503");
	free(s.ended_text);
	assert_false(e->in_trouble);
	assert_int_equal(e->trouble_polls, 0);
	assert_null(e->trouble_text);

	/* ended once: the next good answer says nothing */
	s = update(e, &jobs[2], &good, 5000);
	assert_false(s.endpoint_ended);
	endpoint_free(e);
}

static void test_trouble_fault_jobs(void **state)
{
	struct endpoint *e = new_endpoint();
	struct endpoint_trouble_step s;

	/* a fresh endpoint (epoch 0) and a fresh job (epoch 0): counted */
	s = update(e, &jobs[0], &job_fault, 1);
	assert_true(s.job_started);
	assert_false(s.endpoint_started);
	assert_true(jobs[0].flags & JOB_FLAG_TROUBLE);
	assert_int_equal(e->fault_jobs, 1);
	assert_int_equal(e->fault_epoch, 1);
	assert_false(e->in_trouble);

	/* the same job again: in its own trouble already, neither said nor counted */
	s = update(e, &jobs[0], &job_fault, 2);
	assert_false(s.job_started || s.endpoint_started);
	assert_int_equal(e->fault_jobs, 1);

	s = update(e, &jobs[1], &job_fault, 3);
	assert_true(s.job_started);
	assert_int_equal(e->fault_jobs, 2);

	/* the ENDPOINT_FAULT_JOBS-th job: the endpoint's trouble, not the job's */
	s = update(e, &jobs[2], &job_fault, 4);
	assert_int_equal(e->fault_jobs, ENDPOINT_FAULT_JOBS);
	assert_false(s.job_started);
	assert_true(s.endpoint_started);
	assert_false(jobs[2].flags & JOB_FLAG_TROUBLE);
	assert_true(e->in_trouble);
	assert_int_equal(e->trouble_since_usec, 4);

	/* the same job once more in this streak: counted once only */
	s = update(e, &jobs[2], &job_fault, 5);
	assert_int_equal(e->fault_jobs, ENDPOINT_FAULT_JOBS);
	assert_false(s.endpoint_started || s.job_started);
	assert_int_equal(e->trouble_polls, 2);
	s = update(e, &jobs[3], &job_fault, 6);
	assert_int_equal(e->fault_jobs, ENDPOINT_FAULT_JOBS + 1);

	/* a good answer from job 0 ends its trouble and the endpoint's, and
	 * starts a new streak */
	s = update(e, &jobs[0], &good, 7);
	assert_true(s.job_ended);
	assert_true(s.endpoint_ended);
	assert_int_equal(s.ended_polls, 3);
	assert_null(s.ended_text); /* none was set */
	assert_false(jobs[0].flags & JOB_FLAG_TROUBLE);
	assert_int_equal(e->fault_jobs, 0);
	assert_int_equal(e->fault_epoch, 2);

	/* job 2 was counted in the last streak; in this one it counts again */
	s = update(e, &jobs[2], &job_fault, 8);
	assert_true(s.job_started);
	assert_int_equal(e->fault_jobs, 1);
	assert_int_equal(jobs[2].fault_epoch, 2);

	/* job 1 is still in its own trouble (its answers were never good) */
	s = update(e, &jobs[1], &job_fault, 9);
	assert_false(s.job_started);
	assert_int_equal(e->fault_jobs, 1);
	endpoint_free(e);
}

static void test_trouble_epoch_wraps(void **state)
{
	struct endpoint *e = new_endpoint();
	struct endpoint_trouble_step s;

	/* epoch 0 means "never counted": a wrap skips it */
	e->fault_epoch = UINT16_MAX;
	s = update(e, &jobs[0], &good, 1);
	assert_int_equal(e->fault_epoch, 1);
	jobs[1].fault_epoch = 0;
	s = update(e, &jobs[1], &job_fault, 2);
	assert_true(s.job_started);
	assert_int_equal(e->fault_jobs, 1);
	assert_int_equal(jobs[1].fault_epoch, 1);
	endpoint_free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_queue_fifo),
		cmocka_unit_test(test_queue_remove),
		cmocka_unit_test(test_slots_and_block),
		cmocka_unit_test(test_trouble_start_change_end),
		cmocka_unit_test(test_trouble_fault_jobs),
		cmocka_unit_test(test_trouble_epoch_wraps),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
