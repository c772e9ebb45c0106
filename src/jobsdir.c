/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "alloc-util.h"
#include "diag.h"
#include "fd-util.h"
#include "jobfile.h"
#include "jobsdir.h"
#include "log.h"
#include "string-util.h"

#define WATCH_MASK                                                                                 \
	(IN_CLOSE_WRITE | IN_MOVED_TO | IN_ATTRIB | IN_CREATE | IN_DELETE | IN_MOVED_FROM |        \
	 IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR | IN_EXCL_UNLINK)

static void handle_event(struct jobsdir *d, const struct inotify_event *ev)
{
	if (ev->mask & IN_Q_OVERFLOW) {
		log_warning(
			"Too many changes in '%s' at once (inotify queue overflow), rescanning.",
			d->path);
		d->ops->rescan(d->userdata);
		return;
	}
	if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)) {
		d->ops->lost(d->userdata);
		return;
	}
	if (ev->len == 0 || !jobfile_name_is_valid(ev->name) || (ev->mask & IN_ISDIR)) {
		return;
	}
	if (ev->mask & (IN_DELETE | IN_MOVED_FROM)) {
		d->ops->removed(d->userdata, ev->name);
	} else if (ev->mask & (IN_CLOSE_WRITE | IN_MOVED_TO | IN_ATTRIB)) {
		d->ops->changed(d->userdata, ev->name);
	} else if (ev->mask & IN_CREATE) {
		/* A regular file being written will send IN_CLOSE_WRITE; anything
		 * else (a symlink, a FIFO, a hard link) never will, so look now. */
		struct stat st;
		if (fstatat(d->dir_fd, ev->name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    (!S_ISREG(st.st_mode) || st.st_nlink > 1)) {
			d->ops->changed(d->userdata, ev->name);
		}
	}
}

/* How long to wait for the second half of a rename when it is not queued yet. */
#define MOVE_WAIT_MS 50
/* How long settled() waits for the queue to run dry, at most. */
#define SETTLE_DEFER_MAX_MS 1000

/* Whether events are queued now; never waits. */
static bool events_queued(struct jobsdir *d)
{
	struct pollfd pfd = { .fd = d->inotify_fd, .events = POLLIN };
	return poll(&pfd, 1, 0) > 0;
}

/* Report the removal held back by the last read, if any. */
static void deliver_held(struct jobsdir *d)
{
	if (d->has_held) {
		d->has_held = false;
		(void)uv_timer_stop(&d->hold_timer);
		d->ops->removed(d->userdata, d->held);
	}
}

/* The end of a batch, when nothing is held back: settled(), unless more
 * events are queued already. They may continue what was read (a file that
 * was gone when the daemon read it has been renamed on, or removed, and that
 * is in the queue), so the batch goes on with the next callback, unless the
 * queue has not run dry for SETTLE_DEFER_MAX_MS. Asking the queue is a poll()
 * with a zero timeout: it never waits. */
static void settle(struct jobsdir *d, uv_loop_t *loop)
{
	if (events_queued(d)) {
		uint64_t now = uv_now(loop);
		if (!d->unsettled) {
			d->unsettled = true;
			d->unsettled_since_ms = now;
		}
		if (now - d->unsettled_since_ms < SETTLE_DEFER_MAX_MS) {
			return;
		}
	}
	d->unsettled = false;
	if (d->ops->settled) {
		d->ops->settled(d->userdata);
	}
}

/* The batch of events is over: report a removal still held, then settle
 * (unless a callback closed the directory meanwhile). */
static void end_batch(struct jobsdir *d, uv_loop_t *loop)
{
	deliver_held(d);
	if (d->inotify_fd >= 0) {
		settle(d, loop);
	}
}

static void on_uv_hold(uv_timer_t *t);

/*
 * A rename inside the directory is IN_MOVED_FROM then IN_MOVED_TO, queued one
 * after the other; the daemon must see both before settled(), or it would
 * cancel the job and then accept it anew. A read can end between the two: the
 * buffer was full, or the renaming process was preempted between queueing the
 * two (this happens on a loaded machine). So an IN_MOVED_FROM that ends what
 * was read is held back, and the batch does not end: the callback returns to
 * the loop with the hold timer armed for MOVE_WAIT_MS. If the queue fills
 * first, the next callback reports the held removal right before the next
 * event (the pair of a rename), and goes on as usual. If the timer expires
 * first, it was a move out of the directory: on_uv_hold() reports the removal
 * and ends the batch, from the loop's timer phase (settled() may cancel jobs
 * there: cancelling a request is safe in any phase, as tests/unit/test-http.c
 * checks). Nothing here waits for the kernel.
 */
