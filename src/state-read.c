/* SPDX-License-Identifier: MIT */
/*
 * The state store's read side: rows as struct state_row, and the read-only
 * reader jobwatchctl uses. The writer (state.c) reads its rows at start-up
 * through state_iterate_rows() too.
 */
#include <errno.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "state-sql.h"
#include "string-util.h"

/* --- SQL helpers --- */

int state_exec_sql(sqlite3 *db, const char *sql)
{
	char *err = NULL;
	int rc = sqlite3_exec(db, sql, NULL, NULL, &err);
	if (rc != SQLITE_OK) {
		log_debug("SQL failed: %s", err ? err : sqlite3_errstr(rc));
	}
	sqlite3_free(err);
	return rc;
}

/* --- errors --- */

int state_sqlite_errno(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_READONLY:
	case SQLITE_PERM:
	case SQLITE_AUTH:
		return -EROFS;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_CANTOPEN:
		return -EACCES;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return -EBADMSG;
	default:
		return -EIO;
	}
}

/* --- rows --- */

void state_row_done(struct state_row *r)
{
	if (!r) {
		return;
	}
	free(r->endpoint);
	free(r->action);
	free(r->job_id);
	free(r->file);
	free(r->description);
	free(r->last_status);
	free(r->outcome);
	free(r->error_msg);
	free(r->body);
	free(r->kind);
	free(r->dataset);
	free(r->remote_status);
	free(r->progress);
	free(r->trouble);
	*r = (struct state_row){ 0 };
}

static char *column_text(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	return t ? strdup_or_null((const char *)t) : NULL;
}

static int64_t column_int_or(sqlite3_stmt *st, int i, int64_t null_value)
{
	return sqlite3_column_type(st, i) == SQLITE_NULL ? null_value
							 : (int64_t)sqlite3_column_int64(st, i);
}

static int read_row(sqlite3_stmt *st, struct state_row *r)
{
	*r = (struct state_row){
		.endpoint = column_text(st, 0),
		.action = column_text(st, 1),
		.job_id = column_text(st, 2),
		.file = column_text(st, 3),
		.description = column_text(st, 4),
		.accepted_usec = (usec_t)sqlite3_column_int64(st, 5),
		.polls = (unsigned)sqlite3_column_int64(st, 6),
		.seen_alive = sqlite3_column_int(st, 7) != 0,
		.gone_count = (unsigned)sqlite3_column_int(st, 8),
		.last_status = column_text(st, 9),
		.last_status_usec = (usec_t)sqlite3_column_int64(st, 10),
		.outcome = column_text(st, 11),
		.finished_usec = (usec_t)sqlite3_column_int64(st, 12),
		.error_msg = column_text(st, 13),
		.journaled = sqlite3_column_int(st, 15) != 0,
		.hook_state = (enum state_hook)sqlite3_column_int(st, 16),
		.hook_pid = (pid_t)sqlite3_column_int64(st, 17),
		.hook_pid_start = (uint64_t)sqlite3_column_int64(st, 18),
		.kind = column_text(st, 19),
		.dataset = column_text(st, 20),
		.remote_status = column_text(st, 21),
		.progress = column_text(st, 22),
		.documents = column_int_or(st, 23, -1),
		.documents_failed = column_int_or(st, 24, -1),
		.status_changed_usec = (usec_t)sqlite3_column_int64(st, 25),
		.stalled_usec = (usec_t)sqlite3_column_int64(st, 26),
	};
	int blen = sqlite3_column_bytes(st, 14);
	const void *b = sqlite3_column_blob(st, 14);
	if (b && blen > 0) {
		r->body = malloc((size_t)blen);
		if (r->body) {
			memcpy(r->body, b, (size_t)blen);
			r->body_len = (size_t)blen;
		}
	}
	if (!r->endpoint || !r->action || !r->job_id || !r->file || !r->kind || !r->dataset) {
		state_row_done(r);
		return -ENOMEM;
	}
	return 0;
}

