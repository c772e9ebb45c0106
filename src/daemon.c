/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>
#include <uv.h>

#include "alloc-util.h"
#include "config-load.h"
#include "daemon-internal.h"
#include "dify.h"
#include "lockfile.h"
#include "memory-util.h"
#include "notify.h"
#include "poller.h"
#include "registry.h"
#include "state.h"
#include "status.h"
#include "string-util.h"
#include "strv.h"
#include "time-util.h"
#include "timespan.h"
#include "uuid-util.h"
#include "watchdog.h"

/* Period of the housekeeping timer: lazy state writes, retries, STATUS=. */
#define MAINTENANCE_PERIOD_MS 1000

static void daemon_report_ready(struct daemon *d);

/* --- small helpers --- */

char *job_path(const struct daemon *d, const struct job *j)
{
	return strjoin(d->jobs_dir, "/", j->file);
}

void free_detached(struct daemon *d, struct job *j)
{
	state_unmark(d->state, j);
	job_free(j);
}

void update_status(struct daemon *d)
{
	struct status_endpoint eps[STATUS_ENDPOINTS_MAX];
	char buf[STATUS_MAX];
	struct status_counts c = {
		.total = registry_size(&d->registry),
		.finished = d->registry.n_finished,
		.stalled = d->registry.n_stalled,
		.batches = d->indexing.batches,
		.documents_done = d->indexing.documents_done,
		.documents_total = d->indexing.documents_total,
		.in_flight = d->poller.in_flight,
		.queued = d->poller.n_queued,
		.hooks_running = d->hooks.n_running,
		.hooks_queued = d->hooks.n_queued,
		.endpoints = eps,
		.state_failing = state_failing(d->state),
		.now_usec = now_realtime_usec(),
	};

	/* only the endpoints the line names; more than fit are cut anyway */
	for (size_t i = 0; i < d->registry.n_endpoints && c.n_endpoints < STATUS_ENDPOINTS_MAX;
	     i++) {
		const struct endpoint *e = d->registry.endpoints[i];
		bool no_key = e->conf && !e->headers && e->n_jobs > 0;
		if (e->in_trouble || no_key) {
			eps[c.n_endpoints++] = (struct status_endpoint){
				.name = e->name,
				.in_trouble = e->in_trouble,
				.trouble_text = e->trouble_text,
				.trouble_since_usec = e->trouble_since_usec,
				.no_key = no_key,
			};
		}
	}
	notify_status(&d->notify, status_format(buf, sizeof(buf), &c));
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

/* The progress of the indexing batches still watched, summed for STATUS=:
 * a walk over the registry, so only from the maintenance timer (the line is
 * at most a second behind) and only while there are indexing jobs. */
static void sum_indexing(struct daemon *d)
{
	d->indexing.batches = 0;
	d->indexing.documents_done = d->indexing.documents_total = 0;
	if (d->registry.n_indexing == 0) {
		return;
	}
	size_t i = 0;
	for (struct job *j; (j = registry_next(&d->registry, &i));) {
		const struct job_indexing *x = job_indexing(j);
		if (!x || !x->has_progress || job_is_finished(j)) {
			continue;
		}
		d->indexing.batches++;
		d->indexing.documents_done += x->documents_done;
		d->indexing.documents_total += x->documents_total;
	}
}

static void on_uv_maintenance(uv_timer_t *t)
{
	sum_indexing(t->data);
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

static void on_poll_stall_changed(void *userdata, struct job *j, bool stalled)
{
	struct daemon *d = userdata;
	registry_stall_changed(&d->registry, j, stalled);
	state_mark(d->state, j, STATE_DIRTY_URGENT);
}

static const struct poller_ops poller_ops = {
	.finished = on_poll_finished,
	.changed = on_poll_changed,
	.endpoint_changed = on_endpoint_changed,
	.stall_changed = on_poll_stall_changed,
};

/* --- endpoints and config --- */

void log_diags(const struct diag_list *l, const char *message_id)
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
			diag_list_done(&diags);
			continue;
		}
		log_diags(&diags, NULL); /* warnings: a key file others can read */
		diag_list_done(&diags);
		e->headers = http_headers_new(&ec->headers, key, &r);
		if (r == -EINVAL) {
			/* the key is not named: only that it cannot be sent */
			log_syntax(LOG_ERR, ec->file, ec->line,
				   "Endpoint '%s': the API key cannot be put into the header '%s'",
				   ec->name, authheader_template(&ec->headers));
			e->key_problem = strdup_or_null(
				"the API key cannot be put into its header (AuthHeader=)");
		} else if (!e->headers) {
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

usec_t job_deadline(const struct daemon *d, const struct job *j)
{
	usec_t timeout = poller_job_timeout(d->config, j);
	usec_t now_rt = now_realtime_usec(), now = now_monotonic_usec();
	usec_t end_rt = j->accepted_usec + timeout;

	if (timeout == USEC_INFINITY || end_rt < j->accepted_usec) {
		return USEC_INFINITY;
	}
	return end_rt <= now_rt ? now : now + (end_rt - now_rt);
}

void schedule_new(struct daemon *d, struct job *j)
{
	j->deadline_usec = job_deadline(d, j);
	poller_schedule(&d->poller, j, now_monotonic_usec());
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
	diag_list_done(&diags);
}

/* --- signals, reload, stop --- */

/* Load the configuration. why prefixes the one line that sums up a failure
 * ("Cannot start", "Not reloading"). */
static int load_config(struct daemon *d, const char *why, struct config **ret)
{
	struct diag_list diags = { 0 };
	int r = config_load_arg(d->opts->config_path, ret, &diags);

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
	diag_list_done(&diags);
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
		if (path && jobsdir_new(&d->loop, path, &daemon_jobsdir_ops, d, &nd) >= 0) {
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
		(void)jobsdir_new(&d->loop, d->jobs_dir, &daemon_jobsdir_ops, d, &d->jobsdir);
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
void on_uv_reload_idle(uv_idle_t *h)
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
void daemon_shutdown(struct daemon *d)
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
	/* Closing the last handle of a signal gives it back its default action,
	 * which for SIGHUP is to end the process: a reload asked for while we
	 * stop (a burst of SIGHUPs around a SIGTERM) must not turn a clean exit
	 * into death by signal. SIGHUP is blocked from before the close until
	 * it is ignored, so none lands in between (test_reload_burst hit that
	 * window once on a loaded machine). */
	sigset_t hup, old;
	sigemptyset(&hup);
	sigaddset(&hup, SIGHUP);
	(void)sigprocmask(SIG_BLOCK, &hup, &old);
	close_handle((uv_handle_t *)&d->sig_hup);
	(void)signal(SIGHUP, SIG_IGN);
	(void)sigprocmask(SIG_SETMASK, &old, NULL);
	jobsdir_free(d->jobsdir);
	d->jobsdir = NULL;
	poller_done(&d->poller);
	notify_done(&d->notify);
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
	scan_names_done(d);
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
	/* main.c resolved it (paths_state_dir()) */
	d->state_dir = strdup_or_null(d->opts->state_dir);
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

/* The start-up order, in one function so that it reads top to bottom:
 * config, directories, the lock, the state, sd_notify, handles, HTTP, poller,
 * hooks, endpoints, the jobs directory, the scan, the state rows, resume. */
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
	r = hook_runner_init(&d->hooks, &d->loop, d->config->hook_max_parallel, &daemon_hook_ops,
			     d);
	if (r < 0) {
		return r;
	}
	apply_endpoints(d, d->config);

	r = jobsdir_new(&d->loop, d->jobs_dir, &daemon_jobsdir_ops, d, &d->jobsdir);
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
		refused_file_done(&d->refused[i]);
	}
	free(d->refused);
	scan_names_done(d);
	free(d->unfiled);
	/* queued hooks may hold detached jobs: the runner hands them back */
	hook_runner_done(&d->hooks);

	/* every job out of the dirty list before the store goes */
	size_t i = 0;
	struct job *j;
	while (d->state && (j = registry_next(&d->registry, &i))) {
		state_unmark(d->state, j);
	}
	registry_done(&d->registry);
	state_free(d->state);
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
		poller_done(&d.poller);
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
