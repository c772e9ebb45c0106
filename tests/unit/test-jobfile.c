/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "alloc-util.h"
#include "config.h"
#include "escape.h"
#include "fd-util.h"
#include "ini.h"
#include "jobfile.h"
#include "kinddef.h"
#include "uuid-util.h"
#include "test-helpers.h"

#define ID "3c90c3cc-0d44-4b50-8888-8dd25736052a"

static void assert_contains(const char *haystack, const char *needle)
{
	if (!strstr(haystack, needle)) {
		print_error("'%s' does not contain '%s'\n", haystack, needle);
		fail();
	}
}

static void print_diags(const struct diag_list *d)
{
	char buf[1024];

	for (size_t i = 0; i < d->n; i++) {
		print_error("  %s: %s\n", d->items[i].level == DIAG_ERROR ? "error" : "warning",
			    diag_format(&d->items[i], buf, sizeof(buf)));
	}
}

static void assert_n_diags(const struct diag_list *d, size_t n)
{
	if (d->n != n) {
		print_error("expected %zu diagnostics, got %zu:\n", n, d->n);
		print_diags(d);
		fail();
	}
}

/* Entry i is level at file:line, its message containing text. */
static void assert_diag(const struct diag_list *d, size_t i, enum diag_level level,
			const char *file, unsigned line, const char *text)
{
	if (i >= d->n) {
		print_error("no diagnostic #%zu, there are:\n", i);
		print_diags(d);
		fail();
	}
	assert_int_equal(d->items[i].level, level);
	assert_string_equal(d->items[i].file, file);
	assert_int_equal(d->items[i].line, line);
	assert_contains(d->items[i].message, text);
}

static int parse(const char *text, struct jobfile *j, struct diag_list *d)
{
	return jobfile_parse_buffer("test.job", text, strlen(text), j, d);
}

/* text must fail with one error at line containing message. */
static void check_invalid(const char *text, unsigned line, const char *message)
{
	struct jobfile j;
	struct diag_list d = {};

	memset(&j, 0x55, sizeof(j));
	assert_int_equal(parse(text, &j, &d), -EINVAL);
	assert_n_diags(&d, 1);
	assert_diag(&d, 0, DIAG_ERROR, "test.job", line, message);
	/* Nothing half-parsed is handed back. */
	assert_null(j.endpoint);
	assert_null(j.description);
	assert_null(j.hook);
	diag_list_done(&d);
}

static void test_minimal(void **state)
{
	struct jobfile j = {};
	struct diag_list d = {};
	char buf[UUID_STRING_MAX];

	assert_int_equal(parse("[Job]\nJobID=" ID "\nAction=enable\n", &j, &d), 0);
	assert_n_diags(&d, 0);
	assert_string_equal(uuid_to_string(j.id, buf), ID);
	assert_int_equal(j.action, JOB_ACTION_ENABLE);
	assert_null(j.endpoint);
	assert_null(j.description);
	assert_null(j.hook);
	assert_false(j.has_timeout);
	assert_int_equal(j.line_endpoint, 0);
	assert_int_equal(j.line_hook, 0);
	jobfile_done(&j);
	jobfile_done(&j);
	jobfile_done(NULL);
}

static void test_every_key(void **state)
{
	struct jobfile j = {};
	struct diag_list d = {};
	char buf[UUID_STRING_MAX];

	assert_int_equal(
		parse("# a job\n"
		      "[Job]\n"
		      "JobID=3C90C3CC-0D44-4B50-8888-8DD25736052A\n"
		      "Action=disable\n"
		      "Endpoint=support-bot\n"
		      "Description=FAQ bot re-index, caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac # 1\n"
		      "Hook=/path/to/other-hook --arg \"two words\"\n"
		      "Timeout=2h\n"
		      "StallAfter=10min\n",
		      &j, &d),
		0);
	assert_n_diags(&d, 0);
	assert_string_equal(uuid_to_string(j.id, buf), ID);
	assert_int_equal(j.action, JOB_ACTION_DISABLE);
	assert_string_equal(j.endpoint, "support-bot");
	assert_int_equal(j.line_endpoint, 5);
	assert_string_equal(j.description,
			    "FAQ bot re-index, caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac # 1");
	assert_string_equal(j.hook, "/path/to/other-hook --arg \"two words\"");
	assert_int_equal(j.line_hook, 7);
	assert_true(j.has_timeout);
	assert_int_equal(j.timeout_usec, 2 * USEC_PER_HOUR);
	assert_true(j.has_stall_after);
	assert_int_equal(j.stall_after_usec, 10 * USEC_PER_MINUTE);
	jobfile_done(&j);

	/* StallAfter=infinity turns stall warnings off for this job */
	assert_int_equal(parse("[Job]\nJobID=" ID "\nAction=enable\nStallAfter=infinity\n", &j, &d),
			 0);
	assert_true(j.has_stall_after);
	assert_true(j.stall_after_usec == USEC_INFINITY);
	jobfile_done(&j);
}

static void test_special_values(void **state)
{
	struct jobfile j = {};
	struct diag_list d = {};

	/* "default" is the unnamed endpoint; stored as NULL like no Endpoint=. */
	assert_int_equal(parse("[Job]\nJobID=" ID "\nAction=enable\nEndpoint=default\nHook=\n"
			       "Description=\n",
			       &j, &d),
			 0);
	assert_n_diags(&d, 0);
	assert_null(j.endpoint);
	assert_int_equal(j.line_endpoint, 4);
	/* An empty Hook= disables the hook: "" rather than NULL. */
	assert_non_null(j.hook);
	assert_string_equal(j.hook, "");
	assert_int_equal(j.line_hook, 5);
	assert_null(j.description);
	jobfile_done(&j);
}

