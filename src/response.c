/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <yajl/yajl_parse.h>

#include "macro.h"
#include "redact.h"
#include "response.h"

enum key {
	KEY_NONE,
	KEY_JOB_ID,
	KEY_JOB_STATUS,
	KEY_ERROR_MSG,
	KEY_CODE,
	KEY_MESSAGE,
	KEY_STATUS,
};

/* --- yajl allocations served from the parser's arena --- */

struct arena_hdr {
	size_t size;
	size_t pad; /* keeps the payload 16-byte aligned */
};

#define ALIGN16(x) (((x) + 15U) & ~(size_t)15U)

static bool in_arena(const struct response_parser *p, const void *ptr)
{
	const unsigned char *c = ptr;
	return c >= p->arena && c < p->arena + sizeof(p->arena);
}

static void *arena_malloc(void *ctx, size_t size)
{
	struct response_parser *p = ctx;
	size_t need = sizeof(struct arena_hdr) + ALIGN16(size);

	if (need <= sizeof(p->arena) - p->arena_used) {
		struct arena_hdr *h = (struct arena_hdr *)(void *)(p->arena + p->arena_used);
		h->size = size;
		p->arena_used += need;
		return h + 1;
	}
	return malloc(size);
}

static bool is_last_block(const struct response_parser *p, const struct arena_hdr *h)
{
	return (const unsigned char *)(h + 1) + ALIGN16(h->size) == p->arena + p->arena_used;
}

static void arena_free(void *ctx, void *ptr)
{
	struct response_parser *p = ctx;

	if (!ptr) {
		return;
	}
	if (!in_arena(p, ptr)) {
		free(ptr);
		return;
	}
	/* Only the newest block can be given back; the rest goes at the end. */
	struct arena_hdr *h = (struct arena_hdr *)ptr - 1;
	if (is_last_block(p, h)) {
		p->arena_used = (size_t)((unsigned char *)h - p->arena);
	}
}

static void *arena_realloc(void *ctx, void *ptr, size_t size)
{
	struct response_parser *p = ctx;

	if (!ptr) {
		return arena_malloc(ctx, size);
	}
	if (!in_arena(p, ptr)) {
		return realloc(ptr, size);
	}
	struct arena_hdr *h = (struct arena_hdr *)ptr - 1;
	size_t start = (size_t)((unsigned char *)ptr - p->arena);
	if (is_last_block(p, h) && ALIGN16(size) <= sizeof(p->arena) - start) {
		h->size = size;
		p->arena_used = start + ALIGN16(size);
		return ptr;
	}
	void *n = arena_malloc(ctx, size);
	if (!n) {
		return NULL;
	}
	memcpy(n, ptr, MIN(h->size, size));
	arena_free(ctx, ptr);
	return n;
}

/* --- callbacks --- */

static bool at_top_level_value(const struct response_parser *p)
{
	return p->depth == 1 && p->result.is_object && p->key != KEY_NONE;
}

/* Copy a JSON string into a fixed field, cutting on a UTF-8 character
 * boundary. Embedded NULs (\u0000) become '?' so the C string stays whole. */
static bool copy_capped(char *dst, size_t cap, const unsigned char *s, size_t len)
{
	bool truncated = false;
	if (len > cap - 1) {
		len = cap - 1;
		while (len > 0 && (s[len] & 0xC0) == 0x80) {
			len--;
		}
		truncated = true;
	}
	for (size_t i = 0; i < len; i++) {
		dst[i] = s[i] ? (char)s[i] : '?';
	}
	dst[len] = '\0';
	return truncated;
}

static void mark_ellipsis(char *dst, size_t cap)
{
	static const char ell[] = "\xe2\x80\xa6"; /* U+2026 */
	size_t len = strlen(dst);
	if (len + sizeof(ell) > cap) {
		len = cap - sizeof(ell);
		while (len > 0 && ((unsigned char)dst[len] & 0xC0) == 0x80) {
			len--;
		}
	}
	memcpy(dst + len, ell, sizeof(ell));
}

