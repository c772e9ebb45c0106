/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "hookenv.h"
#include "macro.h"
#include "string-util.h"
#include "strv.h"

int hookenv_build(const struct hookenv_job *j, char ***ret_envp)
{
	char polls[32], dur[32];

	snprintf(polls, sizeof(polls), "%u", j->polls);
	snprintf(dur, sizeof(dur), "%llu", (unsigned long long)j->duration_sec);
	const struct {
		const char *key, *value;
		bool set;
	} vars[] = {
		{ "JOBWATCH_JOB_ID", j->job_id, true },
		{ "JOBWATCH_ACTION", j->action, true },
		{ "JOBWATCH_STATUS", j->status, true },
		{ "JOBWATCH_ERROR", j->error, true },
		{ "JOBWATCH_ENDPOINT", j->endpoint, true },
		{ "JOBWATCH_DESCRIPTION", j->description, true },
		{ "JOBWATCH_JOB_FILE", j->job_file, true },
		{ "JOBWATCH_POLLS", polls, true },
		{ "JOBWATCH_DURATION", dur, true },
		{ "JOBWATCH_KIND", j->kind ? j->kind : "annotation-reply", true },
		{ "JOBWATCH_REMOTE_STATUS", j->remote_status, true },
		{ "JOBWATCH_DATASET_ID", j->dataset, j->dataset != NULL },
		{ "PATH", j->path ? j->path : HOOKENV_DEFAULT_PATH, true },
		{ "LANG", j->lang, j->lang != NULL },
	};
	_cleanup_(strv_freep) char **envp = calloc(ELEMENTSOF(vars) + 1, sizeof(char *));
	size_t n = 0;

	if (!envp) {
		return -ENOMEM;
	}
	for (size_t i = 0; i < ELEMENTSOF(vars); i++) {
		if (!vars[i].set) {
			continue;
		}
		envp[n] = strjoin(vars[i].key, "=", strempty(vars[i].value));
		if (!envp[n]) {
			return -ENOMEM;
		}
		n++;
	}
	*ret_envp = TAKE_PTR(envp);
	return 0;
}
