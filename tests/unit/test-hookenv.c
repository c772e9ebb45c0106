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
		.action = "enable",
		.status = "completed",
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
	assert_int_equal(hookenv_build(&j, &env), 0);
	assert_int_equal(strv_length(env), 10); /* no LANG */
	assert_string_equal(env[3], "JOBWATCH_ERROR=HTTP 404");
	assert_string_equal(env[5], "JOBWATCH_DESCRIPTION=");
	assert_string_equal(env[7], "JOBWATCH_POLLS=4294967295");
	assert_string_equal(env[8], "JOBWATCH_DURATION=18446744073709551615");
	assert_string_equal(env[9], "PATH=" HOOKENV_DEFAULT_PATH);
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
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_no_key),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
