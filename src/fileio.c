/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fd-util.h"
#include "fileio.h"
#include "string-util.h"

/* Read the regular file fd to its end into a buffer sized from st_size;
 * -EFBIG past max. A read shorter than asked for is the end of a regular
 * file (saves a read() per file when scanning 100,000). */
static int read_fd_capped(int fd, size_t size_hint, size_t max, char **ret, size_t *ret_len)
{
	/* One byte more than we expect, to see EOF without a realloc (the
	 * buffer may hold a secret), plus the NUL. */
	size_t allocated, n = 0;
	char *buf;

	if (max > SIZE_MAX - 2) {
		return -EINVAL;
	}
	allocated = MIN(size_hint, max) + 2;
	buf = malloc(allocated);
	if (!buf) {
		return -ENOMEM;
	}

	for (;;) {
		ssize_t k;

		if (n + 1 >= allocated) {
			size_t grow = MIN(allocated * 2, max + 2);
			char *p;

			if (n > max) {
				free(buf);
				return -EFBIG;
			}
			p = realloc(buf, grow);
			if (!p) {
				free(buf);
				return -ENOMEM;
			}
			buf = p;
			allocated = grow;
		}

		size_t want = allocated - 1 - n;
		k = read(fd, buf + n, want);
		if (k < 0) {
			int r = -errno;

			if (r == -EINTR) {
				continue;
			}
			free(buf);
			return r;
		}
		if (k == 0) {
			break;
		}
		n += (size_t)k;
		if ((size_t)k < want) {
			break;
		}
	}

	if (n > max) {
		free(buf);
		return -EFBIG;
	}
	buf[n] = '\0';
	*ret = buf;
	if (ret_len) {
		*ret_len = n;
	}
	return 0;
}

int read_file_capped(int dirfd, const char *path, size_t max, bool nofollow, char **ret,
		     size_t *ret_len)
{
	_cleanup_(closep) int fd = -1;
	struct stat st;

	/* O_NONBLOCK: opening a FIFO must not wait for a writer; fstat()
	 * below refuses it before anything is read. */
	fd = openat(dirfd, path,
		    O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | (nofollow ? O_NOFOLLOW : 0));
	if (fd < 0) {
		return -errno;
	}
	if (fstat(fd, &st) < 0) {
		return -errno;
	}
	if (!S_ISREG(st.st_mode)) {
		return -EBADFD;
	}
	if ((uint64_t)st.st_size > max) {
		return -EFBIG;
	}

	return read_fd_capped(fd, (size_t)st.st_size, max, ret, ret_len);
}

int fsync_directory_of(const char *path)
{
	_cleanup_(closep) int fd = -1;
	_cleanup_(freep) char *dir = NULL;
	char *slash;

	if (isempty(path)) {
		return -EINVAL;
	}

	dir = strdup(path);
	if (!dir) {
		return -ENOMEM;
	}
	slash = strrchr(dir, '/');
	if (!slash) {
		dir[0] = '.';
		dir[1] = '\0';
	} else if (slash == dir) {
		dir[1] = '\0'; /* "/foo" lives in "/" */
	} else {
		*slash = '\0';
	}

	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		return -errno;
	}
	if (fsync(fd) < 0) {
		return -errno;
	}
	return 0;
}