int state_iterate_rows(sqlite3 *db, const char *sql, const char *path,
		       int (*fn)(void *userdata, const struct state_row *row), void *userdata,
		       bool with_trouble)
{
	sqlite3_stmt *st = NULL;
	int rc, r = 0;

	rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK) {
		return log_error_errno(state_sqlite_errno(rc),
				       "Failed to read the state file '%s': %s", path,
				       sqlite3_errmsg(db));
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct state_row row;
		r = read_row(st, &row);
		if (r < 0) {
			break;
		}
		if (with_trouble) {
			row.trouble = column_text(st, STATE_ROW_N_COLUMNS);
			row.trouble_since_usec =
				(usec_t)sqlite3_column_int64(st, STATE_ROW_N_COLUMNS + 1);
		}
		r = fn(userdata, &row);
		state_row_done(&row);
		if (r < 0) {
			break;
		}
	}
	if (r >= 0 && rc != SQLITE_DONE) {
		r = log_error_errno(state_sqlite_errno(rc),
				    "Failed to read the state file '%s': %s", path,
				    sqlite3_errmsg(db));
	}
	sqlite3_finalize(st);
	return r;
}

/* --- reader --- */

struct state_reader {
	sqlite3 *db;
	char *path;
};

int state_reader_open(const char *dir, struct state_reader **ret)
{
	struct state_reader *r = calloc(1, sizeof(*r));
	int rc;

	if (!r) {
		return -ENOMEM;
	}
	r->path = strjoin(dir, "/", STATE_DB_NAME);
	if (!r->path) {
		free(r);
		return -ENOMEM;
	}
	if (access(r->path, F_OK) < 0) {
		int e = -errno;
		state_reader_free(r);
		return e;
	}
	rc = sqlite3_open_v2(r->path, &r->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		state_reader_free(r);
		return state_sqlite_errno(rc);
	}
	(void)sqlite3_busy_timeout(r->db, 2000);
	*ret = r;
	return 0;
}

struct state_reader *state_reader_free(struct state_reader *r)
{
	if (!r) {
		return NULL;
	}
	if (r->db) {
		(void)sqlite3_close_v2(r->db);
	}
	free(r->path);
	free(r);
	return NULL;
}

int state_reader_rows(struct state_reader *r,
		      int (*fn)(void *userdata, const struct state_row *row), void *userdata)
{
	return state_iterate_rows(r->db,
				  "SELECT " STATE_ROW_COLUMNS
				  ", e.trouble, e.trouble_since_usec FROM jobs j"
				  " LEFT JOIN endpoints e ON e.name = j.endpoint"
				  " ORDER BY j.accepted_usec, j.job_id",
				  r->path, fn, userdata, true);
}

int state_reader_find(struct state_reader *r, const char *job_id, struct state_row *ret)
{
	sqlite3_stmt *st = NULL;
	int rc, k = -ENOENT;

	*ret = (struct state_row){ 0 };
	rc = sqlite3_prepare_v2(r->db,
				"SELECT " STATE_ROW_COLUMNS
				", e.trouble, e.trouble_since_usec FROM jobs j"
				" LEFT JOIN endpoints e ON e.name = j.endpoint"
				" WHERE j.job_id = ?1 ORDER BY j.accepted_usec DESC LIMIT 1",
				-1, &st, NULL);
	if (rc != SQLITE_OK) {
		return state_sqlite_errno(rc);
	}
	(void)sqlite3_bind_text(st, 1, job_id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		k = read_row(st, ret);
		if (k >= 0) {
			ret->trouble = column_text(st, STATE_ROW_N_COLUMNS);
			ret->trouble_since_usec =
				(usec_t)sqlite3_column_int64(st, STATE_ROW_N_COLUMNS + 1);
		}
	} else if (rc != SQLITE_DONE) {
		k = state_sqlite_errno(rc);
	}
	sqlite3_finalize(st);
	return k;
}

pid_t state_reader_daemon_pid(struct state_reader *r, usec_t *ret_started)
{
	sqlite3_stmt *st = NULL;
	pid_t pid = 0;

	if (ret_started) {
		*ret_started = 0;
	}
	if (sqlite3_prepare_v2(r->db,
			       "SELECT key, value FROM meta WHERE key IN ('pid', 'started_usec')",
			       -1, &st, NULL) != SQLITE_OK) {
		return 0;
	}
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *k = (const char *)sqlite3_column_text(st, 0);
		if (k && streq(k, "pid")) {
			pid = (pid_t)sqlite3_column_int64(st, 1);
		} else if (k && ret_started) {
			*ret_started = (usec_t)sqlite3_column_int64(st, 1);
		}
	}
	sqlite3_finalize(st);
	return pid;
}
