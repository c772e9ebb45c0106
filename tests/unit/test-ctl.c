/* SPDX-License-Identifier: MIT */
/*
 * jobwatchctl's insides (libjobwatchctl) and the shared helpers it was given:
 * - ctl_parse_argv() returns exit statuses: a usage error is 64 (EX_USAGE),
 *   not -64 (which is -ENONET on Linux, an errno);
 * - add and wait look at the state file with log.h muted, and put the level
 *   back as it was, not to a fixed LOG_INFO (add) or never (wait);
 * - paths_state_dir(): -s, else $STATE_DIRECTORY's first entry, else the
 *   default;
 * - diag_list_print(): FILE:LINE: warning: message, escaped, counted.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config-paths.h"
#include "ctl.h"
#include "diag.h"
#include "log.h"
#include "paths.h"
#include "string-util.h"

static char dir[64];

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/test-ctl-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	return nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void write_file(const char *name, const char *text)
{
	_cleanup_(freep) char *path = strjoin(dir, "/", name);
	FILE *f;

	assert_non_null(path);
	f = fopen(path, "we");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

static enum ctl_exit parse(const struct verb **v, size_t argc, ...)
{
	_cleanup_(freep) char **args = NULL;
	char *argv[16] = { (char *)"jobwatchctl" };
	enum ctl_exit r;
	va_list ap;
	size_t n = 0;

	assert_true(argc < ELEMENTSOF(argv));
	va_start(ap, argc);
	for (size_t i = 1; i <= argc; i++) {
		argv[i] = va_arg(ap, char *);
	}
	va_end(ap);
	optind = 0; /* getopt starts afresh */
	r = ctl_parse_argv((int)argc + 1, argv, v, &args, &n);
	return r;
}

static void test_parse_argv_statuses(void **state)
{
	const struct verb *v = (const struct verb *)&v;

	(void)state;
	assert_int_equal(parse(&v, 2, "list", "--bogus"), CTL_EXIT_USAGE);
	assert_null(v);
	assert_int_equal(parse(&v, 0), CTL_EXIT_USAGE);
	assert_int_equal(parse(&v, 1, "frobnicate"), CTL_EXIT_USAGE);
	assert_int_equal(parse(&v, 1, "add"), CTL_EXIT_USAGE);
	assert_int_equal(parse(&v, 2, "wait", "--timeout"), CTL_EXIT_USAGE);
	assert_int_equal(CTL_EXIT_USAGE, 64);
	assert_int_equal(parse(&v, 1, "--help"), CTL_EXIT_SUCCESS);
	assert_null(v);
	assert_int_equal(parse(&v, 1, "list"), CTL_EXIT_SUCCESS);
	assert_non_null(v);
	assert_string_equal(v->name, "list");
}

/* add: its note about a known outcome reads the state file quietly, then
 * gives log.h its level back. */
static void test_add_keeps_log_level(void **state)
{
	_cleanup_(freep) char *conf = strjoin(dir, "/jobwatch.conf");
	_cleanup_(freep) char *jobs = strjoin(dir, "/jobs");
	_cleanup_(freep) char *text = NULL;
	char id[] = "3c90c3cc-0d44-4b50-8888-8dd25736052a";
	char action[] = "enable";
	char *args[] = { action, id };

	(void)state;
	assert_non_null(conf);
	assert_non_null(jobs);
	assert_int_equal(mkdir(jobs, 0755), 0);
	write_file("key", "app-0123456789abcdefghij\n");
	text = strjoin("[Endpoint]\nBaseURL=http://127.0.0.1:9/v1\nAPIKeyFile=", dir, "/key\n");
	assert_non_null(text);
	write_file("jobwatch.conf", text);
	write_file(STATE_DB_NAME, ""); /* a state file with nothing in it yet */
	arg_config = conf;
	arg_jobs_dir = jobs;
	arg_state_dir = dir;

	log_set_max_level(LOG_DEBUG);
	assert_int_equal(verb_add(args, 2), CTL_EXIT_SUCCESS);
	assert_int_equal(log_get_max_level(), LOG_DEBUG);
	log_set_max_level(LOG_WARNING);
	assert_int_equal(verb_add(args, 2), CTL_EXIT_FAILURE); /* it is there now */
	assert_int_equal(log_get_max_level(), LOG_WARNING);
	arg_config = arg_jobs_dir = arg_state_dir = NULL;
}

/* wait: the status line's state reader is opened quietly; the level comes
 * back (it stayed at LOG_CRIT for the rest of the run). */
