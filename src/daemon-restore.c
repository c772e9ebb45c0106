/* SPDX-License-Identifier: MIT */
/* Start-up: the state store's rows matched to the jobs the scan found, hooks
 * left running by a previous daemon, and the jobs resumed. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc-util.h"
#include "daemon-internal.h"
#include "dify.h"
#include "journal.h"
#include "pipeline.h"
#include "string-util.h"
#include "time-util.h"
#include "userkind.h"
#include "uuid-util.h"

/* --- start-up: restoring state --- */

static void on_uv_orphan_timer(uv_timer_t *t);

static void restore_result(struct job *j, const struct state_row *row, int o)
{
	j->outcome = (uint8_t)o;
	j->state = JOB_STATE_FINISHED;
	j->result = calloc(1, sizeof(*j->result));
	if (j->result) {
		j->result->finished_usec = row->finished_usec;
		j->result->error_msg = strdup_or_null(strempty(row->error_msg));
		if (row->body && row->body_len > 0) {
			j->result->body = malloc(row->body_len);
			if (j->result->body) {
				memcpy(j->result->body, row->body, row->body_len);
				j->result->body_len = row->body_len;
			}
		}
	}
	if (row->journaled) {
		j->flags |= JOB_FLAG_JOURNALED;
	}
	if (row->hook_state == STATE_HOOK_DONE) {
		j->flags |= JOB_FLAG_HOOK_DONE;
	}
}

static void restore_track(struct job *j, const struct state_row *row)
{
	j->accepted_usec = row->accepted_usec;
	j->polls = row->polls;
	j->track.seen_alive = row->seen_alive;
	j->track.gone_count = (uint8_t)MIN(row->gone_count, 255U);
	if (row->last_status) {
		j->track.has_status = true;
		j->track.last_status = (uint8_t)dify_status_from_string(row->last_status);
		/* a version 1 row has no remote_status: its last_status is the word */
		j->track.remote_status = job_status_intern(row->remote_status ? row->remote_status
									      : row->last_status);
		j->last_alive_usec = row->last_status_usec;
	}
	struct job_indexing *x = job_indexing(j);
	unsigned dd, dt;
	uint64_t sd, st;
	if (x && row->progress &&
	    sscanf(row->progress, "%u/%u documents, %" SCNu64 "/%" SCNu64 " segments", &dd, &dt,
		   &sd, &st) == 4) {
		x->has_progress = true;
		x->documents_done = dd;
		x->documents_total = dt;
		x->segments_done = sd;
		x->segments_total = st;
	}
	if (x && row->documents >= 0 && row->documents_failed >= 0) {
		x->documents_total = (uint32_t)MIN(row->documents, (int64_t)UINT32_MAX);
		x->documents_failed = (uint32_t)MIN(row->documents_failed, (int64_t)UINT32_MAX);
	}
	/* The stall clock goes on where it was, announced or not (a restart
	 * neither resets it nor announces a stall again); a finished job has none. */
	if (!row->outcome && row->status_changed_usec != 0) {
		j->stall.changed_usec = row->status_changed_usec;
		j->stall.stalled_usec = row->stalled_usec;
		j->stall.fingerprint = poller_stall_fingerprint(j);
	}
}

/* The identity a row names (its kind, action, dataset and id columns), or
 * -EINVAL when they are not valid for its kind. A kind that is not built in
 * is a [Kind:NAME]'s (state-sql.h): its identity text is built from the row
 * into *ret_text (owned; ret->user points to it), whether the configuration
 * still defines the kind or not. */
static int row_ident(const struct state_row *row, struct kind_ident *ret, char **ret_text)
{
	int t = kind_type_from_string(row->kind);
	const struct kind *k = t >= 0 ? kind_get((enum kind_type)t) : NULL;

	*ret = (struct kind_ident){ 0 };
	*ret_text = NULL;
	if (!k && name_is_valid(row->kind)) {
		int r = userkind_text_from_parts(row->kind, row->job_id, row->dataset, ret_text);
		if (r < 0) {
			return r;
		}
		ret->kind = KIND_USER;
		ret->user = *ret_text;
		return 0;
	}
	if (!k) {
		return -EINVAL;
	}
	ret->kind = (uint8_t)t;
	if (((k->fields & KIND_FIELD_BIT(KIND_FIELD_ACTION)) &&
	     kind_field_parse(KIND_FIELD_ACTION, row->action, ret) < 0) ||
	    ((k->fields & KIND_FIELD_BIT(KIND_FIELD_DATASET)) &&
	     kind_field_parse(KIND_FIELD_DATASET, row->dataset, ret) < 0) ||
	    kind_field_parse(k->id_field, row->job_id, ret) < 0) {
		return -EINVAL;
	}
	return 0;
}

/* A hook the previous daemon started and did not see end: still running? */
static bool hook_still_running(const struct state_row *row)
{
	return row->hook_state == STATE_HOOK_RUNNING && row->hook_pid > 0 &&
	       row->hook_pid_start != 0 && process_start_time(row->hook_pid) == row->hook_pid_start;
}

