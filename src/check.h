/* SPDX-License-Identifier: MIT */
#pragma once

#include "daemon.h"

/*
 * --check: validate the config (with key files) and every job file; print
 * each problem as FILE:LINE: message on stdout. Returns 0 when there is no
 * error (warnings allowed), 1 otherwise.
 */
int check_run(const struct daemon_options *o);
