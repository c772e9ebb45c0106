/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stddef.h>

#include "config-load.h"
#include "paths.h"

int config_load_arg(const char *arg_config, struct config **ret, struct diag_list *diags)
{
	int r;

	*ret = NULL;
	r = config_load(paths_config_file(arg_config), arg_config != NULL, ret, diags);
	if (r >= 0 && diag_has_errors(diags)) {
		return -EINVAL;
	}
	return r;
}
