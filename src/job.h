/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * One watched job: its identity, schedule, what polling has taught us, and
 * its outcome. The transitions from a classified poll result to an outcome
 * are pure (job_track_apply); everything that schedules or reports lives in
 * poller.c and daemon.c. struct job is kept small: 100,000 of them must fit
 * in a few tens of MiB.
 */

#include <stdbool.h>
#include <stdint.h>

#include "dify.h"
#include "heap.h"
#include "jobfile.h"
#include "macro.h"
#include "stall.h"

/* "Does not exist" answers in a row that end a job (CONTRACT). */
#define JOB_GONE_LIMIT 3

enum job_outcome {
	JOB_OUTCOME_NONE,
	JOB_OUTCOME_COMPLETED,
	JOB_OUTCOME_ERROR,
	JOB_OUTCOME_EXPIRED,
	JOB_OUTCOME_UNKNOWN,
	JOB_OUTCOME_TIMEOUT,
	JOB_OUTCOME_CANCELLED,
	_JOB_OUTCOME_MAX,
};
const char *job_outcome_to_string(enum job_outcome o); /* "completed", ...; "none" */
int job_outcome_from_string(const char *s); /* -EINVAL if unknown */
int job_outcome_priority(enum job_outcome o); /* syslog priority (CONTRACT table) */
bool job_outcome_runs_hook(enum job_outcome o); /* all but cancelled (and none) */

enum job_state {
	JOB_STATE_SCHEDULED, /* in the timer heap until its next poll */
	JOB_STATE_QUEUED, /* due, waiting for a free request slot of its endpoint */
	JOB_STATE_POLLING, /* a status request is in flight */
	JOB_STATE_STALLED, /* cannot be polled now: endpoint gone or key unreadable */
	JOB_STATE_FINISHED, /* has an outcome; never polled again */
	_JOB_STATE_MAX,
};
const char *job_state_to_string(enum job_state s);

/* What polling has taught us about a job; persisted across restarts. */
struct job_track {
	bool seen_alive; /* a 200 with a job_status arrived at least once */
	bool has_status; /* last_status is valid */
	uint8_t gone_count; /* "does not exist" answers in a row */
	uint8_t last_status; /* enum dify_status of the last 200 (annotation-reply's word) */
	uint8_t remote_status; /* the last 200's status word, any kind: job_status_word() */
};

/*
 * The server's status words, interned: a job keeps one byte, not a string
 * (100,000 jobs). A kind knows a handful of words; an unknown one is kept
 * verbatim too, up to JOB_STATUS_WORDS_MAX distinct words in the process's
 * life; past that (a server inventing words) a new word is recorded as
 * "(unrecorded)". Returns the index; job_status_word() the word.
 */
#define JOB_STATUS_WORDS_MAX 255
uint8_t job_status_intern(const char *word);
const char *job_status_word(uint8_t index);

/*
 * Apply one poll result. A 200 with a job_status resets the gone count and
 * marks the job alive; completed/error end it. A "does not exist" answer
 * counts; the JOB_GONE_LIMIT-th in a row ends it as expired (seen alive
 * before) or unknown (never seen alive). Every other result is trouble that
 * neither counts nor resets. Returns the outcome or JOB_OUTCOME_NONE.
 */
enum job_outcome job_track_apply(struct job_track *t, const struct poll_result *r);

struct endpoint; /* endpoint.h */

enum {
	JOB_FLAG_CANCELLED = 1U << 0, /* file removed or replaced; being torn down */
	JOB_FLAG_OTHER_STATUS_SEEN = 1U << 1, /* an unknown remote status was logged once */
	JOB_FLAG_JOURNALED = 1U << 2, /* the result entry is in the journal */
	JOB_FLAG_HOOK_DONE = 1U << 3, /* the hook ran (or none was due) */
	JOB_FLAG_HOOK_RUNNING = 1U << 4, /* the hook was started and has not ended */
	JOB_FLAG_GONE_WHILE_DOWN = 1U << 5, /* restarted after > 600 s without seeing it */
	JOB_FLAG_REPORT_QUEUED = 1U << 6, /* on the daemon's list of results to report */
	JOB_FLAG_STALL_LOGGED = 1U << 7, /* why it cannot be polled was logged */
	JOB_FLAG_FINAL_POLL = 1U << 8, /* past its deadline: one last poll, then timeout */
	JOB_FLAG_ACK_LOGGED =
		1U << 9, /* "journaled" is in the state's ack file, not yet in the db */
	JOB_FLAG_TROUBLE = 1U << 10, /* its own answers fail: logged, recovery not yet */
	JOB_FLAG_UNSETTLED = 1U << 11, /* its file was removed: on the daemon's list to settle */
	JOB_FLAG_SETTLE_LATER =
		1U << 12, /* a refused file naming it was gone when re-read at a settle */
};

/* Set once a job has an outcome (kept until its hook has run). */
struct job_result {
	usec_t finished_usec; /* CLOCK_REALTIME */
	char *error_msg; /* owned; JOB_ERROR, may be "" */
	char *body; /* owned; the last answer's body, for the hook's stdin */
	size_t body_len;
};

/*
 * A job's identity is (endpoint, struct kind_ident); struct job keeps it
 * compact: kind, action and id here, and a document-indexing job's dataset in
 * struct job_indexing, allocated behind the job (job_new()) so that the other
 * kinds do not pay for it. job_ident() puts it together.
 */
