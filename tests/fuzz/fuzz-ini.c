/* SPDX-License-Identifier: MIT */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "escape.h"
#include "ini.h"
#include "macro.h"
#include "test-helpers.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct seen {
	unsigned last_line;
	size_t n_lines; /* lines in the input: no callback may point past them */
};

static int on_section(void *userdata, const char *file, unsigned line, const char *section)
{
	struct seen *s = userdata;

	CHECK(section && section[0] != '\0');
	CHECK(line >= 1 && line <= s->n_lines);
	CHECK(line > s->last_line);
	s->last_line = line;
	return 0;
}

static int on_key(void *userdata, const char *file, unsigned line, const char *section,
		  const char *key, const char *value)
{
	struct seen *s = userdata;

	CHECK(section && section[0] != '\0');
	CHECK(key && key[0] != '\0' && !strchr(key, '='));
	CHECK(value);
	CHECK(line >= 1 && line <= s->n_lines);
	CHECK(line > s->last_line);
	s->last_line = line;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct diag_list diags = {};
	struct seen seen = { .n_lines = 1 };
	char *buf, msg[256];

	/* A copy of exactly size bytes, so that ASan catches over-reads. */
	buf = malloc(size);
	if (!buf && size > 0) {
		return 0;
	}
	if (size > 0) {
		memcpy(buf, data, size);
	}
	for (size_t i = 0; i < size; i++) {
		seen.n_lines += buf[i] == '\n';
	}

	(void)ini_parse_buffer("fuzz.ini", buf, size, on_section, on_key, &seen, &diags);
	for (size_t i = 0; i < diags.n; i++) {
		CHECK(diags.items[i].line <= seen.n_lines);
		(void)diag_format(&diags.items[i], msg, sizeof(msg));
		/* safe for a terminal and MESSAGE=, whatever the input */
		CHECK(escape_is_clean(msg, strlen(msg)));
		/* file content is quoted escaped and short: the message is clean and
		 * bounded by its fixed text and two quotes */
		CHECK(escape_is_clean(diags.items[i].message, strlen(diags.items[i].message)));
		CHECK(strlen(diags.items[i].message) < 200 + 2 * ESCAPE_QUOTE_SIZE);
	}

	diag_list_done(&diags);
	free(buf);
	return 0;
}