static void test_later_wins(void **state)
{
	struct jobfile j = {};
	struct diag_list d = {};

	assert_int_equal(parse("[Job]\nJobID=00000000-0000-0000-0000-000000000000\nAction=enable\n"
			       "Endpoint=a\nJobID=" ID "\nAction=disable\nEndpoint=b\nEndpoint=\n"
			       "Timeout=1h\nTimeout=5min\n[Job]\nDescription=x\n",
			       &j, &d),
			 0);
	assert_n_diags(&d, 0);
	assert_int_equal(j.id[0], 0x3c);
	assert_int_equal(j.action, JOB_ACTION_DISABLE);
	assert_null(j.endpoint);
	assert_int_equal(j.timeout_usec, 5 * USEC_PER_MINUTE);
	assert_string_equal(j.description, "x");
	jobfile_done(&j);
}

static void test_warnings_only(void **state)
{
	struct jobfile j = {};
	struct diag_list d = {};

	assert_int_equal(
		parse("[Job]\nJobID=" ID "\nAction=enable\nFoo=bar\n[Other]\nX=1\nY=2\n", &j, &d),
		0);
	assert_n_diags(&d, 2);
	assert_diag(&d, 0, DIAG_WARNING, "test.job", 4,
		    "Unknown key 'Foo' in section [Job], ignoring");
	assert_diag(&d, 1, DIAG_WARNING, "test.job", 5, "Unknown section [Other], ignoring");
	jobfile_done(&j);
	diag_list_done(&d);

	/* The caller may pass no list. */
	assert_int_equal(jobfile_parse_buffer("t", "[Job]\nJobID=" ID "\nAction=enable\nX=1\n",
					      strlen("[Job]\nJobID=" ID "\nAction=enable\nX=1\n"),
					      &j, NULL),
			 0);
	jobfile_done(&j);
}

/* Unknown keys and invalid values are quoted escaped, at most 32 bytes. */
static void test_hostile_text(void **state)
{
	struct jobfile j = {};
	struct diag_list d = {};

	assert_int_equal(parse("[Job]\nJobID=" ID "\nAction=enable\n"
			       "K\x1b[2J"
			       "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkSECRET=v\n"
			       "[Sec\xc2\x85tion]\nX=1\n",
			       &j, &d),
			 0);
	assert_n_diags(&d, 2);
	assert_diag(&d, 0, DIAG_WARNING, "test.job", 4,
		    "Unknown key 'K\\x1b[2Jkkkkkkkkkkkkkkkkkkkkkkkkkkk" ESCAPE_ELLIPSIS
		    "' in section [Job], ignoring");
	assert_diag(&d, 1, DIAG_WARNING, "test.job", 5,
		    "Unknown section [Sec\\xc2\\x85tion], ignoring");
	jobfile_done(&j);
	diag_list_done(&d);

	assert_int_equal(
		parse("[Job]\nJobID=" ID "\nAction=en\x1b[2Jable-and-a-long-tail-SECRET\n", &j, &d),
		-EINVAL);
	assert_diag(&d, 0, DIAG_ERROR, "test.job", 3,
		    "Invalid Action= value 'en\\x1b[2Jable-and-a-long-tail-SECRE" ESCAPE_ELLIPSIS
		    "'");
	jobfile_done(&j);
	diag_list_done(&d);
}

static void test_missing_keys(void **state)
{
	struct jobfile j = {};
	struct diag_list d = {};

	check_invalid("# x\n[Job]\nAction=enable\n", 2, "Missing required key JobID= in [Job]");
	check_invalid("[Job]\nJobID=" ID "\n", 1, "Missing required key Action= in [Job]");

	/* Without a [Job] section there is no line to point at. */
	assert_int_equal(parse("[Other]\nJobID=" ID "\n", &j, &d), -EINVAL);
	assert_n_diags(&d, 3);
	assert_diag(&d, 1, DIAG_ERROR, "test.job", 0, "Missing required key JobID= in [Job]");
	assert_diag(&d, 2, DIAG_ERROR, "test.job", 0, "Missing required key Action= in [Job]");
	diag_list_done(&d);

	assert_int_equal(parse("", &j, &d), -EINVAL);
	assert_int_equal(d.n_errors, 2);
	diag_list_done(&d);

	/* Errors fail the parse even without a list to put them in. */
	assert_int_equal(jobfile_parse_buffer("t", "", 0, &j, NULL), -EINVAL);
}

