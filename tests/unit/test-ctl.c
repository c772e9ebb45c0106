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
#include "alloc-util.h"
#include "jobfile.h"
#include "kinddef.h"
#include "string-util.h"
#include "uuid-util.h"
#include "test-helpers.h"

static void write_file(const char *name, const char *text)
{
	_cleanup_(freep) char *path = strjoin(test_tmpdir, "/", name);
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
	_cleanup_(freep) char *conf = strjoin(test_tmpdir, "/jobwatch.conf");
	_cleanup_(freep) char *jobs = strjoin(test_tmpdir, "/jobs");
	_cleanup_(freep) char *text = NULL;
	char id[] = "3c90c3cc-0d44-4b50-8888-8dd25736052a";
	char action[] = "enable";
	char *args[] = { action, id };

	(void)state;
	assert_non_null(conf);
	assert_non_null(jobs);
	assert_int_equal(mkdir(jobs, 0755), 0);
	write_file("key", "app-0123456789abcdefghij\n");
	text = strjoin("[Endpoint]\nBaseURL=http://127.0.0.1:9/v1\nAPIKeyFile=", test_tmpdir,
		       "/key\n");
	assert_non_null(text);
	write_file("jobwatch.conf", text);
	write_file(STATE_DB_NAME, ""); /* a state file with nothing in it yet */
	arg_config = conf;
	arg_jobs_dir = jobs;
	arg_state_dir = test_tmpdir;

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
	uint8_t raw[16];
	char id[1][KIND_ID_STRING_MAX];
	enum ctl_exit r;
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);

	(void)state;
	/* an id no journal has seen */
	assert_true(fd >= 0);
	assert_int_equal(read(fd, raw, sizeof(raw)), (ssize_t)sizeof(raw));
	close(fd);
	uuid_to_string(raw, id[0]);
	write_file(STATE_DB_NAME, "");
	arg_state_dir = test_tmpdir;
	arg_timeout_usec = 0; /* only look */
	log_set_max_level(LOG_NOTICE);
	r = ctl_wait_for_jobs((const char(*)[KIND_ID_STRING_MAX])id, 1);
	/* no such result in the journal: a timeout; 3 if there is no journal */
	assert_true(r == CTL_EXIT_TIMEOUT || r == CTL_EXIT_WAIT_ERROR);
	assert_int_equal(log_get_max_level(), LOG_NOTICE);
	arg_state_dir = NULL;
	arg_timeout_usec = USEC_INFINITY;
}

#define UUID_A "3c90c3cc-0d44-4b50-8888-8dd25736052a"
#define UUID_B "5b6f1d2e-9a3c-4e7f-8b1d-2c3e4f5a6b7c"
#define BATCH "20261202075447123456"

/* add --kind: the kind is checked when the command line is read, and so is
 * the number of arguments the kind takes (exit 64 for both). */
static void test_parse_argv_kind(void **state)
{
	const struct verb *v = NULL;

	(void)state;
	/* a name no kind can have; "bogus" may be a [Kind:bogus] (checked
	 * with the configuration: test_add_user_kind) */
	assert_int_equal(parse(&v, 4, "add", "--kind", "bo gus", UUID_A), CTL_EXIT_USAGE);
	assert_null(v);
	assert_int_equal(parse(&v, 4, "add", "--kind", "", UUID_A), CTL_EXIT_USAGE);
	arg_kind = NULL;
	assert_int_equal(parse(&v, 2, "add", "enable"), CTL_EXIT_USAGE);
	assert_int_equal(parse(&v, 4, "add", "enable", UUID_A, "x"), CTL_EXIT_USAGE);
	assert_int_equal(parse(&v, 4, "add", "--kind", "workflow-run", UUID_A), CTL_EXIT_SUCCESS);
	assert_non_null(v);
	assert_string_equal(v->name, "add");
	assert_string_equal(arg_kind, "workflow-run");
	arg_kind = NULL;
	assert_int_equal(parse(&v, 5, "add", "--kind", "workflow-run", "enable", UUID_A),
			 CTL_EXIT_USAGE);
	arg_kind = NULL;
	assert_int_equal(parse(&v, 4, "add", "--kind=document-indexing", UUID_A, BATCH),
			 CTL_EXIT_SUCCESS);
	assert_string_equal(arg_kind, "document-indexing");
	arg_kind = NULL;
	assert_int_equal(parse(&v, 4, "add", "-k", "document-indexing", UUID_A), CTL_EXIT_USAGE);
	arg_kind = NULL;
	assert_int_equal(parse(&v, 3, "add", "enable", UUID_A), CTL_EXIT_SUCCESS);
	assert_null(arg_kind);
	/* --kind is add's only */
	assert_int_equal(parse(&v, 3, "list", "--kind", "workflow-run"), CTL_EXIT_USAGE);
	arg_kind = NULL;
}