static void on_uv_inotify(uv_poll_t *p, int status, int events)
{
	struct jobsdir *d = p->data;
	/* One buffer per read, one read per callback: a burst of thousands of
	 * events is spread over loop turns, so polls and timers keep running
	 * meanwhile. */
	_Alignas(struct inotify_event) char buf[64 * 1024];
	ssize_t n;

	(void)events;
	if (status < 0) {
		log_warning("Watching '%s' failed: %s", d->path, uv_strerror(status));
		return;
	}
	n = read(d->inotify_fd, buf, sizeof(buf));
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR) {
			if (d->has_held) {
				return; /* the hold goes on: the next event or the timer */
			}
		} else {
			log_warning_errno(errno, "Failed to read inotify events for '%s': %m",
					  d->path);
		}
		n = 0;
	}
	for (char *c = buf; c < buf + n;) {
		const struct inotify_event *ev = (const struct inotify_event *)(void *)c;
		c += sizeof(*ev) + ev->len;
		deliver_held(d);
		if (d->inotify_fd < 0) {
			return; /* closed by a callback */
		}
		size_t len = ev->len > 0 ? strnlen(ev->name, ev->len) : 0;
		if (c >= buf + n && (ev->mask & IN_MOVED_FROM) && !(ev->mask & IN_ISDIR) &&
		    len > 0 && len < sizeof(d->held) && jobfile_name_is_valid(ev->name)) {
			memcpy(d->held, ev->name, len + 1);
			d->has_held = true;
			(void)uv_timer_start(&d->hold_timer, on_uv_hold, MOVE_WAIT_MS, 0);
			return; /* the batch goes on: the next event or the timer */
		}
		handle_event(d, ev);
		if (d->inotify_fd < 0) {
			return;
		}
	}
	/* a read that failed for good (not EAGAIN) reports what it held */
	end_batch(d, p->loop);
}

/* The hold timer expired: nothing came within MOVE_WAIT_MS of the held
 * IN_MOVED_FROM, a move out of the directory. */
static void on_uv_hold(uv_timer_t *t)
{
	struct jobsdir *d = t->data;

	if (events_queued(d)) {
		/* the next event came meanwhile: on_uv_inotify() pairs them */
		return;
	}
	end_batch(d, t->loop);
}

static void on_uv_jobsdir_closed(uv_handle_t *h)
{
	struct jobsdir *d = h->data;
	if (--d->n_handles == 0) {
		free(d);
	}
}

struct jobsdir *jobsdir_free(struct jobsdir *d)
{
	if (!d) {
		return NULL;
	}
	/* stop watching before the fds go */
	if (d->poll_active) {
		(void)uv_poll_stop(&d->poll);
		d->poll_active = false;
	}
	d->has_held = false;
	closep(&d->inotify_fd);
	d->inotify_fd = -1;
	closep(&d->dir_fd);
	d->dir_fd = -1;
	free(d->path);
	d->path = NULL;
	if (d->n_handles == 0) {
		free(d);
		return NULL;
	}
	/* n_handles counts the handles initialised: each is closed once */
	if (d->poll.type == UV_POLL && !uv_is_closing((uv_handle_t *)&d->poll)) {
		uv_close((uv_handle_t *)&d->poll, on_uv_jobsdir_closed);
	}
	if (d->hold_timer.type == UV_TIMER && !uv_is_closing((uv_handle_t *)&d->hold_timer)) {
		uv_close((uv_handle_t *)&d->hold_timer, on_uv_jobsdir_closed);
	}
	return NULL;
}

int jobsdir_new(uv_loop_t *loop, const char *path, const struct jobsdir_ops *ops, void *userdata,
		struct jobsdir **ret)
{
	struct jobsdir *d = calloc(1, sizeof(*d));
	int r;

