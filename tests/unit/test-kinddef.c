/* SPDX-License-Identifier: MIT */
/*
 * [Kind:NAME] sections (kinddef.h): each key, the checks at the section's
 * end with FILE:LINE, the status path template and the status words, fed
 * through ini.c as config.c will.
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

#include "ini.h"
#include "jsonextract.h"
#include "kinddef.h"
#include "string-util.h"

/* Parse one config text holding a single [Kind:NAME] section. */
struct parsed {
	struct kind_def *def;
	struct diag_list diags;
	int validate;
};

static int on_section(void *userdata, const char *file, unsigned line, const char *section)
{
	struct parsed *p = userdata;

	assert_true(strncmp(section, KINDDEF_SECTION_PREFIX, strlen(KINDDEF_SECTION_PREFIX)) == 0);
	const char *name = section + strlen(KINDDEF_SECTION_PREFIX);
	if (kinddef_check_name(name, file, line, &p->diags) < 0) {
		return 0;
	}
	assert_null(p->def);
	p->def = kinddef_new(name, file, line);
	assert_non_null(p->def);
	return 0;
}

static int on_key(void *userdata, const char *file, unsigned line, const char *section,
		  const char *key, const char *value)
{
	struct parsed *p = userdata;

	if (!p->def) {
		return 0;
	}
	return kinddef_set(p->def, key, value, file, line, &p->diags);
}

static void parse(const char *text, struct parsed *p)
{
	*p = (struct parsed){ .validate = 1 };
	assert_int_equal(
		ini_parse_buffer("k.conf", text, strlen(text), on_section, on_key, p, &p->diags),
		0);
	if (p->def) {
		p->validate = kinddef_validate(p->def, &p->diags);
	}
}

static void parsed_done(struct parsed *p)
{
	p->def = kinddef_free(p->def);
	diag_list_done(&p->diags);
}

/* The diagnostics as "LINE: message" lines, for comparing. */
static char *diags_text(const struct diag_list *l)
{
	char *s = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&s, &size);

	assert_non_null(f);
	for (size_t i = 0; i < l->n; i++) {
		fprintf(f, "%u: %s%s\n", l->items[i].line,
			l->items[i].level == DIAG_WARNING ? "warning: " : "", l->items[i].message);
	}
	fclose(f);
	return s;
}

static void expect_diags(const char *text, const char *want)
{
	struct parsed p;

	parse(text, &p);
	char *got = diags_text(&p.diags);
	if (!streq(got, want)) {
		print_error("config:\n%s\ngot:\n%s\nexpected:\n%s\n", text, got, want);
	}
	assert_string_equal(got, want);
	free(got);
	parsed_done(&p);
}

#define OPENAI                                                                                     \
	"[Kind:openai-batch]\n"                                                                    \
	"# relative to the endpoint's BaseURL\n"                                                   \
	"StatusPath=/batches/{id}\n"                                                               \
	"StatusField=/status\n"                                                                    \
	"ErrorField=/errors/data/0/message\n"                                                      \
	"Completed=completed\n"                                                                    \
	"Failed=failed expired cancelled\n"                                                        \
	"Running=validating in_progress finalizing cancelling\n"                                   \
	"GoneStatus=404\n"

