/* SPDX-License-Identifier: MIT */
/*
 * Pointer extraction over arbitrary JSON (jsonptr.h, jsonextract.h).
 * Input: the first line is a JSON pointer, the rest a JSON document; without
 * a newline, the whole input is the document and the pointers are fixed
 * ones. Checked:
 *   - parsing the pointer never crashes, and a parsed pointer's tokens
 *     re-escape to its text;
 *   - the streaming result does not depend on how the body is chunked;
 *   - where the stream parse and yajl's tree parser (yajl_tree_parse, on a
 *     NUL-terminated copy) both succeed, the value at the pointer is the
 *     same: absent, or the same type and text (strings not cut and without
 *     \u0000, whose tree copies are C strings). yajl_tree_get() knows
 *     objects only and takes the first of duplicate members, so the walk
 *     over the tree is done here, and a duplicate member on the pointer's
 *     path skips the comparison (the stream takes the last);
 *   - when the stream parse succeeds, the tree parse does too (it accepts a
 *     superset: comments).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_tree.h>

#include "jsonextract.h"
#include "jsonptr.h"
#include "macro.h"
#include "test-helpers.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_BODY_MAX (64U * 1024U) /* RESPONSE_BODY_MAX: no answer is larger */

/* Re-escape p's tokens: must give back its text. */
static void check_roundtrip(const struct jsonptr *p)
{
	char buf[4 * JSONPTR_TEXT_MAX + 1];
	size_t n = 0;

	for (size_t i = 0; i < p->n_tokens; i++) {
		buf[n++] = '/';
		CHECK(strlen(p->tokens[i].name) == p->tokens[i].len);
		for (const char *c = p->tokens[i].name; *c; c++) {
			if (*c == '~' || *c == '/') {
				buf[n++] = '~';
				buf[n++] = *c == '~' ? '0' : '1';
			} else {
				buf[n++] = *c;
			}
			CHECK(n < sizeof(buf) - 2);
		}
	}
	buf[n] = '\0';
	CHECK(strcmp(buf, p->text) == 0);
}

/* RFC 6901 over yajl's tree. *ret_ambiguous when a duplicate member name on
 * the path makes "the" value a matter of choice. */
static yajl_val tree_get(yajl_val v, const struct jsonptr *p, bool *ret_ambiguous)
{
	*ret_ambiguous = false;
	for (size_t i = 0; v && i < p->n_tokens; i++) {
		const struct jsonptr_token *t = &p->tokens[i];
		yajl_val next = NULL;
		if (YAJL_IS_OBJECT(v)) {
			for (size_t k = 0; k < v->u.object.len; k++) {
				if (strcmp(v->u.object.keys[k], t->name) != 0) {
					continue;
				}
				if (next) {
					*ret_ambiguous = true;
				}
				next = v->u.object.values[k];
			}
		} else if (YAJL_IS_ARRAY(v) && t->index >= 0 &&
			   (uint64_t)t->index < v->u.array.len) {
			next = v->u.array.values[t->index];
		}
		v = next;
	}
	return v;
}

static void compare(yajl_val v, const struct jsonextract_value *x)
{
	if (!v) {
		CHECK(x->type == JSONEXTRACT_ABSENT);
		return;
	}
	CHECK(x->n_matches == 1);
	switch (v->type) {
	case yajl_t_string:
		CHECK(x->type == JSONEXTRACT_STRING);
		if (!x->truncated && !x->has_nul) {
			CHECK(strcmp(v->u.string, x->text) == 0);
		} else if (x->truncated && !x->has_nul) {
			CHECK(strncmp(v->u.string, x->text, strlen(x->text)) == 0);
		}
		break;
	case yajl_t_number:
		CHECK(x->type == JSONEXTRACT_NUMBER);
		if (!x->truncated) {
			CHECK(strcmp(v->u.number.r, x->text) == 0);
		}
		break;
	case yajl_t_object:
		CHECK(x->type == JSONEXTRACT_OBJECT && x->text[0] == '\0');
		break;
	case yajl_t_array:
		CHECK(x->type == JSONEXTRACT_ARRAY && x->text[0] == '\0');
		break;
	case yajl_t_true:
		CHECK(x->type == JSONEXTRACT_BOOLEAN && strcmp(x->text, "true") == 0);
		break;
	case yajl_t_false:
		CHECK(x->type == JSONEXTRACT_BOOLEAN && strcmp(x->text, "false") == 0);
		break;
	case yajl_t_null:
		CHECK(x->type == JSONEXTRACT_NULL && strcmp(x->text, "null") == 0);
		break;
	default:
		CHECK(false);
	}
}

