/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>
#include <syslog.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

#include "escape.h"
#include "journal.h"
#include "log.h"
#include "string-util.h"
#include "timespan.h"

#define FIELD_MAX 32

struct fields {
	struct iovec iov[FIELD_MAX];
	char *owned[FIELD_MAX];
	size_t n;
	bool oom;
};

static void fields_add(struct fields *f, const char *key, const char *value)
{
	if (f->n >= FIELD_MAX) {
		return;
	}
	char *s = strjoin(key, "=", strempty(value));
	if (!s) {
		f->oom = true;
		return;
	}
	f->owned[f->n] = s;
	f->iov[f->n] = (struct iovec){ .iov_base = s, .iov_len = strlen(s) };
	f->n++;
}

static void fields_addf(struct fields *f, const char *key, const char *fmt, ...) _printf_(3, 4);
static void fields_addf(struct fields *f, const char *key, const char *fmt, ...)
{
	char buf[64];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fields_add(f, key, buf);
}

static void fields_free(struct fields *f)
{
	for (size_t i = 0; i < f->n; i++) {
		free(f->owned[i]);
	}
	f->n = 0;
}

/* Send, or on the console target (or if journald refuses) print MESSAGE. */
static int fields_send(struct fields *f, int priority, const char *message)
{
	int r = 0;

	if (log_get_target() == LOG_TARGET_JOURNAL && !f->oom) {
		r = sd_journal_sendv(f->iov, (int)f->n);
		if (r >= 0) {
			return 0;
		}
	}
	log_full(priority, "%s", message);
	return r;
}

/* What the job is, for MESSAGE: "Job ID (enable, endpoint 'E', 'DESC')" and
 * its like for each kind. */
static int format_subject(const struct journal_result *r, char *buf, size_t size)
{
	char desc[1100];

	if (!isempty(r->description)) {
		snprintf(desc, sizeof(desc), ", '%s'", r->description);
	} else {
		desc[0] = '\0';
	}
	if (r->user_kind) {
		/* "openai-batch job batch_abc on endpoint 'openai' ('nightly')" */
		return snprintf(buf, size, "%s job %s on endpoint '%s'%s%s%s", strempty(r->kind),
				r->job_id, r->endpoint, isempty(r->description) ? "" : " ('",
				strempty(r->description), isempty(r->description) ? "" : "')");
	}
	if (streq_ptr(r->kind, "document-indexing")) {
		return snprintf(buf, size, "Document batch %s of dataset %s on endpoint '%s'%s",
				r->job_id, strempty(r->dataset), r->endpoint, desc);
	}
	if (streq_ptr(r->kind, "workflow-run")) {
		return snprintf(buf, size, "Workflow run %s (endpoint '%s'%s)", r->job_id,
				r->endpoint, desc);
	}
	return snprintf(buf, size, "Job %s (%s, endpoint '%s'%s)", r->job_id, strempty(r->action),
			r->endpoint, desc);
}

