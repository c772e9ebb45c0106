/* SPDX-License-Identifier: MIT */
/*
 * Jobs of [Kind:NAME] sections (userkind.h): the identity text, its parts,
 * the values it gives a status path, and the classification of one
 * exchange; and the one word classifier the built-in kinds share with them.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kind.h"
#include "kinddef.h"
#include "string-util.h"
#include "userkind.h"

static void test_text(void **state)
{
	const char *fields[] = { "Queue=fast lane", "Project=p1", "A0=x", "A=y" };
	_cleanup_(freep) char *t = NULL, *back = NULL, *none = NULL;
	char name[KIND_NAME_MAX], id[KIND_ID_STRING_MAX];

	assert_int_equal(userkind_text_new("render", "r/1", fields, 4, &t), 0);
	/* keys in strcmp order of the key alone: "A" before "A0" */
	assert_string_equal(t, "render\nr/1\nA=y\nA0=x\nProject=p1\nQueue=fast lane");
	assert_string_equal(userkind_text_name(t, name), "render");
	assert_string_equal(userkind_text_id(t, id), "r/1");
	assert_string_equal(userkind_text_fields(t), "A=y\nA0=x\nProject=p1\nQueue=fast lane");

	/* the fields part, as the state store keeps it, builds the same text */
	assert_int_equal(userkind_text_from_parts("render", "r/1", userkind_text_fields(t), &back),
			 0);
	assert_string_equal(back, t);

	/* no fields */
	assert_int_equal(userkind_text_new("openai-batch", "batch_abc123", NULL, 0, &none), 0);
	assert_string_equal(none, "openai-batch\nbatch_abc123");
	assert_string_equal(userkind_text_fields(none), "");
	assert_string_equal(userkind_text_id(none, id), "batch_abc123");
	free(none);
	assert_int_equal(userkind_text_from_parts("openai-batch", "b", "", &none), 0);
	assert_string_equal(none, "openai-batch\nb");

	/* malformed texts have no parts */
	assert_null(userkind_text_name("no-newline", name));
	assert_null(userkind_text_id("no-newline", id));
	assert_null(userkind_text_name(NULL, name));
	assert_string_equal(userkind_text_fields("a\nb"), "");
}

static void test_text_refused(void **state)
{
	char *t = NULL;
	const char *twice[] = { "Project=a", "Project=b" };
	const char *reserved[] = { "Endpoint=x" };
	const char *lower[] = { "project=x" };
	const char *dots[] = { "Project=.." };
	const char *noeq[] = { "Project" };
	const char *ctrl[] = { "Project=a\tb" };

	assert_int_equal(userkind_text_new("render", "r1", twice, 2, &t), -EINVAL);
	assert_int_equal(userkind_text_new("render", "r1", reserved, 1, &t), -EINVAL);
	assert_int_equal(userkind_text_new("render", "r1", lower, 1, &t), -EINVAL);
	assert_int_equal(userkind_text_new("render", "r1", dots, 1, &t), -EINVAL);
	assert_int_equal(userkind_text_new("render", "r1", noeq, 1, &t), -EINVAL);
	assert_int_equal(userkind_text_new("render", "r1", ctrl, 1, &t), -EINVAL);
	assert_int_equal(userkind_text_new("bad name", "r1", NULL, 0, &t), -EINVAL);
	assert_int_equal(userkind_text_new("render", "", NULL, 0, &t), -EINVAL);
	assert_int_equal(userkind_text_new("render", "a\nb", NULL, 0, &t), -EINVAL);
	assert_null(t);
	/* a row of the state store that was tampered with */
	assert_int_equal(userkind_text_from_parts("render", "r1", "Project=a\n", &t), -EINVAL);
	assert_int_equal(userkind_text_from_parts("render", "r1", "\nProject=a", &t), -EINVAL);
	assert_int_equal(userkind_text_from_parts("render", "r1", "Project=a\nProject=b", &t),
			 -EINVAL);
	assert_int_equal(userkind_text_from_parts("render", "r1", "Project", &t), -EINVAL);
	assert_null(t);
}