static void watch_orphan(struct daemon *d, struct job *j, const struct state_row *row)
{
	if (!grow_array((void **)&d->orphans, &d->orphans_allocated, sizeof(*d->orphans),
			d->n_orphans + 1)) {
		return;
	}
	d->orphans[d->n_orphans++] = (struct orphan_hook){ .job = j,
							   .pid = row->hook_pid,
							   .start_time = row->hook_pid_start };
	j->flags |= JOB_FLAG_HOOK_RUNNING;
	log_job(LOG_NOTICE, j,
		"Its hook (pid %d) is still running from before the restart; waiting for it instead of running it again.",
		(int)row->hook_pid);
	if (!uv_is_active((uv_handle_t *)&d->orphan_timer)) {
		(void)uv_timer_start(&d->orphan_timer, on_uv_orphan_timer, ORPHAN_CHECK_MS,
				     ORPHAN_CHECK_MS);
	}
}

/* A hook started by an earlier daemon has ended (or was already gone at
 * start-up): it ran, but its exit status is unknown. It is not run again:
 * that would repeat every hook running at the moment of a crash. */
static void orphan_hook_ended(struct daemon *d, struct job *j)
{
	char ids[KIND_ID_STRING_MAX];
	_cleanup_(freep) char *path = job_path(d, j);

	(void)journal_hook_exit(job_id_string(j, ids), path ? path : j->file, -1, 0, 0, 0, false);
	j->flags &= (uint16_t)~JOB_FLAG_HOOK_RUNNING;
	j->flags |= JOB_FLAG_HOOK_DONE;
	(void)state_mark_hook(d->state, j, STATE_HOOK_DONE, 0, 0);
}

static void on_uv_orphan_timer(uv_timer_t *t)
{
	struct daemon *d = t->data;
	size_t k = 0;

	for (size_t i = 0; i < d->n_orphans; i++) {
		struct orphan_hook *o = &d->orphans[i];
		if (!d->stopping && process_start_time(o->pid) == o->start_time) {
			d->orphans[k++] = *o;
			continue;
		}
		if (d->stopping) {
			continue; /* recorded as running: the next start looks again */
		}
		struct job *j = o->job;
		orphan_hook_ended(d, j);
		job_pipeline_done(d, j);
	}
	d->n_orphans = k;
	if (k == 0) {
		(void)uv_timer_stop(t);
	}
}

/* The job behind a state row whose file is gone: detached, reported or
 * hooked as its row says, then forgotten. */
static struct job *detached_from_row(struct daemon *d, const struct state_row *row,
				     struct endpoint *e, const struct kind_ident *ident)
{
	struct job *j = job_new_kind(ident->kind);
	if (!j || job_set_ident(j, ident) < 0) {
		return job_free(j);
	}
	j->endpoint = e;
	j->file = strdup_or_null(row->file);
	j->description = row->description ? strdup_or_null(row->description) : NULL;
	j->flags |= JOB_DETACHED;
	if (!j->file) {
		job_free(j);
		return NULL;
	}
	restore_track(j, row);
	return j;
}

/* A job whose [Endpoint:NAME] or [Kind:NAME] the configuration no longer
 * defines: the scan refused its file (jobfile_check_refs() cannot resolve
 * it), but the file is still there, so it was not removed. */
