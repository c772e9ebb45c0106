/* SPDX-License-Identifier: MIT */
/*
 * The kind table (kind.h) and the classification of each kind's answers
 * (dify_classify_kind) from bodies shaped as Dify sends them (DIFY.md).
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#include <cmocka.h>

#include "dify.h"
#include "kind.h"
#include "response.h"

#define UUID1 "3c90c3cc-0d44-4b50-8888-8dd25736052a"
#define UUID2 "11111111-2222-4333-8444-555555555555"
#define BATCH "20261202075447123456"
#define ELLIPSIS "\xe2\x80\xa6"

/* --- the table --- */

static void test_table(void **state)
{
	static const char *const names[_KIND_TYPE_MAX] = { "annotation-reply", "document-indexing",
							   "workflow-run" };

	for (int t = 0; t < _KIND_TYPE_MAX; t++) {
		const struct kind *k = kind_get(t);
		assert_non_null(k);
		assert_string_equal(k->name, names[t]);
		assert_string_equal(kind_type_to_string(t), names[t]);
		assert_int_equal(kind_type_from_string(names[t]), t);
		assert_non_null(k->read_answer);
		assert_non_null(k->gone_messages);
		assert_non_null(k->gone_messages[0]);
		assert_true(k->fields & KIND_FIELD_BIT(k->id_field));
		assert_true(k->status_path[0] == '/');
	}
	assert_null(kind_get(_KIND_TYPE_MAX));
	assert_null(kind_get(-1));
	assert_null(kind_type_to_string(_KIND_TYPE_MAX));
	assert_int_equal(kind_type_from_string("Annotation-Reply"), -EINVAL);
	assert_int_equal(kind_type_from_string(""), -EINVAL);
	assert_int_equal(kind_type_from_string(NULL), -EINVAL);
	assert_int_equal(kind_type_from_string("workflow"), -EINVAL);
	/* the default kind is the first: a zeroed ident is an annotation job */
	assert_int_equal(KIND_ANNOTATION_REPLY, 0);
}

/* --- fields --- */

static void test_fields(void **state)
{
	static const struct {
		enum kind_field f;
		const char *value;
		int r;
	} cases[] = {
		{ KIND_FIELD_JOB_ID, UUID1, 0 },
		{ KIND_FIELD_JOB_ID, "3C90C3CC-0D44-4B50-8888-8DD25736052A", 0 },
		{ KIND_FIELD_JOB_ID, BATCH, -EINVAL },
		{ KIND_FIELD_JOB_ID, "", -EINVAL },
		{ KIND_FIELD_DATASET, UUID2, 0 },
		{ KIND_FIELD_DATASET, "3c90c3cc0d444b5088888dd25736052a", -EINVAL },
		{ KIND_FIELD_ACTION, "enable", 0 },
		{ KIND_FIELD_ACTION, "disable", 0 },
		{ KIND_FIELD_ACTION, "Enable", -EINVAL },
		{ KIND_FIELD_ACTION, "", -EINVAL },
		{ KIND_FIELD_BATCH, BATCH, 0 },
		{ KIND_FIELD_BATCH, "00000000000000000000", 0 },
		{ KIND_FIELD_BATCH, "99999999999999999999", 0 },
		/* a batch id is not a UUID */
		{ KIND_FIELD_BATCH, UUID1, -EINVAL },
		{ KIND_FIELD_BATCH, "2026120207544712345", -EINVAL },
		{ KIND_FIELD_BATCH, "202612020754471234567", -EINVAL },
		{ KIND_FIELD_BATCH, "2026120207544712345a", -EINVAL },
		{ KIND_FIELD_BATCH, "+2026120207544712345", -EINVAL },
		{ KIND_FIELD_BATCH, " 20261202075447123456", -EINVAL },
		{ KIND_FIELD_BATCH, "2026120207544712345\xd9", -EINVAL },
		{ KIND_FIELD_BATCH, "", -EINVAL },
		{ _KIND_FIELD_MAX, UUID1, -EINVAL },
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		struct kind_ident id = {};
		char buf[KIND_ID_STRING_MAX];

		assert_int_equal(kind_field_parse(cases[i].f, cases[i].value, &id), cases[i].r);
		if (cases[i].r == 0) {
			/* it reads back, UUIDs in lower case */
			assert_non_null(kind_field_to_string(&id, cases[i].f, buf));
			assert_true(strcasecmp(buf, cases[i].value) == 0);
		} else {
			struct kind_ident zero = {};
			assert_memory_equal(&id, &zero, sizeof(id)); /* nothing half-stored */
		}
	}
	assert_string_equal(kind_field_key(KIND_FIELD_JOB_ID), "JobID");
	assert_string_equal(kind_field_key(KIND_FIELD_ACTION), "Action");
	assert_string_equal(kind_field_key(KIND_FIELD_DATASET), "Dataset");
	assert_string_equal(kind_field_key(KIND_FIELD_BATCH), "Batch");
	assert_null(kind_field_key(_KIND_FIELD_MAX));
	assert_non_null(strstr(kind_field_expected(KIND_FIELD_BATCH), "20 digits"));
}

