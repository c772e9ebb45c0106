/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The durable store: SQLite in WAL mode at STATE_DIR/state.db, one row per
 * job (keyed by endpoint, action, id) and one per endpoint in trouble.
 *
 * Writes from the daemon are batched: jobs are marked dirty, and
 * state_flush() writes them in one transaction (at most STATE_FLUSH_ROWS rows)
 * per loop turn. A batch that holds an outcome is committed with
 * synchronous=FULL (on disk before the job is reported and its hook starts),
 * at most once per STATE_SYNC_GAP_USEC so that a burst of outcomes shares
 * its fsyncs; the rest with NORMAL (safe against kill -9, not power loss).
 * Mere poll counts are written at most once per STATE_LAZY_FLUSH_USEC.
 * Single-row marks that bound repeats after a crash (journaled, hook started,
 * hook done) are written at once: "journaled" as one line appended to
 * STATE_ACKS_NAME (a write(), where a transaction costs ten system calls),
 * which reaches the database with the job's next batch and is replayed into
 * it at start-up; the hook marks as single-row transactions.
 *
 * When writing fails (disk full, read-only), the error is logged once, the
 * dirty set is kept in memory, and state_flush retries every
 * STATE_RETRY_USEC; recovery is logged too.
 *
 * jobwatchctl reads the same file through state_read_*(), read-only; WAL lets
 * it read while the daemon writes.
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "job.h"
#include "macro.h"

#define STATE_DB_NAME "state.db"
/* Append-only "journaled" marks, folded into the database (see state.c). */
#define STATE_ACKS_NAME "journaled.log"
#define STATE_LAZY_FLUSH_USEC (5 * USEC_PER_SEC) /* poll counts, last seen alive */
#define STATE_SYNC_GAP_USEC (25 * USEC_PER_MSEC) /* group commit of outcomes */
#define STATE_FLUSH_ROWS 4096 /* rows per transaction (loop stays responsive) */
#define STATE_RETRY_USEC (2 * USEC_PER_SEC)

enum state_dirty {
	STATE_CLEAN,
	STATE_DIRTY_LAZY, /* polls and the like: written within a second */
	STATE_DIRTY_URGENT, /* new job, status change: written this loop turn */
	STATE_DIRTY_SYNC, /* an outcome: written this turn, synced to disk */
};

enum state_hook {
	STATE_HOOK_PENDING, /* not run yet (or no outcome yet) */
	STATE_HOOK_RUNNING, /* started as hook_pid, end not seen */
	STATE_HOOK_DONE, /* ran, or none was due */
};

/* One row, as loaded at start-up or read by jobwatchctl. Strings owned. */
struct state_row {
	char *endpoint;
	char *action;
	char *job_id;
	char *file;
	char *description;
	usec_t accepted_usec;
	unsigned polls;
	bool seen_alive;
	unsigned gone_count;
	char *last_status; /* NULL if none */
	usec_t last_status_usec;
	char *outcome; /* NULL while pending */
	usec_t finished_usec;
	char *error_msg;
	void *body;
	size_t body_len;
	bool journaled;
	enum state_hook hook_state;
	pid_t hook_pid;
	uint64_t hook_pid_start; /* /proc/PID/stat starttime, to recognise the process */
	char *trouble; /* the endpoint's trouble (jobwatchctl), or NULL */
	usec_t trouble_since_usec;
};
void state_row_done(struct state_row *r);

struct state;

/* Open or create STATE_DIR/state.db. Failure is logged; returns negative errno. */
int state_open(const char *dir, struct state **ret);
void state_close(struct state *s); /* accepts NULL; does not flush */

/* Call fn for every stored row (fn may keep nothing but copies). */
int state_load(struct state *s, int (*fn)(void *userdata, const struct state_row *row),
	       void *userdata);

/* Mark j dirty at least at level d. */
void state_mark(struct state *s, struct job *j, enum state_dirty d);
/* j is about to be freed: forget its dirty mark (nothing is written). */
void state_unmark(struct state *s, struct job *j);

/*
 * Write what is due (see state_flush_due_usec()), one batch; force writes
 * everything now (shutdown). Returns 0 when the batch (or nothing) was
 * written, -EAGAIN while waiting to retry after a failure, or the write error.
 */
int state_flush(struct state *s, bool force);

/* When state_flush() has something to do (CLOCK_MONOTONIC): 0 for now,
 * USEC_INFINITY for nothing. The daemon wakes up for it. */
usec_t state_flush_due_usec(const struct state *s);

/* True while there are urgent (or sync) marks not yet written. */
bool state_has_urgent(const struct state *s);
/* True while writing fails. */
bool state_failing(const struct state *s);

/* Immediate single-row writes; on failure j is marked dirty for a retry. */
int state_mark_journaled(struct state *s, struct job *j);
int state_mark_hook(struct state *s, struct job *j, enum state_hook h, pid_t pid,
		    uint64_t pid_start);
/* Delete j's row now (or at the next successful flush). */
int state_forget(struct state *s, struct job *j);
int state_forget_row(struct state *s, const char *endpoint, const char *action, const char *job_id);

/* Record an endpoint's trouble (NULL text: none). Batched as urgent. */
int state_set_endpoint_trouble(struct state *s, const char *endpoint, const char *text,
			       usec_t since_usec);

/* The daemon's pid and start time, for `jobwatchctl list`. */
int state_set_daemon(struct state *s, pid_t pid, usec_t started_usec);

/* --- read-only access for jobwatchctl --- */
struct state_reader;
/* Open read-only; -ENOENT when there is no state file. */
int state_reader_open(const char *dir, struct state_reader **ret);
void state_reader_close(struct state_reader *r);
/* Rows joined with their endpoint's trouble, ordered by accepted time. */
int state_reader_rows(struct state_reader *r,
		      int (*fn)(void *userdata, const struct state_row *row), void *userdata);
/* The row of one job id (any endpoint/action; the newest if several). */
int state_reader_find(struct state_reader *r, const char *job_id, struct state_row *ret);
/* The daemon pid recorded, 0 if none. */
pid_t state_reader_daemon_pid(struct state_reader *r, usec_t *ret_started);

/* /proc/PID/stat starttime of pid, or 0 if it does not exist or has ended
 * (a zombie). */
uint64_t process_start_time(pid_t pid);