/* The same extraction fed in two chunks cut at split. */
static int extract_split(const struct jsonptr *const *ptrs, size_t n, size_t cap, const char *body,
			 size_t len, size_t split, struct jsonextract *x)
{
	*x = (struct jsonextract){};
	for (size_t i = 0; i < n; i++) {
		CHECK(jsonextract_add(x, ptrs[i], cap) == (int)i);
	}
	if (jsonextract_begin(x) < 0) {
		return -1;
	}
	int r = jsonextract_feed(x, body, split);
	if (r >= 0) {
		r = jsonextract_feed(x, body + split, len - split);
	}
	if (r >= 0) {
		r = jsonextract_complete(x);
	}
	jsonextract_done(x);
	return r;
}

static void run(const struct jsonptr *const *ptrs, size_t n, const char *body, size_t len)
{
	static struct jsonextract whole, split; /* big: not on the stack */
	char error[128];
	size_t cap = 2 + len % 100; /* small caps too, to cut strings */

	int r = jsonextract_buffer(&whole, ptrs, n, cap, body, len);
	int r2 = extract_split(ptrs, n, cap, body, len, len / 2, &split);
	CHECK((r < 0) == (r2 < 0));
	if (r < 0) {
		CHECK(strlen(whole.error) > 0 && !strchr(whole.error, '\n'));
		return;
	}
	for (size_t i = 0; i < n; i++) {
		CHECK(memcmp(&whole.values[i], &split.values[i], sizeof(whole.values[i])) == 0);
		CHECK(strlen(whole.values[i].text) < cap);
	}

	/* the oracle: yajl's tree over a NUL-terminated copy */
	if (memchr(body, '\0', len) || memmem(body, len, "\\u0000", 6)) {
		return;
	}
	char *copy = malloc(len + 1);
	if (!copy) {
		return;
	}
	memcpy(copy, body, len);
	copy[len] = '\0';
	yajl_val tree = yajl_tree_parse(copy, error, sizeof(error));
	CHECK(tree); /* what the stream took, the tree takes */
	for (size_t i = 0; i < n; i++) {
		bool ambiguous;
		yajl_val v = tree_get(tree, ptrs[i], &ambiguous);
		if (!ambiguous) {
			compare(v, &whole.values[i]);
		}
	}
	yajl_tree_free(tree);
	free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const fixed[] = { "", "/status", "/data/0/status", "/a/1/b/2" };
	struct jsonptr ptrs[JSONEXTRACT_POINTERS_MAX] = {};
	const struct jsonptr *refs[JSONEXTRACT_POINTERS_MAX];
	const char *body = (const char *)data, *nl = memchr(data, '\n', size);
	size_t n = 0, len = size;

	if (size > FUZZ_BODY_MAX) {
		return 0;
	}
	if (nl) {
		size_t plen = (size_t)(nl - body);
		char *text = malloc(plen + 1);
		const char *reason = NULL;
		if (!text) {
			return 0;
		}
		memcpy(text, body, plen);
		text[plen] = '\0';
		int r = strlen(text) == plen ? jsonptr_parse(text, &ptrs[0], &reason) : -1;
		free(text);
		if (r < 0) {
			CHECK(r == -1 || !ptrs[0].text);
			CHECK(r != -EINVAL || (reason && reason[0]));
			return 0;
		}
		check_roundtrip(&ptrs[0]);
		n = 1;
		body = nl + 1;
		len = size - plen - 1;
	} else {
		for (; n < ELEMENTSOF(fixed); n++) {
			if (jsonptr_parse(fixed[n], &ptrs[n], NULL) < 0) {
				break;
			}
		}
	}
	for (size_t i = 0; i < n; i++) {
		refs[i] = &ptrs[i];
	}
	run(refs, n, body, len);
	for (size_t i = 0; i < n; i++) {
		jsonptr_done(&ptrs[i]);
	}
	return 0;
}
