/* SPDX-License-Identifier: MIT */
/*
 * jobwatchctl's command line: the options, the help texts, the table of
 * commands, and parsing argv into arg_*.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "config-paths.h"
#include "ctl.h"
#include "kinddef.h"
#include "timespan.h"
#include "string-util.h"

_Static_assert(CTL_EXIT_USAGE == EX_USAGE, "jobwatchctl(1) documents 64 for a usage error");

/* The command line, parsed once: the only globals (STYLE §2.9). */
const char *arg_config;
const char *arg_jobs_dir;
const char *arg_state_dir;
const char *arg_endpoint;
const char *arg_description;
const char *arg_kind;
const char *arg_fields[CTL_FIELDS_MAX];
size_t arg_n_fields;
bool arg_json;
usec_t arg_timeout_usec = USEC_INFINITY;
const char *arg_score_threshold;
const char *arg_provider;
const char *arg_model;
bool arg_wait;

enum {
	ARG_VERSION = 0x100,
	ARG_ENDPOINT,
	ARG_DESCRIPTION,
	ARG_JSON,
	ARG_TIMEOUT,
	ARG_SCORE,
	ARG_PROVIDER,
	ARG_MODEL,
	ARG_WAIT,
	ARG_KIND,
};

#define COMMON_OPTIONS                                                                             \
	{ "config", required_argument, NULL, 'c' }, { "jobs-dir", required_argument, NULL, 'j' },  \
		{ "state-dir", required_argument, NULL, 's' }, { "help", no_argument, NULL, 'h' }, \
	{                                                                                          \
		"version", no_argument, NULL, ARG_VERSION                                          \
	}

#define COMMON_HELP                                                                                \
	"  -c, --config=FILE     config file (default " JOBWATCH_CONFIG_FILE ";\n"                 \
	"                        a missing default file means built-in defaults)\n"                \
	"  -j, --jobs-dir=DIR    jobs directory (default: [Daemon] JobsDirectory=)\n"              \
	"  -s, --state-dir=DIR   state directory (default $STATE_DIRECTORY or\n"                   \
	"                        " JOBWATCH_STATE_DIR ")\n"                                        \
	"  -h, --help            show this help\n"                                                 \
	"      --version         show the version\n"

#define EXIT_HELP                                                                                  \
	"Exit status: 0 success; 1 failure (wait: a job ended other than 'completed');\n"          \
	"2 wait timed out; 3 wait cannot read the journal; 64 usage error.\n"

static void help_main(void)
{
	printf("Usage: jobwatchctl [OPTION]... COMMAND [ARG]...\n"
	       "Add, list, wait for and start the jobs jobwatchd watches.\n"
	       "\n"
	       "Commands:\n"
	       "  add [--endpoint E] [--description D] ACTION JOB_ID\n"
	       "  add --kind document-indexing [--endpoint E] [--description D] DATASET BATCH\n"
	       "  add --kind workflow-run [--endpoint E] [--description D] RUN_ID\n"
	       "  add --kind NAME [--field KEY=VALUE]... [--endpoint E] [--description D] ID\n"
	       "        write a job file for jobwatchd into the jobs directory\n"
	       "  list [--json]\n"
	       "        every job jobwatchd knows, from its state directory\n"
	       "  wait [--timeout T] JOB_ID...\n"
	       "        wait for the jobs' results in the journal and print them\n"
	       "  start ACTION --score-threshold X --embedding-provider P --embedding-model M\n"
	       "        [--endpoint E] [--description D] [--wait [--timeout T]]\n"
	       "        start a job on Dify, then add it\n"
	       "ACTION is 'enable' or 'disable'; NAME a [Kind:NAME] of the configuration; JOB_ID\n"
	       "of wait is the kind's own id (a UUID, a batch of 20 digits, a [Kind:NAME] job's\n"
	       "ID). 'jobwatchctl COMMAND --help' tells more.\n"
	       "\n"
	       "Options:\n" COMMON_HELP "\n" EXIT_HELP "See jobwatchctl(1).\n");
}