static void test_kind_args(void **state)
{
	enum kind_field f[_KIND_FIELD_MAX];
	char buf[64];

	(void)state;
	assert_int_equal(ctl_kind_args(KIND_ANNOTATION_REPLY, f), 2);
	assert_int_equal(f[0], KIND_FIELD_ACTION);
	assert_int_equal(f[1], KIND_FIELD_JOB_ID);
	assert_int_equal(ctl_kind_args(KIND_DOCUMENT_INDEXING, f), 2);
	assert_int_equal(f[0], KIND_FIELD_DATASET);
	assert_int_equal(f[1], KIND_FIELD_BATCH);
	assert_int_equal(ctl_kind_args(KIND_WORKFLOW_RUN, f), 1);
	assert_int_equal(f[0], KIND_FIELD_JOB_ID);
	/* every kind of the table has arguments */
	for (int t = 0; t < _KIND_TYPE_MAX; t++) {
		assert_true(ctl_kind_args((enum kind_type)t, f) > 0);
	}
	assert_string_equal(ctl_kind_args_usage(KIND_ANNOTATION_REPLY, " and ", buf, sizeof(buf)),
			    "ACTION and JOB_ID");
	assert_string_equal(ctl_kind_args_usage(KIND_DOCUMENT_INDEXING, " ", buf, sizeof(buf)),
			    "DATASET BATCH");
	assert_string_equal(ctl_kind_args_usage(KIND_WORKFLOW_RUN, " ", buf, sizeof(buf)),
			    "RUN_ID");
}

/* Each kind's arguments are checked by the kind layer; a value of the wrong
 * form (a batch for a UUID, a UUID for a batch) is refused. */
