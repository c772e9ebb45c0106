/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <yajl/yajl_parse.h>

#include "json-feed.h"
#include "macro.h"
#include "redact.h"
#include "string-util.h"
#include "response.h"

enum key {
	KEY_NONE,
	KEY_JOB_ID,
	KEY_JOB_STATUS,
	KEY_ERROR_MSG,
	KEY_CODE,
	KEY_MESSAGE,
	KEY_STATUS,
	KEY_ID,
	KEY_ERROR,
	KEY_DATA,
	/* keys of a document in "data" */
	KEY_DOC_ID,
	KEY_DOC_STATUS,
	KEY_DOC_ERROR,
	KEY_DOC_COMPLETED_SEGMENTS,
	KEY_DOC_TOTAL_SEGMENTS,
};

static const char *const doc_status_table[_RESPONSE_DOC_STATUS_MAX] = {
	[RESPONSE_DOC_WAITING] = "waiting",	[RESPONSE_DOC_PARSING] = "parsing",
	[RESPONSE_DOC_CLEANING] = "cleaning",	[RESPONSE_DOC_SPLITTING] = "splitting",
	[RESPONSE_DOC_INDEXING] = "indexing",	[RESPONSE_DOC_PAUSED] = "paused",
	[RESPONSE_DOC_COMPLETED] = "completed", [RESPONSE_DOC_ERROR] = "error",
	[RESPONSE_DOC_OTHER] = "other",
};

const char *response_doc_status_to_string(int s)
{
	return s >= 0 && s < _RESPONSE_DOC_STATUS_MAX ? doc_status_table[s] : "other";
}

static enum response_doc_status doc_status_from_string(const char *s)
{
	for (int i = 0; i < RESPONSE_DOC_OTHER; i++) {
		if (streq(s, doc_status_table[i])) {
			return (enum response_doc_status)i;
		}
	}
	return RESPONSE_DOC_OTHER;
}

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

/* The value of a recognised key of a document in "data". */
static bool at_doc_value(const struct response_parser *p)
{
	return p->in_doc && p->depth == 3 && p->key != KEY_NONE;
}