static void help_add(void)
{
	printf("Usage: jobwatchctl add [OPTION]... ACTION JOB_ID\n"
	       "       jobwatchctl add --kind document-indexing [OPTION]... DATASET BATCH\n"
	       "       jobwatchctl add --kind workflow-run [OPTION]... RUN_ID\n"
	       "       jobwatchctl add --kind NAME [--field KEY=VALUE]... [OPTION]... ID\n"
	       "Write a job file for jobwatchd, atomically (temporary dotfile, fsync, rename):\n"
	       "JOBS_DIR/ENDPOINT-ACTION-JOB_ID.job for an annotation-reply job,\n"
	       "JOBS_DIR/ENDPOINT-KIND-ID.job for the other kinds (an ID that is not plain\n"
	       "or a kind with {KEY}s: ENDPOINT-KIND-ID~HASH.job). Prints its path. Refuses a\n"
	       "job that is already in the jobs directory.\n"
	       "\n"
	       "  -k, --kind=KIND       annotation-reply (the default), document-indexing,\n"
	       "                        workflow-run, or the NAME of a [Kind:NAME] section\n"
	       "  ACTION                enable or disable (annotation-reply)\n"
	       "  JOB_ID                the job's UUID, as Dify gave it (any case)\n"
	       "  DATASET               the knowledge base's UUID (document-indexing)\n"
	       "  BATCH                 the upload's batch id, 20 digits (document-indexing)\n"
	       "  RUN_ID                the workflow run's UUID (workflow-run)\n"
	       "  ID                    a [Kind:NAME] job's JobID= (its {id}), as the service\n"
	       "                        gave it\n"
	       "  -f, --field=KEY=VALUE the value of a {KEY} of the kind's StatusPath=: each\n"
	       "                        one the kind uses, and no other\n"
	       "  -e, --endpoint=NAME   a configured [Endpoint:NAME] (default: [Endpoint])\n"
	       "  -d, --description=TEXT\n"
	       "                        one line shown in the journal and given to the hook\n" COMMON_HELP
	       "\n"
	       "Exit status: 0 added; 1 not added (the message says why); 64 usage error.\n");
}

static void help_list(void)
{
	printf("Usage: jobwatchctl list [OPTION]...\n"
	       "Show every job jobwatchd knows, read from its state directory (safe while it\n"
	       "runs): endpoint, action, id, state or outcome, polls, age since it was\n"
	       "accepted, and the endpoint's trouble if any; when other kinds than\n"
	       "annotation-reply are watched, also each job's kind, the dataset of an\n"
	       "indexing batch, the progress of a running batch and the fields of a\n"
	       "[Kind:NAME] job.\n"
	       "\n"
	       "      --json            a JSON array of objects, for scripts\n" COMMON_HELP "\n"
	       "Exit status: 0 success; 1 no state or it cannot be read; 64 usage error.\n");
}

static void help_wait(void)
{
	printf("Usage: jobwatchctl wait [OPTION]... JOB_ID...\n"
	       "Wait for each job's result entry in the journal and print its message. JOB_ID\n"
	       "is the kind's own id: an annotation job's or a workflow run's UUID, an\n"
	       "indexing batch (20 digits), or a [Kind:NAME] job's ID. Returns\n"
	       "at once for results already there. On a terminal, a status line on stderr shows\n"
	       "the job's state, polls and age from the state directory. Needs read access to\n"
	       "jobwatchd's journal: root, or a member of the group systemd-journal.\n"
	       "\n"
	       "  -t, --timeout=SPAN    give up after SPAN (\"30s\", \"10min\", \"1h\"; default:\n"
	       "                        wait forever; 0: only look)\n" COMMON_HELP "\n"
	       "Exit status: 0 every job completed; 1 one ended otherwise (error, expired,\n"
	       "unknown, timeout, cancelled); 2 --timeout passed first (the jobs still pending\n"
	       "are named on stderr); 3 the journal cannot be read; 64 usage error.\n");
}

static void help_start(void)
{
	printf("Usage: jobwatchctl start ACTION [OPTION]...\n"
	       "POST {BaseURL}/apps/annotation-reply/ACTION to start the job on Dify with the\n"
	       "endpoint's API key (read as jobwatchd reads it; never printed), then add it as\n"
	       "'add' does. When Dify says a job of this action is already running, that job\n"
	       "is added instead.\n"
	       "\n"
	       "  ACTION                enable or disable\n"
	       "      --score-threshold=X      0 to 1 (required)\n"
	       "      --embedding-provider=P   e.g. openai (required)\n"
	       "      --embedding-model=M      e.g. text-embedding-3-small (required)\n"
	       "  -e, --endpoint=NAME   a configured [Endpoint:NAME] (default: [Endpoint])\n"
	       "  -d, --description=TEXT\n"
	       "                        one line shown in the journal and given to the hook\n"
	       "  -w, --wait            then wait for the result, as 'wait' does\n"
	       "  -t, --timeout=SPAN    with --wait: give up after SPAN\n" COMMON_HELP "\n"
	       "Exit status: 0 started and added (with --wait: completed); 1 failure (refused\n"
	       "key, 409 (from a proxy or modified server: not Dify), 429 rate limited, 400,\n"
	       "5xx, network; with --wait: the job ended other than completed); 2 --wait timed\n"
	       "out; 3 the journal cannot be read; 64 usage error.\n");
}

