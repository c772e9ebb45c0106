/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The state store's read side (state-read.c): a row as stored, and a
 * read-only reader of STATE_DIR/state.db for jobwatchctl, safe while the
 * daemon writes (WAL). The writer, the daemon's, is state.h. No function
 * here logs but state_reader_rows(), which says what failed reading.
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "macro.h"

#define STATE_DB_NAME "state.db"

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
	/* schema 2 (kinds) */
	char *kind; /* kind_type_to_string(); 'annotation-reply' for older rows */
	char *dataset; /* document-indexing's Dataset= (lower case), "" otherwise */
	char *remote_status; /* the server's last status word, verbatim; NULL if none */
	char *progress; /* indexing: "D/T documents, S/U segments"; NULL otherwise */
	int64_t documents, documents_failed; /* indexing, at the outcome; -1 when NULL */
	usec_t status_changed_usec; /* CLOCK_REALTIME of the last change of remote
				     * status or progress (the stall clock); 0 if none */
	usec_t stalled_usec; /* when the current stall was announced; 0 = not stalled */
	char *trouble; /* the endpoint's trouble (jobwatchctl), or NULL */
	usec_t trouble_since_usec;
};
void state_row_done(struct state_row *r); /* accepts NULL; leaves r zeroed */
static inline void state_row_donep(struct state_row *r)
{
	state_row_done(r);
}

struct state_reader;
/* Open read-only; -ENOENT when there is no state file. */
int state_reader_open(const char *dir, struct state_reader **ret);
struct state_reader *state_reader_free(struct state_reader *r); /* accepts NULL */
DEFINE_TRIVIAL_CLEANUP_FUNC(struct state_reader *, state_reader_free);
/* Rows joined with their endpoint's trouble, ordered by accepted time. */
int state_reader_rows(struct state_reader *r,
		      int (*fn)(void *userdata, const struct state_row *row), void *userdata);
/* The row of one job id, the kind's own id (any endpoint/kind/action/dataset;
 * the newest if several). */
int state_reader_find(struct state_reader *r, const char *job_id, struct state_row *ret);
/* The daemon pid recorded, 0 if none. */
pid_t state_reader_daemon_pid(struct state_reader *r, usec_t *ret_started);