static void test_contract_example(void **state)
{
	struct parsed p;

	parse(OPENAI, &p);
	assert_int_equal(p.diags.n, 0);
	assert_int_equal(p.validate, 0);
	struct kind_def *d = p.def;
	assert_string_equal(d->name, "openai-batch");
	assert_string_equal(d->file, "k.conf");
	assert_int_equal(d->line, 1);
	assert_string_equal(d->status_path, "/batches/{id}");
	assert_int_equal(d->n_keys, 0);
	assert_non_null(d->keys);
	assert_null(d->keys[0]);
	assert_true(d->has_status);
	assert_string_equal(d->status.text, "/status");
	assert_true(d->has_error);
	assert_int_equal(d->error.n_tokens, 4);
	assert_int_equal(d->lists[KINDDEF_FAILED].n, 3);
	assert_int_equal(d->lists[KINDDEF_RUNNING].n, 4);
	assert_int_equal(d->line_lists[KINDDEF_RUNNING], 8);
	assert_int_equal(d->n_gone, 1);
	assert_int_equal(d->gone[0], 404);

	assert_int_equal(kinddef_classify_word(d, "completed"), KINDDEF_CLASS_COMPLETED);
	assert_int_equal(kinddef_classify_word(d, "expired"), KINDDEF_CLASS_FAILED);
	assert_int_equal(kinddef_classify_word(d, "cancelling"), KINDDEF_CLASS_RUNNING);
	assert_int_equal(kinddef_classify_word(d, "Completed"), KINDDEF_CLASS_UNKNOWN);
	assert_int_equal(kinddef_classify_word(d, "complete"), KINDDEF_CLASS_UNKNOWN);
	assert_int_equal(kinddef_classify_word(d, ""), KINDDEF_CLASS_UNKNOWN);
	assert_string_equal(kinddef_class_to_string(KINDDEF_CLASS_FAILED), "failed");
	assert_true(kinddef_is_gone(d, 404));
	assert_false(kinddef_is_gone(d, 400));
	parsed_done(&p);
}

static void test_lists(void **state)
{
	struct parsed p;

	/* lists add up; an empty value empties; duplicates are kept once;
	 * tabs and runs of blanks separate */
	parse("[Kind:k]\nStatusPath=/j/{id}\nStatusField=/s\n"
	      "Completed=a\nCompleted=b  a\tc\nFailed=x\nFailed=\nFailed=y\n"
	      "GoneStatus=404 410\nGoneStatus=404\n",
	      &p);
	assert_int_equal(p.validate, 0);
	assert_int_equal(p.diags.n, 0);
	const struct kinddef_words *c = &p.def->lists[KINDDEF_COMPLETED];
	assert_int_equal(c->n, 3);
	assert_string_equal(c->words[0], "a");
	assert_string_equal(c->words[1], "b");
	assert_string_equal(c->words[2], "c");
	assert_int_equal(c->lines[2], 5);
	assert_int_equal(p.def->lists[KINDDEF_FAILED].n, 1);
	assert_string_equal(p.def->lists[KINDDEF_FAILED].words[0], "y");
	assert_int_equal(p.def->n_gone, 2);
	assert_int_equal(kinddef_classify_word(p.def, "x"), KINDDEF_CLASS_UNKNOWN);
	parsed_done(&p);

	/* a later StatusPath= replaces the earlier one and its keys */
	parse("[Kind:k]\nStatusPath=/p/{Project}/j/{id}\nStatusPath=/j/{id}\nStatusField=\n"
	      "Completed=done\n",
	      &p);
	assert_int_equal(p.validate, 0);
	assert_string_equal(p.def->status_path, "/j/{id}");
	assert_int_equal(p.def->n_keys, 0);
	assert_int_equal(p.def->status.n_tokens, 0); /* "" is the whole document */
	parsed_done(&p);
}

