/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The scheduler: when each job is polled next, and the polling itself.
 *
 * Every scheduled job sits in one timer heap keyed by its next poll (or its
 * deadline), served by a single uv_timer_t. Due jobs go out through http.c
 * while their endpoint has a free slot (MaxConcurrentRequests=) and wait in
 * the endpoint's FIFO otherwise. A poll's answer is parsed as it streams in,
 * classified (dify.c), applied (job.c), and either ends the job (ops.finished)
 * or schedules the next poll with backoff. Retry-After on 429/503 holds every
 * job of the endpoint. Trouble is logged when it starts and ends: a fault of
 * one job's own answers as that job's, any other as its endpoint's (see
 * endpoint_trouble_update() in endpoint.c and jobwatchd(8)).
 */

#include <stdbool.h>
#include <uv.h>

#include "backoff.h"
#include "config.h"
#include "heap.h"
#include "http.h"
#include "job.h"
#include "registry.h"

struct poll_request;

struct poller_ops {
	/*
	 * j reached outcome o (not cancelled: that is the daemon's business).
	 * The poller no longer holds j. error is JOB_ERROR ("" if none); body is
	 * the last answer's body (NULL if none), valid during the call only.
	 */
	void (*finished)(void *userdata, struct job *j, enum job_outcome o, const char *error,
			 const char *body, size_t body_len);
	/* Persistent facts of j changed: polls, status; urgent when the status
	 * itself changed (write it this loop turn). */
	void (*changed)(void *userdata, struct job *j, bool urgent);
	/* An endpoint's trouble started, changed or ended. */
	void (*endpoint_changed)(void *userdata, struct endpoint *e);
	/* j's stall was announced (stalled) or it moved again (!stalled);
	 * j->stall holds the clock to persist (stall.h). */
	void (*stall_changed)(void *userdata, struct job *j, bool stalled);
};

struct poller {
	uv_loop_t *loop; /* borrowed */
	struct http *http; /* borrowed */
	const struct config *config; /* borrowed: the current config */
	const struct poller_ops *ops; /* borrowed */
	void *userdata;

	struct heap heap; /* every SCHEDULED or STALLED job */
	uv_timer_t timer; /* fires for the heap's top */
	usec_t timer_due; /* CLOCK_MONOTONIC the timer is armed for, or USEC_INFINITY */
	struct backoff_rng rng;

	struct poll_request *free_requests; /* owned pool of idle requests */
	struct poll_request *busy; /* owned list of requests in flight */
	unsigned n_requests; /* allocated, idle or busy */
	unsigned in_flight;
	unsigned n_queued;
	bool stopped;
};

int poller_init(struct poller *p, uv_loop_t *loop, struct http *http, const struct poller_ops *ops,
		void *userdata);
/* Cancels what is in flight, frees the pool, closes the timer (the struct
 * must live until the loop ran the close callback). Jobs are left alone. */
void poller_done(struct poller *p);

void poller_set_config(struct poller *p, const struct config *c);

/*
 * Schedule j's next poll at when (CLOCK_MONOTONIC; 0 = now). j must not be
 * scheduled, queued or polling.
 */
void poller_schedule(struct poller *p, struct job *j, usec_t when);

/* Take j out of the schedule: timer heap, endpoint queue, or in-flight
 * request (cancelled, no answer will be processed). */
void poller_unschedule(struct poller *p, struct job *j);

/* Change j's deadline (CLOCK_MONOTONIC, USEC_INFINITY for none); an earlier
 * one moves its timer. */
void poller_set_deadline(struct poller *p, struct job *j, usec_t deadline);

/* e's config or key changed (reload): queued jobs go out if e can take
 * them, or stall (with their deadline kept) if e cannot be polled now. */
void poller_endpoint_changed(struct poller *p, struct endpoint *e);

/* Re-examine jobs stalled on e (after a reload fixed its config or key). */
void poller_unstall(struct poller *p, struct job *j);

/* Stop polling for good (SIGTERM): cancel requests in flight, keep jobs. */
void poller_stop(struct poller *p);

/* Effective StallAfter= for j under c (USEC_INFINITY: off). */
usec_t poller_stall_after(const struct config *c, const struct job *j);
/* The stall fingerprint (stall.h) of j's remote status and progress as they
 * are now; restored jobs get theirs back with it. */
uint32_t poller_stall_fingerprint(const struct job *j);

/* Effective JobTimeout for j under c. */
usec_t poller_job_timeout(const struct config *c, const struct job *j);
