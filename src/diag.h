/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Diagnostics collected by the pure parsers: each one is "FILE:LINE: message"
 * with a level. Parsers never print; their callers decide whether a list is
 * logged (daemon), printed (--check) or ignored (fuzzers).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "macro.h"

enum diag_level {
	DIAG_WARNING,
	DIAG_ERROR,
};

struct diag {
	enum diag_level level;
	char *file; /* owned; NULL when the problem is not tied to a file */
	unsigned line; /* 0 when not tied to a line */
	char *message; /* owned, one sentence, no trailing newline */
};

struct diag_list {
	struct diag *items; /* owned array of n entries */
	size_t n, allocated;
	size_t n_errors; /* how many have DIAG_ERROR */
	bool oom; /* an entry was lost to OOM; counts as an error */
};

/* Append one entry. A NULL list is allowed and ignores the entry. */
void diag_add(struct diag_list *l, enum diag_level level, const char *file, unsigned line,
	      const char *fmt, ...) _printf_(5, 6);

static inline bool diag_has_errors(const struct diag_list *l)
{
	return l && (l->n_errors > 0 || l->oom);
}

/* Format entry i as "FILE:LINE: message" ("FILE: message" without a line,
 * "message" without a file) into buf, the file name and the message escaped
 * for a terminal (escape.h); returns buf. */
char *diag_format(const struct diag *d, char *buf, size_t size);

/* Move every entry of src to the end of dst; src is left empty. */
void diag_list_move(struct diag_list *dst, struct diag_list *src);

void diag_list_done(struct diag_list *l);
static inline void diag_list_donep(struct diag_list *l)
{
	diag_list_done(l);
}

/*
 * Print every entry of l on f, one line each, as compilers do:
 * "PREFIXFILE:LINE: warning: message" ("FILE: ..." without a line, no
 * "FILE:" without a file, no "warning: " for an error), the file name and the
 * message escaped (escape.h); a lost entry (l->oom) as "PREFIXout of memory".
 * Warnings are left out unless warnings is true. prefix may be "" (--check)
 * or "jobwatchctl: ". Adds what it printed to *n_errors (the oom line counts
 * as one) and *n_warnings; either may be NULL.
 */
void diag_list_print(const struct diag_list *l, FILE *f, const char *prefix, bool warnings,
		     unsigned *n_errors, unsigned *n_warnings);
