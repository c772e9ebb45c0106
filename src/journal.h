/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Structured journal entries with fixed MESSAGE_IDs. Every MESSAGE_ID the
 * daemon uses is defined here, and each one is explained in
 * systemd/jobwatch.catalog. On the console target the same entries are
 * printed as one readable line each.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"

/* A job reached a terminal outcome: one entry per job. */
#define MESSAGE_ID_JOB_RESULT "a39a5dfed5e2428daa11a29b4bba0de2"
/* A hook run ended (exit status, signal, or failure to start). */
#define MESSAGE_ID_HOOK_EXIT "1caff9731d274b33a83ebcc182c7cc51"
/* One line a hook printed on stdout or stderr. */
#define MESSAGE_ID_HOOK_OUTPUT "11a9ad878bc143e48d409d7019067f13"
/* Polling an endpoint started failing (401, 429, 5xx, network, bad bodies). */
#define MESSAGE_ID_ENDPOINT_TROUBLE "a7269768b97e425c852659c6811be1c2"
/* An endpoint answers properly again. */
#define MESSAGE_ID_ENDPOINT_RECOVERED "d170ee79643644feb29c8a43a496bc0e"
/* A job file was rejected (FILE:LINE: message). */
#define MESSAGE_ID_JOB_FILE_INVALID "3a2a5bbed42b4498a24219f52e0b9205"
/* The state directory cannot be written (disk full, read-only, ...) or works again. */
#define MESSAGE_ID_STATE_TROUBLE "0ddf7c7028c0409082cd02ab5a8d4c87"
/* A job was accepted and is now watched. */
#define MESSAGE_ID_JOB_ACCEPTED "e0c42d637b604df4b9b3a834559c8124"
/* One job's own answers started failing (its 5xx with Dify's JSON body, its
 * malformed or oversized 200s) while other jobs of the endpoint are fine. */
#define MESSAGE_ID_JOB_TROUBLE "2f0be04248444af5afa460af86fdf961"
/* That job answers properly again. */
#define MESSAGE_ID_JOB_RECOVERED "27aa5e1c9a5449d5bd5d9547d1b0c15d"
/* A job's remote status (and progress) has not changed for StallAfter=: one
 * warning per stall, with JOB_STALLED_USEC and JOB_REMOTE_STATUS. */
#define MESSAGE_ID_JOB_STALLED "47ea85c72daa471e8b7439b07093d08d"
/* That job's status or progress changed again after its stall warning. */
#define MESSAGE_ID_JOB_MOVING "c9fe9309e32c4b369179cea82b853c00"

struct journal_result {
	const char *job_id; /* the kind's own id: a lower-case UUID, a batch, a JobID= text */
	const char *kind; /* job_kind_name(); NULL: annotation-reply */
	bool user_kind; /* kind is a [Kind:NAME] of the configuration, not Dify's */
	const char *action; /* "enable" | "disable"; NULL for kinds without Action= */
	const char *dataset; /* document-indexing's dataset, else NULL */
	int64_t documents, documents_failed; /* document-indexing's tally, -1: none */
	const char *endpoint; /* endpoint name ("default" for [Endpoint]) */
	const char *file; /* full path of the job file */
	const char *description; /* may be NULL or "" */
	const char *status; /* outcome: completed, error, expired, unknown, timeout, cancelled */
	const char *error; /* error_msg; may be NULL or "" (no JOB_ERROR field then) */
	/* JOB_LAST_STATUS: annotation-reply's last job_status as before kinds
	 * ("other" for a word it does not know), the remote word for other
	 * kinds; may be NULL */
	const char *last_status;
	const char *remote_status; /* JOB_REMOTE_STATUS: the server's last word, verbatim */
	const char *note; /* an extra sentence for MESSAGE, may be NULL */
	unsigned polls;
	usec_t duration_usec; /* since first accepted */
	int priority; /* syslog priority of the outcome */
};

/*
 * Write a job's result entry. Fields: MESSAGE_ID, MESSAGE (one sentence),
 * PRIORITY, SYSLOG_IDENTIFIER, JOB_ID, JOB_KIND, JOB_ACTION (annotation-reply
 * only), JOB_STATUS, JOB_ERROR (when non-empty), JOB_ENDPOINT, JOB_FILE,
 * JOB_POLLS, JOB_DURATION_USEC, plus JOB_DESCRIPTION, JOB_LAST_STATUS and
 * JOB_REMOTE_STATUS when known, and for
 * document-indexing JOB_DATASET_ID, JOB_DOCUMENTS and JOB_DOCUMENTS_FAILED
 * (the last two when an answer told them). MESSAGE is escaped (escape.h);
 * JOB_ERROR, JOB_FILE, JOB_DESCRIPTION and the status words keep the exact
 * bytes for scripts. Returns 0, or a negative errno when the
 * journal refused it (it is printed to stderr then).
 */
int journal_job_result(const struct journal_result *r);

/* The MESSAGE sentence of a result entry, into buf. Returns buf. */
char *journal_format_result(const struct journal_result *r, char *buf, size_t size);

/*
 * A hook run ended: exactly one of exit_status >= 0 (HOOK_EXIT_STATUS) or
 * signal > 0 (HOOK_SIGNAL=SIGTERM style) or spawn_error < 0 (it could not be
 * started; HOOK_ERROR) applies. HOOK_DURATION_USEC is its run time. With none
 * of them (exit_status < 0, signal 0, spawn_error 0) the hook was started by
 * an earlier daemon and only its end was seen: HOOK_RESULT=unknown, and no
 * duration.
 */
int journal_hook_exit(const char *job_id, const char *file, int exit_status, int signal,
		      int spawn_error, usec_t duration_usec, bool timed_out);

/* One line of hook output, with JOB_ID; stderr lines at warning priority.
 * The line is escaped (escape.h) in MESSAGE. */
void journal_hook_line(const char *job_id, bool is_stderr, const char *line, size_t len);

/* "SIGTERM" for SIGTERM etc.; "SIG<n>" style for unknown numbers, into buf. */
const char *signal_to_name(int sig, char *buf, size_t size);
