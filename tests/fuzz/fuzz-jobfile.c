/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc-util.h"
#include "config.h"
#include "escape.h"
#include "ini.h"
#include "kind.h"
#include "jobfile.h"
#include "kinddef.h"
#include "string-util.h"
#include "test-helpers.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A fixed config for jobfile_check_refs(), built in memory; it allows job-file
 * Hook= so that the checks of its value are reached. */
static const char config_text[] = "[Endpoint]\n"
				  "BaseURL=https://api.dify.ai/v1\n"
				  "APIKeyFile=/etc/jobwatch/api-key\n"
				  "[Endpoint:support-bot]\n"
				  "BaseURL=https://dify.example.com/v1\n"
				  "APIKeyCredential=support-bot\n"
				  "[Hook]\n"
				  "AllowJobHooks=yes\n";

/* A [Kind:NAME] of the fixed config, added as config.c does (a Kind= of
 * "fuzz-kind" in the input reaches it). */
static const char *const kind_lines[][2] = {
	{ "StatusPath", "/projects/{Project}/things/{id}?q={Queue}" },
	{ "StatusField", "/status" },
	{ "Completed", "done" },
};

static void add_kind(struct config *c)
{
	struct kind_def *def = kinddef_new("fuzz-kind", "fuzz.conf", 1);

	if (!def) {
		return;
	}
	for (size_t i = 0; i < ELEMENTSOF(kind_lines); i++) {
		CHECK(kinddef_set(def, kind_lines[i][0], kind_lines[i][1], "fuzz.conf", 2, NULL) ==
		      0);
	}
	CHECK(kinddef_validate(def, NULL) == 0);
	if (!grow_array((void **)&c->kinds, &c->kinds_allocated, sizeof(*c->kinds),
			c->n_kinds + 1)) {
		kinddef_free(def);
		return;
	}
	c->kinds[c->n_kinds++] = def;
}

/* What jobfile_format() writes must read back as the same job (a user
 * kind's once resolved against c). refs is j's jobfile_check_refs(): a job
 * that passed it must pass it again; one that failed may or may not (the
 * writer leaves out Hook=, so a bad Hook= is gone, a missing endpoint not). */
static void check_round_trip(const struct jobfile *j, struct config *c, int refs)
{
	struct jobfile back = {};
	char *text;
	int error = 0;

	text = jobfile_format_kind(&j->ident, j->endpoint, j->description, &error);
	if (!text) {
		/* A value read across a continuation line can end in a backslash,
		 * which no single line holds: the writer refuses it (jobwatchctl add
		 * says so) rather than write a file that reads back otherwise. */
		CHECK(error == -ENOMEM ||
		      (error == -EINVAL && j->description &&
		       ini_line_continues(j->description, strlen(j->description))));
		return;
	}
	CHECK(error == 0);
	if (jobfile_parse_buffer("fuzz.job", text, strlen(text), &back, NULL) == 0) {
		if (back.ident.kind == KIND_USER) {
			int back_refs = jobfile_check_refs("fuzz.job", &back, c, NULL);
			CHECK(refs != 0 || back_refs == 0);
		}
		CHECK(kind_ident_equal(&back.ident, &j->ident) || back.ident.user == NULL);
		CHECK(memcmp(back.id, j->id, sizeof(j->id)) == 0);
		CHECK(back.action == j->action);
		CHECK(streq_ptr(back.endpoint, j->endpoint));
		CHECK(streq_ptr(back.description, j->description));
		jobfile_done(&back);
	}
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct diag_list diags = {};
	struct jobfile j = {};
	struct config *c;
	char *buf, msg[512];
	int r;

	/* A copy of exactly size bytes, so that ASan catches over-reads. */
	buf = malloc(size);
	if (!buf && size > 0) {
		return 0;
	}
	if (size > 0) {
		memcpy(buf, data, size);
	}

	r = jobfile_parse_buffer("fuzz.job", buf, size, &j, &diags);
	CHECK(r == 0 || r == -EINVAL || r == -ENOMEM);
	CHECK((r == -EINVAL) == diag_has_errors(&diags) || r == -ENOMEM);
	if (r == 0) {
		/* a parsed job is a valid job of its kind: its path can be built
		 * (a user kind's once its section is known) */
		char path[256];
		CHECK(j.ident.kind == KIND_USER ||
		      kind_status_path(&j.ident, path, sizeof(path)) > 0);
		CHECK(j.ident.kind != KIND_USER ||
		      (name_is_valid(j.user_kind) && kinddef_value_is_valid(j.user_id)));
		CHECK(memcmp(j.ident.id, j.id, sizeof(j.id)) == 0);
		CHECK(j.ident.kind != KIND_ANNOTATION_REPLY || j.action == j.ident.action);
		CHECK(!j.description || strlen(j.description) <= JOBFILE_DESCRIPTION_MAX);
		CHECK(!j.has_timeout || j.timeout_usec > 0);

		c = config_new();
		if (c && config_parse_buffer(c, "fuzz.conf", config_text, sizeof(config_text) - 1,
					     NULL) == 0) {
			add_kind(c);
			r = jobfile_check_refs("fuzz.job", &j, c, &diags);
			CHECK(r == 0 || r == -EINVAL || r == -ENOMEM);
			/* a resolved user kind has its identity text */
			CHECK(j.ident.kind != KIND_USER || (j.ident.user != NULL) == (r == 0) ||
			      (r == -EINVAL && j.ident.user != NULL));
			if (j.ident.kind != KIND_USER || j.ident.user) {
				check_round_trip(&j, c, r);
			}
		}
		config_free(c);
		jobfile_done(&j);
	}

	for (size_t i = 0; i < diags.n; i++) {
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
