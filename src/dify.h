/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Knowledge of Dify's API (see DIFY.md): URLs, the auth header, and the
 * classification of one status answer into a poll result, for every job kind
 * (what differs per kind is in kind.h's table). Pure: no I/O.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "jobfile.h"
#include "kind.h"
#include "macro.h"
#include "response.h"
#include "transfer.h"

/* The message of both annotation-reply "does not exist" shapes (matched by
 * prefix: kind.h). */
#define DIFY_JOB_GONE_MESSAGE "The job does not exist."
/* How long Dify keeps a terminal status (its Redis TTL). */
#define DIFY_RESULT_TTL_USEC (600ULL * USEC_PER_SEC)

enum dify_status {
	DIFY_STATUS_WAITING,
	DIFY_STATUS_COMPLETED,
	DIFY_STATUS_ERROR,
	DIFY_STATUS_OTHER, /* a value this version does not know ("processing" too: no
			    * Dify release writes it, DIFY.md): not terminal */
	_DIFY_STATUS_MAX,
};
const char *dify_status_to_string(enum dify_status s); /* "other" for OTHER */
enum dify_status dify_status_from_string(const char *s); /* never fails */

static inline bool dify_status_is_terminal(enum dify_status s)
{
	return s == DIFY_STATUS_COMPLETED || s == DIFY_STATUS_ERROR;
}

/* What one status request told us. */
enum poll_kind {
	POLL_STATUS, /* 200 with a job_status string */
	POLL_GONE, /* the kind's "does not exist": annotation-reply 400 invalid_param /
		    * 404 not_found "The job does not exist.", document-indexing 404
		    * "Documents not found." / "Dataset not found.", workflow-run 404
		    * "Workflow run not found.", each matched by prefix */
	POLL_AUTH, /* 401 or 403: the key is wrong for this app */
	POLL_RATE_LIMITED, /* 429 */
	POLL_UNAVAILABLE, /* 503 */
	POLL_SERVER_ERROR, /* any other 5xx */
	POLL_HTTP_ERROR, /* any other status: 3xx, a 404 without Dify's body, ... */
	POLL_BAD_BODY, /* 200 whose body is malformed, truncated, too large or misshapen */
	POLL_TRANSFER, /* no complete HTTP answer: see transfer */
	_POLL_KIND_MAX,
};
const char *poll_kind_to_string(enum poll_kind k);

struct poll_result {
	enum poll_kind kind;
	enum transfer_error transfer; /* for POLL_TRANSFER (and TOO_LARGE bodies) */
	long http_code; /* 0 when no answer arrived */
	enum dify_status status; /* for POLL_STATUS of annotation-reply; OTHER for other kinds */
	/* For POLL_STATUS: RUNNING, COMPLETED or ERROR (never BAD: that is
	 * POLL_BAD_BODY). What job_track_apply() decides by, for every kind. */
	enum kind_verdict verdict;
	/* For POLL_STATUS: the remote status (JOB_REMOTE_STATUS), borrowed from
	 * the response or static: annotation-reply's job_status, workflow-run's
	 * status, document-indexing's word for the batch (kind.c), a user kind's
	 * word at StatusField= (userkind.h); "" when none. */
	const char *status_text;
	bool status_known; /* status_text is a word the kind knows; false: say once */
	const char *error_msg; /* borrowed; "" when absent (JOB_ERROR) */
	/* document-indexing's tally (progress, JOB_DOCUMENTS...), borrowed from
	 * the response; NULL for other kinds and other results. */
	const struct response_documents *documents;
	usec_t retry_after_usec; /* Retry-After on 429/503, capped; 0 when none */
	/* A fault of this job's own answer, not of the endpoint as a whole: a
	 * 200 that is no usable status (POLL_BAD_BODY), or a 5xx other than 503
	 * that carries Dify's JSON error body (Dify itself failed on this job,
	 * no proxy in between). See poll_kind_is_trouble(). */
	bool job_fault;
};

/*
 * Classify one exchange about a job of kind k. transfer is how it ended below
 * HTTP; http_code the status (0 if none); resp the parsed body or NULL when
 * the body did not parse (body_ok false); retry_after_s the Retry-After header
 * in seconds (0 = none); expected_id the job's own id as text
 * (kind_ident_id_string(); NULL: not checked): a 200 naming another id is
 * POLL_BAD_BODY. Pointers in *ret borrow from resp (or are static).
 */
void dify_classify_kind(const struct kind *k, enum transfer_error transfer, long http_code,
			const struct response *resp, bool body_ok, uint64_t retry_after_s,
			const char *expected_id, struct poll_result *ret);

/*
 * The part of every kind's classification that does not read a 200's body
 * (built-in kinds and user kinds alike): a 200 cut at the body cap is
 * POLL_BAD_BODY, no complete answer POLL_TRANSFER; gone (the kind's "does
 * not exist", decided by the caller) POLL_GONE; 401/403 POLL_AUTH, 429, 503,
 * other 5xx (job_fault when own_error: the service's own error body, not a
 * proxy's), anything else POLL_HTTP_ERROR; Retry-After on 429/503. Returns
 * true when it decided; false for a 200 whose body the kind reads (*ret is
 * then set up with transfer and http_code, status_text and error_msg "").
 */
bool dify_classify_http(enum transfer_error transfer, long http_code, bool gone, bool own_error,
			uint64_t retry_after_s, struct poll_result *ret);

/* Turn *ret (from dify_classify_http()) into POLL_BAD_BODY, a fault of the
 * job's answer, dropping whatever a reader had put in. */
void dify_classify_bad_body(struct poll_result *ret);

/* dify_classify_kind() for annotation-reply. */
void dify_classify(enum transfer_error transfer, long http_code, const struct response *resp,
		   bool body_ok, uint64_t retry_after_s, const char *expected_id,
		   struct poll_result *ret);

/* True for a poll result that is trouble (not a statement about the job):
 * everything but POLL_STATUS and POLL_GONE. Whose trouble it is, the job's
 * (job_fault) or the endpoint's, is decided by the poller (jobwatchd(8)). */
static inline bool poll_kind_is_trouble(enum poll_kind k)
{
	return k != POLL_STATUS && k != POLL_GONE;
}

/*
 * "{base}/apps/annotation-reply/{action}/status/{id}" into buf. base has no
 * trailing slash. Returns the length or -ENOBUFS.
 */
int dify_status_url(char *buf, size_t size, const char *base, enum job_action action,
		    const uint8_t id[static 16]);

/* "{base}/apps/annotation-reply/{action}" into buf, or -ENOBUFS. */
int dify_start_url(char *buf, size_t size, const char *base, enum job_action action);

/*
 * The JSON body of a start request. score_threshold must be finite and in
 * [0, 1]; provider and model non-empty. Returns an owned string, or NULL with
 * *ret_error set (-EINVAL, -ENOMEM).
 */
char *dify_start_body(double score_threshold, const char *provider, const char *model,
		      int *ret_error);