/* Long (about 70 lines): one sentence, its outcome worded per kind. */
char *journal_format_result(const struct journal_result *r, char *buf, size_t size)
{
	char dur[TIMESPAN_MAX], what[256];
	bool tally = false; /* what ends in a tally ("20 documents indexed") */
	bool workflow = streq_ptr(r->kind, "workflow-run");
	bool indexing = streq_ptr(r->kind, "document-indexing");
	int n;

	timespan_format(dur, sizeof(dur), r->duration_usec);

	if (streq(r->status, "completed") && indexing && r->documents >= 0) {
		tally = true;
		snprintf(what, sizeof(what), "completed: %lld document%s indexed",
			 (long long)r->documents, r->documents == 1 ? "" : "s");
	} else if ((streq(r->status, "completed") || streq(r->status, "error")) && workflow &&
		   !isempty(r->remote_status)) {
		/* "succeeded (completed)", "partial-succeeded (completed)",
		 * "stopped (error)": the run's word, then the outcome */
		snprintf(what, sizeof(what), "%s (%s)", r->remote_status, r->status);
	} else if ((streq(r->status, "completed") || streq(r->status, "error")) && r->user_kind &&
		   !isempty(r->remote_status)) {
		/* the server's own word: "ended with an error (status 'expired')" */
		snprintf(what, sizeof(what), "%s (status '%s')",
			 streq(r->status, "completed") ? "completed" : "ended with an error",
			 r->remote_status);
	} else if (streq(r->status, "completed")) {
		snprintf(what, sizeof(what), "completed");
	} else if (streq(r->status, "error") && indexing && r->documents >= 0) {
		tally = true;
		snprintf(what, sizeof(what), "ended with errors: %lld of %lld document%s failed",
			 (long long)r->documents_failed, (long long)r->documents,
			 r->documents == 1 ? "" : "s");
	} else if (streq(r->status, "error")) {
		snprintf(what, sizeof(what), "ended with an error");
	} else if (streq(r->status, "expired") && r->user_kind) {
		snprintf(
			what, sizeof(what),
			"expired (the server no longer knows it: it answers with a GoneStatus= code)");
	} else if (streq(r->status, "unknown") && r->user_kind) {
		snprintf(
			what, sizeof(what),
			"is unknown to the server (never seen: a wrong JobID=, key, endpoint or StatusPath=?)");
	} else if (streq(r->status, "expired")) {
		/* DIFY.md: only annotation-reply results have a TTL; indexing
		 * statuses and runs live until deleted */
		snprintf(
			what, sizeof(what), "%s",
			indexing
				? "expired (Dify no longer knows it: its documents or dataset were deleted)"
			: workflow
				? "expired (Dify no longer knows it: the run was deleted or cleaned up)"
				: "expired (Dify no longer knows it: its result window passed)");
	} else if (streq(r->status, "unknown")) {
		snprintf(
			what, sizeof(what), "%s",
			indexing
				? "is unknown to Dify (never seen: wrong batch, dataset or endpoint?)"
			: workflow
				? "is unknown to Dify (never seen: wrong run id, app or endpoint?)"
				: "is unknown to Dify (never seen: a wrong job id, action, app or endpoint; polling disable for an enable job looks exactly like an unknown job)");
	} else if (streq(r->status, "timeout")) {
		snprintf(what, sizeof(what), "timed out");
	} else if (streq(r->status, "cancelled")) {
		snprintf(what, sizeof(what),
			 "was cancelled (its job file was removed or replaced)");
	} else {
		snprintf(what, sizeof(what), "%s", r->status);
	}

	n = format_subject(r, buf, size);
	if (n < 0 || (size_t)n >= size) {
		return buf;
	}
	/* a tally ("20 documents indexed") is set off by a comma */
	n += snprintf(buf + n, size - (size_t)n, " %s%s after %u poll%s in %s", what,
		      tally ? "," : "", r->polls, r->polls == 1 ? "" : "s", dur);
	if (n < 0 || (size_t)n >= size) {
		return buf;
	}
	if (!isempty(r->error)) {
		n += snprintf(buf + n, size - (size_t)n, ": %s", r->error);
	} else if (streq(r->status, "timeout") && !isempty(r->last_status)) {
		n += snprintf(buf + n, size - (size_t)n, "; last status '%s'", r->last_status);
	}
	/* one full stop: a server's error text often ends in its own */
	if ((size_t)n < size && (n == 0 || buf[n - 1] != '.')) {
		n += snprintf(buf + n, size - (size_t)n, ".");
	}
	if ((size_t)n < size && !isempty(r->note)) {
		snprintf(buf + n, size - (size_t)n, " %s", r->note);
	}
	return buf;
}

int journal_job_result(const struct journal_result *r)
{
	struct fields f = { 0 };
	char msg[2048], safe[2048];
	int ret;

	/* MESSAGE is for reading: escaped. JOB_ERROR, JOB_FILE, JOB_DESCRIPTION
	 * and JOB_LAST_STATUS keep the exact bytes for scripts. */
	journal_format_result(r, msg, sizeof(msg));
	escape_text_buf(safe, sizeof(safe), msg, strlen(msg));
	fields_add(&f, "MESSAGE", safe);
	fields_add(&f, "MESSAGE_ID", MESSAGE_ID_JOB_RESULT);
	fields_addf(&f, "PRIORITY", "%d", r->priority);
	fields_add(&f, "SYSLOG_IDENTIFIER", "jobwatchd");
	fields_add(&f, "JOB_ID", r->job_id);
	fields_add(&f, "JOB_KIND", r->kind ? r->kind : "annotation-reply");
	if (r->action) {
		fields_add(&f, "JOB_ACTION", r->action);
	}
	fields_add(&f, "JOB_STATUS", r->status);
	if (!isempty(r->error)) {
		fields_add(&f, "JOB_ERROR", r->error);
	}
	fields_add(&f, "JOB_ENDPOINT", r->endpoint);
	fields_add(&f, "JOB_FILE", r->file);
	fields_addf(&f, "JOB_POLLS", "%u", r->polls);
	fields_addf(&f, "JOB_DURATION_USEC", "%llu", (unsigned long long)r->duration_usec);
	if (!isempty(r->description)) {
		fields_add(&f, "JOB_DESCRIPTION", r->description);
	}
	if (!isempty(r->last_status)) {
		fields_add(&f, "JOB_LAST_STATUS", r->last_status);
	}
	if (!isempty(r->remote_status)) {
		fields_add(&f, "JOB_REMOTE_STATUS", r->remote_status);
	}
	if (r->dataset) {
		fields_add(&f, "JOB_DATASET_ID", r->dataset);
	}
	if (r->documents >= 0) {
		fields_addf(&f, "JOB_DOCUMENTS", "%lld", (long long)r->documents);
		fields_addf(&f, "JOB_DOCUMENTS_FAILED", "%lld", (long long)r->documents_failed);
	}
	ret = fields_send(&f, r->priority, safe);
	fields_free(&f);
	return ret;
}

