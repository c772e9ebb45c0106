/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fd-util.h"
#include "parse-util.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

int close_nointr(int fd)
{
	/* On Linux the fd is gone even when close() reports EINTR; retrying
	 * could close an fd another thread just got, so EINTR counts as done. */
	if (close(fd) < 0 && errno != EINTR) {
		return -errno;
	}
	return 0;
}

int fd_cloexec_from_proc(int first)
{
	int dfd = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC), r = 0;
	DIR *dir;
	struct dirent *de;

	if (dfd < 0) {
		return -errno;
	}
	dir = fdopendir(dfd); /* owns dfd from here on */
	if (!dir) {
		r = -errno;
		close(dfd);
		return r;
	}
	for (;;) {
		unsigned fd;
		int flags;

		/* NULL is the end or an error: only errno tells (fcntl() below
		 * sets it too, so it is cleared before every call). A listing
		 * cut short leaves fds a child would inherit: that is a failure. */
		errno = 0;
		de = readdir(dir);
		if (!de) {
			if (errno != 0) {
				r = -errno;
			}
			break;
		}
		if (safe_atou(de->d_name, &fd) < 0 || fd < (unsigned)first || fd > INT_MAX ||
		    (int)fd == dirfd(dir)) {
			continue;
		}
		flags = fcntl((int)fd, F_GETFD);
		if (flags < 0) {
			continue; /* closed since the listing was read */
		}
		if (!(flags & FD_CLOEXEC) && fcntl((int)fd, F_SETFD, flags | FD_CLOEXEC) < 0) {
			r = -errno;
		}
	}
	closedir(dir);
	return r;
}

int fd_cloexec_from(int first)
{
#ifdef SYS_close_range
	if (syscall(SYS_close_range, (unsigned)first, ~0U, CLOSE_RANGE_CLOEXEC) == 0) {
		return 0;
	}
	/* ENOSYS before Linux 5.11, EINVAL for CLOSE_RANGE_CLOEXEC before 5.11 too */
#endif
	return fd_cloexec_from_proc(first);
}