	if (!d) {
		return log_error_errno(-ENOMEM, "Out of memory");
	}
	*d = (struct jobsdir){
		.dir_fd = -1, .inotify_fd = -1, .wd = -1, .ops = ops, .userdata = userdata
	};
	d->path = strdup_or_null(path);
	if (!d->path) {
		r = log_error_errno(-ENOMEM, "Out of memory");
		goto fail;
	}
	d->dir_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (d->dir_fd < 0) {
		r = log_error_errno(errno, "Failed to open jobs directory '%s': %m", path);
		goto fail;
	}
	d->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (d->inotify_fd < 0) {
		r = log_error_errno(errno, "Failed to set up inotify: %m");
		goto fail;
	}
	d->wd = inotify_add_watch(d->inotify_fd, path, WATCH_MASK);
	if (d->wd < 0) {
		r = log_error_errno(errno, "Failed to watch jobs directory '%s': %m", path);
		goto fail;
	}
	r = uv_poll_init(loop, &d->poll, d->inotify_fd);
	if (r < 0) {
		r = log_error_errno(-EIO, "Failed to poll inotify: %s", uv_strerror(r));
		goto fail;
	}
	d->n_handles++;
	d->poll.data = d;
	d->poll_active = true;
	r = uv_poll_start(&d->poll, UV_READABLE, on_uv_inotify);
	if (r < 0) {
		r = log_error_errno(-EIO, "Failed to poll inotify: %s", uv_strerror(r));
		goto fail;
	}
	r = uv_timer_init(loop, &d->hold_timer);
	if (r < 0) {
		r = log_error_errno(-EIO, "Failed to create a timer: %s", uv_strerror(r));
		goto fail;
	}
	d->n_handles++;
	d->hold_timer.data = d;
	*ret = d;
	return 0;
fail:
	jobsdir_free(d);
	return r;
}

/*
 * The names are visited in inode order, not readdir's. On ext4 readdir gives
 * hash order, which is random with respect to where inodes and data lie. With
 * a cold page cache (a start at boot), reading a file waits for the disk
 * twice, inode then data, one file at a time: 100,000 files took 9.5 s here.
 * In inode order one inode table block serves 16 files and files written one
 * after another are read one after another; and a helper thread walks the
 * list ahead of the reader asking the kernel to fetch each file's data
 * (POSIX_FADV_WILLNEED does not wait for it), so reads queue up and the block
 * layer merges neighbours into larger requests: 4.5 s. When the files are
 * cached (checked on a sample), there is no helper.
 *
 * The names are gathered first (one pool, one array, freed at the end), then
 * sorted; without memory for that, they are visited in readdir's order.
 */
#define PREFETCH_MIN 256 /* fewer files: not worth a thread */

struct scan_entry {
	ino_t ino;
	size_t name; /* offset into the names pool, which moves as it grows */
};

static int scan_entry_cmp(const void *a, const void *b)
{
	const struct scan_entry *x = a, *y = b;

	return x->ino < y->ino ? -1 : x->ino > y->ino;
}

struct prefetcher {
	pthread_t thread;
	int dir_fd;
	const struct scan_entry *entries; /* sorted; read-only while the thread runs */
	const char *pool;
	size_t n;
	size_t advised; /* the helper's own; read after it is joined */
	atomic_bool stop;
};

static void *prefetch_run(void *userdata)
{
	struct prefetcher *pf = userdata;

	for (size_t i = 0; i < pf->n && !atomic_load_explicit(&pf->stop, memory_order_relaxed);
	     i++) {
		/* O_NONBLOCK: a FIFO among the files must not stop us; fadvise
		 * fails harmlessly on anything but a regular file */
		int fd = openat(pf->dir_fd, pf->pool + pf->entries[i].name,
				O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);

		if (fd >= 0) {
			if (posix_fadvise(fd, 0, 0, POSIX_FADV_WILLNEED) == 0) {
				pf->advised++;
			}
			close(fd);
		}
	}
	return NULL;
}

/*
 * Whether the files are worth prefetching: a sample of them, spread over the
 * list, read with RWF_NOWAIT, which fails with EAGAIN instead of waiting for
 * the disk. When most are cached (a restart, a SIGHUP), the helper would only
 * spend CPU, and on a daemon pinned to one CPU it would be the loop's CPU.
 */
#define PREFETCH_SAMPLES 32

