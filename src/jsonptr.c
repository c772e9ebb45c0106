/* SPDX-License-Identifier: MIT */
/* RFC 6901 JSON pointers and their streaming matcher (jsonptr.h). */
#include <errno.h>

#include "jsonptr.h"
#include "macro.h"

/* The array index a token names: digits without a leading zero, "0" alone,
 * and small enough to be a position in an answer we accept; else -1. */
static int64_t token_index(const char *s, size_t len)
{
	int64_t v = 0;

	if (len == 0 || len > 9 || (s[0] == '0' && len > 1)) {
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9') {
			return -1;
		}
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

void jsonptr_done(struct jsonptr *p)
{
	if (!p) {
		return;
	}
	for (size_t i = 0; i < p->n_tokens; i++) {
		free(p->tokens[i].name);
	}
	free(p->tokens);
	free(p->text);
	*p = (struct jsonptr){};
}

/* Unescape one token s[0..len) into a new string. -EINVAL for a bad escape. */
static int unescape_token(const char *s, size_t len, struct jsonptr_token *ret)
{
	char *out = malloc(len + 1);
	size_t n = 0;

	if (!out) {
		return -ENOMEM;
	}
	for (size_t i = 0; i < len; i++) {
		if (s[i] != '~') {
			out[n++] = s[i];
			continue;
		}
		if (i + 1 >= len || (s[i + 1] != '0' && s[i + 1] != '1')) {
			free(out);
			return -EINVAL;
		}
		out[n++] = s[i + 1] == '0' ? '~' : '/';
		i++;
	}
	out[n] = '\0';
	ret->name = out;
	ret->len = n;
	ret->index = token_index(out, n);
	return 0;
}

int jsonptr_parse(const char *s, struct jsonptr *ret, const char **reterr_reason)
{
	const char *reason = NULL;
	size_t len = strlen(s), n = 0;
	int r;

	*ret = (struct jsonptr){};
	if (len > JSONPTR_TEXT_MAX) {
		reason = "longer than 256 bytes";
	} else if (len > 0 && s[0] != '/') {
		reason = "does not start with '/'";
	}
	for (size_t i = 0; !reason && i < len; i++) {
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) {
			reason = "contains a control character";
		}
		n += s[i] == '/';
	}
	if (!reason && n > JSONPTR_TOKENS_MAX) {
		reason = "more than 32 reference tokens";
	}
	if (reason) {
		if (reterr_reason) {
			*reterr_reason = reason;
		}
		return -EINVAL;
	}

	/* one token per '/': s starts with one when it is not empty */
	struct jsonptr p = { .text = strdup(s),
			     .tokens = calloc(MAX(n, (size_t)1), sizeof(*p.tokens)) };
	if (!p.text || !p.tokens) {
		jsonptr_done(&p);
		return -ENOMEM;
	}
	const char *t = s;
	for (size_t i = 0; i < n; i++) {
		const char *end = strchrnul(t + 1, '/');
		r = unescape_token(t + 1, (size_t)(end - t - 1), &p.tokens[i]);
		if (r < 0) {
			if (r == -EINVAL && reterr_reason) {
				*reterr_reason = "'~' not followed by '0' or '1'";
			}
			jsonptr_done(&p);
			return r;
		}
		p.n_tokens++;
		t = end;
	}
	*ret = p;
	return 0;
}

int jsonptr_copy(const struct jsonptr *src, struct jsonptr *ret)
{
	const char *reason;

	if (!src->text) {
		*ret = (struct jsonptr){};
		return 0;
	}
	/* a parsed pointer parses again to the same tokens */
	int r = jsonptr_parse(src->text, ret, &reason);
	return r == -EINVAL ? -EIO : r;
}

void jsonptr_matcher_init(struct jsonptr_matcher *m, const struct jsonptr *ptr)
{
	assert(ptr->n_tokens <= JSONPTR_TOKENS_MAX); /* jsonptr_parse() guarantees it */
	*m = (struct jsonptr_matcher){ .ptr = ptr };
}

/*
 * A value begins at the current position: is its path a prefix of the
 * pointer of length depth? Only when every open container is on the path and
 * the innermost one's current member or element is the next token. Array
 * positions advance here, for every element on the path.
 */
static bool begin_value(struct jsonptr_matcher *m)
{
	if (m->on_path != m->depth) {
		return false;
	}
	if (m->depth == 0) {
		return true;
	}
	struct jsonptr_matcher_level *l = &m->levels[m->depth - 1];
	if (!l->is_array) {
		return l->key_match;
	}
	l->cur = l->next;
	if (l->next < UINT64_MAX) {
		l->next++;
	}
	int64_t want = m->ptr->tokens[m->depth - 1].index;
	return want >= 0 && l->cur == (uint64_t)want;
}

bool jsonptr_matcher_scalar(struct jsonptr_matcher *m)
{
	return begin_value(m) && m->depth == m->ptr->n_tokens;
}

bool jsonptr_matcher_start(struct jsonptr_matcher *m, bool is_array)
{
	bool on = begin_value(m);
	bool at = on && m->depth == m->ptr->n_tokens;

	if (on && m->depth < m->ptr->n_tokens) {
		/* on_path == depth here, and depth < n_tokens <= JSONPTR_TOKENS_MAX */
		m->levels[m->depth] = (struct jsonptr_matcher_level){ .is_array = is_array };
		m->on_path++;
	}
	if (m->depth < SIZE_MAX) {
		m->depth++;
	}
	return at;
}

void jsonptr_matcher_key(struct jsonptr_matcher *m, const char *key, size_t len)
{
	if (m->depth == 0 || m->on_path != m->depth) {
		return;
	}
	struct jsonptr_matcher_level *l = &m->levels[m->depth - 1];
	const struct jsonptr_token *t = &m->ptr->tokens[m->depth - 1];
	if (!l->is_array) {
		l->key_match = len == t->len && memcmp(key, t->name, len) == 0;
	}
}

void jsonptr_matcher_end(struct jsonptr_matcher *m)
{
	if (m->depth == 0) {
		return; /* unbalanced events: a caller's bug, kept harmless */
	}
	if (m->on_path == m->depth) {
		m->on_path--;
	}
	m->depth--;
}
