/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <cmocka.h>

#include "fd-util.h"
#include "macro.h"

/* Linked with -Wl,--wrap=readdir64 (dirent.h makes readdir() that symbol
 * under _FILE_OFFSET_BITS=64): once readdir_fail_after entries have been
 * read, the next call fails with EIO, as a read of /proc/self/fd can. */
struct dirent *__real_readdir64(DIR *d);
struct dirent *__wrap_readdir64(DIR *d);
static int readdir_fail_after = -1;

struct dirent *__wrap_readdir64(DIR *d)
{
	if (readdir_fail_after == 0) {
		errno = EIO;
		return NULL;
	}
	if (readdir_fail_after > 0) {
		readdir_fail_after--;
	}
	return __real_readdir64(d);
}

static bool has_cloexec(int fd)
{
	int flags = fcntl(fd, F_GETFD);
	assert_true(flags >= 0);
	return flags & FD_CLOEXEC;
}

/* fds without close-on-exec (as libcurl's socketpair, or one inherited) get
 * it; fds below first are left alone. */
static void check_cloexec_from(int (*fn)(int first))
{
	int p[2], q[2];
	int in_flags = fcntl(0, F_GETFD);

	assert_int_equal(pipe(p), 0);
	assert_int_equal(pipe(q), 0);
	assert_false(has_cloexec(p[0]));
	assert_false(has_cloexec(q[1]));
	/* first above p's fds: q only */
	assert_int_equal(fn(MAX(p[0], p[1]) + 1), 0);
	assert_true(has_cloexec(q[0]));
	assert_true(has_cloexec(q[1]));
	assert_false(has_cloexec(p[0]));
	assert_false(has_cloexec(p[1]));
	assert_int_equal(fn(3), 0);
	assert_true(has_cloexec(p[0]));
	assert_true(has_cloexec(p[1]));
	assert_true(has_cloexec(q[0]));
	assert_true(has_cloexec(q[1]));
	assert_int_equal(fcntl(0, F_GETFD), in_flags);
	for (int i = 0; i < 2; i++) {
		close(p[i]);
		close(q[i]);
	}
}

static void test_fd_cloexec_from(void **state)
{
	check_cloexec_from(fd_cloexec_from);
	check_cloexec_from(fd_cloexec_from_proc);
}

/* A listing that fails part-way is an error, not a success that left fds
 * without close-on-exec. */
static void test_fd_cloexec_from_proc_readdir_error(void **state)
{
	int p[2];

	assert_int_equal(pipe(p), 0);
	readdir_fail_after = 2; /* "." and "..", then EIO */
	assert_int_equal(fd_cloexec_from_proc(3), -EIO);
	readdir_fail_after = -1;
	assert_false(has_cloexec(p[0])); /* never reached: the error is real */
	assert_int_equal(fd_cloexec_from_proc(3), 0);
	assert_true(has_cloexec(p[0]));
	close(p[0]);
	close(p[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fd_cloexec_from),
		cmocka_unit_test(test_fd_cloexec_from_proc_readdir_error),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
