/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "alloc-util.h"
#include "config-paths.h"
#include "config.h"
#include "daemon.h"
#include "dify.h"
#include "escape.h"
#include "hook.h"
#include "http.h"
#include "jobfile.h"
#include "jobsdir.h"
#include "journal.h"
#include "lockfile.h"
#include "memory-util.h"
#include "notify.h"
#include "poller.h"
#include "registry.h"
#include "state.h"
#include "string-util.h"
#include "strv.h"
#include "time-util.h"
#include "timespan.h"
#include "uuid-util.h"
#include "watchdog.h"

/* Period of the housekeeping timer: lazy state writes, retries, STATUS=. */
#define MAINTENANCE_PERIOD_MS 1000
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
	struct endpoint *endpoint; /* identity: endpoint, action, id */
	uint8_t action;
	uint8_t id[16];
};

struct orphan_hook {
	struct job *job; /* borrowed; the job waits for this process */
	pid_t pid;
	uint64_t start_time;
};

struct daemon {
	uv_loop_t loop;
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
	size_t n_orphans;

	struct refused_file *refused; /* owned: job files refused for now (duplicate, MaxJobs=) */
	size_t n_refused;

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

static void daemon_report_ready(struct daemon *d);

/* --- small helpers --- */

static char *job_path(const struct daemon *d, const struct job *j)
{
	return strjoin(d->jobs_dir, "/", j->file);
}

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

static void free_detached(struct daemon *d, struct job *j)
{
	state_unmark(d->state, j);
	job_free(j);
}

static void reports_push(struct daemon *d, struct job *j)
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
static void set_outcome(struct daemon *d, struct job *j, enum job_outcome o, const char *error,
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

static int env_add(char ***envp, size_t *n, const char *key, const char *value)
{
	char *s = strjoin(key, "=", strempty(value));
	if (!s) {
		return -ENOMEM;
	}
	(*envp)[(*n)++] = s;
	(*envp)[*n] = NULL;
	return 0;
}

static int build_hook(struct daemon *d, struct job *j, struct hook_spec *spec)
{
	const char *cmd = hook_command(d, j);
	char ids[UUID_STRING_MAX], polls[32], dur[32];
	_cleanup_(freep) char *path = job_path(d, j);
	const char *lang = getenv("LANG"), *pathenv = getenv("PATH");
	size_t n = 0;
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
	spec->envp = calloc(16, sizeof(char *));
	if (!spec->envp || !path) {
		hook_spec_done(spec);
		return -ENOMEM;
	}
	uuid_to_string(j->id, ids);
	snprintf(polls, sizeof(polls), "%u", j->polls);
	usec_t now = now_realtime_usec();
	snprintf(dur, sizeof(dur), "%llu",
		 (unsigned long long)((now > j->accepted_usec ? now - j->accepted_usec : 0) /
				      USEC_PER_SEC));
	r = 0;
	r |= env_add(&spec->envp, &n, "JOBWATCH_JOB_ID", ids);
	r |= env_add(&spec->envp, &n, "JOBWATCH_ACTION", job_action_to_string(j->action));
	r |= env_add(&spec->envp, &n, "JOBWATCH_STATUS", job_outcome_to_string(j->outcome));
	r |= env_add(&spec->envp, &n, "JOBWATCH_ERROR", j->result ? j->result->error_msg : "");
	r |= env_add(&spec->envp, &n, "JOBWATCH_ENDPOINT", j->endpoint->name);
	r |= env_add(&spec->envp, &n, "JOBWATCH_DESCRIPTION", j->description);
	r |= env_add(&spec->envp, &n, "JOBWATCH_JOB_FILE", path);
	r |= env_add(&spec->envp, &n, "JOBWATCH_POLLS", polls);
	r |= env_add(&spec->envp, &n, "JOBWATCH_DURATION", dur);
	r |= env_add(&spec->envp, &n, "PATH",
		     pathenv ? pathenv
			     : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
	if (lang) {
		r |= env_add(&spec->envp, &n, "LANG", lang);
	}
	if (r != 0) {
		hook_spec_done(spec);
		return -ENOMEM;
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

static void job_pipeline_done(struct daemon *d, struct job *j)
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

static void start_hook(struct daemon *d, struct job *j)
{
	struct hook_spec spec;
	int r = build_hook(d, j, &spec);

	if (r < 0) {
		log_job_errno(LOG_ERR, r, j, "Cannot run the hook: %m");
		(void)journal_hook_exit(spec.job_id[0] ? spec.job_id : "", "", -1, 0, r, 0, false);
		j->flags |= JOB_FLAG_HOOK_DONE;
		(void)state_mark_hook(d->state, j, STATE_HOOK_DONE, 0, 0);
		job_pipeline_done(d, j);
		return;
	}
	j->flags |= JOB_FLAG_HOOK_RUNNING;
	(void)hook_enqueue(&d->hooks, &spec);
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

static void daemon_shutdown(struct daemon *d);

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

static const struct hook_ops hook_ops = {
	.started = on_hook_started,
	.done = on_hook_done,
	.idle = on_hooks_idle,
	.discarded = on_hook_discarded,
};

/* --- reporting --- */

static void report_one(struct daemon *d, struct job *j)
{
	char ids[UUID_STRING_MAX];
	_cleanup_(freep) char *path = job_path(d, j);
	usec_t now = now_realtime_usec();
	const char *note = NULL;

	if (j->outcome == JOB_OUTCOME_EXPIRED && (j->flags & JOB_FLAG_GONE_WHILE_DOWN)) {
		note = "The result window passed while jobwatchd was not running.";
	}
	struct journal_result r = {
		.job_id = uuid_to_string(j->id, ids),
		.action = job_action_to_string(j->action),
		.endpoint = j->endpoint->name,
		.file = path ? path : j->file,
		.description = j->description,
		.status = job_outcome_to_string(j->outcome),
		.error = j->result ? j->result->error_msg : NULL,
		.last_status =
			j->track.has_status ? dify_status_to_string(j->track.last_status) : NULL,
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
static void process_reports(struct daemon *d)
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

static void update_status(struct daemon *d)
{
	char buf[512], since[32];
	size_t total = registry_size(&d->registry);
	size_t finished = d->registry.n_finished;
	int n;

	n = snprintf(
		buf, sizeof(buf),
		"Watching %zu job%s (%u request%s in flight, %u waiting for a connection), %zu finished",
		total - finished, total - finished == 1 ? "" : "s", d->poller.in_flight,
		d->poller.in_flight == 1 ? "" : "s", d->poller.n_queued, finished);
	if (d->hooks.n_running + d->hooks.n_queued > 0 && n > 0 && (size_t)n < sizeof(buf)) {
		n += snprintf(buf + n, sizeof(buf) - (size_t)n, ", %u hook%s running, %u waiting",
			      d->hooks.n_running, d->hooks.n_running == 1 ? "" : "s",
			      d->hooks.n_queued);
	}
	for (size_t i = 0; i < d->registry.n_endpoints && n > 0 && (size_t)n < sizeof(buf); i++) {
		const struct endpoint *e = d->registry.endpoints[i];
		if (e->in_trouble) {
			time_t t = (time_t)(e->trouble_since_usec / USEC_PER_SEC), now = time(NULL);
			struct tm tm, today;
			localtime_r(&t, &tm);
			localtime_r(&now, &today);
			/* the time of day, and the date too when it is not today */
			strftime(since, sizeof(since),
				 tm.tm_yday == today.tm_yday && tm.tm_year == today.tm_year
					 ? "%H:%M"
					 : "%b %d %H:%M",
				 &tm);
			n += snprintf(buf + n, sizeof(buf) - (size_t)n,
				      "; endpoint %s: %s since %s", e->name,
				      strempty(e->trouble_text), since);
		} else if (e->conf && !e->headers && e->n_jobs > 0) {
			n += snprintf(buf + n, sizeof(buf) - (size_t)n, "; endpoint %s: no API key",
				      e->name);
		}
	}
	if (state_failing(d->state) && n > 0 && (size_t)n < sizeof(buf)) {
		snprintf(buf + n, sizeof(buf) - (size_t)n, "; state file not writable");
	}
	notify_status(&d->notify, buf);
}

static void on_uv_flush_timer(uv_timer_t *t)
{
	/* nothing to do here: waking the loop runs on_uv_turn_end() */
}

static void turn_end(struct daemon *d)
{
	(void)state_flush(d->state, false);
	process_reports(d);
	update_status(d);

	/* Wake up when the store has work due (group commit, more rows, lazy
	 * writes, a retry), even if nothing else happens meanwhile. */
	usec_t due = state_flush_due_usec(d->state);
	if (due != USEC_INFINITY && !d->stopping) {
		uint64_t due_ms = (due + USEC_PER_MSEC - 1) / USEC_PER_MSEC;
		uint64_t loop_ms = uv_now(&d->loop);
		(void)uv_timer_start(&d->flush_timer, on_uv_flush_timer,
				     due_ms > loop_ms ? due_ms - loop_ms : 0, 0);
	}
}

static void on_uv_turn_end(uv_prepare_t *c)
{
	struct daemon *d = c->data;
	if (d->state) {
		turn_end(d);
	}
}

static void on_uv_maintenance(uv_timer_t *t)
{
	turn_end(t->data);
}

/* Asked by the watchdog timer (notify.c): does the loop make progress? */
static bool on_watchdog_progress(void *userdata, usec_t bound_usec)
{
	struct daemon *d = userdata;
	const struct heap_node *top = d->poller.stopped ? NULL : heap_peek(&d->poller.heap);
	struct watchdog_sample s = {
		.now_usec = now_monotonic_usec(),
		.oldest_due_usec = top ? top->key : USEC_INFINITY,
		.oldest_report_usec = d->n_reports > 0 ? d->reports_since_usec : USEC_INFINITY,
		.reports_held = d->state && state_failing(d->state),
	};
	enum watchdog_verdict v = watchdog_check(&s, bound_usec);
	char span[TIMESPAN_MAX];

	if (v != d->watchdog_verdict) {
		if (v == WATCHDOG_POLLS_LATE) {
			log_error(
				"The event loop is not making progress: a job due %s ago has not been polled; not sending WATCHDOG=1.",
				timespan_format(span, sizeof(span),
						s.now_usec - s.oldest_due_usec));
		} else if (v == WATCHDOG_RESULTS_LATE) {
			log_error(
				"The event loop is not making progress: a result has waited %s for its journal entry; not sending WATCHDOG=1.",
				timespan_format(span, sizeof(span),
						s.now_usec - s.oldest_report_usec));
		} else {
			log_notice("The event loop is making progress again; sending WATCHDOG=1.");
		}
		d->watchdog_verdict = v;
	}
	return v == WATCHDOG_PROGRESSING;
}

/* --- poller callbacks --- */

static void on_poll_finished(void *userdata, struct job *j, enum job_outcome o, const char *error,
			     const char *body, size_t body_len)
{
	set_outcome(userdata, j, o, error, body, body_len);
}

static void on_poll_changed(void *userdata, struct job *j, bool urgent)
{
	struct daemon *d = userdata;
	state_mark(d->state, j, urgent ? STATE_DIRTY_URGENT : STATE_DIRTY_LAZY);
}

static void on_endpoint_changed(void *userdata, struct endpoint *e)
{
	struct daemon *d = userdata;
	(void)state_set_endpoint_trouble(d->state, e->name, e->in_trouble ? e->trouble_text : NULL,
					 e->trouble_since_usec);
}

static const struct poller_ops poller_ops = {
	.finished = on_poll_finished,
	.changed = on_poll_changed,
	.endpoint_changed = on_endpoint_changed,
};

/* --- endpoints and config --- */

static void log_diags(const struct diag_list *l, const char *message_id)
{
	for (size_t i = 0; i < l->n; i++) {
		const struct diag *x = &l->items[i];
		int level = x->level == DIAG_ERROR ? LOG_ERR : LOG_WARNING;
		if (message_id) {
			char fid[64], ffile[512], fline[32];
			const char *fields[] = { fid, ffile, fline, NULL };
			char buf[2048];
			snprintf(fid, sizeof(fid), "MESSAGE_ID=%s", message_id);
			snprintf(ffile, sizeof(ffile), "CONFIG_FILE=%s", strempty(x->file));
			snprintf(fline, sizeof(fline), "CONFIG_LINE=%u", x->line);
			log_fields_internal(level, 0, fields, "%s",
					    diag_format(x, buf, sizeof(buf)));
		} else {
			log_syntax(level, x->file, x->line, "%s", x->message);
		}
	}
	if (l->oom) {
		log_error("Out of memory while collecting problems; some are not shown.");
	}
}

/* Point every endpoint at config c and (re-)read the keys. */
static void apply_endpoints(struct daemon *d, const struct config *c)
{
	for (size_t i = 0; i < d->registry.n_endpoints; i++) {
		d->registry.endpoints[i]->conf = NULL;
	}
	for (size_t i = 0; i < c->n_endpoints; i++) {
		const struct endpoint_config *ec = &c->endpoints[i];
		struct endpoint *e = registry_endpoint(&d->registry, ec->name, true);
		struct diag_list diags = { 0 };
		_cleanup_(erase_and_freep) char *key = NULL;
		_cleanup_(erase_and_freep) char *auth = NULL;

		if (!e) {
			log_error("Out of memory setting up endpoint '%s'", ec->name);
			continue;
		}
		e->conf = ec;
		if (ec->http_version == HTTP_VERSION_2_PRIOR_KNOWLEDGE &&
		    http_h2c_reuse_broken(d->http)) {
			log_syntax(
				LOG_WARNING, ec->file, ec->line,
				"Endpoint '%s': this libcurl (%s) cannot reuse HTTP/2 prior-knowledge connections (curl issue #10634, fixed in 8.0.0); each request opens its own connection. Prefer https://, where HTTP/2 is negotiated and multiplexed.",
				ec->name, http_libcurl_version());
		}
		int r = config_read_api_key(ec, d->credentials_dir, &key, &diags);
		http_headers_unref(e->headers);
		e->headers = NULL;
		free(e->key_problem);
		e->key_problem = NULL;
		if (r < 0) {
			log_diags(&diags, NULL);
			e->key_problem = strdup_or_null(diags.n > 0 ? diags.items[0].message
								    : "the key cannot be read");
			diag_list_clear(&diags);
			continue;
		}
		log_diags(&diags, NULL); /* warnings: a key file others can read */
		diag_list_clear(&diags);
		auth = dify_auth_header(key);
		e->headers = auth ? http_headers_new(auth) : NULL;
		if (!e->headers) {
			e->key_problem = strdup_or_null("out of memory");
		}
	}
}

static unsigned total_connections(const struct config *c)
{
	unsigned n = 0;
	for (size_t i = 0; i < c->n_endpoints; i++) {
		n += c->endpoints[i].max_concurrent;
	}
	return n;
}

/* --- job files --- */

static void job_file_problem(struct daemon *d, const struct diag_list *diags)
{
	log_diags(diags, MESSAGE_ID_JOB_FILE_INVALID);
}

/* One problem with a job file as a whole: "PATH: message", with the job file
 * MESSAGE_ID so that journalctl -x explains it. */
static void job_file_refused(const char *path, int level, const char *fmt, ...) _printf_(3, 4);
static void job_file_refused(const char *path, int level, const char *fmt, ...)
{
	struct diag_list l = { 0 };
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	diag_add(&l, level == LOG_ERR ? DIAG_ERROR : DIAG_WARNING, path, 0, "%s", msg);
	log_diags(&l, MESSAGE_ID_JOB_FILE_INVALID);
	diag_list_clear(&l);
}

/* Files refused while another file holds their job (e, action, id: the job
 * they name), or while MaxJobs= is reached: looked at again whenever a job
 * goes away. */
static void remember_refused(struct daemon *d, const char *name, struct endpoint *e,
			     enum job_action action, const uint8_t id[static 16])
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
		struct refused_file *n = realloc(d->refused, (d->n_refused + 1) * sizeof(*n));
		if (!n) {
			return;
		}
		d->refused = n;
		f = &d->refused[d->n_refused];
		*f = (struct refused_file){ .name = strdup_or_null(name) };
		if (!f->name) {
			return;
		}
		d->n_refused++;
	}
	f->endpoint = e;
	f->action = (uint8_t)action;
	memcpy(f->id, id, sizeof(f->id));
}

static void forget_refused(struct daemon *d, const char *name)
{
	for (size_t i = 0; i < d->n_refused; i++) {
		if (streq(d->refused[i].name, name)) {
			free(d->refused[i].name);
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
		if ((j->flags & JOB_FLAG_JOURNALED) && (j->flags & JOB_FLAG_HOOK_DONE) &&
		    !(j->flags & JOB_FLAG_REPORT_QUEUED) && !(j->flags & JOB_FLAG_UNSETTLED)) {
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
static usec_t job_deadline(const struct daemon *d, const struct job *j)
{
	usec_t timeout = poller_job_timeout(d->config, j);
	usec_t now_rt = now_realtime_usec(), now = now_monotonic_usec();
	usec_t end_rt = j->accepted_usec + timeout;

	if (timeout == USEC_INFINITY || end_rt < j->accepted_usec) {
		return USEC_INFINITY;
	}
	return end_rt <= now_rt ? now : now + (end_rt - now_rt);
}

static void schedule_new(struct daemon *d, struct job *j)
{
	j->deadline_usec = job_deadline(d, j);
	poller_schedule(&d->poller, j, now_monotonic_usec());
}

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

static void on_file_changed(void *userdata, const char *name)
{
	struct daemon *d = userdata;
	_cleanup_(freep) char *path = strjoin(d->jobs_dir, "/", name);
	struct diag_list diags = { 0 };
	struct jobfile jf = { 0 };
	struct job *old, *dup, *j;
	struct endpoint *e;
	int r;

	if (!path) {
		log_error("Out of memory reading job file '%s'", name);
		return;
	}
	r = jobfile_load(d->jobsdir->dir_fd, name, path, &jf, &diags);
	if (r == -ENOENT) {
		/* gone again before we could read it */
		diag_list_clear(&diags);
		on_file_removed(d, name);
		return;
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
	dup = registry_by_identity(&d->registry, e, jf.action, jf.id);
	if (old && dup == old) {
		if (streq_ptr(old->description, jf.description) && streq_ptr(old->hook, jf.hook) &&
		    old->timeout_usec == (jf.has_timeout ? jf.timeout_usec : 0)) {
			/* unchanged (a rescan reads every file): nothing to write */
			goto out;
		}
		/* the same job: take the new description, hook and timeout */
		take_file_settings(d, old, &jf);
		goto out;
	}

	if (dup && registry_has_file(&d->registry, dup)) {
		char ids[UUID_STRING_MAX];
		job_file_refused(
			path, LOG_ERR,
			"Job %s (%s, endpoint '%s') is already watched through '%s', ignoring this file.",
			uuid_to_string(jf.id, ids), job_action_to_string(jf.action), e->name,
			dup->file);
		remember_refused(d, name, e, jf.action, jf.id);
		goto out;
	}
	if (!old && !dup && registry_size(&d->registry) >= d->config->max_jobs) {
		job_file_refused(
			path, LOG_ERR,
			"Refusing the job: MaxJobs=%u jobs are held already. Remove finished job files or raise MaxJobs=.",
			d->config->max_jobs);
		remember_refused(d, name, e, jf.action, jf.id);
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

	j = job_new();
	if (!j) {
		log_error("Out of memory adding job file '%s'", path);
		goto out;
	}
	memcpy(j->id, jf.id, sizeof(j->id));
	j->action = (uint8_t)jf.action;
	j->endpoint = e;
	j->file = strdup_or_null(name);
	j->description = TAKE_PTR(jf.description);
	j->hook = TAKE_PTR(jf.hook);
	j->timeout_usec = jf.has_timeout ? jf.timeout_usec : 0;
	j->accepted_usec = now_realtime_usec();
	if (!j->file || registry_add(&d->registry, j) < 0) {
		log_error("Out of memory adding job file '%s'", path);
		job_free(j);
		goto out;
	}
	{
		char ids[UUID_STRING_MAX];
		const char *fields[] = { "MESSAGE_ID=" MESSAGE_ID_JOB_ACCEPTED, NULL };
		uuid_to_string(j->id, ids);
		log_job_internal(d->starting ? LOG_DEBUG : LOG_INFO, 0, j->id, j->file, fields,
				 "Watching %s job on endpoint '%s'%s%s%s.",
				 job_action_to_string(j->action), e->name,
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
	diag_list_clear(&diags);
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
	d->n_refused = 0;
	for (size_t i = 0; i < n; i++) {
		on_file_changed(d, files[i].name);
		free(files[i].name);
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
		struct job *j = registry_by_identity(&d->registry, f->endpoint, f->action, f->id);
		if (!j || registry_has_file(&d->registry, j)) {
			i++;
			continue;
		}
		_cleanup_(freep) char *name = f->name;
		*f = d->refused[--d->n_refused];
		on_file_changed(d, name); /* re-read: it may name another job by now */
	}
}

/* After a batch of changes in the jobs directory (inotify events, a rescan):
 * a job whose file was removed and that no file names now is cancelled;
 * refused files may then fit. Called from any phase of the loop (inotify
 * poll, jobsdir's hold timer, the reload idle handle): cancelling a poll is
 * safe in each (see http.c's socket handling; tests/unit/test-http.c cancels
 * from prepare and zero timers). */
static void settle_removals(struct daemon *d)
{
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
			if (j->flags & JOB_DETACHED) {
				if (job_is_finished(j) && (j->flags & JOB_FLAG_JOURNALED) &&
				    (j->flags & JOB_FLAG_HOOK_DONE) &&
				    !(j->flags &
				      (JOB_FLAG_REPORT_QUEUED | JOB_FLAG_HOOK_RUNNING))) {
					(void)state_forget(d->state, j);
					free_detached(d, j);
				}
				continue; /* otherwise the pipeline frees it */
			}
			if (registry_has_file(&d->registry, j)) {
				continue; /* renamed */
			}
			cancel_job(d, j, "Its job file was removed");
			cancelled = true;
		}
		free(batch);
		if (cancelled) {
			retry_refused(d);
		}
	}
}

static void scan_one(void *userdata, const char *name)
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

static void scan_names_free(struct daemon *d)
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
	scan_names_free(d);
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
static void rescan_step(struct daemon *d)
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

static void on_uv_reload_idle(uv_idle_t *h);

/* Re-read every file, a slice per loop turn (rescan_step); jobs whose file
 * is gone are cancelled when the rescan ends (rescan_end) unless it finds
 * them under another name. for_reload: the rescan ends a reload. */
static void rescan(struct daemon *d, bool for_reload)
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

static const struct jobsdir_ops jobsdir_ops = {
	.changed = on_file_changed,
	.removed = on_file_removed,
	.rescan = on_dir_rescan,
	.lost = on_dir_lost,
	.settled = on_dir_settled,
};

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
		j->last_alive_usec = row->last_status_usec;
	}
}

/* A hook the previous daemon started and did not see end: still running? */
static bool hook_still_running(const struct state_row *row)
{
	return row->hook_state == STATE_HOOK_RUNNING && row->hook_pid > 0 &&
	       row->hook_pid_start != 0 && process_start_time(row->hook_pid) == row->hook_pid_start;
}

static void watch_orphan(struct daemon *d, struct job *j, const struct state_row *row)
{
	struct orphan_hook *n = realloc(d->orphans, (d->n_orphans + 1) * sizeof(*n));
	if (!n) {
		return;
	}
	d->orphans = n;
	n[d->n_orphans++] = (struct orphan_hook){ .job = j,
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
	char ids[UUID_STRING_MAX];
	_cleanup_(freep) char *path = job_path(d, j);

	(void)journal_hook_exit(uuid_to_string(j->id, ids), path ? path : j->file, -1, 0, 0, 0,
				false);
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
				     struct endpoint *e, int action, const uint8_t id[16])
{
	struct job *j = job_new();
	if (!j) {
		return NULL;
	}
	memcpy(j->id, id, 16);
	j->action = (uint8_t)action;
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

static int on_state_row(void *userdata, const struct state_row *row)
{
	struct daemon *d = userdata;
	uint8_t id[16];

	notify_watchdog_keepalive(&d->notify);
	int action = job_action_from_string(row->action);
	int outcome = row->outcome ? job_outcome_from_string(row->outcome) : JOB_OUTCOME_NONE;
	struct endpoint *e;
	struct job *j;

	if (action < 0 || uuid_from_string(row->job_id, id) < 0 || outcome < 0) {
		log_warning("Ignoring a malformed row in the state file (job '%s').", row->job_id);
		return 0;
	}
	e = registry_endpoint(&d->registry, row->endpoint, false);
	j = e ? registry_by_identity(&d->registry, e, (enum job_action)action, id) : NULL;

	if (j) {
		restore_track(j, row);
		d->n_started_new--;
		if (outcome != JOB_OUTCOME_NONE) {
			restore_result(j, row, outcome);
			d->registry.n_finished++;
			if (row->hook_state == STATE_HOOK_RUNNING) {
				if (hook_still_running(row)) {
					watch_orphan(d, j, row);
				} else {
					orphan_hook_ended(d, j);
				}
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
	if (outcome == JOB_OUTCOME_NONE) {
		j = detached_from_row(d, row, e, action, id);
		if (!j) {
			return -ENOMEM;
		}
		log_job(LOG_INFO, j, "Its job file was removed while jobwatchd was not running.");
		set_outcome(d, j, JOB_OUTCOME_CANCELLED, "", NULL, 0);
		return 0;
	}
	if (row->journaled && row->hook_state == STATE_HOOK_DONE) {
		(void)state_forget_row(d->state, row->endpoint, row->action, row->job_id);
		return 0;
	}
	j = detached_from_row(d, row, e, action, id);
	if (!j) {
		return -ENOMEM;
	}
	restore_result(j, row, outcome);
	if (row->hook_state == STATE_HOOK_RUNNING) {
		if (hook_still_running(row)) {
			watch_orphan(d, j, row);
		} else {
			orphan_hook_ended(d, j);
			job_pipeline_done(d, j);
		}
	} else if (!row->journaled) {
		reports_push(d, j);
	} else {
		start_hook(d, j);
	}
	return 0;
}

/* After the scan and the state: schedule pending jobs, finish reports. */
static void resume_jobs(struct daemon *d)
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

/* Warn about a jobs directory others can write to (start-up and reload). */
static void check_jobs_dir_access(struct daemon *d)
{
	struct diag_list diags = { 0 };

	if (!d->jobsdir) {
		return;
	}
	jobsdir_check_access(d->jobsdir->dir_fd, d->jobs_dir, &diags);
	log_diags(&diags, NULL);
	diag_list_clear(&diags);
}

/* --- signals, reload, stop --- */

/* Load the configuration. why prefixes the one line that sums up a failure
 * ("Cannot start", "Not reloading"). */
static int load_config(struct daemon *d, const char *why, struct config **ret)
{
	struct diag_list diags = { 0 };
	const char *path = d->opts->config_path ? d->opts->config_path : JOBWATCH_CONFIG_FILE;
	int r = config_load(path, d->opts->config_path != NULL, ret, &diags);

	if (r >= 0 && diag_has_errors(&diags)) {
		r = -EINVAL;
	}
	if (r < 0 && diags.n_errors == 1 && diags.n == 1) {
		/* one problem: one line that says it all */
		char buf[2048];
		log_error("%s: %s", why, diag_format(&diags.items[0], buf, sizeof(buf)));
	} else {
		log_diags(&diags, NULL);
		if (r < 0) {
			log_error("%s: the configuration has %zu error%s (see above).", why,
				  MAX(diags.n_errors, (size_t)1), diags.n_errors == 1 ? "" : "s");
		}
	}
	diag_list_clear(&diags);
	if (r < 0) {
		config_free(*ret);
		*ret = NULL;
	}
	return r;
}

static void daemon_reload(struct daemon *d)
{
	struct config *c = NULL;

	notify_reloading(&d->notify);
	log_info("Reloading: re-reading the configuration, the API keys and the jobs directory.");
	if (load_config(d, "Not reloading, keeping the old configuration", &c) < 0) {
		notify_ready(&d->notify);
		return;
	}

	struct config *old = d->config;
	d->config = c;
	apply_endpoints(d, c);
	poller_set_config(&d->poller, c);
	hook_runner_set_max_parallel(&d->hooks, c->hook_max_parallel);
	http_set_max_connections(d->http, total_connections(c));

	if (!d->opts->jobs_dir && !streq(old->jobs_dir, c->jobs_dir)) {
		struct jobsdir *nd = NULL;
		char *path = strdup_or_null(c->jobs_dir);
		if (path && jobsdir_new(&d->loop, path, &jobsdir_ops, d, &nd) >= 0) {
			jobsdir_free(d->jobsdir);
			d->jobsdir = nd;
			free(d->jobs_dir);
			d->jobs_dir = path;
			log_info("Now watching the jobs directory '%s'.", d->jobs_dir);
		} else {
			free(path);
			log_error("Keeping the jobs directory '%s'.", d->jobs_dir);
		}
	} else if (!d->jobsdir) {
		(void)jobsdir_new(&d->loop, d->jobs_dir, &jobsdir_ops, d, &d->jobsdir);
	}
	config_free(old);

	for (size_t k = 0; k < d->registry.n_endpoints; k++) {
		poller_endpoint_changed(&d->poller, d->registry.endpoints[k]);
	}

	/* deadlines follow JobTimeout=, stalled jobs may be able to go */
	size_t i = 0;
	struct job *j;
	while ((j = registry_next(&d->registry, &i))) {
		if (job_is_finished(j)) {
			continue;
		}
		poller_set_deadline(&d->poller, j, job_deadline(d, j));
		poller_unstall(&d->poller, j);
	}
	if (d->jobsdir) {
		check_jobs_dir_access(d);
		/* "Reloaded." and READY=1 when the rescan is done */
		rescan(d, true);
		return;
	}
	log_info("Reloaded.");
	notify_ready(&d->notify);
	update_status(d);
}

/*
 * One step of reload work per loop turn, so that between two steps the loop
 * serves I/O (polls), reports results, runs hooks and sees SIGTERM: a slice
 * of the rescan in progress, else a reload asked for by SIGHUP (however many
 * SIGHUPs came, one reload), else a rescan asked for by an inotify overflow.
 * A SIGHUP during a reload's rescan means one more reload after it: the
 * files read before the signal may have changed since.
 */
static void on_uv_reload_idle(uv_idle_t *h)
{
	struct daemon *d = h->data;

	if (d->stopping) {
		(void)uv_idle_stop(h);
	} else if (d->scanning) {
		rescan_step(d);
	} else if (d->reload_pending) {
		d->reload_pending = false;
		d->rescan_pending = false; /* the reload rescans */
		daemon_reload(d);
	} else if (d->rescan_pending && d->jobsdir) {
		d->rescan_pending = false;
		rescan(d, false);
	} else {
		d->rescan_pending = false;
		(void)uv_idle_stop(h);
	}
}

static void close_handle(uv_handle_t *h)
{
	if (h->type != UV_UNKNOWN_HANDLE && !uv_is_closing(h)) {
		uv_close(h, NULL);
	}
}

/* Everything has stopped: write the state and let the loop end. */
static void daemon_shutdown(struct daemon *d)
{
	/* Hooks left over from a previous daemon (orphans) are not waited for:
	 * the state still records them as running, the next start looks again. */
	if (d->hooks.n_running > 0) {
		return;
	}
	if (d->state) {
		int r = state_flush(d->state, true);
		if (r < 0 && r != -EAGAIN) {
			log_error_errno(r, "Failed to save the state before stopping: %m");
		}
	}
	close_handle((uv_handle_t *)&d->turn_end);
	close_handle((uv_handle_t *)&d->maintenance);
	close_handle((uv_handle_t *)&d->flush_timer);
	close_handle((uv_handle_t *)&d->orphan_timer);
	close_handle((uv_handle_t *)&d->reload_idle);
	close_handle((uv_handle_t *)&d->sig_term);
	close_handle((uv_handle_t *)&d->sig_int);
	close_handle((uv_handle_t *)&d->sig_hup);
	/* Closing the last handle of a signal gives it back its default action,
	 * which for SIGHUP is to end the process: a reload asked for while we
	 * stop (a burst of SIGHUPs around a SIGTERM) must not turn a clean exit
	 * into death by signal. */
	(void)signal(SIGHUP, SIG_IGN);
	jobsdir_free(d->jobsdir);
	d->jobsdir = NULL;
	poller_finish(&d->poller);
	notify_finish(&d->notify);
}

static void daemon_stop(struct daemon *d)
{
	if (d->stopping) {
		log_notice(
			"Still waiting for %u hook(s) to end; they are killed when their Timeout= passes.",
			d->hooks.n_running);
		return;
	}
	d->stopping = true;
	notify_stopping(&d->notify);
	log_info("Stopping: no more polls; waiting for %u running hook(s).", d->hooks.n_running);
	if (!d->scanning) {
		settle_removals(d); /* files just removed: their jobs are cancelled */
	}
	poller_stop(&d->poller);
	/* A reload or rescan in progress is dropped. The jobs it had not found
	 * a file for yet are settled by identity at the next start. */
	(void)uv_idle_stop(&d->reload_idle);
	scan_names_free(d);
	d->scanning = d->scan_for_reload = false;
	jobsdir_free(d->jobsdir);
	d->jobsdir = NULL;
	/* Results already known are reported; hooks not yet started run after
	 * the next start. */
	(void)state_flush(d->state, true);
	process_reports(d);
	hook_runner_drain(&d->hooks);
}

static void on_uv_signal(uv_signal_t *s, int signum)
{
	struct daemon *d = s->data;

	if (signum == SIGHUP) {
		/* Coalesced: the reload runs from the loop (on_uv_reload_idle),
		 * once for any number of SIGHUPs received meanwhile. */
		if (!d->stopping) {
			d->reload_pending = true;
			(void)uv_idle_start(&d->reload_idle, on_uv_reload_idle);
		}
	} else {
		daemon_stop(d);
	}
}

/* --- start-up --- */

static int setup_dirs(struct daemon *d)
{
	const char *state = d->opts->state_dir;
	if (!state) {
		state = getenv("STATE_DIRECTORY");
		/* systemd may pass several, separated by ':'; ours is the first */
		if (state && strchr(state, ':')) {
			d->state_dir = strndup(state, (size_t)(strchr(state, ':') - state));
		}
	}
	if (!d->state_dir) {
		d->state_dir = strdup_or_null(state ? state : JOBWATCH_STATE_DIR);
	}
	d->jobs_dir = strdup_or_null(d->opts->jobs_dir ? d->opts->jobs_dir : d->config->jobs_dir);
	if (!d->state_dir || !d->jobs_dir) {
		return log_error_errno(-ENOMEM, "Out of memory");
	}
	/* JOB_FILE and JOBWATCH_JOB_FILE are full paths: anchor relative ones */
	char *abs = realpath(d->jobs_dir, NULL);
	if (abs) {
		free(d->jobs_dir);
		d->jobs_dir = abs;
	}
	abs = realpath(d->state_dir, NULL);
	if (abs) {
		free(d->state_dir);
		d->state_dir = abs;
	}
	d->credentials_dir = getenv("CREDENTIALS_DIRECTORY");
	return 0;
}

static int init_handles(struct daemon *d)
{
	int r = 0;

	r = r < 0 ? r : uv_signal_init(&d->loop, &d->sig_term);
	r = r < 0 ? r : uv_signal_init(&d->loop, &d->sig_int);
	r = r < 0 ? r : uv_signal_init(&d->loop, &d->sig_hup);
	r = r < 0 ? r : uv_prepare_init(&d->loop, &d->turn_end);
	r = r < 0 ? r : uv_timer_init(&d->loop, &d->maintenance);
	r = r < 0 ? r : uv_timer_init(&d->loop, &d->flush_timer);
	r = r < 0 ? r : uv_timer_init(&d->loop, &d->orphan_timer);
	r = r < 0 ? r : uv_idle_init(&d->loop, &d->reload_idle);
	if (r < 0) {
		return log_error_errno(-EIO, "Failed to set up the event loop: %s", uv_strerror(r));
	}
	d->sig_term.data = d->sig_int.data = d->sig_hup.data = d;
	d->turn_end.data = d->maintenance.data = d->orphan_timer.data = d->flush_timer.data = d;
	d->reload_idle.data = d;
	r = uv_signal_start(&d->sig_term, on_uv_signal, SIGTERM);
	r = r < 0 ? r : uv_signal_start(&d->sig_int, on_uv_signal, SIGINT);
	r = r < 0 ? r : uv_signal_start(&d->sig_hup, on_uv_signal, SIGHUP);
	r = r < 0 ? r : uv_prepare_start(&d->turn_end, on_uv_turn_end);
	r = r < 0 ? r
		  : uv_timer_start(&d->maintenance, on_uv_maintenance, MAINTENANCE_PERIOD_MS,
				   MAINTENANCE_PERIOD_MS);
	if (r < 0) {
		return log_error_errno(-EIO, "Failed to set up the event loop: %s", uv_strerror(r));
	}
	return 0;
}

static int daemon_start(struct daemon *d)
{
	int r;

	d->started_rt = now_realtime_usec();
	if (load_config(d, "Cannot start", &d->config) < 0) {
		return -EINVAL;
	}
	r = setup_dirs(d);
	if (r < 0) {
		return r;
	}
	/* Before the database is opened: a second daemon on the same state
	 * directory is refused here, never half-started ("database is locked"). */
	pid_t holder;
	d->lock_fd = lockfile_acquire(d->state_dir, &holder);
	if (d->lock_fd == -EBUSY && holder > 0) {
		return log_error_errno(
			-EBUSY,
			"Cannot start: another jobwatchd (PID %d) is running on the state directory '%s'.",
			(int)holder, d->state_dir);
	}
	if (d->lock_fd == -EBUSY) {
		return log_error_errno(
			-EBUSY,
			"Cannot start: another jobwatchd is running on the state directory '%s'.",
			d->state_dir);
	}
	if (d->lock_fd < 0) {
		return log_error_errno(
			d->lock_fd,
			"Cannot start: the state directory '%s' is not usable (its lock file %s: %m).",
			d->state_dir, LOCKFILE_NAME);
	}
	r = state_open(d->state_dir, &d->state);
	if (r < 0) {
		return log_error_errno(r, "Cannot start: the state directory '%s' is not usable.",
				       d->state_dir);
	}
	(void)state_set_daemon(d->state, getpid(), d->started_rt);

	r = notify_init(&d->notify, &d->loop);
	if (r < 0) {
		return r;
	}
	notify_set_progress_check(&d->notify, on_watchdog_progress, d);
	r = init_handles(d);
	if (r < 0) {
		return r;
	}
	r = http_new(&d->loop, &d->http);
	if (r < 0) {
		return r;
	}
	http_set_max_connections(d->http, total_connections(d->config));
	r = poller_init(&d->poller, &d->loop, d->http, &poller_ops, d);
	if (r < 0) {
		return r;
	}
	poller_set_config(&d->poller, d->config);
	r = hook_runner_init(&d->hooks, &d->loop, d->config->hook_max_parallel, &hook_ops, d);
	if (r < 0) {
		return r;
	}
	apply_endpoints(d, d->config);

	r = jobsdir_new(&d->loop, d->jobs_dir, &jobsdir_ops, d, &d->jobsdir);
	if (r < 0) {
		return log_error_errno(r, "Cannot start: the jobs directory '%s' is not usable.",
				       d->jobs_dir);
	}
	check_jobs_dir_access(d);

	/* Watch first, then scan: a file added meanwhile is seen twice at worst. */
	d->starting = true;
	r = jobsdir_scan(d->jobsdir, scan_one, d);
	if (r < 0) {
		d->starting = false;
		return r;
	}
	r = state_load(d->state, on_state_row, d);
	d->starting = false;
	if (r < 0) {
		return log_error_errno(r, "Cannot start: the state file cannot be read.");
	}
	resume_jobs(d);

	log_info("Watching %zu job%s from '%s' (%u new, %zu already finished); state in '%s'.",
		 registry_size(&d->registry) - d->registry.n_finished,
		 registry_size(&d->registry) - d->registry.n_finished == 1 ? "" : "s", d->jobs_dir,
		 d->n_started_new, (size_t)d->registry.n_finished, d->state_dir);
	daemon_report_ready(d);
	return 0;
}

static void daemon_report_ready(struct daemon *d)
{
	notify_ready(&d->notify);
	update_status(d);
}

static void on_uv_walk_close(uv_handle_t *h, void *arg)
{
	if (!uv_is_closing(h)) {
		uv_close(h, NULL);
	}
}

static void daemon_free(struct daemon *d)
{
	/* Jobs still in the pipeline are freed with the registry or here. */
	for (size_t i = 0; i < d->n_reports; i++) {
		if (d->reports[i]->flags & JOB_DETACHED) {
			free_detached(d, d->reports[i]);
		}
	}
	free(d->reports);
	for (size_t i = 0; i < d->n_orphans; i++) {
		if (d->orphans[i].job->flags & JOB_DETACHED) {
			free_detached(d, d->orphans[i].job);
		}
	}
	free(d->orphans);
	for (size_t i = 0; i < d->n_refused; i++) {
		free(d->refused[i].name);
	}
	free(d->refused);
	scan_names_free(d);
	free(d->unfiled);
	/* queued hooks may hold detached jobs: the runner hands them back */
	hook_runner_finish(&d->hooks);

	/* every job out of the dirty list before the store goes */
	size_t i = 0;
	struct job *j;
	while (d->state && (j = registry_next(&d->registry, &i))) {
		state_unmark(d->state, j);
	}
	registry_finish(&d->registry);
	state_close(d->state);
	config_free(d->config);
	free(d->jobs_dir);
	free(d->state_dir);
	/* last: the state directory is ours until everything is written */
	if (d->lock_fd >= 0) {
		close(d->lock_fd);
	}
}

int daemon_run(const struct daemon_options *o)
{
	struct daemon d = { .opts = o, .lock_fd = -1, .reports_since_usec = USEC_INFINITY };
	int r;

	r = uv_loop_init(&d.loop);
	if (r < 0) {
		log_error("Failed to create the event loop: %s", uv_strerror(r));
		return 1;
	}
	registry_init(&d.registry);

	r = daemon_start(&d);
	if (r < 0) {
		d.exit_code = 1;
		d.stopping = true;
		poller_finish(&d.poller);
		jobsdir_free(d.jobsdir);
		d.jobsdir = NULL;
	} else {
		(void)uv_run(&d.loop, UV_RUN_DEFAULT);
		log_info("Stopped.");
	}

	/* Close whatever is left (after a failed start) and run the close callbacks. */
	if (d.http) {
		http_free(d.http);
		d.http = NULL;
	}
	uv_walk(&d.loop, on_uv_walk_close, NULL);
	(void)uv_run(&d.loop, UV_RUN_DEFAULT);
	daemon_free(&d);
	r = uv_loop_close(&d.loop);
	if (r < 0) {
		log_debug("uv_loop_close: %s", uv_strerror(r));
	}
	return d.exit_code;
}

/* --- --check --- */

static void print_diags(const struct diag_list *l, unsigned *errors, unsigned *warnings)
{
	for (size_t i = 0; i < l->n; i++) {
		const struct diag *x = &l->items[i];
		/* FILE:LINE: message, warnings marked the way compilers do; file
		 * names and messages quote text from outside, so escaped */
		const char *w = x->level == DIAG_WARNING ? "warning: " : "";
		char file[PATH_MAX], msg[2048];
		escape_text_buf(file, sizeof(file), strempty(x->file), strlen(strempty(x->file)));
		escape_text_buf(msg, sizeof(msg), x->message, strlen(x->message));
		if (x->file && x->line > 0) {
			printf("%s:%u: %s%s\n", file, x->line, w, msg);
		} else if (x->file) {
			printf("%s: %s%s\n", file, w, msg);
		} else {
			printf("%s%s\n", w, msg);
		}
		if (x->level == DIAG_ERROR) {
			(*errors)++;
		} else {
			(*warnings)++;
		}
	}
	if (l->oom) {
		printf("out of memory\n");
		(*errors)++;
	}
}

struct check_ctx {
	const struct config *config;
	const char *dir;
	int dir_fd;
	unsigned errors, warnings, jobs;
};

static void check_one(void *userdata, const char *name)
{
	struct check_ctx *c = userdata;
	_cleanup_(freep) char *path = strjoin(c->dir, "/", name);
	struct diag_list diags = { 0 };
	struct jobfile jf = { 0 };

	if (!path) {
		c->errors++;
		return;
	}
	c->jobs++;
	int r = jobfile_load(c->dir_fd, name, path, &jf, &diags);
	if (r >= 0) {
		(void)jobfile_check_refs(path, &jf, c->config, &diags);
	}
	print_diags(&diags, &c->errors, &c->warnings);
	jobfile_done(&jf);
	diag_list_clear(&diags);
}

int daemon_check(const struct daemon_options *o)
{
	const char *path = o->config_path ? o->config_path : JOBWATCH_CONFIG_FILE;
	struct diag_list diags = { 0 };
	_cleanup_(config_freep) struct config *c = NULL;
	struct check_ctx ctx = { .dir_fd = -1 };
	int r;

	r = config_load(path, o->config_path != NULL, &c, &diags);
	if (r < 0 && !c) {
		print_diags(&diags, &ctx.errors, &ctx.warnings);
		char p[PATH_MAX];
		printf("%s: cannot be loaded\n", escape_text_buf(p, sizeof(p), path, strlen(path)));
		diag_list_clear(&diags);
		return 1;
	}
	/* the keys must be readable: read and forget them */
	const char *creds = getenv("CREDENTIALS_DIRECTORY");
	for (size_t i = 0; c && !diag_has_errors(&diags) && i < c->n_endpoints; i++) {
		const struct endpoint_config *e = &c->endpoints[i];
		char *key = NULL;
		if (e->api_key_credential && isempty(creds)) {
			/* run from a shell: the service manager provides the credential */
			diag_add(
				&diags, DIAG_WARNING, e->key_file ? e->key_file : e->file,
				e->key_line,
				"APIKeyCredential=%s cannot be checked outside the service ($CREDENTIALS_DIRECTORY is not set); check the file named by LoadCredential=%s: in the unit.",
				e->api_key_credential, e->api_key_credential);
			continue;
		}
		if (config_read_api_key(e, creds, &key, &diags) >= 0) {
			erase_and_free(key);
		}
	}
	print_diags(&diags, &ctx.errors, &ctx.warnings);
	diag_list_clear(&diags);

	assert(c); /* config_load() gives one whenever it returns >= 0 */
	ctx.config = c;
	ctx.dir = o->jobs_dir ? o->jobs_dir : c->jobs_dir;
	ctx.dir_fd = open(ctx.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (ctx.dir_fd < 0) {
		char dir[PATH_MAX];
		printf("%s: cannot open the jobs directory: %s\n",
		       escape_text_buf(dir, sizeof(dir), ctx.dir, strlen(ctx.dir)),
		       strerror(errno));
		ctx.errors++;
	} else {
		jobsdir_check_access(ctx.dir_fd, ctx.dir, &diags);
		print_diags(&diags, &ctx.errors, &ctx.warnings);
		diag_list_clear(&diags);
		(void)jobsdir_scan_fd(ctx.dir_fd, ctx.dir, check_one, &ctx, JOBSDIR_PREFETCH_AUTO,
				      NULL);
		close(ctx.dir_fd);
	}
	if (ctx.errors == 0) {
		printf("Configuration OK: %u job file%s checked, %u warning%s.\n", ctx.jobs,
		       ctx.jobs == 1 ? "" : "s", ctx.warnings, ctx.warnings == 1 ? "" : "s");
	} else {
		printf("%u error%s, %u warning%s.\n", ctx.errors, ctx.errors == 1 ? "" : "s",
		       ctx.warnings, ctx.warnings == 1 ? "" : "s");
	}
	return ctx.errors == 0 ? 0 : 1;
}