/* The identity compares and hashes the text, whatever order the file gave. */
static void test_ident(void **state)
{
	const char *ab[] = { "A=1", "B=2" }, *ba[] = { "B=2", "A=1" }, *other[] = { "A=1", "B=3" };
	_cleanup_(freep) char *t1 = NULL, *t2 = NULL, *t3 = NULL;
	char name[KIND_NAME_MAX];

	assert_int_equal(userkind_text_new("k", "1", ab, 2, &t1), 0);
	assert_int_equal(userkind_text_new("k", "1", ba, 2, &t2), 0);
	assert_int_equal(userkind_text_new("k", "1", other, 2, &t3), 0);
	struct kind_ident a = { .kind = KIND_USER, .user = t1 },
			  b = { .kind = KIND_USER, .user = t2 },
			  c = { .kind = KIND_USER, .user = t3 }, unresolved = { .kind = KIND_USER },
			  builtin = { .kind = KIND_WORKFLOW_RUN };

	assert_true(kind_ident_equal(&a, &b));
	assert_true(kind_ident_hash(&a, 5) == kind_ident_hash(&b, 5));
	assert_false(kind_ident_equal(&a, &c));
	assert_true(kind_ident_hash(&a, 5) != kind_ident_hash(&c, 5));
	assert_false(kind_ident_equal(&a, &unresolved));
	assert_false(kind_ident_equal(&unresolved, &unresolved));
	assert_false(kind_ident_equal(&a, &builtin));
	assert_false(kind_ident_equal(&builtin, &a));
	assert_string_equal(kind_ident_kind_name(&a, name), "k");
	assert_null(kind_ident_kind_name(&unresolved, name));
	assert_string_equal(kind_ident_kind_name(&builtin, name), "workflow-run");
	assert_null(kind_get(KIND_USER));
	assert_null(kind_type_to_string(KIND_USER));
}

static struct kind_def *make_def(const char *const *lines)
{
	struct kind_def *def = kinddef_new("render", "jobwatch.conf", 1);
	struct diag_list d = {};

	assert_non_null(def);
	for (unsigned i = 0; lines[i]; i++) {
		char key[64];
		const char *eq = strchr(lines[i], '=');
		snprintf(key, sizeof(key), "%.*s", (int)(eq - lines[i]), lines[i]);
		assert_int_equal(kinddef_set(def, key, eq + 1, "jobwatch.conf", 2 + i, &d), 0);
	}
	assert_int_equal(kinddef_validate(def, &d), 0);
	assert_int_equal(d.n, 0);
	return def;
}

/* The lookup answers {id} and each {Key}, for the status path. */
static void test_lookup(void **state)
{
	_cleanup_(kinddef_freep) struct kind_def *def = make_def(
		(const char *const[]){ "StatusPath=/projects/{Project}/renders/{id}/{Project}",
				       "StatusField=/state", "Completed=done", NULL });
	const char *fields[] = { "Project=my project", "Projects=no" };
	_cleanup_(freep) char *t = NULL;
	char path[USERKIND_STATUS_PATH_MAX];
	struct userkind_lookup l = {};

	assert_int_equal(userkind_text_new("render", "r/1", fields, 2, &t), 0);
	l.text = t;
	assert_string_equal(userkind_lookup(&l, "id"), "r/1");
	assert_string_equal(userkind_lookup(&l, "Project"), "my project");
	assert_string_equal(userkind_lookup(&l, "Projects"), "no");
	assert_null(userkind_lookup(&l, "Proj"));
	assert_null(userkind_lookup(&l, "Queue"));
	assert_true(kinddef_status_path(def, userkind_lookup, &l, path, sizeof(path)) > 0);
	assert_string_equal(path, "/projects/my%20project/renders/r%2F1/my%20project");

	/* a path that does not fit */
	assert_int_equal(kinddef_status_path(def, userkind_lookup, &l, path, 20), -ENOBUFS);
	/* a text without the key */
	l.text = "render\nr1";
	assert_int_equal(kinddef_status_path(def, userkind_lookup, &l, path, sizeof(path)),
			 -ENOENT);
}