static void test_parse_ident(void **state)
{
	char a_enable[] = "enable", a_bogus[] = "restart", uuid_a[] = UUID_A,
	     uuid_upper[] = "3C90C3CC-0D44-4B50-8888-8DD25736052A", uuid_b[] = UUID_B,
	     batch[] = BATCH, short_batch[] = "2026120207544712345",
	     letter_batch[] = "2026120207544712345x";
	char buf[KIND_ID_STRING_MAX];
	struct kind_ident id;

	(void)state;
	/* annotation-reply: ACTION JOB_ID, as before kinds */
	assert_int_equal(ctl_parse_ident(KIND_ANNOTATION_REPLY, (char *[]){ a_enable, uuid_upper },
					 2, true, &id),
			 0);
	assert_int_equal(id.kind, KIND_ANNOTATION_REPLY);
	assert_int_equal(id.action, JOB_ACTION_ENABLE);
	assert_string_equal(kind_ident_id_string(&id, buf), UUID_A);
	assert_int_equal(
		ctl_parse_ident(KIND_ANNOTATION_REPLY, (char *[]){ a_bogus, uuid_a }, 2, true, &id),
		-EINVAL);
	assert_int_equal(ctl_parse_ident(KIND_ANNOTATION_REPLY, (char *[]){ a_enable, batch }, 2,
					 false, &id),
			 -EINVAL);
	/* a dataset and a batch given without --kind: not an action */
	assert_int_equal(
		ctl_parse_ident(KIND_ANNOTATION_REPLY, (char *[]){ uuid_a, batch }, 2, true, &id),
		-EINVAL);
	assert_int_equal(ctl_parse_ident(KIND_ANNOTATION_REPLY, (char *[]){ uuid_a }, 1, true, &id),
			 -ERANGE);

	/* document-indexing: DATASET BATCH */
	assert_int_equal(ctl_parse_ident(KIND_DOCUMENT_INDEXING, (char *[]){ uuid_upper, batch }, 2,
					 false, &id),
			 0);
	assert_int_equal(id.kind, KIND_DOCUMENT_INDEXING);
	assert_string_equal(kind_ident_id_string(&id, buf), BATCH);
	assert_string_equal(kind_field_to_string(&id, KIND_FIELD_DATASET, buf), UUID_A);
	assert_int_equal(id.action, 0);
	assert_int_equal(ctl_parse_ident(KIND_DOCUMENT_INDEXING, (char *[]){ uuid_a, uuid_b }, 2,
					 false, &id),
			 -EINVAL);
	assert_int_equal(ctl_parse_ident(KIND_DOCUMENT_INDEXING, (char *[]){ uuid_a, short_batch },
					 2, false, &id),
			 -EINVAL);
	assert_int_equal(ctl_parse_ident(KIND_DOCUMENT_INDEXING, (char *[]){ uuid_a, letter_batch },
					 2, false, &id),
			 -EINVAL);
	assert_int_equal(
		ctl_parse_ident(KIND_DOCUMENT_INDEXING, (char *[]){ batch, uuid_a }, 2, false, &id),
		-EINVAL);
	assert_int_equal(
		ctl_parse_ident(KIND_DOCUMENT_INDEXING, (char *[]){ batch }, 1, false, &id),
		-ERANGE);

	/* workflow-run: RUN_ID */
	assert_int_equal(
		ctl_parse_ident(KIND_WORKFLOW_RUN, (char *[]){ uuid_upper }, 1, false, &id), 0);
	assert_int_equal(id.kind, KIND_WORKFLOW_RUN);
	assert_string_equal(kind_ident_id_string(&id, buf), UUID_A);
	assert_int_equal(ctl_parse_ident(KIND_WORKFLOW_RUN, (char *[]){ batch }, 1, false, &id),
			 -EINVAL);
	assert_int_equal(
		ctl_parse_ident(KIND_WORKFLOW_RUN, (char *[]){ a_enable, uuid_a }, 2, false, &id),
		-ERANGE);
}

static void test_parse_wait_id(void **state)
{
	char buf[KIND_ID_STRING_MAX];

	(void)state;
	assert_int_equal(ctl_parse_wait_id("3C90C3CC-0D44-4B50-8888-8DD25736052A", buf), 0);
	assert_string_equal(buf, UUID_A);
	assert_int_equal(ctl_parse_wait_id(BATCH, buf), 0);
	assert_string_equal(buf, BATCH);
	/* any other text a user kind's JobID= can hold, as it is */
	assert_int_equal(ctl_parse_wait_id("batch_ABC123", buf), 0);
	assert_string_equal(buf, "batch_ABC123");
	assert_int_equal(ctl_parse_wait_id("2026120207544712345", buf), 0);
	assert_string_equal(buf, "2026120207544712345");
	assert_int_equal(ctl_parse_wait_id("projects/p 1/ü", buf), 0);
	assert_string_equal(buf, "projects/p 1/ü");
	/* what no JobID= can be */
	assert_int_equal(ctl_parse_wait_id("", buf), -EINVAL);
	assert_int_equal(ctl_parse_wait_id("..", buf), -EINVAL);
	assert_int_equal(ctl_parse_wait_id("a\nb", buf), -EINVAL);
	assert_int_equal(ctl_parse_wait_id("tab\there", buf), -EINVAL);
	{
		char long_id[KINDDEF_VALUE_MAX + 2];
		memset(long_id, 'x', sizeof(long_id) - 1);
		long_id[sizeof(long_id) - 1] = '\0';
		assert_int_equal(ctl_parse_wait_id(long_id, buf), -EINVAL);
		long_id[KINDDEF_VALUE_MAX] = '\0';
		assert_int_equal(ctl_parse_wait_id(long_id, buf), 0);
		assert_string_equal(buf, long_id);
	}
}

