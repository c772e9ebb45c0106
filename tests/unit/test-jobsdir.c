/* SPDX-License-Identifier: MIT */
/*
 * jobsdir_scan_fd(): every valid job file name exactly once, in inode order,
 * with and without the prefetch helper (which runs only when the files are
 * not in the page cache). And a jobsdir watching a directory from a real
 * loop: a move out of the directory is held back without blocking the loop,
 * then reported as a removal; the two halves of a rename split across reads
 * are reported together.
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
#include <uv.h>

#include "jobsdir.h"
#include "macro.h"

#define N_FILES 600 /* above the prefetch threshold (256) */

struct seen {
	int dir_fd;
	size_t n;
	bool wait_for_prefetch; /* at the first name, until the others are cached */
	bool cached; /* they were, while the reader waited there */
	enum jobsdir_prefetch prefetch;
	struct jobsdir_scan_stats stats;
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
		/* Up to 10 s: 600 small reads take well under a second on an idle
		 * disk. Readahead is a hint the block layer may drop when the disk
		 * is busy (seen while other suites ran: nothing fetched in 30 s),
		 * so the test asserts what the helper did (the stats) and reports
		 * what the kernel made of it. */
		for (int tries = 0; tries < 500 && !s->cached; tries++) {
			s->cached = count_uncached() <= N_FILES / 10;
			if (!s->cached) {
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
	assert_int_equal(jobsdir_scan_fd(dir_fd, dir, on_name, s, s->prefetch, &s->stats), N_FILES);
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
	/* Whether the scan's own sample finds the files cold depends on what
	 * else the kernel caches (inodes, small files' data in them), which
	 * differed between runs under load: the helper is what is tested. */
	s.prefetch = JOBSDIR_PREFETCH_ALWAYS;
	s.wait_for_prefetch = true;
	assert_scan(&s);
	/* the helper ran ahead of the waiting reader over every file (or the
	 * kernel had fetched them all before it was done) */
	assert_true(s.stats.prefetch_started);
	assert_true(s.stats.prefetch_advised == N_FILES ||
		    (s.cached && s.stats.prefetch_advised > 0));
	if (!s.cached) {
		print_message("note: the kernel fetched few of the %d files asked for (a busy disk "
			      "drops readahead)\n",
			      N_FILES);
	}
}

/* --- watching --- */

struct watch {
	uv_loop_t loop;
	uv_timer_t timer; /* something else the loop has to do */
	struct jobsdir *d;
	char dir[32];
	char log[16][48];
	size_t n;
	bool removed;
};

static void watch_log(struct watch *w, const char *what, const char *name)
{
	assert_true(w->n < 16);
	snprintf(w->log[w->n++], sizeof(w->log[0]), "%s%s%s", what, name ? " " : "",
		 name ? name : "");
}

static void on_w_changed(void *userdata, const char *name)
{
	watch_log(userdata, "changed", name);
}

static void on_w_removed(void *userdata, const char *name)
{
	struct watch *w = userdata;
	watch_log(w, "removed", name);
	w->removed = true;
}

static void on_w_rescan(void *userdata)
{
	watch_log(userdata, "rescan", NULL);
}

static void on_w_lost(void *userdata)
{
	watch_log(userdata, "lost", NULL);
}

static void on_w_settled(void *userdata)
{
	watch_log(userdata, "settled", NULL);
}

static void on_w_timer(uv_timer_t *t)
{
	watch_log(t->data, "timer", NULL);
}

static const struct jobsdir_ops watch_ops = {
	.changed = on_w_changed,
	.removed = on_w_removed,
	.rescan = on_w_rescan,
	.lost = on_w_lost,
	.settled = on_w_settled,
};

/* A directory holding a.job, watched. */
static void watch_start(struct watch *w)
{
	memset(w, 0, sizeof(*w));
	snprintf(w->dir, sizeof(w->dir), "test-jobsdir-watch.XXXXXX");
	assert_non_null(mkdtemp(w->dir));
	char path[64];
	snprintf(path, sizeof(path), "%s/a.job", w->dir);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(uv_loop_init(&w->loop), 0);
	assert_int_equal(jobsdir_new(&w->loop, w->dir, &watch_ops, w, &w->d), 0);
	assert_int_equal(uv_timer_init(&w->loop, &w->timer), 0);
	w->timer.data = w;
}

/* Run the loop until pred(w), at most 2 s. */
static void watch_run_until(struct watch *w, bool (*pred)(struct watch *w))
{
	uint64_t start = uv_hrtime();
	while (!pred(w) && uv_hrtime() - start < 2000000000ULL) {
		(void)uv_run(&w->loop, UV_RUN_ONCE);
	}
	assert_true(pred(w));
}

static void watch_stop(struct watch *w)
{
	char path[64];

	jobsdir_free(w->d);
	uv_close((uv_handle_t *)&w->timer, NULL);
	(void)uv_run(&w->loop, UV_RUN_DEFAULT); /* until every handle is closed */
	assert_int_equal(uv_loop_close(&w->loop), 0);
	snprintf(path, sizeof(path), "%s/a.job", w->dir);
	(void)unlink(path);
	snprintf(path, sizeof(path), "%s/b.job", w->dir);
	(void)unlink(path);
	assert_int_equal(rmdir(w->dir), 0);
	(void)unlink("test-jobsdir-out.job");
}

static bool watch_settled(struct watch *w)
{
	return w->n > 0 && strcmp(w->log[w->n - 1], "settled") == 0;
}

/* a.job moved out of the directory: only IN_MOVED_FROM is queued. */
static void move_out(struct watch *w)
{
	char path[64];
	snprintf(path, sizeof(path), "%s/a.job", w->dir);
	assert_int_equal(rename(path, "test-jobsdir-out.job"), 0);
}

/* One turn of the loop reads the event and returns at once, holding the
 * removal back: nothing is reported yet (a blocking wait for the second half
 * would have reported it within that turn). This is what shows that the hold
 * does not block the loop. */
static void assert_one_turn_holds(struct watch *w)
{
	(void)uv_run(&w->loop, UV_RUN_NOWAIT);
	assert_int_equal(w->n, 0);
	assert_true(w->d->has_held);
	assert_string_equal(w->d->held, "a.job");
}

static void test_move_out_is_a_removal_after_the_hold(void **state)
{
	static struct watch w;

	(void)state;
	watch_start(&w);
	move_out(&w);
	uint64_t start = uv_hrtime();
	assert_one_turn_holds(&w);
	/* the loop runs its timers meanwhile (this one is due at once) */
	assert_int_equal(uv_timer_start(&w.timer, on_w_timer, 0, 0), 0);
	watch_run_until(&w, watch_settled);
	/* then, after 50 ms, a removal for good */
	assert_true(uv_hrtime() - start >= 45 * 1000000ULL);
	assert_int_equal(w.n, 3);
	assert_string_equal(w.log[0], "timer");
	assert_string_equal(w.log[1], "removed a.job");
	assert_string_equal(w.log[2], "settled");
	assert_false(w.d->has_held);
	watch_stop(&w);
}

/* The second half of a rename comes after the read that held the first. */
static void rename_back_in(struct watch *w)
{
	char path[64];
	snprintf(path, sizeof(path), "%s/b.job", w->dir);
	assert_int_equal(rename("test-jobsdir-out.job", path), 0);
}

static void assert_paired(struct watch *w)
{
	watch_run_until(w, watch_settled);
	assert_int_equal(w->n, 3);
	assert_string_equal(w->log[0], "removed a.job");
	assert_string_equal(w->log[1], "changed b.job");
	assert_string_equal(w->log[2], "settled");
}

static void test_split_rename_is_one_batch(void **state)
{
	static struct watch w;

	(void)state;
	watch_start(&w);
	move_out(&w);
	assert_one_turn_holds(&w);
	rename_back_in(&w);
	assert_paired(&w);
	watch_stop(&w);
}

/* The loop comes back only after the hold expired, with the second half
 * queued meanwhile: whichever the loop sees first, the queue wins. */
static void test_split_rename_queued_before_the_expiry_is_seen(void **state)
{
	static struct watch w;

	(void)state;
	watch_start(&w);
	move_out(&w);
	assert_one_turn_holds(&w);
	usleep(80 * 1000);
	rename_back_in(&w);
	assert_paired(&w);
	watch_stop(&w);
}

/* Freed while holding a removal back: no callback, nothing leaks (ASan),
 * both handles closed (uv_loop_close() would fail otherwise). */
static void test_free_while_holding(void **state)
{
	static struct watch w;

	(void)state;
	watch_start(&w);
	move_out(&w);
	assert_one_turn_holds(&w);
	watch_stop(&w);
	assert_int_equal(w.n, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scan_cached),
		cmocka_unit_test(test_scan_cold_prefetches),
	};
	const struct CMUnitTest watch_tests[] = {
		cmocka_unit_test(test_move_out_is_a_removal_after_the_hold),
		cmocka_unit_test(test_split_rename_is_one_batch),
		cmocka_unit_test(test_split_rename_queued_before_the_expiry_is_seen),
		cmocka_unit_test(test_free_while_holding),
	};
	int failed = cmocka_run_group_tests(tests, setup, teardown);

	return failed + cmocka_run_group_tests(watch_tests, NULL, NULL);
}
