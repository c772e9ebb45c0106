/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "job.h"
#include "string-util.h"
#include "userkind.h"

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
		t->remote_status = job_status_intern(r->status_text ? r->status_text : "");
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

/* --- status words --- */

static char *status_words[JOB_STATUS_WORDS_MAX];
static unsigned n_status_words;
#define STATUS_WORD_UNRECORDED JOB_STATUS_WORDS_MAX /* index of "(unrecorded)" */

uint8_t job_status_intern(const char *word)
{
	/* Linear: a kind knows at most eight words; unknown ones are rare. */
	for (unsigned i = 0; i < n_status_words; i++) {
		if (streq(status_words[i], word)) {
			return (uint8_t)i;
		}
	}
	if (n_status_words == JOB_STATUS_WORDS_MAX) {
		return STATUS_WORD_UNRECORDED;
	}
	char *copy = strdup(word);
	if (!copy) {
		return STATUS_WORD_UNRECORDED;
	}
	status_words[n_status_words] = copy;
	return (uint8_t)n_status_words++;
}

const char *job_status_word(uint8_t index)
{
	return index < n_status_words ? status_words[index] : "(unrecorded)";
}

/* --- jobs --- */

/* The layout job_new_kind() allocates for a document-indexing job. */
struct job_with_indexing {
	struct job job;
	struct job_indexing indexing;
};

/* The layout job_new_kind() allocates for a KIND_USER job. */
struct job_with_user {
	struct job job;
	struct job_user user;
};

struct job *job_new_kind(int kind)
{
	struct job *j = calloc(1, kind == KIND_DOCUMENT_INDEXING ? sizeof(struct job_with_indexing)
				  : kind == KIND_USER		 ? sizeof(struct job_with_user)
								 : sizeof(struct job));
	if (!j) {
		return NULL;
	}
	j->kind = (uint8_t)kind;
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
	if (job_user(j)) {
		free(job_user(j)->text);
	}
	job_result_free(j->result);
	free(j);
	return NULL;
}

struct job_indexing *job_indexing(const struct job *j)
{
	if (j->kind != KIND_DOCUMENT_INDEXING) {
		return NULL;
	}
	return &((struct job_with_indexing *)(uintptr_t)j)->indexing;
}

struct job_user *job_user(const struct job *j)
{
	if (j->kind != KIND_USER) {
		return NULL;
	}
	return &((struct job_with_user *)(uintptr_t)j)->user;
}

int job_set_ident(struct job *j, const struct kind_ident *ident)
{
	struct job_indexing *x = job_indexing(j);
	struct job_user *u = job_user(j);

	assert(j->kind == ident->kind);
	if (u) {
		char name[KIND_NAME_MAX];
		if (!userkind_text_name(ident->user, name)) {
			return -EINVAL;
		}
		char *text = strjoin(ident->user, "\n", name);
		if (!text) {
			return -ENOMEM;
		}
		/* the NUL between the two: job_kind_name() */
		text[strlen(ident->user)] = '\0';
		free(u->text);
		u->text = text;
		return 0;
	}
	j->action = ident->action;
	memcpy(j->id, ident->id, sizeof(j->id));
	if (x) {
		memcpy(x->dataset, ident->dataset, sizeof(x->dataset));
	}
	return 0;
}

void job_ident(const struct job *j, struct kind_ident *ret)
{
	const struct job_indexing *x = job_indexing(j);

	*ret = (struct kind_ident){ .kind = j->kind, .action = j->action };
	memcpy(ret->id, j->id, sizeof(ret->id));
	if (x) {
		memcpy(ret->dataset, x->dataset, sizeof(ret->dataset));
	}
	if (job_user(j)) {
		ret->user = job_user(j)->text;
	}
}

const char *job_kind_name(const struct job *j)
{
	const struct job_user *u = job_user(j);
	const char *name;

	if (u) {
		name = u->text ? u->text + strlen(u->text) + 1 : NULL;
	} else {
		name = kind_type_to_string(j->kind);
	}
	return name ? name : "invalid";
}

char *job_id_string(const struct job *j, char buf[static KIND_ID_STRING_MAX])
{
	struct kind_ident ident;
	job_ident(j, &ident);
	char *s = kind_ident_id_string(&ident, buf);
	if (!s) {
		/* not reached for a job built from a valid file or row */
		snprintf(buf, KIND_ID_STRING_MAX, "invalid");
		s = buf;
	}
	return s;
}

char *job_dataset_string(const struct job *j, char buf[static KIND_ID_STRING_MAX])
{
	struct kind_ident ident;
	if (!job_indexing(j)) {
		return NULL;
	}
	job_ident(j, &ident);
	return kind_field_to_string(&ident, KIND_FIELD_DATASET, buf);
}

const char *job_remote_status(const struct job *j)
{
	return j->track.has_status ? job_status_word(j->track.remote_status) : NULL;
}

bool job_set_progress(struct job *j, const struct response_documents *d)
{
	struct job_indexing *x = job_indexing(j);
	struct job_indexing n;

	if (!x || !d) {
		return false;
	}
	n = *x;
	n.has_progress = true;
	n.documents_total = d->total;
	n.documents_failed = d->count[RESPONSE_DOC_ERROR];
	n.documents_done = d->count[RESPONSE_DOC_COMPLETED] + d->count[RESPONSE_DOC_ERROR];
	n.segments_done = d->completed_segments;
	n.segments_total = d->total_segments;
	bool changed = !x->has_progress || n.documents_total != x->documents_total ||
		       n.documents_failed != x->documents_failed ||
		       n.documents_done != x->documents_done ||
		       n.segments_done != x->segments_done || n.segments_total != x->segments_total;
	*x = n;
	return changed;
}

char *job_progress_string(const struct job *j, char *buf, size_t size)
{
	const struct job_indexing *x = job_indexing(j);
	if (!x || !x->has_progress) {
		return NULL;
	}
	snprintf(buf, size, "%" PRIu32 "/%" PRIu32 " documents, %" PRIu64 "/%" PRIu64 " segments",
		 x->documents_done, x->documents_total, x->segments_done, x->segments_total);
	return buf;
}

char *job_what(const struct job *j, char *buf, size_t size)
{
	char dataset[KIND_ID_STRING_MAX];

	switch (j->kind) {
	case KIND_DOCUMENT_INDEXING:
		snprintf(buf, size, "document batch of dataset %s",
			 strempty(job_dataset_string(j, dataset)));
		break;
	case KIND_WORKFLOW_RUN:
		snprintf(buf, size, "workflow run");
		break;
	case KIND_USER:
		snprintf(buf, size, "%s job", job_kind_name(j));
		break;
	default:
		snprintf(buf, size, "%s job", strempty(job_action_to_string(j->action)));
		break;
	}
	return buf;
}
