/* SPDX-License-Identifier: MIT */
/*
 * The first input byte chooses how the rest (the body) is cut into chunks; the
 * body is parsed whole with response_parse() and in chunks with
 * response_parser_*(), and both results must agree. yajl's tree parser is the
 * reference for what the top-level keys hold. Each result then goes through
 * dify_classify_kind() for every kind (kind.h) under a few HTTP codes, and the
 * classification through job_track_apply().
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_tree.h>

#include "backoff.h"
#include "dify.h"
#include "job.h"
#include "kind.h"
#include "response.h"
#include "string-util.h"
#include "test-helpers.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Byte-by-byte feeding costs O(n^2) in yajl for long tokens; keep it to small bodies. */
#define BYTEWISE_MAX 4096

/* A string field is terminated within its array and is whole UTF-8 (yajl
 * validates strings; we only cut on character boundaries). */
static void check_field(const char *s, size_t cap)
{
	CHECK(strnlen(s, cap) < cap);
	CHECK(test_utf8_valid(s));
}

static void check_response(const struct response *r, int rc, const char *error)
{
	check_field(r->job_id, sizeof(r->job_id));
	check_field(r->job_status, sizeof(r->job_status));
	check_field(r->code, sizeof(r->code));
	check_field(r->message, sizeof(r->message));
	check_field(r->error_msg, sizeof(r->error_msg));
	check_field(r->id, sizeof(r->id));
	check_field(r->status_text, sizeof(r->status_text));
	check_field(r->error, sizeof(r->error));
	check_field(r->documents.other_status, sizeof(r->documents.other_status));
	check_field(r->documents.failed, sizeof(r->documents.failed));

	const struct response_documents *d = &r->documents;
	uint64_t counted = 0;
	for (size_t i = 0; i < _RESPONSE_DOC_STATUS_MAX; i++) {
		counted += d->count[i];
	}
	/* a document without a status is in total only, and makes the shape bad */
	CHECK(counted <= d->total);
	CHECK(counted == d->total || d->bad_shape);
	CHECK((d->other_status[0] != '\0') == (d->count[RESPONSE_DOC_OTHER] > 0));
	CHECK((d->failed[0] != '\0') == (d->count[RESPONSE_DOC_ERROR] > 0));
	if (d->failed_truncated) {
		size_t n = strlen(d->failed);
		CHECK(n >= 3 && memcmp(d->failed + n - 3, "\xe2\x80\xa6", 3) == 0);
	}
	if (!d->has_data) {
		CHECK(d->total == 0 && counted == 0);
	}
	if (r->has_status_text) {
		CHECK(!r->status_bad_shape);
	} else {
		CHECK(r->status_text[0] == '\0');
	}

	CHECK(rc == 0 || rc == -EBADMSG);
	if (rc < 0) {
		CHECK(error[0] != '\0');
	} else {
		CHECK(error[0] == '\0');
	}
	CHECK(!strchr(error, '\n'));

	if (!r->is_object) {
		CHECK(!r->bad_shape);
		CHECK(!r->has_job_id && !r->has_job_status && !r->has_error_msg);
		CHECK(!r->has_code && !r->has_message && !r->has_status);
		CHECK(!r->has_id && !r->has_status_text && !r->has_error && !r->status_bad_shape);
		CHECK(!r->documents.has_data && !r->documents.bad_shape && r->documents.total == 0);
	}
	if (!r->has_status) {
		CHECK(r->status == 0);
	}
	if (r->error_msg_truncated) {
		size_t n = strlen(r->error_msg);
		CHECK(r->has_error_msg);
		/* cut at most three bytes back, then the ellipsis */
		CHECK(n >= RESPONSE_ERROR_MAX - 4 && n <= RESPONSE_ERROR_MAX - 1);
		CHECK(memcmp(r->error_msg + n - 3, "\xe2\x80\xa6", 3) == 0);
	}
	if (!r->has_error_msg) {
		CHECK(r->error_msg[0] == '\0');
	}
	if (!r->has_code) {
		CHECK(r->code[0] == '\0');
	}
	if (!r->has_message) {
		CHECK(r->message[0] == '\0');
	}
}