/* An element of "data" itself: only objects are documents. */
static bool at_data_element(const struct response_parser *p)
{
	return p->in_data && p->depth == 2;
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

/* A status word: whole, without NUL, or not a status at all. */
static bool copy_word(char *dst, size_t cap, const unsigned char *s, size_t len)
{
	if (memchr(s, '\0', len) || copy_capped(dst, cap, s, len)) {
		dst[0] = '\0';
		return false;
	}
	return true;
}

/* A JSON number that is an integer in int64_t range. */
static bool parse_integer(const char *s, size_t len, int64_t *ret)
{
	char buf[24];

	if (len == 0 || len >= sizeof(buf)) {
		return false;
	}
	memcpy(buf, s, len);
	buf[len] = '\0';
	char *end = NULL;
	errno = 0;
	long long ll = strtoll(buf, &end, 10); /* checked: errno and end */
	if (errno != 0 || !end || *end != '\0') {
		return false;
	}
	*ret = ll;
	return true;
}

static void add_saturating(uint64_t *sum, uint64_t v)
{
	*sum = v > UINT64_MAX - *sum ? UINT64_MAX : *sum + v;
}

/* One more failed document in the bounded list of JOB_ERROR. */
static void append_failed(struct response_documents *d, const char *id, const char *error)
{
	char item[2 + RESPONSE_SHORT_MAX + 2 + RESPONSE_DOC_ERROR_MAX];
	size_t len = strlen(d->failed);

	if (d->failed_truncated) {
		return;
	}
	int n = snprintf(item, sizeof(item), "%s%s%s%s", len > 0 ? "; " : "", id,
			 *error ? ": " : "", error);
	if (n < 0) {
		return;
	}
	if (len + (size_t)n < sizeof(d->failed)) {
		memcpy(d->failed + len, item, (size_t)n + 1);
		return;
	}
	(void)copy_capped(d->failed + len, sizeof(d->failed) - len, (const unsigned char *)item,
			  (size_t)n);
	mark_ellipsis(d->failed, sizeof(d->failed));
	d->failed_truncated = true;
}

/* The end of a document's object: count it. */
static void tally_doc(struct response_parser *p)
{
	struct response_documents *d = &p->result.documents;

	if (d->total < UINT32_MAX) {
		d->total++;
	}
	if (!p->doc.has_status) {
		d->bad_shape = true;
		return;
	}
	d->count[p->doc.status]++;
	if (p->doc.has_completed_segments) {
		add_saturating(&d->completed_segments, p->doc.completed_segments);
	}
	if (p->doc.has_total_segments) {
		add_saturating(&d->total_segments, p->doc.total_segments);
	}
	if (p->doc.status == RESPONSE_DOC_OTHER && d->other_status[0] == '\0') {
		memcpy(d->other_status, p->doc.status_word, sizeof(d->other_status));
	}
	if (p->doc.status == RESPONSE_DOC_ERROR) {
		append_failed(d, p->doc.id[0] ? p->doc.id : "?",
			      p->doc.has_error ? p->doc.error : "");
	}
}

/* "data" that is not an array: no documents to count. */
static void data_is_bad(struct response_parser *p)
{
	p->result.documents.has_data = false;
	p->result.documents.bad_shape = true;
}

static void on_doc_string(struct response_parser *p, const unsigned char *s, size_t len)
{
	switch (p->key) {
	case KEY_DOC_ID:
		(void)copy_capped(p->doc.id, sizeof(p->doc.id), s, len);
		break;
	case KEY_DOC_STATUS:
		p->doc.has_status =
			copy_word(p->doc.status_word, sizeof(p->doc.status_word), s, len);
		p->doc.status =
			(uint8_t)(p->doc.has_status ? doc_status_from_string(p->doc.status_word)
						    : RESPONSE_DOC_OTHER);
		break;
	case KEY_DOC_ERROR:
		p->doc.has_error = true;
		if (copy_capped(p->doc.error, sizeof(p->doc.error), s, len)) {
			mark_ellipsis(p->doc.error, sizeof(p->doc.error));
		}
		break;
	default:
		break; /* segments as strings: ignored */
	}
}

/* Long (about 85 lines): where a string sits (a document of an indexing
 * answer, the top level, nested: ignored), the redaction of an echoed key,
 * then one case per top-level key of every kind's answer, in one switch. */
static int on_yajl_string(void *ctx, const unsigned char *s, size_t len)
{
	struct response_parser *p = ctx;
	struct response *r = &p->result;
	_cleanup_(freep) char *clean = NULL;

	if (at_data_element(p)) {
		r->documents.bad_shape = true;
		return 1;
	}
	bool doc = at_doc_value(p);
	if (!doc && !at_top_level_value(p)) {
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
	if (doc) {
		on_doc_string(p, s, len);
		p->key = KEY_NONE;
		return 1;
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
		/* a workflow run's status; error answers' status is a number */
		r->has_status_text = copy_word(r->status_text, sizeof(r->status_text), s, len);
		r->status_bad_shape = !r->has_status_text;
		break;
	case KEY_ID:
		r->has_id = copy_word(r->id, sizeof(r->id), s, len);
		break;
	case KEY_ERROR:
		r->has_error = true;
		if (copy_capped(r->error, sizeof(r->error), s, len)) {
			mark_ellipsis(r->error, sizeof(r->error));
		}
		break;
	case KEY_DATA:
		data_is_bad(p);
		break;
	default:
		break;
	}
	p->key = KEY_NONE;
	return 1;
}

/* A document's key whose value is not a string or number it can use. */
static void on_doc_other(struct response_parser *p, bool is_null)
{
	if (p->key == KEY_DOC_STATUS) {
		p->doc.has_status = false;
	} else if (p->key == KEY_DOC_ERROR && is_null) {
		p->doc.has_error = false;
	}
	p->key = KEY_NONE;
}

static int on_yajl_number(void *ctx, const char *s, size_t len)
{
	struct response_parser *p = ctx;
	struct response *r = &p->result;
	int64_t v = 0;

	if (at_data_element(p)) {
		r->documents.bad_shape = true;
		return 1;
	}
	if (at_doc_value(p)) {
		bool ok = parse_integer(s, len, &v) && v >= 0;
		if (p->key == KEY_DOC_COMPLETED_SEGMENTS) {
			p->doc.has_completed_segments = ok;
			p->doc.completed_segments = ok ? (uint64_t)v : 0;
		} else if (p->key == KEY_DOC_TOTAL_SEGMENTS) {
			p->doc.has_total_segments = ok;
			p->doc.total_segments = ok ? (uint64_t)v : 0;
		} else {
			on_doc_other(p, false);
		}
		p->key = KEY_NONE;
		return 1;
	}
	if (!at_top_level_value(p)) {
		return 1;
	}
	if (p->key == KEY_STATUS) {
		bool ok = parse_integer(s, len, &v);
		r->has_status = ok;
		r->status = ok ? v : 0;
		r->has_status_text = false;
		r->status_text[0] = '\0';
		r->status_bad_shape = false;
	} else if (p->key == KEY_JOB_STATUS || p->key == KEY_JOB_ID) {
		r->bad_shape = true;
	} else if (p->key == KEY_ID) {
		r->has_id = false;
	} else if (p->key == KEY_ERROR) {
		r->has_error = false;
	} else if (p->key == KEY_DATA) {
		data_is_bad(p);
	}
	p->key = KEY_NONE;
	return 1;
}

/* null, booleans, and a container where a recognised scalar belongs: only
 * their effect on the shape matters. */
static int on_yajl_scalar(struct response_parser *p, bool is_null)
{
	struct response *r = &p->result;

	if (at_data_element(p)) {
		r->documents.bad_shape = true;
	} else if (at_doc_value(p)) {
		on_doc_other(p, is_null);
	} else if (at_top_level_value(p)) {
		if (p->key == KEY_JOB_STATUS || p->key == KEY_JOB_ID) {
			r->bad_shape = true;
		} else if (p->key == KEY_STATUS) {
			r->has_status_text = false;
			r->status_text[0] = '\0';
			r->status_bad_shape = true;
		} else if (p->key == KEY_ID) {
			r->has_id = false;
		} else if (p->key == KEY_ERROR) {
			r->has_error = false; /* null: no error; anything else: none we can read */
		} else if (p->key == KEY_DATA) {
			data_is_bad(p);
		}
		p->key = KEY_NONE;
	}
	return 1;
}

static int on_yajl_null(void *ctx)
{
	return on_yajl_scalar(ctx, true);
}

static int on_yajl_boolean(void *ctx, int b)
{
	return on_yajl_scalar(ctx, false);
}

static int on_yajl_start_container(void *ctx)
{
	struct response_parser *p = ctx;

	(void)on_yajl_scalar(p, false); /* an object or array where a recognised scalar belongs */
	p->depth++;
	return 1;
}

static int on_yajl_start_map(void *ctx)
{
	struct response_parser *p = ctx;

	if (p->depth == 0) {
		p->result.is_object = true;
	} else if (at_data_element(p)) {
		/* a document: only its own scalars count, tallied at its '}' */
		memset(&p->doc, 0, sizeof(p->doc));
		p->in_doc = true;
		p->depth++;
		return 1;
	}
	return on_yajl_start_container(ctx);
}

static int on_yajl_start_array(void *ctx)
{
	struct response_parser *p = ctx;

	if (at_top_level_value(p) && p->key == KEY_DATA) {
		/* a repeated "data": the last one counts, as for every key */
		memset(&p->result.documents, 0, sizeof(p->result.documents));
		p->result.documents.has_data = true;
		p->in_data = true;
		p->key = KEY_NONE;
		p->depth++;
		return 1;
	}
	return on_yajl_start_container(ctx);
}

static int on_yajl_end_map(void *ctx)
{
	struct response_parser *p = ctx;

	assert(p->depth > 0);
	if (p->in_doc && p->depth == 3) {
		tally_doc(p);
		p->in_doc = false;
	}
	p->depth--;
	return 1;
}

static int on_yajl_end_array(void *ctx)
{
	struct response_parser *p = ctx;

	assert(p->depth > 0);
	if (p->in_data && !p->in_doc && p->depth == 2) {
		p->in_data = false;
	}
	p->depth--;
	return 1;
}

struct key_name {
	const char *name;
	enum key key;
};

static enum key find_key(const struct key_name *keys, size_t n, const unsigned char *s, size_t len)
{
	for (size_t i = 0; i < n; i++) {
		if (strlen(keys[i].name) == len && memcmp(keys[i].name, s, len) == 0) {
			return keys[i].key;
		}
	}
	return KEY_NONE;
}

static int on_yajl_map_key(void *ctx, const unsigned char *s, size_t len)
{
	/* annotation-reply's first: they are the most polled */
	static const struct key_name keys[] = {
		{ "job_id", KEY_JOB_ID },
		{ "job_status", KEY_JOB_STATUS },
		{ "error_msg", KEY_ERROR_MSG },
		{ "code", KEY_CODE },
		{ "message", KEY_MESSAGE },
		{ "status", KEY_STATUS },
		{ "id", KEY_ID },
		{ "error", KEY_ERROR },
		{ "data", KEY_DATA },
	};
	static const struct key_name doc_keys[] = {
		{ "id", KEY_DOC_ID },
		{ "indexing_status", KEY_DOC_STATUS },
		{ "error", KEY_DOC_ERROR },
		{ "completed_segments", KEY_DOC_COMPLETED_SEGMENTS },
		{ "total_segments", KEY_DOC_TOTAL_SEGMENTS },
	};
	struct response_parser *p = ctx;

	p->key = KEY_NONE;
	if (p->in_doc && p->depth == 3) {
		p->key = find_key(doc_keys, ELEMENTSOF(doc_keys), s, len);
	} else if (p->depth == 1 && p->result.is_object) {
		p->key = find_key(keys, ELEMENTSOF(keys), s, len);
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
	.yajl_end_map = on_yajl_end_map,
	.yajl_start_array = on_yajl_start_array,
	.yajl_end_array = on_yajl_end_array,
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
	p->in_data = p->in_doc = false;
	p->failed = false;
	p->error[0] = '\0';
	p->arena_used = 0;
	p->handle = yajl_alloc(&callbacks, &afs, p);
	return p->handle ? 0 : -ENOMEM;
}

int response_parser_feed(struct response_parser *p, const void *buf, size_t len)
{
	return json_feed(p->handle, &p->failed, p->error, sizeof(p->error), buf, len);
}

int response_parser_complete(struct response_parser *p)
{
	return json_complete(p->handle, &p->failed, p->error, sizeof(p->error));
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
