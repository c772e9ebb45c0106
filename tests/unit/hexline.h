/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The input notation of timespan-systemd.tsv and timespan-systemd.py: 'x'
 * followed by the input's bytes in lower-case hex, so that any byte (blanks,
 * controls) survives a line-based file.
 */

#include <stdbool.h>
#include <string.h>

static inline int hexline_digit(char c)
{
	if (c >= '0' && c <= '9') {
		return c - '0';
	}
	if (c >= 'a' && c <= 'f') {
		return c - 'a' + 10;
	}
	return -1;
}

/* "x6162" → "ab", in place; false if s is not in that notation. */
static inline bool hexline_decode(char *s)
{
	size_t n = strlen(s), o = 0;

	if (n == 0 || s[0] != 'x' || n % 2 != 1) {
		return false;
	}
	for (size_t i = 1; i < n; i += 2) {
		int hi = hexline_digit(s[i]), lo = hexline_digit(s[i + 1]);

		if (hi < 0 || lo < 0) {
			return false;
		}
		s[o++] = (char)(hi * 16 + lo);
	}
	s[o] = '\0';
	return true;
}
