/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * One daemon per state directory: an fcntl() write lock on
 * DIR/jobwatchd.lock, held as long as its fd stays open and released by the
 * kernel when the process ends, however it ends (kill -9 included), so a
 * stale file never blocks a start. The holder writes its PID into the file
 * for people to read; a second instance learns the holder from F_GETLK, which
 * does not depend on the file's contents (it never truncates the file).
 *
 * A POSIX record lock belongs to the process and is dropped when the process
 * closes any fd of the file: nothing else in the daemon opens it. It is not
 * inherited across fork, so hooks never hold it.
 */

#include <sys/types.h>

#define LOCKFILE_NAME "jobwatchd.lock"

/*
 * Take the lock on dir/LOCKFILE_NAME, creating the file (mode 0644). Returns
 * the fd holding the lock (O_CLOEXEC; the caller owns it and keeps it open
 * for as long as it runs), -EBUSY when another process holds the lock, with
 * *ret_holder set to that process's PID (0 when it cannot be told), or another
 * negative errno when the file cannot be opened or locked. Logs nothing.
 */
int lockfile_acquire(const char *dir, pid_t *ret_holder);
