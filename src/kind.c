/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "dify.h"
#include "hashmap.h"
#include "kind.h"
#include "response.h"
#include "string-util.h"
#include "userkind.h"
#include "uuid-util.h"

static const char *const job_action_table[_JOB_ACTION_MAX] = {
	[JOB_ACTION_ENABLE] = "enable",
	[JOB_ACTION_DISABLE] = "disable",
};

const char *job_action_to_string(enum job_action v)
{
	return string_table_name(job_action_table, ELEMENTSOF(job_action_table), (int)v);
}

int job_action_from_string(const char *s)
{
	return string_table_value(job_action_table, ELEMENTSOF(job_action_table), s);
}

static const char *const field_key_table[_KIND_FIELD_MAX] = {
	[KIND_FIELD_JOB_ID] = "JobID",
	[KIND_FIELD_ACTION] = "Action",
	[KIND_FIELD_DATASET] = "Dataset",
	[KIND_FIELD_BATCH] = "Batch",
};

const char *kind_field_key(enum kind_field f)
{
	return string_table_name(field_key_table, ELEMENTSOF(field_key_table), (int)f);
}

const char *kind_field_expected(enum kind_field f)
{
	switch (f) {
	case KIND_FIELD_JOB_ID:
	case KIND_FIELD_DATASET:
		return "a UUID such as '3c90c3cc-0d44-4b50-8888-8dd25736052a'";
	case KIND_FIELD_ACTION:
		return "'enable' or 'disable'";
	case KIND_FIELD_BATCH:
		return "Dify's batch id of 20 digits (UTC time as %Y%m%d%H%M%S and 6 more) such as '" KIND_BATCH_EXAMPLE
		       "'";
	default:
		return "a valid value";
	}
}

/* --- the answer of each kind --- */

/* The verdict of a status word by the kind's lists, as for a [Kind:]
 * section: a word in none is not terminal and said once (status_known). */
static enum kind_verdict read_word(const struct kind *k, const char *word, struct poll_result *ret)
{
	ret->status_text = word;
	switch (kind_classify_word(k, word)) {
	case KINDDEF_CLASS_COMPLETED:
		ret->status_known = true;
		return KIND_VERDICT_COMPLETED;
	case KINDDEF_CLASS_FAILED:
		ret->status_known = true;
		return KIND_VERDICT_ERROR;
	case KINDDEF_CLASS_RUNNING:
		ret->status_known = true;
		return KIND_VERDICT_RUNNING;
	default:
		ret->status_known = false;
		return KIND_VERDICT_RUNNING;
	}
}

static enum kind_verdict read_annotation(const struct response *r, const char *expected_id,
					 struct poll_result *ret)
{
	if (r->bad_shape || !r->has_job_status) {
		return KIND_VERDICT_BAD;
	}
	/* an answer about another job (a mixed-up cache or proxy) says nothing
	 * about ours */
	if (expected_id && r->has_job_id && strcasecmp(r->job_id, expected_id) != 0) {
		return KIND_VERDICT_BAD;
	}
	ret->status = dify_status_from_string(r->job_status);
	ret->error_msg = r->has_error_msg ? r->error_msg : "";
	return read_word(kind_get(KIND_ANNOTATION_REPLY), r->job_status, ret);
}

static enum kind_verdict read_workflow(const struct response *r, const char *expected_id,
				       struct poll_result *ret)
{
	if (r->status_bad_shape || !r->has_status_text) {
		return KIND_VERDICT_BAD;
	}
	if (expected_id && r->has_id && strcasecmp(r->id, expected_id) != 0) {
		return KIND_VERDICT_BAD;
	}
	ret->error_msg = r->has_error ? r->error : "";
	return read_word(kind_get(KIND_WORKFLOW_RUN), r->status_text, ret);
}

/*
 * The batch ends when every document is completed or error (DIFY.md, kind 2).
 * paused is not an end: a person paused it and may resume it. An empty data
 * array is not an end either: Dify answers 404 "Documents not found." for a
 * batch without documents, so an empty list is not Dify's word on this batch
 * (a proxy, a half-written answer); "every document completed" would hold of
 * nothing and report success for work never seen. It is an unknown status,
 * said once, and the job's deadline ends it.
 *
 * The remote status of a batch: "completed" or "error" when it ended;
 * otherwise the least advanced status any document has, in the order of
 * response_doc_status (waiting first), or the first unknown word seen.
 */
static enum kind_verdict read_indexing(const struct response *r, const char *expected_id,
				       struct poll_result *ret)
{
	const struct response_documents *d = &r->documents;

