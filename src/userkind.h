/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Jobs of user-defined kinds ([Kind:NAME], kinddef.h; issue 13): the
 * identity text of such a job and the classification of one exchange about
 * it. Pure: no I/O, no logging.
 *
 * The identity of a KIND_USER job (struct kind_ident's user) is one text:
 *
 *   NAME "\n" ID { "\n" Key "=" value }      Keys in strcmp order
 *
 * NAME is the kind's name (name_is_valid()), ID the job file's JobID= and
 * the Key=value pairs the job file's values of the kind's {Key}
 * placeholders; every value passes kinddef_value_is_valid(), so it holds no
 * control character and "\n" separates unambiguously. Two jobs of the same
 * kind, id and values have the same text whatever the order of their lines.
 * The part after ID ("Key=value\nKey=value", "" when none) is what the state
 * store keeps in its dataset column (state-sql.h).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dify.h"
#include "kind.h"
#include "kinddef.h"
#include "transfer.h"

/* Room for a user kind's status path with its NUL: a job whose path does not
 * fit is refused (jobfile_check_refs()); a template may repeat a {Key}. */
#define USERKIND_STATUS_PATH_MAX 4096

/*
 * Build the identity text from the kind's name, the JobID= text and the
 * {Key} values as "Key=value" strings (any order, n of them; fields may be
 * NULL when n is 0). Returns 0 and an owned string in *ret, -EINVAL when a
 * part is not valid (a bad name or value, a key that is no placeholder, a
 * key twice), -ENOMEM.
 */
int userkind_text_new(const char *name, const char *id, const char *const *fields, size_t n,
		      char **ret);

/*
 * The same from the text of the fields part ("Key=value" lines separated by
 * "\n", "" or NULL for none), as the state store keeps it.
 */
int userkind_text_from_parts(const char *name, const char *id, const char *fields_part, char **ret);

/* The parts of a text made by userkind_text_new(): NAME into buf (NULL when
 * the text is malformed), ID into buf (same), and the fields part
 * (borrowed: a suffix of text; "" when there are none). */
char *userkind_text_name(const char *text, char buf[static KIND_NAME_MAX]);
char *userkind_text_id(const char *text, char buf[static KIND_ID_STRING_MAX]);
const char *userkind_text_fields(const char *text);

/*
 * The values of a text for kinddef_status_path(): pass a struct
 * userkind_lookup with text set as userdata and userkind_lookup as the
 * function. It answers "id" and each Key of the text, copied into buf: the
 * returned value is valid until the next call (kinddef_status_path() uses
 * each value before asking for the next).
 */
struct userkind_lookup {
	const char *text; /* borrowed */
	char buf[KINDDEF_VALUE_MAX + 1];
};
const char *userkind_lookup(void *userdata, const char *name);

/*
 * Classify one exchange about a job of the user kind def, as
 * dify_classify_kind() does for the built-in kinds: transfer is how it ended
 * below HTTP, http_code the status (0 if none), body_ok whether the body was
 * one complete JSON value (jsonextract_complete() returned 0), status and
 * error the jsonextract values of StatusField= and ErrorField= (error NULL
 * when the kind has none), retry_after_s the Retry-After header (0: none).
 *
 * A 200 whose status kinddef_read_status() refuses, or whose body did not
 * parse, is POLL_BAD_BODY (a fault of the job's answer); *ret_reason then
 * says why for the trouble log ("the status at '/status' is a number" is
 * made of it; "not JSON" when the body did not parse). Otherwise a
 * Completed= word is POLL_STATUS with verdict COMPLETED, a Failed= word
 * verdict ERROR with error_msg ErrorField='s string ("" when absent or not a
 * string), a Running= word RUNNING (status_known), any other word RUNNING
 * with status_known false. A GoneStatus= code is POLL_GONE; other codes as
 * for the built-in kinds (dify_classify_http()). Pointers in *ret borrow from
 * status and error.
 */
void userkind_classify(const struct kind_def *def, enum transfer_error transfer, long http_code,
		       bool body_ok, const struct jsonextract_value *status,
		       const struct jsonextract_value *error, uint64_t retry_after_s,
		       struct poll_result *ret, const char **ret_reason);
