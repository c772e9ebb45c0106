/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The jobs directory: a scan, then inotify. Changes are reported by name;
 * what a name means (add, replace, cancel) is the daemon's decision.
 *
 * inotify is read directly (through a uv_poll_t on its fd) rather than via
 * uv_fs_event, because only IN_CLOSE_WRITE and IN_MOVED_TO say a file is
 * complete: reacting to IN_MODIFY would read half-written files.
 *   IN_CLOSE_WRITE, IN_MOVED_TO, IN_ATTRIB  -> changed(name)
 *   IN_CREATE of something not a regular file (symlink, FIFO) -> changed(name)
 *   IN_DELETE, IN_MOVED_FROM                -> removed(name)
 *   IN_Q_OVERFLOW                           -> rescan()
 *   the directory itself deleted or moved   -> lost()
 * Only names that pass jobfile_name_is_valid() are reported. After each
 * batch of events, settled() says that what was read is reported: a removal
 * not followed by a name for the same job within the batch is one for good.
 * The two halves of a rename inside the directory (IN_MOVED_FROM, then
 * IN_MOVED_TO) are always in the same batch: a read that ends between them
 * holds the first back, without blocking the loop, until the next event or
 * for 50 ms (then it was a move out: removed(), settled()); and a batch only
 * ends when the queue is empty (or after a second of constant changes), so
 * that a chain of renames faster than the daemon reads (a.job -> b.job ->
 * c.job) is one batch too. Callbacks run from the inotify poll's callback,
 * or from the hold timer's (a move out). See on_uv_inotify().
 */

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

struct jobsdir_ops {
	void (*changed)(void *userdata, const char *name);
	void (*removed)(void *userdata, const char *name);
	void (*rescan)(void *userdata);
	void (*lost)(void *userdata);
	void (*settled)(void *userdata); /* optional: the end of a batch of events */
};

struct jobsdir {
	char *path; /* owned */
	int dir_fd; /* owned, O_DIRECTORY */
	int inotify_fd; /* owned */
	int wd;
	uv_poll_t poll; /* on inotify_fd */
	bool poll_active;
	uv_timer_t hold_timer; /* armed while has_held */
	unsigned n_handles; /* not closed yet: the struct is freed when the last one is */
	bool has_held; /* held is a removal not reported yet (see jobsdir.c) */
	char held[NAME_MAX + 1];
	bool unsettled; /* events were reported since the last settled() */
	uint64_t unsettled_since_ms; /* uv_now() when that began */
	const struct jobsdir_ops *ops;
	void *userdata;
};

/* Open path and start watching it. Returns 0 and a new jobsdir, or a negative
 * errno (logged). */
int jobsdir_new(uv_loop_t *loop, const char *path, const struct jobsdir_ops *ops, void *userdata,
		struct jobsdir **ret);

/* Stop watching, close the fds and free d once the loop has closed its
 * handles. No callback runs after this (a removal held back is dropped).
 * Accepts NULL. */
struct jobsdir *jobsdir_free(struct jobsdir *d);

/* What a scan did besides calling fn, for tests and diagnostics. */
struct jobsdir_scan_stats {
	bool prefetch_started; /* the files looked cold: a helper ran ahead */
	size_t prefetch_advised; /* files the helper asked the kernel to fetch */
};

enum jobsdir_prefetch {
	JOBSDIR_PREFETCH_AUTO, /* when a sample of the files looks cold (jobsdir.c) */
	JOBSDIR_PREFETCH_ALWAYS, /* for tests: the sample depends on the kernel's caches */
};

/* Call fn for every valid job file name now in the directory dir_fd (path is
 * for messages), in inode order (fast on a cold cache; see jobsdir.c).
 * Returns the number of names, or a negative errno (logged). A listing that
 * fails part way (readdir(): the directory removed, an I/O error) still visits
 * the names read before the error, then returns the error. ret_stats may be
 * NULL. */
int jobsdir_scan_fd(int dir_fd, const char *path, void (*fn)(void *userdata, const char *name),
		    void *userdata, enum jobsdir_prefetch prefetch,
		    struct jobsdir_scan_stats *ret_stats);

static inline int jobsdir_scan(struct jobsdir *d, void (*fn)(void *userdata, const char *name),
			       void *userdata)
{
	return jobsdir_scan_fd(d->dir_fd, d->path, fn, userdata, JOBSDIR_PREFETCH_AUTO, NULL);
}

struct diag_list;

/*
 * Warn (into diags, naming path) when the directory dir_fd lets others plant
 * job files: writable by its group or by others, or owned by a user other
 * than root or the one we run as. Whoever writes a job file chooses what is
 * polled with the key and, with [Hook] AllowJobHooks=yes, what runs as the
 * service.
 */
void jobsdir_check_access(int dir_fd, const char *path, struct diag_list *diags);
