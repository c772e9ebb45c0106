/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * A tokenizer for systemd-style INI files, for files and in-memory buffers.
 *
 *   [Section]            section header; "[Endpoint:name]" is one section name
 *   Key=Value            blanks around key and value are stripped
 *   # comment, ; comment whole lines only: a '#' inside a value is part of it
 *   Key=a \              a trailing backslash joins the next line (with a blank),
 *       b                as in systemd; comment lines inside are skipped
 *
 * Values are not unquoted. Blank lines are skipped. A leading UTF-8 BOM is
 * skipped. Each key=value is handed to the callback with the section it is
 * in and the line it starts on.
 *
 * Problems are reported to the diag list as FILE:LINE: message:
 *   - a NUL byte anywhere (binary file): one error, parsing stops;
 *   - a line without '=', an empty key, a key outside any section, a
 *     malformed section header: an error for that line, parsing goes on;
 * The function returns 0 when the whole input was tokenized (even if some
 * lines had errors: look at the diag list), -EBADMSG for binary input,
 * -ENOMEM on OOM, or the first negative value returned by the callback,
 * which stops the parse.
 */

#include <stdbool.h>
#include <stddef.h>

#include "diag.h"

/* Maximum size of a config or job file we read. Larger files are refused. */
#define INI_FILE_MAX (64U * 1024U)

/*
 * Called once per assignment. section is never NULL (keys outside a section
 * are reported, not passed on). The strings are valid only during the call.
 * Return >= 0 to continue, < 0 to stop.
 */
typedef int (*ini_handler_fn)(void *userdata, const char *file, unsigned line, const char *section,
			      const char *key, const char *value);

/* Called once per section header seen (before its keys); may be NULL. */
typedef int (*ini_section_fn)(void *userdata, const char *file, unsigned line, const char *section);

int ini_parse_buffer(const char *file, const char *buf, size_t len, ini_section_fn on_section,
		     ini_handler_fn on_key, void *userdata, struct diag_list *diags);

/*
 * Whether a line of n bytes ending in s continues on the next one: an odd
 * number of trailing backslashes does ("\\" does not). A value that ends so
 * cannot be written on one line and read back unchanged.
 */
bool ini_line_continues(const char *s, size_t n);

/*
 * Read dirfd/path with read_file_capped() (at most INI_FILE_MAX bytes,
 * regular files only, symlinks refused when nofollow) and report a failure
 * as one "NAME: message" error, name being how messages call the file.
 * A missing file (-ENOENT) is not reported when missing_ok, and -ENOMEM never
 * is. Returns 0 with an owned NUL-terminated buffer in *ret, or a negative
 * errno.
 */
int ini_read_file(int dirfd, const char *path, const char *name, bool nofollow, bool missing_ok,
		  char **ret, size_t *ret_len, struct diag_list *diags);

int ini_parse_file(const char *path, ini_section_fn on_section, ini_handler_fn on_key,
		   void *userdata, struct diag_list *diags);
