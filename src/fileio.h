/* SPDX-License-Identifier: MIT */
#pragma once

/* Reading whole files and making them durable. 0 or a negative errno. */

#include <stdbool.h>
#include <stddef.h>

/*
 * Read a whole regular file, at most max bytes, into a NUL-terminated buffer.
 * With nofollow set, a symlink is refused (-ELOOP). Non-regular files (FIFOs,
 * devices, directories) are refused with -EBADFD without blocking on them.
 * More than max bytes gives -EFBIG. *ret_len excludes the terminating NUL.
 * dirfd may be AT_FDCWD.
 */
int read_file_capped(int dirfd, const char *path, size_t max, bool nofollow, char **ret,
		     size_t *ret_len);

/* fsync() the directory holding path ("." for a name without '/'). */
int fsync_directory_of(const char *path);