	if (d->bad_shape || !d->has_data) {
		return KIND_VERDICT_BAD;
	}
	ret->documents = d;
	if (d->total == 0) {
		return KIND_VERDICT_RUNNING;
	}
	uint32_t completed = d->count[RESPONSE_DOC_COMPLETED],
		 failed = d->count[RESPONSE_DOC_ERROR];
	if (completed == d->total) {
		ret->status_text = "completed";
		ret->status_known = true;
		return KIND_VERDICT_COMPLETED;
	}
	if (completed + failed == d->total) {
		ret->status_text = "error";
		ret->status_known = true;
		ret->error_msg = d->failed;
		return KIND_VERDICT_ERROR;
	}
	if (d->count[RESPONSE_DOC_OTHER] > 0) {
		ret->status_text = d->other_status;
		return KIND_VERDICT_RUNNING;
	}
	for (int s = 0; s < RESPONSE_DOC_COMPLETED; s++) {
		if (d->count[s] > 0) {
			ret->status_text = response_doc_status_to_string(s);
			break;
		}
	}
	ret->status_known = true;
	return KIND_VERDICT_RUNNING;
}

/* --- the table --- */

static const char *const annotation_gone[] = { "The job does not exist.", NULL };
static const char *const indexing_gone[] = { "Documents not found.", "Dataset not found.", NULL };
static const char *const workflow_gone[] = { "Workflow run not found.", NULL };

/* DIFY.md, kind 1: waiting goes on; "processing" is in no list (no Dify
 * release writes it): unknown, not terminal. */
static const char *const annotation_completed[] = { "completed", NULL };
static const char *const annotation_failed[] = { "error", NULL };
static const char *const annotation_running[] = { "waiting", NULL };
/* DIFY.md, kind 3: running and paused (waiting for human input) go on. */
static const char *const workflow_completed[] = { "succeeded", "partial-succeeded", NULL };
static const char *const workflow_failed[] = { "failed", "stopped", NULL };
static const char *const workflow_running[] = { "running", "paused", NULL };

static const struct kind kind_table[_KIND_TYPE_MAX] = {
	[KIND_ANNOTATION_REPLY] = {
		.name = "annotation-reply",
		.words = {
			[KINDDEF_COMPLETED] = annotation_completed,
			[KINDDEF_FAILED] = annotation_failed,
			[KINDDEF_RUNNING] = annotation_running,
		},
		.fields = KIND_FIELD_BIT(KIND_FIELD_JOB_ID) | KIND_FIELD_BIT(KIND_FIELD_ACTION),
		.id_field = KIND_FIELD_JOB_ID,
		.status_path = "/apps/annotation-reply/{action}/status/{id}",
		/* 400 invalid_param in every release, 404 not_found in the next */
		.gone_http_codes = { 400, 404 },
		.gone_messages = annotation_gone,
		.read_answer = read_annotation,
	},
	[KIND_DOCUMENT_INDEXING] = {
		.name = "document-indexing",
		.fields = KIND_FIELD_BIT(KIND_FIELD_DATASET) | KIND_FIELD_BIT(KIND_FIELD_BATCH),
		.id_field = KIND_FIELD_BATCH,
		.status_path = "/datasets/{dataset}/documents/{batch}/indexing-status",
		.gone_http_codes = { 404, 0 },
		.gone_messages = indexing_gone,
		.read_answer = read_indexing,
	},
	[KIND_WORKFLOW_RUN] = {
		.name = "workflow-run",
		.words = {
			[KINDDEF_COMPLETED] = workflow_completed,
			[KINDDEF_FAILED] = workflow_failed,
			[KINDDEF_RUNNING] = workflow_running,
		},
		.fields = KIND_FIELD_BIT(KIND_FIELD_JOB_ID),
		.id_field = KIND_FIELD_JOB_ID,
		.status_path = "/workflows/run/{id}",
		.gone_http_codes = { 404, 0 },
		.gone_messages = workflow_gone,
		.read_answer = read_workflow,
	},
};

const struct kind *kind_get(enum kind_type t)
{
	return (unsigned)t < _KIND_TYPE_MAX ? &kind_table[t] : NULL;
}

const char *kind_type_to_string(enum kind_type t)
{
	return (unsigned)t < _KIND_TYPE_MAX ? kind_table[t].name : NULL;
}

enum kinddef_class kind_classify_word(const struct kind *k, const char *word)
{
	size_t n[_KINDDEF_LIST_MAX] = {};

