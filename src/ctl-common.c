/* SPDX-License-Identifier: MIT */
/*
 * jobwatchctl's shared parts: messages, the configuration, argument checks,
 * a quiet look at the state file, and the formatting of a state row.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config-load.h"
#include "ctl.h"
#include "diag.h"
#include "escape.h"
#include "jobfile.h"
#include "kinddef.h"
#include "log.h"
#include "paths.h"
#include "timespan.h"
#include "string-util.h"
#include "uuid-util.h"

/* --- messages --- */

int ctl_fail(int error, const char *fmt, ...)
{
	char msg[4096], safe[4096];
	va_list ap;

	assert(error < 0);
	/* messages quote file names and servers' text: escaped (escape.h) */
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "jobwatchctl: %s\n", escape_text_buf(safe, sizeof(safe), msg, strlen(msg)));
	return error;
}

enum ctl_exit ctl_usage_error(const char *verb, const char *fmt, ...)
{
	va_list ap;

	fputs("jobwatchctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'jobwatchctl%s%s --help'.\n", verb ? " " : "", strempty(verb));
	return CTL_EXIT_USAGE;
}

char *ctl_snippet(char *buf, size_t size, const char *s, size_t len)
{
	size_t n;

	assert(size > 4);
	len = strnlen(s, len);
	while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\n' || s[len - 1] == '\r')) {
		len--;
	}
	escape_text_buf(buf, size, s, len);
	n = strlen(buf);
	while (n > 0 && buf[n - 1] == ' ') {
		n--;
	}
	buf[n] = '\0';
	return buf;
}

/* --- config --- */

int ctl_load_config(bool warnings, struct config **ret)
{
	_cleanup_(diag_list_donep) struct diag_list diags = { 0 };
	_cleanup_(config_freep) struct config *c = NULL;
	const char *path = paths_config_file(arg_config);
	int r;

	r = config_load_arg(arg_config, &c, &diags);
	diag_list_print(&diags, stderr, "jobwatchctl: ", warnings, NULL, NULL);
	if (r < 0 && !c) {
		return ctl_fail(r, "cannot load the configuration '%s': %s", path, strerror(-r));
	}
	if (r < 0) {
		return ctl_fail(
			-EINVAL,
			"the configuration '%s' has errors: fix them (see jobwatchd --check) and try again",
			path);
	}
	*ret = TAKE_PTR(c);
	return 0;
}

const char *ctl_jobs_dir(const struct config *c)
{
	assert(c);
	return arg_jobs_dir ? arg_jobs_dir : c->jobs_dir;
}

const struct endpoint_config *ctl_find_endpoint(const struct config *c, const char *name)
{
	const struct endpoint_config *e;
	char list[1024];
	size_t n = 0;

	assert(c);
	if (name && streq(name, ENDPOINT_DEFAULT_NAME)) {
		name = NULL;
	}
	e = config_find_endpoint(c, name);
	if (e) {
		return e;
	}
	list[0] = '\0';
	for (size_t i = 0; i < c->n_endpoints && n < sizeof(list); i++) {
		int k = snprintf(list + n, sizeof(list) - n, "%s'%s'", i ? ", " : "",
				 c->endpoints[i].name);
		if (k < 0) {
			break;
		}
		n += (size_t)k;
	}
	if (c->n_endpoints == 0) {
		ctl_fail(
			-EINVAL,
			"no endpoint is configured in '%s'%s: add an [Endpoint] section with BaseURL= and APIKeyFile=, or name the config with --config",
			paths_config_file(arg_config),
			arg_config || access(paths_config_file(arg_config), F_OK) == 0
				? ""
				: " (the file does not exist)");
	} else if (!name) {
		ctl_fail(
			-EINVAL,
			"'%s' has no default [Endpoint]: name one with --endpoint (configured: %s)",
			paths_config_file(arg_config), list);
	} else {
		ctl_fail(
			-EINVAL,
			"endpoint '%s' is not configured in '%s': add an [Endpoint:%s] section, or use one of %s",
			name, paths_config_file(arg_config), name, list);
	}
	return NULL;
}

int ctl_parse_action(const char *s, enum job_action *ret)
{
	int a = job_action_from_string(s);
	if (a < 0) {
		return ctl_fail(-EINVAL, "invalid action '%s', expected 'enable' or 'disable'", s);
	}
	*ret = (enum job_action)a;
	return 0;
}

int ctl_parse_wait_id(const char *s, char buf[static KIND_ID_STRING_MAX])
{
	struct kind_ident ident = { 0 };

	if (kind_field_parse(KIND_FIELD_JOB_ID, s, &ident) >= 0) {
		uuid_to_string(ident.id, buf);
		return 0;
	}
	/* a batch, or a user kind's JobID= text: JOB_ID has it as it is */
	if (kind_field_parse(KIND_FIELD_BATCH, s, &ident) >= 0 || kinddef_value_is_valid(s)) {
		snprintf(buf, KIND_ID_STRING_MAX, "%s", s);
		return 0;
	}
	return ctl_fail(
		-EINVAL,
		"invalid job id '%s', expected a UUID like 3c90c3cc-0d44-4b50-8888-8dd25736052a (an annotation job, a workflow run), a document-indexing batch of 20 digits like " KIND_BATCH_EXAMPLE
		" or the ID of a job of a [Kind:NAME] (1-%d bytes without control characters, not '.' or '..')",
		s, KINDDEF_VALUE_MAX);
}

