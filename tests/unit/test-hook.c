/* SPDX-License-Identifier: MIT */
/*
 * The hook runner (hook.c) on a real loop, running real programs: /bin/sleep
 * and hook-helper (built beside this test, its path is argv[1]). The log goes
 * to the console target, whose stderr is captured into a file while the loop
 * runs: a hook's output lines are read back from there. Timeouts are short;
 * the SIGTERM -> SIGKILL step is hook.h's fixed HOOK_KILL_DELAY_USEC (5 s).
 * Every wait is bounded by a guard timer scaled by $JOBWATCH_TEST_TIME_SCALE
 * (tests/README.md).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "hook.h"
#include "log.h"
#include "test-helpers.h"

#define JOB_ID "3c90c3cc-0d44-4b50-8888-8dd25736052a"
#define RUNS_MAX 16

static const char *helper; /* hook-helper's path */
static int saved_stderr = -1; /* the real stderr while it is captured */
static double time_scale = 1.0;

struct ctx {
	uv_loop_t loop;
	struct hook_runner runner;
	uv_timer_t guard;
	bool guard_fired;
	int ids[RUNS_MAX]; /* ids[i] == i: the jobs handed to the runner */
	unsigned started, done, running, max_running, idle, discarded;
	int start_order[RUNS_MAX], done_order[RUNS_MAX];
	pid_t pids[RUNS_MAX];
	struct hook_exit exits[RUNS_MAX];
	bool done_seen[RUNS_MAX];
	int capture_fd; /* stderr goes there meanwhile */
	char *capture; /* what the runner logged, from ctx_init() to run_loop()'s end */
};

static uint64_t scaled_ms(uint64_t ms)
{
	return (uint64_t)((double)ms * time_scale);
}

static void on_started(void *userdata, void *job, pid_t pid)
{
	struct ctx *c = userdata;
	int i = *(int *)job;

	assert_true(pid > 0);
	c->pids[i] = pid;
	c->start_order[c->started++] = i;
	c->running++;
	c->max_running = MAX(c->max_running, c->running);
}

static void on_done(void *userdata, void *job, const struct hook_exit *e)
{
	struct ctx *c = userdata;
	int i = *(int *)job;

	assert_false(c->done_seen[i]);
	c->done_seen[i] = true;
	c->exits[i] = *e;
	c->done_order[c->done++] = i;
	if (e->spawn_error == 0) {
		c->running--;
	}
}

static void on_idle(void *userdata)
{
	struct ctx *c = userdata;
	c->idle++;
}

static void on_discarded(void *userdata, void *job)
{
	struct ctx *c = userdata;
	(void)job;
	c->discarded++;
}

static const struct hook_ops ops = {
	.started = on_started,
	.done = on_done,
	.idle = on_idle,
	.discarded = on_discarded,
};

static void ctx_init(struct ctx *c, unsigned max_parallel)
{
	memset(c, 0, sizeof(*c));
	for (int i = 0; i < RUNS_MAX; i++) {
		c->ids[i] = i;
	}
	/* from here, as hook_enqueue() may start a hook (and log) right away */
	_cleanup_(freep) char *path = test_tmp_path("capture");
	assert_non_null(path);
	c->capture_fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(c->capture_fd >= 0);
	fflush(stderr);
	saved_stderr = dup(STDERR_FILENO);
	assert_true(saved_stderr >= 0);
	assert_int_equal(dup2(c->capture_fd, STDERR_FILENO), STDERR_FILENO);

	assert_int_equal(uv_loop_init(&c->loop), 0);
	assert_int_equal(hook_runner_init(&c->runner, &c->loop, max_parallel, &ops, c), 0);
}

static char *xstrdup(const char *s)
{
	char *p = strdup(s);
	assert_non_null(p);
	return p;
}

