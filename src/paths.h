/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Where jobwatch's files are, decided in one place for jobwatchd (main.c,
 * --check) and jobwatchctl: the configuration file and the state directory,
 * from the command line, the environment systemd sets, or the built-in
 * defaults (config-paths.h). Pure: no I/O but getenv().
 */

/* The configuration file: arg_config (--config), or the built-in default
 * when it is NULL (where a missing file means built-in defaults). */
const char *paths_config_file(const char *arg_config);

/*
 * The state directory: arg_state_dir (--state-dir) when given; else the first
 * entry of $STATE_DIRECTORY (systemd passes one per StateDirectory=,
 * separated by ':'; ours is the first) when it is not empty; else the
 * built-in default. Returns an owned string, or NULL when out of memory.
 */
char *paths_state_dir(const char *arg_state_dir);
