/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Pull a few JSON pointers (jsonptr.h) out of an answer while it streams in,
 * with yajl's callback parser and no tree: a user kind's StatusField= and
 * ErrorField= (issue 13; not wired into the daemon yet). Beside response.c,
 * the second yajl user of the pure layer; no yajl type leaves this file.
 *
 * Use: zero a struct jsonextract, jsonextract_add() each pointer, then
 * jsonextract_begin(), jsonextract_feed() each chunk, jsonextract_complete()
 * at the end of the body, read values[i], jsonextract_done().
 *
 * Hostile answers:
 *   - the body cap is the caller's (RESPONSE_BODY_MAX in on_curl_write, as
 *     for every answer);
 *   - invalid UTF-8 in a string, a syntax error, truncation, trailing
 *     garbage: -EBADMSG (yajl validates UTF-8), error says why;
 *   - nesting deeper than JSONEXTRACT_NESTING_MAX: -EBADMSG; the matchers
 *     themselves would cope, but no job-status answer nests like that, and
 *     a cap keeps whoever parses the body after us (hooks) out of trouble;
 *   - a huge string: its copy is cut to the pointer's cap on a UTF-8
 *     boundary and marked truncated (a status word cut short is no status);
 *   - \u0000 inside a string: copied as '?' and marked has_nul;
 *   - the API key echoed inside a value: replaced by REDACTED (redact.h)
 *     before the copy is cut, as response.c does;
 *   - the same pointer matched twice (duplicate member names): the last
 *     value counts, n_matches says how many there were.
 * values[] are meaningful only once jsonextract_complete() returned 0: after
 * a failure they hold what was seen before it, which is no answer.
 * What a value of the wrong type means is the caller's decision: see
 * kinddef_read_status() (kinddef.h) for the status.
 */

#include <stdbool.h>
#include <stddef.h>

#include "jsonptr.h"

#define JSONEXTRACT_POINTERS_MAX 4
#define JSONEXTRACT_VALUE_MAX 1024 /* bytes of one value's copy, with NUL */
#define JSONEXTRACT_NESTING_MAX 512 /* containers open at once */

enum jsonextract_type {
	JSONEXTRACT_ABSENT, /* nothing in the document is at the pointer */
	JSONEXTRACT_STRING,
	JSONEXTRACT_NUMBER,
	JSONEXTRACT_BOOLEAN,
	JSONEXTRACT_NULL,
	JSONEXTRACT_OBJECT,
	JSONEXTRACT_ARRAY,
	_JSONEXTRACT_TYPE_MAX,
};

/* "absent", "a string", "a number", "a boolean", "null", "an object",
 * "an array": for messages ("the status is an object"). */
const char *jsonextract_type_to_string(enum jsonextract_type t);

struct jsonextract_value {
	enum jsonextract_type type; /* of the last value at the pointer */
	unsigned n_matches; /* values seen at the pointer (saturating) */
	bool truncated; /* a string longer than the cap: text is its start */
	bool has_nul; /* a string with \u0000 (copied as '?') */
	/* A string: unescaped, redacted, cut to the cap. A number: as written
	 * (its text, cut to the cap). true/false/null as such. "" for an object
	 * or an array, whose contents are not kept. */
	char text[JSONEXTRACT_VALUE_MAX];
};

struct jsonextract {
	void *handle; /* yajl_handle, private to jsonextract.c */
	const char *secret; /* borrowed or NULL: the API key to redact */
	size_t n; /* pointers added */
	struct jsonptr_matcher matchers[JSONEXTRACT_POINTERS_MAX];
	size_t caps[JSONEXTRACT_POINTERS_MAX]; /* bytes kept per value, with NUL */
	struct jsonextract_value values[JSONEXTRACT_POINTERS_MAX];
	size_t depth;
	bool failed;
	char error[160]; /* why the input was refused, one line */
};

/*
 * Add a pointer (borrowed: it must outlive the parse) whose value is kept
 * in at most cap bytes with the NUL (2..JSONEXTRACT_VALUE_MAX). Before
 * jsonextract_begin() only. Returns its index into values[], -E2BIG when
 * JSONEXTRACT_POINTERS_MAX are already added, -EINVAL for a bad cap.
 */
int jsonextract_add(struct jsonextract *x, const struct jsonptr *ptr, size_t cap);

/* Start the parse; set secret before or after. 0 or -ENOMEM. */
int jsonextract_begin(struct jsonextract *x);

/* Feed a chunk. 0, or -EBADMSG once the input is refused (x->error says
 * why); later chunks are then ignored. */
int jsonextract_feed(struct jsonextract *x, const void *buf, size_t len);

/* End of input: 0 when it was one complete JSON value, else -EBADMSG. */
int jsonextract_complete(struct jsonextract *x);

/* Free the parser; the values stay readable. Accepts a zeroed struct. */
void jsonextract_done(struct jsonextract *x);

/* All of it for a whole buffer: add each of ptrs[0..n) with cap, parse, and
 * leave the result in *x (done already). For jobwatchctl and the fuzzer. */
int jsonextract_buffer(struct jsonextract *x, const struct jsonptr *const *ptrs, size_t n,
		       size_t cap, const void *buf, size_t len);