/* ident of kind t from the text of its fields (NULL: absent). */
static struct kind_ident make_ident(enum kind_type t, const char *id, const char *action,
				    const char *dataset, const char *batch)
{
	struct kind_ident ident = { .kind = (uint8_t)t };

	if (id) {
		assert_int_equal(kind_field_parse(KIND_FIELD_JOB_ID, id, &ident), 0);
	}
	if (action) {
		assert_int_equal(kind_field_parse(KIND_FIELD_ACTION, action, &ident), 0);
	}
	if (dataset) {
		assert_int_equal(kind_field_parse(KIND_FIELD_DATASET, dataset, &ident), 0);
	}
	if (batch) {
		assert_int_equal(kind_field_parse(KIND_FIELD_BATCH, batch, &ident), 0);
	}
	return ident;
}

static void test_status_path(void **state)
{
	const struct {
		struct kind_ident ident;
		const char *path;
	} cases[] = {
		{ make_ident(KIND_ANNOTATION_REPLY, UUID1, "enable", NULL, NULL),
		  "/apps/annotation-reply/enable/status/" UUID1 },
		{ make_ident(KIND_ANNOTATION_REPLY, "3C90C3CC-0D44-4B50-8888-8DD25736052A",
			     "disable", NULL, NULL),
		  "/apps/annotation-reply/disable/status/" UUID1 },
		{ make_ident(KIND_DOCUMENT_INDEXING, NULL, NULL, UUID2, BATCH),
		  "/datasets/" UUID2 "/documents/" BATCH "/indexing-status" },
		{ make_ident(KIND_DOCUMENT_INDEXING, NULL, NULL, UUID2, "00000000000000000001"),
		  "/datasets/" UUID2 "/documents/00000000000000000001/indexing-status" },
		{ make_ident(KIND_WORKFLOW_RUN, UUID2, NULL, NULL, NULL), "/workflows/run/" UUID2 },
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		char buf[256];
		size_t len = strlen(cases[i].path);

		assert_int_equal(kind_status_path(&cases[i].ident, buf, sizeof(buf)), (int)len);
		assert_string_equal(buf, cases[i].path);
		/* every buffer too small is refused, the exact one is not */
		for (size_t size = 0; size <= len; size++) {
			assert_int_equal(kind_status_path(&cases[i].ident, buf, size), -ENOBUFS);
		}
		assert_int_equal(kind_status_path(&cases[i].ident, buf, len + 1), (int)len);
		assert_string_equal(buf, cases[i].path);
		/* ids have a fixed length, "disable" is the longest action */
		assert_true(len < KIND_STATUS_PATH_MAX);

		char url[512], want[512];
		snprintf(want, sizeof(want), "https://api.dify.ai/v1%s", cases[i].path);
		assert_int_equal(kind_status_url("https://api.dify.ai/v1", &cases[i].ident, url,
						 sizeof(url)),
				 (int)strlen(want));
		assert_string_equal(url, want);
		assert_int_equal(kind_status_url("https://api.dify.ai/v1", &cases[i].ident, url,
						 strlen(want)),
				 -ENOBUFS);
	}

	/* idents that are no valid job of their kind */
	char buf[256];
	struct kind_ident bad = make_ident(KIND_ANNOTATION_REPLY, UUID1, NULL, NULL, NULL);
	bad.action = 7;
	assert_int_equal(kind_status_path(&bad, buf, sizeof(buf)), -EINVAL);
	bad = make_ident(KIND_DOCUMENT_INDEXING, NULL, NULL, UUID2, BATCH);
	bad.id[3] = 0xaf; /* not a digit */
	assert_int_equal(kind_status_path(&bad, buf, sizeof(buf)), -EINVAL);
	bad.kind = _KIND_TYPE_MAX;
	assert_int_equal(kind_status_path(&bad, buf, sizeof(buf)), -EINVAL);
}

static void test_url_escape(void **state)
{
	char buf[64];

	assert_int_equal(kind_url_escape("aZ09-._~", buf, sizeof(buf)), 8);
	assert_string_equal(buf, "aZ09-._~");
	assert_int_equal(kind_url_escape("a b/c%?#\xc3\xa9", buf, sizeof(buf)), 24);
	assert_string_equal(buf, "a%20b%2Fc%25%3F%23%C3%A9");
	assert_int_equal(kind_url_escape("", buf, 1), 0);
	assert_string_equal(buf, "");
	assert_int_equal(kind_url_escape("", buf, 0), -ENOBUFS);
	assert_int_equal(kind_url_escape("/", buf, 3), -ENOBUFS);
	assert_int_equal(kind_url_escape("/", buf, 4), 3);
}

