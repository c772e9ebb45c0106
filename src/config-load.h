/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The one way jobwatchd (start-up, reload, --check) and jobwatchctl load the
 * configuration: the file named by --config, or the built-in default (where a
 * missing file means built-in defaults), with its drop-ins (config_load()).
 * Pure: problems are collected, never printed; diag_list_print() (diag.h)
 * prints them.
 */

#include "config.h"
#include "diag.h"

/*
 * Load paths_config_file(arg_config) and its drop-ins; a file named with
 * --config must exist. Every problem goes to diags. Returns 0 with *ret set;
 * -EINVAL when diags hold an error, with *ret still set when the files could
 * be read (so --check can go on checking the job files); another negative
 * errno, *ret NULL, when the configuration cannot be read at all. The caller
 * owns *ret.
 */
int config_load_arg(const char *arg_config, struct config **ret, struct diag_list *diags);
