/* SPDX-License-Identifier: MIT */
#pragma once

/* File descriptors: closing, and close-on-exec for what a child inherits. */

#include <dirent.h>

#include "macro.h"

/* close() that treats EINTR as done (the fd is gone on Linux). 0 or -errno. */
int close_nointr(int fd);

static inline void closep(int *fd)
{
	if (*fd >= 0) {
		(void)close_nointr(*fd);
	}
}

/* A directory stream holds an fd too. */
DEFINE_TRIVIAL_CLEANUP_FUNC(DIR *, closedir);

/* Set close-on-exec on every open fd >= first, so that a child exec'd
 * afterwards inherits none of them: close_range(CLOSE_RANGE_CLOEXEC), or
 * walking /proc/self/fd where that is unavailable (Linux < 5.11).
 * fd_cloexec_from_proc() is that fallback alone. 0 or a negative errno (also
 * when reading /proc/self/fd fails part-way: some fds may be left without
 * close-on-exec). */
int fd_cloexec_from(int first);
int fd_cloexec_from_proc(int first);