static void test_invalid_values(void **state)
{
	char desc[JOBFILE_DESCRIPTION_MAX + 128];
	size_t n;

	check_invalid("[Job]\nJobID=" ID "\nAction=enabel\n", 3,
		      "Invalid Action= value 'enabel', expected 'enable' or 'disable'");
	check_invalid("[Job]\nJobID=" ID "\nAction=Enable\n", 3, "Invalid Action= value 'Enable'");
	check_invalid("[Job]\nJobID=" ID "\nAction=\n", 3, "Invalid Action= value ''");
	check_invalid("[Job]\nJobID=not-a-uuid\nAction=enable\n", 2,
		      "Invalid JobID= value 'not-a-uuid', expected a UUID such as '" ID "'");
	check_invalid("[Job]\nJobID={" ID "}\nAction=enable\n", 2, "Invalid JobID= value");
	check_invalid("[Job]\nJobID=" ID "\nAction=enable\nEndpoint=bad name\n", 4,
		      "Invalid Endpoint= value 'bad name', expected an endpoint name");
	check_invalid("[Job]\nJobID=" ID "\nAction=enable\nEndpoint=../x\n", 4,
		      "Invalid Endpoint= value '../x'");
	check_invalid("[Job]\nJobID=" ID "\nAction=enable\nHook=/bin/x 'open\n", 4,
		      "Invalid Hook= value '/bin/x 'open': unbalanced quotes or an invalid escape");
	check_invalid("[Job]\nJobID=" ID "\nAction=enable\nTimeout=0\n", 4,
		      "Invalid Timeout= value '0', expected a finite time span above 0");
	check_invalid("[Job]\nJobID=" ID "\nAction=enable\nTimeout=infinity\n", 4,
		      "Invalid Timeout= value 'infinity'");
	check_invalid("[Job]\nJobID=" ID "\nAction=enable\nTimeout=2 fortnights\n", 4,
		      "Invalid Timeout= value '2 fortnights'");
	check_invalid("[Job]\nJobID=" ID "\nAction=enable\nStallAfter=0\n", 4,
		      "Invalid StallAfter= value '0', expected a time span above 0");
	check_invalid("[Job]\nJobID=" ID "\nAction=enable\nStallAfter=soon\n", 4,
		      "Invalid StallAfter= value 'soon'");
	check_invalid("[Job]\nJobID=" ID "\nAction=enable\nDescription=a\x01z\n", 4,
		      "Invalid Description= value, expected UTF-8 text without control characters");
	check_invalid("[Job]\nJobID=" ID "\nAction=enable\nDescription=a\tz\n", 4,
		      "without control characters");
	check_invalid("[Job]\nJobID=" ID "\nAction=enable\nDescription=a\x7fz\n", 4,
		      "without control characters");
	check_invalid("[Job]\nJobID=" ID "\nAction=enable\nDescription=a\xc2\x85z\n", 4,
		      "without control characters");
	check_invalid("[Job]\nJobID=" ID "\nAction=enable\nDescription=caf\xe9\n", 4,
		      "expected UTF-8 text");
	check_invalid("[Job]\nJobID=" ID "\nAction=enable\nDescription=\xc0\xaf\n", 4,
		      "expected UTF-8 text");
	check_invalid("[Job]\nJobID=" ID "\nAction=enable\nDescription=\xed\xa0\x80\n", 4,
		      "expected UTF-8 text");
	check_invalid("[Job]\nJobID=" ID "\nAction=enable\nDescription=\xe6\x97\n", 4,
		      "expected UTF-8 text");

	/* At most JOBFILE_DESCRIPTION_MAX bytes. */
	n = (size_t)snprintf(desc, sizeof(desc),
			     "[Job]\nJobID=" ID "\nAction=enable\nDescription=");
	memset(desc + n, 'd', JOBFILE_DESCRIPTION_MAX + 1);
	desc[n + JOBFILE_DESCRIPTION_MAX + 1] = '\0';
	check_invalid(desc, 4,
		      "Description= is too long (1025 bytes), expected at most 1024 bytes");
	{
		struct jobfile j = {};

		desc[n + JOBFILE_DESCRIPTION_MAX] = '\0';
		assert_int_equal(parse(desc, &j, NULL), 0);
		assert_int_equal(strlen(j.description), JOBFILE_DESCRIPTION_MAX);
		jobfile_done(&j);
	}
}

static void test_several_errors(void **state)
{
	struct jobfile j = {};
	struct diag_list d = {};

	assert_int_equal(parse("[Job]\nJobID=x\nAction=y\nnonsense\n", &j, &d), -EINVAL);
	/* Every problem once; keys with bad values are not "missing" too. */
	assert_n_diags(&d, 3);
	assert_diag(&d, 0, DIAG_ERROR, "test.job", 2, "Invalid JobID=");
	assert_diag(&d, 1, DIAG_ERROR, "test.job", 3, "Invalid Action=");
	assert_diag(&d, 2, DIAG_ERROR, "test.job", 4, "Missing '='");
	diag_list_done(&d);
}

static void test_name_is_valid(void **state)
{
	assert_true(jobfile_name_is_valid("a.job"));
	assert_true(jobfile_name_is_valid("faq-reindex.job"));
	assert_true(jobfile_name_is_valid("x.job.job"));
	assert_false(jobfile_name_is_valid(".job"));
	assert_false(jobfile_name_is_valid(".a.job"));
	assert_false(jobfile_name_is_valid("a.job~"));
	assert_false(jobfile_name_is_valid("a.jobs"));
	assert_false(jobfile_name_is_valid("a.JOB"));
	assert_false(jobfile_name_is_valid("job"));
	assert_false(jobfile_name_is_valid(""));
	assert_false(jobfile_name_is_valid(NULL));
}

static void test_action_strings(void **state)
{
	assert_string_equal(job_action_to_string(JOB_ACTION_ENABLE), "enable");
	assert_string_equal(job_action_to_string(JOB_ACTION_DISABLE), "disable");
	assert_null(job_action_to_string(_JOB_ACTION_MAX));
	assert_int_equal(job_action_from_string("disable"), JOB_ACTION_DISABLE);
	assert_int_equal(job_action_from_string("DISABLE"), -EINVAL);
	assert_int_equal(job_action_from_string(NULL), -EINVAL);
}

static struct config *make_config(const char *text)
{
	struct config *c = config_new();

	assert_non_null(c);
	assert_int_equal(config_parse_buffer(c, "jobwatch.conf", text, strlen(text), NULL), 0);
	return c;
}