static void test_errors(void **state)
{
	expect_diags("[Kind:k]\nStatusField=/s\nCompleted=done\n",
		     "1: [Kind:k] has no StatusPath=\n");
	expect_diags("[Kind:k]\nStatusPath=/j/{id}\nCompleted=done\n",
		     "1: [Kind:k] has no StatusField=\n");
	expect_diags("[Kind:k]\nStatusPath=/j/{id}\nStatusField=/s\nRunning=r\n",
		     "1: [Kind:k] has no Completed= status: no answer could ever complete a job\n");
	/* emptied again */
	expect_diags("[Kind:k]\nStatusPath=/j/{id}\nStatusField=/s\nCompleted=c\nCompleted=\n",
		     "1: [Kind:k] has no Completed= status: no answer could ever complete a job\n");
	/* a status in two lists: at the later line, naming both */
	expect_diags(
		"[Kind:k]\nStatusPath=/j/{id}\nStatusField=/s\nCompleted=done failed\n"
		"Running=run\nFailed=failed\nRunning=done\n",
		"6: Status 'failed' is in both Completed= (line 4) and Failed= (line 6) of [Kind:k]\n"
		"7: Status 'done' is in both Completed= (line 4) and Running= (line 7) of [Kind:k]\n");
	/* bad pointers */
	expect_diags(
		"[Kind:k]\nStatusPath=/j/{id}\nStatusField=status\nErrorField=/e~2\n"
		"Completed=c\n",
		"3: Invalid StatusField= value 'status', expected a JSON pointer (RFC 6901): does not start with '/'\n"
		"4: Invalid ErrorField= value '/e~2', expected a JSON pointer (RFC 6901): '~' not followed by '0' or '1'\n"
		"1: [Kind:k] has no StatusField=\n");
	/* an unknown key: a warning, the section stays good */
	expect_diags("[Kind:k]\nStatusPath=/j/{id}\nStatusField=/s\nCompleted=c\nStatus=/x\n",
		     "5: warning: Unknown key 'Status' in section [Kind:k], ignoring\n");
	/* words */
	expect_diags(
		"[Kind:k]\nStatusPath=/j/{id}\nStatusField=/s\nCompleted=c\n"
		"Failed=0123456789012345678901234567890123456789012345678901234567890123\n",
		"5: Invalid Failed= value '01234567890123456789012345678901…': a status word longer than 63 bytes\n");
	/* GoneStatus= */
	expect_diags(
		"[Kind:k]\nStatusPath=/j/{id}\nStatusField=/s\nCompleted=c\nGoneStatus=404\n"
		"GoneStatus=200\nGoneStatus=429\nGoneStatus=4o4\nGoneStatus=\"404\n",
		"6: Invalid GoneStatus= value '200', expected HTTP statuses from 400 to 599 other than 401, 403, 407, 408, 429, 502, 503, 504\n"
		"7: Invalid GoneStatus= value '429', expected HTTP statuses from 400 to 599 other than 401, 403, 407, 408, 429, 502, 503, 504\n"
		"8: Invalid GoneStatus= value '4o4', expected HTTP statuses from 400 to 599 other than 401, 403, 407, 408, 429, 502, 503, 504\n"
		"9: Invalid GoneStatus= value '\"404'\n");
}

static void test_word_errors(void **state)
{
	struct parsed p;
	char text[4096];
	int n = snprintf(text, sizeof(text),
			 "[Kind:k]\nStatusPath=/j/{id}\nStatusField=/s\nCompleted=c\nRunning=");
	for (int i = 0; i < KINDDEF_WORDS_MAX + 1; i++) {
		n += snprintf(text + n, sizeof(text) - (size_t)n, "w%d ", i);
	}
	snprintf(text + n, sizeof(text) - (size_t)n, "\n");
	parse(text, &p);
	char *got = diags_text(&p.diags);
	assert_string_equal(got, "5: Too many Running= words, at most 64\n");
	free(got);
	/* a bad line changes nothing */
	assert_int_equal(p.def->lists[KINDDEF_RUNNING].n, 0);
	parsed_done(&p);
}

static void test_names(void **state)
{
	expect_diags(
		"[Kind:annotation-reply]\nStatusPath=/{id}\n",
		"1: [Kind:annotation-reply] clashes with the built-in kind 'annotation-reply'\n");
	expect_diags("[Kind:Workflow-Run]\n",
		     "1: [Kind:Workflow-Run] clashes with the built-in kind 'workflow-run'\n");
	expect_diags(
		"[Kind:document-indexing]\n",
		"1: [Kind:document-indexing] clashes with the built-in kind 'document-indexing'\n");
	expect_diags(
		"[Kind:a b]\n",
		"1: Invalid kind name 'a b' in [Kind:NAME], expected 1 to 64 of A-Z a-z 0-9 _ . -\n");
	expect_diags(
		"[Kind:]\n",
		"1: Invalid kind name '' in [Kind:NAME], expected 1 to 64 of A-Z a-z 0-9 _ . -\n");
	expect_diags(
		"[Kind:..]\n",
		"1: Invalid kind name '..' in [Kind:NAME], expected 1 to 64 of A-Z a-z 0-9 _ . -\n");
	expect_diags("[Kind:openai_batch.v2]\nStatusPath=/b/{id}\nStatusField=/s\nCompleted=c\n",
		     "");
}

