/* SPDX-License-Identifier: MIT */
#include <stdlib.h>
#include <string.h>

#include "config-paths.h"
#include "paths.h"
#include "string-util.h"

const char *paths_config_file(const char *arg_config)
{
	return arg_config ? arg_config : JOBWATCH_CONFIG_FILE;
}

char *paths_state_dir(const char *arg_state_dir)
{
	const char *e;
	size_t n;

	if (arg_state_dir) {
		return strdup_or_null(arg_state_dir);
	}
	e = getenv("STATE_DIRECTORY");
	n = e ? strcspn(e, ":") : 0;
	if (n > 0) {
		return strndup(e, n);
	}
	return strdup_or_null(JOBWATCH_STATE_DIR);
}