static void test_identity(void **state)
{
	struct kind_ident a = make_ident(KIND_ANNOTATION_REPLY, UUID1, "enable", NULL, NULL);
	struct kind_ident b = make_ident(KIND_ANNOTATION_REPLY, UUID1, "enable", NULL, NULL);
	struct kind_ident other[] = {
		make_ident(KIND_ANNOTATION_REPLY, UUID1, "disable", NULL, NULL),
		make_ident(KIND_ANNOTATION_REPLY, UUID2, "enable", NULL, NULL),
		/* the same UUID watched as a workflow run is another job */
		make_ident(KIND_WORKFLOW_RUN, UUID1, NULL, NULL, NULL),
		make_ident(KIND_DOCUMENT_INDEXING, NULL, NULL, UUID1, BATCH),
		make_ident(KIND_DOCUMENT_INDEXING, NULL, NULL, UUID2, BATCH),
		make_ident(KIND_DOCUMENT_INDEXING, NULL, NULL, UUID1, "20261202075447123457"),
	};

	assert_true(kind_ident_equal(&a, &b));
	assert_true(kind_ident_hash(&a, 1) == kind_ident_hash(&b, 1));
	assert_true(kind_ident_hash(&a, 1) != kind_ident_hash(&a, 2));
	for (size_t i = 0; i < ELEMENTSOF(other); i++) {
		assert_false(kind_ident_equal(&a, &other[i]));
		assert_true(kind_ident_hash(&a, 0) != kind_ident_hash(&other[i], 0));
		for (size_t j = 0; j < ELEMENTSOF(other); j++) {
			assert_int_equal(kind_ident_equal(&other[i], &other[j]), i == j);
		}
	}
}

static void test_id_string(void **state)
{
	char buf[KIND_ID_STRING_MAX];
	struct kind_ident a = make_ident(KIND_ANNOTATION_REPLY, UUID1, "disable", NULL, NULL);
	struct kind_ident d = make_ident(KIND_DOCUMENT_INDEXING, NULL, NULL, UUID2, BATCH);
	struct kind_ident w = make_ident(KIND_WORKFLOW_RUN, "11111111-2222-4333-8444-55555555555F",
					 NULL, NULL, NULL);

	assert_string_equal(kind_ident_id_string(&a, buf), UUID1);
	assert_string_equal(kind_ident_id_string(&d, buf), BATCH);
	assert_string_equal(kind_field_to_string(&d, KIND_FIELD_DATASET, buf), UUID2);
	assert_string_equal(kind_ident_id_string(&w, buf), "11111111-2222-4333-8444-55555555555f");
	w.kind = 200;
	assert_null(kind_ident_id_string(&w, buf));
}

/* --- classification --- */

/* Parse body and classify it as kind t's answer with HTTP code. The response
 * is static: the result borrows from it. */
static struct poll_result classify(enum kind_type t, long code, const char *body,
				   const char *expected_id)
{
	static struct response resp;
	struct poll_result r;
	bool ok = false;

	memset(&resp, 0, sizeof(resp));
	if (body) {
		ok = response_parse(body, strlen(body), &resp, NULL, 0) == 0;
	}
	dify_classify_kind(kind_get(t), TRANSFER_OK, code, &resp, ok, 0, expected_id, &r);
	assert_int_equal(r.http_code, code);
	assert_non_null(r.status_text);
	assert_non_null(r.error_msg);
	if (r.kind != POLL_STATUS) {
		/* nothing of a misshapen answer or an error page is passed on */
		assert_int_equal(r.verdict, KIND_VERDICT_RUNNING);
		assert_string_equal(r.status_text, "");
		assert_string_equal(r.error_msg, "");
		assert_null(r.documents);
	}
	assert_true(r.verdict != KIND_VERDICT_BAD);
	return r;
}

#define WORKFLOW(status, error)                                                                                                              \
	"{\"id\": \"" UUID1 "\", \"workflow_id\": \"" UUID2 "\", \"status\": " status                                                        \
	", \"inputs\": {\"query\": \"x\"}, \"outputs\": {\"text\": \"hi\", \"status\": \"failed\", \"error\": \"inner\"}, \"error\": " error \
	", \"total_steps\": 3, \"total_tokens\": 120, \"created_at\": 1764662087, \"finished_at\": 1764662097, \"elapsed_time\": 10.25}"

