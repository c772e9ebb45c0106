/* SPDX-License-Identifier: MIT */
/*
 * daemon-report.c's start_hook() when the hook runner refuses the run:
 * hook_enqueue() fails only when it cannot allocate, so the failure is
 * injected (the build links with --wrap=hook_enqueue). The job must not stay
 * "hook running" for ever: its hook is recorded as done in the state store,
 * and a detached job is freed (LeakSanitizer fails the test otherwise).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <dirent.h>
#include <fcntl.h>

#include "daemon-internal.h"
#include "log.h"
#include "string-util.h"
#include "uuid-util.h"

int __real_hook_enqueue(struct hook_runner *h, struct hook_spec *spec);
int __wrap_hook_enqueue(struct hook_runner *h, struct hook_spec *spec);

static int enqueue_calls;

int __wrap_hook_enqueue(struct hook_runner *h, struct hook_spec *spec)
{
	enqueue_calls++;
	/* as the real one on failure: it owns spec, also then */
	hook_spec_done(spec);
	return -ENOMEM;
}

struct fixture {
	char dir[64];
	struct config config;
	struct endpoint endpoint;
	struct daemon d;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/test-daemon-report-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	f->config = (struct config){ .hook_exec = (char *)"/bin/true",
				     .hook_timeout_usec = 60 * USEC_PER_SEC,
				     .hook_max_parallel = 1 };
	f->endpoint = (struct endpoint){ .name = (char *)"default" };
	f->d = (struct daemon){ .config = &f->config, .jobs_dir = f->dir, .lock_fd = -1 };
	assert_int_equal(state_open(f->dir, &f->d.state), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	DIR *dir;
	struct dirent *de;

	state_free(f->d.state);
	/* the store's files: flat, no subdirectories */
	dir = opendir(f->dir);
	assert_non_null(dir);
	while ((de = readdir(dir))) {
		if (!streq(de->d_name, ".") && !streq(de->d_name, "..")) {
			assert_int_equal(unlinkat(dirfd(dir), de->d_name, 0), 0);
		}
	}
	closedir(dir);
	assert_int_equal(rmdir(f->dir), 0);
	free(f);
	return 0;
}

/* A finished, journaled job whose row is in the store with its hook due. */
static struct job *finished_job(struct fixture *f, uint8_t last_id_byte)
{
	struct job *j = job_new();

	assert_non_null(j);
	j->id[0] = 0x7b;
	j->id[6] = 0x40; /* version 4 */
	j->id[8] = 0x80;
	j->id[15] = last_id_byte;
	j->action = JOB_ACTION_ENABLE;
	j->endpoint = &f->endpoint;
	j->file = strdup("a.job");
	assert_non_null(j->file);
	j->outcome = JOB_OUTCOME_COMPLETED;
	j->state = JOB_STATE_FINISHED;
	j->flags |= JOB_FLAG_JOURNALED;
	state_mark(f->d.state, j, STATE_DIRTY_SYNC);
	assert_int_equal(state_flush(f->d.state, true), 0);
	return j;
}

static enum state_hook stored_hook_state(struct fixture *f, const uint8_t id[16])
{
	struct state_reader *r = NULL;
	struct state_row row = { 0 };
	char ids[UUID_STRING_MAX];
	enum state_hook h;

	assert_int_equal(state_reader_open(f->dir, &r), 0);
	assert_int_equal(state_reader_find(r, uuid_to_string(id, ids), &row), 0);
	h = row.hook_state;
	state_row_done(&row);
	state_reader_free(r);
	return h;
}

static void test_enqueue_fails(void **state)
{
	struct fixture *f = *state;
	struct job *j = finished_job(f, 1);

	assert_int_equal(stored_hook_state(f, j->id), STATE_HOOK_PENDING);
	enqueue_calls = 0;
	start_hook(&f->d, j);
	assert_int_equal(enqueue_calls, 1);
	assert_false(j->flags & JOB_FLAG_HOOK_RUNNING);
	assert_true(j->flags & JOB_FLAG_HOOK_DONE);
	assert_int_equal(stored_hook_state(f, j->id), STATE_HOOK_DONE);
	state_unmark(f->d.state, j);
	job_free(j);
}

/* A detached job (its file gone) is freed once its pipeline is over: here,
 * when the hook could not be queued. */
static void test_enqueue_fails_detached(void **state)
{
	struct fixture *f = *state;
	struct job *j = finished_job(f, 2);

	j->flags |= JOB_DETACHED;
	enqueue_calls = 0;
	start_hook(&f->d, j); /* frees j */
	assert_int_equal(enqueue_calls, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_enqueue_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(test_enqueue_fails_detached, setup, teardown),
	};
	log_setup(LOG_TARGET_CONSOLE);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