/* Job i runs argv (NULL-terminated) with timeout_ms, stdin input (or none). */
static void enqueue(struct ctx *c, int i, uint64_t timeout_ms, const char *input, ...)
{
	struct hook_spec s = { 0 };
	const char *a;
	size_t n = 0;
	va_list ap;

	s.argv = calloc(8, sizeof(char *));
	s.envp = calloc(2, sizeof(char *));
	assert_non_null(s.argv);
	assert_non_null(s.envp);
	va_start(ap, input);
	while ((a = va_arg(ap, const char *)) && n < 7) {
		s.argv[n++] = xstrdup(a);
	}
	va_end(ap);
	s.envp[0] = xstrdup("JOBWATCH_UNIT_TEST=1");
	if (input) {
		s.input = xstrdup(input);
		s.input_len = strlen(input);
	}
	s.timeout_usec = timeout_ms * USEC_PER_MSEC;
	snprintf(s.job_id, sizeof(s.job_id), "%s", JOB_ID);
	s.file = xstrdup("/test/a.job");
	s.userdata = &c->ids[i];
	assert_int_equal(hook_enqueue(&c->runner, &s), 0);
}

/* Ends the capture; also each test's teardown, so that a failed assertion
 * during the capture does not keep the next tests' stderr. */
static int restore_stderr(void **state)
{
	(void)state;
	if (saved_stderr >= 0) {
		(void)dup2(saved_stderr, STDERR_FILENO);
		close(saved_stderr);
		saved_stderr = -1;
	}
	return 0;
}

static void on_guard(uv_timer_t *t)
{
	struct ctx *c = t->data;
	c->guard_fired = true;
	uv_stop(&c->loop);
}

/*
 * Runs the loop until every run is over (their handles keep it alive), at
 * most guard_ms (scaled). Ends the capture ctx_init() started: what was logged
 * is in c->capture.
 */
static void run_loop(struct ctx *c, uint64_t guard_ms)
{
	size_t len = 0, n;
	FILE *f;

	assert_int_equal(uv_timer_init(&c->loop, &c->guard), 0);
	c->guard.data = c;
	assert_int_equal(uv_timer_start(&c->guard, on_guard, scaled_ms(guard_ms), 0), 0);
	uv_unref((uv_handle_t *)&c->guard); /* a guard only: it keeps nothing alive */
	(void)uv_run(&c->loop, UV_RUN_DEFAULT);

	restore_stderr(NULL);
	f = fdopen(c->capture_fd, "r");
	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_SET), 0);
	c->capture = malloc(1);
	assert_non_null(c->capture);
	for (;;) {
		char buf[4096];
		n = fread(buf, 1, sizeof(buf), f);
		if (n == 0) {
			break;
		}
		c->capture = realloc(c->capture, len + n + 1);
		assert_non_null(c->capture);
		memcpy(c->capture + len, buf, n);
		len += n;
	}
	c->capture[len] = '\0';
	fclose(f);
	if (c->guard_fired) {
		fail_msg("the hooks were not over after %llu ms; logged:\n%s",
			 (unsigned long long)scaled_ms(guard_ms), c->capture);
	}
}

