/* SPDX-License-Identifier: MIT */
/* Job file events (jobsdir's callbacks) turned into registry changes: a file
 * read, refused, removed, renamed; the batch settled; rescans in slices. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "daemon-internal.h"
#include "jobfile.h"
#include "journal.h"
#include "pipeline.h"
#include "alloc-util.h"
#include "string-util.h"
#include "time-util.h"
#include "uuid-util.h"

/* --- job files --- */

static void job_file_problem(struct daemon *d, const struct diag_list *diags)
{
	log_diags(diags, MESSAGE_ID_JOB_FILE_INVALID);
}

/* One problem with a job file as a whole: "PATH: message", with the job file
 * MESSAGE_ID so that journalctl -x explains it, and the fields log_diags()
 * gives a problem at a line of the file. fmt's arguments follow path. */
static void job_file_log(int level, const char *path, const char *fmt, ...) _printf_(3, 4);
static void job_file_log(int level, const char *path, const char *fmt, ...)
{
	char ffile[512];
	const char *fields[] = { "MESSAGE_ID=" MESSAGE_ID_JOB_FILE_INVALID, ffile, "CONFIG_LINE=0",
				 NULL };
	va_list ap;

	snprintf(ffile, sizeof(ffile), "CONFIG_FILE=%s", path);
	va_start(ap, fmt);
	(void)log_fields_va(level, 0, fields, fmt, ap);
	va_end(ap);
}
#define job_file_refused(path, level, fmt, ...)                                                    \
	job_file_log((level), (path), "%s: " fmt, (path), ##__VA_ARGS__)

/* Files refused while another file holds their job (e, ident: the job
 * they name), or while MaxJobs= is reached: looked at again whenever a job
 * goes away. */
static void forget_refused(struct daemon *d, const char *name);

static void remember_refused(struct daemon *d, const char *name, struct endpoint *e,
			     const struct kind_ident *ident)
{
	struct refused_file *f = NULL;

	for (size_t i = 0; i < d->n_refused && !f; i++) {
		if (streq(d->refused[i].name, name)) {
			f = &d->refused[i];
		}
	}
	if (!f) {
		if (d->n_refused >= REFUSED_MAX) {
			return; /* still re-read when it changes, or on reload */
		}
		if (!grow_array((void **)&d->refused, &d->refused_allocated, sizeof(*d->refused),
				d->n_refused + 1)) {
			return;
		}
		f = &d->refused[d->n_refused];
		*f = (struct refused_file){ .name = strdup_or_null(name) };
		if (!f->name) {
			return;
		}
		d->n_refused++;
	}
	char *text = ident->user ? strdup(ident->user) : NULL;
	if (ident->user && !text) {
		forget_refused(d, name); /* no memory: re-read when it changes, or on reload */
		return;
	}
	free(f->user_text);
	f->user_text = text;
	f->endpoint = e;
	f->ident = *ident;
	f->ident.user = text;
}

void refused_file_done(struct refused_file *f)
{
	free(f->name);
	free(f->user_text);
	*f = (struct refused_file){};
}

static void forget_refused(struct daemon *d, const char *name)
{
	for (size_t i = 0; i < d->n_refused; i++) {
		if (streq(d->refused[i].name, name)) {
			refused_file_done(&d->refused[i]);
			d->refused[i] = d->refused[--d->n_refused];
			return;
		}
	}
}

static void cancel_job(struct daemon *d, struct job *j, const char *why)
{
	registry_remove(&d->registry, j);
	j->flags |= JOB_DETACHED;
	if (job_is_finished(j)) {
		if (pipeline_job_done(j)) {
			(void)state_forget(d->state, j);
			free_detached(d, j);
		}
		/* otherwise the pipeline frees it when the hook is done */
		return;
	}
	poller_unschedule(&d->poller, j);
	log_job(LOG_INFO, j, "%s; cancelling the job.", why);
	state_unmark(d->state, j);
	set_outcome(d, j, JOB_OUTCOME_CANCELLED, "", NULL, 0);
}

/* j's deadline on CLOCK_MONOTONIC: Timeout= (or JobTimeout=) counted from
 * when the job was first accepted (CLOCK_REALTIME, kept across restarts). */

static void on_file_removed(void *userdata, const char *name);

/* The settings a job file may change without naming another job. jf gives
 * up what j takes. */
static void take_file_settings(struct daemon *d, struct job *j, struct jobfile *jf)
{
	free(j->description);
	j->description = TAKE_PTR(jf->description);
	free(j->hook);
	j->hook = TAKE_PTR(jf->hook);
	j->timeout_usec = jf->has_timeout ? jf->timeout_usec : 0;
	j->stall_after_usec = jf->has_stall_after ? jf->stall_after_usec : 0;
	if (!job_is_finished(j)) {
		poller_set_deadline(&d->poller, j, job_deadline(d, j));
	}
	state_mark(d->state, j, STATE_DIRTY_URGENT);
}

/* j, whose file was removed in this batch of changes, is named by the file
 * name now: the same job (a rename), with its history and its result. */
static void refile_job(struct daemon *d, struct job *j, const char *name, struct jobfile *jf)
{
	_cleanup_(freep) char *was = strdup_or_null(j->file);
	int r = registry_set_file(&d->registry, j, name);

	if (r < 0) {
		log_job_errno(LOG_ERR, r, j, "Cannot follow its job file to '%s': %m", name);
		return; /* still unfiled: cancelled at the end of the batch */
	}
	log_job(LOG_INFO, j, "Its job file is now '%s' (was '%s'); the same job.", name,
		was ? was : "?");
	take_file_settings(d, j, jf); /* also writes the new name to the state */
}

/* A job file was written (or is read by a scan): load it and decide what it
 * means for the registry; -ENOENT when it was gone. Long because the cases
 * are read in one place, in the order they are decided: invalid, unchanged,
 * settings changed, a duplicate of another file's job, MaxJobs= reached,
 * another job than before, a renamed job taken over, a new job. */
static int load_job_file(struct daemon *d, const char *name)
{
	_cleanup_(freep) char *path = strjoin(d->jobs_dir, "/", name);
	struct diag_list diags = { 0 };
	struct jobfile jf = { 0 };
	struct job *old, *dup, *j;
	struct endpoint *e;
	int r;

	if (!path) {
		log_error("Out of memory reading job file '%s'", name);
		return -ENOMEM;
	}
	r = jobfile_load(d->jobsdir->dir_fd, name, path, &jf, &diags);
	if (r == -ENOENT) {
		/* gone again before we could read it */
		diag_list_done(&diags);
		on_file_removed(d, name);
		return -ENOENT;
	}
	if (r >= 0) {
		r = jobfile_check_refs(path, &jf, d->config, &diags);
	}
	if (r < 0) {
		job_file_problem(d, &diags);
		old = registry_by_file(&d->registry, name);
		if (old && !job_is_finished(old)) {
			log_job(LOG_WARNING, old,
				"Its job file is invalid now; the job keeps being watched until the file is fixed or removed.");
		} else {
			job_file_refused(path, LOG_WARNING, "Skipping this job file.");
		}
		goto out;
	}
	if (diags.n > 0) {
		job_file_problem(d, &diags); /* warnings */
	}

	e = registry_endpoint(&d->registry, jf.endpoint ? jf.endpoint : ENDPOINT_DEFAULT_NAME,
			      true);
	if (!e) {
		log_error("Out of memory adding job file '%s'", path);
		goto out;
	}
	old = registry_by_file(&d->registry, name);
	dup = registry_by_identity(&d->registry, e, &jf.ident);
	if (old && dup == old) {
		if (streq_ptr(old->description, jf.description) && streq_ptr(old->hook, jf.hook) &&
		    old->timeout_usec == (jf.has_timeout ? jf.timeout_usec : 0) &&
		    old->stall_after_usec == (jf.has_stall_after ? jf.stall_after_usec : 0)) {
			/* unchanged (a rescan reads every file): nothing to write */
			goto out;
		}
		/* the same job: take the new description, hook and timeout */
		take_file_settings(d, old, &jf);
		goto out;
	}

	if (dup && registry_has_file(&d->registry, dup)) {
		char ids[KIND_ID_STRING_MAX], what[JOB_WHAT_MAX];
		job_file_refused(
			path, LOG_ERR,
			"Job %s (%s, endpoint '%s') is already watched through '%s', ignoring this file.",
			job_id_string(dup, ids), job_what(dup, what, sizeof(what)), e->name,
			dup->file);
		remember_refused(d, name, e, &jf.ident);
		goto out;
	}
	if (!old && !dup && registry_size(&d->registry) >= d->config->max_jobs) {
		job_file_refused(
			path, LOG_ERR,
			"Refusing the job: MaxJobs=%u jobs are held already. Remove finished job files or raise MaxJobs=.",
			d->config->max_jobs);
		remember_refused(d, name, e, &jf.ident);
		goto out;
	}
	forget_refused(d, name);
	if (old) {
		cancel_job(d, old, "Its job file now names another job");
	}
	if (dup) {
		/* its file was removed in this batch: renamed (or copied) here */
		refile_job(d, dup, name, &jf);
		goto out;
	}

	j = job_new_kind(jf.ident.kind);
	if (!j || job_set_ident(j, &jf.ident) < 0) {
		log_error("Out of memory adding job file '%s'", path);
		job_free(j);
		goto out;
	}
	j->endpoint = e;
	j->file = strdup_or_null(name);
	j->description = TAKE_PTR(jf.description);
	j->hook = TAKE_PTR(jf.hook);
	j->timeout_usec = jf.has_timeout ? jf.timeout_usec : 0;
	j->stall_after_usec = jf.has_stall_after ? jf.stall_after_usec : 0;
	j->accepted_usec = now_realtime_usec();
	if (!j->file || registry_add(&d->registry, j) < 0) {
		log_error("Out of memory adding job file '%s'", path);
		job_free(j);
		goto out;
	}
	{
		char ids[KIND_ID_STRING_MAX], what[JOB_WHAT_MAX];
		const char *fields[] = { "MESSAGE_ID=" MESSAGE_ID_JOB_ACCEPTED, NULL };
		log_job_internal(d->starting ? LOG_DEBUG : LOG_INFO, 0, job_id_string(j, ids),
				 j->file, fields, "Watching %s on endpoint '%s'%s%s%s.",
				 job_what(j, what, sizeof(what)), e->name,
				 j->description ? " ('" : "", strempty(j->description),
				 j->description ? "')" : "");
	}
	d->n_started_new++;
	state_mark(d->state, j, STATE_DIRTY_URGENT);
	if (!d->starting) {
		schedule_new(d, j);
	}
out:
	jobfile_done(&jf);
	diag_list_done(&diags);
	return 0;
}

static void on_file_changed(void *userdata, const char *name)
{
	(void)load_job_file(userdata, name);
}

/* A job went away: files refused because of it (or of MaxJobs=) may fit now. */
static void retry_refused(struct daemon *d)
{
	struct refused_file *files = d->refused;
	size_t n = d->n_refused;

	if (n == 0 || d->starting || !d->jobsdir) {
		return;
	}
	d->refused = NULL;
	d->n_refused = d->refused_allocated = 0;
	for (size_t i = 0; i < n; i++) {
		on_file_changed(d, files[i].name);
		refused_file_done(&files[i]);
	}
	free(files);
}

/* j's file was removed. It is not cancelled yet: a file naming it may appear
 * in the same batch of changes (a rename), or be waiting as a refused
 * duplicate. settle_removals() decides at the end of the batch. */
static void unfile_job(struct daemon *d, struct job *j)
{
	registry_unfile(&d->registry, j);
	if (j->flags & JOB_FLAG_UNSETTLED) {
		return; /* already on the list (renamed, then removed again) */
	}
	if (!grow_array((void **)&d->unfiled, &d->unfiled_allocated, sizeof(*d->unfiled),
			d->n_unfiled + 1)) {
		cancel_job(d, j, "Its job file was removed");
		retry_refused(d);
		return;
	}
	j->flags |= JOB_FLAG_UNSETTLED;
	d->unfiled[d->n_unfiled++] = j;
}

static void on_file_removed(void *userdata, const char *name)
{
	struct daemon *d = userdata;
	struct job *j = registry_by_file(&d->registry, name);
	forget_refused(d, name);
	if (j) {
		unfile_job(d, j);
	}
}

/* Refused files naming a job whose file was removed (a duplicate, or one
 * refused for MaxJobs=) are read again: the first that still names it takes
 * it over. One pass over the refused files, whatever the number of jobs. */
static void adopt_duplicates(struct daemon *d)
{
	for (size_t i = 0; i < d->n_refused && d->jobsdir;) {
		struct refused_file *f = &d->refused[i];
		struct job *j = registry_by_identity(&d->registry, f->endpoint, &f->ident);
		if (!j || registry_has_file(&d->registry, j)) {
			i++;
			continue;
		}
		_cleanup_(freep) char *name = TAKE_PTR(f->name);
		refused_file_done(f);
		*f = d->refused[--d->n_refused];
		/* re-read: it may name another job by now */
		if (load_job_file(d, name) == -ENOENT && !registry_has_file(&d->registry, j)) {
			/* It moved after jobsdir found the queue empty: its
			 * removal (and its new name, if renamed) is queued
			 * now, so the next batch decides for j. */
			j->flags |= JOB_FLAG_SETTLE_LATER;
		}
	}
}

/* After a batch of changes in the jobs directory (inotify events, a rescan):
 * a job whose file was removed and that no file names now is cancelled;
 * refused files may then fit. Called from any phase of the loop (inotify
 * poll, jobsdir's hold timer, the reload idle handle): cancelling a poll is
 * safe in each (see http.c's socket handling; tests/unit/test-http.c cancels
 * from prepare and zero timers). */
void settle_removals(struct daemon *d)
{
	/* jobs left for the next batch (SETTLE_LATER); still JOB_FLAG_UNSETTLED */
	struct job **later = NULL;
	size_t n_later = 0, later_allocated = 0;

	while (d->n_unfiled > 0) {
		bool cancelled = false;

		adopt_duplicates(d);
		/* A job on the list is never freed by anyone else (JOB_FLAG_UNSETTLED
		 * keeps cancel_job() and the pipeline from it), even when it was
		 * renamed and then cancelled because its new file names another job. */
		struct job **batch = d->unfiled;
		size_t n = d->n_unfiled;
		d->unfiled = NULL;
		d->n_unfiled = d->unfiled_allocated = 0;
		for (size_t i = 0; i < n; i++) {
			struct job *j = batch[i];
			j->flags &= (uint16_t)~JOB_FLAG_UNSETTLED;
			enum settle_action a =
				pipeline_settle_action(j, registry_has_file(&d->registry, j));
			j->flags &= (uint16_t)~JOB_FLAG_SETTLE_LATER;
			if (a == SETTLE_LATER) {
				if (grow_array((void **)&later, &later_allocated, sizeof(*later),
					       n_later + 1)) {
					j->flags |= JOB_FLAG_UNSETTLED;
					later[n_later++] = j;
					continue;
				}
				a = SETTLE_CANCEL; /* no memory: as before */
			}
			switch (a) {
			case SETTLE_FREE:
				(void)state_forget(d->state, j);
				free_detached(d, j);
				break;
			case SETTLE_LEAVE: /* the pipeline frees it */
			case SETTLE_KEEP: /* renamed */
				break;
			case SETTLE_LATER: /* not reached: handled above */
			case SETTLE_CANCEL:
				cancel_job(d, j, "Its job file was removed");
				cancelled = true;
				break;
			}
		}
		free(batch);
		if (cancelled) {
			retry_refused(d);
		}
	}
	/* the list is empty here: they go back on it for the next settle
	 * (a batch's end, a rescan's, the directory lost or stopping) */
	free(d->unfiled);
	d->unfiled = later;
	d->n_unfiled = n_later;
	d->unfiled_allocated = later_allocated;
}

void scan_one(void *userdata, const char *name)
{
	struct daemon *d = userdata;
	/* The start-up scan, before the loop runs: reading 100,000s of files is
	 * progress, and must not look like a hung daemon. */
	notify_watchdog_keepalive(&d->notify);
	on_file_changed(d, name);
}

static void collect_name(void *userdata, const char *name)
{
	struct daemon *d = userdata;
	char *copy = strdup_or_null(name);

	if (!copy || !grow_array((void **)&d->scan_names, &d->scan_names_allocated,
				 sizeof(*d->scan_names), d->n_scan_names + 1)) {
		log_error("Out of memory rescanning '%s', skipping '%s'", d->jobs_dir, name);
		free(copy);
		return;
	}
	d->scan_names[d->n_scan_names++] = copy;
}

void scan_names_done(struct daemon *d)
{
	for (size_t i = d->scan_next; i < d->n_scan_names; i++) {
		free(d->scan_names[i]);
	}
	free(d->scan_names);
	d->scan_names = NULL;
	d->n_scan_names = d->scan_names_allocated = d->scan_next = 0;
}

static void rescan_end(struct daemon *d)
{
	scan_names_done(d);
	d->scanning = false;
	/* jobs whose file was gone when the rescan began and that no file
	 * read since names: cancelled now, not mid-scan */
	settle_removals(d);
	if (d->scan_for_reload && !d->stopping) {
		d->scan_for_reload = false;
		log_info("Reloaded.");
		notify_ready(&d->notify);
		update_status(d);
	}
	d->scan_for_reload = false;
}

/* Read the next slice of the rescan in progress. */
void rescan_step(struct daemon *d)
{
	usec_t start = now_monotonic_usec();

	while (d->jobsdir && d->scan_next < d->n_scan_names) {
		char *name = d->scan_names[d->scan_next];
		d->scan_names[d->scan_next++] = NULL;
		on_file_changed(d, name);
		free(name);
		if (now_monotonic_usec() - start >= RESCAN_SLICE_USEC) {
			break;
		}
	}
	/* done, or the directory was lost meanwhile */
	if (!d->jobsdir || d->scan_next >= d->n_scan_names) {
		rescan_end(d);
	}
}

/* Re-read every file, a slice per loop turn (rescan_step); jobs whose file
 * is gone are cancelled when the rescan ends (rescan_end) unless it finds
 * them under another name. for_reload: the rescan ends a reload. */
void rescan(struct daemon *d, bool for_reload)
{
	size_t n = registry_size(&d->registry), k = 0, i = 0;
	struct job **all = n ? calloc(n, sizeof(*all)) : NULL;
	struct job *j;

	if (n && !all) {
		log_error("Out of memory rescanning '%s', not looking for removed files",
			  d->jobs_dir);
	}
	while (all && (j = registry_next(&d->registry, &i))) {
		all[k++] = j;
	}
	for (size_t x = 0; x < k; x++) {
		struct stat st;
		if (registry_has_file(&d->registry, all[x]) &&
		    fstatat(d->jobsdir->dir_fd, all[x]->file, &st, AT_SYMLINK_NOFOLLOW) < 0 &&
		    errno == ENOENT) {
			unfile_job(d, all[x]); /* the scan may find it renamed */
		}
	}
	free(all);
	d->scanning = true;
	d->scan_for_reload = for_reload;
	(void)jobsdir_scan(d->jobsdir, collect_name, d);
	(void)uv_idle_start(&d->reload_idle, on_uv_reload_idle);
}

static void on_dir_rescan(void *userdata)
{
	struct daemon *d = userdata;
	d->rescan_pending = true;
	(void)uv_idle_start(&d->reload_idle, on_uv_reload_idle);
}

static void on_dir_lost(void *userdata)
{
	struct daemon *d = userdata;
	log_error(
		"The jobs directory '%s' was removed or moved; jobs already accepted keep being watched. Restore it and reload (systemctl reload jobwatchd).",
		d->jobs_dir);
	jobsdir_free(d->jobsdir);
	d->jobsdir = NULL;
	settle_removals(d); /* files removed before the directory went */
}

static void on_dir_settled(void *userdata)
{
	struct daemon *d = userdata;
	/* a rescan in progress may still find a removed job's file under
	 * another name: rescan_end() settles */
	if (!d->scanning) {
		settle_removals(d);
	}
}

const struct jobsdir_ops daemon_jobsdir_ops = {
	.changed = on_file_changed,
	.removed = on_file_removed,
	.rescan = on_dir_rescan,
	.lost = on_dir_lost,
	.settled = on_dir_settled,
};