/* add's positional arguments: the order in which a kind's fields are given
 * on the command line (the action first, as "add ACTION JOB_ID" always had
 * it; the dataset before its batch). */
static const enum kind_field arg_order[] = {
	KIND_FIELD_ACTION,
	KIND_FIELD_DATASET,
	KIND_FIELD_JOB_ID,
	KIND_FIELD_BATCH,
};
_Static_assert(ELEMENTSOF(arg_order) == _KIND_FIELD_MAX, "every field has a place");

size_t ctl_kind_args(enum kind_type t, enum kind_field ret[static _KIND_FIELD_MAX])
{
	const struct kind *k = kind_get(t);
	size_t n = 0;

	for (size_t i = 0; k && i < ELEMENTSOF(arg_order); i++) {
		if (k->fields & KIND_FIELD_BIT(arg_order[i])) {
			ret[n++] = arg_order[i];
		}
	}
	return n;
}

/* The argument's name in usage texts, and in messages about its value. */
static const char *arg_name(enum kind_type t, enum kind_field f, bool upper)
{
	switch (f) {
	case KIND_FIELD_ACTION:
		return upper ? "ACTION" : "action";
	case KIND_FIELD_DATASET:
		return upper ? "DATASET" : "dataset id";
	case KIND_FIELD_BATCH:
		return upper ? "BATCH" : "batch id";
	case KIND_FIELD_JOB_ID:
	default:
		if (t == KIND_WORKFLOW_RUN) {
			return upper ? "RUN_ID" : "run id";
		}
		return upper ? "JOB_ID" : "job id";
	}
}

char *ctl_kind_args_usage(enum kind_type t, const char *sep, char *buf, size_t size)
{
	enum kind_field f[_KIND_FIELD_MAX];
	size_t n = ctl_kind_args(t, f), len = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n && len < size; i++) {
		int k = snprintf(buf + len, size - len, "%s%s", i == 0 ? "" : sep,
				 arg_name(t, f[i], true));
		if (k < 0) {
			break;
		}
		len += (size_t)k;
	}
	return buf;
}

int ctl_parse_ident(enum kind_type t, char *const *args, size_t n, bool hint_kind,
		    struct kind_ident *ret)
{
	enum kind_field f[_KIND_FIELD_MAX];
	struct kind_ident ident = { .kind = (uint8_t)t };

	if (n != ctl_kind_args(t, f)) {
		return -ERANGE;
	}
	for (size_t i = 0; i < n; i++) {
		if (kind_field_parse(f[i], args[i], &ident) < 0) {
			return ctl_fail(
				-EINVAL, "invalid %s '%s', expected %s%s", arg_name(t, f[i], false),
				args[i], kind_field_expected(f[i]),
				hint_kind
					? " (for another kind of job, name the kind with --kind; see 'jobwatchctl add --help')"
					: "");
		}
	}
	*ret = ident;
	return 0;
}

/* --description, checked before anything else with a message that says why. */
int ctl_check_description(const char *s)
{
	if (!s) {
		return 0;
	}
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p < 0x20 || *p == 0x7f) {
			return ctl_fail(
				-EINVAL,
				"the description contains a newline or another control character: give it as one line of text");
		}
	}
	if (strlen(s) > JOBFILE_DESCRIPTION_MAX) {
		return ctl_fail(-EINVAL,
				"the description is too long (%zu bytes), at most %d are allowed",
				strlen(s), JOBFILE_DESCRIPTION_MAX);
	}
	return 0;
}

int ctl_state_peek(const char *dir, struct state_reader **ret)
{
	int level = log_get_max_level(), r;

	/* not the command's business: a busy or odd state file is not reported */
	log_set_max_level(LOG_CRIT);
	r = state_reader_open(dir, ret);
	log_set_max_level(level);
	return r;
}

/* --- state rows --- */

const char *ctl_row_state(const struct state_row *row)
{
	if (row->outcome) {
		return row->outcome;
	}
	/* the server's own word (verbatim), which the kinds share; the
	 * annotation-reply status jobwatch classified, from a daemon before */
	if (!isempty(row->remote_status)) {
		return row->remote_status;
	}
	return row->last_status ? row->last_status : "pending";
}

bool ctl_row_is_user_kind(const struct state_row *row)
{
	return !isempty(row->kind) && kind_type_from_string(row->kind) < 0;
}

const char *ctl_row_kind(const struct state_row *row)
{
	return isempty(row->kind) ? kind_type_to_string(KIND_ANNOTATION_REPLY) : row->kind;
}

char *ctl_format_age(char *buf, size_t size, usec_t t)
{
	t -= t % USEC_PER_SEC;
	if (t == 0) {
		snprintf(buf, size, "0s");
		return buf;
	}
	return timespan_format(buf, size, t);
}