const char *signal_to_name(int sig, char *buf, size_t size)
{
	const char *abbrev = sigabbrev_np(sig);
	if (abbrev) {
		snprintf(buf, size, "SIG%s", abbrev);
	} else {
		snprintf(buf, size, "SIG%d", sig);
	}
	return buf;
}

int journal_hook_exit(const char *job_id, const char *file, int exit_status, int signal,
		      int spawn_error, usec_t duration_usec, bool timed_out)
{
	struct fields f = { 0 };
	char msg[1024], dur[TIMESPAN_MAX], sig[32];
	int priority = LOG_INFO, ret;

	timespan_format(dur, sizeof(dur), duration_usec);
	bool unknown = spawn_error >= 0 && signal <= 0 && exit_status < 0;
	if (unknown) {
		priority = LOG_NOTICE;
		snprintf(
			msg, sizeof(msg),
			"Hook for job %s, started before jobwatchd restarted, has ended; its exit status is unknown.",
			job_id);
	} else if (spawn_error < 0) {
		priority = LOG_ERR;
		errno = -spawn_error;
		snprintf(msg, sizeof(msg), "Hook for job %s could not be started: %m.", job_id);
	} else if (signal > 0) {
		priority = LOG_WARNING;
		signal_to_name(signal, sig, sizeof(sig));
		snprintf(msg, sizeof(msg), "Hook for job %s was killed by %s after %s%s.", job_id,
			 sig, dur, timed_out ? " (it ran past its Timeout=)" : "");
	} else {
		priority = exit_status == 0 ? LOG_INFO : LOG_WARNING;
		snprintf(msg, sizeof(msg), "Hook for job %s exited with status %d after %s.",
			 job_id, exit_status, dur);
	}

	fields_add(&f, "MESSAGE", msg);
	fields_add(&f, "MESSAGE_ID", MESSAGE_ID_HOOK_EXIT);
	fields_addf(&f, "PRIORITY", "%d", priority);
	fields_add(&f, "SYSLOG_IDENTIFIER", "jobwatchd");
	fields_add(&f, "JOB_ID", job_id);
	fields_add(&f, "JOB_FILE", file);
	if (unknown) {
		fields_add(&f, "HOOK_RESULT", "unknown");
	} else if (spawn_error < 0) {
		errno = -spawn_error;
		fields_addf(&f, "HOOK_ERROR", "%m");
		fields_addf(&f, "ERRNO", "%d", -spawn_error);
	} else if (signal > 0) {
		fields_add(&f, "HOOK_SIGNAL", signal_to_name(signal, sig, sizeof(sig)));
	} else {
		fields_addf(&f, "HOOK_EXIT_STATUS", "%d", exit_status);
	}
	if (timed_out) {
		fields_add(&f, "HOOK_TIMED_OUT", "1");
	}
	if (!unknown) {
		fields_addf(&f, "HOOK_DURATION_USEC", "%llu", (unsigned long long)duration_usec);
	}
	ret = fields_send(&f, priority, msg);
	fields_free(&f);
	return ret;
}

void journal_hook_line(const char *job_id, bool is_stderr, const char *line, size_t len)
{
	struct iovec iov[6];
	char prio[16], *msg, *jid;
	int priority = is_stderr ? LOG_WARNING : LOG_INFO;
	size_t n;

	/* A hook's output is text from outside: MESSAGE gets it escaped. */
	n = escape_length(line, len);
	msg = malloc(n + sizeof("MESSAGE="));
	jid = strjoin("JOB_ID=", job_id);
	if (!msg || !jid) {
		free(msg);
		free(jid);
		return;
	}
	memcpy(msg, "MESSAGE=", 8);
	escape_text_buf(msg + 8, n + 1, line, len);
	len = n;

	if (log_get_target() != LOG_TARGET_JOURNAL) {
		log_full(priority, "hook %s: %s", job_id, msg + 8);
		goto out;
	}
	snprintf(prio, sizeof(prio), "PRIORITY=%d", priority);
	iov[0] = (struct iovec){ msg, 8 + len };
	iov[1] = (struct iovec){ prio, strlen(prio) };
	iov[2] = (struct iovec){ jid, strlen(jid) };
	iov[3] = (struct iovec){ (void *)"MESSAGE_ID=" MESSAGE_ID_HOOK_OUTPUT,
				 strlen("MESSAGE_ID=" MESSAGE_ID_HOOK_OUTPUT) };
	iov[4] = (struct iovec){ (void *)"SYSLOG_IDENTIFIER=jobwatchd",
				 strlen("SYSLOG_IDENTIFIER=jobwatchd") };
	iov[5] = is_stderr ? (struct iovec){ (void *)"HOOK_STREAM=stderr", 18 }
			   : (struct iovec){ (void *)"HOOK_STREAM=stdout", 18 };
	if (sd_journal_sendv(iov, 6) < 0) {
		log_full(priority, "hook %s: %s", job_id, msg + 8);
	}
out:
	free(msg);
	free(jid);
}
