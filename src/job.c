/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <syslog.h>

#include "job.h"
#include "string-util.h"

static const char *const outcome_table[_JOB_OUTCOME_MAX] = {
	[JOB_OUTCOME_NONE] = "none",	       [JOB_OUTCOME_COMPLETED] = "completed",
	[JOB_OUTCOME_ERROR] = "error",	       [JOB_OUTCOME_EXPIRED] = "expired",
	[JOB_OUTCOME_UNKNOWN] = "unknown",     [JOB_OUTCOME_TIMEOUT] = "timeout",
	[JOB_OUTCOME_CANCELLED] = "cancelled",
};

const char *job_outcome_to_string(enum job_outcome o)
{
	const char *n = string_table_name(outcome_table, ELEMENTSOF(outcome_table), (int)o);
	return n ? n : "invalid";
}

int job_outcome_from_string(const char *s)
{
	return string_table_value(outcome_table, ELEMENTSOF(outcome_table), s);
}

int job_outcome_priority(enum job_outcome o)
{
	switch (o) {
	case JOB_OUTCOME_COMPLETED:
		return LOG_INFO;
	case JOB_OUTCOME_ERROR:
		return LOG_ERR;
	case JOB_OUTCOME_EXPIRED:
	case JOB_OUTCOME_UNKNOWN:
	case JOB_OUTCOME_TIMEOUT:
		return LOG_WARNING;
	case JOB_OUTCOME_CANCELLED:
		return LOG_NOTICE;
	default:
		return LOG_INFO;
	}
}

bool job_outcome_runs_hook(enum job_outcome o)
{
	return o != JOB_OUTCOME_NONE && o != JOB_OUTCOME_CANCELLED && o < _JOB_OUTCOME_MAX;
}

const char *job_state_to_string(enum job_state s)
{
	static const char *const table[_JOB_STATE_MAX] = {
		[JOB_STATE_SCHEDULED] = "scheduled", [JOB_STATE_QUEUED] = "queued",
		[JOB_STATE_POLLING] = "polling",     [JOB_STATE_STALLED] = "stalled",
		[JOB_STATE_FINISHED] = "finished",
	};
	return (unsigned)s < _JOB_STATE_MAX ? table[s] : "invalid";
}

enum job_outcome job_track_apply(struct job_track *t, const struct poll_result *r)
{
	switch (r->kind) {
	case POLL_STATUS:
		t->seen_alive = true;
		t->gone_count = 0;
		t->has_status = true;
		t->last_status = (uint8_t)r->status;
		if (r->verdict == KIND_VERDICT_COMPLETED) {
			return JOB_OUTCOME_COMPLETED;
		}
		if (r->verdict == KIND_VERDICT_ERROR) {
			return JOB_OUTCOME_ERROR;
		}
		return JOB_OUTCOME_NONE;
	case POLL_GONE:
		if (t->gone_count < UINT8_MAX) {
			t->gone_count++;
		}
		if (t->gone_count >= JOB_GONE_LIMIT) {
			return t->seen_alive ? JOB_OUTCOME_EXPIRED : JOB_OUTCOME_UNKNOWN;
		}
		return JOB_OUTCOME_NONE;
	default:
		/* endpoint trouble says nothing about the job */
		return JOB_OUTCOME_NONE;
	}
}

struct job *job_new(void)
{
	struct job *j = calloc(1, sizeof(*j));
	if (!j) {
		return NULL;
	}
	heap_node_init(&j->timer);
	j->dirty_idx = UINT32_MAX;
	j->deadline_usec = USEC_INFINITY;
	return j;
}

static void job_result_free(struct job_result *r)
{
	if (!r) {
		return;
	}
	free(r->error_msg);
	free(r->body);
	free(r);
}

struct job *job_free(struct job *j)
{
	if (!j) {
		return NULL;
	}
	assert(!heap_node_queued(&j->timer));
	assert(j->dirty_idx == UINT32_MAX);
	assert(!j->request);
	free(j->file);
	free(j->description);
	free(j->hook);
	job_result_free(j->result);
	free(j);
	return NULL;
}
