/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * What the daemon's files share, and nothing outside them uses: struct daemon
 * and the operations one of daemon.c (lifecycle, signals, reload, loop-turn
 * glue), daemon-jobfiles.c (job file events -> registry), daemon-report.c
 * (outcome -> state -> journal -> hook) and daemon-restore.c (state rows at
 * start-up) calls in another.
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#include "config.h"
#include "daemon.h"
#include "hook.h"
#include "http.h"
#include "jobsdir.h"
#include "notify.h"
#include "poller.h"
#include "registry.h"
#include "state.h"
#include "watchdog.h"

/* Refused job file names remembered to retry when a job goes away. */
#define REFUSED_MAX 4096
/* How often a hook left running by a previous daemon is checked for. */
#define ORPHAN_CHECK_MS 1000
/* A rescan (reload, inotify overflow) reads job files for at most this long
 * per loop turn, so that polls, results, hooks and signals are served
 * between its slices. */
#define RESCAN_SLICE_USEC (5 * USEC_PER_MSEC)

/* A job file refused for now, with the identity it names: when it names a
 * job whose own file goes, it takes the job over (see settle_removals()). */
struct refused_file {
	char *name; /* owned */
	struct endpoint *endpoint; /* identity: endpoint, ident */
	struct kind_ident ident; /* a user kind's text: user_text */
	char *user_text; /* owned copy of ident.user (the file's jobfile is gone) */
};
/* Free what f owns (daemon-jobfiles.c). */
void refused_file_done(struct refused_file *f);

struct orphan_hook {
	struct job *job; /* borrowed; the job waits for this process */
	pid_t pid;
	uint64_t start_time;
};

struct daemon {
	uv_loop_t loop;
	/* indexing progress summed over the registry by the maintenance timer
	 * (once a second, and only while there are indexing jobs), for STATUS= */
	struct {
		size_t batches;
		uint64_t documents_done, documents_total;
	} indexing;
	const struct daemon_options *opts;
	char *jobs_dir; /* owned: the directory in use */
	char *state_dir; /* owned */
	int lock_fd; /* owned: holds LOCKFILE_NAME in state_dir for the daemon's life */
	const char *credentials_dir; /* borrowed from the environment */

	struct config *config; /* owned, current */
	struct registry registry;
	struct http *http;
	struct poller poller;
	struct hook_runner hooks;
	struct state *state;
	struct notify notify;
	struct jobsdir *jobsdir; /* owned; NULL while the directory is lost */

	uv_signal_t sig_term, sig_int, sig_hup;
	/* End of every loop turn: flush, report, STATUS. A prepare handle runs
	 * right before the loop blocks for I/O, so work queued by timers and
	 * I/O callbacks alike is done before sleeping (a check handle would
	 * only run after the next wakeup). */
	uv_prepare_t turn_end;
	uv_timer_t maintenance;
	uv_timer_t flush_timer; /* wakes the loop when the state store has work due */
	uv_timer_t orphan_timer;
	/* Reloads and rescans, one step per loop turn: however many SIGHUPs
	 * arrive, at most one reload runs at a time, and its rescan is read in
	 * slices. Active only while there is such work. */
	uv_idle_t reload_idle;
	char **scan_names; /* owned: the files of the rescan in progress */
	size_t n_scan_names, scan_names_allocated, scan_next;
	bool scanning; /* a rescan is in progress */
	bool scan_for_reload; /* it belongs to a reload: "Reloaded." and READY=1 at its end */
	bool reload_pending; /* SIGHUP received since the last reload started */
	bool rescan_pending; /* inotify overflowed since the last rescan started */

	struct job **reports; /* borrowed: finished jobs waiting for their journal entry */
	size_t n_reports, reports_allocated;
	usec_t reports_since_usec; /* CLOCK_MONOTONIC: when the oldest of them was queued */
	enum watchdog_verdict watchdog_verdict; /* the last one, to log changes only */

	struct orphan_hook *orphans; /* owned array */
	size_t n_orphans, orphans_allocated;

	struct refused_file *refused; /* owned: job files refused for now (duplicate, MaxJobs=) */
	size_t n_refused, refused_allocated;

	/* borrowed: jobs whose file was removed in the batch of directory changes
	 * being handled (JOB_FLAG_UNSETTLED); kept if a file names them again by
	 * its end, cancelled otherwise, by settle_removals() */
	struct job **unfiled;
	size_t n_unfiled, unfiled_allocated;

	bool starting; /* the initial scan is running */
	bool stopping;
	bool held_logged; /* told that results are held back by the state store */
	unsigned n_started_new;
	usec_t started_rt;
	int exit_code;
};

/* A job taken out of the registry (file removed or replaced) that still has
 * work in the pipeline (journal entry, hook). It is freed at the end. */
#define JOB_DETACHED JOB_FLAG_CANCELLED

/* daemon.c */
char *job_path(const struct daemon *d, const struct job *j);
void free_detached(struct daemon *d, struct job *j);
void log_diags(const struct diag_list *l, const char *message_id);
usec_t job_deadline(const struct daemon *d, const struct job *j);
void schedule_new(struct daemon *d, struct job *j);
void update_status(struct daemon *d);
void daemon_shutdown(struct daemon *d);
void on_uv_reload_idle(uv_idle_t *h);

/* daemon-report.c */
extern const struct hook_ops daemon_hook_ops;
void reports_push(struct daemon *d, struct job *j);
void set_outcome(struct daemon *d, struct job *j, enum job_outcome o, const char *error,
		 const char *body, size_t body_len);
void job_pipeline_done(struct daemon *d, struct job *j);
void start_hook(struct daemon *d, struct job *j);
void process_reports(struct daemon *d);

/* daemon-jobfiles.c */
extern const struct jobsdir_ops daemon_jobsdir_ops;
void settle_removals(struct daemon *d);
void scan_one(void *userdata, const char *name);
void scan_names_done(struct daemon *d);
void rescan(struct daemon *d, bool for_reload);
void rescan_step(struct daemon *d);

/* daemon-restore.c */
int on_state_row(void *userdata, const struct state_row *row);
void resume_jobs(struct daemon *d);