static void ctx_done(struct ctx *c)
{
	hook_runner_done(&c->runner);
	uv_close((uv_handle_t *)&c->guard, NULL);
	assert_int_equal(uv_run(&c->loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(uv_loop_close(&c->loop), 0);
	free(c->capture);
}

/* Where the whole line appears in the capture, or fails. */
static const char *find_line(const struct ctx *c, const char *line)
{
	size_t n = strlen(line);

	for (const char *p = c->capture; (p = strstr(p, line)); p++) {
		if ((p == c->capture || p[-1] == '\n') && p[n] == '\n') {
			return p;
		}
	}
	fail_msg("no line '%s' in:\n%s", line, c->capture);
	return NULL;
}

#define OUT(s) "jobwatchd: hook " JOB_ID ": " s
#define ERR(s) "jobwatchd: warning: hook " JOB_ID ": " s

static void test_exit_status_and_lines(void **state)
{
	struct ctx c;

	(void)state;
	ctx_init(&c, 4);
	enqueue(&c, 0, 30000, NULL, helper, "lines", NULL);
	run_loop(&c, 30000);

	assert_int_equal(c.started, 1);
	assert_int_equal(c.done, 1);
	assert_int_equal(c.exits[0].exit_status, 3);
	assert_int_equal(c.exits[0].signal, 0);
	assert_int_equal(c.exits[0].spawn_error, 0);
	assert_false(c.exits[0].timed_out);
	/* each line on its own, stdout at info and stderr at warning level, in
	 * the order of its stream; CR of a CRLF dropped; the unterminated last
	 * line flushed at the end */
	const char *o1 = find_line(&c, OUT("out one"));
	const char *o2 = find_line(&c, OUT("out two"));
	const char *o3 = find_line(&c, OUT("out tail"));
	const char *e1 = find_line(&c, ERR("err one"));
	const char *e2 = find_line(&c, ERR("err two"));
	assert_true(o1 < o2 && o2 < o3);
	assert_true(e1 < e2);
	/* and the run's end, after its output */
	const char *end = strstr(c.capture, "jobwatchd: warning: Hook for job " JOB_ID
					    " exited with status 3 after ");
	assert_non_null(end);
	assert_true(end > o3 && end > e2);
	ctx_done(&c);
}

static void test_stdin(void **state)
{
	struct ctx c;

	(void)state;
	ctx_init(&c, 4);
	enqueue(&c, 0, 30000, "first\nsecond\n", helper, "cat", NULL);
	run_loop(&c, 30000);

	assert_int_equal(c.exits[0].exit_status, 0);
	assert_true(find_line(&c, OUT("first")) < find_line(&c, OUT("second")));
	ctx_done(&c);
}

/* Exactly the environment it is given, fds 0, 1 and 2 only, its own session
 * and process group, in /. */
static void test_environment_and_fds(void **state)
{
	struct ctx c;
	const char *p;
	unsigned fds = 0;

	(void)state;
	ctx_init(&c, 4);
	enqueue(&c, 0, 30000, NULL, helper, "self", NULL);
	run_loop(&c, 30000);

	assert_int_equal(c.exits[0].exit_status, 0);
	find_line(&c, OUT("env JOBWATCH_UNIT_TEST=1"));
	for (p = c.capture; (p = strstr(p, OUT("env "))); p++) {
		assert_true(strncmp(p + strlen(OUT("env ")), "JOBWATCH_UNIT_TEST=1\n", 21) == 0);
	}
	find_line(&c, OUT("fd 0"));
	find_line(&c, OUT("fd 1"));
	find_line(&c, OUT("fd 2"));
	for (p = c.capture; (p = strstr(p, OUT("fd "))); p++) {
		fds++;
	}
	if (fds != 3) {
		fail_msg("the hook has %u fds, not 3:\n%s", fds, c.capture);
	}
	find_line(&c, OUT("session leader yes"));
	find_line(&c, OUT("group leader yes"));
	find_line(&c, OUT("cwd /"));
	ctx_done(&c);
}

static void test_spawn_error(void **state)
{
	struct ctx c;

	(void)state;
	ctx_init(&c, 4);
	enqueue(&c, 0, 30000, NULL, "/nonexistent/jobwatch-hook", NULL);
	run_loop(&c, 30000);

	assert_int_equal(c.started, 0);
	assert_int_equal(c.done, 1);
	assert_int_equal(c.exits[0].spawn_error, -ENOENT);
	assert_int_equal(c.exits[0].exit_status, -1);
	assert_int_equal(c.exits[0].signal, 0);
	ctx_done(&c);
}

/* Past its Timeout= the hook gets SIGTERM, and it is enough. */
static void test_timeout_sigterm(void **state)
{
	struct ctx c;
	uint64_t timeout_ms = scaled_ms(300);

	(void)state;
	ctx_init(&c, 4);
	enqueue(&c, 0, timeout_ms, NULL, "/bin/sleep", "60", NULL);
	run_loop(&c, 30000);

	assert_int_equal(c.exits[0].signal, SIGTERM);
	assert_int_equal(c.exits[0].exit_status, -1);
	assert_true(c.exits[0].timed_out);
	assert_true(c.exits[0].duration_usec >= timeout_ms * USEC_PER_MSEC);
	assert_true(c.exits[0].duration_usec < timeout_ms * USEC_PER_MSEC + HOOK_KILL_DELAY_USEC);
	find_line(&c, "jobwatchd: warning: Hook for job " JOB_ID
		      " ran past its Timeout=, sending SIGTERM to its process group.");
	ctx_done(&c);
}

/* A hook that ignores SIGTERM gets SIGKILL HOOK_KILL_DELAY_USEC later. */
static void test_timeout_sigkill(void **state)
{
	struct ctx c;
	/* long enough for the helper to ignore SIGTERM before it comes */
	uint64_t timeout_ms = scaled_ms(1000);

	(void)state;
	ctx_init(&c, 4);
	enqueue(&c, 0, timeout_ms, NULL, helper, "ignore-term", NULL);
	run_loop(&c, 30000 + timeout_ms);

	find_line(&c, OUT("ignoring SIGTERM"));
	assert_int_equal(c.exits[0].signal, SIGKILL);
	assert_true(c.exits[0].timed_out);
	assert_true(c.exits[0].duration_usec >= timeout_ms * USEC_PER_MSEC + HOOK_KILL_DELAY_USEC);
	const char *term =
		find_line(&c, "jobwatchd: warning: Hook for job " JOB_ID
			      " ran past its Timeout=, sending SIGTERM to its process group.");
	const char *kill =
		find_line(&c, "jobwatchd: warning: Hook for job " JOB_ID
			      " did not stop after SIGTERM, sending SIGKILL to its process group.");
	assert_true(term < kill);
	ctx_done(&c);
}

/* What a hook that exited left in its group is ended after the grace. */
static void test_leftover_process(void **state)
{
	struct ctx c;
	const char *line;
	int child;
	char proc[64], *stat = NULL;
	size_t len = 0;

	(void)state;
	ctx_init(&c, 4);
	enqueue(&c, 0, 60000, NULL, helper, "leave", NULL);
	run_loop(&c, 30000);

	assert_int_equal(c.exits[0].exit_status, 0);
	assert_false(c.exits[0].timed_out);
	find_line(&c, "jobwatchd: Hook for job " JOB_ID
		      " exited but left processes running, sending SIGTERM to its process group.");
	line = strstr(c.capture, OUT("child "));
	assert_non_null(line);
	assert_int_equal(sscanf(line + strlen(OUT("child ")), "%d", &child), 1);
	assert_true(child > 0);
	/* gone, or a zombie waiting for whoever reaps orphans here */
	snprintf(proc, sizeof(proc), "/proc/%d/stat", child);
	FILE *f = fopen(proc, "re");
	if (f) {
		assert_true(getline(&stat, &len, f) > 0);
		const char *s = strrchr(stat, ')');
		assert_non_null(s);
		assert_true(s[2] == 'Z' || s[2] == 'X');
		free(stat);
		fclose(f);
	}
	ctx_done(&c);
}

/* At most MaxParallel run at once, the rest wait in FIFO order. */
static void test_max_parallel(void **state)
{
	struct ctx c;

	(void)state;
	ctx_init(&c, 2);
	for (int i = 0; i < 5; i++) {
		enqueue(&c, i, 30000, NULL, helper, "sleep", "200", NULL);
	}
	assert_int_equal(c.runner.n_running, 2);
	assert_int_equal(c.runner.n_queued, 3);
	run_loop(&c, 30000);

	assert_int_equal(c.started, 5);
	assert_int_equal(c.done, 5);
	assert_int_equal(c.max_running, 2);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(c.start_order[i], i);
		assert_int_equal(c.exits[i].exit_status, 0);
	}
	assert_int_equal(c.idle, 0); /* only while draining */
	ctx_done(&c);
}

/* Raising MaxParallel starts waiting runs at once; a burst starts
 * HOOK_STARTS_PER_TURN per loop turn. */
static void test_raise_max_parallel(void **state)
{
	struct ctx c;

	(void)state;
	ctx_init(&c, 1);
	for (int i = 0; i < 10; i++) {
		enqueue(&c, i, 30000, NULL, helper, "sleep", "100", NULL);
	}
	assert_int_equal(c.runner.n_running, 1);
	hook_runner_set_max_parallel(&c.runner, 10);
	assert_int_equal(c.runner.n_running, 1 + HOOK_STARTS_PER_TURN);
	run_loop(&c, 30000);

	assert_int_equal(c.done, 10);
	assert_true(c.max_running > 1 + HOOK_STARTS_PER_TURN);
	for (int i = 0; i < 10; i++) {
		assert_int_equal(c.start_order[i], i);
	}
	ctx_done(&c);
}

/* Draining: what runs finishes, nothing more starts, idle once; the queued
 * runs are discarded by hook_runner_done(). */
static void test_drain(void **state)
{
	struct ctx c;

	(void)state;
	ctx_init(&c, 1);
	for (int i = 0; i < 3; i++) {
		enqueue(&c, i, 30000, NULL, helper, "sleep", "100", NULL);
	}
	hook_runner_drain(&c.runner);
	assert_int_equal(c.idle, 0);
	run_loop(&c, 30000);

	assert_int_equal(c.started, 1);
	assert_int_equal(c.done, 1);
	assert_int_equal(c.idle, 1);
	assert_int_equal(c.discarded, 0);
	ctx_done(&c);
	assert_int_equal(c.discarded, 2);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_exit_status_and_lines, restore_stderr),
		cmocka_unit_test_teardown(test_stdin, restore_stderr),
		cmocka_unit_test_teardown(test_environment_and_fds, restore_stderr),
		cmocka_unit_test_teardown(test_spawn_error, restore_stderr),
		cmocka_unit_test_teardown(test_timeout_sigterm, restore_stderr),
		cmocka_unit_test_teardown(test_timeout_sigkill, restore_stderr),
		cmocka_unit_test_teardown(test_leftover_process, restore_stderr),
		cmocka_unit_test_teardown(test_max_parallel, restore_stderr),
		cmocka_unit_test_teardown(test_raise_max_parallel, restore_stderr),
		cmocka_unit_test_teardown(test_drain, restore_stderr),
	};
	const char *scale = getenv("JOBWATCH_TEST_TIME_SCALE");

	if (argc < 2) {
		fprintf(stderr, "usage: %s HOOK-HELPER [TEST]\n", argv[0]);
		return 2;
	}
	helper = realpath(argv[1], NULL); /* hooks run in / */
	if (!helper) {
		fprintf(stderr, "%s: %s: %m\n", argv[0], argv[1]);
		return 2;
	}
	if (scale && (sscanf(scale, "%lf", &time_scale) != 1 || time_scale < 1.0)) {
		fprintf(stderr, "JOBWATCH_TEST_TIME_SCALE=%s: expected a number >= 1\n", scale);
		return 2;
	}
	if (argc > 2) {
		cmocka_set_test_filter(argv[2]); /* one case by name */
	}
	log_set_identifier("jobwatchd");
	log_setup(LOG_TARGET_CONSOLE);
	log_set_max_level(LOG_INFO);
	return cmocka_run_group_tests(tests, test_tmpdir_setup, test_tmpdir_teardown);
}