static const struct option options_global[] = { COMMON_OPTIONS, {} };
static const struct option options_add[] = {
	COMMON_OPTIONS,
	{ "kind", required_argument, NULL, 'k' },
	{ "field", required_argument, NULL, 'f' },
	{ "endpoint", required_argument, NULL, 'e' },
	{ "description", required_argument, NULL, 'd' },
	{},
};
static const struct option options_list[] = {
	COMMON_OPTIONS,
	{ "json", no_argument, NULL, ARG_JSON },
	{},
};
static const struct option options_wait[] = {
	COMMON_OPTIONS,
	{ "timeout", required_argument, NULL, 't' },
	{},
};
static const struct option options_start[] = {
	COMMON_OPTIONS,
	{ "endpoint", required_argument, NULL, 'e' },
	{ "description", required_argument, NULL, 'd' },
	{ "score-threshold", required_argument, NULL, ARG_SCORE },
	{ "embedding-provider", required_argument, NULL, ARG_PROVIDER },
	{ "embedding-model", required_argument, NULL, ARG_MODEL },
	{ "wait", no_argument, NULL, 'w' },
	{ "timeout", required_argument, NULL, 't' },
	{},
};

static const struct verb verbs[] = {
	/* add: the number of arguments depends on --kind, checked below */
	{ "add", "-:c:j:s:hk:f:e:d:", options_add, 0, SIZE_MAX, help_add, verb_add },
	{ "list", "-:c:j:s:h", options_list, 0, 0, help_list, verb_list },
	{ "wait", "-:c:j:s:ht:", options_wait, 1, SIZE_MAX, help_wait, verb_wait },
	{ "start", "-:c:j:s:he:d:wt:", options_start, 1, 1, help_start, verb_start },
};

/* --kind with a name that cannot be a kind: say which are. */
static enum ctl_exit bad_kind(const char *name)
{
	char list[256];
	size_t n = 0;

	list[0] = '\0';
	for (int t = 0; t < _KIND_TYPE_MAX && n < sizeof(list); t++) {
		int k = snprintf(list + n, sizeof(list) - n, "%s%s", t ? ", " : "",
				 kind_type_to_string((enum kind_type)t));
		if (k < 0) {
			break;
		}
		n += (size_t)k;
	}
	return ctl_usage_error(
		"add",
		"invalid kind '%s', expected one of %s, or the NAME of a [Kind:NAME] section of the configuration (1-64 characters from A-Z a-z 0-9 _ . -)",
		name, list);
}

/* The option at argv[optind - 1] that getopt refused, for messages. */
static enum ctl_exit bad_option(const char *verb, int c, char *argv[])
{
	const char *opt = argv[optind - 1];

	if (c == ':') {
		return ctl_usage_error(verb, "option '%s' needs a value", opt);
	}
	if (verb) {
		return ctl_usage_error(verb, "unknown option '%s' for '%s'", opt, verb);
	}
	return ctl_usage_error(verb, "unknown option '%s'", opt);
}

/* -c, -j, -s and -h, taken before the command and among its arguments alike:
 * true when c is one of them. */
static bool common_option(int c, bool *help)
{
	switch (c) {
	case 'c':
		arg_config = optarg;
		return true;
	case 'j':
		arg_jobs_dir = optarg;
		return true;
	case 's':
		arg_state_dir = optarg;
		return true;
	case 'h':
		*help = true;
		return true;
	default:
		return false;
	}
}

/* Long (about 130 lines): two getopt passes (common options, then the
 * command's) over one switch each, as getopt wants them. */
