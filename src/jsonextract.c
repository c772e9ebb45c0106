/* SPDX-License-Identifier: MIT */
/* Streaming extraction of JSON pointers with yajl (jsonextract.h). */
#include <errno.h>
#include <stdio.h>
#include <yajl/yajl_parse.h>

#include "json-feed.h"
#include "jsonextract.h"
#include "macro.h"
#include "redact.h"

static const char *const type_table[_JSONEXTRACT_TYPE_MAX] = {
	[JSONEXTRACT_ABSENT] = "absent",   [JSONEXTRACT_STRING] = "a string",
	[JSONEXTRACT_NUMBER] = "a number", [JSONEXTRACT_BOOLEAN] = "a boolean",
	[JSONEXTRACT_NULL] = "null",	   [JSONEXTRACT_OBJECT] = "an object",
	[JSONEXTRACT_ARRAY] = "an array",
};

const char *jsonextract_type_to_string(enum jsonextract_type t)
{
	return (unsigned)t < _JSONEXTRACT_TYPE_MAX ? type_table[t] : "absent";
}

/* Copy s[0..len) into v->text (cap bytes with the NUL), cut on a UTF-8
 * character boundary, NULs as '?'. */
static void store_text(struct jsonextract_value *v, size_t cap, const char *s, size_t len)
{
	v->truncated = false;
	v->has_nul = false;
	if (len > cap - 1) {
		len = cap - 1;
		while (len > 0 && ((unsigned char)s[len] & 0xC0) == 0x80) {
			len--;
		}
		v->truncated = true;
	}
	for (size_t i = 0; i < len; i++) {
		v->has_nul |= s[i] == '\0';
		v->text[i] = s[i] ? s[i] : '?';
	}
	v->text[len] = '\0';
}

static void record(struct jsonextract *x, size_t i, enum jsonextract_type type, const char *s,
		   size_t len)
{
	struct jsonextract_value *v = &x->values[i];

	v->type = type;
	if (v->n_matches < UINT32_MAX) {
		v->n_matches++;
	}
	store_text(v, x->caps[i], s, len);
}

/*
 * A scalar value begins: ask every matcher (exactly once each, as the
 * matcher wants one event per value) and copy the value for those at their
 * pointer. yajl hands over the whole unescaped string however the body was
 * cut: the key is redacted here, before any copy is cut to its cap, and only
 * when some pointer is at the value.
 */
static void on_scalar(struct jsonextract *x, enum jsonextract_type type, const char *s, size_t len)
{
	_cleanup_(freep) char *clean = NULL;
	bool hit[JSONEXTRACT_POINTERS_MAX] = {};
	bool any = false;

	for (size_t i = 0; i < x->n; i++) {
		hit[i] = jsonptr_matcher_scalar(&x->matchers[i]);
		any |= hit[i];
	}
	if (!any) {
		return;
	}
	if (redact_needed(s, len, x->secret)) {
		clean = redact(s, len, x->secret, &len);
		if (clean) {
			s = clean;
		} else {
			s = REDACTED;
			len = strlen(REDACTED);
		}
	}
	for (size_t i = 0; i < x->n; i++) {
		if (hit[i]) {
			record(x, i, type, s, len);
		}
	}
}

static int on_yajl_null(void *ctx)
{
	on_scalar(ctx, JSONEXTRACT_NULL, "null", 4);
	return 1;
}

static int on_yajl_boolean(void *ctx, int b)
{
	on_scalar(ctx, JSONEXTRACT_BOOLEAN, b ? "true" : "false", b ? 4 : 5);
	return 1;
}

static int on_yajl_number(void *ctx, const char *s, size_t len)
{
	on_scalar(ctx, JSONEXTRACT_NUMBER, s, len);
	return 1;
}

static int on_yajl_string(void *ctx, const unsigned char *s, size_t len)
{
	on_scalar(ctx, JSONEXTRACT_STRING, (const char *)s, len);
	return 1;
}

