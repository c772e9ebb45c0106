/* SPDX-License-Identifier: MIT */
#include <string.h>

#include "stall.h"
#include "string-util.h"

enum stall_action stall_decide(usec_t changed_usec, usec_t stalled_usec, usec_t now_usec,
			       usec_t stall_after_usec)
{
	if (stalled_usec != 0) {
		/* A change at or after the announcement ends the stall. */
		return changed_usec >= stalled_usec ? STALL_CLEAR : STALL_NOTHING;
	}
	if (changed_usec == 0 || stall_after_usec == USEC_INFINITY || now_usec < changed_usec) {
		return STALL_NOTHING;
	}
	return now_usec - changed_usec >= stall_after_usec ? STALL_ANNOUNCE : STALL_NOTHING;
}

/* FNV-1a, 32 bits: a change missed by a collision costs one stall warning
 * too many, never a lost outcome. */
static uint32_t fnv(uint32_t h, const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 16777619U;
	}
	return h;
}

uint32_t stall_fingerprint(const char *status, uint64_t documents_done, uint64_t segments_done)
{
	uint32_t h = 2166136261U;

	status = strempty(status);
	h = fnv(h, status, strlen(status) + 1);
	h = fnv(h, &documents_done, sizeof(documents_done));
	h = fnv(h, &segments_done, sizeof(segments_done));
	return h != 0 ? h : 1;
}

enum stall_action stall_observe(struct stall_clock *c, uint32_t fp, usec_t now_usec,
				usec_t stall_after_usec)
{
	if (fp != c->fingerprint) {
		/* The first answer after a restart is compared with nothing: the
		 * clock the job had goes on. */
		if (c->fingerprint != 0 || c->changed_usec == 0) {
			c->changed_usec = now_usec;
		}
		c->fingerprint = fp;
	}
	enum stall_action a =
		stall_decide(c->changed_usec, c->stalled_usec, now_usec, stall_after_usec);
	if (a == STALL_ANNOUNCE) {
		c->stalled_usec = now_usec;
	} else if (a == STALL_CLEAR) {
		c->stalled_usec = 0;
	}
	return a;
}

const char *stall_hint(enum kind_type k, enum job_action action, const char *status)
{
	status = strempty(status);
	switch (k) {
	case KIND_ANNOTATION_REPLY:
		if (!streq(status, "waiting")) {
			break;
		}
		if (action == JOB_ACTION_DISABLE) {
			return "Check that a Dify worker consumes the Celery queue 'dataset', and that annotation reply was ever enabled for this app: a disable job for an app without it stays 'waiting' forever (Dify's task returns without writing a status).";
		}
		return "Check that a Dify worker consumes the Celery queue 'dataset' (a dead worker leaves jobs 'waiting' forever), and that the app still exists.";
	case KIND_DOCUMENT_INDEXING:
		if (streq(status, "paused")) {
			return "A document of the batch was paused in Dify (someone paused it): resume it in the knowledge base, or remove the job file.";
		}
		if (streq(status, "waiting")) {
			return "Check that a Dify worker consumes the Celery queue 'dataset': no task has started on the batch, and a retried batch may have none behind it at all.";
		}
		return "A document is stuck in indexing: check the Dify worker consuming the Celery queue 'dataset' (its log) and the embedding model provider, and whether a document was paused.";
	case KIND_WORKFLOW_RUN:
		if (streq(status, "paused")) {
			return "The run is paused (someone paused it, or it waits for human input): resume or stop it in Dify.";
		}
		return "Check the Dify worker running workflows and the node the run waits on (a slow model or tool).";
	case KIND_USER:
		/* a service jobwatch knows nothing of but its [Kind:] section */
		return "Check the service's own view of the job (its console, API or logs); a status in none of Completed=, Failed= and Running= of the kind is also counted as not finished.";
	default:
		break;
	}
	return "Check the job in Dify: its status has not moved.";
}
