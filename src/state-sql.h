/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Inside the state store, shared by its writer (state.c, the daemon's) and
 * its reader (state-read.c, also jobwatchctl's): the schema, the columns of
 * a row, and the helpers both sides use. Not for anyone else.
 */

#include <sqlite3.h>
#include <stdbool.h>

#include "state-read.h"

/*
 * Version 2 (job kinds) keys a job by (endpoint, kind, action, dataset,
 * job_id): action is '' for kinds without Action=, dataset '' for kinds
 * without Dataset=, job_id the kind's own id (kind.h). A user kind's row
 * ([Kind:NAME], userkind.h) has kind NAME, action '', job_id the JobID=
 * text and in dataset the kind's other id fields: the "Key=value" lines of
 * its identity text joined by "\n" ('' when it has none), from which
 * daemon-restore.c builds the identity again. A version 1 file is
 * migrated in place by state_open() (state.c), in one transaction; its rows
 * become kind 'annotation-reply', dataset ''.
 */
#define STATE_SCHEMA_VERSION 2

/* The jobs table, under the name given (the migration builds it aside). */
#define STATE_JOBS_TABLE_SQL(name)                                                                 \
	"CREATE TABLE IF NOT EXISTS " name " ("                                                    \
	"  endpoint TEXT NOT NULL,"                                                                \
	"  action TEXT NOT NULL,"                                                                  \
	"  job_id TEXT NOT NULL,"                                                                  \
	"  file TEXT NOT NULL,"                                                                    \
	"  description TEXT,"                                                                      \
	"  accepted_usec INTEGER NOT NULL,"                                                        \
	"  polls INTEGER NOT NULL DEFAULT 0,"                                                      \
	"  seen_alive INTEGER NOT NULL DEFAULT 0,"                                                 \
	"  gone_count INTEGER NOT NULL DEFAULT 0,"                                                 \
	"  last_status TEXT,"                                                                      \
	"  last_status_usec INTEGER,"                                                              \
	"  outcome TEXT,"                                                                          \
	"  finished_usec INTEGER,"                                                                 \
	"  error_msg TEXT,"                                                                        \
	"  body BLOB,"                                                                             \
	"  journaled INTEGER NOT NULL DEFAULT 0,"                                                  \
	"  hook_state INTEGER NOT NULL DEFAULT 0,"                                                 \
	"  hook_pid INTEGER,"                                                                      \
	"  hook_pid_start INTEGER,"                                                                \
	"  updated_usec INTEGER NOT NULL,"                                                         \
	"  kind TEXT NOT NULL DEFAULT 'annotation-reply',"                                         \
	"  dataset TEXT NOT NULL DEFAULT '',"                                                      \
	"  remote_status TEXT,"                                                                    \
	"  progress TEXT,"                                                                         \
	"  documents INTEGER,"                                                                     \
	"  documents_failed INTEGER,"                                                              \
	"  status_changed_usec INTEGER,"                                                           \
	"  stalled_usec INTEGER,"                                                                  \
	"  PRIMARY KEY (endpoint, kind, action, dataset, job_id)) WITHOUT ROWID;"

/* The columns a version 1 jobs table had, all kept by the migration. */
#define STATE_V1_JOBS_COLUMNS                                                                      \
	"endpoint, action, job_id, file, description, accepted_usec, polls, seen_alive,"           \
	" gone_count, last_status, last_status_usec, outcome, finished_usec, error_msg, body,"     \
	" journaled, hook_state, hook_pid, hook_pid_start, updated_usec"

#define STATE_SCHEMA_SQL                                                                           \
	"CREATE TABLE IF NOT EXISTS meta ("                                                        \
	"  key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID;" STATE_JOBS_TABLE_SQL(                 \
		"jobs") "CREATE TABLE IF NOT EXISTS endpoints ("                                   \
			"  name TEXT PRIMARY KEY,"                                                 \
			"  trouble TEXT,"                                                          \
			"  trouble_since_usec INTEGER,"                                            \
			"  updated_usec INTEGER NOT NULL) WITHOUT ROWID;"

/* The columns state_iterate_rows() reads, in its order, of "jobs j"; a
 * query may add e.trouble, e.trouble_since_usec of "endpoints e" after them
 * (columns STATE_ROW_N_COLUMNS and the next). */
#define STATE_ROW_COLUMNS                                                                          \
	"j.endpoint, j.action, j.job_id, j.file, j.description, j.accepted_usec, j.polls,"         \
	" j.seen_alive, j.gone_count, j.last_status, j.last_status_usec, j.outcome,"               \
	" j.finished_usec, j.error_msg, j.body, j.journaled, j.hook_state, j.hook_pid,"            \
	" j.hook_pid_start, j.kind, j.dataset, j.remote_status, j.progress, j.documents,"          \
	" j.documents_failed, j.status_changed_usec, j.stalled_usec"
#define STATE_ROW_N_COLUMNS 27

/* A SQLite result code as a negative errno. */
int state_sqlite_errno(int rc);

/* Run sql (no results); the SQLite result code, the failure logged at debug
 * level. */
int state_exec_sql(sqlite3 *db, const char *sql);

/* Bring the file to STATE_SCHEMA_VERSION: create the tables, or migrate a
 * version 1 file (state-schema.c, the writer's only). 0 or a negative errno,
 * logged naming path. */
int state_schema_setup(sqlite3 *db, const char *path);

/*
 * Run sql (SELECT STATE_ROW_COLUMNS [, e.trouble, e.trouble_since_usec] ...)
 * and call fn for every row (fn may keep nothing but copies); with_trouble
 * when the query has the two endpoint columns. A failure to read is logged
 * with path. Returns 0, fn's negative return, or a negative errno.
 */
int state_iterate_rows(sqlite3 *db, const char *sql, const char *path,
		       int (*fn)(void *userdata, const struct state_row *row), void *userdata,
		       bool with_trouble);
