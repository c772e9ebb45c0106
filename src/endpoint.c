/* SPDX-License-Identifier: MIT */
#include <stdlib.h>

#include "endpoint.h"
#include "string-util.h"

struct endpoint *endpoint_new(const char *name)
{
	struct endpoint *e = calloc(1, sizeof(*e));

	if (!e) {
		return NULL;
	}
	e->name = strdup_or_null(name);
	if (!e->name) {
		free(e);
		return NULL;
	}
	return e;
}

struct endpoint *endpoint_free(struct endpoint *e)
{
	if (!e) {
		return NULL;
	}
	free(e->name);
	free(e->key_problem);
	free(e->trouble_text);
	free(e);
	return NULL;
}

void endpoint_queue_push(struct endpoint *e, struct job *j)
{
	j->queue_next = NULL;
	if (e->queue_tail) {
		e->queue_tail->queue_next = j;
	} else {
		e->queue_head = j;
	}
	e->queue_tail = j;
	e->n_queued++;
}

struct job *endpoint_queue_pop(struct endpoint *e)
{
	struct job *j = e->queue_head;
	if (!j) {
		return NULL;
	}
	e->queue_head = j->queue_next;
	if (!e->queue_head) {
		e->queue_tail = NULL;
	}
	j->queue_next = NULL;
	e->n_queued--;
	return j;
}

bool endpoint_queue_remove(struct endpoint *e, struct job *j)
{
	struct job **link = &e->queue_head, *prev = NULL;

	/* Removing from the middle is O(queue); it only happens when a queued
	 * job's file is removed, never on the polling path. */
	while (*link && *link != j) {
		prev = *link;
		link = &(*link)->queue_next;
	}
	if (!*link) {
		return false;
	}
	*link = j->queue_next;
	if (e->queue_tail == j) {
		e->queue_tail = prev;
	}
	j->queue_next = NULL;
	e->n_queued--;
	return true;
}

void endpoint_block_until(struct endpoint *e, usec_t until)
{
	if (until > e->blocked_until_usec) {
		e->blocked_until_usec = until;
	}
}

void endpoint_trouble_update(struct endpoint *e, struct job *j, const struct poll_result *r,
			     usec_t now_realtime_usec, struct endpoint_trouble_step *ret)
{
	*ret = (struct endpoint_trouble_step){ 0 };

	if (!poll_kind_is_trouble(r->kind)) {
		e->fault_jobs = 0;
		if (++e->fault_epoch == 0) {
			e->fault_epoch = 1;
		}
		if (j->flags & JOB_FLAG_TROUBLE) {
			j->flags &= (uint16_t)~JOB_FLAG_TROUBLE;
			ret->job_ended = true;
		}
	} else if (r->job_fault) {
		if (e->fault_epoch == 0) {
			e->fault_epoch = 1;
		}
		/* A job whose own trouble is logged already does not count: with
		 * many bad jobs and one good one, the endpoint would flap. */
		if (!(j->flags & JOB_FLAG_TROUBLE) && j->fault_epoch != e->fault_epoch) {
			j->fault_epoch = e->fault_epoch;
			e->fault_jobs++;
		}
		if (e->fault_jobs < ENDPOINT_FAULT_JOBS) {
			if (!(j->flags & JOB_FLAG_TROUBLE)) {
				j->flags |= JOB_FLAG_TROUBLE;
				ret->job_started = true;
			}
			return;
		}
	}

	if (poll_kind_is_trouble(r->kind)) {
		e->trouble_polls++;
		if (e->in_trouble && e->trouble_kind == r->kind &&
		    e->trouble_transfer == r->transfer) {
			return;
		}
		if (!e->in_trouble) {
			e->trouble_since_usec = now_realtime_usec;
		}
		e->in_trouble = true;
		e->trouble_kind = (uint8_t)r->kind;
		e->trouble_transfer = (uint8_t)r->transfer;
		e->trouble_http_code = r->http_code;
		ret->endpoint_started = true;
		return;
	}

	if (e->in_trouble) {
		ret->endpoint_ended = true;
		ret->ended_polls = e->trouble_polls;
		ret->ended_since_usec = e->trouble_since_usec;
		ret->ended_text = TAKE_PTR(e->trouble_text);
		e->in_trouble = false;
		e->trouble_polls = 0;
	}
}

void endpoint_trouble_set_text(struct endpoint *e, const char *text)
{
	char *t = strdup_or_null(text);

	if (t) {
		free(e->trouble_text);
		e->trouble_text = t;
	}
}
