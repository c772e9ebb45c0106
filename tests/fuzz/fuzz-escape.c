/* SPDX-License-Identifier: MIT */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_tree.h>

#include "escape.h"
#include "test-helpers.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* No C0, DEL or C1 byte and no invalid UTF-8 left: the output is safe. */
static void check_safe(const char *s)
{
	size_t n = strlen(s);

	CHECK(escape_is_clean(s, n));
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		CHECK(c >= 0x20 && c != 0x7f);
		CHECK(!(c == 0xc2 && i + 1 < n && (unsigned char)s[i + 1] <= 0x9f));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in, *out, small[24], quote[ESCAPE_QUOTE_SIZE];

	/* A copy of exactly size bytes, so that ASan catches over-reads. */
	in = malloc(size + 1);
	if (!in) {
		return 0;
	}
	if (size > 0) {
		memcpy(in, data, size);
	}
	in[size] = '\0';

	out = escape_text(in, size);
	if (out) {
		check_safe(out);
		CHECK(strlen(out) == escape_length(in, size));
		/* escaping escaped text changes nothing */
		char *again = escape_text(out, strlen(out));
		CHECK(!again || strcmp(again, out) == 0);
		free(again);
		/* the clean input is kept as it is */
		CHECK(!escape_is_clean(in, size) || strcmp(in, out) == 0);
		/* a cut copy is a prefix of the whole, plus the ellipsis */
		escape_text_buf(small, sizeof(small), in, size);
		check_safe(small);
		size_t k = strlen(small);
		if (strlen(out) < sizeof(small)) {
			CHECK(strcmp(small, out) == 0);
		} else {
			size_t e = strlen(ESCAPE_ELLIPSIS);
			CHECK(k >= e && strcmp(small + k - e, ESCAPE_ELLIPSIS) == 0);
			CHECK(strncmp(small, out, k - e) == 0);
		}
		free(out);
	}

	/* JSON: valid (yajl parses it back), one string, and safe */
	char *json = escape_json(in, size);
	if (json) {
		check_safe(json);
		yajl_val v = yajl_tree_parse(json, NULL, 0);
		CHECK(v && YAJL_IS_STRING(v));
		yajl_tree_free(v);
		free(json);
	}

	escape_quote(quote, sizeof(quote), in);
	check_safe(quote);
	CHECK(strlen(quote) < sizeof(quote));

	free(in);
	return 0;
}