static void test_workflow(void **state)
{
	static const struct {
		const char *body;
		enum kind_verdict verdict;
		bool known;
		const char *status, *error;
	} cases[] = {
		{ WORKFLOW("\"running\"", "null"), KIND_VERDICT_RUNNING, true, "running", "" },
		{ WORKFLOW("\"paused\"", "null"), KIND_VERDICT_RUNNING, true, "paused", "" },
		{ WORKFLOW("\"succeeded\"", "null"), KIND_VERDICT_COMPLETED, true, "succeeded",
		  "" },
		{ WORKFLOW("\"partial-succeeded\"", "\"node 3 failed\""), KIND_VERDICT_COMPLETED,
		  true, "partial-succeeded", "node 3 failed" },
		{ WORKFLOW("\"failed\"", "\"Variable #x# not found\""), KIND_VERDICT_ERROR, true,
		  "failed", "Variable #x# not found" },
		{ WORKFLOW("\"failed\"", "null"), KIND_VERDICT_ERROR, true, "failed", "" },
		{ WORKFLOW("\"stopped\"", "\"\""), KIND_VERDICT_ERROR, true, "stopped", "" },
		/* an unknown word goes on, and is said once (status_known) */
		{ WORKFLOW("\"archived\"", "null"), KIND_VERDICT_RUNNING, false, "archived", "" },
		{ WORKFLOW("\"Succeeded\"", "null"), KIND_VERDICT_RUNNING, false, "Succeeded", "" },
		/* error of another type: no error text */
		{ WORKFLOW("\"failed\"", "{\"message\": \"x\"}"), KIND_VERDICT_ERROR, true,
		  "failed", "" },
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		struct poll_result r = classify(KIND_WORKFLOW_RUN, 200, cases[i].body, UUID1);
		assert_int_equal(r.kind, POLL_STATUS);
		assert_int_equal(r.verdict, cases[i].verdict);
		assert_int_equal(r.status_known, cases[i].known);
		assert_string_equal(r.status_text, cases[i].status);
		assert_string_equal(r.error_msg, cases[i].error);
		assert_int_equal(r.status, DIFY_STATUS_OTHER);
		assert_null(r.documents);
	}

	/* misshapen: a fault of the job's answer */
	static const char *const bad[] = {
		WORKFLOW("5", "null"),
		WORKFLOW("{\"s\": \"succeeded\"}", "null"),
		WORKFLOW("[\"succeeded\"]", "null"),
		WORKFLOW("null", "null"),
		WORKFLOW("true", "null"),
		WORKFLOW("\"succ\\u0000eeded\"", "null"),
		"{\"id\": \"" UUID1 "\", \"outputs\": {\"status\": \"succeeded\"}}",
		"{\"status\": \"succeeded\", \"status\": 3}",
		"[{\"status\": \"succeeded\"}]",
		"{}",
		/* an annotation answer is no workflow answer */
		"{\"job_id\": \"" UUID1 "\", \"job_status\": \"completed\", \"error_msg\": \"\"}",
	};
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		struct poll_result r = classify(KIND_WORKFLOW_RUN, 200, bad[i], UUID1);
		assert_int_equal(r.kind, POLL_BAD_BODY);
		assert_true(r.job_fault);
	}

	/* an answer about another run */
	struct poll_result r =
		classify(KIND_WORKFLOW_RUN, 200, WORKFLOW("\"succeeded\"", "null"), UUID2);
	assert_int_equal(r.kind, POLL_BAD_BODY);
	r = classify(KIND_WORKFLOW_RUN, 200, WORKFLOW("\"succeeded\"", "null"),
		     "3C90C3CC-0D44-4B50-8888-8DD25736052A");
	assert_int_equal(r.kind, POLL_STATUS);
	r = classify(KIND_WORKFLOW_RUN, 200, WORKFLOW("\"succeeded\"", "null"), NULL);
	assert_int_equal(r.kind, POLL_STATUS);
	/* without an id: nothing to compare */
	r = classify(KIND_WORKFLOW_RUN, 200, "{\"status\": \"running\"}", UUID1);
	assert_int_equal(r.kind, POLL_STATUS);
}

/* One document as Dify's indexing-status marshals it (fields in its order). */
static void append_doc(char *buf, size_t size, const char *id, const char *status,
		       const char *error, unsigned done, unsigned total)
{
	size_t n = strlen(buf);
	char err[600];

	if (error) {
		snprintf(err, sizeof(err), "\"%s\"", error);
	} else {
		snprintf(err, sizeof(err), "null");
	}
	snprintf(
		buf + n, size - n,
		"%s{\"id\": \"%s\", \"indexing_status\": \"%s\", \"processing_started_at\": 1764662087.0, \"parsing_completed_at\": 1764662088.0, \"cleaning_completed_at\": null, \"splitting_completed_at\": null, \"completed_at\": null, \"paused_at\": null, \"error\": %s, \"error_code\": null, \"stopped_at\": null, \"completed_segments\": %u, \"total_segments\": %u, \"estimated_vector_space_mb\": 0.5, \"vector_space_limit_mb\": 5120}",
		buf[n - 1] == '[' ? "" : ", ", id, status, err, done, total);
}

