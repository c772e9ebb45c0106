/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Helpers shared by the unit tests (cmocka) and the fuzz targets: a fuzz
 * invariant check, UTF-8 validation, and a temporary directory with files in
 * it. Header only and free of cmocka (the build defines _GNU_SOURCE, for
 * asprintf() and program_invocation_short_name), so that the fuzz targets (built without
 * it) can include it too; the functions return errors instead of asserting.
 */

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A fuzz target's invariant: checked in every build type, unlike assert(). */
#define CHECK(x)                                                                                   \
	do {                                                                                       \
		if (!(x)) {                                                                        \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #x);      \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/*
 * Is the NUL-terminated s made of whole UTF-8 sequences (lead byte and the
 * right number of continuation bytes)? Written apart from escape.c, whose
 * output it checks; overlong forms are not looked for.
 */
static inline bool test_utf8_valid(const char *s)
{
	const unsigned char *c = (const unsigned char *)s;

	while (*c) {
		size_t n;
		if (*c < 0x80) {
			n = 0;
		} else if ((*c & 0xE0) == 0xC0) {
			n = 1;
		} else if ((*c & 0xF0) == 0xE0) {
			n = 2;
		} else if ((*c & 0xF8) == 0xF0) {
			n = 3;
		} else {
			return false;
		}
		c++;
		for (size_t i = 0; i < n; i++, c++) {
			if ((*c & 0xC0) != 0x80) {
				return false;
			}
		}
	}
	return true;
}

/* The directory made by test_tmpdir_setup(), NULL before. */
static char *test_tmpdir __attribute__((unused));

/*
 * A fresh directory $TMPDIR/NAME-XXXXXX (/tmp without $TMPDIR) into
 * test_tmpdir, NAME being the program's name. Made for
 * cmocka_run_group_tests()' group setup; 0 or -1.
 */
static inline int test_tmpdir_setup(void **state)
{
	const char *base = getenv("TMPDIR");
	char *p;

	(void)state;
	if (!base || base[0] != '/') {
		base = "/tmp";
	}
	if (asprintf(&p, "%s/%s-XXXXXX", base, program_invocation_short_name) < 0) {
		return -1;
	}
	if (!mkdtemp(p)) {
		free(p);
		return -1;
	}
	test_tmpdir = p;
	return 0;
}

static inline int test_tmpdir_remove_entry(const char *path, const struct stat *st, int type,
					   struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	return remove(path);
}

/* Removes test_tmpdir and what is in it; 0 or -1. The group teardown. */
static inline int test_tmpdir_teardown(void **state)
{
	int r = 0;

	(void)state;
	if (test_tmpdir) {
		r = nftw(test_tmpdir, test_tmpdir_remove_entry, 16, FTW_DEPTH | FTW_PHYS);
		free(test_tmpdir);
		test_tmpdir = NULL;
	}
	return r;
}

/* "test_tmpdir/name", malloc'd; NULL when out of memory. */
static inline char *test_tmp_path(const char *name)
{
	char *p;

	return asprintf(&p, "%s/%s", test_tmpdir, name) < 0 ? NULL : p;
}

/* Creates or truncates name under dirfd (AT_FDCWD: a path) with data, mode
 * 0600. 0 or a negative errno. */
static inline int test_write_file_at(int dirfd, const char *name, const void *data, size_t len)
{
	int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int r = 0;

	if (fd < 0) {
		return -errno;
	}
	if (write(fd, data, len) != (ssize_t)len) {
		r = -EIO;
	}
	if (close(fd) < 0 && r == 0) {
		r = -errno;
	}
	return r;
}
