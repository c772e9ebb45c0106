/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * jobwatchctl's insides, shared by its files: jobwatchctl.c (main), ctl.c
 * (the command line: options, help, the table of commands), ctl-common.c
 * (messages, configuration, argument checks), and one file per command:
 * ctl-add.c, ctl-list.c, ctl-wait.c, ctl-start.c. It reuses the pure layer
 * and the state store's reader (state-read.h), never the daemon's internals:
 * src/meson.build links it without the daemon's runtime library.
 *
 * Two kinds of int, never mixed: a command (verb_*) and ctl_parse_argv()
 * return an enum ctl_exit, the process's exit status; every other function
 * returns 0 (or more) on success and a negative errno on failure, as
 * everywhere else in jobwatch.
 */

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "job.h"
#include "kind.h"
#include "macro.h"
#include "state-read.h"

/* Exit statuses (documented in --help and jobwatchctl(1)). */
enum ctl_exit {
	CTL_EXIT_SUCCESS = 0,
	CTL_EXIT_FAILURE = 1, /* for wait also: a job ended other than completed */
	CTL_EXIT_TIMEOUT = 2, /* wait: --timeout passed first */
	CTL_EXIT_WAIT_ERROR = 3, /* wait: the journal cannot be read */
	CTL_EXIT_USAGE = 64, /* EX_USAGE of sysexits.h */
};

/* The command line, parsed once by ctl_parse_argv() (ctl.c): the only
 * globals (STYLE §2.9). */
extern const char *arg_config;
extern const char *arg_jobs_dir;
extern const char *arg_state_dir;
extern const char *arg_endpoint;
extern const char *arg_description;
extern const char *arg_kind; /* add --kind, checked by ctl_parse_argv(); NULL: annotation-reply */
/* add --field Key=value (a [Kind:NAME]'s {Key}s), in the order given: the
 * form checked by ctl_parse_argv(), the keys by ctl_parse_user_ident() */
#define CTL_FIELDS_MAX KINDDEF_KEYS_MAX
extern const char *arg_fields[CTL_FIELDS_MAX];
extern size_t arg_n_fields;
extern bool arg_json;
extern usec_t arg_timeout_usec;
extern const char *arg_score_threshold;
extern const char *arg_provider;
extern const char *arg_model;
extern bool arg_wait;

struct verb {
	const char *name;
	const char *short_opts;
	const struct option *options;
	size_t min_args, max_args;
	void (*help)(void);
	enum ctl_exit (*run)(char **args, size_t n);
};

/*
 * Parse everything into arg_*. Returns CTL_EXIT_SUCCESS with the command in
 * *ret_verb and its positional arguments in *ret_args (owned, *ret_n of
 * them) to run it; CTL_EXIT_SUCCESS with *ret_verb NULL after --help or
 * --version; another status (CTL_EXIT_USAGE, or CTL_EXIT_FAILURE when out of
 * memory) to exit with, the message printed. Common options are taken before
 * and after the command.
 */
enum ctl_exit ctl_parse_argv(int argc, char *argv[], const struct verb **ret_verb, char ***ret_args,
			     size_t *ret_n);

/* The commands: each returns the exit status. */
enum ctl_exit verb_add(char **args, size_t n);
enum ctl_exit verb_list(char **args, size_t n);
enum ctl_exit verb_wait(char **args, size_t n);
enum ctl_exit verb_start(char **args, size_t n);

/* --- ctl-common.c --- */

/* "jobwatchctl: message" on stderr, escaped (escape.h), so one line. error
 * is a negative errno, and is returned: "return ctl_fail(r, ...)". */
int ctl_fail(int error, const char *fmt, ...) _printf_(2, 3);

/* A usage error of verb (NULL: of jobwatchctl itself): the message and
 * "Try 'jobwatchctl VERB --help'." on stderr. Returns CTL_EXIT_USAGE. */
enum ctl_exit ctl_usage_error(const char *verb, const char *fmt, ...) _printf_(2, 3);

/*
 * Text from a server or the journal as one line in buf (cut to size - 1
 * bytes, "…" marking a cut), escaped (escape.h). Returns buf.
 */
char *ctl_snippet(char *buf, size_t size, const char *s, size_t len);

/* Load the configuration like the daemon does (config-load.h); problems are
 * printed (warnings only when asked for). Returns 0 with *ret set, or a
 * negative errno after saying why. */
int ctl_load_config(bool warnings, struct config **ret);
/* --jobs-dir, or the configured JobsDirectory=. */
const char *ctl_jobs_dir(const struct config *c);
/* The endpoint for --endpoint (NULL or "default": the unnamed one); prints
 * what is configured when it is not there, and returns NULL then. */
const struct endpoint_config *ctl_find_endpoint(const struct config *c, const char *name);

/* Argument checks: 0, or -EINVAL after saying what is wrong. */
int ctl_parse_action(const char *s, enum job_action *ret);
int ctl_check_description(const char *s);

/*
 * The id wait takes, as the journal's JOB_ID has it, into buf: a UUID (an
 * annotation job, a workflow run; any case, put in lower case), a
 * document-indexing batch (20 digits), or any other text a user kind's
 * JobID= may hold (kinddef_value_is_valid(): taken as it is). 0, or -EINVAL
 * after saying what is wrong.
 */
