/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Streaming parse of Dify's JSON answers with yajl's callback parser: feed
 * chunks as they arrive, finish at the end. Only top-level keys of a
 * top-level object count; a nested "job_status" is ignored. Strings are
 * copied into fixed, length-capped fields, so no yajl object and no
 * allocation leaves this module: yajl's own allocations are served from an
 * arena inside struct response_parser (malloc only if it overflows).
 *
 * Recognised keys, so that one parse serves every kind (kind.h):
 *   annotation-reply 200: job_id, job_status, error_msg;
 *   workflow-run 200: id, status (a string), error (a string or null); the
 *     rest (outputs, ...) is left to whoever reads the raw body;
 *   document-indexing 200: data, an array of documents of which id,
 *     indexing_status, error, completed_segments and total_segments are
 *     tallied as they stream by (struct response_documents): nothing per
 *     document is kept but a bounded list of the failed ones;
 *   error answers (every kind): code, message, status (a number).
 * A nested object or array anywhere else is skipped.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Cap on a body we accept; a larger one is a fault of that poll. */
#define RESPONSE_BODY_MAX (64U * 1024U)

#define RESPONSE_SHORT_MAX 64 /* job_id, job_status, code (with NUL) */
#define RESPONSE_ERROR_MAX 1024 /* error_msg (with NUL) */
#define RESPONSE_MESSAGE_MAX 256 /* message (with NUL) */

#define RESPONSE_DOC_ERROR_MAX 256 /* one document's error in the failed list (with NUL) */

#define RESPONSE_ARENA_SIZE 8192 /* enough for yajl on answers of this size */

/* A document's indexing_status (DIFY.md, kind 2), least advanced first. */
enum response_doc_status {
	RESPONSE_DOC_WAITING,
	RESPONSE_DOC_PARSING,
	RESPONSE_DOC_CLEANING,
	RESPONSE_DOC_SPLITTING,
	RESPONSE_DOC_INDEXING,
	RESPONSE_DOC_PAUSED,
	RESPONSE_DOC_COMPLETED,
	RESPONSE_DOC_ERROR,
	RESPONSE_DOC_OTHER, /* a word this version does not know */
	_RESPONSE_DOC_STATUS_MAX,
};
const char *response_doc_status_to_string(int s); /* "other" for OTHER and out of range */

/* The top-level "data" array of a document-indexing answer, tallied. */
struct response_documents {
	bool has_data; /* "data" is an array (the last "data" when repeated) */
	bool bad_shape; /* "data" is not an array, or an element is not an object
			  * with a string indexing_status (of at most
			  * RESPONSE_SHORT_MAX - 1 bytes, without NUL) */
	bool failed_truncated; /* failed[] could not name every failed document */
	uint32_t total; /* documents: the objects among data's elements */
	uint32_t count[_RESPONSE_DOC_STATUS_MAX]; /* documents per status */
	uint64_t completed_segments, total_segments; /* sums; non-integers ignored, saturating */
	char other_status[RESPONSE_SHORT_MAX]; /* the first unknown status word, or "" */
	/* The failed documents as "ID: error; ID: error" (just "ID" when the
	 * error is empty or null), each error cut to RESPONSE_DOC_ERROR_MAX, the
	 * whole cut and ended with "…" when it does not fit: JOB_ERROR. */
	char failed[RESPONSE_ERROR_MAX];
};

struct response {
	bool is_object; /* the top-level value is an object */
	bool bad_shape; /* job_status or job_id is not a string (other keys of the
			  * wrong type are ignored: has_* stays false) */
	bool has_job_id, has_job_status, has_error_msg, has_code, has_message, has_status;
	bool error_msg_truncated;
	int64_t status;
	char job_id[RESPONSE_SHORT_MAX];
	char job_status[RESPONSE_SHORT_MAX];
	char code[RESPONSE_SHORT_MAX];
	char message[RESPONSE_MESSAGE_MAX];
	char error_msg[RESPONSE_ERROR_MAX];

	/* workflow-run; "status" as a number is has_status above */
	bool has_id, has_status_text, has_error;
	bool status_bad_shape; /* the last "status" is neither a string nor a number, or
				 * a string with a NUL or longer than RESPONSE_SHORT_MAX - 1 */
	char id[RESPONSE_SHORT_MAX];
	char status_text[RESPONSE_SHORT_MAX];
	char error[RESPONSE_ERROR_MAX]; /* cut and ended with "…" when longer */

	/* document-indexing */
	struct response_documents documents;
};

struct response_parser {
	void *handle; /* yajl_handle, private to response.c */
	struct response result;
	unsigned depth;
	int key; /* which recognised key the next top-level value belongs to */
	bool failed; /* a syntax error was seen; further input is ignored */
	char error[160]; /* yajl's message for the failure, single line */
	const char *secret; /* borrowed, or NULL: the endpoint's API key, replaced by
			     * REDACTED (redact.h) in every string kept; set it after
			     * response_parser_begin() */
	bool in_data, in_doc; /* inside the top-level "data" array / one of its objects */
	struct {
		bool has_status, has_error;
		uint8_t status; /* enum response_doc_status */
		char status_word[RESPONSE_SHORT_MAX];
		char id[RESPONSE_SHORT_MAX];
		char error[RESPONSE_DOC_ERROR_MAX];
		uint64_t completed_segments, total_segments;
		bool has_completed_segments, has_total_segments;
	} doc; /* the document being read; reset at its '{' */
	size_t arena_used;
	_Alignas(16) unsigned char arena[RESPONSE_ARENA_SIZE];
};

/* Start a new parse. p must be zeroed or ended with response_parser_done().
 * Returns 0 or -ENOMEM. */
int response_parser_begin(struct response_parser *p);

/* Feed a chunk. Returns 0, or -EBADMSG once the input is not valid JSON
 * (p->error says why); after a failure further chunks are ignored. */
int response_parser_feed(struct response_parser *p, const void *buf, size_t len);

/* End of input. Returns 0 when the input was one complete JSON value,
 * -EBADMSG otherwise (empty, truncated, malformed, trailing garbage). */
int response_parser_complete(struct response_parser *p);

/* Release what begin allocated; accepts a zeroed or finished parser. */
void response_parser_done(struct response_parser *p);

/* Parse a whole buffer at once (jobwatchctl, fuzzing). */
int response_parse(const void *buf, size_t len, struct response *ret, char *error,
		   size_t error_size);
