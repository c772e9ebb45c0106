/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * RFC 6901 JSON pointers, for a user kind's StatusField= and ErrorField=
 * (issue 13; not wired into the daemon yet), and a streaming matcher that
 * evaluates one pointer over parser events without building a tree. Pure: no
 * yajl, no I/O, no logging; jsonextract.h drives matchers from yajl.
 *
 *   ""              the whole document
 *   "/status"       the member "status" of the top-level object
 *   "/errors/0/m"   member "m" of the first element of the array "errors"
 *   "/a~1b/c~0d"    member "c~d" of member "a/b" (~1 is '/', ~0 is '~')
 *
 * A reference token matches an object member by its exact bytes (no
 * Unicode normalisation), and an array element when it is a decimal index
 * without leading zeros ("0", "12"; "01" and "-" never match an element: "-"
 * names the element after the last one, which never exists in an answer).
 * A token may still be "01" or "-": it then only ever matches object members.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JSONPTR_TEXT_MAX 256 /* bytes of a pointer as written, without NUL */
#define JSONPTR_TOKENS_MAX 32 /* reference tokens in a pointer */

struct jsonptr_token {
	char *name; /* owned, unescaped (no NUL inside: pointers come from config text) */
	size_t len; /* strlen(name) */
	int64_t index; /* the array index it names, -1 when it names none */
};

struct jsonptr {
	char *text; /* owned: the pointer as written; NULL for a zeroed jsonptr */
	struct jsonptr_token *tokens; /* owned array of n_tokens */
	size_t n_tokens; /* 0: the whole document */
};

/*
 * Parse s into *ret (which the caller then releases with jsonptr_done()).
 * Returns 0, -ENOMEM, or -EINVAL with *reterr_reason (static text, may be
 * NULL) saying why, for a FILE:LINE message:
 *   "does not start with '/'", "'~' not followed by '0' or '1'",
 *   "longer than 256 bytes", "more than 32 reference tokens",
 *   "contains a control character".
 * On failure *ret is left zeroed.
 */
int jsonptr_parse(const char *s, struct jsonptr *ret, const char **reterr_reason);

/* Release what jsonptr_parse() allocated; accepts a zeroed jsonptr. */
void jsonptr_done(struct jsonptr *p);
static inline void jsonptr_donep(struct jsonptr *p)
{
	jsonptr_done(p);
}

/* A deep copy of src into *ret (zeroed on failure). 0 or -ENOMEM. */
int jsonptr_copy(const struct jsonptr *src, struct jsonptr *ret);

/*
 * The streaming matcher. Feed it the parser's events in document order and
 * it says, for each value as it begins, whether that value is the one at the
 * pointer. Its memory is fixed (one slot per reference token), however deep
 * the document nests: a value off the pointer's path costs a counter.
 *
 * Events (call exactly one per parser callback):
 *   jsonptr_matcher_scalar()       a string, number, boolean or null
 *   jsonptr_matcher_start(is_array) '{' or '['
 *   jsonptr_matcher_key()          an object member's name
 *   jsonptr_matcher_end()          '}' or ']'
 * scalar() and start() return true when the value beginning there is at the
 * pointer (for start(): the pointer names an object or array). A document
 * may have the pointer's value more than once (duplicate member names);
 * every occurrence returns true and it is the caller's choice which counts
 * (jsonextract: the last, as most JSON parsers do).
 *
 * ptr is borrowed and must outlive the matcher.
 */
struct jsonptr_matcher_level {
	bool is_array;
	bool key_match; /* object: the last member name equals this level's token */
	uint64_t next; /* array: the index of the next element */
	uint64_t cur; /* array: the index of the element being read */
};

struct jsonptr_matcher {
	const struct jsonptr *ptr; /* borrowed */
	size_t depth; /* containers open */
	size_t on_path; /* of those, the outermost ones whose path is a prefix of ptr */
	struct jsonptr_matcher_level levels[JSONPTR_TOKENS_MAX];
};

void jsonptr_matcher_init(struct jsonptr_matcher *m, const struct jsonptr *ptr);
bool jsonptr_matcher_scalar(struct jsonptr_matcher *m);
bool jsonptr_matcher_start(struct jsonptr_matcher *m, bool is_array);
void jsonptr_matcher_key(struct jsonptr_matcher *m, const char *key, size_t len);
void jsonptr_matcher_end(struct jsonptr_matcher *m);
