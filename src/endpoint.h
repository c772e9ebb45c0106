/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * An endpoint: one [Endpoint:NAME] as the daemon runs it. Its FIFO of due
 * jobs waiting for a request slot (MaxConcurrentRequests=), its count of
 * requests in flight, the Retry-After block, and its trouble: when its
 * answers started failing, and which job faults count as the endpoint's.
 *
 * Pure bookkeeping: no event loop, no curl, no logging. The poller (poller.c)
 * sends the requests, turns an answer into a poll_result, asks
 * endpoint_trouble_update() what changed and logs that; the registry owns
 * endpoints for its whole life, across reloads.
 */

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "dify.h"
#include "job.h"
#include "macro.h"

struct http_headers;

/* Faults of single jobs' answers from this many different jobs in a row, with
 * no good answer in between, are the endpoint's trouble (jobwatchd(8)). */
#define ENDPOINT_FAULT_JOBS 3

struct endpoint {
	char *name; /* owned */
	const struct endpoint_config *conf; /* borrowed from the current config, or NULL */
	/* Owned reference; NULL when the key is unusable. Released by the
	 * registry (http_headers_unref() is http.c's), not by endpoint_free(). */
	struct http_headers *headers;
	char *key_problem; /* owned: why headers is NULL, for logs and STATUS */

	unsigned in_flight; /* status requests in flight */
	struct job *queue_head, *queue_tail; /* borrowed: due jobs waiting for a slot */
	unsigned n_queued;
	usec_t blocked_until_usec; /* CLOCK_MONOTONIC, from Retry-After */

	/* The trouble in progress, logged when it starts and when it ends. */
	bool in_trouble;
	uint8_t trouble_kind; /* enum poll_kind */
	uint8_t trouble_transfer; /* enum transfer_error */
	long trouble_http_code;
	usec_t trouble_since_usec; /* CLOCK_REALTIME */
	unsigned trouble_polls; /* failed polls in this trouble */
	char *trouble_text; /* owned short text for STATUS= and `jobwatchctl list` */

	/* Faults of single jobs' answers (poll_result.job_fault) since the last
	 * good answer: from how many different jobs (not already in their own
	 * trouble). Enough of them make endpoint
	 * trouble (endpoint_trouble_update()). fault_epoch changes with every good answer (never
	 * 0 once used), so a job counts once per streak (job->fault_epoch). */
	uint16_t fault_epoch;
	unsigned fault_jobs;

	unsigned n_jobs; /* jobs naming this endpoint, finished or not */
};

/* A new, unconfigured endpoint called name (copied); NULL on OOM. */
struct endpoint *endpoint_new(const char *name);
/* Frees e and the strings it owns (not headers, see above; the queued jobs
 * are borrowed); NULL is fine. Returns NULL. */
struct endpoint *endpoint_free(struct endpoint *e);

/* --- the queue: due jobs waiting for a slot, first in first out --- */

/* Append j (not queued anywhere) at the tail. */
void endpoint_queue_push(struct endpoint *e, struct job *j);
/* Take the head off the queue; NULL when empty. */
struct job *endpoint_queue_pop(struct endpoint *e);
/* Take j out of e's queue wherever it is; false when it was not queued. */
bool endpoint_queue_remove(struct endpoint *e, struct job *j);

/* Whether e is configured and has a free request slot. */
static inline bool endpoint_has_slot(const struct endpoint *e)
{
	return e->conf && e->in_flight < e->conf->max_concurrent;
}

/* Whether a request to e could be sent at now (CLOCK_MONOTONIC): configured,
 * with a usable key, and not held by Retry-After. */
static inline bool endpoint_usable(const struct endpoint *e, usec_t now)
{
	return e->conf && e->headers && e->blocked_until_usec <= now;
}

/* Retry-After: hold every job of e until until (CLOCK_MONOTONIC); an earlier
 * block than the one in force changes nothing. */
void endpoint_block_until(struct endpoint *e, usec_t until);

/* --- trouble --- */

/* What endpoint_trouble_update() changed, for the caller to log. */
struct endpoint_trouble_step {
	bool job_started; /* j's own answers fail: JOB_FLAG_TROUBLE is now set */
	bool job_ended; /* j's answers are good again: JOB_FLAG_TROUBLE was cleared */
	bool endpoint_started; /* e's trouble started or changed kind: describe it,
				* endpoint_trouble_set_text() */
	bool endpoint_ended; /* e's trouble ended; ended_* describe it */
	unsigned ended_polls; /* failed polls in the trouble that ended */
	usec_t ended_since_usec; /* CLOCK_REALTIME it started */
	char *ended_text; /* owned by the step (free()), NULL when there was none */
};

/*
 * Whose trouble r (the answer of a poll of j, a job of e) is, and what
 * changed. A good answer (a status, or "does not exist") ends e's trouble and
 * j's. A fault of j's own answer (r->job_fault) is j's trouble, unless
 * ENDPOINT_FAULT_JOBS different jobs (not counting those in their own trouble
 * already) had such faults with no good answer from the endpoint in between:
 * then it hits every job (a proxy answering garbage, Dify failing on
 * everything) and is the endpoint's. Every other fault (auth, 429/503, other
 * HTTP codes, a 5xx without Dify's JSON body, transfer errors) is the
 * endpoint's. now_realtime_usec is CLOCK_REALTIME, kept as the trouble's
 * start. *ret is filled; free ret->ended_text.
 */
void endpoint_trouble_update(struct endpoint *e, struct job *j, const struct poll_result *r,
			     usec_t now_realtime_usec, struct endpoint_trouble_step *ret);

/* The short text of e's trouble (copied) for STATUS= and `jobwatchctl list`;
 * on OOM the previous text stays. */
void endpoint_trouble_set_text(struct endpoint *e, const char *text);