enum ctl_exit ctl_parse_argv(int argc, char *argv[], const struct verb **ret_verb, char ***ret_args,
			     size_t *ret_n)
{
	const struct verb *v = NULL;
	char **args;
	size_t n = 0;
	bool help = false;
	int c, r;

	*ret_verb = NULL;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:c:j:s:h", options_global, NULL)) >= 0) {
		if (c == ARG_VERSION) {
			printf("jobwatchctl %s\n", JOBWATCH_VERSION);
			return CTL_EXIT_SUCCESS;
		}
		if (!common_option(c, &help)) {
			return bad_option(NULL, c, argv);
		}
	}
	if (help) {
		help_main();
		return CTL_EXIT_SUCCESS;
	}
	if (optind >= argc) {
		return ctl_usage_error(NULL, "missing command: add, list, wait or start");
	}
	if (streq(argv[optind], "help")) {
		help_main();
		return CTL_EXIT_SUCCESS;
	}
	for (size_t i = 0; i < ELEMENTSOF(verbs); i++) {
		if (streq(argv[optind], verbs[i].name)) {
			v = &verbs[i];
		}
	}
	if (!v) {
		return ctl_usage_error(NULL,
				       "unknown command '%s', expected add, list, wait or start",
				       argv[optind]);
	}

	/* The verb's own options, anywhere among its arguments ("-" in the
	 * option string hands us positional arguments in order). */
	argc -= optind;
	argv += optind;
	args = calloc((size_t)argc + 1, sizeof(char *));
	if (!args) {
		ctl_fail(-ENOMEM, "out of memory");
		return CTL_EXIT_FAILURE;
	}
	optind = 0;
	arg_n_fields = 0;
	while ((c = getopt_long(argc, argv, v->short_opts, v->options, NULL)) >= 0) {
		if (common_option(c, &help)) {
			continue;
		}
		switch (c) {
		case 1:
			args[n++] = optarg;
			break;
		case ARG_VERSION:
			printf("jobwatchctl %s\n", JOBWATCH_VERSION);
			free(args);
			return CTL_EXIT_SUCCESS;
		case 'e':
			arg_endpoint = optarg;
			break;
		case 'd':
			arg_description = optarg;
			break;
		case 'k':
			if (!ctl_kind_name_is_valid(optarg)) {
				free(args);
				return bad_kind(optarg);
			}
			arg_kind = optarg;
			break;
		case 'f':
			/* the key's form here; whether the kind uses it, once
			 * the configuration is read (ctl_parse_user_ident()) */
			if (!ctl_field_is_valid(optarg)) {
				free(args);
				return ctl_usage_error(
					v->name,
					"invalid --field '%s', expected KEY=VALUE, KEY being a {KEY} of the kind's StatusPath= (a letter A-Z, then letters and digits)",
					optarg);
			}
			if (arg_n_fields >= CTL_FIELDS_MAX) {
				free(args);
				return ctl_usage_error(
					v->name, "too many --field: a kind has at most %d {KEY}s",
					CTL_FIELDS_MAX);
			}
			arg_fields[arg_n_fields++] = optarg;
			break;
		case ARG_JSON:
			arg_json = true;
			break;
		case 't':
			r = timespan_parse(optarg, &arg_timeout_usec);
			if (r < 0) {
				free(args);
				return ctl_usage_error(
					v->name,
					"invalid --timeout '%s', expected a time span such as 30s, 10min or 1h",
					optarg);
			}
			break;
		case ARG_SCORE:
			arg_score_threshold = optarg;
			break;
		case ARG_PROVIDER:
			arg_provider = optarg;
			break;
		case ARG_MODEL:
			arg_model = optarg;
			break;
		case 'w':
			arg_wait = true;
			break;
		default:
			free(args);
			return bad_option(v->name, c, argv);
		}
	}
	for (; optind < argc; optind++) { /* after "--" */
		args[n++] = argv[optind];
	}
	if (help) {
		v->help();
		free(args);
		return CTL_EXIT_SUCCESS;
	}
	if (v->run == verb_add && arg_kind && kind_type_from_string(arg_kind) < 0) {
		/* a [Kind:NAME]: its ID; the fields are options */
		if (n != 1) {
			free(args);
			return ctl_usage_error(v->name, "add --kind %s needs ID (the job's JobID=)",
					       arg_kind);
		}
	} else if (v->run == verb_add && arg_n_fields > 0) {
		free(args);
		return ctl_usage_error(
			v->name,
			"--field is for the kinds of the configuration ([Kind:NAME]), not %s",
			arg_kind ? arg_kind : kind_type_to_string(KIND_ANNOTATION_REPLY));
	} else if (v->run == verb_add) {
		enum kind_type t = arg_kind ? (enum kind_type)kind_type_from_string(arg_kind)
					    : KIND_ANNOTATION_REPLY;
		enum kind_field f[_KIND_FIELD_MAX];
		char names[128];

		if (n != ctl_kind_args(t, f)) {
			free(args);
			ctl_kind_args_usage(t, " and ", names, sizeof(names));
			if (arg_kind) {
				return ctl_usage_error(v->name, "add --kind %s needs %s", arg_kind,
						       names);
			}
			return ctl_usage_error(
				v->name,
				"add needs %s (for another kind of job, name the kind with --kind)",
				names);
		}
	}
	if (n < v->min_args || n > v->max_args) {
		static const char *const usage[] = {
			"add needs ACTION and JOB_ID",
			"list takes no arguments",
			"wait needs at least one JOB_ID",
			"start needs ACTION (enable or disable)",
		};
		free(args);
		return ctl_usage_error(v->name, "%s", usage[v - verbs]);
	}
	if (arg_timeout_usec != USEC_INFINITY && v->run == verb_start && !arg_wait) {
		free(args);
		return ctl_usage_error(v->name, "--timeout needs --wait");
	}
	*ret_verb = v;
	*ret_args = args;
	*ret_n = n;
	return CTL_EXIT_SUCCESS;
}