static int parse_chunked(const uint8_t *body, size_t len, const size_t *cuts, size_t n_cuts,
			 struct response *ret, char *error, size_t error_size)
{
	struct response_parser *p = calloc(1, sizeof(*p));
	size_t prev = 0;
	int r = 0;

	if (!p) {
		return -ENOMEM;
	}
	if (response_parser_begin(p) < 0) {
		free(p);
		return -ENOMEM;
	}
	for (size_t i = 0; i <= n_cuts; i++) {
		size_t end = i < n_cuts ? cuts[i] : len;
		int rr = response_parser_feed(p, body + prev, end - prev);
		CHECK(rr == 0 || rr == -EBADMSG);
		CHECK(r == 0 || rr == -EBADMSG); /* a failure sticks */
		r = rr;
		prev = end;
	}
	int rf = response_parser_complete(p);
	CHECK(r == 0 || rf == -EBADMSG);
	snprintf(error, error_size, "%s", rf < 0 ? p->error : "");
	*ret = p->result;
	response_parser_done(p);
	free(p);
	return rf;
}

/* The last top-level member named key of object v, and how many there are. */
static yajl_val tree_member(yajl_val v, const char *key, size_t *count)
{
	yajl_val found = NULL;

	*count = 0;
	for (size_t i = 0; i < YAJL_GET_OBJECT(v)->len; i++) {
		if (streq(YAJL_GET_OBJECT(v)->keys[i], key)) {
			found = YAJL_GET_OBJECT(v)->values[i];
			(*count)++;
		}
	}
	return found;
}

/* The documents of "data" as the tree sees them: counted alike. */
static void check_data_against_tree(yajl_val data, size_t n, const struct response_documents *d)
{
	if (n == 0) {
		CHECK(!d->has_data && !d->bad_shape);
		return;
	}
	if (n != 1) {
		return;
	}
	if (!YAJL_IS_ARRAY(data)) {
		CHECK(!d->has_data && d->bad_shape);
		return;
	}
	CHECK(d->has_data);
	uint32_t completed = 0, failed = 0, objects = 0;
	bool usable = true;
	for (size_t i = 0; i < YAJL_GET_ARRAY(data)->len; i++) {
		yajl_val doc = YAJL_GET_ARRAY(data)->values[i];
		size_t k;

		objects += YAJL_IS_OBJECT(doc);
		const char *s = YAJL_IS_OBJECT(doc)
					? YAJL_GET_STRING(tree_member(doc, "indexing_status", &k))
					: NULL;
		if (!s || k != 1 || strlen(s) >= RESPONSE_SHORT_MAX) {
			usable = false;
			continue;
		}
		completed += streq(s, "completed");
		failed += streq(s, "error");
	}
	/* total counts the objects: any other element makes the shape bad */
	CHECK(d->total == objects);
	CHECK(objects == YAJL_GET_ARRAY(data)->len || d->bad_shape);
	if (usable) {
		CHECK(!d->bad_shape);
		CHECK(d->count[RESPONSE_DOC_COMPLETED] == completed);
		CHECK(d->count[RESPONSE_DOC_ERROR] == failed);
	}
}

/* Compare with yajl's tree parser. It allows comments, wants a NUL-terminated
 * text, and cuts keys and strings at an embedded NUL (raw or \u0000), so it is a reference only for
 * bodies that avoid those. */