/* add --kind NAME: a name a [Kind:NAME] may have is taken (the kind is
 * looked up with the configuration), with exactly one ID; --field is
 * KEY=VALUE with a KEY of a {Key}'s form, for these kinds only. */
static void test_user_kind_args(void **state)
{
	const struct verb *v = NULL;

	(void)state;
	assert_int_equal(parse(&v, 4, "add", "--kind", "openai-batch", "batch_abc"),
			 CTL_EXIT_SUCCESS);
	assert_non_null(v);
	assert_string_equal(arg_kind, "openai-batch");
	assert_int_equal(arg_n_fields, 0);
	assert_int_equal(parse(&v, 8, "add", "-k", "ci", "--field", "Project=my proj",
			       "-fRegion=eu=1", "--", "-id-"),
			 CTL_EXIT_SUCCESS);
	assert_string_equal(arg_kind, "ci");
	assert_int_equal(arg_n_fields, 2);
	assert_string_equal(arg_fields[0], "Project=my proj");
	assert_string_equal(arg_fields[1], "Region=eu=1");
	/* one ID, no more, no less */
	assert_int_equal(parse(&v, 3, "add", "--kind", "ci"), CTL_EXIT_USAGE);
	assert_int_equal(parse(&v, 5, "add", "--kind", "ci", "a", "b"), CTL_EXIT_USAGE);
	/* --field's form: KEY=VALUE, KEY a {Key} (not id, not a job-file key) */
	assert_int_equal(parse(&v, 5, "add", "--kind=ci", "--field", "Project", "x"),
			 CTL_EXIT_USAGE);
	assert_int_equal(parse(&v, 5, "add", "--kind=ci", "--field", "project=p", "x"),
			 CTL_EXIT_USAGE);
	assert_int_equal(parse(&v, 5, "add", "--kind=ci", "--field", "JobID=p", "x"),
			 CTL_EXIT_USAGE);
	assert_int_equal(parse(&v, 5, "add", "--kind=ci", "--field", "=p", "x"), CTL_EXIT_USAGE);
	assert_int_equal(parse(&v, 12, "add", "--kind=ci", "-fA=1", "-fB=1", "-fC=1", "-fD=1",
			       "-fE=1", "-fF=1", "-fG=1", "-fH=1", "-fI=1", "x"),
			 CTL_EXIT_USAGE);
	assert_int_equal(parse(&v, 11, "add", "--kind=ci", "-fA=1", "-fB=1", "-fC=1", "-fD=1",
			       "-fE=1", "-fF=1", "-fG=1", "-fH=1", "x"),
			 CTL_EXIT_SUCCESS);
	assert_int_equal(arg_n_fields, CTL_FIELDS_MAX);
	/* not for the built-in kinds, nor for other commands */
	arg_kind = NULL;
	assert_int_equal(parse(&v, 5, "add", "--field", "Project=p", "enable", UUID_A),
			 CTL_EXIT_USAGE);
	assert_int_equal(
		parse(&v, 6, "add", "--kind", "workflow-run", "--field", "Project=p", UUID_A),
		CTL_EXIT_USAGE);
	assert_int_equal(parse(&v, 3, "list", "--field", "Project=p"), CTL_EXIT_USAGE);
	arg_kind = NULL;
	arg_n_fields = 0;
}

/* A [Kind:NAME] made as config.c makes it, for the tests below. */
static struct kind_def *make_kind(const char *name, const char *status_path)
{
	_cleanup_(diag_list_donep) struct diag_list diags = { 0 };
	struct kind_def *def = kinddef_new(name, "test.conf", 1);

	assert_non_null(def);
	assert_int_equal(kinddef_set(def, "StatusPath", status_path, "test.conf", 2, &diags), 0);
	assert_int_equal(kinddef_set(def, "StatusField", "/status", "test.conf", 3, &diags), 0);
	assert_int_equal(kinddef_set(def, "Completed", "completed", "test.conf", 4, &diags), 0);
	assert_int_equal(kinddef_validate(def, &diags), 0);
	assert_int_equal(diags.n_errors, 0);
	return def;
}

/* The identity of add --kind NAME's job: every {Key} given once and no
 * other (a usage mistake: -ERANGE), each value one a job file can hold
 * (-EINVAL), the same text whatever the order of --field. */
