/* SPDX-License-Identifier: MIT */
/*
 * jobsdir_scan_fd(): every valid job file name exactly once, in inode order,
 * with and without the prefetch helper (which runs only when the files are
 * not in the page cache).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jobsdir.h"
#include "util.h"

#define N_FILES 600 /* above the prefetch threshold (256) */

struct seen {
	int dir_fd;
	size_t n;
	bool wait_for_prefetch; /* at the first name, until the others are cached */
	bool prefetched;
	char names[N_FILES + 16][32];
	ino_t inodes[N_FILES + 16];
};

static size_t count_uncached(void);

static void on_name(void *userdata, const char *name)
{
	struct seen *s = userdata;
	struct stat st;

	/* the reader stops here; only a helper running ahead can fetch the rest */
	if (s->n == 0 && s->wait_for_prefetch) {
		for (int tries = 0; tries < 150 && !s->prefetched; tries++) {
			s->prefetched = count_uncached() <= N_FILES / 10;
			if (!s->prefetched) {
				usleep(20 * 1000);
			}
		}
	}

	assert_true(s->n < N_FILES + 16);
	assert_true(strlen(name) < sizeof(s->names[0]));
	snprintf(s->names[s->n], sizeof(s->names[0]), "%s", name);
	assert_int_equal(fstatat(s->dir_fd, name, &st, AT_SYMLINK_NOFOLLOW), 0);
	s->inodes[s->n] = st.st_ino;
	s->n++;
}

static char dir[] = "test-jobsdir.XXXXXX"; /* in the build directory: a real disk */
static int dir_fd = -1;

static int setup(void **state)
{
	char name[32];

	(void)state;
	if (!mkdtemp(dir)) {
		return -1;
	}
	dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir_fd < 0) {
		return -1;
	}
	for (int i = 0; i < N_FILES; i++) {
		snprintf(name, sizeof(name), "job-%04d.job", i);
		int fd = openat(dir_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd < 0) {
			return -1;
		}
		dprintf(fd, "[Job]\nJobID=00000000-0000-4000-8000-%012d\nAction=enable\n", i);
		close(fd);
	}
	/* not job files: skipped */
	for (const char *const *p =
		     (const char *const[]){ "notes.txt", ".hidden.job", "job.job~", NULL };
	     *p; p++) {
		int fd = openat(dir_fd, *p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		if (fd < 0) {
			return -1;
		}
		close(fd);
	}
	return mkdirat(dir_fd, "sub.job", 0755);
}

static int teardown(void **state)
{
	char name[32];

	(void)state;
	for (int i = 0; i < N_FILES; i++) {
		snprintf(name, sizeof(name), "job-%04d.job", i);
		(void)unlinkat(dir_fd, name, 0);
	}
	(void)unlinkat(dir_fd, "notes.txt", 0);
	(void)unlinkat(dir_fd, ".hidden.job", 0);
	(void)unlinkat(dir_fd, "job.job~", 0);
	(void)unlinkat(dir_fd, "sub.job", AT_REMOVEDIR);
	close(dir_fd);
	return rmdir(dir);
}

static void assert_scan(struct seen *s)
{
	s->dir_fd = dir_fd;
	s->n = 0;
	assert_int_equal(jobsdir_scan_fd(dir_fd, dir, on_name, s), N_FILES);
	assert_int_equal(s->n, N_FILES);
	for (size_t i = 1; i < s->n; i++) {
		assert_true(s->inodes[i - 1] <= s->inodes[i]);
	}
	/* each name once: job-NNNN.job for NNNN in 0..N_FILES-1 */
	static bool found[N_FILES];
	memset(found, 0, sizeof(found));
	for (size_t i = 0; i < s->n; i++) {
		unsigned k;
		assert_int_equal(sscanf(s->names[i], "job-%4u.job", &k), 1);
		assert_true(k < N_FILES);
		assert_false(found[k]);
		found[k] = true;
	}
}

/* mincore() tells without reading: a RWF_NOWAIT read that misses would
 * itself start fetching the file. */
static size_t count_uncached(void)
{
	char name[32];
	size_t cold = 0;

	for (int i = 0; i < N_FILES; i++) {
		unsigned char vec;
		snprintf(name, sizeof(name), "job-%04d.job", i);
		int fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC);
		assert_true(fd >= 0);
		void *p = mmap(NULL, 1, PROT_READ, MAP_SHARED, fd, 0);
		assert_true(p != MAP_FAILED);
		assert_int_equal(mincore(p, 1, &vec), 0);
		if (!(vec & 1)) {
			cold++;
		}
		munmap(p, 1);
		close(fd);
	}
	return cold;
}

static void test_scan_cached(void **state)
{
	static struct seen s;

	(void)state;
	assert_scan(&s);
}

/* Evict the files from the page cache; while the scan's callback holds on to
 * the first name, the helper must fetch the others (the callback never reads
 * a file). */
static void test_scan_cold_prefetches(void **state)
{
	static struct seen s;
	char name[32];

	(void)state;
	for (int i = 0; i < N_FILES; i++) {
		snprintf(name, sizeof(name), "job-%04d.job", i);
		int fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC);
		assert_true(fd >= 0);
		assert_int_equal(fdatasync(fd), 0);
		assert_int_equal(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
		close(fd);
	}
	if (count_uncached() < N_FILES / 2) {
		/* tmpfs and the like keep every page: nothing to prefetch here */
		skip();
	}
	s.wait_for_prefetch = true;
	assert_scan(&s);
	assert_true(s.prefetched);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scan_cached),
		cmocka_unit_test(test_scan_cold_prefetches),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
