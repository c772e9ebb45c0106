/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "escape.h"
#include "ini.h"
#include "jobfile.h"
#include "string-util.h"
#include "strv.h"
#include "timespan.h"
#include "uuid-util.h"

#define UUID_EXAMPLE "3c90c3cc-0d44-4b50-8888-8dd25736052a"

void jobfile_done(struct jobfile *j)
{
	if (!j) {
		return;
	}
	free(j->endpoint);
	free(j->description);
	free(j->hook);
	*j = (struct jobfile){};
}

bool jobfile_name_is_valid(const char *name)
{
	size_t n, k = strlen(JOBFILE_SUFFIX);

	if (!name || name[0] == '.') {
		return false;
	}
	n = strlen(name);
	return n > k && streq(name + n - k, JOBFILE_SUFFIX);
}

/* Length of the UTF-8 sequence at s (at most n bytes), 0 if invalid. */
static size_t utf8_char(const unsigned char *s, size_t n, uint32_t *ret)
{
	uint32_t c;
	size_t len;

	if (s[0] < 0x80) {
		*ret = s[0];
		return 1;
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2;
		c = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		c = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		c = s[0] & 0x07;
	} else {
		return 0;
	}
	if (len > n) {
		return 0;
	}
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80) {
			return 0;
		}
		c = c << 6 | (s[i] & 0x3f);
	}
	/* Overlong forms, surrogates and beyond U+10FFFF. */
	if ((len == 3 && c < 0x800) || (len == 4 && c < 0x10000) || c > 0x10ffff ||
	    (c >= 0xd800 && c <= 0xdfff)) {
		return 0;
	}
	*ret = c;
	return len;
}

/* Valid UTF-8 without C0/C1 control characters (so without newlines). */
static bool text_is_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s);

	while (n > 0) {
		uint32_t c;
		size_t k = utf8_char(p, n, &c);

		if (k == 0 || c < 0x20 || (c >= 0x7f && c < 0xa0)) {
			return false;
		}
		p += k;
		n -= k;
	}
	return true;
}

struct jobfile_parser {
	const char *file;
	struct jobfile *job;
	struct diag_list *diags;
	bool in_job; /* inside a [Job] section */
	unsigned line_job; /* line of the first [Job] header, 0 if none */
	unsigned line_field[_KIND_FIELD_MAX]; /* line of each kind key, 0 when absent */
	int kind; /* enum kind_type, or -EINVAL after an invalid Kind= */
};

/* Where an assignment is, for the item parsers' messages. */
struct job_ctx {
	struct jobfile_parser *st;
	unsigned line;
	const char *key;
};

#define job_error(ctx, ...)                                                                        \
	diag_add((ctx)->st->diags, DIAG_ERROR, (ctx)->st->file, (ctx)->line, __VA_ARGS__)

/* JobID=, Action=, Dataset=, Batch=: which of them a job needs depends on its
 * Kind=, which may come later; that is checked once the file is read. */
static int parse_field(struct job_ctx *ctx, enum kind_field f, const char *value)
{
	/* Present, even if invalid: no "missing" error on top. */
	ctx->st->line_field[f] = ctx->line;
	if (kind_field_parse(f, value, &ctx->st->job->ident) < 0) {
		job_error(ctx, "Invalid %s= value '%s', expected %s", kind_field_key(f),
			  QUOTE(value), kind_field_expected(f));
	}
	return 0;
}

static int parse_job_id(struct job_ctx *ctx, const char *value)
{
	return parse_field(ctx, KIND_FIELD_JOB_ID, value);
}

static int parse_action(struct job_ctx *ctx, const char *value)
{
	return parse_field(ctx, KIND_FIELD_ACTION, value);
}

static int parse_dataset(struct job_ctx *ctx, const char *value)
{
	return parse_field(ctx, KIND_FIELD_DATASET, value);
}

static int parse_batch(struct job_ctx *ctx, const char *value)
{
	return parse_field(ctx, KIND_FIELD_BATCH, value);
}

