/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The manager: owns the loop, the config, the registry, the HTTP engine, the
 * poller, the hook runner, the state store and sd_notify. It decides what a
 * job file change means (daemon-jobfiles.c), reports outcomes (journal, then
 * hook: daemon-report.c), restores the state at start-up (daemon-restore.c),
 * and runs the start-up order, SIGHUP reload and SIGTERM drain (daemon.c).
 */

#include <stdbool.h>

#include "log.h"

struct daemon_options {
	const char *config_path; /* NULL: the default, where a missing file means defaults */
	const char *jobs_dir; /* NULL: [Daemon] JobsDirectory= */
	const char *state_dir; /* the state directory, as paths_state_dir() resolved it */
};

/*
 * Start everything and run until SIGTERM/SIGINT. Returns the process exit
 * code: 0 after a clean stop, 1 when it could not start (the reason logged).
 */
int daemon_run(const struct daemon_options *o);