static void test_parse_user_ident(void **state)
{
	_cleanup_(kinddef_freep) struct kind_def *def =
		make_kind("ci", "/projects/{Project}/pipelines/{Region}/{id}");
	_cleanup_(kinddef_freep) struct kind_def *plain =
		make_kind("openai-batch", "/batches/{id}");
	_cleanup_(freep) char *text = NULL, *text2 = NULL;

	(void)state;
	assert_int_equal(ctl_parse_user_ident(def, "42",
					      (const char *[]){ "Region=eu", "Project=a/b c" }, 2,
					      &text),
			 0);
	assert_string_equal(text, "ci\n42\nProject=a/b c\nRegion=eu");
	assert_int_equal(ctl_parse_user_ident(def, "42",
					      (const char *[]){ "Project=a/b c", "Region=eu" }, 2,
					      &text2),
			 0);
	assert_string_equal(text, text2);
	free(text2);
	text2 = NULL;
	assert_int_equal(ctl_parse_user_ident(plain, "batch_abc123", NULL, 0, &text2), 0);
	assert_string_equal(text2, "openai-batch\nbatch_abc123");

	/* usage mistakes */
	assert_int_equal(
		ctl_parse_user_ident(def, "42", (const char *[]){ "Project=a" }, 1, &text2),
		-ERANGE);
	assert_int_equal(ctl_parse_user_ident(def, "42", NULL, 0, &text2), -ERANGE);
	assert_int_equal(ctl_parse_user_ident(
				 def, "42", (const char *[]){ "Project=a", "Region=eu", "Zone=z" },
				 3, &text2),
			 -ERANGE);
	assert_int_equal(
		ctl_parse_user_ident(def, "42",
				     (const char *[]){ "Project=a", "Region=eu", "Project=b" }, 3,
				     &text2),
		-ERANGE);
	assert_int_equal(
		ctl_parse_user_ident(plain, "x", (const char *[]){ "Project=a" }, 1, &text2),
		-ERANGE);
	/* values no job file can hold */
	assert_int_equal(ctl_parse_user_ident(plain, "..", NULL, 0, &text2), -EINVAL);
	assert_int_equal(ctl_parse_user_ident(plain, "", NULL, 0, &text2), -EINVAL);
	assert_int_equal(ctl_parse_user_ident(plain, "a\x1b[2Jb", NULL, 0, &text2), -EINVAL);
	assert_int_equal(ctl_parse_user_ident(
				 def, "42", (const char *[]){ "Project=", "Region=eu" }, 2, &text2),
			 -EINVAL);
	assert_int_equal(ctl_parse_user_ident(def, "42",
					      (const char *[]){ "Project=.", "Region=eu" }, 2,
					      &text2),
			 -EINVAL);
	assert_string_equal(text2, "openai-batch\nbatch_abc123"); /* untouched */
}

/* A user kind's job file name: its id when plain, else a safe name made
 * unique by a hash of the whole identity; never a '/' or a control
 * character, never longer than a file name may be. */