static int parse_kind(struct job_ctx *ctx, const char *value)
{
	int k = kind_type_from_string(value);

	ctx->st->job->line_kind = ctx->line;
	ctx->st->kind = k;
	if (k < 0) {
		char names[128] = "";
		for (int t = 0; t < _KIND_TYPE_MAX; t++) {
			size_t n = strlen(names);
			snprintf(names + n, sizeof(names) - n, "%s'%s'", t > 0 ? ", " : "",
				 kind_type_to_string(t));
		}
		job_error(ctx, "Invalid Kind= value '%s', expected one of %s", QUOTE(value), names);
	}
	return 0;
}

static int parse_endpoint(struct job_ctx *ctx, const char *value)
{
	struct jobfile *j = ctx->st->job;

	/* "default" names the unnamed [Endpoint]: store it as NULL so that both
	 * spellings give the same job identity. */
	if (isempty(value) || streq(value, ENDPOINT_DEFAULT_NAME)) {
		j->line_endpoint = ctx->line;
		return free_and_strdup(&j->endpoint, NULL);
	}
	if (!name_is_valid(value)) {
		job_error(
			ctx,
			"Invalid Endpoint= value '%s', expected an endpoint name of 1-64 characters from A-Z a-z 0-9 _ . -",
			QUOTE(value));
		return 0;
	}
	j->line_endpoint = ctx->line;
	return free_and_strdup(&j->endpoint, value);
}

static int parse_description(struct job_ctx *ctx, const char *value)
{
	if (strlen(value) > JOBFILE_DESCRIPTION_MAX) {
		job_error(ctx, "Description= is too long (%zu bytes), expected at most %d bytes",
			  strlen(value), JOBFILE_DESCRIPTION_MAX);
		return 0;
	}
	if (!text_is_valid(value)) {
		job_error(
			ctx,
			"Invalid Description= value, expected UTF-8 text without control characters");
		return 0;
	}
	return free_and_strdup(&ctx->st->job->description, isempty(value) ? NULL : value);
}

static int parse_hook(struct job_ctx *ctx, const char *value)
{
	_cleanup_(strv_freep) char **argv = NULL;
	int r;

	/* Empty is kept as "": it disables the [Hook] Exec= for this job. */
	if (!isempty(value)) {
		r = split_words(value, &argv);
		if (r == -ENOMEM) {
			return r;
		}
		if (r < 0) {
			job_error(
				ctx,
				"Invalid Hook= value '%s': unbalanced quotes or an invalid escape",
				QUOTE(value));
			return 0;
		}
	}
	ctx->st->job->line_hook = ctx->line;
	return free_and_strdup(&ctx->st->job->hook, value);
}

static int parse_timeout(struct job_ctx *ctx, const char *value)
{
	usec_t t;

	if (timespan_parse(value, &t) < 0 || t == 0 || t == USEC_INFINITY) {
		job_error(
			ctx,
			"Invalid Timeout= value '%s', expected a finite time span above 0 such as '30min' or '2h'",
			QUOTE(value));
		return 0;
	}
	ctx->st->job->has_timeout = true;
	ctx->st->job->timeout_usec = t;
	return 0;
}

static int parse_stall_after(struct job_ctx *ctx, const char *value)
{
	usec_t t;

	if (timespan_parse(value, &t) < 0 || t == 0) {
		job_error(
			ctx,
			"Invalid StallAfter= value '%s', expected a time span above 0 such as '30min' or '2h', or 'infinity'",
			QUOTE(value));
		return 0;
	}
	ctx->st->job->has_stall_after = true;
	ctx->st->job->stall_after_usec = t;
	return 0;
}

struct job_item {
	const char *key;
	int (*parse)(struct job_ctx *ctx, const char *value);
};

/* Every key of [Job]. A key given twice: the later one wins, as in systemd. */
static const struct job_item job_items[] = {
	{ "JobID", parse_job_id },	{ "Action", parse_action },
	{ "Endpoint", parse_endpoint }, { "Description", parse_description },
	{ "Hook", parse_hook },		{ "Timeout", parse_timeout },
	{ "Kind", parse_kind },		{ "Dataset", parse_dataset },
	{ "Batch", parse_batch },	{ "StallAfter", parse_stall_after },
};

