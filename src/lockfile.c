/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lockfile.h"
#include "parse-util.h"
#include "string-util.h"

/* The PID the holder wrote, for a holder F_GETLK cannot name (one in another
 * PID namespace is reported as 0). */
static pid_t holder_from_contents(int fd)
{
	char buf[32];
	unsigned pid;
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

	if (n <= 0) {
		return 0;
	}
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return safe_atou(buf, &pid) >= 0 && pid > 0 && pid <= INT32_MAX ? (pid_t)pid : 0;
}

int lockfile_acquire(const char *dir, pid_t *ret_holder)
{
	_cleanup_(freep) char *path = strjoin(dir, "/", LOCKFILE_NAME);
	int fd, r;

	*ret_holder = 0;
	if (!path) {
		return -ENOMEM;
	}
	/* no O_TRUNC: the holder's PID stays in the file for everyone to read */
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0644);
	if (fd < 0) {
		return -errno;
	}
	/* The holder can end between F_SETLK and F_GETLK: then try again. */
	for (unsigned attempt = 0; attempt < 3; attempt++) {
		struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };

		if (fcntl(fd, F_SETLK, &fl) == 0) {
			char buf[32];
			int len = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
			/* for people only: the lock is what counts, so a failure to
			 * write (a full disk) does not stop us */
			if (ftruncate(fd, 0) == 0) {
				ssize_t w = pwrite(fd, buf, (size_t)len, 0);
				(void)w;
			}
			return fd;
		}
		if (errno != EAGAIN && errno != EACCES) {
			r = -errno;
			close(fd);
			return r;
		}
		fl = (struct flock){ .l_type = F_WRLCK, .l_whence = SEEK_SET };
		if (fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK) {
			*ret_holder = fl.l_pid > 0 ? fl.l_pid : holder_from_contents(fd);
			close(fd);
			return -EBUSY;
		}
	}
	*ret_holder = holder_from_contents(fd);
	close(fd);
	return -EBUSY;
}
