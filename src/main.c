/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "config-paths.h"
#include "check.h"
#include "daemon.h"
#include "log.h"
#include "paths.h"
#include "string-util.h"

/* The command line, parsed once: the only globals (STYLE §2.9). */
static const char *arg_config;
static const char *arg_jobs_dir;
static const char *arg_state_dir;
static enum log_target arg_log_target = LOG_TARGET_AUTO;
static int arg_log_level = LOG_INFO;
static bool arg_check;

static void help(void)
{
	printf("Usage: jobwatchd [OPTION]...\n"
	       "Watch Dify annotation-reply jobs until they end; journal each result and run a hook.\n"
	       "\n"
	       "  -c, --config=FILE        config file (default %s;\n"
	       "                           a missing default file means built-in defaults)\n"
	       "  -j, --jobs-dir=DIR       jobs directory (overrides [Daemon] JobsDirectory=)\n"
	       "  -s, --state-dir=DIR      state directory (default $STATE_DIRECTORY or %s)\n"
	       "      --log-target=TARGET  auto, journal or console (default auto)\n"
	       "      --log-level=LEVEL    err, warning, notice, info or debug (default info)\n"
	       "  -t, --check              validate the config and every job file, print each\n"
	       "                           problem as FILE:LINE: message, exit 0 or 1\n"
	       "  -h, --help               show this help\n"
	       "      --version            show the version\n"
	       "\n"
	       "See jobwatchd(8), jobwatch.conf(5) and jobwatch.job(5).\n",
	       JOBWATCH_CONFIG_FILE, JOBWATCH_STATE_DIR);
}

static int parse_level(const char *s)
{
	static const struct {
		const char *name;
		int level;
	} levels[] = {
		{ "err", LOG_ERR },	  { "error", LOG_ERR }, { "warning", LOG_WARNING },
		{ "notice", LOG_NOTICE }, { "info", LOG_INFO }, { "debug", LOG_DEBUG },
	};
	for (size_t i = 0; i < ELEMENTSOF(levels); i++) {
		if (streq(s, levels[i].name)) {
			return levels[i].level;
		}
	}
	return -EINVAL;
}

/* Returns 1 to go on, 0 to exit successfully (--help, --version), < 0 on error. */
static int parse_argv(int argc, char *argv[])
{
	enum { ARG_VERSION = 0x100, ARG_LOG_TARGET, ARG_LOG_LEVEL };
	static const struct option options[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "jobs-dir", required_argument, NULL, 'j' },
		{ "state-dir", required_argument, NULL, 's' },
		{ "log-target", required_argument, NULL, ARG_LOG_TARGET },
		{ "log-level", required_argument, NULL, ARG_LOG_LEVEL },
		{ "check", no_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, ARG_VERSION },
		{}
	};
	int c, r;

	while ((c = getopt_long(argc, argv, "c:j:s:th", options, NULL)) >= 0) {
		switch (c) {
		case 'c':
			arg_config = optarg;
			break;
		case 'j':
			arg_jobs_dir = optarg;
			break;
		case 's':
			arg_state_dir = optarg;
			break;
		case 't':
			arg_check = true;
			break;
		case ARG_LOG_TARGET:
			r = log_target_from_string(optarg);
			if (r < 0) {
				fprintf(stderr,
					"jobwatchd: invalid --log-target '%s', expected auto, journal or console\n",
					optarg);
				return -EINVAL;
			}
			arg_log_target = (enum log_target)r;
			break;
		case ARG_LOG_LEVEL:
			r = parse_level(optarg);
			if (r < 0) {
				fprintf(stderr,
					"jobwatchd: invalid --log-level '%s', expected err, warning, notice, info or debug\n",
					optarg);
				return -EINVAL;
			}
			arg_log_level = r;
			break;
		case 'h':
			help();
			return 0;
		case ARG_VERSION:
			printf("jobwatchd %s\n", JOBWATCH_VERSION);
			return 0;
		default:
			fprintf(stderr, "Try 'jobwatchd --help'.\n");
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "jobwatchd: unexpected argument '%s'\nTry 'jobwatchd --help'.\n",
			argv[optind]);
		return -EINVAL;
	}
	return 1;
}

int main(int argc, char *argv[])
{
	int r = parse_argv(argc, argv);
	if (r <= 0) {
		return r < 0 ? 2 : 0;
	}

	_cleanup_(freep) char *state_dir = NULL;
	struct daemon_options o = {
		.config_path = arg_config,
		.jobs_dir = arg_jobs_dir,
	};
	log_set_max_level(arg_log_level);
	if (arg_check) {
		log_setup(LOG_TARGET_CONSOLE);
		return check_run(&o);
	}
	/* -s, else $STATE_DIRECTORY's first entry, else the default: as jobwatchctl */
	state_dir = paths_state_dir(arg_state_dir);
	if (!state_dir) {
		fputs("jobwatchd: out of memory\n", stderr);
		return 1;
	}
	o.state_dir = state_dir;
	/* A hook that does not read its stdin must not kill us with SIGPIPE. */
	(void)signal(SIGPIPE, SIG_IGN);
	log_setup(arg_log_target);
	return daemon_run(&o);
}