	for (int i = 0; i < _KINDDEF_LIST_MAX; i++) {
		while (k->words[i] && k->words[i][n[i]]) {
			n[i]++;
		}
	}
	return kinddef_classify_lists(k->words, n, word);
}

char *kind_type_names(char buf[static KIND_TYPE_NAMES_MAX])
{
	size_t n = 0;

	buf[0] = '\0';
	for (int t = 0; t < _KIND_TYPE_MAX; t++) {
		int k = snprintf(buf + n, KIND_TYPE_NAMES_MAX - n, "%s%s", t > 0 ? ", " : "",
				 kind_table[t].name);
		if (k < 0 || (size_t)k >= KIND_TYPE_NAMES_MAX - n) {
			break;
		}
		n += (size_t)k;
	}
	return buf;
}

int kind_type_from_string(const char *s)
{
	for (int t = 0; s && t < _KIND_TYPE_MAX; t++) {
		if (streq(kind_table[t].name, s)) {
			return t;
		}
	}
	return -EINVAL;
}

/* --- fields --- */

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* 14 digits of a UTC time %Y%m%d%H%M%S, then 6 random digits (Dify's
 * DocumentService: time.strftime + random.randint(100000, 999999)). Only the
 * form is checked: a batch id is Dify's, not ours to second-guess. */
static int batch_pack(const char *s, uint8_t ret[static 16])
{
	uint8_t id[16] = {};

	if (!s || strlen(s) != KIND_BATCH_DIGITS) {
		return -EINVAL;
	}
	for (size_t i = 0; i < KIND_BATCH_DIGITS; i++) {
		if (!is_digit(s[i])) {
			return -EINVAL;
		}
		id[i / 2] |= (uint8_t)((s[i] - '0') << (i % 2 ? 0 : 4));
	}
	memcpy(ret, id, sizeof(id));
	return 0;
}

static char *batch_unpack(const uint8_t id[static 16], char buf[static KIND_ID_STRING_MAX])
{
	for (size_t i = 0; i < KIND_BATCH_DIGITS; i++) {
		unsigned d = i % 2 ? id[i / 2] & 15U : id[i / 2] >> 4;
		if (d > 9) {
			return NULL;
		}
		buf[i] = (char)('0' + d);
	}
	buf[KIND_BATCH_DIGITS] = '\0';
	return buf;
}

int kind_field_parse(enum kind_field f, const char *value, struct kind_ident *ident)
{
	int a;

	switch (f) {
	case KIND_FIELD_JOB_ID:
		return uuid_from_string(value, ident->id);
	case KIND_FIELD_DATASET:
		return uuid_from_string(value, ident->dataset);
	case KIND_FIELD_BATCH:
		return batch_pack(value, ident->id);
	case KIND_FIELD_ACTION:
		a = job_action_from_string(value);
		if (a < 0) {
			return -EINVAL;
		}
		ident->action = (uint8_t)a;
		return 0;
	default:
		return -EINVAL;
	}
}

char *kind_field_to_string(const struct kind_ident *ident, enum kind_field f,
			   char buf[static KIND_ID_STRING_MAX])
{
	const char *s;

	switch (f) {
	case KIND_FIELD_JOB_ID:
		return uuid_to_string(ident->id, buf);
	case KIND_FIELD_DATASET:
		return uuid_to_string(ident->dataset, buf);
	case KIND_FIELD_BATCH:
		return batch_unpack(ident->id, buf);
	case KIND_FIELD_ACTION:
		s = job_action_to_string(ident->action);
		if (!s) {
			return NULL;
		}
		snprintf(buf, KIND_ID_STRING_MAX, "%s", s);
		return buf;
	default:
		return NULL;
	}
}

char *kind_ident_id_string(const struct kind_ident *ident, char buf[static KIND_ID_STRING_MAX])
{
	const struct kind *k = kind_get(ident->kind);

	if (ident->kind == KIND_USER) {
		return ident->user ? userkind_text_id(ident->user, buf) : NULL;
	}
	return k ? kind_field_to_string(ident, k->id_field, buf) : NULL;
}

const char *kind_ident_kind_name(const struct kind_ident *ident, char buf[static KIND_NAME_MAX])
{
	if (ident->kind == KIND_USER) {
		return ident->user ? userkind_text_name(ident->user, buf) : NULL;
	}
	return kind_type_to_string(ident->kind);
}

/* --- paths --- */