static void test_user_file_part(void **state)
{
	static const char *const texts[] = {
		"k\nbatch_abc123",
		"k\nbatch_abc124",
		"k\nbatch/abc123",
		"k\nbatch_abc123\nProject=a",
		"k\nbatch_abc123\nProject=b",
		"k\n.hidden",
		"k\nü",
		("k\n" UUID_A),
		"k\n3C90C3CC-0D44-4B50-8888-8DD25736052A",
	};
	char *parts[ELEMENTSOF(texts)];
	char long_text[KINDDEF_VALUE_MAX + 8] = "k\n";

	(void)state;
	for (size_t i = 0; i < ELEMENTSOF(texts); i++) {
		parts[i] = ctl_user_file_part(texts[i]);
		assert_non_null(parts[i]);
		assert_null(strchr(parts[i], '/'));
		assert_true(strlen(parts[i]) <= CTL_PLAIN_ID_MAX + 17);
		for (size_t m = 0; m < i; m++) {
			assert_string_not_equal(parts[i], parts[m]);
		}
	}
	assert_string_equal(parts[0], "batch_abc123");
	assert_string_equal(parts[7], UUID_A);
	/* not plain: the id made safe, then ~ and 16 hex digits */
	assert_int_equal(strlen(parts[2]), strlen("batch_abc123~") + 16);
	assert_memory_equal(parts[2], "batch_abc123~", strlen("batch_abc123~"));
	assert_memory_equal(parts[3], "batch_abc123~", strlen("batch_abc123~"));
	assert_memory_equal(parts[5], ".hidden~", strlen(".hidden~"));
	assert_memory_equal(parts[6], "__~", 3);
	for (size_t i = 0; i < ELEMENTSOF(texts); i++) {
		free(parts[i]);
	}
	/* the longest id: cut, and still within a file name with the rest */
	memset(long_text + 2, 'x', KINDDEF_VALUE_MAX);
	long_text[2 + KINDDEF_VALUE_MAX] = '\0';
	parts[0] = ctl_user_file_part(long_text);
	assert_non_null(parts[0]);
	assert_int_equal(strlen(parts[0]), CTL_PLAIN_ID_MAX + 17);
	free(parts[0]);
	assert_null(ctl_user_file_part("k"));
}

static void test_format_fields(void **state)
{
	char buf[32];

	(void)state;
	assert_string_equal(ctl_format_fields("", buf, sizeof(buf)), "");
	assert_string_equal(ctl_format_fields(NULL, buf, sizeof(buf)), "");
	assert_string_equal(ctl_format_fields("Project=a", buf, sizeof(buf)), "Project=a");
	assert_string_equal(ctl_format_fields("Project=a\nRegion=eu west", buf, sizeof(buf)),
			    "Project=a, Region=eu west");
	/* cut to the buffer, still a string */
	assert_string_equal(
		ctl_format_fields("Project=aaaaaaaaaa\nRegion=bbbbbbbbbbbbbbbbbbbbb", buf, 24),
		"Project=aaaaaaaaaa, Reg");
}

static char *read_text(const char *path)
{
	char buf[4096];
	FILE *f = fopen(path, "re");
	size_t n;

	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return strdup(buf);
}

/* add of each kind: the file's name follows the kind's identity, its text
 * is what jobfile.c reads back as that identity, and the same job in a file
 * of another name is refused. */
static void test_add_kinds(void **state)
{
	_cleanup_(freep) char *conf = strjoin(test_tmpdir, "/jobwatch.conf");
	_cleanup_(freep) char *jobs = strjoin(test_tmpdir, "/jobs");
	_cleanup_(freep) char *text = NULL;
	static const struct {
		const char *kind;
		char *args[2];
		size_t n;
		const char *name;
		enum kind_type type;
	} cases[] = {
		{ NULL,
		  { (char *)"disable", (char *)UUID_A },
		  2,
		  "kb-disable-" UUID_A ".job",
		  KIND_ANNOTATION_REPLY },
		{ "document-indexing",
		  { (char *)UUID_A, (char *)BATCH },
		  2,
		  "kb-document-indexing-" UUID_A "-" BATCH ".job",
		  KIND_DOCUMENT_INDEXING },
		{ "workflow-run",
		  { (char *)UUID_A },
		  1,
		  "kb-workflow-run-" UUID_A ".job",
		  KIND_WORKFLOW_RUN },
	};

	(void)state;
	assert_non_null(conf);
	assert_non_null(jobs);
	assert_int_equal(mkdir(jobs, 0755), 0);
	write_file("key", "dataset-0123456789abcdefghij\n");
	text = strjoin("[Endpoint:kb]\nBaseURL=http://127.0.0.1:9/v1\nAPIKeyFile=", test_tmpdir,
		       "/key\n");
	assert_non_null(text);
	write_file("jobwatch.conf", text);
	arg_config = conf;
	arg_jobs_dir = jobs;
	arg_state_dir = test_tmpdir;
	arg_endpoint = "kb";

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		_cleanup_(jobfile_donep) struct jobfile jf = { 0 };
		_cleanup_(freep) char *path = strjoin(jobs, "/", cases[i].name);
		_cleanup_(freep) char *body = NULL, *copy = NULL;
		char buf[KIND_ID_STRING_MAX];

		assert_non_null(path);
		arg_kind = cases[i].kind;
		assert_int_equal(verb_add((char **)cases[i].args, cases[i].n), CTL_EXIT_SUCCESS);
		body = read_text(path);
		assert_non_null(body);
		assert_int_equal(jobfile_parse_buffer(path, body, strlen(body), &jf, NULL), 0);
		assert_int_equal(jf.ident.kind, cases[i].type);
		assert_string_equal(jf.endpoint, "kb");
		assert_string_equal(kind_ident_id_string(&jf.ident, buf),
				    cases[i].type == KIND_DOCUMENT_INDEXING ? BATCH : UUID_A);
		/* the same job again: refused, in a file of another name too */
		assert_int_equal(verb_add((char **)cases[i].args, cases[i].n), CTL_EXIT_FAILURE);
		copy = strjoin(jobs, "/other-", cases[i].name);
		assert_non_null(copy);
		assert_int_equal(rename(path, copy), 0);
		assert_int_equal(verb_add((char **)cases[i].args, cases[i].n), CTL_EXIT_FAILURE);
		assert_int_equal(access(path, F_OK), -1);
	}
	/* the same UUID as a run and as an annotation job are different jobs,
	 * already added above; a batch of another dataset is another job */
	arg_kind = "document-indexing";
	assert_int_equal(verb_add((char *[]){ (char *)UUID_B, (char *)BATCH }, 2),
			 CTL_EXIT_SUCCESS);
	arg_kind = NULL;
	arg_config = arg_jobs_dir = arg_state_dir = arg_endpoint = NULL;
}

