/* SPDX-License-Identifier: MIT */
#pragma once

/* NULL-terminated arrays of owned strings. Pure. */

#include <stddef.h>

#include "macro.h"

void strv_free(char **l);
DEFINE_TRIVIAL_CLEANUP_FUNC(char **, strv_free);
size_t strv_length(char *const *l);

/* Append s to the vector *l of *n strings (capacity *allocated, as for
 * grow_array(); 0 for a NULL *l) and keep it NULL-terminated. On success the
 * vector owns s; -ENOMEM leaves s to the caller and *l as it was. */
int strv_push(char ***l, size_t *n, size_t *allocated, char *s);

/*
 * Split a command line into words the way systemd's ExecStart= does, without a
 * shell: words are separated by blanks; "double" and 'single' quotes group;
 * backslash escapes the next character (\n \t \\ \" \' \ and \x## are known).
 * Also known: \a \b \f \r \v \s (a blank) and octal \NNN.
 * Returns 0 and a NULL-terminated owned vector in *ret (empty vector for an
 * empty string), -EINVAL for unbalanced quotes, a trailing backslash, an
 * unknown escape or one that gives a NUL byte, -ENOMEM on OOM.
 */
int split_words(const char *s, char ***ret);

/* NULL when s is a usable command line for a hook (split_words() splits it and
 * its first word is an absolute path), else why not, for a message. */
const char *command_line_problem(const char *s);
