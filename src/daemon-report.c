/* SPDX-License-Identifier: MIT */
/* The report pipeline: a job's outcome, stored (state), journaled, then its
 * hook run; a detached job is freed when the pipeline is done with it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon-internal.h"
#include "dify.h"
#include "hookenv.h"
#include "journal.h"
#include "alloc-util.h"
#include "string-util.h"
#include "strv.h"
#include "time-util.h"
#include "uuid-util.h"

/* A job file's own Hook= that the configuration no longer allows (it was
 * allowed when the file was read) runs nothing. */
static bool job_hook_refused(const struct daemon *d, const struct job *j)
{
	return j->hook && j->hook[0] && !d->config->allow_job_hooks;
}

static const char *hook_command(const struct daemon *d, const struct job *j)
{
	if (j->hook) {
		return j->hook[0] && !job_hook_refused(d, j) ? j->hook : NULL;
	}
	return d->config->hook_exec;
}

void reports_push(struct daemon *d, struct job *j)
{
	if (j->flags & JOB_FLAG_REPORT_QUEUED) {
		return;
	}
	if (!grow_array((void **)&d->reports, &d->reports_allocated, sizeof(*d->reports),
			d->n_reports + 1)) {
		log_job(LOG_ERR, j,
			"Out of memory queueing the result, it is reported after a restart");
		return;
	}
	j->flags |= JOB_FLAG_REPORT_QUEUED;
	if (d->n_reports == 0) {
		d->reports_since_usec = now_monotonic_usec();
	}
	d->reports[d->n_reports++] = j;
}

/* Give j its outcome and queue it for reporting. */
void set_outcome(struct daemon *d, struct job *j, enum job_outcome o, const char *error,
		 const char *body, size_t body_len)
{
	struct job_result *res = calloc(1, sizeof(*res));

	if (res) {
		res->finished_usec = now_realtime_usec();
		res->error_msg = strdup_or_null(strempty(error));
		if (body && body_len > 0) {
			res->body = malloc(body_len);
			if (res->body) {
				memcpy(res->body, body, body_len);
				res->body_len = body_len;
			}
		}
	} else {
		log_job(LOG_ERR, j, "Out of memory recording the result details");
	}
	free(j->result ? j->result->error_msg : NULL);
	if (j->result) {
		free(j->result->body);
		free(j->result);
	}
	j->result = res;
	if (j->stall.stalled_usec != 0) {
		/* an outcome ends a stall (the result entry says how) */
		j->stall.stalled_usec = 0;
		registry_stall_changed(&d->registry, j, false);
	}
	j->outcome = (uint8_t)o;
	j->state = JOB_STATE_FINISHED;
	if (!(j->flags & JOB_DETACHED)) {
		d->registry.n_finished++;
	}
	if (job_outcome_runs_hook(o) && job_hook_refused(d, j)) {
		log_job(LOG_WARNING, j,
			"Not running the job file's Hook=: [Hook] AllowJobHooks= is no longer set.");
	}
	if (!job_outcome_runs_hook(o) || !hook_command(d, j)) {
		j->flags |= JOB_FLAG_HOOK_DONE;
	}
	if (o != JOB_OUTCOME_CANCELLED) {
		state_mark(d->state, j, STATE_DIRTY_SYNC);
	}
	reports_push(d, j);
}

/* --- hooks --- */