static void check_against_tree(const uint8_t *body, size_t len, const struct response *r, int rc)
{
	char err[128];
	char *text;
	yajl_val v;

	if (memchr(body, '\0', len) || memchr(body, '/', len) || memmem(body, len, "\\u0000", 6) ||
	    len > 16384) {
		return;
	}
	text = malloc(len + 1);
	if (!text) {
		return;
	}
	memcpy(text, body, len);
	text[len] = '\0';
	v = yajl_tree_parse(text, err, sizeof(err));
	CHECK((v != NULL) == (rc == 0));
	if (v) {
		CHECK(YAJL_IS_OBJECT(v) == r->is_object);
	}
	if (v && YAJL_IS_OBJECT(v)) {
		size_t n;
		yajl_val js = tree_member(v, "job_status", &n);
		const char *s = YAJL_GET_STRING(js);

		/* one string job_status, short and without NUL: it is the status */
		if (n == 1 && s && strlen(s) < RESPONSE_SHORT_MAX) {
			CHECK(r->has_job_status);
			CHECK(streq(r->job_status, s));
		}
		if (n == 0) {
			CHECK(!r->has_job_status);
		}
		if (n == 1 && !YAJL_IS_STRING(js)) {
			CHECK(!r->has_job_status);
			CHECK(r->bad_shape);
		}

		s = YAJL_GET_STRING(tree_member(v, "message", &n));
		if (n == 1 && s && strlen(s) < RESPONSE_MESSAGE_MAX) {
			CHECK(r->has_message);
			CHECK(streq(r->message, s));
		}
		if (n == 0) {
			CHECK(!r->has_message);
		}

		s = YAJL_GET_STRING(tree_member(v, "error_msg", &n));
		if (n == 1 && s) {
			CHECK(r->has_error_msg);
			CHECK(r->error_msg_truncated == (strlen(s) >= RESPONSE_ERROR_MAX));
			if (!r->error_msg_truncated) {
				CHECK(streq(r->error_msg, s));
			}
		}

		yajl_val st = tree_member(v, "status", &n);
		if (n == 1 && YAJL_IS_INTEGER(st) && r->has_status) {
			CHECK(r->status == YAJL_GET_INTEGER(st));
		}
		if (n == 0) {
			CHECK(!r->has_status);
			CHECK(!r->has_status_text);
		}
		s = YAJL_GET_STRING(st);
		if (n == 1 && s && strlen(s) < RESPONSE_SHORT_MAX) {
			CHECK(r->has_status_text);
			CHECK(streq(r->status_text, s));
		}
		if (n == 1 && !YAJL_IS_STRING(st)) {
			CHECK(!r->has_status_text);
		}

		yajl_val data = tree_member(v, "data", &n);
		check_data_against_tree(data, n, &r->documents);
	}
	yajl_tree_free(v);
	free(text);
}

/* One kind's classification of every code and transfer, and what
 * job_track_apply() makes of it. */