static void test_wait_keeps_log_level(void **state)
{
	uint8_t id[1][16];
	enum ctl_exit r;
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);

	(void)state;
	/* an id no journal has seen */
	assert_true(fd >= 0);
	assert_int_equal(read(fd, id[0], sizeof(id[0])), (ssize_t)sizeof(id[0]));
	close(fd);
	write_file(STATE_DB_NAME, "");
	arg_state_dir = dir;
	arg_timeout_usec = 0; /* only look */
	log_set_max_level(LOG_NOTICE);
	r = ctl_wait_for_jobs((const uint8_t(*)[16])id, 1);
	/* no such result in the journal: a timeout; 3 if there is no journal */
	assert_true(r == CTL_EXIT_TIMEOUT || r == CTL_EXIT_WAIT_ERROR);
	assert_int_equal(log_get_max_level(), LOG_NOTICE);
	arg_state_dir = NULL;
	arg_timeout_usec = USEC_INFINITY;
}

static void test_state_peek(void **state)
{
	_cleanup_(state_reader_freep) struct state_reader *r = NULL;

	(void)state;
	log_set_max_level(LOG_DEBUG);
	assert_int_equal(ctl_state_peek(dir, &r), -ENOENT);
	assert_int_equal(log_get_max_level(), LOG_DEBUG);
	write_file(STATE_DB_NAME, "");
	assert_int_equal(ctl_state_peek(dir, &r), 0);
	assert_non_null(r);
	assert_int_equal(log_get_max_level(), LOG_DEBUG);
	log_set_max_level(LOG_WARNING);
}

static void check_state_dir(const char *arg, const char *env, const char *want)
{
	_cleanup_(freep) char *d = NULL;

	if (env) {
		assert_int_equal(setenv("STATE_DIRECTORY", env, 1), 0);
	} else {
		assert_int_equal(unsetenv("STATE_DIRECTORY"), 0);
	}
	d = paths_state_dir(arg);
	assert_non_null(d);
	assert_string_equal(d, want);
}

static void test_paths_state_dir(void **state)
{
	(void)state;
	check_state_dir(NULL, NULL, JOBWATCH_STATE_DIR);
	check_state_dir(NULL, "/var/lib/jw", "/var/lib/jw");
	check_state_dir(NULL, "/var/lib/jw:/var/lib/other", "/var/lib/jw");
	check_state_dir(NULL, "", JOBWATCH_STATE_DIR);
	check_state_dir(NULL, ":/var/lib/other", JOBWATCH_STATE_DIR);
	check_state_dir("/srv/state", "/var/lib/jw", "/srv/state");
	assert_string_equal(paths_config_file(NULL), JOBWATCH_CONFIG_FILE);
	assert_string_equal(paths_config_file("/x.conf"), "/x.conf");
	unsetenv("STATE_DIRECTORY");
}

static void test_diag_list_print(void **state)
{
	_cleanup_(diag_list_donep) struct diag_list l = { 0 };
	unsigned errors = 0, warnings = 0;
	char buf[1024];
	size_t n;
	FILE *f;

	(void)state;
	diag_add(&l, DIAG_ERROR, "/etc/a.conf", 3, "bad value '%s'", "x\ny");
	diag_add(&l, DIAG_WARNING, "/etc/a.conf", 0, "unknown key");
	diag_add(&l, DIAG_WARNING, NULL, 0, "no file");
	f = fmemopen(buf, sizeof(buf), "w");
	assert_non_null(f);
	diag_list_print(&l, f, "", true, &errors, &warnings);
	diag_list_print(&l, f, "jobwatchctl: ", false, &errors, NULL);
	n = ftell(f) > 0 ? (size_t)ftell(f) : 0;
	assert_int_equal(fclose(f), 0);
	buf[MIN(n, sizeof(buf) - 1)] = '\0';
	assert_string_equal(buf, "/etc/a.conf:3: bad value 'x\\x0ay'\n"
				 "/etc/a.conf: warning: unknown key\n"
				 "warning: no file\n"
				 "jobwatchctl: /etc/a.conf:3: bad value 'x\\x0ay'\n");
	assert_int_equal(errors, 2);
	assert_int_equal(warnings, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_argv_statuses),
		cmocka_unit_test_setup_teardown(test_add_keeps_log_level, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wait_keeps_log_level, setup, teardown),
		cmocka_unit_test_setup_teardown(test_state_peek, setup, teardown),
		cmocka_unit_test(test_paths_state_dir),
		cmocka_unit_test(test_diag_list_print),
	};

	log_set_identifier("jobwatchctl");
	log_setup(LOG_TARGET_CONSOLE);
	log_set_max_level(LOG_WARNING);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