static void test_check_refs(void **state)
{
	_cleanup_(config_freep) struct config *both = make_config(
		"[Endpoint]\nBaseURL=https://a\n[Endpoint:support-bot]\nBaseURL=https://b\n"
		"[Hook]\nAllowJobHooks=yes\n");
	_cleanup_(config_freep) struct config *named_only = make_config(
		"[Endpoint:support-bot]\nBaseURL=https://b\n[Hook]\nAllowJobHooks=yes\n");
	struct jobfile j = {};
	struct diag_list d = {};

	assert_int_equal(parse("[Job]\nJobID=" ID "\nAction=enable\nEndpoint=support-bot\n"
			       "Hook=/bin/hook 'a b'\n",
			       &j, NULL),
			 0);
	assert_int_equal(jobfile_check_refs("test.job", &j, both, &d), 0);
	assert_int_equal(jobfile_check_refs("test.job", &j, named_only, &d), 0);
	assert_n_diags(&d, 0);
	jobfile_done(&j);

	assert_int_equal(parse("[Job]\nJobID=" ID "\nAction=enable\n\nEndpoint=nope\n", &j, NULL),
			 0);
	assert_int_equal(jobfile_check_refs("test.job", &j, both, &d), -EINVAL);
	assert_n_diags(&d, 1);
	assert_diag(&d, 0, DIAG_ERROR, "test.job", 5,
		    "Endpoint= 'nope' does not name an [Endpoint:nope] section");
	jobfile_done(&j);
	diag_list_done(&d);

	assert_int_equal(parse("[Job]\nJobID=" ID "\nAction=enable\n", &j, NULL), 0);
	assert_int_equal(jobfile_check_refs("test.job", &j, both, &d), 0);
	assert_int_equal(jobfile_check_refs("test.job", &j, named_only, &d), -EINVAL);
	assert_diag(&d, 0, DIAG_ERROR, "test.job", 0,
		    "No Endpoint= is set and the configuration has no default [Endpoint]");
	jobfile_done(&j);
	diag_list_done(&d);

	assert_int_equal(
		parse("[Job]\nJobID=" ID "\nAction=enable\nHook=relative/hook --x\n", &j, NULL), 0);
	assert_int_equal(jobfile_check_refs("test.job", &j, both, &d), -EINVAL);
	assert_diag(&d, 0, DIAG_ERROR, "test.job", 4,
		    "Invalid Hook= value 'relative/hook --x', expected an absolute path first");
	jobfile_done(&j);
	diag_list_done(&d);

	assert_int_equal(parse("[Job]\nJobID=" ID "\nAction=enable\nHook=\"\"\n", &j, NULL), 0);
	assert_int_equal(jobfile_check_refs("test.job", &j, both, &d), -EINVAL);
	assert_diag(&d, 0, DIAG_ERROR, "test.job", 4, "expected an absolute path first");
	jobfile_done(&j);
	diag_list_done(&d);

	/* An empty Hook= disables the hook; nothing to check. */
	assert_int_equal(parse("[Job]\nJobID=" ID "\nAction=enable\nHook=\n", &j, NULL), 0);
	assert_int_equal(jobfile_check_refs("test.job", &j, both, &d), 0);
	assert_n_diags(&d, 0);
	jobfile_done(&j);
}

/* A job file's own Hook= runs code as the service: only when the
 * configuration says so. An empty Hook= (no hook) is always fine. */
static void test_check_refs_job_hooks(void **state)
{
	_cleanup_(config_freep) struct config *deflt =
		make_config("[Endpoint]\nBaseURL=https://a\n");
	_cleanup_(config_freep) struct config *off =
		make_config("[Endpoint]\nBaseURL=https://a\n[Hook]\nAllowJobHooks=no\n");
	_cleanup_(config_freep) struct config *on =
		make_config("[Endpoint]\nBaseURL=https://a\n[Hook]\nAllowJobHooks=yes\n");
	struct jobfile j = {};
	struct diag_list d = {};

	assert_false(deflt->allow_job_hooks);
	assert_false(off->allow_job_hooks);
	assert_true(on->allow_job_hooks);

	assert_int_equal(
		parse("[Job]\nJobID=" ID "\nAction=enable\nHook=/bin/hook --x\n", &j, NULL), 0);
	assert_int_equal(jobfile_check_refs("test.job", &j, deflt, &d), -EINVAL);
	assert_int_equal(jobfile_check_refs("test.job", &j, off, &d), -EINVAL);
	assert_n_diags(&d, 2);
	assert_diag(
		&d, 0, DIAG_ERROR, "test.job", 4,
		"Hook= is not allowed in job files: the configuration does not set [Hook] AllowJobHooks=yes");
	assert_diag(&d, 1, DIAG_ERROR, "test.job", 4, "AllowJobHooks=yes");
	diag_list_done(&d);
	assert_int_equal(jobfile_check_refs("test.job", &j, on, &d), 0);
	assert_n_diags(&d, 0);
	jobfile_done(&j);

	assert_int_equal(parse("[Job]\nJobID=" ID "\nAction=enable\nHook=\n", &j, NULL), 0);
	assert_int_equal(jobfile_check_refs("test.job", &j, deflt, &d), 0);
	assert_n_diags(&d, 0);
	jobfile_done(&j);
}