/* Built-in kinds classify their words with the lists a [Kind:] has. */
static void test_builtin_words(void **state)
{
	const struct kind *a = kind_get(KIND_ANNOTATION_REPLY), *w = kind_get(KIND_WORKFLOW_RUN),
			  *d = kind_get(KIND_DOCUMENT_INDEXING);

	assert_int_equal(kind_classify_word(a, "completed"), KINDDEF_CLASS_COMPLETED);
	assert_int_equal(kind_classify_word(a, "error"), KINDDEF_CLASS_FAILED);
	assert_int_equal(kind_classify_word(a, "waiting"), KINDDEF_CLASS_RUNNING);
	assert_int_equal(kind_classify_word(a, "processing"), KINDDEF_CLASS_UNKNOWN);
	assert_int_equal(kind_classify_word(w, "succeeded"), KINDDEF_CLASS_COMPLETED);
	assert_int_equal(kind_classify_word(w, "partial-succeeded"), KINDDEF_CLASS_COMPLETED);
	assert_int_equal(kind_classify_word(w, "failed"), KINDDEF_CLASS_FAILED);
	assert_int_equal(kind_classify_word(w, "stopped"), KINDDEF_CLASS_FAILED);
	assert_int_equal(kind_classify_word(w, "running"), KINDDEF_CLASS_RUNNING);
	assert_int_equal(kind_classify_word(w, "paused"), KINDDEF_CLASS_RUNNING);
	assert_int_equal(kind_classify_word(w, "Succeeded"), KINDDEF_CLASS_UNKNOWN);
	assert_int_equal(kind_classify_word(d, "completed"), KINDDEF_CLASS_UNKNOWN);
}

/* --- one exchange --- */

struct exchange {
	struct jsonextract x;
	struct poll_result r;
	const char *reason;
};

static void classify(struct exchange *e, const struct kind_def *def, enum transfer_error t,
		     long code, const char *body, uint64_t retry_after)
{
	const struct jsonptr *ptrs[2] = { &def->status, &def->error };
	int r;

	*e = (struct exchange){};
	/* one cap for both here: the poller gives the status KINDDEF_WORD_MAX */
	r = jsonextract_buffer(&e->x, ptrs, def->has_error ? 2 : 1, KINDDEF_ERROR_MAX, body,
			       strlen(body));
	userkind_classify(def, t, code, r == 0, &e->x.values[0],
			  def->has_error ? &e->x.values[1] : NULL, retry_after, &e->r, &e->reason);
}

