/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * String helpers. Pure: no logging, no event loop. Functions returning int
 * give >= 0 on success and a negative errno on failure.
 */

#include <stdbool.h>
#include <string.h>

#include "macro.h"

static inline bool streq(const char *a, const char *b)
{
	return strcmp(a, b) == 0;
}

static inline bool streq_ptr(const char *a, const char *b)
{
	if (!a || !b) {
		return a == b;
	}
	return streq(a, b);
}

static inline bool isempty(const char *s)
{
	return !s || s[0] == '\0';
}

static inline const char *strempty(const char *s)
{
	return s ? s : "";
}

/* strdup() that passes NULL through: NULL for NULL, else a copy or NULL on OOM. */
char *strdup_or_null(const char *s);

/* *p becomes a copy of s (NULL for NULL) and its old value is freed. Returns
 * 0, or -ENOMEM with *p left as it was. */
int free_and_strdup(char **p, const char *s);

/* Returns a new string "a" + "b" + ... (NULL-terminated list); NULL on OOM. */
char *strjoin_real(const char *a, ...) __attribute__((sentinel));
#define strjoin(...) strjoin_real(__VA_ARGS__, NULL)

/* The value of one hex digit (either case), or -EINVAL. */
int unhexchar(char c);

/* Name tables of enums (table[value] = name): the name of i, or NULL when out
 * of range; the value named s, or -EINVAL. */
const char *string_table_name(const char *const *table, size_t n, int i);
int string_table_value(const char *const *table, size_t n, const char *s);

/* true for a name containing only [A-Za-z0-9_.-], 1..64 characters, other
 * than "." and ".." (names are used as file names, e.g. credentials). */
bool name_is_valid(const char *s);
