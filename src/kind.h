/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The table of job kinds (CONTRACT "Kinds", DIFY.md): for each kind, the
 * job-file keys it requires, how its status request path is built, which
 * answers mean "does not exist", and how a parsed 200 answer is read.
 * Pure: no I/O, no allocation, no logging.
 *
 * A job's identity is (endpoint, kind, the kind's id fields); the endpoint is
 * the registry's business, the rest is struct kind_ident:
 *
 *   kind                key fields                  own id (JOB_ID)
 *   annotation-reply    Action=, JobID= (UUID)      the job's UUID
 *   document-indexing   Dataset= (UUID), Batch=     the batch (20 digits)
 *   workflow-run        JobID= (UUID of the run)    the run's UUID
 *   a [Kind:NAME]       JobID= (text), {Key}= lines the JobID= text
 *   (KIND_USER)         of its StatusPath=
 *
 * Adding a built-in kind: one enum constant, one entry in kind.c's table
 * (name, fields, path template, "does not exist" answers, answer reader),
 * tests in tests/unit/test-kind.c and docs in jobwatch.job(5).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kinddef.h" /* the status word lists */

struct response;
struct poll_result;

enum kind_type {
	KIND_ANNOTATION_REPLY, /* the default: job files without Kind= */
	KIND_DOCUMENT_INDEXING,
	KIND_WORKFLOW_RUN,
	_KIND_TYPE_MAX,
	/* A job of a [Kind:NAME] section of the configuration (kinddef.h,
	 * userkind.h): no entry in the built-in table (kind_get() is NULL), its
	 * name and fields are in struct kind_ident's user text. Outside the
	 * range of the table on purpose: a loop over the built-in kinds never
	 * meets it. */
	KIND_USER = 0x7f,
};

enum job_action {
	JOB_ACTION_ENABLE,
	JOB_ACTION_DISABLE,
	_JOB_ACTION_MAX,
};
const char *job_action_to_string(enum job_action a);
int job_action_from_string(const char *s); /* -EINVAL if unknown */

/* The job-file keys a kind can take besides the common ones (Endpoint=,
 * Description=, Hook=, Timeout=, Kind=). A kind requires exactly the fields in
 * its mask; any other of these keys in its job file is an error. */
enum kind_field {
	KIND_FIELD_JOB_ID, /* JobID=: a UUID, any case */
	KIND_FIELD_ACTION, /* Action=: enable | disable */
	KIND_FIELD_DATASET, /* Dataset=: a UUID, any case */
	KIND_FIELD_BATCH, /* Batch=: 14 digits of UTC time + 6 digits */
	_KIND_FIELD_MAX,
};
#define KIND_FIELD_BIT(f) (1U << (f))
const char *kind_field_key(enum kind_field f); /* "JobID", "Action", ... */

#define KIND_BATCH_DIGITS 20
#define KIND_BATCH_EXAMPLE "20261202075447123456"
/* Big enough for any kind's own id as text (a UUID, a batch, a user kind's
 * JobID= text) with its NUL. */
#define KIND_ID_STRING_MAX (KINDDEF_VALUE_MAX + 1)
/* Big enough for a kind's name with its NUL (name_is_valid(): 64 bytes). */
#define KIND_NAME_MAX 65

/*
 * The id fields of one job, zero where the kind has no such field. id is the
 * kind's own id: a UUID for annotation-reply and workflow-run, the batch
 * packed as 10 bytes of BCD (two digits a byte, high nibble first; bytes
 * 10-15 zero) for document-indexing. A KIND_USER job has all of them zero
 * and its identity in user: "NAME\nID" then "\nKey=value" for each {Key}
 * of the kind's StatusPath=, in strcmp order of Key (userkind.h builds and
 * reads it). Compare with kind_ident_equal(), never memcmp (the pointer).
 */
struct kind_ident {
	uint8_t kind; /* enum kind_type */
	uint8_t action; /* enum job_action; 0 unless annotation-reply */
	uint8_t id[16];
	uint8_t dataset[16]; /* document-indexing only */
	const char *user; /* KIND_USER only, else NULL; borrowed from its owner
			   * (struct jobfile, struct job, ...) */
};

/* A kind's answer to one 200, for the classifier (dify.h). */
enum kind_verdict {
	KIND_VERDICT_RUNNING, /* not terminal */
	KIND_VERDICT_COMPLETED,
	KIND_VERDICT_ERROR,
	KIND_VERDICT_BAD, /* not a usable answer of this kind: POLL_BAD_BODY */
	_KIND_VERDICT_MAX,
};

