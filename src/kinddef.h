/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * A user-defined kind: one [Kind:NAME] section of the configuration
 * (CONTRACT "Kinds", issue 13): the section's keys, their validation with
 * FILE:LINE, the status path template and the status words. config.c reads
 * the sections into config->kinds (config_find_kind()). Pure: no I/O, no
 * logging.
 *
 *   [Kind:openai-batch]
 *   StatusPath=/batches/{id}        required; relative to the endpoint's BaseURL
 *   StatusField=/status             required; RFC 6901 pointer (jsonptr.h)
 *   ErrorField=/errors/data/0/message   optional; pointer to JOB_ERROR's text
 *   Completed=completed             required; space-separated status words
 *   Failed=failed expired cancelled optional
 *   Running=validating in_progress  optional (any other word: unknown, not terminal)
 *   GoneStatus=404                  optional; HTTP statuses meaning "no such job"
 *
 * Lists (Completed=, Failed=, Running=, GoneStatus=) add to what earlier
 * lines gave; an empty value empties the list, as in systemd. Other keys
 * take the last value. Unknown keys are warnings, like config.c's.
 *
 * Placeholders of StatusPath= and the job files: {id} is the job file's
 * JobID= (every user kind requires it: it is JOB_ID); {Key}, Key being a
 * name that starts with an upper-case ASCII letter followed by ASCII letters
 * and digits, is the job file's Key= line, which a job file of this kind
 * then requires (kinddef.keys lists them, for the job-file parser). The
 * job-file keys with a meaning of their own (Kind, Endpoint, Description,
 * Hook, Timeout, StallAfter, JobID, Action, Dataset, Batch) and Id, in any
 * letter case, cannot be placeholders. StatusPath= must hold {id}. Every
 * value is URL-escaped (kind_url_escape()) when the path is built; a value
 * must pass kinddef_value_is_valid(). A user kind's JobID= is any such text
 * (OpenAI's "batch_abc123"), not a UUID: struct kind_ident's 16 bytes cannot
 * hold it, so the wiring needs a text id for user kinds.
 *
 * A kind's status, read from StatusField=, must be a JSON string of at most
 * KINDDEF_WORD_MAX - 1 bytes without \u0000: a number, a boolean, null, an
 * object or an array there is not a usable answer (trouble for that poll,
 * like a malformed body: never a terminal state, never its text taken as a
 * word), and so is an absent status. kinddef_read_status() decides it.
 */

#include <stdbool.h>
#include <stddef.h>

#include "diag.h"
#include "jsonextract.h"
#include "jsonptr.h"
#include "macro.h"

#define KINDDEF_SECTION_PREFIX "Kind:"
#define KINDDEF_PATH_MAX 512 /* bytes of a StatusPath= template */
#define KINDDEF_WORD_MAX 64 /* a status word with its NUL (RESPONSE_SHORT_MAX) */
#define KINDDEF_WORDS_MAX 64 /* words in one list */
#define KINDDEF_KEYS_MAX 8 /* distinct {Key} placeholders besides {id} */
#define KINDDEF_KEY_MAX 32 /* bytes of a placeholder's key name */
#define KINDDEF_GONE_MAX 8 /* GoneStatus= codes */
#define KINDDEF_VALUE_MAX 256 /* bytes of a job-file value put into the path */
#define KINDDEF_ERROR_MAX 1024 /* bytes of ErrorField='s text kept (RESPONSE_ERROR_MAX) */

enum kinddef_list {
	KINDDEF_COMPLETED,
	KINDDEF_FAILED,
	KINDDEF_RUNNING,
	_KINDDEF_LIST_MAX,
};

/* What a remote status word means for a kind. */
enum kinddef_class {
	KINDDEF_CLASS_UNKNOWN, /* in no list: not terminal, logged once as unknown */
	KINDDEF_CLASS_RUNNING,
	KINDDEF_CLASS_COMPLETED,
	KINDDEF_CLASS_FAILED,
	_KINDDEF_CLASS_MAX,
};
const char *kinddef_class_to_string(enum kinddef_class c);

struct kinddef_words {
	char **words; /* owned, n entries */
	unsigned *lines; /* owned: the line each word was given on */
	char **files; /* owned: and its file (a drop-in can add words) */
	size_t n;
	size_t allocated_words, allocated_lines, allocated_files; /* grow_array() capacities */
};

struct kind_def {
	char *name; /* owned: NAME of [Kind:NAME], JOB_KIND */
	char *file; /* owned: the file of the section header, for messages */
	unsigned line; /* of the section header */

	char *status_path; /* owned template, NULL until StatusPath= */
	struct jsonptr status; /* StatusField=; has_status says if given */
	struct jsonptr error; /* ErrorField=; has_error says if given */
	bool has_status, has_error;
	struct kinddef_words lists[_KINDDEF_LIST_MAX];
	unsigned gone[KINDDEF_GONE_MAX]; /* GoneStatus= */
	size_t n_gone;
	/* {Key} placeholders of status_path besides {id}, in order of first
	 * appearance, owned (NULL-terminated, n_keys entries) */
	char **keys;
	size_t n_keys;

	/* line of each key, 0 when absent */
	unsigned line_status_path, line_status, line_error, line_gone;
	unsigned line_lists[_KINDDEF_LIST_MAX];
};

/*
 * Check NAME of a [Kind:NAME] header (FILE:LINE errors): a valid name
 * (name_is_valid(): [A-Za-z0-9_.-], 1..64), and not a built-in kind's
 * name in any letter case (kind_type_from_string()). Returns 0 or -EINVAL.
 * A second section of the same name is the caller's business (config.c
 * lists the kinds).
 */
int kinddef_check_name(const char *name, const char *file, unsigned line, struct diag_list *diags);

/* A new, empty definition for [Kind:name] at file:line (copied); NULL on
 * OOM. Call kinddef_check_name() first. */
struct kind_def *kinddef_new(const char *name, const char *file, unsigned line);
struct kind_def *kinddef_free(struct kind_def *def); /* returns NULL; accepts NULL */
DEFINE_TRIVIAL_CLEANUP_FUNC(struct kind_def *, kinddef_free);

/*
 * One key=value of the section. A bad value is an error at file:line and
 * leaves the key as it was; an unknown key a warning. Returns 0 in all these
 * cases, -ENOMEM on OOM.
 */
int kinddef_set(struct kind_def *def, const char *key, const char *value, const char *file,
		unsigned line, struct diag_list *diags);

/*
 * At the end of the section (or of all files, as the caller likes): the
 * checks across keys, errors at the section header's or the key's line: no
 * StatusPath=, no StatusField=, no Completed= word, a word in two lists.
 * Returns 0 or -EINVAL (reported).
 */
int kinddef_validate(const struct kind_def *def, struct diag_list *diags);

/* Whether a job-file value may go into a status path: 1..KINDDEF_VALUE_MAX
 * bytes, no control character, and not "." or ".." (which would climb the
 * path: curl removes dot segments). */
bool kinddef_value_is_valid(const char *value);

/*
 * Returns the value for the placeholder name ("id" or a Key of def->keys),
 * borrowed, or NULL when the job has none.
 */
typedef const char *(*kinddef_lookup_fn)(void *userdata, const char *name);

/*
 * Expand def->status_path into buf, each value URL-escaped. Returns the
 * length, -ENOBUFS when it does not fit, -ENOENT when lookup has no value
 * for a placeholder, -EINVAL when a value fails kinddef_value_is_valid()
 * or there is no template.
 */
int kinddef_status_path(const struct kind_def *def, kinddef_lookup_fn lookup, void *userdata,
			char *buf, size_t size);

/* The class of a remote status word (exact bytes). */
enum kinddef_class kinddef_classify_word(const struct kind_def *def, const char *word);

/*
 * The one word classifier, for [Kind:] sections and the built-in kinds'
 * table (kind_classify_word()) alike: lists[i] holds n[i] words of list i
 * (enum kinddef_list); a word in none is UNKNOWN.
 */
enum kinddef_class kinddef_classify_lists(const char *const *const lists[_KINDDEF_LIST_MAX],
					  const size_t n[_KINDDEF_LIST_MAX], const char *word);

/* Whether key (a job-file key) has the form of a {Key} placeholder and is
 * not one of the reserved keys: what a job file of a user kind keeps. */
bool kinddef_key_is_placeholder(const char *key);

/* Whether code is one of GoneStatus=. */
bool kinddef_is_gone(const struct kind_def *def, long code);

/*
 * Read the status from a jsonextract value of StatusField= (extracted with
 * cap KINDDEF_WORD_MAX): returns 0 and points *ret_word at the word (inside
 * v; classify it with kinddef_classify_word()), or returns -EBADMSG
 * with *ret_reason saying why it is no status ("absent", "a number", "an
 * object", ..., "too long", "contains \\u0000"): the poll's answer is then
 * not usable (POLL_BAD_BODY), whatever the value's text. The wording is for
 * "the status at '/status' is %s".
 */
int kinddef_read_status(const struct jsonextract_value *v, const char **ret_word,
			const char **ret_reason);

/*
 * Check a StatusPath= template (for kinddef_set and the fuzzer): starts with
 * '/', at most KINDDEF_PATH_MAX bytes, no control character, space, '#' or
 * backslash, balanced braces, and only known placeholders. Returns 0, or
 * -EINVAL with a message in reason[size]. When ret_keys is not NULL, the
 * {Key} names are returned there (owned strv, possibly empty; -ENOMEM on OOM).
 */
int kinddef_check_template(const char *t, char ***ret_keys, char *reason, size_t size);