static void check_classify_kind(enum kind_type kt, const struct response *r, bool ok,
				uint64_t retry_after_s)
{
	static const long codes[] = { 200, 400, 401, 403, 404, 429, 500, 503, 302, 0 };
	static const enum transfer_error transfers[] = { TRANSFER_OK, TRANSFER_TOO_LARGE,
							 TRANSFER_RESET };
	const struct kind *k = kind_get(kt);

	for (size_t t = 0; t < ELEMENTSOF(transfers); t++) {
		for (size_t c = 0; c < ELEMENTSOF(codes); c++) {
			struct poll_result pr;
			long code = codes[c];

			dify_classify_kind(k, transfers[t], code, r, ok, retry_after_s, NULL, &pr);
			CHECK((unsigned)pr.kind < _POLL_KIND_MAX);
			CHECK(pr.http_code == code);
			CHECK(pr.transfer == transfers[t]);
			CHECK(pr.status_text && pr.error_msg);
			CHECK(pr.retry_after_usec <= BACKOFF_RETRY_AFTER_MAX_USEC);
			if (pr.retry_after_usec > 0) {
				CHECK(code == 429 || code == 503);
				CHECK(pr.kind == POLL_RATE_LIMITED || pr.kind == POLL_UNAVAILABLE);
			}
			if (transfers[t] != TRANSFER_OK || code == 0) {
				CHECK(pr.kind == POLL_TRANSFER || pr.kind == POLL_BAD_BODY);
				continue;
			}
			if (pr.kind == POLL_STATUS) {
				CHECK(code == 200 && ok && r->is_object);
				CHECK(pr.verdict == KIND_VERDICT_RUNNING ||
				      pr.verdict == KIND_VERDICT_COMPLETED ||
				      pr.verdict == KIND_VERDICT_ERROR);
			} else {
				CHECK(pr.status == DIFY_STATUS_OTHER);
				CHECK(pr.verdict == KIND_VERDICT_RUNNING);
				CHECK(pr.error_msg[0] == '\0' && pr.status_text[0] == '\0');
				CHECK(!pr.documents);
			}
			if (pr.kind == POLL_STATUS && kt == KIND_ANNOTATION_REPLY) {
				CHECK(!r->bad_shape && r->has_job_status);
				CHECK(pr.status_text == r->job_status);
				CHECK(pr.status == dify_status_from_string(r->job_status));
				CHECK(pr.verdict ==
				      (pr.status == DIFY_STATUS_COMPLETED ? KIND_VERDICT_COMPLETED
				       : pr.status == DIFY_STATUS_ERROR	  ? KIND_VERDICT_ERROR
									  : KIND_VERDICT_RUNNING));
				if (r->has_error_msg) {
					CHECK(pr.error_msg == r->error_msg);
				} else {
					CHECK(pr.error_msg[0] == '\0');
				}
			}
			if (pr.kind == POLL_STATUS && kt == KIND_WORKFLOW_RUN) {
				CHECK(r->has_status_text && pr.status_text == r->status_text);
				CHECK(pr.verdict != KIND_VERDICT_COMPLETED ||
				      streq(r->status_text, "succeeded") ||
				      streq(r->status_text, "partial-succeeded"));
				CHECK(pr.verdict != KIND_VERDICT_ERROR ||
				      streq(r->status_text, "failed") ||
				      streq(r->status_text, "stopped"));
			}
			if (pr.kind == POLL_STATUS && kt == KIND_DOCUMENT_INDEXING) {
				const struct response_documents *d = pr.documents;
				CHECK(d == &r->documents && d->has_data && !d->bad_shape);
				uint32_t done = d->count[RESPONSE_DOC_COMPLETED] +
						d->count[RESPONSE_DOC_ERROR];
				if (pr.verdict == KIND_VERDICT_COMPLETED) {
					CHECK(d->total > 0 &&
					      d->count[RESPONSE_DOC_COMPLETED] == d->total);
				} else if (pr.verdict == KIND_VERDICT_ERROR) {
					CHECK(d->total > 0 && done == d->total);
					CHECK(d->count[RESPONSE_DOC_ERROR] > 0);
					CHECK(pr.error_msg == d->failed && d->failed[0] != '\0');
				} else {
					CHECK(d->total == 0 || done < d->total);
				}
			}
			if (code == 200) {
				CHECK(pr.kind == POLL_STATUS || pr.kind == POLL_BAD_BODY);
			}
			if (pr.kind == POLL_GONE) {
				CHECK(code == 400 || code == 404);
				CHECK(ok && r->is_object && r->has_message);
				CHECK(kind_is_gone_message(k, code, r->message));
			}
			if (code == 404 && pr.kind != POLL_GONE) {
				CHECK(pr.kind == POLL_HTTP_ERROR);
			}
			if (code == 401 || code == 403) {
				CHECK(pr.kind == POLL_AUTH);
			}

			/* three answers in a row: gone ends the job, trouble never does */
			struct job_track tr = {};
			enum job_outcome o = JOB_OUTCOME_NONE;
			for (int i = 0; i < JOB_GONE_LIMIT; i++) {
				o = job_track_apply(&tr, &pr);
			}
			if (pr.kind == POLL_GONE) {
				CHECK(o == JOB_OUTCOME_UNKNOWN);
			} else if (pr.kind == POLL_STATUS) {
				CHECK(o == (pr.verdict == KIND_VERDICT_COMPLETED
						    ? JOB_OUTCOME_COMPLETED
					    : pr.verdict == KIND_VERDICT_ERROR ? JOB_OUTCOME_ERROR
									       : JOB_OUTCOME_NONE));
				CHECK(tr.seen_alive && tr.gone_count == 0);
			} else {
				CHECK(o == JOB_OUTCOME_NONE);
				CHECK(!tr.seen_alive && tr.gone_count == 0);
			}
		}
	}
}

