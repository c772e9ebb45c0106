/* SPDX-License-Identifier: MIT */
#pragma once

/* Facts about processes, read from /proc. */

#include <stdint.h>
#include <sys/types.h>

/* /proc/PID/stat starttime of pid, or 0 if it does not exist or has ended
 * (a zombie). With the pid it names one process for good: the daemon records
 * both for a hook it starts, to recognise it after a restart. */
uint64_t process_start_time(pid_t pid);