struct doc {
	const char *id, *status, *error;
	unsigned done, total;
};

static struct poll_result classify_docs(const struct doc *docs, size_t n)
{
	static char body[65536];

	snprintf(body, sizeof(body), "{\"data\": [");
	for (size_t i = 0; i < n; i++) {
		append_doc(body, sizeof(body), docs[i].id, docs[i].status, docs[i].error,
			   docs[i].done, docs[i].total);
	}
	size_t len = strlen(body);
	assert_true(len + 3 <= sizeof(body));
	memcpy(body + len, "]}", 3);
	return classify(KIND_DOCUMENT_INDEXING, 200, body, BATCH);
}

#define DOC_A "a1a1a1a1-0000-4000-8000-000000000001"
#define DOC_B "b2b2b2b2-0000-4000-8000-000000000002"
#define DOC_C "c3c3c3c3-0000-4000-8000-000000000003"

static void test_indexing(void **state)
{
	struct poll_result r;

	/* every document completed */
	r = classify_docs((struct doc[]){ { DOC_A, "completed", NULL, 12, 12 },
					  { DOC_B, "completed", NULL, 3, 3 } },
			  2);
	assert_int_equal(r.kind, POLL_STATUS);
	assert_int_equal(r.verdict, KIND_VERDICT_COMPLETED);
	assert_string_equal(r.status_text, "completed");
	assert_true(r.status_known);
	assert_string_equal(r.error_msg, "");
	assert_non_null(r.documents);
	assert_int_equal(r.documents->total, 2);
	assert_int_equal(r.documents->count[RESPONSE_DOC_COMPLETED], 2);
	assert_int_equal(r.documents->completed_segments, 15);
	assert_int_equal(r.documents->total_segments, 15);

	/* every document done, one failed: error, naming it */
	r = classify_docs((struct doc[]){ { DOC_A, "completed", NULL, 12, 12 },
					  { DOC_B, "error", "PDF has no text layer", 0, 0 },
					  { DOC_C, "error", NULL, 1, 4 } },
			  3);
	assert_int_equal(r.verdict, KIND_VERDICT_ERROR);
	assert_string_equal(r.status_text, "error");
	assert_string_equal(r.error_msg, DOC_B ": PDF has no text layer; " DOC_C);
	assert_int_equal(r.documents->count[RESPONSE_DOC_ERROR], 2);
	assert_int_equal(r.documents->completed_segments, 13);
	assert_int_equal(r.documents->total_segments, 16);
	assert_false(r.documents->failed_truncated);

	/* every document failed */
	r = classify_docs((struct doc[]){ { DOC_A, "error", "quota", 0, 0 } }, 1);
	assert_int_equal(r.verdict, KIND_VERDICT_ERROR);
	assert_string_equal(r.error_msg, DOC_A ": quota");

	/* paused is not an end, not even with everything else done */
	r = classify_docs((struct doc[]){ { DOC_A, "completed", NULL, 1, 1 },
					  { DOC_B, "paused", NULL, 0, 5 },
					  { DOC_C, "error", "x", 0, 0 } },
			  3);
	assert_int_equal(r.kind, POLL_STATUS);
	assert_int_equal(r.verdict, KIND_VERDICT_RUNNING);
	assert_string_equal(r.status_text, "paused");
	assert_true(r.status_known);
	assert_int_equal(r.documents->count[RESPONSE_DOC_PAUSED], 1);

	/* every running status: the least advanced one is the batch's */
	static const char *const running[] = { "waiting", "parsing", "cleaning", "splitting",
					       "indexing" };
	for (size_t i = 0; i < ELEMENTSOF(running); i++) {
		r = classify_docs((struct doc[]){ { DOC_A, "completed", NULL, 1, 1 },
						  { DOC_B, "indexing", NULL, 2, 5 },
						  { DOC_C, running[i], NULL, 0, 0 } },
				  3);
		assert_int_equal(r.verdict, KIND_VERDICT_RUNNING);
		assert_string_equal(r.status_text, running[i]);
		assert_true(r.status_known);
		assert_int_equal(r.documents->total, 3);
	}

	/* an unknown word: not an end, and said */
	r = classify_docs((struct doc[]){ { DOC_A, "completed", NULL, 1, 1 },
					  { DOC_B, "re-indexing", NULL, 0, 0 },
					  { DOC_C, "waiting", NULL, 0, 0 } },
			  3);
	assert_int_equal(r.verdict, KIND_VERDICT_RUNNING);
	assert_false(r.status_known);
	assert_string_equal(r.status_text, "re-indexing");
	assert_int_equal(r.documents->count[RESPONSE_DOC_OTHER], 1);

	/* an empty batch is not "every document completed": see kind.c */
	r = classify(KIND_DOCUMENT_INDEXING, 200, "{\"data\": []}", BATCH);
	assert_int_equal(r.kind, POLL_STATUS);
	assert_int_equal(r.verdict, KIND_VERDICT_RUNNING);
	assert_false(r.status_known);
	assert_int_equal(r.documents->total, 0);
}