static void check_classify(const struct response *r, bool ok, uint64_t retry_after_s)
{
	for (int t = 0; t < _KIND_TYPE_MAX; t++) {
		check_classify_kind(t, r, ok, retry_after_s);
	}

	/* dify_classify() is annotation-reply's */
	struct poll_result a, b;
	dify_classify(TRANSFER_OK, 200, r, ok, retry_after_s, NULL, &a);
	dify_classify_kind(kind_get(KIND_ANNOTATION_REPLY), TRANSFER_OK, 200, r, ok, retry_after_s,
			   NULL, &b);
	/* field by field: padding is not part of the result */
	CHECK(a.kind == b.kind && a.transfer == b.transfer && a.http_code == b.http_code);
	CHECK(a.status == b.status && a.verdict == b.verdict && a.status_known == b.status_known);
	CHECK(a.status_text == b.status_text && a.error_msg == b.error_msg);
	CHECK(a.retry_after_usec == b.retry_after_usec && a.job_fault == b.job_fault);
	CHECK(a.documents == b.documents);
}

static void compare(const struct response *a, int ra, const struct response *b, int rb)
{
	CHECK(ra == rb);
	CHECK(memcmp(a, b, sizeof(*a)) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct response whole, part;
	char error[160], error2[160];
	uint8_t *body;
	size_t len, n_cuts;
	size_t cuts[16];
	int rw, rp;

	if (size < 1) {
		return 0;
	}
	len = size - 1;
	/* A copy of exactly len bytes, so that ASan catches over-reads. */
	body = malloc(len > 0 ? len : 1);
	if (!body) {
		return 0;
	}
	memcpy(body, data + 1, len);

	rw = response_parse(body, len, &whole, error, sizeof(error));
	if (rw == -ENOMEM) {
		free(body);
		return 0;
	}
	check_response(&whole, rw, error);

	/* 1..16 chunks, at cut points spread by a small generator */
	n_cuts = data[0] & 0x0f;
	uint32_t x = data[0] * 2654435761u + (uint32_t)len;
	for (size_t i = 0; i < n_cuts; i++) {
		x = x * 1103515245u + 12345u;
		cuts[i] = len ? (x >> 8) % (len + 1) : 0;
	}
	for (size_t i = 1; i < n_cuts; i++) { /* insertion sort */
		for (size_t j = i; j > 0 && cuts[j - 1] > cuts[j]; j--) {
			size_t t = cuts[j];
			cuts[j] = cuts[j - 1];
			cuts[j - 1] = t;
		}
	}
	rp = parse_chunked(body, len, cuts, n_cuts, &part, error2, sizeof(error2));
	if (rp != -ENOMEM) {
		check_response(&part, rp, error2);
		compare(&whole, rw, &part, rp);
	}

	/* and byte by byte */
	if ((data[0] & 0x10) && len <= BYTEWISE_MAX) {
		struct response_parser *p = calloc(1, sizeof(*p));
		if (p && response_parser_begin(p) == 0) {
			for (size_t i = 0; i < len; i++) {
				(void)response_parser_feed(p, body + i, 1);
			}
			rp = response_parser_complete(p);
			compare(&whole, rw, &p->result, rp);
		}
		if (p) {
			response_parser_done(p);
		}
		free(p);
	}

	/* with a secret: no kept string holds it, however it was cut (its
	 * letters are not in the marker, so no replacement can form it) */
	if (data[0] & 0x20) {
		struct response_parser *p = calloc(1, sizeof(*p));
		if (p && response_parser_begin(p) == 0) {
			p->secret = "Xq";
			(void)response_parser_feed(p, body, len);
			(void)response_parser_complete(p);
			CHECK(!strstr(p->result.job_id, "Xq"));
			CHECK(!strstr(p->result.job_status, "Xq"));
			CHECK(!strstr(p->result.code, "Xq"));
			CHECK(!strstr(p->result.message, "Xq"));
			CHECK(!strstr(p->result.error_msg, "Xq"));
			CHECK(!strstr(p->result.id, "Xq"));
			CHECK(!strstr(p->result.status_text, "Xq"));
			CHECK(!strstr(p->result.error, "Xq"));
			CHECK(!strstr(p->result.documents.other_status, "Xq"));
			CHECK(!strstr(p->result.documents.failed, "Xq"));
		}
		if (p) {
			response_parser_done(p);
		}
		free(p);
	}

	check_against_tree(body, len, &whole, rw);
	check_classify(&whole, rw == 0, (uint64_t)data[0] * 60);

	free(body);
	return 0;
}