int ctl_parse_wait_id(const char *s, char buf[static KIND_ID_STRING_MAX]);

/*
 * add's positional arguments for kind t, in the order they are given: the
 * kind's fields (kind.h) in the order ACTION, DATASET, JOB_ID, BATCH, so
 * "ACTION JOB_ID", "DATASET BATCH", "RUN_ID". Returns how many, the fields in
 * ret.
 */
size_t ctl_kind_args(enum kind_type t, enum kind_field ret[static _KIND_FIELD_MAX]);
/* Their names for messages and help: "ACTION and JOB_ID", "RUN_ID". */
char *ctl_kind_args_usage(enum kind_type t, const char *sep, char *buf, size_t size);

/*
 * The identity of add's job of kind t from its n positional arguments, each
 * checked by the kind layer (kind_field_parse()). Returns 0 with *ret filled;
 * -ERANGE when n is not what the kind takes (nothing printed: a usage
 * error); -EINVAL after saying which argument is wrong and what was expected.
 * hint_kind: no --kind was given, so a bad first argument may be another
 * kind's id; the message then names --kind.
 */
int ctl_parse_ident(enum kind_type t, char *const *args, size_t n, bool hint_kind,
		    struct kind_ident *ret);

/*
 * Open the state file for a look that is not the command's business (a note,
 * a status line): -ENOENT when there is none; log.h is muted meanwhile (a
 * busy or odd state file is not reported) and its level put back as it was.
 */
int ctl_state_peek(const char *dir, struct state_reader **ret);

/* A row's outcome, else the server's last status word (remote_status, else
 * last_status), else "pending". */
const char *ctl_row_state(const struct state_row *row);
/* A row's kind: annotation-reply when it has none (a state file from before
 * kinds). */
const char *ctl_row_kind(const struct state_row *row);
/* A span at second resolution: "1h 2min 3s", "0s" under a second. */
char *ctl_format_age(char *buf, size_t size, usec_t t);

/* A row of a job of a [Kind:NAME] (its kind is no built-in kind's name): its
 * dataset column holds the "Key=value" lines of its fields (state-sql.h). */
bool ctl_row_is_user_kind(const struct state_row *row);

/* --- ctl-kinds.c: kinds of the configuration ([Kind:NAME]) --- */

/* Whether --kind's value may name a kind: a built-in kind's name, or a name
 * a [Kind:NAME] section can have (name_is_valid()); which one is known only
 * with the configuration (ctl_find_user_kind()). */
bool ctl_kind_name_is_valid(const char *s);

/* Whether an add --field has the form KEY=VALUE, KEY having the form of a
 * {KEY} placeholder (kinddef_key_is_placeholder()); the value is checked
 * with the kind. */
bool ctl_field_is_valid(const char *s);

/*
 * The [Kind:NAME] of add --kind name in c. Returns 0 with *ret set, or
 * -ENOENT after a usage error that lists the built-in kinds and the
 * configured ones.
 */
int ctl_find_user_kind(const struct config *c, const char *name, const struct kind_def **ret);

/*
 * The identity text (userkind.h) of add --kind NAME's job: id is its JobID=,
 * fields the n --field values ("Key=value"). Every {Key} of def's StatusPath=
 * must be given once, and no other. Returns 0 with the owned text in
 * *ret_text; -ERANGE after a usage error (a {Key} missing, a key the kind
 * does not use, a key twice); -EINVAL after saying which value is not valid
 * (kinddef_value_is_valid()); -ENOMEM after saying so.
 */
int ctl_parse_user_ident(const struct kind_def *def, const char *id, const char *const *fields,
			 size_t n, char **ret_text);

/*
 * The part of a user kind's job file name after "ENDPOINT-NAME-": its id as
 * it is when that is plain (only A-Z a-z 0-9 _ . -, at most
 * CTL_PLAIN_ID_MAX bytes, not starting with '.') and the kind has no {Key};
 * else the id with every other byte as '_', cut to CTL_PLAIN_ID_MAX bytes,
 * then '~' and 16 hex digits of a hash of the whole identity text, so that
 * two jobs never share a name and no name holds a '/' or a control
 * character. NULL when out of memory or text is malformed.
 */
#define CTL_PLAIN_ID_MAX 64
char *ctl_user_file_part(const char *text);

/* A user kind's fields (the "Key=value" lines of a state row's dataset or of
 * an identity text's fields part) as one line, "Key=value, Key=value", into
 * buf. Returns buf. */
char *ctl_format_fields(const char *fields, char *buf, size_t size);

/* --- the commands' shared parts --- */

/*
 * ctl-add.c: write the job file for (endpoint, ident) into the jobs
 * directory, atomically. endpoint NULL means the default one. Returns 0 with
 * the new file's path in *ret_path; -EEXIST with the path of the file that
 * already holds the job in *ret_path (nothing printed); any other negative
 * errno after printing why.
 */
int ctl_add_job(const struct config *c, const struct kind_ident *ident, const char *endpoint,
		const char *description, char **ret_path);

/* ctl-wait.c: wait for the result entries of ids (as ctl_parse_wait_id()
 * gives them); returns the exit status. */
enum ctl_exit ctl_wait_for_jobs(const char (*ids)[KIND_ID_STRING_MAX], size_t n);
