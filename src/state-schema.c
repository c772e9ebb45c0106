/* SPDX-License-Identifier: MIT */
/* The state file's schema: created on a new file, a version 1 file migrated
 * in place (state-sql.h says what each version is). The writer's business:
 * jobwatchctl never changes the file. */
#include <errno.h>
#include <stdio.h>

#include "log.h"
#include "state-sql.h"

/* The schema version the file says it has: 0 for a new file (no meta table
 * or no row), or a negative SQLite result code. */
static int schema_version(sqlite3 *db)
{
	sqlite3_stmt *st = NULL;
	int rc, v = 0;

	rc = sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = 'schema'", -1, &st, NULL);
	if (rc != SQLITE_OK) {
		/* no meta table: a new file */
		return sqlite3_errcode(db) == SQLITE_ERROR ? 0 : -rc;
	}
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		v = sqlite3_column_int(st, 0);
	} else if (rc != SQLITE_DONE) {
		v = -rc;
	}
	sqlite3_finalize(st);
	return v;
}

/*
 * Version 1 to 2 (job kinds), in place and in one transaction: a new jobs
 * table with the kind columns, every row copied (kind 'annotation-reply',
 * dataset ''), the old one dropped, the new one renamed, the version written.
 * A failure rolls everything back and leaves the version 1 file as it was.
 */
static int migrate_v1(sqlite3 *db)
{
	int rc = state_exec_sql(db, "BEGIN IMMEDIATE;");
	if (rc == SQLITE_OK) {
		rc = state_exec_sql(
			db,
			"DROP TABLE IF EXISTS jobs_v2;" STATE_JOBS_TABLE_SQL(
				"jobs_v2") "INSERT INTO jobs_v2 (" STATE_V1_JOBS_COLUMNS
					   ", kind, dataset)"
					   " SELECT " STATE_V1_JOBS_COLUMNS
					   ", 'annotation-reply', ''"
					   " FROM jobs;"
					   "DROP TABLE jobs;"
					   "ALTER TABLE jobs_v2 RENAME TO jobs;"
					   "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema', '2');"
					   "COMMIT;");
		if (rc != SQLITE_OK) {
			(void)state_exec_sql(db, "ROLLBACK;");
		}
	}
	return rc;
}

int state_schema_setup(sqlite3 *db, const char *path)
{
	int v = schema_version(db), rc;

	if (v < 0) {
		return log_error_errno(state_sqlite_errno(-v),
				       "Failed to read the state file '%s': %s", path,
				       sqlite3_errstr(-v));
	}
	if (v > STATE_SCHEMA_VERSION) {
		return log_error_errno(
			-EPROTONOSUPPORT,
			"The state file '%s' has schema version %d, written by a newer jobwatchd; this one knows version %d and leaves it alone.",
			path, v, STATE_SCHEMA_VERSION);
	}
	if (v == 1) {
		rc = migrate_v1(db);
		if (rc != SQLITE_OK) {
			return log_error_errno(
				state_sqlite_errno(rc),
				"Failed to migrate the state file '%s' to version %d: %s", path,
				STATE_SCHEMA_VERSION, sqlite3_errmsg(db));
		}
		log_info("Migrated the state file '%s' to version %d (job kinds).", path,
			 STATE_SCHEMA_VERSION);
	}
	rc = state_exec_sql(db, STATE_SCHEMA_SQL);
	if (rc == SQLITE_OK) {
		char ver[128];
		snprintf(ver, sizeof(ver),
			 "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema', '%d');",
			 STATE_SCHEMA_VERSION);
		rc = state_exec_sql(db, ver);
	}
	if (rc != SQLITE_OK) {
		return log_error_errno(state_sqlite_errno(rc),
				       "Failed to set up the state file '%s': %s", path,
				       sqlite3_errmsg(db));
	}
	return 0;
}
