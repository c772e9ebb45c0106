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
 * Recognised keys: job_id, job_status, error_msg (200 answers); code,
 * message, status (error answers).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Cap on a body we accept; a larger one is a fault of that poll. */
#define RESPONSE_BODY_MAX (64U * 1024U)

#define RESPONSE_SHORT_MAX 64 /* job_id, job_status, code (with NUL) */
#define RESPONSE_ERROR_MAX 1024 /* error_msg (with NUL) */
#define RESPONSE_MESSAGE_MAX 256 /* message (with NUL) */

#define RESPONSE_ARENA_SIZE 8192 /* enough for yajl on answers of this size */

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
