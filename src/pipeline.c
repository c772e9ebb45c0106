/* SPDX-License-Identifier: MIT */
#include "pipeline.h"

enum restore_action pipeline_restore_action(const struct restore_input *in)
{
	if (in->filed) {
		if (!in->has_outcome) {
			return RESTORE_RESUME;
		}
		if (in->hook_running) {
			return in->hook_alive ? RESTORE_WATCH_ORPHAN : RESTORE_ORPHAN_ENDED;
		}
		return RESTORE_FINISHED;
	}
	/* No job file names this job any more. */
	if (!in->has_outcome) {
		return RESTORE_CANCEL;
	}
	if (in->journaled && in->hook_done) {
		return RESTORE_FORGET;
	}
	if (in->hook_running) {
		return in->hook_alive ? RESTORE_WATCH_ORPHAN : RESTORE_ORPHAN_ENDED;
	}
	return in->journaled ? RESTORE_RUN_HOOK : RESTORE_REPORT;
}

bool pipeline_job_done(const struct job *j)
{
	return job_is_finished(j) && (j->flags & JOB_FLAG_JOURNALED) &&
	       (j->flags & JOB_FLAG_HOOK_DONE) &&
	       !(j->flags & (JOB_FLAG_REPORT_QUEUED | JOB_FLAG_HOOK_RUNNING | JOB_FLAG_UNSETTLED));
}

enum settle_action pipeline_settle_action(const struct job *j, bool has_file)
{
	if (j->flags & JOB_FLAG_CANCELLED) {
		return pipeline_job_done(j) ? SETTLE_FREE : SETTLE_LEAVE;
	}
	if (has_file) {
		return SETTLE_KEEP;
	}
	return (j->flags & JOB_FLAG_SETTLE_LATER) ? SETTLE_LATER : SETTLE_CANCEL;
}