struct job {
	uint8_t kind; /* enum kind_type */
	uint8_t action; /* enum job_action; 0 unless annotation-reply */
	uint8_t id[16]; /* the kind's own id, packed as in struct kind_ident */
	uint8_t state; /* enum job_state */
	uint8_t outcome; /* enum job_outcome */
	uint8_t dirty; /* enum state_dirty: what the state store must write */
	struct job_track track;
	uint32_t polls; /* status requests sent, over the job's whole life */
	uint32_t dirty_idx; /* slot in the state's dirty list, or UINT32_MAX */
	uint16_t flags; /* JOB_FLAG_* */
	uint16_t fault_epoch; /* endpoint->fault_epoch when this job's fault was last counted */

	struct heap_node timer; /* key: when to poll next or time out (monotonic) */

	usec_t accepted_usec; /* CLOCK_REALTIME when first accepted, across restarts */
	usec_t deadline_usec; /* CLOCK_MONOTONIC deadline from Timeout=, or USEC_INFINITY */
	usec_t last_poll_usec; /* CLOCK_MONOTONIC start of the last poll, 0 if none */
	usec_t last_alive_usec; /* CLOCK_REALTIME of the last 200 with a job_status, 0 if none */
	usec_t timeout_usec; /* the job's own Timeout=, 0 when it uses JobTimeout= */
	usec_t stall_after_usec; /* the job's own StallAfter=, 0 when it uses [Poll]'s */
	struct stall_clock stall; /* status or progress last changed, stall announced */

	struct endpoint *endpoint; /* borrowed: the registry owns endpoints */
	char *file; /* owned: the job file's name inside the jobs directory */
	char *description; /* owned, or NULL */
	char *hook; /* owned Hook= override; NULL = [Hook] Exec=, "" = none */
	struct job *queue_next; /* borrowed: next in the endpoint's wait queue */
	void *request; /* borrowed: the in-flight poll (poller.c), or NULL */
	struct job_result *result; /* owned, once there is an outcome */
};

/* What a document-indexing job has beyond struct job (see there). */
struct job_indexing {
	uint8_t dataset[16];
	bool has_progress; /* the fields below are from an answer */
	uint32_t documents_done; /* completed or error */
	uint32_t documents_total;
	uint32_t documents_failed; /* error */
	uint64_t segments_done, segments_total;
};

/* What a KIND_USER job has beyond struct job, allocated behind it as the
 * indexing part is (built-in jobs do not pay for it). */
struct job_user {
	/* owned: the identity text (struct kind_ident's user), then its NUL,
	 * then the kind's name and its NUL (job_kind_name() without a copy);
	 * NULL until job_set_ident() */
	char *text;
};

/* A zeroed job of kind kind (enum kind_type; ident fields still zero) with
 * no timer and no dirty slot; NULL on OOM. */
struct job *job_new_kind(int kind);
static inline struct job *job_new(void)
{
	return job_new_kind(KIND_ANNOTATION_REPLY);
}
/* The indexing part of a document-indexing job, NULL for other kinds. */
struct job_indexing *job_indexing(const struct job *j);
/* The user-kind part of a KIND_USER job, NULL for other kinds. */
struct job_user *job_user(const struct job *j);
/* Copy ident's fields into j (whose kind must be ident's); a KIND_USER
 * ident's text is copied. 0, -EINVAL (a KIND_USER ident without a valid
 * text) or -ENOMEM. */
int job_set_ident(struct job *j, const struct kind_ident *ident);
/* j's identity, without the endpoint (a user kind's text borrowed from j). */
void job_ident(const struct job *j, struct kind_ident *ret);
/* The name of j's kind (JOB_KIND): the built-in name or the [Kind:NAME]'s
 * NAME; borrowed. "invalid" for a job without one (not reached). */
const char *job_kind_name(const struct job *j);
/* The kind's own id of j as text (JOB_ID): kind_ident_id_string(). */
char *job_id_string(const struct job *j, char buf[static KIND_ID_STRING_MAX]);
/* The dataset of a document-indexing job as text, NULL for other kinds. */
char *job_dataset_string(const struct job *j, char buf[static KIND_ID_STRING_MAX]);
/* The last remote status word, or NULL when none was seen. */
const char *job_remote_status(const struct job *j);
/* Record an indexing answer's tally in j (no-op for other kinds). Returns true
 * when the progress changed. */
bool job_set_progress(struct job *j, const struct response_documents *d);
/* "D/T documents, S/U segments" into buf (indexing, with progress), or NULL. */
char *job_progress_string(const struct job *j, char *buf, size_t size);
#define JOB_PROGRESS_STRING_MAX 96
/* What j is, for messages: "enable job", "disable job", "document batch of
 * dataset UUID", "workflow run", "openai-batch job" (a user kind's name).
 * Returns buf. */
char *job_what(const struct job *j, char *buf, size_t size);
#define JOB_WHAT_MAX 96
/* Frees the job and what it owns; it must be out of every list, heap and map. */
struct job *job_free(struct job *j);

/* JOB_ENDPOINT / JOBWATCH_ENDPOINT name, id text etc. are formatted by callers. */
static inline bool job_is_finished(const struct job *j)
{
	return j->outcome != JOB_OUTCOME_NONE;
}