static void test_classify(void **state)
{
	_cleanup_(kinddef_freep) struct kind_def *def = make_def((const char *const[]){
		"StatusPath=/batches/{id}", "StatusField=/status",
		"ErrorField=/errors/data/0/message", "Completed=completed",
		"Failed=failed expired cancelled", "Running=validating in_progress finalizing",
		"GoneStatus=404", NULL });
	struct exchange e;

	classify(&e, def, TRANSFER_OK, 200, "{\"status\":\"in_progress\"}", 0);
	assert_int_equal(e.r.kind, POLL_STATUS);
	assert_int_equal(e.r.verdict, KIND_VERDICT_RUNNING);
	assert_true(e.r.status_known);
	assert_string_equal(e.r.status_text, "in_progress");
	assert_null(e.reason);

	classify(&e, def, TRANSFER_OK, 200, "{\"status\":\"completed\",\"id\":\"b\"}", 0);
	assert_int_equal(e.r.kind, POLL_STATUS);
	assert_int_equal(e.r.verdict, KIND_VERDICT_COMPLETED);
	assert_string_equal(e.r.error_msg, "");

	classify(&e, def, TRANSFER_OK, 200,
		 "{\"status\":\"failed\",\"errors\":{\"data\":[{\"message\":\"bad line 3\"}]}}", 0);
	assert_int_equal(e.r.kind, POLL_STATUS);
	assert_int_equal(e.r.verdict, KIND_VERDICT_ERROR);
	assert_string_equal(e.r.status_text, "failed");
	assert_string_equal(e.r.error_msg, "bad line 3");

	/* a failure without its message, or with a message that is no string */
	classify(&e, def, TRANSFER_OK, 200, "{\"status\":\"expired\",\"errors\":null}", 0);
	assert_int_equal(e.r.verdict, KIND_VERDICT_ERROR);
	assert_string_equal(e.r.error_msg, "");
	classify(&e, def, TRANSFER_OK, 200,
		 "{\"status\":\"expired\",\"errors\":{\"data\":[{\"message\":7}]}}", 0);
	assert_string_equal(e.r.error_msg, "");

	/* a word in no list: running, said once (status_known false) */
	classify(&e, def, TRANSFER_OK, 200, "{\"status\":\"cancelling\"}", 0);
	assert_int_equal(e.r.kind, POLL_STATUS);
	assert_int_equal(e.r.verdict, KIND_VERDICT_RUNNING);
	assert_false(e.r.status_known);
	assert_string_equal(e.r.status_text, "cancelling");

	/* no status: a bad answer of this job, never a terminal state */
	static const struct {
		const char *body, *reason;
	} bad[] = {
		{ "{\"state\":\"completed\"}", "absent" },
		{ "{\"status\":7}", "a number" },
		{ "{\"status\":{\"x\":\"completed\"}}", "an object" },
		{ "{\"status\":[\"completed\"]}", "an array" },
		{ "{\"status\":null}", "null" },
		{ "{\"status\":\"\"}", "empty" },
		{ "{\"status\":\"compl\\u0000eted\"}", "a string with \\u0000" },
		{ "{\"status\":\"completed\"", "not JSON" },
		{ "<html>", "not JSON" },
	};
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		classify(&e, def, TRANSFER_OK, 200, bad[i].body, 0);
		assert_int_equal(e.r.kind, POLL_BAD_BODY);
		assert_true(e.r.job_fault);
		assert_string_equal(e.r.status_text, "");
		assert_non_null(e.reason);
		assert_string_equal(e.reason, bad[i].reason);
	}
	/* a status longer than a word */
	char big[200];
	snprintf(big, sizeof(big), "{\"status\":\"%0100d\"}", 0);
	classify(&e, def, TRANSFER_OK, 200, big, 0);
	assert_int_equal(e.r.kind, POLL_BAD_BODY);
	assert_string_equal(e.reason, "too long for a status");

	/* GoneStatus=: no such job, whatever the body */
	classify(&e, def, TRANSFER_OK, 404, "{\"error\":{\"message\":\"No batch found\"}}", 0);
	assert_int_equal(e.r.kind, POLL_GONE);
	classify(&e, def, TRANSFER_OK, 404, "", 0);
	assert_int_equal(e.r.kind, POLL_GONE);
	/* other codes as for every kind */
	classify(&e, def, TRANSFER_OK, 410, "", 0);
	assert_int_equal(e.r.kind, POLL_HTTP_ERROR);
	classify(&e, def, TRANSFER_OK, 401, "{}", 0);
	assert_int_equal(e.r.kind, POLL_AUTH);
	classify(&e, def, TRANSFER_OK, 403, "{}", 0);
	assert_int_equal(e.r.kind, POLL_AUTH);
	classify(&e, def, TRANSFER_OK, 429, "{}", 30);
	assert_int_equal(e.r.kind, POLL_RATE_LIMITED);
	assert_true(e.r.retry_after_usec > 0);
	classify(&e, def, TRANSFER_OK, 503, "", 0);
	assert_int_equal(e.r.kind, POLL_UNAVAILABLE);
	assert_int_equal(e.r.retry_after_usec, 0);
	/* a 5xx: the service's own JSON error is this job's, a proxy's page the
	 * endpoint's */
	classify(&e, def, TRANSFER_OK, 500, "{\"error\":\"boom\"}", 0);
	assert_int_equal(e.r.kind, POLL_SERVER_ERROR);
	assert_true(e.r.job_fault);
	classify(&e, def, TRANSFER_OK, 502, "<html>bad gateway</html>", 0);
	assert_int_equal(e.r.kind, POLL_SERVER_ERROR);
	assert_false(e.r.job_fault);
	/* below HTTP */
	classify(&e, def, TRANSFER_TIMEOUT, 0, "", 0);
	assert_int_equal(e.r.kind, POLL_TRANSFER);
	classify(&e, def, TRANSFER_TOO_LARGE, 200, "{\"status\":\"completed\"}", 0);
	assert_int_equal(e.r.kind, POLL_BAD_BODY);
	assert_true(e.r.job_fault);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_text),	      cmocka_unit_test(test_text_refused),
		cmocka_unit_test(test_ident),	      cmocka_unit_test(test_lookup),
		cmocka_unit_test(test_builtin_words), cmocka_unit_test(test_classify),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