static int build_hook(struct daemon *d, struct job *j, struct hook_spec *spec)
{
	const char *cmd = hook_command(d, j);
	char ids[KIND_ID_STRING_MAX], dataset[KIND_ID_STRING_MAX];
	_cleanup_(freep) char *path = job_path(d, j);
	usec_t now = now_realtime_usec();
	int r;

	*spec = (struct hook_spec){ 0 };
	if (!cmd) {
		/* due from before a restart, but refused or unset now */
		return -EPERM;
	}
	r = split_words(cmd, &spec->argv);
	if (r < 0 || !spec->argv[0]) {
		hook_spec_done(spec);
		return r < 0 ? r : -EINVAL;
	}
	if (!path) {
		hook_spec_done(spec);
		return -ENOMEM;
	}
	struct hookenv_job env = {
		.job_id = job_id_string(j, ids),
		.kind = job_kind_name(j),
		.action = j->kind == KIND_ANNOTATION_REPLY ? job_action_to_string(j->action) : NULL,
		.dataset = job_dataset_string(j, dataset),
		.remote_status = job_remote_status(j),
		.status = job_outcome_to_string(j->outcome),
		.error = j->result ? j->result->error_msg : NULL,
		.endpoint = j->endpoint->name,
		.description = j->description,
		.job_file = path,
		.polls = j->polls,
		.duration_sec =
			(now > j->accepted_usec ? now - j->accepted_usec : 0) / USEC_PER_SEC,
		.path = getenv("PATH"),
		.lang = getenv("LANG"),
	};
	r = hookenv_build(&env, &spec->envp);
	if (r < 0) {
		hook_spec_done(spec);
		return r;
	}
	spec->file = TAKE_PTR(path);
	memcpy(spec->job_id, ids, sizeof(ids));
	spec->timeout_usec = d->config->hook_timeout_usec;
	spec->userdata = j;
	if (j->result && j->result->body) {
		/* the state file holds the body now; the hook takes the memory */
		spec->input = TAKE_PTR(j->result->body);
		spec->input_len = j->result->body_len;
		j->result->body_len = 0;
	}
	return 0;
}

void job_pipeline_done(struct daemon *d, struct job *j)
{
	if (j->result) {
		free(j->result->body);
		j->result->body = NULL;
		j->result->body_len = 0;
	}
	if ((j->flags & JOB_DETACHED) && !(j->flags & JOB_FLAG_UNSETTLED)) {
		(void)state_forget(d->state, j);
		free_detached(d, j);
	}
}

/* j's hook was not started (r: why): its "hook ended" entry says so, with
 * the job's id and file, and the hook counts as done. */
static void hook_not_run(struct daemon *d, struct job *j, int r)
{
	char ids[KIND_ID_STRING_MAX];
	_cleanup_(freep) char *path = job_path(d, j);

	log_job_errno(LOG_ERR, r, j, "Cannot run the hook: %m");
	(void)journal_hook_exit(job_id_string(j, ids), path ? path : j->file, -1, 0, r, 0, false);
	j->flags &= (uint16_t)~JOB_FLAG_HOOK_RUNNING;
	j->flags |= JOB_FLAG_HOOK_DONE;
	(void)state_mark_hook(d->state, j, STATE_HOOK_DONE, 0, 0);
	job_pipeline_done(d, j);
}

void start_hook(struct daemon *d, struct job *j)
{
	struct hook_spec spec;
	int r = build_hook(d, j, &spec);

	if (r < 0) {
		hook_not_run(d, j, r);
		return;
	}
	j->flags |= JOB_FLAG_HOOK_RUNNING;
	/* the runner owns spec now, also on failure; no callback then */
	r = hook_enqueue(&d->hooks, &spec);
	if (r < 0) {
		hook_not_run(d, j, r);
	}
}

static void on_hook_started(void *userdata, void *job, pid_t pid)
{
	struct daemon *d = userdata;
	struct job *j = job;
	(void)state_mark_hook(d->state, j, STATE_HOOK_RUNNING, pid, process_start_time(pid));
}

static void on_hook_done(void *userdata, void *job, const struct hook_exit *e)
{
	struct daemon *d = userdata;
	struct job *j = job;

	j->flags &= (uint16_t)~JOB_FLAG_HOOK_RUNNING;
	j->flags |= JOB_FLAG_HOOK_DONE;
	(void)state_mark_hook(d->state, j, STATE_HOOK_DONE, 0, 0);
	job_pipeline_done(d, j);
}

