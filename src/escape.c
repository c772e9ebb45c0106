/* SPDX-License-Identifier: MIT */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "escape.h"

/*
 * The next unit of s[i..len): one character that is kept, or a run of bytes
 * that is escaped. Returns its length in bytes (at least 1) and sets
 * *ret_escape when each of its bytes becomes "\xNN".
 */
static size_t next_unit(const unsigned char *s, size_t len, size_t i, bool *ret_escape)
{
	unsigned char c = s[i];
	uint32_t cp, min;
	size_t n;

	if (c < 0x80) {
		*ret_escape = c < 0x20 || c == 0x7f;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		cp = c & 0x1f;
		min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		cp = c & 0x0f;
		min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		cp = c & 0x07;
		min = 0x10000;
	} else {
		/* a continuation byte on its own, 0xc0/0xc1 (overlong) or 0xf5-0xff */
		*ret_escape = true;
		return 1;
	}
	if (len - i < n) {
		*ret_escape = true;
		return 1;
	}
	for (size_t k = 1; k < n; k++) {
		if ((s[i + k] & 0xc0) != 0x80) {
			*ret_escape = true;
			return 1;
		}
		cp = (cp << 6) | (s[i + k] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
		/* overlong, out of range or a surrogate: not UTF-8, byte by byte */
		*ret_escape = true;
		return 1;
	}
	/* C1 controls: escape the whole character */
	*ret_escape = cp <= 0x9f;
	return n;
}

bool escape_is_clean(const char *s, size_t len)
{
	bool esc;

	for (size_t i = 0; i < len;) {
		i += next_unit((const unsigned char *)s, len, i, &esc);
		if (esc) {
			return false;
		}
	}
	return true;
}

size_t escape_length(const char *s, size_t len)
{
	size_t out = 0, n;
	bool esc;

	for (size_t i = 0; i < len; i += n) {
		n = next_unit((const unsigned char *)s, len, i, &esc);
		out += esc ? 4 * n : n;
	}
	return out;
}

/* Write unit s[i..i+n) at out (room is checked by the caller). */
static size_t put_unit(char *out, const unsigned char *s, size_t n, bool esc)
{
	static const char hex[] = "0123456789abcdef";

	if (!esc) {
		memcpy(out, s, n);
		return n;
	}
	for (size_t k = 0; k < n; k++) {
		out[4 * k] = '\\';
		out[4 * k + 1] = 'x';
		out[4 * k + 2] = hex[s[k] >> 4];
		out[4 * k + 3] = hex[s[k] & 0xf];
	}
	return 4 * n;
}

/*
 * Escape units of s[0..len) into buf while the escaped text stays within
 * room bytes and the input within in_max bytes; returns the bytes written
 * and sets *ret_used to the input bytes consumed.
 */
static size_t escape_some(char *buf, size_t room, const char *s, size_t len, size_t in_max,
			  size_t *ret_used)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t out = 0, i = 0, n;
	bool esc;

	while (i < len) {
		n = next_unit(u, len, i, &esc);
		if (i + n > in_max || out + (esc ? 4 * n : n) > room) {
			break;
		}
		out += put_unit(buf + out, u + i, n, esc);
		i += n;
	}
	*ret_used = i;
	return out;
}

char *escape_text_buf(char *buf, size_t size, const char *s, size_t len)
{
	const size_t ell = strlen(ESCAPE_ELLIPSIS);
	size_t out, used;

	if (size == 0) {
		return buf;
	}
	if (escape_length(s, len) < size) {
		out = escape_some(buf, size - 1, s, len, len, &used);
	} else if (size > ell) {
		out = escape_some(buf, size - 1 - ell, s, len, len, &used);
		memcpy(buf + out, ESCAPE_ELLIPSIS, ell);
		out += ell;
	} else {
		out = escape_some(buf, size - 1, s, len, len, &used);
	}
	buf[out] = '\0';
	return buf;
}

char *escape_text(const char *s, size_t len)
{
	size_t n = escape_length(s, len);
	char *buf = malloc(n + 1);

	if (!buf) {
		return NULL;
	}
	return escape_text_buf(buf, n + 1, s, len);
}

char *escape_quote(char *buf, size_t size, const char *s)
{
	const size_t ell = strlen(ESCAPE_ELLIPSIS);
	size_t len = s ? strlen(s) : 0, out, used;

	if (size < ESCAPE_QUOTE_SIZE) {
		/* a caller's mistake: still give a safe, if shorter, text */
		return escape_text_buf(buf, size, s ? s : "", len);
	}
	out = escape_some(buf, size - 1 - ell, s ? s : "", len, ESCAPE_QUOTE_MAX, &used);
	if (used < len) {
		memcpy(buf + out, ESCAPE_ELLIPSIS, ell);
		out += ell;
	}
	buf[out] = '\0';
	return buf;
}

char *escape_json(const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *u = (const unsigned char *)s;
	/* at most 6 bytes out for each byte in ("\ufffd", "\u001b") */
	char *buf, *out;
	size_t n;
	bool esc;

	if (len > (SIZE_MAX - 3) / 6) {
		return NULL;
	}
	buf = malloc(len * 6 + 3);
	if (!buf) {
		return NULL;
	}
	out = buf;
	*out++ = '"';
	for (size_t i = 0; i < len; i += n) {
		n = next_unit(u, len, i, &esc);
		if (!esc) {
			if (u[i] == '"' || u[i] == '\\') {
				*out++ = '\\';
			}
			memcpy(out, u + i, n);
			out += n;
			continue;
		}
		uint32_t cp;
		if (n == 2) {
			cp = ((uint32_t)(u[i] & 0x1f) << 6) | (u[i + 1] & 0x3f); /* a C1 control */
		} else if (u[i] < 0x80) {
			cp = u[i]; /* C0 or DEL */
		} else {
			cp = 0xfffd; /* not UTF-8 */
		}
		memcpy(out, "\\u", 2);
		out[2] = hex[(cp >> 12) & 0xf];
		out[3] = hex[(cp >> 8) & 0xf];
		out[4] = hex[(cp >> 4) & 0xf];
		out[5] = hex[cp & 0xf];
		out += 6;
	}
	*out++ = '"';
	*out = '\0';
	return buf;
}