/* Every key the kind needs is there, and no key of another kind. */
static void check_kind_fields(struct jobfile_parser *st, struct diag_list *diags)
{
	const struct kind *k = kind_get(st->kind);

	if (!k) {
		return; /* an invalid Kind= was reported; its keys cannot be judged */
	}
	/* annotation-reply's messages are the ones of every job file before kinds */
	bool dflt = st->kind == KIND_ANNOTATION_REPLY;
	for (int f = 0; f < _KIND_FIELD_MAX; f++) {
		bool needed = k->fields & KIND_FIELD_BIT(f);
		if (needed && st->line_field[f] == 0) {
			diag_add(diags, DIAG_ERROR, st->file, st->line_job,
				 "Missing required key %s= in [Job]%s%s", kind_field_key(f),
				 dflt ? "" : " for Kind=", dflt ? "" : k->name);
		} else if (!needed && st->line_field[f] != 0) {
			diag_add(diags, DIAG_ERROR, st->file, st->line_field[f],
				 "%s= is not a key of Kind=%s%s", kind_field_key(f), k->name,
				 dflt && !st->job->line_kind ? " (the default kind)" : "");
		}
	}
}

static int on_job_section(void *userdata, const char *file, unsigned line, const char *section)
{
	struct jobfile_parser *st = userdata;

	st->in_job = streq(section, "Job");
	if (!st->in_job) {
		diag_add(st->diags, DIAG_WARNING, file, line, "Unknown section [%s], ignoring",
			 QUOTE(section));
	} else if (st->line_job == 0) {
		st->line_job = line;
	}
	return 0;
}

static int on_job_key(void *userdata, const char *file, unsigned line, const char *section,
		      const char *key, const char *value)
{
	struct jobfile_parser *st = userdata;
	struct job_ctx ctx = { .st = st, .line = line, .key = key };

	if (!st->in_job) {
		return 0; /* reported once at the section header */
	}
	for (size_t i = 0; i < ELEMENTSOF(job_items); i++) {
		if (streq(job_items[i].key, key)) {
			return job_items[i].parse(&ctx, value);
		}
	}
	diag_add(st->diags, DIAG_WARNING, file, line, "Unknown key '%s' in section [%s], ignoring",
		 QUOTE(key), QUOTE(section));
	return 0;
}

int jobfile_parse_buffer(const char *file, const char *buf, size_t len, struct jobfile *ret,
			 struct diag_list *diags)
{
	/* A list of our own, to count this file's errors even when the caller
	 * passes no list. */
	struct diag_list local = {};
	struct jobfile j = {};
	struct jobfile_parser st = {
		.file = file, .job = &j, .diags = &local, .kind = KIND_ANNOTATION_REPLY
	};
	int r;

	*ret = (struct jobfile){};

	r = ini_parse_buffer(file, buf, len, on_job_section, on_job_key, &st, &local);
	if (r == -ENOMEM || local.oom) {
		r = -ENOMEM;
		goto fail;
	}

	/* A binary file was refused whole: its keys are not "missing". */
	if (r == -EBADMSG) {
		r = -EINVAL;
		goto fail;
	}
	check_kind_fields(&st, &local);
	if (diag_has_errors(&local)) {
		r = local.oom ? -ENOMEM : -EINVAL;
		goto fail;
	}

	j.ident.kind = (uint8_t)st.kind;
	memcpy(j.id, j.ident.id, sizeof(j.id));
	j.action = (enum job_action)j.ident.action;
	diag_list_move(diags, &local);
	*ret = j;
	return 0;

fail:
	diag_list_move(diags, &local);
	jobfile_done(&j);
	return r;
}

int jobfile_check_refs(const char *file, const struct jobfile *j, const struct config *c,
		       struct diag_list *diags)
{
	_cleanup_(strv_freep) char **argv = NULL;
	int r = 0;

	if (!config_find_endpoint(c, j->endpoint)) {
		if (j->endpoint) {
			diag_add(
				diags, DIAG_ERROR, file, j->line_endpoint,
				"Endpoint= '%s' does not name an [Endpoint:%s] section of the configuration",
				j->endpoint, j->endpoint);
		} else {
			diag_add(
				diags, DIAG_ERROR, file, j->line_endpoint,
				"No Endpoint= is set and the configuration has no default [Endpoint]");
		}
		r = -EINVAL;
	}