static void test_indexing_hostile(void **state)
{
	static const char *const bad[] = {
		"{}",
		"{\"data\": {}}",
		"{\"data\": \"[]\"}",
		"{\"data\": null}",
		"{\"data\": 3}",
		"{\"data\": [1]}",
		"{\"data\": [\"completed\"]}",
		"{\"data\": [[{\"indexing_status\": \"completed\"}]]}",
		"{\"data\": [null]}",
		"{\"data\": [{\"id\": \"x\"}]}",
		"{\"data\": [{\"indexing_status\": 5}]}",
		"{\"data\": [{\"indexing_status\": {\"s\": \"completed\"}}]}",
		"{\"data\": [{\"indexing_status\": \"completed\", \"indexing_status\": null}]}",
		"{\"data\": [{\"indexing_status\": \"compl\\u0000eted\"}]}",
		"{\"x\": {\"data\": [{\"indexing_status\": \"completed\"}]}}",
		"{\"data\": [{\"indexing_status\": \"completed\"}], \"data\": 1}",
		"[{\"data\": [{\"indexing_status\": \"completed\"}]}]",
		/* invalid UTF-8: yajl refuses the body */
		"{\"data\": [{\"indexing_status\": \"error\", \"error\": \"\xff\xfe\"}]}",
		"{\"data\": [{\"indexing_status\": \"completed\"}]",
	};
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		struct poll_result r = classify(KIND_DOCUMENT_INDEXING, 200, bad[i], BATCH);
		if (r.kind != POLL_BAD_BODY) {
			print_error("case %zu: %s\n", i, bad[i]);
		}
		assert_int_equal(r.kind, POLL_BAD_BODY);
		assert_true(r.job_fault);
	}

	/* nested objects elsewhere are skipped; segments of odd types ignored;
	 * a repeated "data": the last one counts */
	struct poll_result r = classify(
		KIND_DOCUMENT_INDEXING, 200,
		"{\"data\": [{\"indexing_status\": \"error\"}], \"meta\": {\"data\": [1]}, \"data\": [{\"id\": \"d\", \"indexing_status\": \"completed\", \"x\": {\"indexing_status\": \"error\", \"id\": \"n\"}, \"completed_segments\": -1, \"total_segments\": \"7\"}, {\"indexing_status\": \"completed\", \"completed_segments\": 2.5, \"total_segments\": 99999999999999999999}]}",
		BATCH);
	assert_int_equal(r.kind, POLL_STATUS);
	assert_int_equal(r.verdict, KIND_VERDICT_COMPLETED);
	assert_int_equal(r.documents->total, 2);
	assert_int_equal(r.documents->completed_segments, 0);
	assert_int_equal(r.documents->total_segments, 0);

	/* a failed document without an id, and an error of another type */
	r = classify(KIND_DOCUMENT_INDEXING, 200,
		     "{\"data\": [{\"indexing_status\": \"error\", \"error\": {\"a\": 1}}]}",
		     BATCH);
	assert_int_equal(r.verdict, KIND_VERDICT_ERROR);
	assert_string_equal(r.error_msg, "?");
}

/* A body as large as the cap allows: every document counted, and the list
 * of failed ones bounded and cut on a character. */
