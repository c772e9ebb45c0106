/* SPDX-License-Identifier: MIT */
/* AuthHeader= and Header= (authheader.h). */
#include <errno.h>
#include <stdio.h>
#include <strings.h>

#include "alloc-util.h"
#include "authheader.h"
#include "escape.h"
#include "string-util.h"

/* Headers curl or the HTTP framing owns: never configurable. */
static const char *const framing_names[] = {
	"Host", "Content-Length", "Transfer-Encoding", "Connection", "Proxy-Authorization",
};

void authheader_done(struct authheader *h)
{
	if (!h) {
		return;
	}
	free(h->auth);
	for (size_t i = 0; i < h->n_extra; i++) {
		free(h->extra[i]);
		free(h->extra_files[i]);
	}
	free(h->extra);
	free(h->extra_lines);
	free(h->extra_files);
	*h = (struct authheader){};
}

static bool is_tchar(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c != '\0' && strchr("!#$%&'*+-.^_`|~", c));
}

static size_t count_placeholders(const char *s)
{
	size_t n = 0;
	for (const char *p = strstr(s, AUTHHEADER_PLACEHOLDER); p;
	     p = strstr(p + 1, AUTHHEADER_PLACEHOLDER)) {
		n++;
	}
	return n;
}

/*
 * Check "Name: value" and normalise it into *ret (owned). Returns 0,
 * -ENOMEM, or -EINVAL with *reason.
 */
static int parse_line(const char *s, bool is_auth, char **ret, const char **reason)
{
	size_t name_len = strcspn(s, ":");

	if (strlen(s) > AUTHHEADER_LINE_MAX) {
		*reason = "longer than 1024 bytes";
		return -EINVAL;
	}
	for (const char *c = s; *c; c++) {
		if (((unsigned char)*c < 0x20 && *c != '\t') || *c == 0x7f) {
			*reason = "a control character (a header is one line)";
			return -EINVAL;
		}
	}
	if (s[name_len] != ':' || name_len == 0) {
		*reason = "expected 'Name: value'";
		return -EINVAL;
	}
	for (size_t i = 0; i < name_len; i++) {
		if (!is_tchar(s[i])) {
			*reason =
				"the header name is not an HTTP token (letters, digits, !#$%&'*+-.^_`|~)";
			return -EINVAL;
		}
	}
	for (size_t i = 0; i < ELEMENTSOF(framing_names); i++) {
		if (strlen(framing_names[i]) == name_len &&
		    strncasecmp(s, framing_names[i], name_len) == 0) {
			*reason = "that header is set by the HTTP layer";
			return -EINVAL;
		}
	}
	bool is_authorization = name_len == strlen("Authorization") &&
				strncasecmp(s, "Authorization", name_len) == 0;
	if (!is_auth && is_authorization) {
		*reason = "Authorization belongs in AuthHeader=";
		return -EINVAL;
	}
	size_t n = count_placeholders(s + name_len);
	if (is_auth && n != 1) {
		*reason = "the value must contain {key} exactly once";
		return -EINVAL;
	}
	if (!is_auth && (n > 0 || count_placeholders(s) > 0)) {
		*reason = "{key} belongs in AuthHeader= only";
		return -EINVAL;
	}
	const char *value = s + name_len + 1;
	value += strspn(value, " \t");
	size_t value_len = strlen(value);
	while (value_len > 0 && (value[value_len - 1] == ' ' || value[value_len - 1] == '\t')) {
		value_len--;
	}
	char *line = malloc(name_len + 2 + value_len + 1);
	if (!line) {
		return -ENOMEM;
	}
	memcpy(line, s, name_len);
	memcpy(line + name_len, ": ", 2);
	memcpy(line + name_len + 2, value, value_len);
	line[name_len + 2 + value_len] = '\0';
	*ret = line;
	return 0;
}

int authheader_set_auth(struct authheader *h, const char *value, const char *file, unsigned line,
			struct diag_list *diags)
{
	const char *reason = NULL;
	char *l = NULL;

	if (isempty(value)) {
		free(h->auth);
		h->auth = NULL;
		h->line_auth = line;
		return 0;
	}
	int r = parse_line(value, true, &l, &reason);
	if (r == -EINVAL) {
		diag_add(diags, DIAG_ERROR, file, line, "Invalid AuthHeader= value '%s': %s",
			 QUOTE(value), reason);
		return 0;
	}
	if (r < 0) {
		return r;
	}
	free(h->auth);
	h->auth = l;
	h->line_auth = line;
	return 0;
}