static int start_container(struct jsonextract *x, bool is_array)
{
	if (x->depth >= JSONEXTRACT_NESTING_MAX) {
		snprintf(x->error, sizeof(x->error), "nested deeper than %u levels",
			 (unsigned)JSONEXTRACT_NESTING_MAX);
		return 0; /* cancels the parse */
	}
	x->depth++;
	for (size_t i = 0; i < x->n; i++) {
		if (jsonptr_matcher_start(&x->matchers[i], is_array)) {
			record(x, i, is_array ? JSONEXTRACT_ARRAY : JSONEXTRACT_OBJECT, "", 0);
		}
	}
	return 1;
}

static int on_yajl_start_map(void *ctx)
{
	return start_container(ctx, false);
}

static int on_yajl_start_array(void *ctx)
{
	return start_container(ctx, true);
}

static int on_yajl_end(void *ctx)
{
	struct jsonextract *x = ctx;

	x->depth--;
	for (size_t i = 0; i < x->n; i++) {
		jsonptr_matcher_end(&x->matchers[i]);
	}
	return 1;
}

static int on_yajl_map_key(void *ctx, const unsigned char *s, size_t len)
{
	struct jsonextract *x = ctx;

	for (size_t i = 0; i < x->n; i++) {
		jsonptr_matcher_key(&x->matchers[i], (const char *)s, len);
	}
	return 1;
}

static const yajl_callbacks callbacks = {
	.yajl_null = on_yajl_null,
	.yajl_boolean = on_yajl_boolean,
	.yajl_number = on_yajl_number,
	.yajl_string = on_yajl_string,
	.yajl_start_map = on_yajl_start_map,
	.yajl_map_key = on_yajl_map_key,
	.yajl_end_map = on_yajl_end,
	.yajl_start_array = on_yajl_start_array,
	.yajl_end_array = on_yajl_end,
};

int jsonextract_add(struct jsonextract *x, const struct jsonptr *ptr, size_t cap)
{
	if (x->handle || cap < 2 || cap > JSONEXTRACT_VALUE_MAX) {
		return -EINVAL;
	}
	if (x->n >= JSONEXTRACT_POINTERS_MAX) {
		return -E2BIG;
	}
	jsonptr_matcher_init(&x->matchers[x->n], ptr);
	x->caps[x->n] = cap;
	x->values[x->n] = (struct jsonextract_value){};
	return (int)x->n++;
}

int jsonextract_begin(struct jsonextract *x)
{
	assert(!x->handle);
	for (size_t i = 0; i < x->n; i++) {
		jsonptr_matcher_init(&x->matchers[i], x->matchers[i].ptr);
		x->values[i] = (struct jsonextract_value){};
	}
	x->depth = 0;
	x->failed = false;
	x->error[0] = '\0';
	x->handle = yajl_alloc(&callbacks, NULL, x);
	return x->handle ? 0 : -ENOMEM;
}

int jsonextract_feed(struct jsonextract *x, const void *buf, size_t len)
{
	return json_feed(x->handle, &x->failed, x->error, sizeof(x->error), buf, len);
}

int jsonextract_complete(struct jsonextract *x)
{
	return json_complete(x->handle, &x->failed, x->error, sizeof(x->error));
}

void jsonextract_done(struct jsonextract *x)
{
	if (x && x->handle) {
		yajl_free(x->handle);
		x->handle = NULL;
	}
}

int jsonextract_buffer(struct jsonextract *x, const struct jsonptr *const *ptrs, size_t n,
		       size_t cap, const void *buf, size_t len)
{
	int r;

	*x = (struct jsonextract){};
	for (size_t i = 0; i < n; i++) {
		r = jsonextract_add(x, ptrs[i], cap);
		if (r < 0) {
			return r;
		}
	}
	r = jsonextract_begin(x);
	if (r >= 0) {
		r = jsonextract_feed(x, buf, len);
	}
	if (r >= 0) {
		r = jsonextract_complete(x);
	}
	jsonextract_done(x);
	return r;
}