static void test_indexing_huge(void **state)
{
	static char body[RESPONSE_BODY_MAX];
	char error[400];
	size_t n = 0, docs = 0;

	memset(error, 0, sizeof(error));
	for (size_t i = 0; i + 2 < sizeof(error) - 1; i += 2) {
		memcpy(error + i, "\xc3\xa9", 2); /* é: two bytes */
	}
	n = (size_t)snprintf(body, sizeof(body), "{\"data\": [");
	for (;;) {
		char doc[1024];
		int k = snprintf(
			doc, sizeof(doc),
			"%s{\"id\": \"doc-%zu\", \"indexing_status\": \"error\", \"error\": \"%s\", \"completed_segments\": 1, \"total_segments\": 2}",
			docs ? "," : "", docs, error);
		if (n + (size_t)k + 3 > sizeof(body)) {
			break;
		}
		memcpy(body + n, doc, (size_t)k);
		n += (size_t)k;
		docs++;
	}
	memcpy(body + n, "]}", 3);

	struct poll_result r = classify(KIND_DOCUMENT_INDEXING, 200, body, BATCH);
	assert_int_equal(r.kind, POLL_STATUS);
	assert_int_equal(r.verdict, KIND_VERDICT_ERROR);
	assert_int_equal(r.documents->total, docs);
	assert_int_equal(r.documents->count[RESPONSE_DOC_ERROR], docs);
	assert_int_equal(r.documents->completed_segments, docs);
	assert_int_equal(r.documents->total_segments, 2 * docs);
	assert_true(r.documents->failed_truncated);
	size_t len = strlen(r.error_msg);
	assert_true(len < RESPONSE_ERROR_MAX);
	assert_memory_equal(r.error_msg + len - 3, ELLIPSIS, 3);
	assert_true(strncmp(r.error_msg, "doc-0: \xc3\xa9", 9) == 0);
	/* one document's error is cut short so that others are named too */
	assert_non_null(strstr(r.error_msg, ELLIPSIS "; doc-1: "));

	/* many small documents: counting is all that grows */
	n = (size_t)snprintf(body, sizeof(body), "{\"data\": [");
	docs = 0;
	while (n + 64 < sizeof(body)) {
		n += (size_t)snprintf(body + n, sizeof(body) - n,
				      "%s{\"indexing_status\":\"indexing\"}", docs ? "," : "");
		docs++;
	}
	memcpy(body + n, "]}", 3);
	r = classify(KIND_DOCUMENT_INDEXING, 200, body, BATCH);
	assert_int_equal(r.verdict, KIND_VERDICT_RUNNING);
	assert_int_equal(r.documents->total, docs);
	assert_true(docs > 1000);
}

/* The key is never kept, inside a document either. */
static void test_indexing_redacted(void **state)
{
	static const char body[] =
		"{\"data\": [{\"id\": \"app-KEYKEYKEYKEYKEYKEYKEYKEYK\", \"indexing_status\": \"error\", \"error\": \"bad key app-KEYKEYKEYKEYKEYKEYKEYKEYK\"}]}";
	struct response_parser *p = calloc(1, sizeof(*p));

	assert_non_null(p);
	assert_int_equal(response_parser_begin(p), 0);
	p->secret = "app-KEYKEYKEYKEYKEYKEYKEYKEYK";
	assert_int_equal(response_parser_feed(p, body, sizeof(body) - 1), 0);
	assert_int_equal(response_parser_complete(p), 0);
	assert_int_equal(p->result.documents.count[RESPONSE_DOC_ERROR], 1);
	assert_null(strstr(p->result.documents.failed, "KEYKEY"));
	assert_non_null(strstr(p->result.documents.failed, "bad key "));
	response_parser_done(p);
	free(p);
}

struct gone_case {
	enum kind_type kind;
	long code;
	const char *body;
	enum poll_kind expect;
};

#define ERR(code, message, status)                                                                 \
	"{\"code\": \"" code "\", \"message\": \"" message "\", \"status\": " #status "}\n"
#define DID_YOU_MEAN                                                                               \
	" You have requested this URI [/v1/x] but did you mean /v1/datasets/<uuid:dataset_id> ?"
#define HTML_404 "<!doctype html>\n<title>404 Not Found</title>\n<h1>Not Found</h1>\n"