/* add --kind NAME: the job file named after the kind and its id (made safe
 * and unique), read back by the daemon's code as the same identity; the
 * same job refused in a file of another name; an unknown kind a usage
 * error. The configuration's kinds are set by hand, so that this test of
 * jobwatchctl does not also test config.c's [Kind:NAME] parser. */
static void test_add_user_kind(void **state)
{
	_cleanup_(freep) char *conf = strjoin(test_tmpdir, "/jobwatch.conf");
	_cleanup_(freep) char *jobs = strjoin(test_tmpdir, "/jobs");
	_cleanup_(freep) char *text = NULL, *path = NULL, *path2 = NULL, *ident_text = NULL,
			      *body = NULL, *copy = NULL;
	_cleanup_(config_freep) struct config *c = NULL;
	_cleanup_(jobfile_donep) struct jobfile jf = { 0 };
	const struct kind_def *def = NULL;
	struct kind_ident ident;

	(void)state;
	assert_non_null(conf);
	assert_non_null(jobs);
	assert_int_equal(mkdir(jobs, 0755), 0);
	write_file("key", "sk-0123456789abcdefghij\n");
	text = strjoin("[Endpoint:api]\nBaseURL=http://127.0.0.1:9/v1\nAPIKeyFile=", test_tmpdir,
		       "/key\n");
	assert_non_null(text);
	write_file("jobwatch.conf", text);
	arg_config = conf;
	arg_jobs_dir = jobs;
	arg_state_dir = test_tmpdir;

	assert_int_equal(ctl_load_config(false, &c), 0);
	assert_int_equal(ctl_find_user_kind(c, "ci", &def), -ENOENT);
	assert_true(grow_array((void **)&c->kinds, &c->kinds_allocated, sizeof(*c->kinds), 2));
	c->kinds[c->n_kinds++] = make_kind("ci", "/projects/{Project}/pipelines/{id}");
	c->kinds[c->n_kinds++] = make_kind("openai-batch", "/batches/{id}");
	assert_int_equal(ctl_find_user_kind(c, "ci", &def), 0);
	assert_ptr_equal(def, c->kinds[0]);
	assert_int_equal(ctl_find_user_kind(c, "CI", &def), -ENOENT);

	/* a plain id, no fields: ENDPOINT-KIND-ID.job */
	assert_int_equal(ctl_parse_user_ident(c->kinds[1], "batch_abc123", NULL, 0, &ident_text),
			 0);
	ident = (struct kind_ident){ .kind = KIND_USER, .user = ident_text };
	assert_int_equal(ctl_add_job(c, &ident, "api", NULL, &path), 0);
	assert_non_null(strstr(path, "/api-openai-batch-batch_abc123.job"));
	body = read_text(path);
	assert_int_equal(jobfile_parse_buffer(path, body, strlen(body), &jf, NULL), 0);
	assert_int_equal(jobfile_check_refs(path, &jf, c, NULL), 0);
	assert_true(kind_ident_equal(&jf.ident, &ident));
	jobfile_done(&jf);
	free(body);
	body = NULL;
	/* again, and under another name: refused, naming the file */
	assert_int_equal(ctl_add_job(c, &ident, "api", NULL, &path2), -EEXIST);
	assert_string_equal(path2, path);
	free(path2);
	path2 = NULL;
	copy = strjoin(jobs, "/renamed.job");
	assert_int_equal(rename(path, copy), 0);
	assert_int_equal(ctl_add_job(c, &ident, "api", NULL, &path2), -EEXIST);
	assert_string_equal(path2, copy);
	free(path2);
	path2 = NULL;
	free(path);
	path = NULL;
	free(ident_text);
	ident_text = NULL;

	/* an id with a '/' and a field: a safe name with a hash; two values
	 * of the field, two files */
	assert_int_equal(ctl_parse_user_ident(c->kinds[0], "run/7", (const char *[]){ "Project=a" },
					      1, &ident_text),
			 0);
	ident = (struct kind_ident){ .kind = KIND_USER, .user = ident_text };
	assert_int_equal(ctl_add_job(c, &ident, "api", NULL, &path), 0);
	assert_non_null(strstr(path, "/api-ci-run_7~"));
	body = read_text(path);
	assert_non_null(strstr(body, "Kind=ci\n"));
	assert_non_null(strstr(body, "JobID=run/7\n"));
	assert_non_null(strstr(body, "Project=a\n"));
	free(ident_text);
	ident_text = NULL;
	assert_int_equal(ctl_parse_user_ident(c->kinds[0], "run/7", (const char *[]){ "Project=b" },
					      1, &ident_text),
			 0);
	ident = (struct kind_ident){ .kind = KIND_USER, .user = ident_text };
	assert_int_equal(ctl_add_job(c, &ident, "api", NULL, &path2), 0);
	assert_string_not_equal(path, path2);
	arg_config = arg_jobs_dir = arg_state_dir = NULL;
}