struct kind {
	const char *name; /* Kind= value, JOB_KIND */
	/* The status words, as a [Kind:] section's Completed=, Failed= and
	 * Running= (NULL-terminated; NULL: none): kind_classify_word(). Empty
	 * for document-indexing, whose batch ends by its documents. */
	const char *const *words[_KINDDEF_LIST_MAX];
	unsigned fields; /* KIND_FIELD_BIT()s the job file requires */
	enum kind_field id_field; /* which field is the kind's own id */
	/* relative to the endpoint's BaseURL; {action} {id} {dataset} {batch}
	 * are replaced by the field's text, URL-escaped */
	const char *status_path;
	unsigned gone_http_codes[2]; /* HTTP codes a "does not exist" comes with, 0 = none */
	const char *const *gone_messages; /* NULL-terminated, matched by prefix */
	/* Read a 200 answer: fills ret's status fields (dify.h) and returns the
	 * verdict. expected_id is the job's own id as text, or NULL (not
	 * checked): an answer naming another id is KIND_VERDICT_BAD. */
	enum kind_verdict (*read_answer)(const struct response *r, const char *expected_id,
					 struct poll_result *ret);
};

/* The table entry; NULL when t is out of range (and for KIND_USER). */
const struct kind *kind_get(enum kind_type t);
/* A built-in kind's name; NULL when out of range (and for KIND_USER: use
 * kind_ident_kind_name() or job_kind_name(), which know user kinds). */
const char *kind_type_to_string(enum kind_type t);
int kind_type_from_string(const char *s); /* enum kind_type, or -EINVAL */
/* The built-in kinds' names, "annotation-reply, document-indexing,
 * workflow-run", into buf (for messages). Returns buf. */
#define KIND_TYPE_NAMES_MAX 64
char *kind_type_names(char buf[static KIND_TYPE_NAMES_MAX]);

/*
 * Validate and store one field's value into ident (which must already have
 * its kind set or not: the kind is not looked at). Returns 0 or -EINVAL when
 * the value is not valid for the field; kind_field_expected() then says what
 * was expected, for the FILE:LINE message.
 */
int kind_field_parse(enum kind_field f, const char *value, struct kind_ident *ident);
const char *kind_field_expected(enum kind_field f);

/*
 * Render one field of ident as text (UUIDs in lower case). buf needs
 * KIND_ID_STRING_MAX bytes. Returns buf, or NULL when the field is not valid
 * in ident (an action out of range, a batch with a non-digit).
 */
char *kind_field_to_string(const struct kind_ident *ident, enum kind_field f,
			   char buf[static KIND_ID_STRING_MAX]);

/* The kind's own id (JOB_ID, what jobwatchctl wait takes): the annotation
 * job's UUID, the batch, the run's UUID, a user kind's JobID= text. Same
 * contract as above (NULL for a KIND_USER ident without its text). */
char *kind_ident_id_string(const struct kind_ident *ident, char buf[static KIND_ID_STRING_MAX]);

/* The kind's name (JOB_KIND): the built-in name, or NAME of a KIND_USER
 * ident's text copied into buf. NULL when ident's kind is invalid. */
const char *kind_ident_kind_name(const struct kind_ident *ident, char buf[static KIND_NAME_MAX]);

/* How a built-in kind's table classifies a status word (the one classifier
 * of [Kind:] sections, kinddef_classify_lists()). UNKNOWN for a kind
 * without words. */
enum kinddef_class kind_classify_word(const struct kind *k, const char *word);

/*
 * The status request path of ident, "/apps/annotation-reply/enable/status/
 * <uuid>" etc. (to be appended to the BaseURL, which has no trailing slash),
 * into buf. Returns its length, -ENOBUFS when it does not fit, -EINVAL when
 * ident is not valid for its kind.
 */
int kind_status_path(const struct kind_ident *ident, char *buf, size_t size);

/* Room for any built-in kind's status path with its NUL (tested). */
#define KIND_STATUS_PATH_MAX 128

/* "{base}{path}" into buf: the URL to GET. base has no trailing slash.
 * Returns its length, -ENOBUFS or -EINVAL as kind_status_path(). */
int kind_status_url(const char *base, const struct kind_ident *ident, char *buf, size_t size);

/* Identity helpers for the registry (which adds the endpoint). A KIND_USER
 * ident compares and hashes its user text; one without text equals
 * nothing (not even itself: it is not resolved yet). */
bool kind_ident_equal(const struct kind_ident *a, const struct kind_ident *b);
uint64_t kind_ident_hash(const struct kind_ident *ident, uint64_t seed);

/*
 * Whether (http_code, message) is this kind's "does not exist": the code is
 * one of gone_http_codes and the message starts with one of gone_messages
 * (flask-restx may append " You have requested this URI [...] but did you
 * mean ... ?"). message may be NULL (false).
 */
bool kind_is_gone_message(const struct kind *k, long http_code, const char *message);

/*
 * Percent-encode s for a path segment (RFC 3986: unreserved characters are
 * kept, every other byte becomes %XX) into buf. Returns the length or
 * -ENOBUFS.
 */
int kind_url_escape(const char *s, char *buf, size_t size);
