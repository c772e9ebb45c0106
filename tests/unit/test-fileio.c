/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "fd-util.h"
#include "fileio.h"
#include "string-util.h"

static char tmpdir[] = "/tmp/test-fileio-XXXXXX";

static int setup_tmpdir(void **state)
{
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	return remove(path);
}

static int teardown_tmpdir(void **state)
{
	return nftw(tmpdir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static char *tmp_path(const char *name)
{
	char *p = strjoin(tmpdir, "/", name);

	assert_non_null(p);
	return p;
}

static void write_file(const char *path, const char *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
}

static void test_read_file_capped(void **state)
{
	_cleanup_(freep) char *file = tmp_path("file"), *link = tmp_path("link"),
			      *fifo = tmp_path("fifo"), *empty = tmp_path("empty");
	_cleanup_(closep) int dirfd = -1;
	char *buf = NULL;
	size_t len = 99;

	write_file(file, "hello\n", 6);
	write_file(empty, "", 0);
	assert_int_equal(symlink(file, link), 0);
	assert_int_equal(mkfifo(fifo, 0600), 0);

	assert_int_equal(read_file_capped(AT_FDCWD, file, 100, true, &buf, &len), 0);
	assert_int_equal(len, 6);
	assert_string_equal(buf, "hello\n");
	free(buf);

	/* Exactly max bytes is fine, one more is not. */
	assert_int_equal(read_file_capped(AT_FDCWD, file, 6, false, &buf, &len), 0);
	free(buf);
	buf = NULL;
	assert_int_equal(read_file_capped(AT_FDCWD, file, 5, false, &buf, &len), -EFBIG);
	assert_null(buf);

	assert_int_equal(read_file_capped(AT_FDCWD, empty, 10, false, &buf, &len), 0);
	assert_int_equal(len, 0);
	assert_string_equal(buf, "");
	free(buf);

	/* Relative to a directory fd. */
	dirfd = open(tmpdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(dirfd >= 0);
	assert_int_equal(read_file_capped(dirfd, "file", 100, true, &buf, NULL), 0);
	assert_string_equal(buf, "hello\n");
	free(buf);

	assert_int_equal(read_file_capped(dirfd, "link", 100, true, &buf, &len), -ELOOP);
	assert_int_equal(read_file_capped(dirfd, "link", 100, false, &buf, &len), 0);
	assert_string_equal(buf, "hello\n");
	free(buf);

	/* Would block forever without O_NONBLOCK: there is no writer. */
	alarm(10);
	assert_int_equal(read_file_capped(dirfd, "fifo", 100, true, &buf, &len), -EBADFD);
	alarm(0);
	assert_int_equal(read_file_capped(AT_FDCWD, tmpdir, 100, true, &buf, &len), -EBADFD);
	assert_int_equal(read_file_capped(dirfd, "missing", 100, true, &buf, &len), -ENOENT);
}

static void test_fsync_directory_of(void **state)
{
	_cleanup_(freep) char *file = tmp_path("sync");

	write_file(file, "x", 1);
	assert_int_equal(fsync_directory_of(file), 0);
	assert_int_equal(fsync_directory_of("relative-name"), 0);
	assert_int_equal(fsync_directory_of("/etc"), 0);
	assert_int_equal(fsync_directory_of("/nonexistent-dir-jobwatch/x"), -ENOENT);
	assert_int_equal(fsync_directory_of(""), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_read_file_capped),
		cmocka_unit_test(test_fsync_directory_of),
	};

	return cmocka_run_group_tests(tests, setup_tmpdir, teardown_tmpdir);
}