int kind_url_escape(const char *s, char *buf, size_t size)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = 0;

	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		bool keep = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
			    is_digit((char)*c) || *c == '-' || *c == '.' || *c == '_' || *c == '~';
		size_t need = keep ? 1 : 3;
		if (n + need >= size) {
			return -ENOBUFS;
		}
		if (keep) {
			buf[n++] = (char)*c;
		} else {
			buf[n++] = '%';
			buf[n++] = hex[*c >> 4];
			buf[n++] = hex[*c & 15];
		}
	}
	if (size == 0) {
		return -ENOBUFS;
	}
	buf[n] = '\0';
	return (int)n;
}

/* "{name}" at s (s[0] is '{'): the field, or -1. */
static int template_field(const char *s, size_t *ret_len)
{
	static const char *const names[_KIND_FIELD_MAX] = {
		[KIND_FIELD_JOB_ID] = "{id}",
		[KIND_FIELD_ACTION] = "{action}",
		[KIND_FIELD_DATASET] = "{dataset}",
		[KIND_FIELD_BATCH] = "{batch}",
	};
	for (int f = 0; f < _KIND_FIELD_MAX; f++) {
		size_t n = strlen(names[f]);
		if (strncmp(s, names[f], n) == 0) {
			*ret_len = n;
			return f;
		}
	}
	return -1;
}

int kind_status_path(const struct kind_ident *ident, char *buf, size_t size)
{
	const struct kind *k = kind_get(ident->kind);
	size_t n = 0;

	if (!k) {
		return -EINVAL;
	}
	for (const char *t = k->status_path; *t;) {
		size_t flen;
		int f = *t == '{' ? template_field(t, &flen) : -1;

		if (f < 0) {
			if (n + 1 >= size) {
				return -ENOBUFS;
			}
			buf[n++] = *t++;
			continue;
		}
		/* A field of another kind in its template is a bug of the table. */
		assert(k->fields & KIND_FIELD_BIT(f));
		char text[KIND_ID_STRING_MAX];
		if (!kind_field_to_string(ident, (enum kind_field)f, text)) {
			return -EINVAL;
		}
		int r = kind_url_escape(text, buf + n, size - n);
		if (r < 0) {
			return r;
		}
		n += (size_t)r;
		t += flen;
	}
	if (n >= size) {
		return -ENOBUFS;
	}
	buf[n] = '\0';
	return (int)n;
}

int kind_status_url(const char *base, const struct kind_ident *ident, char *buf, size_t size)
{
	size_t n = strlen(base);

	if (n >= size) {
		return -ENOBUFS;
	}
	int r = kind_status_path(ident, buf + n, size - n);
	if (r < 0) {
		return r;
	}
	memcpy(buf, base, n);
	return (int)n + r;
}

/* --- identity --- */

bool kind_ident_equal(const struct kind_ident *a, const struct kind_ident *b)
{
	if (a->kind == KIND_USER || b->kind == KIND_USER) {
		return a->kind == b->kind && a->user && b->user && streq(a->user, b->user);
	}
	return a->kind == b->kind && a->action == b->action &&
	       memcmp(a->id, b->id, sizeof(a->id)) == 0 &&
	       memcmp(a->dataset, b->dataset, sizeof(a->dataset)) == 0;
}

uint64_t kind_ident_hash(const struct kind_ident *ident, uint64_t seed)
{
	uint8_t key[2 + sizeof(ident->id) + sizeof(ident->dataset)];

	if (ident->kind == KIND_USER) {
		/* the seed differs from a built-in ident's by the kind */
		const char *text = strempty(ident->user);
		return hash_bytes(text, strlen(text), seed ^ KIND_USER);
	}

	/* field by field: the struct's padding (none today) must not count */
	key[0] = ident->kind;
	key[1] = ident->action;
	memcpy(key + 2, ident->id, sizeof(ident->id));
	memcpy(key + 2 + sizeof(ident->id), ident->dataset, sizeof(ident->dataset));
	return hash_bytes(key, sizeof(key), seed);
}

/* --- "does not exist" --- */

bool kind_is_gone_message(const struct kind *k, long http_code, const char *message)
{
	bool code_ok = false;

	if (!k || !message) {
		return false;
	}
	for (size_t i = 0; i < ELEMENTSOF(k->gone_http_codes); i++) {
		code_ok |= k->gone_http_codes[i] != 0 && k->gone_http_codes[i] == http_code;
	}
	if (!code_ok) {
		return false;
	}
	for (const char *const *m = k->gone_messages; m && *m; m++) {
		if (strncmp(message, *m, strlen(*m)) == 0) {
			return true;
		}
	}
	return false;
}