static void on_hooks_idle(void *userdata)
{
	struct daemon *d = userdata;
	if (d->stopping) {
		daemon_shutdown(d);
	}
}

static void on_hook_discarded(void *userdata, void *job)
{
	struct daemon *d = userdata;
	struct job *j = job;
	/* not run: the state still says so, the next start runs it */
	if (j->flags & JOB_DETACHED) {
		free_detached(d, j);
	}
}

const struct hook_ops daemon_hook_ops = {
	.started = on_hook_started,
	.done = on_hook_done,
	.idle = on_hooks_idle,
	.discarded = on_hook_discarded,
};

/* --- reporting --- */

static void report_one(struct daemon *d, struct job *j)
{
	char ids[KIND_ID_STRING_MAX], dataset[KIND_ID_STRING_MAX];
	const struct job_indexing *x = job_indexing(j);
	bool tally = x && x->has_progress && job_is_finished(j);
	_cleanup_(freep) char *path = job_path(d, j);
	usec_t now = now_realtime_usec();
	const char *note = NULL;

	if (j->outcome == JOB_OUTCOME_EXPIRED && (j->flags & JOB_FLAG_GONE_WHILE_DOWN)) {
		note = "The result window passed while jobwatchd was not running.";
	}
	struct journal_result r = {
		.job_id = job_id_string(j, ids),
		.kind = job_kind_name(j),
		.user_kind = j->kind == KIND_USER,
		.action = j->kind == KIND_ANNOTATION_REPLY ? job_action_to_string(j->action) : NULL,
		.dataset = job_dataset_string(j, dataset),
		.documents = tally ? (int64_t)x->documents_total : -1,
		.documents_failed = tally ? (int64_t)x->documents_failed : -1,
		.endpoint = j->endpoint->name,
		.file = path ? path : j->file,
		.description = j->description,
		.status = job_outcome_to_string(j->outcome),
		.error = j->result ? j->result->error_msg : NULL,
		.last_status = !j->track.has_status ? NULL
			       : j->kind == KIND_ANNOTATION_REPLY
				       ? dify_status_to_string(j->track.last_status)
				       : job_remote_status(j),
		.remote_status = job_remote_status(j),
		.note = note,
		.polls = j->polls,
		.duration_usec = now > j->accepted_usec ? now - j->accepted_usec : 0,
		.priority = job_outcome_priority(j->outcome),
	};
	(void)journal_job_result(&r);
	j->flags |= JOB_FLAG_JOURNALED;

	if (j->outcome == JOB_OUTCOME_CANCELLED) {
		job_pipeline_done(d, j);
		return;
	}
	/* Written at once, so that a crash repeats at most this one entry. */
	(void)state_mark_journaled(d->state, j);
	if (j->flags & JOB_FLAG_HOOK_DONE) {
		job_pipeline_done(d, j);
	} else if (!d->stopping) {
		start_hook(d, j);
	} else if (j->flags & JOB_DETACHED) {
		/* stopping: the state keeps the hook as due, the next start runs it */
		free_detached(d, j);
	}
}

/* Report finished jobs once their outcomes are safely stored. */
void process_reports(struct daemon *d)
{
	if (d->n_reports == 0) {
		return;
	}
	if (state_has_urgent(d->state)) {
		if (!d->held_logged && state_failing(d->state)) {
			d->held_logged = true;
			log_warning(
				"%zu result(s) are held back until the state file can be written.",
				d->n_reports);
		}
		return;
	}
	d->held_logged = false;
	/* Reporting can queue more (not here, but be safe): take the batch. */
	struct job **batch = d->reports;
	size_t n = d->n_reports;
	d->reports = NULL;
	d->n_reports = d->reports_allocated = 0;
	d->reports_since_usec = USEC_INFINITY;
	for (size_t i = 0; i < n; i++) {
		batch[i]->flags &= (uint16_t)~JOB_FLAG_REPORT_QUEUED;
		report_one(d, batch[i]);
	}
	free(batch);
}