static int on_yajl_string(void *ctx, const unsigned char *s, size_t len)
{
	struct response_parser *p = ctx;
	struct response *r = &p->result;
	_cleanup_(freep) char *clean = NULL;

	if (!at_top_level_value(p)) {
		return 1;
	}
	/* yajl hands over the whole unescaped string, however the body was cut
	 * into chunks: the one place a key echoed by the server is surely seen
	 * before the copy is cut to its field. */
	if (redact_needed((const char *)s, len, p->secret)) {
		clean = redact((const char *)s, len, p->secret, &len);
		if (clean) {
			s = (const unsigned char *)clean;
		} else {
			s = (const unsigned char *)REDACTED;
			len = strlen(REDACTED);
		}
	}
	switch (p->key) {
	case KEY_JOB_ID:
		r->has_job_id = !copy_capped(r->job_id, sizeof(r->job_id), s, len);
		r->bad_shape |= !r->has_job_id;
		break;
	case KEY_JOB_STATUS:
		/* A status with a NUL or longer than any real one is not a status. */
		if (memchr(s, '\0', len) ||
		    copy_capped(r->job_status, sizeof(r->job_status), s, len)) {
			r->has_job_status = false;
			r->bad_shape = true;
		} else {
			r->has_job_status = true;
		}
		break;
	case KEY_ERROR_MSG:
		r->has_error_msg = true;
		r->error_msg_truncated = copy_capped(r->error_msg, sizeof(r->error_msg), s, len);
		if (r->error_msg_truncated) {
			mark_ellipsis(r->error_msg, sizeof(r->error_msg));
		}
		break;
	case KEY_CODE:
		r->has_code = true;
		(void)copy_capped(r->code, sizeof(r->code), s, len);
		break;
	case KEY_MESSAGE:
		r->has_message = true;
		(void)copy_capped(r->message, sizeof(r->message), s, len);
		break;
	case KEY_STATUS:
		/* "status" only means something in error answers; ignore odd ones */
		break;
	default:
		break;
	}
	p->key = KEY_NONE;
	return 1;
}

static int on_yajl_number(void *ctx, const char *s, size_t len)
{
	struct response_parser *p = ctx;
	struct response *r = &p->result;

	if (!at_top_level_value(p)) {
		return 1;
	}
	if (p->key == KEY_STATUS) {
		char buf[24];
		int64_t v = 0;
		bool ok = len > 0 && len < sizeof(buf);
		if (ok) {
			memcpy(buf, s, len);
			buf[len] = '\0';
			char *end = NULL;
			errno = 0;
			long long ll = strtoll(buf, &end, 10); /* checked: errno and end */
			ok = errno == 0 && end && *end == '\0';
			v = ll;
		}
		r->has_status = ok;
		r->status = ok ? v : 0;
	} else if (p->key == KEY_JOB_STATUS || p->key == KEY_JOB_ID) {
		r->bad_shape = true;
	}
	p->key = KEY_NONE;
	return 1;
}

/* null and booleans: only their effect on the shape matters. */
static int on_yajl_scalar(struct response_parser *p)
{
	if (at_top_level_value(p)) {
		if (p->key == KEY_JOB_STATUS || p->key == KEY_JOB_ID) {
			p->result.bad_shape = true;
		}
		p->key = KEY_NONE;
	}
	return 1;
}

static int on_yajl_null(void *ctx)
{
	return on_yajl_scalar(ctx);
}

static int on_yajl_boolean(void *ctx, int b)
{
	return on_yajl_scalar(ctx);
}

static int on_yajl_start_container(void *ctx)
{
	struct response_parser *p = ctx;

	(void)on_yajl_scalar(p); /* an object or array where a recognised scalar belongs */
	p->depth++;
	return 1;
}

