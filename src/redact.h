/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Keep a secret (an endpoint's API key) out of text that came from a server:
 * a server that echoes the request headers in an error message must not put
 * the key into the journal, the state file or a hook. Pure: no I/O.
 */

#include <stdbool.h>
#include <stddef.h>

/* What each occurrence of the secret becomes. */
#define REDACTED "[redacted]"

/* True when secret (non-empty) occurs in s[0..len). */
bool redact_needed(const char *s, size_t len, const char *secret);

/*
 * A copy of s[0..len) with every occurrence of secret replaced by REDACTED,
 * scanning left to right without overlap. The copy is NUL-terminated and
 * *ret_len is its length without the NUL (s may hold NULs; they are copied).
 * A NULL or empty secret gives a plain copy. Returns an owned buffer, or NULL
 * on OOM.
 */
char *redact(const char *s, size_t len, const char *secret, size_t *ret_len);
