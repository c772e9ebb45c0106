/* SPDX-License-Identifier: MIT */
/*
 * The MESSAGE of a result entry, word for word, for each kind: what a person
 * reads in `journalctl -u jobwatchd`. annotation-reply's sentence is the one
 * from before kinds, unchanged.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "journal.h"
#include "macro.h"

#define UUID_A "3c90c3cc-0d44-4b50-8888-8dd25736052a"
#define BATCH "20261202075447123456"

static struct journal_result base(void)
{
	return (struct journal_result){
		.job_id = UUID_A,
		.endpoint = "default",
		.file = "/j/a.job",
		.status = "completed",
		.polls = 7,
		.duration_usec = 63 * USEC_PER_SEC,
		.documents = -1,
		.documents_failed = -1,
	};
}

static void check(const struct journal_result *r, const char *want)
{
	char buf[2048];
	assert_string_equal(journal_format_result(r, buf, sizeof(buf)), want);
}

static void test_annotation(void **state)
{
	struct journal_result r = base();

	(void)state;
	r.action = "enable";
	r.description = "FAQ bot";
	check(&r, "Job " UUID_A
		  " (enable, endpoint 'default', 'FAQ bot') completed after 7 polls in 1min 3s.");
	r.kind = "annotation-reply"; /* the same as NULL */
	r.description = NULL;
	r.status = "timeout";
	r.last_status = "waiting";
	check(&r,
	      "Job " UUID_A
	      " (enable, endpoint 'default') timed out after 7 polls in 1min 3s; last status 'waiting'.");
	r.status = "error";
	r.error = "boom";
	check(&r,
	      "Job " UUID_A
	      " (enable, endpoint 'default') ended with an error after 7 polls in 1min 3s: boom.");
	/* an error text with its own full stop gets no second one */
	r.error = "embedding model not found.";
	check(&r,
	      "Job " UUID_A
	      " (enable, endpoint 'default') ended with an error after 7 polls in 1min 3s: embedding model not found.");
}

static void test_indexing(void **state)
{
	struct journal_result r = base();

	(void)state;
	r.kind = "document-indexing";
	r.job_id = BATCH;
	r.dataset = UUID_A;
	r.endpoint = "kb";
	r.documents = 20;
	r.documents_failed = 0;
	r.last_status = "completed";
	check(&r, "Document batch " BATCH " of dataset " UUID_A
		  " on endpoint 'kb' completed: 20 documents indexed, after 7 polls in 1min 3s.");
	r.status = "error";
	r.documents_failed = 2;
	r.error = "d1: PDF has no text layer; d2";
	check(&r,
	      "Document batch " BATCH " of dataset " UUID_A
	      " on endpoint 'kb' ended with errors: 2 of 20 documents failed, after 7 polls in 1min 3s: d1: PDF has no text layer; d2.");
	r.status = "expired";
	r.error = NULL;
	check(&r,
	      "Document batch " BATCH " of dataset " UUID_A
	      " on endpoint 'kb' expired (Dify no longer knows it: its documents or dataset were deleted) after 7 polls in 1min 3s.");
	r.status = "unknown";
	r.documents = r.documents_failed = -1;
	r.polls = 1;
	check(&r,
	      "Document batch " BATCH " of dataset " UUID_A
	      " on endpoint 'kb' is unknown to Dify (never seen: wrong batch, dataset or endpoint?) after 1 poll in 1min 3s.");
}

static void test_workflow(void **state)
{
	struct journal_result r = base();

	(void)state;
	r.kind = "workflow-run";
	r.remote_status = r.last_status = "succeeded";
	check(&r, "Workflow run " UUID_A
		  " (endpoint 'default') succeeded (completed) after 7 polls in 1min 3s.");
	r.remote_status = r.last_status = "partial-succeeded";
	check(&r, "Workflow run " UUID_A
		  " (endpoint 'default') partial-succeeded (completed) after 7 polls in 1min 3s.");
	r.status = "error";
	r.remote_status = r.last_status = "stopped";
	check(&r, "Workflow run " UUID_A
		  " (endpoint 'default') stopped (error) after 7 polls in 1min 3s.");
	r.remote_status = r.last_status = "failed";
	r.error = "node 3: timeout";
	r.description = "nightly";
	check(&r,
	      "Workflow run " UUID_A
	      " (endpoint 'default', 'nightly') failed (error) after 7 polls in 1min 3s: node 3: timeout.");
	r.status = "cancelled";
	r.error = NULL;
	r.remote_status = r.last_status = "running";
	check(&r,
	      "Workflow run " UUID_A
	      " (endpoint 'default', 'nightly') was cancelled (its job file was removed or replaced) after 7 polls in 1min 3s.");
}

/* A [Kind:NAME] job: the kind's name, the server's word, no "Dify". */
static void test_user_kind(void **state)
{
	struct journal_result r = base();

	(void)state;
	r.kind = "openai-batch";
	r.user_kind = true;
	r.job_id = "batch_abc123";
	r.endpoint = "openai";
	r.remote_status = r.last_status = "completed";
	check(&r, "openai-batch job batch_abc123 on endpoint 'openai' completed (status "
		  "'completed') after 7 polls in 1min 3s.");
	r.status = "error";
	r.remote_status = r.last_status = "expired";
	r.description = "nightly";
	check(&r, "openai-batch job batch_abc123 on endpoint 'openai' ('nightly') ended with an "
		  "error (status 'expired') after 7 polls in 1min 3s.");
	r.error = "Batch expired before completion.";
	check(&r, "openai-batch job batch_abc123 on endpoint 'openai' ('nightly') ended with an "
		  "error (status 'expired') after 7 polls in 1min 3s: Batch expired before "
		  "completion.");
	r.error = NULL;
	r.status = "expired";
	check(&r, "openai-batch job batch_abc123 on endpoint 'openai' ('nightly') expired (the "
		  "server no longer knows it: it answers with a GoneStatus= code) after 7 polls in "
		  "1min 3s.");
	r.status = "unknown";
	r.remote_status = r.last_status = NULL;
	r.description = NULL;
	check(&r, "openai-batch job batch_abc123 on endpoint 'openai' is unknown to the server "
		  "(never seen: a wrong JobID=, key, endpoint or StatusPath=?) after 7 polls in "
		  "1min 3s.");
	r.status = "timeout";
	r.remote_status = r.last_status = "in_progress";
	check(&r, "openai-batch job batch_abc123 on endpoint 'openai' timed out after 7 polls in "
		  "1min 3s; last status 'in_progress'.");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_annotation),
		cmocka_unit_test(test_indexing),
		cmocka_unit_test(test_workflow),
		cmocka_unit_test(test_user_kind),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