static int open_tmpdir(void)
{
	int fd = open(test_tmpdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	assert_true(fd >= 0);
	return fd;
}

static void write_at(int dirfd, const char *name, const char *data, size_t len)
{
	assert_int_equal(test_write_file_at(dirfd, name, data, len), 0);
}

static const char good_job[] = "[Job]\nJobID=" ID "\nAction=enable\n";

static void test_load(void **state)
{
	_cleanup_(closep) int dirfd = open_tmpdir();
	struct jobfile j = {};
	struct diag_list d = {};

	write_at(dirfd, "good.job", good_job, strlen(good_job));
	assert_int_equal(jobfile_load(dirfd, "good.job", "/jobs/good.job", &j, &d), 0);
	assert_n_diags(&d, 0);
	assert_int_equal(j.action, JOB_ACTION_ENABLE);
	jobfile_done(&j);

	/* Gone: nothing to report, the file was removed. */
	assert_int_equal(jobfile_load(dirfd, "gone.job", "/jobs/gone.job", &j, &d), -ENOENT);
	assert_n_diags(&d, 0);

	write_at(dirfd, "bad.job", "[Job]\nAction=enable\n", 20);
	assert_int_equal(jobfile_load(dirfd, "bad.job", "/jobs/bad.job", &j, &d), -EINVAL);
	assert_diag(&d, 0, DIAG_ERROR, "/jobs/bad.job", 1, "Missing required key JobID=");
	diag_list_done(&d);
}

static void test_load_refused(void **state)
{
	_cleanup_(closep) int dirfd = open_tmpdir();
	static const char binary[] = "[Job]\nJobID=" ID "\n\0\n";
	struct jobfile j = {};
	struct diag_list d = {};

	write_at(dirfd, "target.job", good_job, strlen(good_job));
	assert_int_equal(symlinkat("target.job", dirfd, "link.job"), 0);
	assert_int_equal(jobfile_load(dirfd, "link.job", "/jobs/link.job", &j, &d), -ELOOP);
	assert_n_diags(&d, 1);
	assert_diag(&d, 0, DIAG_ERROR, "/jobs/link.job", 0,
		    "is a symbolic link, refusing to follow it");
	diag_list_done(&d);

	/* A FIFO without a writer would block a plain open() forever. */
	assert_int_equal(mkfifoat(dirfd, "fifo.job", 0600), 0);
	alarm(10);
	assert_int_equal(jobfile_load(dirfd, "fifo.job", "/jobs/fifo.job", &j, &d), -EBADFD);
	alarm(0);
	assert_diag(&d, 0, DIAG_ERROR, "/jobs/fifo.job", 0,
		    "File is a FIFO, expected a regular file, refusing to read it");
	diag_list_done(&d);

	assert_int_equal(mkdirat(dirfd, "dir.job", 0700), 0);
	assert_int_equal(jobfile_load(dirfd, "dir.job", "/jobs/dir.job", &j, &d), -EBADFD);
	assert_diag(&d, 0, DIAG_ERROR, "/jobs/dir.job", 0, "File is a directory");
	diag_list_done(&d);

	write_at(dirfd, "binary.job", binary, sizeof(binary) - 1);
	assert_int_equal(jobfile_load(dirfd, "binary.job", "/jobs/binary.job", &j, &d), -EINVAL);
	assert_n_diags(&d, 1);
	assert_diag(&d, 0, DIAG_ERROR, "/jobs/binary.job", 3,
		    "File contains a NUL byte, refusing binary content");
	diag_list_done(&d);
	assert_null(j.hook);
}

static void test_load_sizes(void **state)
{
	_cleanup_(closep) int dirfd = open_tmpdir();
	_cleanup_(freep) char *data = malloc(INI_FILE_MAX + 1);
	size_t n = strlen(good_job);
	struct jobfile j = {};
	struct diag_list d = {};

	/* A valid job padded with comment lines to exactly the cap. */
	assert_non_null(data);
	memcpy(data, good_job, n);
	memset(data + n, '#', INI_FILE_MAX - n);
	data[INI_FILE_MAX - 1] = '\n';
	write_at(dirfd, "max.job", data, INI_FILE_MAX);
	assert_int_equal(jobfile_load(dirfd, "max.job", "/jobs/max.job", &j, &d), 0);
	assert_n_diags(&d, 0);
	jobfile_done(&j);

	write_at(dirfd, "big.job", data, INI_FILE_MAX + 1);
	assert_int_equal(jobfile_load(dirfd, "big.job", "/jobs/big.job", &j, &d), -EFBIG);
	assert_n_diags(&d, 1);
	assert_diag(&d, 0, DIAG_ERROR, "/jobs/big.job", 0,
		    "File too large (65537 bytes, at most 65536), refusing to read it");
	diag_list_done(&d);
}

static void test_format(void **state)
{
	uint8_t id[16];
	struct jobfile j = {};
	int error = 1;
	char *s;

	assert_int_equal(uuid_from_string(ID, id), 0);

	s = jobfile_format(id, JOB_ACTION_ENABLE, NULL, NULL, &error);
	assert_string_equal(s, "[Job]\nJobID=" ID "\nAction=enable\n");
	assert_int_equal(error, 0);
	free(s);

	s = jobfile_format(id, JOB_ACTION_DISABLE, "support-bot", "FAQ bot re-index \\\\", NULL);
	assert_string_equal(s, "[Job]\nJobID=" ID "\nAction=disable\nEndpoint=support-bot\n"
			       "Description=FAQ bot re-index \\\\\n");
	assert_int_equal(parse(s, &j, NULL), 0);
	assert_int_equal(j.action, JOB_ACTION_DISABLE);
	assert_string_equal(j.endpoint, "support-bot");
	assert_string_equal(j.description, "FAQ bot re-index \\\\");
	jobfile_done(&j);
	free(s);

	/* Empty strings mean "not set". */
	s = jobfile_format(id, JOB_ACTION_ENABLE, "", "", &error);
	assert_string_equal(s, "[Job]\nJobID=" ID "\nAction=enable\n");
	free(s);
}

static void check_format_refused(enum job_action action, const char *endpoint,
				 const char *description)
{
	uint8_t id[16] = {};
	int error = 0;

	assert_null(jobfile_format(id, action, endpoint, description, &error));
	assert_int_equal(error, -EINVAL);
}

static void test_format_refused(void **state)
{
	char long_desc[JOBFILE_DESCRIPTION_MAX + 2];

	check_format_refused(JOB_ACTION_ENABLE, NULL, "two\nlines");
	check_format_refused(JOB_ACTION_ENABLE, NULL, "cr\r");
	check_format_refused(JOB_ACTION_ENABLE, NULL, "tab\there");
	check_format_refused(JOB_ACTION_ENABLE, NULL, "bell\a");
	check_format_refused(JOB_ACTION_ENABLE, NULL, "bad utf-8 \xff");
	/* Would be stripped or joined with the next line on reading. */
	check_format_refused(JOB_ACTION_ENABLE, NULL, " leading");
	check_format_refused(JOB_ACTION_ENABLE, NULL, "trailing ");
	check_format_refused(JOB_ACTION_ENABLE, NULL, "continued \\");
	check_format_refused(JOB_ACTION_ENABLE, "bad name", NULL);
	check_format_refused(JOB_ACTION_ENABLE, "a/b", NULL);
	check_format_refused(_JOB_ACTION_MAX, NULL, NULL);
	check_format_refused((enum job_action) - 1, NULL, NULL);

	memset(long_desc, 'd', sizeof(long_desc) - 1);
	long_desc[sizeof(long_desc) - 1] = '\0';
	check_format_refused(JOB_ACTION_ENABLE, NULL, long_desc);

	/* A file can reach such a value across a continuation line (found by
	 * fuzz-jobfile): the job is valid, the writer still refuses the value. */
	struct jobfile j = {};
	assert_int_equal(parse("[Job]\nJobID=" ID "\nAction=enable\nDescription=ends in two\\ \\\n",
			       &j, NULL),
			 0);
	assert_string_equal(j.description, "ends in two\\");
	check_format_refused(JOB_ACTION_ENABLE, NULL, j.description);
	jobfile_done(&j);
}

#define DATASET "11111111-2222-4333-8444-555555555555"
#define BATCH "20261202075447123456"

/* Kind= and the keys of each kind (kind.h). */
static void test_kinds(void **state)
{
	struct jobfile j = {};
	struct diag_list d = {};
	char buf[KIND_ID_STRING_MAX];

	/* without Kind=: annotation-reply, as every job file before kinds */
	assert_int_equal(parse("[Job]\nJobID=" ID "\nAction=disable\n", &j, &d), 0);
	assert_int_equal(j.ident.kind, KIND_ANNOTATION_REPLY);
	assert_int_equal(j.ident.action, JOB_ACTION_DISABLE);
	assert_string_equal(kind_ident_id_string(&j.ident, buf), ID);
	assert_int_equal(j.line_kind, 0);
	jobfile_done(&j);

	assert_int_equal(
		parse("[Job]\nKind=annotation-reply\nJobID=" ID "\nAction=enable\n", &j, &d), 0);
	assert_int_equal(j.ident.kind, KIND_ANNOTATION_REPLY);
	assert_int_equal(j.line_kind, 2);
	jobfile_done(&j);

	/* Kind= may come after the keys it decides about */
	assert_int_equal(parse("[Job]\nJobID=" ID "\nKind=workflow-run\nEndpoint=wf\n", &j, &d), 0);
	assert_n_diags(&d, 0);
	assert_int_equal(j.ident.kind, KIND_WORKFLOW_RUN);
	assert_int_equal(j.ident.action, 0);
	assert_string_equal(kind_ident_id_string(&j.ident, buf), ID);
	assert_string_equal(j.endpoint, "wf");
	jobfile_done(&j);

	assert_int_equal(parse("[Job]\nKind=document-indexing\nDataset=" DATASET "\nBatch=" BATCH
			       "\nEndpoint=kb\n",
			       &j, &d),
			 0);
	assert_n_diags(&d, 0);
	assert_int_equal(j.ident.kind, KIND_DOCUMENT_INDEXING);
	assert_string_equal(kind_ident_id_string(&j.ident, buf), BATCH);
	assert_string_equal(kind_field_to_string(&j.ident, KIND_FIELD_DATASET, buf), DATASET);
	jobfile_done(&j);

	/* errors, each at its line */
	check_invalid(
		"[Job]\nKind=document-indexing\nDataset=" DATASET "\nBatch=" ID "\n", 4,
		"Invalid Batch= value '3c90c3cc-0d44-4b50-8888-8dd25736\xe2\x80\xa6', expected Dify's batch id of 20 digits");
	check_invalid("[Job]\nKind=document-indexing\nDataset=" BATCH "\nBatch=" BATCH "\n", 3,
		      "Invalid Dataset= value '" BATCH "', expected a UUID");
	check_invalid("[Job]\nKind=workflow-run\nJobID=" ID "\nAction=enable\n", 4,
		      "Action= is not a key of Kind=workflow-run");
	check_invalid("# x\n[Job]\nKind=document-indexing\nDataset=" DATASET "\n", 2,
		      "Missing required key Batch= in [Job] for Kind=document-indexing");
	check_invalid("[Job]\nKind=document-indexing\nBatch=" BATCH "\n", 1,
		      "Missing required key Dataset= in [Job] for Kind=document-indexing");
	check_invalid("[Job]\nKind=document-indexing\nJobID=" ID "\nDataset=" DATASET
		      "\nBatch=" BATCH "\n",
		      3, "JobID= is not a key of Kind=document-indexing");
	check_invalid("[Job]\nKind=workflow-run\n", 1,
		      "Missing required key JobID= in [Job] for Kind=workflow-run");
	check_invalid("[Job]\nJobID=" ID "\nAction=enable\nBatch=" BATCH "\n", 4,
		      "Batch= is not a key of Kind=annotation-reply (the default kind)");
	check_invalid("[Job]\nKind=annotation-reply\nJobID=" ID "\nAction=enable\nDataset=" DATASET
		      "\n",
		      5, "Dataset= is not a key of Kind=annotation-reply");
	/* an unknown kind: one error, its keys are not judged */
	check_invalid(
		"[Job]\nKind=work flow\nJobID=" ID "\n", 2,
		"Invalid Kind= value 'work flow', expected one of annotation-reply, document-indexing, workflow-run or the name of a [Kind:NAME] section");
	check_invalid("[Job]\nKind=\nJobID=" ID "\nAction=enable\n", 2, "Invalid Kind= value ''");
}

/* A [Kind:NAME] added to c as config.c will (kinddef.h); lines "Key=value". */
static void add_kind(struct config *c, const char *name, const char *const *lines)
{
	struct kind_def *def = kinddef_new(name, "jobwatch.conf", 10);
	struct diag_list d = {};

	assert_non_null(def);
	for (unsigned i = 0; lines[i]; i++) {
		char key[64];
		const char *eq = strchr(lines[i], '=');
		snprintf(key, sizeof(key), "%.*s", (int)(eq - lines[i]), lines[i]);
		assert_int_equal(kinddef_set(def, key, eq + 1, "jobwatch.conf", 11 + i, &d), 0);
	}
	assert_int_equal(kinddef_validate(def, &d), 0);
	assert_n_diags(&d, 0);
	assert_true(grow_array((void **)&c->kinds, &c->kinds_allocated, sizeof(*c->kinds),
			       c->n_kinds + 1));
	c->kinds[c->n_kinds++] = def;
}

static struct config *user_kind_config(void)
{
	struct config *c = make_config("[Endpoint]\nBaseURL=https://a\n");
	add_kind(c, "openai-batch",
		 (const char *const[]){ "StatusPath=/batches/{id}", "StatusField=/status",
					"Completed=completed", NULL });
	add_kind(c, "render",
		 (const char *const[]){ "StatusPath=/projects/{Project}/renders/{id}?q={Queue}",
					"StatusField=/state", "Completed=done", NULL });
	return c;
}

/* Kind= naming a [Kind:NAME]: JobID= is text, {Key}s kept, resolved by
 * jobfile_check_refs() into the identity text. */
static void test_user_kinds(void **state)
{
	_cleanup_(config_freep) struct config *c = user_kind_config();
	_cleanup_(config_freep) struct config *none =
		make_config("[Endpoint]\nBaseURL=https://a\n");
	struct jobfile j = {};
	struct diag_list d = {};
	char buf[KIND_ID_STRING_MAX], name[KIND_NAME_MAX];

	/* JobID= before Kind=: text, not a UUID */
	assert_int_equal(parse("[Job]\nJobID=batch_abc123\nKind=openai-batch\n", &j, &d), 0);
	assert_n_diags(&d, 0);
	assert_int_equal(j.ident.kind, KIND_USER);
	assert_null(j.ident.user); /* not resolved yet */
	assert_null(kind_ident_id_string(&j.ident, buf));
	assert_int_equal(jobfile_check_refs("test.job", &j, c, &d), 0);
	assert_n_diags(&d, 0);
	assert_string_equal(j.ident.user, "openai-batch\nbatch_abc123");
	assert_string_equal(kind_ident_id_string(&j.ident, buf), "batch_abc123");
	assert_string_equal(kind_ident_kind_name(&j.ident, name), "openai-batch");
	/* the kind is gone from the configuration: an error at Kind= */
	assert_int_equal(jobfile_check_refs("test.job", &j, none, &d), -EINVAL);
	assert_n_diags(&d, 1);
	assert_diag(
		&d, 0, DIAG_ERROR, "test.job", 3,
		"Kind= 'openai-batch' is neither a built-in kind (annotation-reply, document-indexing, workflow-run) nor a [Kind:openai-batch] section of the configuration");
	diag_list_done(&d);
	jobfile_done(&j);

	/* {Key}s: kept in any order, the identity sorted by key; a key the kind
	 * does not use is the usual warning, at its line */
	assert_int_equal(parse("[Job]\nKind=render\nQueue=fast lane\nJobID=r/1\nColor=red\n"
			       "Project=p1\n",
			       &j, &d),
			 0);
	assert_n_diags(&d, 0);
	assert_int_equal(jobfile_check_refs("test.job", &j, c, &d), 0);
	assert_n_diags(&d, 1);
	assert_diag(&d, 0, DIAG_WARNING, "test.job", 5,
		    "Unknown key 'Color' in section [Job], ignoring");
	assert_string_equal(j.ident.user, "render\nr/1\nProject=p1\nQueue=fast lane");
	diag_list_done(&d);

	/* written back by jobwatchctl add: the same identity */
	{
		int error = 1;
		struct jobfile back = {};
		_cleanup_(freep) char *s = jobfile_format_kind(&j.ident, NULL, NULL, &error);
		assert_int_equal(error, 0);
		assert_string_equal(s,
				    "[Job]\nKind=render\nJobID=r/1\nProject=p1\nQueue=fast lane\n");
		assert_int_equal(parse(s, &back, NULL), 0);
		assert_int_equal(jobfile_check_refs("back.job", &back, c, NULL), 0);
		assert_true(kind_ident_equal(&j.ident, &back.ident));
		assert_true(kind_ident_hash(&j.ident, 7) == kind_ident_hash(&back.ident, 7));
		jobfile_done(&back);
	}
	jobfile_done(&j);

	/* a {Key} missing, a value that cannot go into a path */
	assert_int_equal(parse("[Job]\nKind=render\nJobID=r1\nQueue=..\n", &j, &d), 0);
	assert_int_equal(jobfile_check_refs("test.job", &j, c, &d), -EINVAL);
	assert_n_diags(&d, 2);
	assert_diag(
		&d, 0, DIAG_ERROR, "test.job", 2,
		"Missing required key Project= for Kind=render: the StatusPath= of [Kind:render] uses {Project}");
	assert_diag(&d, 1, DIAG_ERROR, "test.job", 4, "Invalid Queue= value '..', expected");
	assert_null(j.ident.user);
	diag_list_done(&d);
	jobfile_done(&j);

	/* a path that does not fit: an error at Kind= */
	{
		char text[512], id[KINDDEF_VALUE_MAX + 1];
		memset(id, '%', KINDDEF_VALUE_MAX); /* each one escaped to 3 bytes */
		id[KINDDEF_VALUE_MAX] = '\0';
		add_kind(c, "echo",
			 (const char *const[]){ "StatusPath=/{id}/{id}/{id}/{id}/{id}/{id}",
						"StatusField=/s", "Completed=ok", NULL });
		snprintf(text, sizeof(text), "[Job]\nKind=echo\nJobID=%s\n", id);
		assert_int_equal(parse(text, &j, &d), 0);
		assert_int_equal(jobfile_check_refs("test.job", &j, c, &d), -EINVAL);
		assert_n_diags(&d, 1);
		assert_diag(&d, 0, DIAG_ERROR, "test.job", 2,
			    "The status path of this job is longer than 4095 bytes (Kind=echo)");
		assert_null(j.ident.user);
		diag_list_done(&d);
		jobfile_done(&j);
	}

	/* errors of the parser, each at its line */
	check_invalid("[Job]\nKind=openai-batch\n", 1,
		      "Missing required key JobID= in [Job] for Kind=openai-batch");
	check_invalid("[Job]\nKind=openai-batch\nJobID=b1\nAction=enable\n", 4,
		      "Action= is not a key of Kind=openai-batch");
	check_invalid("[Job]\nJobID=..\nKind=openai-batch\n", 2,
		      "Invalid JobID= value '..', expected the job's id as the service gives it");
	/* a built-in kind still wants a UUID, and a {Key}'s form is unknown */
	assert_int_equal(parse("[Job]\nKind=workflow-run\nJobID=" ID "\nProject=x\n", &j, &d), 0);
	assert_n_diags(&d, 1);
	assert_diag(&d, 0, DIAG_WARNING, "test.job", 4,
		    "Unknown key 'Project' in section [Job], ignoring");
	diag_list_done(&d);
	jobfile_done(&j);
	check_invalid("[Job]\nKind=workflow-run\nJobID=batch_1\n", 3,
		      "Invalid JobID= value 'batch_1', expected a UUID");

	/* many keys of a {Key}'s form: each the usual warning, in line order,
	 * whether kept (the first 32) or not */
	{
		char text[2048] = "[Job]\nKind=workflow-run\nJobID=" ID "\n";
		for (int i = 0; i < 40; i++) {
			size_t n = strlen(text);
			snprintf(text + n, sizeof(text) - n, "K%d=v\n", i);
		}
		assert_int_equal(parse(text, &j, &d), 0);
		assert_n_diags(&d, 40);
		for (unsigned i = 0; i < 40; i++) {
			char want[64];
			snprintf(want, sizeof(want), "Unknown key 'K%u' in section [Job]", i);
			assert_diag(&d, i, DIAG_WARNING, "test.job", 4 + i, want);
		}
		diag_list_done(&d);
		jobfile_done(&j);
	}
}

static void test_format_kinds(void **state)
{
	static const char *const texts[] = {
		"[Job]\nJobID=" ID "\nAction=enable\nEndpoint=app\n",
		"[Job]\nKind=document-indexing\nDataset=" DATASET "\nBatch=" BATCH
		"\nEndpoint=kb\nDescription=nightly import\n",
		"[Job]\nKind=workflow-run\nJobID=" ID "\n",
	};

	for (size_t i = 0; i < ELEMENTSOF(texts); i++) {
		struct jobfile j = {}, back = {};
		int error = 1;

		assert_int_equal(parse(texts[i], &j, NULL), 0);
		_cleanup_(freep) char *s =
			jobfile_format_kind(&j.ident, j.endpoint, j.description, &error);
		assert_non_null(s);
		assert_int_equal(error, 0);
		/* written as an operator would: the same text back */
		assert_string_equal(s, texts[i]);
		assert_int_equal(parse(s, &back, NULL), 0);
		assert_true(kind_ident_equal(&j.ident, &back.ident));
		jobfile_done(&j);
		jobfile_done(&back);
	}

	struct kind_ident bad = { .kind = _KIND_TYPE_MAX };
	int error = 0;
	assert_null(jobfile_format_kind(&bad, NULL, NULL, &error));
	assert_int_equal(error, -EINVAL);
	bad = (struct kind_ident){ .kind = KIND_DOCUMENT_INDEXING };
	bad.id[0] = 0xff;
	assert_null(jobfile_format_kind(&bad, NULL, NULL, &error));
	assert_int_equal(error, -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_minimal),
		cmocka_unit_test(test_every_key),
		cmocka_unit_test(test_special_values),
		cmocka_unit_test(test_later_wins),
		cmocka_unit_test(test_warnings_only),
		cmocka_unit_test(test_missing_keys),
		cmocka_unit_test(test_hostile_text),
		cmocka_unit_test(test_invalid_values),
		cmocka_unit_test(test_several_errors),
		cmocka_unit_test(test_name_is_valid),
		cmocka_unit_test(test_action_strings),
		cmocka_unit_test(test_check_refs),
		cmocka_unit_test(test_check_refs_job_hooks),
		cmocka_unit_test(test_load),
		cmocka_unit_test(test_load_refused),
		cmocka_unit_test(test_load_sizes),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_format_refused),
		cmocka_unit_test(test_kinds),
		cmocka_unit_test(test_format_kinds),
		cmocka_unit_test(test_user_kinds),
	};

	return cmocka_run_group_tests(tests, test_tmpdir_setup, test_tmpdir_teardown);
}
