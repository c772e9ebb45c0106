/* SPDX-License-Identifier: MIT */
/*
 * The [Kind:NAME] section parser (kinddef.h) and an endpoint's AuthHeader=
 * and Header= (authheader.h), fed an INI text through ini.c as config.c
 * will: [Kind:NAME] sections go to kinddef_set() and kinddef_validate(),
 * AuthHeader=/Header= of [Endpoint] sections to authheader.c. Checked:
 * every message is clean for a terminal, and what was accepted keeps the
 * promises of the headers (a valid kind has a template that expands to a
 * path without braces, words in one list each, a class per word; header
 * lines are one line each and only the auth line carries the key).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authheader.h"
#include "escape.h"
#include "ini.h"
#include "kinddef.h"
#include "macro.h"
#include "memory-util.h"
#include "string-util.h"
#include "strv.h"
#include "test-helpers.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_KINDS_MAX 16
#define FUZZ_KEY "k3y-S3CRET"

struct fuzz_state {
	struct kind_def *defs[FUZZ_KINDS_MAX];
	size_t n_defs;
	struct kind_def *cur; /* borrowed: the last of defs, or NULL */
	bool in_endpoint;
	struct authheader headers;
	struct diag_list *diags;
};

static int on_section(void *userdata, const char *file, unsigned line, const char *section)
{
	struct fuzz_state *s = userdata;
	const char *prefix = KINDDEF_SECTION_PREFIX;

	s->cur = NULL;
	s->in_endpoint = streq(section, "Endpoint");
	if (strncmp(section, prefix, strlen(prefix)) != 0 || s->n_defs >= FUZZ_KINDS_MAX) {
		return 0;
	}
	const char *name = section + strlen(prefix);
	if (kinddef_check_name(name, file, line, s->diags) < 0) {
		return 0;
	}
	CHECK(name_is_valid(name));
	s->cur = kinddef_new(name, file, line);
	if (!s->cur) {
		return -ENOMEM;
	}
	s->defs[s->n_defs++] = s->cur;
	return 0;
}

static int on_key(void *userdata, const char *file, unsigned line, const char *section,
		  const char *key, const char *value)
{
	struct fuzz_state *s = userdata;

	if (s->cur) {
		return kinddef_set(s->cur, key, value, file, line, s->diags);
	}
	if (s->in_endpoint && streq(key, "AuthHeader")) {
		return authheader_set_auth(&s->headers, value, file, line, s->diags);
	}
	if (s->in_endpoint && streq(key, "Header")) {
		return authheader_add_extra(&s->headers, value, file, line, s->diags);
	}
	return 0;
}

static const char *lookup(void *userdata, const char *name)
{
	return streq(name, "id") ? "batch_1" : "v.a/l";
}

static void check_valid_kind(const struct kind_def *d)
{
	char path[4 * KINDDEF_PATH_MAX], reason[256];
	char **keys = NULL;

	CHECK(d->status_path && d->has_status);
	CHECK(kinddef_check_template(d->status_path, &keys, reason, sizeof(reason)) == 0);
	CHECK(strv_length(keys) == d->n_keys && d->n_keys <= KINDDEF_KEYS_MAX);
	for (size_t i = 0; i < d->n_keys; i++) {
		CHECK(streq(keys[i], d->keys[i]));
	}
	strv_free(keys);

	/* every placeholder replaced, every value escaped */
	int n = kinddef_status_path(d, lookup, NULL, path, sizeof(path));
	CHECK(n > 0 && (size_t)n == strlen(path));
	CHECK(path[0] == '/' && !strpbrk(path, "{} #\\"));

	CHECK(d->lists[KINDDEF_COMPLETED].n > 0);
	for (int l = 0; l < _KINDDEF_LIST_MAX; l++) {
		static const enum kinddef_class want[_KINDDEF_LIST_MAX] = {
			[KINDDEF_COMPLETED] = KINDDEF_CLASS_COMPLETED,
			[KINDDEF_FAILED] = KINDDEF_CLASS_FAILED,
			[KINDDEF_RUNNING] = KINDDEF_CLASS_RUNNING,
		};
		const struct kinddef_words *w = &d->lists[l];
		CHECK(w->n <= KINDDEF_WORDS_MAX);
		for (size_t i = 0; i < w->n; i++) {
			size_t len = strlen(w->words[i]);
			CHECK(len > 0 && len < KINDDEF_WORD_MAX && !strpbrk(w->words[i], " \t"));
			CHECK(kinddef_classify_word(d, w->words[i]) == want[l]);
		}
	}
	CHECK(d->n_gone <= KINDDEF_GONE_MAX);
	for (size_t i = 0; i < d->n_gone; i++) {
		CHECK(d->gone[i] >= 400 && d->gone[i] <= 599 && kinddef_is_gone(d, d->gone[i]));
	}
}

/* key_in_input: the input itself holds the key text (a Header= may then too) */
static void check_headers(const struct authheader *h, bool key_in_input)
{
	int e;
	char *auth = authheader_build(h, FUZZ_KEY, &e);
	const char *k;
	size_t len;

	CHECK(auth);
	CHECK(!strpbrk(auth, "\r\n"));
	CHECK(strstr(auth, FUZZ_KEY) && authheader_find_key(h, auth, &k, &len));
	CHECK(len == strlen(FUZZ_KEY) && memcmp(k, FUZZ_KEY, len) == 0);
	for (size_t i = 0; i < h->n_extra; i++) {
		CHECK(!strpbrk(h->extra[i], "\r\n"));
		CHECK(key_in_input || !strstr(h->extra[i], FUZZ_KEY));
		CHECK(!strstr(h->extra[i], AUTHHEADER_PLACEHOLDER));
		CHECK(strchr(h->extra[i], ':'));
	}
	erase_and_free(auth);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct diag_list diags = {};
	struct fuzz_state s = { .diags = &diags };
	char *buf, msg[1024];

	/* A copy of exactly size bytes, so that ASan catches over-reads. */
	buf = malloc(size);
	if (!buf && size > 0) {
		return 0;
	}
	if (size > 0) {
		memcpy(buf, data, size);
	}

	if (ini_parse_buffer("fuzz.conf", buf, size, on_section, on_key, &s, &diags) == 0) {
		for (size_t i = 0; i < s.n_defs; i++) {
			struct diag_list mine = {};
			if (kinddef_validate(s.defs[i], &mine) == 0) {
				CHECK(mine.n == 0);
				check_valid_kind(s.defs[i]);
			} else {
				CHECK(diag_has_errors(&mine));
			}
			diag_list_move(&diags, &mine);
		}
		if (authheader_validate(&s.headers, "fuzz.conf", &diags) == 0) {
			check_headers(&s.headers, memmem(data, size, FUZZ_KEY, strlen(FUZZ_KEY)));
		}
	}

	for (size_t i = 0; i < diags.n; i++) {
		(void)diag_format(&diags.items[i], msg, sizeof(msg));
		/* safe for a terminal and MESSAGE=, whatever the input */
		CHECK(escape_is_clean(msg, strlen(msg)));
	}
	for (size_t i = 0; i < s.n_defs; i++) {
		kinddef_free(s.defs[i]);
	}
	authheader_done(&s.headers);
	diag_list_done(&diags);
	free(buf);
	return 0;
}
