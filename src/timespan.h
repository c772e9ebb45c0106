/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Time spans as systemd writes them: "500ms", "2s", "5min", "1h 30min",
 * "1d", "1.5s"; a bare number is seconds. Units (case-sensitive, as systemd):
 * us usec µs, ms msec, s sec second seconds, m min minute minutes,
 * h hr hour hours, d day days, w week weeks, M month months (30.44 d),
 * y year years (365.25 d). Components may be separated by blanks and add up.
 *
 * The grammar is systemd's parse_time() (src/basic/time-util.c), input for
 * input and error code for error code; tests/unit/timespan-systemd.py checks
 * it against `systemd-analyze timespan`. So "+5s" is 5s; "1.", "2. ms" and
 * "3.s" are -EINVAL (a dot needs a digit after it); "-1" and "1s -0" are
 * -ERANGE; a component's number at or past UINT64_MAX / unit, or past
 * LLONG_MAX, is -ERANGE; "\v-0" is 0 (systemd hands the component to
 * strtoll, which skips \v and \f and takes a sign).
 */

#include <stddef.h>

#include "macro.h"

/* Longest text timespan_format() writes, with NUL. */
#define TIMESPAN_MAX 64

/*
 * Parse s into *ret. -EINVAL for syntax errors (empty, unknown unit,
 * garbage), -ERANGE for a minus sign or when a component or the total does
 * not fit (no finite sum reaches USEC_INFINITY). The "infinity" keyword,
 * alone, is accepted and gives USEC_INFINITY. *ret is untouched on error.
 */
int timespan_parse(const char *s, usec_t *ret);

/*
 * Format t for humans, largest units first, zero components left out, down
 * to milliseconds: "1d 2h", "1h 30min", "1min 30s", "2s 500ms", "250ms"; a
 * span under 1ms but above 0 is "NNNus"; 0 is "0"; USEC_INFINITY is
 * "infinity". Units used: d h min s ms us. Returns buf. size should be
 * TIMESPAN_MAX; shorter buffers get a truncated, NUL-terminated string
 * (cut before the first component that does not fit).
 */
char *timespan_format(char *buf, size_t size, usec_t t);
