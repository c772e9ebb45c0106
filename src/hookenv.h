/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The complete environment of a hook: the job's fields as JOBWATCH_*
 * variables, PATH and LANG, and nothing else (never the API key, never the
 * daemon's own environment). Pure.
 */

#include <stdint.h>

/* Default PATH for hooks when the daemon has none. */
#define HOOKENV_DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

struct hookenv_job {
	const char *job_id; /* the kind's own id as text (a UUID, a batch) */
	const char *kind; /* job_kind_name(); NULL: annotation-reply */
	const char *action; /* job_action_to_string(); NULL (empty) for other kinds */
	const char *status; /* job_outcome_to_string() */
	const char *remote_status; /* the server's last status word; NULL: empty */
	const char *dataset; /* document-indexing's dataset; NULL: not set */
	const char *error; /* NULL: empty */
	const char *endpoint;
	const char *description; /* NULL: empty */
	const char *job_file; /* full path */
	unsigned polls;
	uint64_t duration_sec; /* from first accepted to now */
	const char *path; /* the daemon's PATH; NULL: HOOKENV_DEFAULT_PATH */
	const char *lang; /* the daemon's LANG; NULL: no LANG */
};

/* Build "KEY=value" strings, NULL-terminated, sized from the variables set.
 * *ret_envp is owned by the caller (strv_free). Returns 0 or -ENOMEM. */
int hookenv_build(const struct hookenv_job *j, char ***ret_envp);