static void test_gone(void **state)
{
	static const struct gone_case cases[] = {
		/* annotation-reply: both releases' shapes, by prefix */
		{ KIND_ANNOTATION_REPLY, 400, ERR("invalid_param", "The job does not exist.", 400),
		  POLL_GONE },
		{ KIND_ANNOTATION_REPLY, 404, ERR("not_found", "The job does not exist.", 404),
		  POLL_GONE },
		{ KIND_ANNOTATION_REPLY, 404,
		  ERR("not_found", "The job does not exist." DID_YOU_MEAN, 404), POLL_GONE },
		{ KIND_ANNOTATION_REPLY, 404, ERR("not_found", "App not found", 404),
		  POLL_HTTP_ERROR },
		{ KIND_ANNOTATION_REPLY, 404, ERR("not_found", "Workflow run not found.", 404),
		  POLL_HTTP_ERROR },
		{ KIND_ANNOTATION_REPLY, 404, HTML_404, POLL_HTTP_ERROR },
		/* document-indexing */
		{ KIND_DOCUMENT_INDEXING, 404, ERR("not_found", "Documents not found.", 404),
		  POLL_GONE },
		{ KIND_DOCUMENT_INDEXING, 404, ERR("not_found", "Dataset not found.", 404),
		  POLL_GONE },
		{ KIND_DOCUMENT_INDEXING, 404,
		  ERR("not_found", "Documents not found." DID_YOU_MEAN, 404), POLL_GONE },
		{ KIND_DOCUMENT_INDEXING, 404,
		  ERR("not_found", "Dataset not found." DID_YOU_MEAN, 404), POLL_GONE },
		{ KIND_DOCUMENT_INDEXING, 400, ERR("invalid_param", "Documents not found.", 400),
		  POLL_HTTP_ERROR },
		{ KIND_DOCUMENT_INDEXING, 404, ERR("not_found", "The job does not exist.", 404),
		  POLL_HTTP_ERROR },
		{ KIND_DOCUMENT_INDEXING, 404, ERR("not_found", "Document not found.", 404),
		  POLL_HTTP_ERROR },
		{ KIND_DOCUMENT_INDEXING, 404, HTML_404, POLL_HTTP_ERROR },
		{ KIND_DOCUMENT_INDEXING, 404, NULL, POLL_HTTP_ERROR },
		{ KIND_DOCUMENT_INDEXING, 403,
		  ERR("forbidden", "Dataset api access is not enabled.", 403), POLL_AUTH },
		/* workflow-run */
		{ KIND_WORKFLOW_RUN, 404, ERR("not_found", "Workflow run not found.", 404),
		  POLL_GONE },
		{ KIND_WORKFLOW_RUN, 404,
		  ERR("not_found", "Workflow run not found." DID_YOU_MEAN, 404), POLL_GONE },
		{ KIND_WORKFLOW_RUN, 404, "{\"message\": \"Workflow run not found.\"}", POLL_GONE },
		{ KIND_WORKFLOW_RUN, 404, ERR("unknown", "Workflow run not found.", 404),
		  POLL_HTTP_ERROR },
		{ KIND_WORKFLOW_RUN, 400,
		  ERR("not_workflow_app",
		      "Please check if your app mode matches the right API route.", 400),
		  POLL_HTTP_ERROR },
		{ KIND_WORKFLOW_RUN, 400, ERR("invalid_param", "Workflow run not found.", 400),
		  POLL_HTTP_ERROR },
		{ KIND_WORKFLOW_RUN, 404, ERR("not_found", "workflow run not found.", 404),
		  POLL_HTTP_ERROR },
		{ KIND_WORKFLOW_RUN, 404, "{\"x\": {\"message\": \"Workflow run not found.\"}}",
		  POLL_HTTP_ERROR },
		{ KIND_WORKFLOW_RUN, 500, ERR("unknown", "Internal Server Error", 500),
		  POLL_SERVER_ERROR },
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		struct poll_result r = classify(cases[i].kind, cases[i].code, cases[i].body, NULL);
		if (r.kind != cases[i].expect) {
			print_error("case %zu: %s\n", i, poll_kind_to_string(r.kind));
		}
		assert_int_equal(r.kind, cases[i].expect);
	}
	assert_false(kind_is_gone_message(NULL, 404, "Dataset not found."));
	assert_false(kind_is_gone_message(kind_get(KIND_WORKFLOW_RUN), 404, NULL));
	assert_false(
		kind_is_gone_message(kind_get(KIND_WORKFLOW_RUN), 0, "Workflow run not found."));
}

/* annotation-reply through the table reads as it always did. */
static void test_annotation(void **state)
{
	static const struct {
		const char *status;
		enum kind_verdict verdict;
		bool known;
	} cases[] = {
		{ "waiting", KIND_VERDICT_RUNNING, true },
		{ "completed", KIND_VERDICT_COMPLETED, true },
		{ "error", KIND_VERDICT_ERROR, true },
		{ "queued", KIND_VERDICT_RUNNING, false },
	};
	char body[256];

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		snprintf(body, sizeof(body),
			 "{\"job_id\": \"" UUID1
			 "\", \"job_status\": \"%s\", \"error_msg\": \"e\"}",
			 cases[i].status);
		struct poll_result r = classify(KIND_ANNOTATION_REPLY, 200, body, UUID1);
		assert_int_equal(r.kind, POLL_STATUS);
		assert_int_equal(r.verdict, cases[i].verdict);
		assert_int_equal(r.status_known, cases[i].known);
		assert_string_equal(r.status_text, cases[i].status);
		assert_string_equal(r.error_msg, "e");
		assert_int_equal(r.status, dify_status_from_string(cases[i].status));
	}
	/* a workflow answer is no annotation answer */
	assert_int_equal(
		classify(KIND_ANNOTATION_REPLY, 200, WORKFLOW("\"succeeded\"", "null"), UUID1).kind,
		POLL_BAD_BODY);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_status_path),
		cmocka_unit_test(test_url_escape),
		cmocka_unit_test(test_identity),
		cmocka_unit_test(test_id_string),
		cmocka_unit_test(test_workflow),
		cmocka_unit_test(test_indexing),
		cmocka_unit_test(test_indexing_hostile),
		cmocka_unit_test(test_indexing_huge),
		cmocka_unit_test(test_indexing_redacted),
		cmocka_unit_test(test_gone),
		cmocka_unit_test(test_annotation),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
