/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The durable store: SQLite in WAL mode at STATE_DIR/state.db, one row per
 * job (keyed by endpoint, kind, action, dataset, id: state-sql.h) and one per endpoint in trouble.
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
 * jobwatchctl reads the same file through state-read.h, read-only; WAL lets
 * it read while the daemon writes. struct state_row is declared there.
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "job.h"
#include "macro.h"
#include "process-util.h" /* process_start_time(): daemon.c finds it here for now */
#include "state-read.h"

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

struct state;

/* Open or create STATE_DIR/state.db. Failure is logged; returns negative errno. */
int state_open(const char *dir, struct state **ret);
struct state *state_free(struct state *s); /* accepts NULL; does not flush */

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
/* The same for a row as loaded (its identity columns: endpoint, kind,
 * action, dataset, job_id). */
int state_forget_row(struct state *s, const struct state_row *row);

/* Record an endpoint's trouble (NULL text: none). Batched as urgent. */
int state_set_endpoint_trouble(struct state *s, const char *endpoint, const char *text,
			       usec_t since_usec);

/* The daemon's pid and start time, for `jobwatchctl list`. */
int state_set_daemon(struct state *s, pid_t pid, usec_t started_usec);