static void expect_template(const char *t, const char *reason)
{
	char got[256] = "";
	char **keys = NULL;
	int r = kinddef_check_template(t, &keys, got, sizeof(got));

	if (!reason) {
		if (r != 0) {
			print_error("template '%s': %s\n", t, got);
		}
		assert_int_equal(r, 0);
		assert_non_null(keys);
		for (char **k = keys; *k; k++) {
			free(*k);
		}
		free(keys);
		return;
	}
	assert_int_equal(r, -EINVAL);
	assert_null(keys);
	assert_string_equal(got, reason);
}

static void test_templates(void **state)
{
	char longer[KINDDEF_PATH_MAX + 2];

	expect_template("/batches/{id}", NULL);
	expect_template("/v1/projects/{Project}/jobs/{id}?view=status", NULL);
	expect_template("/{id}/{id}", NULL);
	expect_template("batches/{id}", "expected a path starting with '/'");
	expect_template("", "expected a path starting with '/'");
	expect_template("/batches", "{id} (the job file's JobID=) is missing");
	expect_template(
		"/b/{ID}",
		"placeholder '{ID}' names a job file key with a meaning of its own, write {id}");
	expect_template(
		"/b/{JobID}",
		"placeholder '{JobID}' names a job file key with a meaning of its own, write {id}");
	expect_template("/b/{Dataset}/{id}",
			"placeholder '{Dataset}' names a job file key with a meaning of its own");
	expect_template("/b/{Endpoint}/{id}",
			"placeholder '{Endpoint}' names a job file key with a meaning of its own");
	expect_template(
		"/b/{key}/{id}",
		"unknown placeholder '{key}', expected {id} or {Key} naming a job file key");
	expect_template("/b/{}/{id}",
			"unknown placeholder '{}', expected {id} or {Key} naming a job file key");
	expect_template(
		"/b/{Pro-ject}/{id}",
		"unknown placeholder '{Pro-ject}', expected {id} or {Key} naming a job file key");
	expect_template(
		"/b/{ id}",
		"unknown placeholder '{ id}', expected {id} or {Key} naming a job file key");
	expect_template("/b/{id", "'{' without '}'");
	expect_template("/b/{id{x}}", "'{' without '}'");
	expect_template("/b/id}", "'}' without '{'");
	expect_template("/b/{id}}", "'}' without '{'");
	expect_template("/b/{id}#frag",
			"a path may not contain blanks, control characters, '#' or '\\'");
	expect_template("/b/{id}\\",
			"a path may not contain blanks, control characters, '#' or '\\'");
	expect_template("/b/\t{id}",
			"a path may not contain blanks, control characters, '#' or '\\'");
	expect_template("/{A}/{B}/{C}/{D}/{E}/{F}/{G}/{H}/{A}/{id}", NULL);
	expect_template("/{A}/{B}/{C}/{D}/{E}/{F}/{G}/{H}/{I}/{id}",
			"more than 8 different {Key} placeholders");
	memset(longer, 'a', sizeof(longer) - 1);
	memcpy(longer, "/{id}", 5);
	longer[sizeof(longer) - 1] = '\0';
	expect_template(longer, "longer than 512 bytes");

	/* in a section: FILE:LINE, and the earlier value stays */
	struct parsed p;
	parse("[Kind:k]\nStatusPath=/a/{id}\nStatusPath=/b/{nope}\nStatusField=/s\nCompleted=c\n",
	      &p);
	char *got = diags_text(&p.diags);
	assert_string_equal(
		got,
		"3: Invalid StatusPath= value '/b/{nope}': unknown placeholder '{nope}', expected {id} or {Key} naming a job file key\n");
	free(got);
	assert_string_equal(p.def->status_path, "/a/{id}");
	assert_int_equal(p.def->line_status_path, 2);
	parsed_done(&p);

	/* keys in order of first appearance, each once */
	parse("[Kind:k]\nStatusPath=/o/{Org}/p/{Project}/{id}/{Org}\nStatusField=/s\nCompleted=c\n",
	      &p);
	assert_int_equal(p.validate, 0);
	assert_int_equal(p.def->n_keys, 2);
	assert_string_equal(p.def->keys[0], "Org");
	assert_string_equal(p.def->keys[1], "Project");
	assert_null(p.def->keys[2]);
	parsed_done(&p);
}