static int on_yajl_start_map(void *ctx)
{
	struct response_parser *p = ctx;

	if (p->depth == 0) {
		p->result.is_object = true;
	}
	return on_yajl_start_container(ctx);
}

static int on_yajl_end_container(void *ctx)
{
	struct response_parser *p = ctx;

	assert(p->depth > 0);
	p->depth--;
	return 1;
}

static int on_yajl_map_key(void *ctx, const unsigned char *s, size_t len)
{
	static const struct {
		const char *name;
		enum key key;
	} keys[] = {
		{ "job_id", KEY_JOB_ID },	{ "job_status", KEY_JOB_STATUS },
		{ "error_msg", KEY_ERROR_MSG }, { "code", KEY_CODE },
		{ "message", KEY_MESSAGE },	{ "status", KEY_STATUS },
	};
	struct response_parser *p = ctx;

	p->key = KEY_NONE;
	if (p->depth != 1 || !p->result.is_object) {
		return 1;
	}
	for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
		if (strlen(keys[i].name) == len && memcmp(keys[i].name, s, len) == 0) {
			p->key = keys[i].key;
			break;
		}
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
	.yajl_end_map = on_yajl_end_container,
	.yajl_start_array = on_yajl_start_container,
	.yajl_end_array = on_yajl_end_container,
};

/* --- public --- */

int response_parser_begin(struct response_parser *p)
{
	yajl_alloc_funcs afs = {
		.malloc = arena_malloc,
		.realloc = arena_realloc,
		.free = arena_free,
		.ctx = p,
	};

	assert(!p->handle);
	memset(&p->result, 0, sizeof(p->result));
	p->depth = 0;
	p->key = KEY_NONE;
	p->failed = false;
	p->error[0] = '\0';
	p->arena_used = 0;
	p->handle = yajl_alloc(&callbacks, &afs, p);
	return p->handle ? 0 : -ENOMEM;
}

static void set_error(struct response_parser *p, const unsigned char *buf, size_t len)
{
	unsigned char *e = yajl_get_error(p->handle, 0, buf, len);

	snprintf(p->error, sizeof(p->error), "%s", e ? (const char *)e : "parse error");
	/* yajl's messages end in a newline; keep ours on one line */
	for (char *c = p->error; *c; c++) {
		if (*c == '\n' || *c == '\r') {
			*c = '\0';
			break;
		}
	}
	if (e) {
		yajl_free_error(p->handle, e);
	}
	p->failed = true;
}

int response_parser_feed(struct response_parser *p, const void *buf, size_t len)
{
	if (p->failed) {
		return -EBADMSG;
	}
	if (!p->handle) {
		return -EINVAL;
	}
	if (yajl_parse(p->handle, buf, len) != yajl_status_ok) {
		set_error(p, buf, len);
		return -EBADMSG;
	}
	return 0;
}

int response_parser_complete(struct response_parser *p)
{
	if (p->failed) {
		return -EBADMSG;
	}
	if (!p->handle) {
		return -EINVAL;
	}
	if (yajl_complete_parse(p->handle) != yajl_status_ok) {
		set_error(p, NULL, 0);
		return -EBADMSG;
	}
	return 0;
}

void response_parser_done(struct response_parser *p)
{
	if (p->handle) {
		yajl_free(p->handle);
		p->handle = NULL;
	}
	p->arena_used = 0;
}

int response_parse(const void *buf, size_t len, struct response *ret, char *error,
		   size_t error_size)
{
	struct response_parser *p = calloc(1, sizeof(*p));
	int r;

	if (!p) {
		return -ENOMEM;
	}
	r = response_parser_begin(p);
	if (r >= 0) {
		r = response_parser_feed(p, buf, len);
	}
	if (r >= 0) {
		r = response_parser_complete(p);
	}
	if (error && error_size > 0) {
		snprintf(error, error_size, "%s", r == -EBADMSG ? p->error : "");
	}
	if (ret) {
		*ret = p->result;
	}
	response_parser_done(p);
	free(p);
	return r;
}