int authheader_add_extra(struct authheader *h, const char *value, const char *file, unsigned line,
			 struct diag_list *diags)
{
	const char *reason = NULL;
	char *l = NULL;

	if (isempty(value)) {
		for (size_t i = 0; i < h->n_extra; i++) {
			free(h->extra[i]);
			free(h->extra_files[i]);
		}
		h->n_extra = 0;
		return 0;
	}
	if (h->n_extra >= AUTHHEADER_EXTRA_MAX) {
		diag_add(diags, DIAG_ERROR, file, line, "Too many Header= lines, at most %d",
			 AUTHHEADER_EXTRA_MAX);
		return 0;
	}
	int r = parse_line(value, false, &l, &reason);
	if (r == -EINVAL) {
		diag_add(diags, DIAG_ERROR, file, line, "Invalid Header= value '%s': %s",
			 QUOTE(value), reason);
		return 0;
	}
	if (r < 0) {
		return r;
	}
	if (!grow_array((void **)&h->extra, &h->allocated_extra, sizeof(*h->extra),
			h->n_extra + 1) ||
	    !grow_array((void **)&h->extra_lines, &h->allocated_lines, sizeof(*h->extra_lines),
			h->n_extra + 1) ||
	    !grow_array((void **)&h->extra_files, &h->allocated_files, sizeof(*h->extra_files),
			h->n_extra + 1)) {
		free(l);
		return -ENOMEM;
	}
	h->extra_files[h->n_extra] = strdup_or_null(file);
	if (file && !h->extra_files[h->n_extra]) {
		free(l);
		return -ENOMEM;
	}
	h->extra[h->n_extra] = l;
	h->extra_lines[h->n_extra++] = line;
	return 0;
}

const char *authheader_template(const struct authheader *h)
{
	return h && h->auth ? h->auth : AUTHHEADER_DEFAULT;
}

int authheader_validate(const struct authheader *h, const char *file, struct diag_list *diags)
{
	const char *auth = authheader_template(h);
	size_t auth_len = strcspn(auth, ":");
	int r = 0;

	for (size_t i = 0; i < h->n_extra; i++) {
		size_t len = strcspn(h->extra[i], ":");
		if (len == auth_len && strncasecmp(h->extra[i], auth, len) == 0) {
			diag_add(diags, DIAG_ERROR, h->extra_files[i] ?: file, h->extra_lines[i],
				 "Header= names '%.*s', the header AuthHeader= carries the key in",
				 (int)MIN(len, (size_t)64), h->extra[i]);
			r = -EINVAL;
		}
	}
	return r;
}

char *authheader_build(const struct authheader *h, const char *key, int *ret_error)
{
	const char *t = authheader_template(h);
	const char *at = strstr(t, AUTHHEADER_PLACEHOLDER);
	size_t plen = strlen(AUTHHEADER_PLACEHOLDER);

	if (isempty(key) || !at) {
		*ret_error = -EINVAL;
		return NULL;
	}
	for (const char *c = key; *c; c++) {
		if ((unsigned char)*c < 0x20 || *c == 0x7f) {
			*ret_error = -EINVAL;
			return NULL;
		}
	}
	size_t head = (size_t)(at - t), klen = strlen(key), tail = strlen(at + plen);
	char *line = malloc(head + klen + tail + 1);
	if (!line) {
		*ret_error = -ENOMEM;
		return NULL;
	}
	memcpy(line, t, head);
	memcpy(line + head, key, klen);
	memcpy(line + head + klen, at + plen, tail + 1);
	*ret_error = 0;
	return line;
}

bool authheader_find_key(const struct authheader *h, const char *line, const char **ret_key,
			 size_t *ret_len)
{
	const char *t = authheader_template(h);
	const char *at = strstr(t, AUTHHEADER_PLACEHOLDER);
	size_t plen = strlen(AUTHHEADER_PLACEHOLDER);

	if (!at || !line) {
		return false;
	}
	size_t head = (size_t)(at - t), tail = strlen(at + plen), len = strlen(line);
	if (len <= head + tail || strncmp(line, t, head) != 0 ||
	    strcmp(line + len - tail, at + plen) != 0) {
		return false;
	}
	*ret_key = line + head;
	*ret_len = len - head - tail;
	return true;
}
