/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The daemon's decisions about a job's place in its pipeline (outcome ->
 * journal entry -> hook), taken out of the code that carries them out so
 * that they can be tested alone: what a state row becomes at start-up,
 * whether a job taken out of the registry can be freed, and what the end of
 * a batch of directory changes does to a job whose file was removed. Pure.
 */

#include <stdbool.h>

#include "job.h"

/* A state row at start-up, as the daemon found it. */
struct restore_input {
	bool filed; /* a job file found by the scan names this job */
	bool has_outcome; /* the row holds an outcome */
	bool journaled; /* its result entry is in the journal */
	bool hook_running; /* a previous daemon started its hook, end not seen */
	bool hook_done; /* the hook ran, or none was due */
	bool hook_alive; /* that hook's process still runs (same pid, same start time) */
};

enum restore_action {
	RESTORE_RESUME, /* filed, no outcome: polled again, with its history */
	RESTORE_FINISHED, /* filed, outcome stored: its result restored; the rest at resume */
	RESTORE_WATCH_ORPHAN, /* its hook still runs: waited for, never run again */
	RESTORE_ORPHAN_ENDED, /* its hook ended while nobody watched: recorded as ended */
	RESTORE_CANCEL, /* no file, no outcome: removed while jobwatchd was down */
	RESTORE_FORGET, /* no file, journaled and hooked: the row is forgotten */
	RESTORE_REPORT, /* no file, not journaled: journal entry, then hook */
	RESTORE_RUN_HOOK, /* no file, journaled, hook due: run it */
	_RESTORE_ACTION_MAX,
};

enum restore_action pipeline_restore_action(const struct restore_input *in);

/* j (finished or not) has nothing left in the pipeline: its result is
 * journaled, its hook done, and it is on no list (reports, a running hook,
 * the unfiled jobs). A detached job in that state is freed at once. */
bool pipeline_job_done(const struct job *j);

enum settle_action {
	SETTLE_FREE, /* detached, pipeline done: forget and free it */
	SETTLE_LEAVE, /* detached, still in the pipeline: the pipeline frees it */
	SETTLE_KEEP, /* a file names it again (a rename) */
	SETTLE_CANCEL, /* no file names it: cancel the job */
	SETTLE_LATER, /* no file names it yet, but one naming it moved: the next batch decides */
};

/* For a job whose file was removed in the batch now ending (its
 * JOB_FLAG_UNSETTLED already cleared); has_file: the registry has a file
 * for it now. JOB_FLAG_SETTLE_LATER: a refused duplicate naming it, re-read
 * by this settle, was gone; the batch was found over before that file moved,
 * so its removal, and its new name if it was renamed, are events still to
 * come. Cancelling now would drop the job, and its new name would then be
 * accepted as a new job: polled, reported and hooked a second time. */
enum settle_action pipeline_settle_action(const struct job *j, bool has_file);
