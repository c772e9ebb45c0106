/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hookenv.h"
#include "strv.h"

#define KEY "app-SECRETKEY0123456789abcdef"

static struct hookenv_job job(void)
{
	return (struct hookenv_job){
		.job_id = "7b4f6c2e-1a2b-4c3d-8e9f-0a1b2c3d4e5f",
		.kind = "annotation-reply",
		.action = "enable",
		.status = "completed",
		.remote_status = "completed",
		.error = NULL,
		.endpoint = "main",
		.description = "nightly index",
		.job_file = "/var/lib/jobwatch/jobs/a.job",
		.polls = 12,
		.duration_sec = 3600,
		.path = "/usr/bin:/bin",
		.lang = "C.UTF-8",
	};
}

static void test_exact(void **state)
{
	struct hookenv_job j = job();
	_cleanup_(strv_freep) char **env = NULL;
	const char *want[] = {
		"JOBWATCH_JOB_ID=7b4f6c2e-1a2b-4c3d-8e9f-0a1b2c3d4e5f",
		"JOBWATCH_ACTION=enable",
		"JOBWATCH_STATUS=completed",
		"JOBWATCH_ERROR=",
		"JOBWATCH_ENDPOINT=main",
		"JOBWATCH_DESCRIPTION=nightly index",
		"JOBWATCH_JOB_FILE=/var/lib/jobwatch/jobs/a.job",
		"JOBWATCH_POLLS=12",
		"JOBWATCH_DURATION=3600",
		"JOBWATCH_KIND=annotation-reply",
		"JOBWATCH_REMOTE_STATUS=completed",
		"PATH=/usr/bin:/bin",
		"LANG=C.UTF-8",
	};

	assert_int_equal(hookenv_build(&j, &env), 0);
	assert_int_equal(strv_length(env), ELEMENTSOF(want));
	for (size_t i = 0; i < ELEMENTSOF(want); i++) {
		assert_string_equal(env[i], want[i]);
	}
	assert_null(env[ELEMENTSOF(want)]);
}

static void test_defaults(void **state)
{
	struct hookenv_job j = job();
	_cleanup_(strv_freep) char **env = NULL;

	j.path = NULL;
	j.lang = NULL;
	j.description = NULL;
	j.error = "HTTP 404";
	j.polls = 4294967295U;
	j.duration_sec = UINT64_MAX;
	j.kind = NULL; /* annotation-reply */
	j.remote_status = NULL;
	assert_int_equal(hookenv_build(&j, &env), 0);
	assert_int_equal(strv_length(env), 12); /* no LANG, no JOBWATCH_DATASET_ID */
	assert_string_equal(env[3], "JOBWATCH_ERROR=HTTP 404");
	assert_string_equal(env[5], "JOBWATCH_DESCRIPTION=");
	assert_string_equal(env[7], "JOBWATCH_POLLS=4294967295");
	assert_string_equal(env[8], "JOBWATCH_DURATION=18446744073709551615");
	assert_string_equal(env[9], "JOBWATCH_KIND=annotation-reply");
	assert_string_equal(env[10], "JOBWATCH_REMOTE_STATUS=");
	assert_string_equal(env[11], "PATH=" HOOKENV_DEFAULT_PATH);
}

/* The other kinds: JOBWATCH_ACTION empty, the batch as the job id, the
 * dataset for document-indexing only, the server's word verbatim. */
static void test_kinds(void **state)
{
	struct {
		struct hookenv_job j;
		const char *want[16];
	} cases[] = {
		{ .j = { .job_id = "20261202075447123456",
			 .kind = "document-indexing",
			 .status = "error",
			 .remote_status = "error",
			 .dataset = "3c90c3cc-0d44-4b50-8888-8dd25736052a",
			 .error = "doc-1: boom",
			 .endpoint = "kb",
			 .job_file = "/j/b.job",
			 .polls = 7,
			 .duration_sec = 63,
			 .path = "/bin" },
		  .want = { "JOBWATCH_JOB_ID=20261202075447123456",
			    "JOBWATCH_ACTION=", "JOBWATCH_STATUS=error",
			    "JOBWATCH_ERROR=doc-1: boom", "JOBWATCH_ENDPOINT=kb",
			    "JOBWATCH_DESCRIPTION=", "JOBWATCH_JOB_FILE=/j/b.job",
			    "JOBWATCH_POLLS=7", "JOBWATCH_DURATION=63",
			    "JOBWATCH_KIND=document-indexing", "JOBWATCH_REMOTE_STATUS=error",
			    "JOBWATCH_DATASET_ID=3c90c3cc-0d44-4b50-8888-8dd25736052a", "PATH=/bin",
			    NULL } },
		{ .j = { .job_id = "9f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f",
			 .kind = "workflow-run",
			 .status = "completed",
			 .remote_status = "partial-succeeded",
			 .endpoint = "default",
			 .job_file = "/j/w.job",
			 .polls = 1,
			 .path = "/bin" },
		  .want = { "JOBWATCH_JOB_ID=9f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f",
			    "JOBWATCH_ACTION=", "JOBWATCH_STATUS=completed",
			    "JOBWATCH_ERROR=", "JOBWATCH_ENDPOINT=default",
			    "JOBWATCH_DESCRIPTION=", "JOBWATCH_JOB_FILE=/j/w.job",
			    "JOBWATCH_POLLS=1", "JOBWATCH_DURATION=0", "JOBWATCH_KIND=workflow-run",
			    "JOBWATCH_REMOTE_STATUS=partial-succeeded", "PATH=/bin", NULL } },
	};

	(void)state;
	for (size_t c = 0; c < ELEMENTSOF(cases); c++) {
		_cleanup_(strv_freep) char **env = NULL;
		size_t n = 0;
		assert_int_equal(hookenv_build(&cases[c].j, &env), 0);
		while (cases[c].want[n]) {
			assert_non_null(env[n]);
			assert_string_equal(env[n], cases[c].want[n]);
			n++;
		}
		assert_null(env[n]);
	}
}

/* Nothing of the daemon's own environment gets through, the API key
 * (which a careless unit might put there) least of all. */
static void test_no_key(void **state)
{
	struct hookenv_job j = job();
	_cleanup_(strv_freep) char **env = NULL;

	setenv("DIFY_API_KEY", KEY, 1);
	setenv("JOBWATCH_API_KEY", KEY, 1);
	assert_int_equal(hookenv_build(&j, &env), 0);
	for (size_t i = 0; env[i]; i++) {
		assert_null(strstr(env[i], KEY));
		assert_null(strstr(env[i], "API_KEY"));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exact),
		cmocka_unit_test(test_kinds),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_no_key),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