static bool config_gone_file_kept(struct daemon *d, const struct state_row *row,
				  const struct kind_ident *ident)
{
	char name[KIND_NAME_MAX];
	bool kind_gone = ident->kind == KIND_USER && userkind_text_name(ident->user, name) &&
			 !config_find_kind(d->config, name);
	bool endpoint_gone = !config_find_endpoint(
		d->config, streq(row->endpoint, ENDPOINT_DEFAULT_NAME) ? NULL : row->endpoint);

	return (kind_gone || endpoint_gone) && d->jobsdir && jobfile_name_is_valid(row->file) &&
	       !registry_by_file(&d->registry, row->file) &&
	       faccessat(d->jobsdir->dir_fd, row->file, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
}

/* Such a job is kept, neither cancelled nor forgotten: filed under its file
 * as the scan would have made it (the row is then restored into it as into
 * any filed job), a pending one waits (the poller stalls it, saying why)
 * for a reload that defines its endpoint or kind again, as a job whose
 * endpoint or kind a reload removes does; a finished one is not reported or
 * hooked again when they come back. The reload's rescan reads its file then
 * and takes its Hook=, Timeout= and StallAfter=; until then the
 * configuration's apply. */
static struct job *adopt_config_gone(struct daemon *d, const struct state_row *row,
				     const struct kind_ident *ident)
{
	struct endpoint *e = registry_endpoint(&d->registry, row->endpoint, true);
	struct job *j = e ? job_new_kind(ident->kind) : NULL;

	if (!j || job_set_ident(j, ident) < 0) {
		return job_free(j);
	}
	j->endpoint = e;
	j->file = strdup_or_null(row->file);
	j->description = row->description ? strdup_or_null(row->description) : NULL;
	j->accepted_usec = row->accepted_usec;
	if (!j->file || (row->description && !j->description) ||
	    registry_add(&d->registry, j) < 0) {
		return job_free(j);
	}
	d->n_started_new++; /* as the scan counts a job it adds */
	return j;
}

/* One row of the state store at start-up, after the scan. What it becomes
 * is decided by pipeline_restore_action(); this carries it out, for a job a
 * file names (the scan made it) and for one no file names (made here,
 * detached), which is why it is long. */
int on_state_row(void *userdata, const struct state_row *row)
{
	struct daemon *d = userdata;
	struct kind_ident ident;
	_cleanup_(freep) char *user_text = NULL;

	notify_watchdog_keepalive(&d->notify);
	int id_ok = row_ident(row, &ident, &user_text);
	if (id_ok == -ENOMEM) {
		return id_ok;
	}
	int outcome = row->outcome ? job_outcome_from_string(row->outcome) : JOB_OUTCOME_NONE;
	struct endpoint *e;
	struct job *j;

	if (id_ok < 0 || outcome < 0) {
		log_warning("Ignoring a malformed row in the state file (job '%s').", row->job_id);
		return 0;
	}
	e = registry_endpoint(&d->registry, row->endpoint, false);
	j = e ? registry_by_identity(&d->registry, e, &ident) : NULL;
	if (!j && config_gone_file_kept(d, row, &ident)) {
		j = adopt_config_gone(d, row, &ident);
		if (!j) {
			return -ENOMEM;
		}
	}

	enum restore_action a = pipeline_restore_action(&(struct restore_input){
		.filed = j != NULL,
		.has_outcome = outcome != JOB_OUTCOME_NONE,
		.journaled = row->journaled,
		.hook_running = row->hook_state == STATE_HOOK_RUNNING,
		.hook_done = row->hook_state == STATE_HOOK_DONE,
		.hook_alive = hook_still_running(row),
	});

	if (j) {
		restore_track(j, row);
		if (j->stall.stalled_usec != 0) {
			/* the scan added j to the registry before its stall was known */
			registry_stall_changed(&d->registry, j, true);
		}
		d->n_started_new--;
		if (a != RESTORE_RESUME) {
			restore_result(j, row, outcome);
			d->registry.n_finished++;
			if (a == RESTORE_WATCH_ORPHAN) {
				watch_orphan(d, j, row);
			} else if (a == RESTORE_ORPHAN_ENDED) {
				orphan_hook_ended(d, j);
			}
		}
		/* the row is current unless the file changed while we were down */
		if (streq(row->file, j->file) && streq_ptr(row->description, j->description)) {
			state_unmark(d->state, j);
		}
		return 0;
	}

	/* No job file names this job any more. */
	e = registry_endpoint(&d->registry, row->endpoint, true);
	if (!e) {
		return -ENOMEM;
	}
	if (a == RESTORE_CANCEL) {
		j = detached_from_row(d, row, e, &ident);
		if (!j) {
			return -ENOMEM;
		}
		log_job(LOG_INFO, j, "Its job file was removed while jobwatchd was not running.");
		set_outcome(d, j, JOB_OUTCOME_CANCELLED, "", NULL, 0);
		return 0;
	}
	if (a == RESTORE_FORGET) {
		(void)state_forget_row(d->state, row);
		return 0;
	}
	j = detached_from_row(d, row, e, &ident);
	if (!j) {
		return -ENOMEM;
	}
	restore_result(j, row, outcome);
	if (a == RESTORE_WATCH_ORPHAN) {
		watch_orphan(d, j, row);
	} else if (a == RESTORE_ORPHAN_ENDED) {
		orphan_hook_ended(d, j);
		job_pipeline_done(d, j);
	} else if (a == RESTORE_REPORT) {
		reports_push(d, j);
	} else {
		start_hook(d, j);
	}
	return 0;
}

/* After the scan and the state: schedule pending jobs, finish reports. */
void resume_jobs(struct daemon *d)
{
	usec_t now_rt = now_realtime_usec();
	size_t i = 0;
	struct job *j;

	while ((j = registry_next(&d->registry, &i))) {
		if (!job_is_finished(j)) {
			if (j->track.seen_alive && j->last_alive_usec > 0 &&
			    now_rt > j->last_alive_usec + DIFY_RESULT_TTL_USEC && j->polls > 0) {
				j->flags |= JOB_FLAG_GONE_WHILE_DOWN;
			}
			schedule_new(d, j);
			continue;
		}
		if (j->flags & JOB_FLAG_HOOK_RUNNING) {
			continue; /* an orphan being waited for */
		}
		if (!(j->flags & JOB_FLAG_JOURNALED)) {
			reports_push(d, j);
		} else if (!(j->flags & JOB_FLAG_HOOK_DONE)) {
			start_hook(d, j);
		} else if (j->result) {
			free(j->result->body);
			j->result->body = NULL;
		}
	}
}