struct job_values {
	const char *id, *org;
};

static const char *lookup(void *userdata, const char *name)
{
	struct job_values *v = userdata;

	if (streq(name, "id")) {
		return v->id;
	}
	if (streq(name, "Org")) {
		return v->org;
	}
	return NULL;
}

static void test_status_path(void **state)
{
	struct parsed p;
	char buf[128];
	struct job_values v = { .id = "batch_abc123", .org = "acme" };

	parse("[Kind:k]\nStatusPath=/orgs/{Org}/jobs/{id}?x=1\nStatusField=/s\nCompleted=c\n", &p);
	assert_int_equal(p.validate, 0);
	assert_int_equal(kinddef_status_path(p.def, lookup, &v, buf, sizeof(buf)),
			 (int)strlen("/orgs/acme/jobs/batch_abc123?x=1"));
	assert_string_equal(buf, "/orgs/acme/jobs/batch_abc123?x=1");

	/* every value URL-escaped: a '/' or '?' in an id cannot reach another resource */
	v = (struct job_values){ .id = "a/../b?c=d#e f", .org = "ä~" };
	assert_true(kinddef_status_path(p.def, lookup, &v, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "/orgs/%C3%A4~/jobs/a%2F..%2Fb%3Fc%3Dd%23e%20f?x=1");

	/* values that would climb or are not values */
	v = (struct job_values){ .id = "..", .org = "acme" };
	assert_int_equal(kinddef_status_path(p.def, lookup, &v, buf, sizeof(buf)), -EINVAL);
	v = (struct job_values){ .id = ".", .org = "acme" };
	assert_int_equal(kinddef_status_path(p.def, lookup, &v, buf, sizeof(buf)), -EINVAL);
	v = (struct job_values){ .id = "", .org = "acme" };
	assert_int_equal(kinddef_status_path(p.def, lookup, &v, buf, sizeof(buf)), -EINVAL);
	v = (struct job_values){ .id = "a\nb", .org = "acme" };
	assert_int_equal(kinddef_status_path(p.def, lookup, &v, buf, sizeof(buf)), -EINVAL);
	v = (struct job_values){ .id = "x", .org = NULL };
	assert_int_equal(kinddef_status_path(p.def, lookup, &v, buf, sizeof(buf)), -ENOENT);

	/* sizes: exactly fitting, one short */
	v = (struct job_values){ .id = "x", .org = "y" };
	int n = (int)strlen("/orgs/y/jobs/x?x=1");
	assert_int_equal(kinddef_status_path(p.def, lookup, &v, buf, (size_t)n + 1), n);
	for (size_t size = 0; size <= (size_t)n; size++) {
		assert_int_equal(kinddef_status_path(p.def, lookup, &v, buf, size), -ENOBUFS);
	}
	parsed_done(&p);

	/* no template */
	struct kind_def *d = kinddef_new("k", NULL, 0);
	assert_non_null(d);
	assert_int_equal(kinddef_status_path(d, lookup, &v, buf, sizeof(buf)), -EINVAL);
	assert_null(kinddef_free(d));
	assert_null(kinddef_free(NULL));

	assert_true(kinddef_value_is_valid("batch_abc"));
	assert_true(kinddef_value_is_valid("..."));
	assert_false(kinddef_value_is_valid(NULL));
	assert_false(kinddef_value_is_valid("a\x7f"));
}

static void test_read_status(void **state)
{
	struct jsonextract_value v = { .type = JSONEXTRACT_STRING };
	const char *word, *reason;

	snprintf(v.text, sizeof(v.text), "completed");
	assert_int_equal(kinddef_read_status(&v, &word, &reason), 0);
	assert_string_equal(word, "completed");
	assert_null(reason);

	/* every other type is no status, and its text is never the word:
	 * a number 3 or true must not become a status */
	static const enum jsonextract_type bad[] = { JSONEXTRACT_ABSENT,  JSONEXTRACT_NUMBER,
						     JSONEXTRACT_BOOLEAN, JSONEXTRACT_NULL,
						     JSONEXTRACT_OBJECT,  JSONEXTRACT_ARRAY };
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		v.type = bad[i];
		assert_int_equal(kinddef_read_status(&v, &word, &reason), -EBADMSG);
		assert_null(word);
		assert_string_equal(reason, jsonextract_type_to_string(bad[i]));
	}
	v.type = JSONEXTRACT_STRING;
	v.truncated = true;
	assert_int_equal(kinddef_read_status(&v, &word, &reason), -EBADMSG);
	assert_string_equal(reason, "too long for a status");
	v.truncated = false;
	v.has_nul = true;
	assert_int_equal(kinddef_read_status(&v, &word, &reason), -EBADMSG);
	v.has_nul = false;
	v.text[0] = '\0';
	assert_int_equal(kinddef_read_status(&v, &word, &reason), -EBADMSG);
	assert_string_equal(reason, "empty");
	/* a string that fits a bigger cap but not a status word */
	memset(v.text, 'a', KINDDEF_WORD_MAX);
	v.text[KINDDEF_WORD_MAX] = '\0';
	assert_int_equal(kinddef_read_status(&v, &word, &reason), -EBADMSG);
}

