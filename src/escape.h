/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Text from outside (a server's answer, a file's name or content, a hook's
 * output) made safe to print on a terminal and to put in a journal MESSAGE=.
 *
 * Escaped, one "\xNN" (two lower-case hex digits) per byte: every C0 control
 * (0x00-0x1f: newline, carriage return and tab included), DEL (0x7f), every
 * C1 control (U+0080-U+009F: both bytes of its UTF-8 form, "\xc2\x9b", or a
 * raw byte 0x80-0x9f), and every byte that is not part of valid UTF-8
 * (overlong forms, surrogates and code points above U+10FFFF included).
 * Kept: printable ASCII and valid UTF-8 text (é, 中文).
 *
 * A backslash is kept as it is, so escaping escaped text changes nothing:
 * the notation is for reading, not for reversing. Where a script needs the
 * exact bytes it reads a field that keeps them (see journal.h).
 *
 * Pure: no allocation except in escape_text(), no logging.
 */

#include <stdbool.h>
#include <stddef.h>

/* Bytes of a file's content that a diagnostic quotes at most. */
#define ESCAPE_QUOTE_MAX 32
/* A buffer that holds any quote: every byte escaped, plus "…" and NUL. */
#define ESCAPE_QUOTE_SIZE (ESCAPE_QUOTE_MAX * 4 + sizeof("…"))

/* The mark of a cut: U+2026, three bytes of UTF-8. */
#define ESCAPE_ELLIPSIS "…"

/* True when s[0..len) has nothing that escaping would change. */
bool escape_is_clean(const char *s, size_t len);

/* The length of s[0..len) once escaped (without a NUL). */
size_t escape_length(const char *s, size_t len);

/*
 * Escape s[0..len) (embedded NULs become "\x00") into buf, always
 * NUL-terminated when size > 0. If it does not fit, the text is cut after a
 * whole character or escape and ends in "…" (when size is at least 4).
 * Returns buf.
 */
char *escape_text_buf(char *buf, size_t size, const char *s, size_t len);

/* The same into a new string; the caller frees it. NULL on OOM only. */
char *escape_text(const char *s, size_t len);

/*
 * A quote of a file's content for a diagnostic: at most ESCAPE_QUOTE_MAX
 * bytes of the NUL-terminated s (cut after a whole character), escaped, and
 * "…" when something was left out. buf needs ESCAPE_QUOTE_SIZE bytes; s may
 * be NULL (""). Returns buf.
 */
char *escape_quote(char *buf, size_t size, const char *s);

/* escape_quote() into a temporary that lives until the end of the enclosing
 * full expression's block: diag_add(..., "Bad '%s'", QUOTE(value)). */
#define QUOTE(s) escape_quote((char[ESCAPE_QUOTE_SIZE]){ 0 }, ESCAPE_QUOTE_SIZE, (s))

/*
 * s[0..len) as a JSON string, quotes included, into a new string (the
 * caller frees it; NULL on OOM only). Valid UTF-8 text is kept; '"' and '\\'
 * are escaped as JSON requires; every C0 control, DEL and C1 control becomes
 * "\u00NN"; a byte that is not part of valid UTF-8 becomes "\ufffd". The
 * result is valid JSON and safe to print on a terminal.
 */
char *escape_json(const char *s, size_t len);
