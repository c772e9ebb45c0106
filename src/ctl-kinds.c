/* SPDX-License-Identifier: MIT */
/*
 * jobwatchctl and the kinds of the configuration ([Kind:NAME], kinddef.h,
 * userkind.h): add --kind NAME's checks and identity, the safe name of its
 * job file, and a job's fields as the list shows them.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ctl.h"
#include "hashmap.h"
#include "kinddef.h"
#include "paths.h"
#include "string-util.h"
#include "userkind.h"

bool ctl_kind_name_is_valid(const char *s)
{
	return kind_type_from_string(s) >= 0 || name_is_valid(s);
}

int ctl_find_user_kind(const struct config *c, const char *name, const struct kind_def **ret)
{
	const struct kind_def *def = config_find_kind(c, name);
	char builtin[KIND_TYPE_NAMES_MAX], configured[1024];
	size_t n = 0;

	if (def) {
		*ret = def;
		return 0;
	}
	configured[0] = '\0';
	kind_type_names(builtin);
	for (size_t i = 0; i < c->n_kinds && n < sizeof(configured); i++) {
		int k = snprintf(configured + n, sizeof(configured) - n, "%s%s", i ? ", " : "",
				 c->kinds[i]->name);
		if (k < 0) {
			break;
		}
		n += (size_t)k;
	}
	ctl_usage_error(
		"add",
		"unknown kind '%s', expected a built-in kind (%s) or a [Kind:NAME] of '%s' (%s%s)",
		name, builtin, paths_config_file(arg_config),
		c->n_kinds > 0 ? "configured: " : "none is configured", configured);
	return -ENOENT;
}

/* The key of a --field "Key=value" into key; NULL when it has no '=' or the
 * key does not fit (ctl_parse_argv() checked the form). */
static const char *field_key(const char *field, char key[static KINDDEF_KEY_MAX + 1])
{
	const char *eq = strchr(field, '=');

	if (!eq || (size_t)(eq - field) > KINDDEF_KEY_MAX) {
		return NULL;
	}
	memcpy(key, field, (size_t)(eq - field));
	key[eq - field] = '\0';
	return key;
}

bool ctl_field_is_valid(const char *s)
{
	char key[KINDDEF_KEY_MAX + 1];

	return field_key(s, key) && kinddef_key_is_placeholder(key);
}

/* def's {Key}s as "{A}, {B}" for messages; "" when it has none. */
static char *kind_keys(const struct kind_def *def, char *buf, size_t size)
{
	size_t len = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < def->n_keys && len < size; i++) {
		int k = snprintf(buf + len, size - len, "%s{%s}", i ? ", " : "", def->keys[i]);
		if (k < 0) {
			break;
		}
		len += (size_t)k;
	}
	return buf;
}

/* Long (about 70 lines): each mistake has its own message, naming the kind
 * and what it takes. */
int ctl_parse_user_ident(const struct kind_def *def, const char *id, const char *const *fields,
			 size_t n, char **ret_text)
{
	char key[KINDDEF_KEY_MAX + 1], keys[512], missing[512];
	size_t len = 0;
	int r;

	/* the keys first: a wrong command line is a usage error, whatever
	 * its values */
	for (size_t i = 0; i < n; i++) {
		bool known = false;

		if (!field_key(fields[i], key)) {
			ctl_usage_error("add", "invalid --field '%s', expected KEY=VALUE",
					fields[i]);
			return -ERANGE;
		}
		for (size_t k = 0; k < def->n_keys && !known; k++) {
			known = streq(def->keys[k], key);
		}
		if (!known) {
			ctl_usage_error(
				"add",
				"the kind '%s' does not use --field %s: its StatusPath= '%s' has %s%s besides {id} (the job's ID)",
				def->name, key, strempty(def->status_path),
				def->n_keys > 0 ? "the placeholders " : "no placeholder",
				kind_keys(def, keys, sizeof(keys)));
			return -ERANGE;
		}
		for (size_t m = 0; m < i; m++) {
			char other[KINDDEF_KEY_MAX + 1];
			if (streq_ptr(field_key(fields[m], other), key)) {
				ctl_usage_error("add", "--field %s is given twice", key);
				return -ERANGE;
			}
		}
	}
	missing[0] = '\0';
	for (size_t k = 0; k < def->n_keys; k++) {
		bool given = false;
		for (size_t i = 0; i < n && !given; i++) {
			given = streq_ptr(field_key(fields[i], key), def->keys[k]);
		}
		if (!given && len < sizeof(missing)) {
			int w = snprintf(missing + len, sizeof(missing) - len, " --field %s=VALUE",
					 def->keys[k]);
			len += w > 0 ? (size_t)w : 0;
		}
	}
	if (len > 0) {
		ctl_usage_error("add", "the kind '%s' needs%s (its StatusPath= is '%s')", def->name,
				missing, strempty(def->status_path));
		return -ERANGE;
	}

	/* then the values, as the job file's parser checks them */
	if (!kinddef_value_is_valid(id)) {
		return ctl_fail(
			-EINVAL,
			"invalid job id '%s' for the kind '%s', expected 1-%d bytes without control characters, and not '.' or '..'",
			id, def->name, KINDDEF_VALUE_MAX);
	}
	for (size_t i = 0; i < n; i++) {
		const char *value = strchr(fields[i], '=') + 1;
		if (!kinddef_value_is_valid(value)) {
			return ctl_fail(
				-EINVAL,
				"invalid --field '%s', expected a value of 1-%d bytes without control characters, and not '.' or '..'",
				fields[i], KINDDEF_VALUE_MAX);
		}
	}
	r = userkind_text_new(def->name, id, fields, n, ret_text);
	if (r == -ENOMEM) {
		return ctl_fail(r, "out of memory");
	}
	if (r < 0) {
		/* not reached: every part was checked above */
		return ctl_fail(r, "invalid job of the kind '%s'", def->name);
	}
	return 0;
}

static bool plain_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '.' || c == '-';
}

char *ctl_user_file_part(const char *text)
{
	char id[KIND_ID_STRING_MAX], safe[CTL_PLAIN_ID_MAX + 1], part[CTL_PLAIN_ID_MAX + 32];
	size_t len, k = 0;
	bool plain;

	if (!userkind_text_id(text, id)) {
		return NULL;
	}
	len = strlen(id);
	plain = len <= CTL_PLAIN_ID_MAX && id[0] != '.' && isempty(userkind_text_fields(text));
	for (size_t i = 0; i < len && k < CTL_PLAIN_ID_MAX; i++) {
		plain &= plain_char(id[i]);
		safe[k++] = plain_char(id[i]) ? id[i] : '_';
	}
	safe[k] = '\0';
	if (plain) {
		return strdup_or_null(id);
	}
	/* '~' is not in a plain id: a hashed name never equals a plain one */
	snprintf(part, sizeof(part), "%s~%016llx", safe,
		 (unsigned long long)hash_bytes(text, strlen(text), 0));
	return strdup_or_null(part);
}

char *ctl_format_fields(const char *fields, char *buf, size_t size)
{
	size_t len = 0;

	assert(size > 0);
	buf[0] = '\0';
	for (const char *p = strempty(fields); *p && len + 1 < size;) {
		size_t n = strcspn(p, "\n");
		int k = snprintf(buf + len, size - len, "%s%.*s", len ? ", " : "", (int)n, p);
		if (k < 0) {
			break;
		}
		len = MIN(len + (size_t)k, size - 1);
		p += n;
		if (*p == '\n') {
			p++;
		}
	}
	return buf;
}