/* From a body to a class, as the poller will do it. */
static void test_answer_to_class(void **state)
{
	static const struct {
		const char *body;
		int r;
		enum kinddef_class c;
	} cases[] = {
		{ "{\"id\": \"b\", \"status\": \"in_progress\"}", 0, KINDDEF_CLASS_RUNNING },
		{ "{\"status\": \"completed\", \"errors\": null}", 0, KINDDEF_CLASS_COMPLETED },
		{ "{\"status\": \"expired\"}", 0, KINDDEF_CLASS_FAILED },
		{ "{\"status\": \"paused\"}", 0, KINDDEF_CLASS_UNKNOWN },
		{ "{\"status\": 1}", -EBADMSG, 0 },
		{ "{\"status\": true}", -EBADMSG, 0 },
		{ "{\"status\": {\"status\": \"completed\"}}", -EBADMSG, 0 },
		{ "{\"state\": \"completed\"}", -EBADMSG, 0 },
		{ "[\"completed\"]", -EBADMSG, 0 },
	};
	struct parsed p;

	parse(OPENAI, &p);
	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		const struct jsonptr *ptrs[] = { &p.def->status, &p.def->error };
		struct jsonextract x;
		const char *word, *reason;

		assert_int_equal(jsonextract_buffer(&x, ptrs, 2, KINDDEF_WORD_MAX, cases[i].body,
						    strlen(cases[i].body)),
				 0);
		int r = kinddef_read_status(&x.values[0], &word, &reason);
		assert_int_equal(r, cases[i].r);
		if (r == 0) {
			assert_int_equal(kinddef_classify_word(p.def, word), cases[i].c);
		}
	}
	parsed_done(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_contract_example),
		cmocka_unit_test(test_lists),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_word_errors),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_templates),
		cmocka_unit_test(test_status_path),
		cmocka_unit_test(test_read_status),
		cmocka_unit_test(test_answer_to_class),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