	if (!isempty(j->hook) && !c->allow_job_hooks) {
		/* Whoever may write a job file would run code as the service. */
		diag_add(
			diags, DIAG_ERROR, file, j->line_hook,
			"Hook= is not allowed in job files: the configuration does not set [Hook] AllowJobHooks=yes (an empty Hook= to disable the hook is always allowed)");
		r = -EINVAL;
	} else if (!isempty(j->hook)) {
		if (split_words(j->hook, &argv) < 0 || !argv[0] || argv[0][0] != '/') {
			diag_add(diags, DIAG_ERROR, file, j->line_hook,
				 "Invalid Hook= value '%s', expected an absolute path first",
				 QUOTE(j->hook));
			r = -EINVAL;
		}
	}
	return r;
}

int jobfile_load(int dirfd, const char *name, const char *path, struct jobfile *ret,
		 struct diag_list *diags)
{
	_cleanup_(freep) char *buf = NULL;
	size_t len;
	int r;

	*ret = (struct jobfile){};

	/* No symlinks: a job file must not make us read what it points to. */
	r = ini_read_file(dirfd, name, path, true, true, &buf, &len, diags);
	if (r < 0) {
		return r;
	}
	return jobfile_parse_buffer(path, buf, len, ret, diags);
}

/* What jobfile_parse_buffer() would read back unchanged. */
static bool description_is_writable(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n <= JOBFILE_DESCRIPTION_MAX && text_is_valid(s) && s[0] != ' ' &&
	       s[n - 1] != ' ' && !ini_line_continues(s, n);
}

/* "[Job]\n" + keys (each line ending in "\n") + Endpoint= and Description=. */
static char *format_job(const char *keys, const char *endpoint, const char *description,
			int *ret_error)
{
	char *s;

	*ret_error = 0;
	if (isempty(endpoint)) {
		endpoint = NULL;
	}
	if (isempty(description)) {
		description = NULL;
	}
	if ((endpoint && !name_is_valid(endpoint)) ||
	    (description && !description_is_writable(description))) {
		*ret_error = -EINVAL;
		return NULL;
	}
	s = strjoin("[Job]\n", keys, endpoint ? "Endpoint=" : "", strempty(endpoint),
		    endpoint ? "\n" : "", description ? "Description=" : "", strempty(description),
		    description ? "\n" : "");
	if (!s) {
		*ret_error = -ENOMEM;
	}
	return s;
}

char *jobfile_format(const uint8_t id[static 16], enum job_action action, const char *endpoint,
		     const char *description, int *ret_error)
{
	struct kind_ident ident = { .kind = KIND_ANNOTATION_REPLY, .action = (uint8_t)action };

	if ((unsigned)action >= _JOB_ACTION_MAX) {
		if (ret_error) {
			*ret_error = -EINVAL;
		}
		return NULL;
	}
	memcpy(ident.id, id, sizeof(ident.id));
	return jobfile_format_kind(&ident, endpoint, description, ret_error);
}

char *jobfile_format_kind(const struct kind_ident *ident, const char *endpoint,
			  const char *description, int *ret_error)
{
	const struct kind *k = kind_get(ident->kind);
	/* JobID= then Action= come first, as in every job file before kinds */
	static const enum kind_field order[] = { KIND_FIELD_JOB_ID, KIND_FIELD_ACTION,
						 KIND_FIELD_DATASET, KIND_FIELD_BATCH };
	char keys[256] = "";
	int dummy;

	if (!ret_error) {
		ret_error = &dummy;
	}
	if (!k) {
		*ret_error = -EINVAL;
		return NULL;
	}
	/* annotation-reply, the default, is written without Kind= */
	if (ident->kind != KIND_ANNOTATION_REPLY) {
		snprintf(keys, sizeof(keys), "Kind=%s\n", k->name);
	}
	for (size_t i = 0; i < ELEMENTSOF(order); i++) {
		char buf[KIND_ID_STRING_MAX];
		size_t n = strlen(keys);

		if (!(k->fields & KIND_FIELD_BIT(order[i]))) {
			continue;
		}
		if (!kind_field_to_string(ident, order[i], buf)) {
			*ret_error = -EINVAL;
			return NULL;
		}
		snprintf(keys + n, sizeof(keys) - n, "%s=%s\n", kind_field_key(order[i]), buf);
	}
	return format_job(keys, endpoint, description, ret_error);
}
