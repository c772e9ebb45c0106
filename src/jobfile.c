/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "alloc-util.h"
#include "config.h"
#include "escape.h"
#include "ini.h"
#include "jobfile.h"
#include "string-util.h"
#include "strv.h"
#include "timespan.h"
#include "userkind.h"
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
	free(j->user_kind);
	free(j->user_id);
	free(j->user_text);
	strv_free(j->extra);
	free(j->extra_lines);
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

/* Valid UTF-8 without C0/C1 control characters (so without newlines): the
 * text escape.h leaves as it is. */
static bool text_is_valid(const char *s)
{
	return escape_is_clean(s, strlen(s));
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

/* JobID= is a UUID or, for a user kind, text: judged once Kind= is known
 * (check_job_id()). */
static int parse_job_id(struct job_ctx *ctx, const char *value)
{
	ctx->st->line_field[KIND_FIELD_JOB_ID] = ctx->line;
	return free_and_strdup(&ctx->st->job->user_id, value);
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
	if (k >= 0) {
		return 0;
	}
	if (name_is_valid(value)) {
		/* a [Kind:NAME] of the configuration, or nothing:
		 * jobfile_check_refs() tells */
		ctx->st->kind = KIND_USER;
		return free_and_strdup(&ctx->st->job->user_kind, value);
	}
	char names[KIND_TYPE_NAMES_MAX];
	job_error(
		ctx,
		"Invalid Kind= value '%s', expected one of %s or the name of a [Kind:NAME] section (1 to 64 of A-Z a-z 0-9 _ . -)",
		QUOTE(value), kind_type_names(names));
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

/* Distinct keys of a {Key}'s form kept: a kind uses at most
 * KINDDEF_KEYS_MAX; past this many the others are unknown keys at once
 * (and a file of thousands of them costs no quadratic search). */
#define JOBFILE_EXTRA_MAX (4 * KINDDEF_KEYS_MAX)

/* A key of a {Key}'s form: kept with its line (the last one of a key).
 * Returns 0, 1 when it was not kept (too many), or -ENOMEM. */
static int keep_extra(struct jobfile *j, const char *key, const char *value, unsigned line)
{
	size_t klen = strlen(key);
	char *f = strjoin(key, "=", value);

	if (!f) {
		return -ENOMEM;
	}
	for (size_t i = 0; i < j->n_extra; i++) {
		if (strncmp(j->extra[i], key, klen) == 0 && j->extra[i][klen] == '=') {
			free(j->extra[i]);
			j->extra[i] = f;
			j->extra_lines[i] = line;
			return 0;
		}
	}
	if (j->n_extra >= JOBFILE_EXTRA_MAX) {
		free(f);
		return 1;
	}
	if (!grow_array((void **)&j->extra_lines, &j->extra_lines_allocated,
			sizeof(*j->extra_lines), j->n_extra + 1)) {
		free(f);
		return -ENOMEM;
	}
	j->extra_lines[j->n_extra] = line;
	size_t n = j->n_extra;
	if (strv_push(&j->extra, &n, &j->extra_allocated, f) < 0) {
		free(f);
		return -ENOMEM;
	}
	j->n_extra = n;
	return 0;
}

static void warn_unknown_key(struct diag_list *diags, const char *file, unsigned line,
			     const char *key, size_t klen)
{
	char k[64];

	snprintf(k, sizeof(k), "%.*s", (int)MIN(klen, sizeof(k) - 1), key);
	diag_add(diags, DIAG_WARNING, file, line, "Unknown key '%s' in section [Job], ignoring",
		 QUOTE(k));
}

/* The entries of the ini pass come in line order; those judged once the kind
 * is known (JobID=, the kept keys) join them at their line, as if they had
 * been found there: a stable insertion sort of l's first n entries. */
static void diags_in_line_order(struct diag_list *l, size_t n)
{
	for (size_t i = 1; i < n && i < l->n; i++) {
		struct diag d = l->items[i];
		size_t k = i;
		while (k > 0 && l->items[k - 1].line > d.line) {
			l->items[k] = l->items[k - 1];
			k--;
		}
		l->items[k] = d;
	}
}

/* JobID= by the kind: a UUID, or a user kind's text. */
static void check_job_id(struct jobfile_parser *st, struct diag_list *diags)
{
	struct jobfile *j = st->job;
	unsigned line = st->line_field[KIND_FIELD_JOB_ID];

	if (line == 0) {
		return;
	}
	if (st->kind == KIND_USER) {
		if (!kinddef_value_is_valid(j->user_id)) {
			diag_add(
				diags, DIAG_ERROR, st->file, line,
				"Invalid JobID= value '%s', expected the job's id as the service gives it: 1 to %d bytes without control characters, not '.' or '..'",
				QUOTE(j->user_id), KINDDEF_VALUE_MAX);
		}
		return;
	}
	if (kind_field_parse(KIND_FIELD_JOB_ID, j->user_id, &j->ident) < 0) {
		diag_add(diags, DIAG_ERROR, st->file, line,
			 "Invalid JobID= value '%s', expected %s", QUOTE(j->user_id),
			 kind_field_expected(KIND_FIELD_JOB_ID));
	}
}

/* Every key the kind needs is there, and no key of another kind. */
static void check_kind_fields(struct jobfile_parser *st, struct diag_list *diags)
{
	const struct kind *k = kind_get(st->kind);

	if (st->kind == KIND_USER) {
		/* JobID= and the {Key}s of its section (jobfile_check_refs()) */
		for (int f = 0; f < _KIND_FIELD_MAX; f++) {
			if (f == KIND_FIELD_JOB_ID && st->line_field[f] == 0) {
				diag_add(diags, DIAG_ERROR, st->file, st->line_job,
					 "Missing required key JobID= in [Job] for Kind=%s",
					 st->job->user_kind);
			} else if (f != KIND_FIELD_JOB_ID && st->line_field[f] != 0) {
				diag_add(diags, DIAG_ERROR, st->file, st->line_field[f],
					 "%s= is not a key of Kind=%s", kind_field_key(f),
					 st->job->user_kind);
			}
		}
		return;
	}
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
	if (kinddef_key_is_placeholder(key)) {
		/* a user kind's {Key}, perhaps: Kind= may come later */
		int r = keep_extra(st->job, key, value, line);
		if (r <= 0) {
			return r;
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
	check_job_id(&st, &local);
	if (st.kind != KIND_USER) {
		/* the kept keys of other kinds are what they always were */
		for (size_t i = 0; i < j.n_extra; i++) {
			warn_unknown_key(&local, file, j.extra_lines[i], j.extra[i],
					 strcspn(j.extra[i], "="));
		}
	}
	diags_in_line_order(&local, local.n);
	check_kind_fields(&st, &local);
	if (diag_has_errors(&local)) {
		r = local.oom ? -ENOMEM : -EINVAL;
		goto fail;
	}

	j.ident.kind = (uint8_t)st.kind;
	if (st.kind != KIND_USER) {
		/* parsed into ident; the kept keys were warned about */
		free(j.user_id);
		strv_free(j.extra);
		free(j.extra_lines);
		j.user_id = NULL;
		j.extra = NULL;
		j.extra_lines = NULL;
		j.n_extra = j.extra_allocated = j.extra_lines_allocated = 0;
	}
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

/* The kept keys a kind uses, "Key=value" borrowed from j->extra, in
 * ret[KINDDEF_KEYS_MAX]; errors for a missing or invalid one. */
static int user_fields(const char *file, const struct jobfile *j, const struct kind_def *def,
		       const char *ret[static KINDDEF_KEYS_MAX], size_t *ret_n,
		       struct diag_list *diags)
{
	int r = 0;
	size_t n = 0;

	for (size_t k = 0; k < def->n_keys && k < KINDDEF_KEYS_MAX; k++) {
		const char *key = def->keys[k];
		size_t klen = strlen(key), i;

		for (i = 0; i < j->n_extra; i++) {
			if (strncmp(j->extra[i], key, klen) == 0 && j->extra[i][klen] == '=') {
				break;
			}
		}
		if (i == j->n_extra) {
			diag_add(
				diags, DIAG_ERROR, file, j->line_kind,
				"Missing required key %s= for Kind=%s: the StatusPath= of [Kind:%s] uses {%s}",
				key, def->name, def->name, key);
			r = -EINVAL;
			continue;
		}
		const char *value = j->extra[i] + klen + 1;
		if (!kinddef_value_is_valid(value)) {
			diag_add(
				diags, DIAG_ERROR, file, j->extra_lines[i],
				"Invalid %s= value '%s', expected 1 to %d bytes without control characters, not '.' or '..' (it goes into the status path of Kind=%s)",
				key, QUOTE(value), KINDDEF_VALUE_MAX, def->name);
			r = -EINVAL;
			continue;
		}
		ret[n++] = j->extra[i];
	}
	/* the other kept keys are no business of this kind */
	for (size_t i = 0; i < j->n_extra; i++) {
		size_t klen = strcspn(j->extra[i], "=");
		bool used = false;
		for (size_t k = 0; k < def->n_keys && !used; k++) {
			used = strlen(def->keys[k]) == klen &&
			       strncmp(def->keys[k], j->extra[i], klen) == 0;
		}
		if (!used) {
			warn_unknown_key(diags, file, j->extra_lines[i], j->extra[i], klen);
		}
	}
	*ret_n = n;
	return r;
}

/* A user kind's job against its [Kind:NAME]: ident.user set on success. */
static int check_user_kind(const char *file, struct jobfile *j, const struct config *c,
			   struct diag_list *diags)
{
	const struct kind_def *def = config_find_kind(c, j->user_kind);
	const char *fields[KINDDEF_KEYS_MAX];
	size_t n = 0;
	int r;

	if (!def) {
		char names[KIND_TYPE_NAMES_MAX];
		diag_add(
			diags, DIAG_ERROR, file, j->line_kind,
			"Kind= '%s' is neither a built-in kind (%s) nor a [Kind:%s] section of the configuration",
			j->user_kind, kind_type_names(names), j->user_kind);
		return -EINVAL;
	}
	r = user_fields(file, j, def, fields, &n, diags);
	if (r < 0) {
		return r;
	}
	free(j->user_text);
	j->user_text = NULL;
	j->ident.user = NULL;
	r = userkind_text_new(j->user_kind, j->user_id, fields, n, &j->user_text);
	if (r == -ENOMEM) {
		return r;
	}
	if (r < 0) {
		/* not reached: every part was checked */
		diag_add(diags, DIAG_ERROR, file, j->line_kind, "Invalid job of Kind=%s",
			 j->user_kind);
		return r;
	}

	_cleanup_(freep) char *path = malloc(USERKIND_STATUS_PATH_MAX);
	struct userkind_lookup l = { .text = j->user_text };
	if (!path) {
		return -ENOMEM;
	}
	r = kinddef_status_path(def, userkind_lookup, &l, path, USERKIND_STATUS_PATH_MAX);
	if (r == -ENOBUFS) {
		diag_add(diags, DIAG_ERROR, file, j->line_kind,
			 "The status path of this job is longer than %d bytes (Kind=%s)",
			 USERKIND_STATUS_PATH_MAX - 1, j->user_kind);
		return -EINVAL;
	}
	if (r < 0) {
		/* not reached: every value was checked */
		diag_add(diags, DIAG_ERROR, file, j->line_kind,
			 "The status path of this job cannot be built (Kind=%s)", j->user_kind);
		return -EINVAL;
	}
	j->ident.user = j->user_text;
	return 0;
}

int jobfile_check_refs(const char *file, struct jobfile *j, const struct config *c,
		       struct diag_list *diags)
{
	int r = 0;

	if (j->ident.kind == KIND_USER) {
		r = check_user_kind(file, j, c, diags);
		if (r == -ENOMEM) {
			return r;
		}
	}

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
		if (command_line_problem(j->hook)) {
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

/* A value jobfile_parse_buffer() reads back unchanged (the reader strips
 * blanks around it and joins a line ending in a backslash to the next). */
static bool value_is_writable(const char *s, size_t n)
{
	return n > 0 && s[0] != ' ' && s[0] != '\t' && s[n - 1] != ' ' && s[n - 1] != '\t' &&
	       !ini_line_continues(s, n);
}

/* Kind=NAME, JobID= and each Key=value of a user kind's text. */
static char *format_user(const struct kind_ident *ident, const char *endpoint,
			 const char *description, int *ret_error)
{
	char name[KIND_NAME_MAX], id[KIND_ID_STRING_MAX];
	_cleanup_(freep) char *check = NULL, *keys = NULL;
	const char *fields = userkind_text_fields(ident->user);

	/* the text is well-formed: it builds again from its parts */
	if (!userkind_text_name(ident->user, name) || !userkind_text_id(ident->user, id) ||
	    userkind_text_from_parts(name, id, fields, &check) < 0 || !streq(check, ident->user) ||
	    !value_is_writable(id, strlen(id))) {
		*ret_error = -EINVAL;
		return NULL;
	}
	for (const char *p = fields; *p;) {
		size_t len = strcspn(p, "\n"), klen = strcspn(p, "=");
		if (!value_is_writable(p + klen + 1, len - klen - 1)) {
			*ret_error = -EINVAL;
			return NULL;
		}
		p += len + (p[len] == '\n');
	}
	keys = strjoin("Kind=", name, "\nJobID=", id, "\n", fields, *fields ? "\n" : "");
	if (!keys) {
		*ret_error = -ENOMEM;
		return NULL;
	}
	return format_job(keys, endpoint, description, ret_error);
}

char *jobfile_format_kind(const struct kind_ident *ident, const char *endpoint,
			  const char *description, int *ret_error)
{
	const struct kind *k = kind_get(ident->kind);
	/* JobID= then Action= come first, as in every job file before kinds */
	static const enum kind_field order[] = { KIND_FIELD_JOB_ID, KIND_FIELD_ACTION,
						 KIND_FIELD_DATASET, KIND_FIELD_BATCH };
	char keys[4 * KIND_ID_STRING_MAX] = "";
	int dummy;

	if (!ret_error) {
		ret_error = &dummy;
	}
	if (ident->kind == KIND_USER && ident->user) {
		return format_user(ident, endpoint, description, ret_error);
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