static void test_state_peek(void **state)
{
	_cleanup_(state_reader_freep) struct state_reader *r = NULL;

	(void)state;
	log_set_max_level(LOG_DEBUG);
	assert_int_equal(ctl_state_peek(test_tmpdir, &r), -ENOENT);
	assert_int_equal(log_get_max_level(), LOG_DEBUG);
	write_file(STATE_DB_NAME, "");
	assert_int_equal(ctl_state_peek(test_tmpdir, &r), 0);
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
		cmocka_unit_test_setup_teardown(test_add_keeps_log_level, test_tmpdir_setup,
						test_tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_wait_keeps_log_level, test_tmpdir_setup,
						test_tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_state_peek, test_tmpdir_setup,
						test_tmpdir_teardown),
		cmocka_unit_test(test_parse_argv_kind),
		cmocka_unit_test(test_kind_args),
		cmocka_unit_test(test_parse_ident),
		cmocka_unit_test(test_parse_wait_id),
		cmocka_unit_test(test_user_kind_args),
		cmocka_unit_test(test_parse_user_ident),
		cmocka_unit_test(test_user_file_part),
		cmocka_unit_test(test_format_fields),
		cmocka_unit_test_setup_teardown(test_add_user_kind, test_tmpdir_setup,
						test_tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_add_kinds, test_tmpdir_setup,
						test_tmpdir_teardown),
		cmocka_unit_test(test_paths_state_dir),
		cmocka_unit_test(test_diag_list_print),
	};

	log_set_identifier("jobwatchctl");
	log_setup(LOG_TARGET_CONSOLE);
	log_set_max_level(LOG_WARNING);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
