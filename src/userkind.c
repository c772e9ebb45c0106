/* SPDX-License-Identifier: MIT */
/* Jobs of [Kind:NAME] sections: identity text, classification (userkind.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "string-util.h"
#include "strv.h"
#include "userkind.h"

/* "Key=value" with a placeholder key and a valid value. */
static bool field_is_valid(const char *f)
{
	const char *eq = strchr(f, '=');
	char key[KINDDEF_KEY_MAX + 1];

	if (!eq || (size_t)(eq - f) > KINDDEF_KEY_MAX) {
		return false;
	}
	memcpy(key, f, (size_t)(eq - f));
	key[eq - f] = '\0';
	return kinddef_key_is_placeholder(key) && kinddef_value_is_valid(eq + 1);
}

/* strcmp order of the keys alone: "A=x" before "A0=y" ("A" < "A0"), where a
 * strcmp of the whole strings would put '0' before '='. */
static int cmp_fields(const void *a, const void *b)
{
	const char *x = *(const char *const *)a, *y = *(const char *const *)b;
	size_t nx = strcspn(x, "="), ny = strcspn(y, "=");
	int r = strncmp(x, y, MIN(nx, ny));

	if (r != 0) {
		return r;
	}
	return nx < ny ? -1 : nx > ny ? 1 : 0;
}

int userkind_text_new(const char *name, const char *id, const char *const *fields, size_t n,
		      char **ret)
{
	_cleanup_(freep) const char **sorted = NULL;
	size_t len;

	*ret = NULL;
	if (!name_is_valid(name) || !kinddef_value_is_valid(id) || n > KINDDEF_KEYS_MAX) {
		return -EINVAL;
	}
	len = strlen(name) + 1 + strlen(id) + 1;
	if (n > 0) {
		sorted = calloc(n, sizeof(*sorted));
		if (!sorted) {
			return -ENOMEM;
		}
	}
	for (size_t i = 0; i < n; i++) {
		if (!field_is_valid(fields[i])) {
			return -EINVAL;
		}
		sorted[i] = fields[i];
		len += 1 + strlen(fields[i]);
	}
	if (n > 1) {
		qsort(sorted, n, sizeof(*sorted), cmp_fields);
	}
	for (size_t i = 1; i < n; i++) {
		if (cmp_fields(&sorted[i - 1], &sorted[i]) == 0) {
			return -EINVAL; /* a key twice */
		}
	}

	char *s = malloc(len), *p = s;
	if (!s) {
		return -ENOMEM;
	}
	p = stpcpy(p, name);
	*p++ = '\n';
	p = stpcpy(p, id);
	for (size_t i = 0; i < n; i++) {
		*p++ = '\n';
		p = stpcpy(p, sorted[i]);
	}
	*ret = s;
	return 0;
}

int userkind_text_from_parts(const char *name, const char *id, const char *fields_part, char **ret)
{
	_cleanup_(strv_freep) char **fields = NULL;
	size_t n = 0, allocated = 0;

	*ret = NULL;
	for (const char *p = strempty(fields_part); *p;) {
		size_t len = strcspn(p, "\n");
		char *f = strndup(p, len);
		if (!f || strv_push(&fields, &n, &allocated, f) < 0) {
			free(f);
			return -ENOMEM;
		}
		if (len == 0 || n > KINDDEF_KEYS_MAX) {
			return -EINVAL; /* an empty line, too many */
		}
		p += len;
		if (*p == '\n') {
			p++;
			if (!*p) {
				return -EINVAL; /* a trailing newline */
			}
		}
	}
	return userkind_text_new(name, id, (const char *const *)fields, n, ret);
}

/* Copy the line at s (up to "\n" or the end) into buf of size; NULL when it
 * does not fit or is empty. */
static char *copy_line(const char *s, char *buf, size_t size)
{
	size_t len = strcspn(s, "\n");

	if (len == 0 || len >= size) {
		return NULL;
	}
	memcpy(buf, s, len);
	buf[len] = '\0';
	return buf;
}

char *userkind_text_name(const char *text, char buf[static KIND_NAME_MAX])
{
	if (!text || !strchr(text, '\n')) {
		return NULL;
	}
	return copy_line(text, buf, KIND_NAME_MAX);
}

char *userkind_text_id(const char *text, char buf[static KIND_ID_STRING_MAX])
{
	const char *nl = text ? strchr(text, '\n') : NULL;

	return nl ? copy_line(nl + 1, buf, KIND_ID_STRING_MAX) : NULL;
}

const char *userkind_text_fields(const char *text)
{
	const char *nl = text ? strchr(text, '\n') : NULL;

	nl = nl ? strchr(nl + 1, '\n') : NULL;
	return nl ? nl + 1 : "";
}

const char *userkind_lookup(void *userdata, const char *name)
{
	struct userkind_lookup *l = userdata;
	size_t klen = strlen(name);

	if (streq(name, "id")) {
		return userkind_text_id(l->text, l->buf);
	}
	for (const char *p = userkind_text_fields(l->text); *p;) {
		size_t len = strcspn(p, "\n");
		if (len > klen && p[klen] == '=' && strncmp(p, name, klen) == 0) {
			return copy_line(p + klen + 1, l->buf, sizeof(l->buf));
		}
		p += len;
		if (*p == '\n') {
			p++;
		}
	}
	return NULL;
}

void userkind_classify(const struct kind_def *def, enum transfer_error transfer, long http_code,
		       bool body_ok, const struct jsonextract_value *status,
		       const struct jsonextract_value *error, uint64_t retry_after_s,
		       struct poll_result *ret, const char **ret_reason)
{
	const char *word, *reason = NULL;

	*ret_reason = NULL;
	/* A 5xx that is JSON is the service's own answer about this job; an
	 * HTML or empty one a proxy's. */
	if (dify_classify_http(transfer, http_code, kinddef_is_gone(def, http_code), body_ok,
			       retry_after_s, ret)) {
		return;
	}
	if (!body_ok) {
		*ret_reason = "not JSON";
		dify_classify_bad_body(ret);
		return;
	}
	if (kinddef_read_status(status, &word, &reason) < 0) {
		*ret_reason = reason;
		dify_classify_bad_body(ret);
		return;
	}
	ret->kind = POLL_STATUS;
	ret->status_text = word;
	ret->status_known = true;
	switch (kinddef_classify_word(def, word)) {
	case KINDDEF_CLASS_COMPLETED:
		ret->verdict = KIND_VERDICT_COMPLETED;
		break;
	case KINDDEF_CLASS_FAILED:
		ret->verdict = KIND_VERDICT_ERROR;
		ret->error_msg = error && error->type == JSONEXTRACT_STRING ? error->text : "";
		break;
	case KINDDEF_CLASS_RUNNING:
		ret->verdict = KIND_VERDICT_RUNNING;
		break;
	default:
		ret->verdict = KIND_VERDICT_RUNNING;
		ret->status_known = false;
		break;
	}
}