static bool files_look_cold(int dir_fd, const char *pool, const struct scan_entry *entries,
			    size_t n)
{
	size_t samples = MIN(n, (size_t)PREFETCH_SAMPLES), cold = 0;

	for (size_t k = 0; k < samples; k++) {
		const char *name = pool + entries[k * n / samples].name;
		int fd = openat(dir_fd, name,
				O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
		char c;
		struct iovec v = { .iov_base = &c, .iov_len = 1 };

		if (fd < 0) {
			continue;
		}
		if (preadv2(fd, &v, 1, 0, RWF_NOWAIT) < 0 && errno == EAGAIN) {
			cold++;
		}
		close(fd);
	}
	return cold * 4 >= samples && cold > 0;
}

/* Start the helper with every signal blocked: signals are the loop's. */
static bool prefetch_start(struct prefetcher *pf)
{
	sigset_t all, old;
	bool ok;

	sigfillset(&all);
	if (pthread_sigmask(SIG_SETMASK, &all, &old) != 0) {
		return false;
	}
	ok = pthread_create(&pf->thread, NULL, prefetch_run, pf) == 0;
	(void)pthread_sigmask(SIG_SETMASK, &old, NULL);
	return ok;
}

/* Long because the listing, the fallback to directory order when sorting
 * cannot allocate, and the prefetch helper's start and stop share the sorted
 * names and must be read together. */
int jobsdir_scan_fd(int dir_fd, const char *path, void (*fn)(void *userdata, const char *name),
		    void *userdata, enum jobsdir_prefetch prefetch,
		    struct jobsdir_scan_stats *ret_stats)
{
	_cleanup_(freep) struct scan_entry *entries = NULL;
	_cleanup_(freep) char *pool = NULL;
	size_t n = 0, cap = 0, pool_len = 0, pool_cap = 0;
	bool sorted = true, prefetching;
	int fd = dup(dir_fd), count = 0, read_error = 0;
	DIR *dir;
	struct dirent *de;

	if (ret_stats) {
		*ret_stats = (struct jobsdir_scan_stats){ 0 };
	}
	if (fd < 0) {
		return log_error_errno(errno, "Failed to read jobs directory '%s': %m", path);
	}
	dir = fdopendir(fd);
	if (!dir) {
		int e = errno;
		close(fd);
		return log_error_errno(e, "Failed to read jobs directory '%s': %m", path);
	}
	rewinddir(dir);
	for (;;) {
		size_t len;

		errno = 0;
		de = readdir(dir);
		if (!de) {
			/* an error (the directory removed, an I/O error) ends the listing
			 * early: what was read is still visited, and the caller told */
			read_error = -errno;
			break;
		}

		if (de->d_type == DT_DIR || !jobfile_name_is_valid(de->d_name)) {
			continue;
		}
		count++;
		if (!sorted) {
			fn(userdata, de->d_name);
			continue;
		}
		len = strlen(de->d_name) + 1;
		if (!grow_array((void **)&entries, &cap, sizeof(*entries), n + 1) ||
		    !grow_array((void **)&pool, &pool_cap, 1, pool_len + len)) {
			/* out of memory: visit what was gathered, then go on unsorted */
			log_warning(
				"Out of memory sorting '%s' by inode, reading it in directory order",
				path);
			sorted = false;
			for (size_t i = 0; i < n; i++) {
				fn(userdata, pool + entries[i].name);
			}
			n = 0;
			fn(userdata, de->d_name);
			continue;
		}
		entries[n++] = (struct scan_entry){ .ino = de->d_ino, .name = pool_len };
		memcpy(pool + pool_len, de->d_name, len);
		pool_len += len;
	}
	closedir(dir);
	if (read_error < 0) {
		(void)log_error_errno(
			read_error,
			"Failed to read jobs directory '%s', some job files were not seen: %m",
			path);
	}
	if (n == 0) {
		return read_error < 0 ? read_error : count;
	}

	qsort(entries, n, sizeof(*entries), scan_entry_cmp);
	struct prefetcher pf = { .dir_fd = dir_fd, .entries = entries, .pool = pool, .n = n };
	prefetching = n >= PREFETCH_MIN &&
		      (prefetch == JOBSDIR_PREFETCH_ALWAYS ||
		       files_look_cold(dir_fd, pool, entries, n)) &&
		      prefetch_start(&pf);
	for (size_t i = 0; i < n; i++) {
		fn(userdata, pool + entries[i].name);
	}
	if (prefetching) {
		atomic_store(&pf.stop, true);
		pthread_join(pf.thread, NULL);
		if (ret_stats) {
			*ret_stats = (struct jobsdir_scan_stats){ .prefetch_started = true,
								  .prefetch_advised = pf.advised };
		}
	}
	return read_error < 0 ? read_error : count;
}

void jobsdir_check_access(int dir_fd, const char *path, struct diag_list *diags)
{
	struct stat st;

	if (fstat(dir_fd, &st) < 0) {
		return;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		diag_add(
			diags, DIAG_WARNING, path, 0,
			"The jobs directory is writable by users other than its owner (mode %04o): they can add job files, which are polled with the API key (chmod go-w '%s')",
			(unsigned)(st.st_mode & 07777), path);
	}
	if (st.st_uid != 0 && st.st_uid != geteuid()) {
		diag_add(
			diags, DIAG_WARNING, path, 0,
			"The jobs directory is owned by uid %u, neither root nor the user jobwatchd runs as (uid %u): that user can add job files, which are polled with the API key",
			(unsigned)st.st_uid, (unsigned)geteuid());
	}
}
