/* SPDX-License-Identifier: MIT */
/*
 * The state store against a temporary database: jobs written through the
 * writer (state_mark + state_flush, the single-row marks) and read back
 * through the reader jobwatchctl uses (state-read.h) and through
 * state_load(); a reopen keeps everything (the "journaled" marks of the ack
 * file included); a database written by the current schema by someone else
 * is opened and loaded as it is. The hook states go through SQL as
 * STATE_HOOK_DONE, bound, so a change of the enum cannot make the SQL drift
 * from it unnoticed: these tests read the states back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "registry.h"
#include "state-sql.h"
#include "state-ack.h"
#include "state.h"
#include "string-util.h"
#include "userkind.h"
#include "uuid-util.h"
#include "test-helpers.h"

#define JOB_ID_1 "3c90c3cc-0d44-4b50-8888-8dd25736052a"
#define JOB_ID_2 "5b0c6f8e-1f2a-4c3d-9e4f-0123456789ab"

static struct endpoint ep = { .name = (char *)"default" };

static struct job *new_job(const char *ids, const char *file)
{
	struct job *j = job_new();

	assert_non_null(j);
	assert_int_equal(uuid_from_string(ids, j->id), 0); /* annotation-reply */
	j->action = JOB_ACTION_ENABLE;
	j->endpoint = &ep;
	j->file = strdup_or_null(file);
	j->description = strdup_or_null("a test job");
	j->accepted_usec = 1700000000000000ULL;
	assert_non_null(j->file);
	return j;
}

/* j has ended with outcome o and an answer body for its hook. */
static void finish_job(struct job *j, enum job_outcome o)
{
	j->outcome = (uint8_t)o;
	j->state = JOB_STATE_FINISHED;
	j->result = calloc(1, sizeof(*j->result));
	assert_non_null(j->result);
	j->result->finished_usec = j->accepted_usec + 5 * USEC_PER_SEC;
	j->result->error_msg = strdup_or_null("");
	j->result->body = strdup_or_null("{\"job_status\": \"completed\"}");
	j->result->body_len = strlen(j->result->body);
}

static void flush(struct state *s, struct job *j, enum state_dirty d)
{
	state_mark(s, j, d);
	assert_int_equal(state_flush(s, true), 0);
	assert_int_equal(j->dirty_idx, UINT32_MAX);
}

/* The row of ids as jobwatchctl reads it; -ENOENT when there is none. */
static int find(const char *ids, struct state_row *ret)
{
	_cleanup_(state_reader_freep) struct state_reader *r = NULL;

	assert_int_equal(state_reader_open(test_tmpdir, &r), 0);
	return state_reader_find(r, ids, ret);
}

static int count_row(void *userdata, const struct state_row *row)
{
	unsigned *n = userdata;

	(void)row;
	(*n)++;
	return 0;
}

static void test_reader_without_state(void **state)
{
	struct state_reader *r = NULL;

	(void)state;
	assert_int_equal(state_reader_open(test_tmpdir, &r), -ENOENT);
	assert_null(r);
}

/* A new job, a pending one with polls and a status, then its outcome. */
static void test_write_and_read(void **state)
{
	_cleanup_(state_row_donep) struct state_row row = { 0 };
	struct state *s = NULL;
	struct job *j = new_job(JOB_ID_1, "default-enable-1.job");

	(void)state;
	assert_int_equal(state_open(test_tmpdir, &s), 0);
	flush(s, j, STATE_DIRTY_URGENT);
	assert_int_equal(find(JOB_ID_1, &row), 0);
	assert_string_equal(row.endpoint, "default");
	assert_string_equal(row.action, "enable");
	assert_string_equal(row.job_id, JOB_ID_1);
	assert_string_equal(row.file, "default-enable-1.job");
	assert_string_equal(row.description, "a test job");
	assert_int_equal(row.accepted_usec, j->accepted_usec);
	assert_null(row.outcome);
	assert_null(row.last_status);
	assert_int_equal(row.hook_state, STATE_HOOK_PENDING);
	assert_false(row.journaled);
	state_row_done(&row);

	j->polls = 3;
	j->track.has_status = true;
	j->track.seen_alive = true;
	j->track.last_status = DIFY_STATUS_WAITING;
	j->last_alive_usec = j->accepted_usec + USEC_PER_SEC;
	flush(s, j, STATE_DIRTY_URGENT);
	assert_int_equal(find(JOB_ID_1, &row), 0);
	assert_int_equal(row.polls, 3);
	assert_true(row.seen_alive);
	assert_string_equal(row.last_status, "waiting");
	assert_null(row.outcome);
	state_row_done(&row);

	/* polls only: the narrow update */
	j->polls = 4;
	flush(s, j, STATE_DIRTY_LAZY);
	assert_int_equal(find(JOB_ID_1, &row), 0);
	assert_int_equal(row.polls, 4);
	state_row_done(&row);

	/* the outcome: kept with the body until the hook is done */
	finish_job(j, JOB_OUTCOME_COMPLETED);
	flush(s, j, STATE_DIRTY_SYNC);
	assert_int_equal(find(JOB_ID_1, &row), 0);
	assert_string_equal(row.outcome, "completed");
	assert_int_equal(row.finished_usec, j->result->finished_usec);
	assert_int_equal(row.body_len, j->result->body_len);
	assert_memory_equal(row.body, j->result->body, row.body_len);
	assert_int_equal(row.hook_state, STATE_HOOK_PENDING);

	state_free(s);
	job_free(j);
}

/* The hook's marks, single-row and through a batch: STATE_HOOK_DONE drops the
 * body and is never taken back by a later batch that does not know it. */
static void test_hook_marks(void **state)
{
	_cleanup_(state_row_donep) struct state_row row = { 0 };
	struct state *s = NULL;
	struct job *a = new_job(JOB_ID_1, "a.job"), *b = new_job(JOB_ID_2, "b.job");

	(void)state;
	assert_int_equal(state_open(test_tmpdir, &s), 0);
	finish_job(a, JOB_OUTCOME_ERROR);
	finish_job(b, JOB_OUTCOME_COMPLETED);
	flush(s, a, STATE_DIRTY_SYNC);
	flush(s, b, STATE_DIRTY_SYNC);

	/* a: running, then done, by the single-row marks */
	assert_int_equal(state_mark_hook(s, a, STATE_HOOK_RUNNING, 4242, 777), 0);
	assert_int_equal(find(JOB_ID_1, &row), 0);
	assert_int_equal(row.hook_state, STATE_HOOK_RUNNING);
	assert_int_equal(row.hook_pid, 4242);
	assert_int_equal(row.hook_pid_start, 777);
	assert_non_null(row.body);
	state_row_done(&row);
	assert_int_equal(state_mark_hook(s, a, STATE_HOOK_DONE, 0, 0), 0);
	assert_int_equal(find(JOB_ID_1, &row), 0);
	assert_int_equal(row.hook_state, STATE_HOOK_DONE);
	assert_null(row.body);
	state_row_done(&row);
	/* a batch written from a job that does not have the flag keeps DONE */
	a->polls = 9;
	flush(s, a, STATE_DIRTY_URGENT);
	assert_int_equal(find(JOB_ID_1, &row), 0);
	assert_int_equal(row.polls, 9);
	assert_int_equal(row.hook_state, STATE_HOOK_DONE);
	state_row_done(&row);

	/* b: done through a batch (the upsert), body dropped with it */
	b->flags |= JOB_FLAG_HOOK_DONE;
	flush(s, b, STATE_DIRTY_URGENT);
	assert_int_equal(find(JOB_ID_2, &row), 0);
	assert_int_equal(row.hook_state, STATE_HOOK_DONE);
	assert_null(row.body);
	state_row_done(&row);

	state_free(s);
	job_free(a);
	job_free(b);
}

/* Everything survives a close and a reopen: rows, the "journaled" mark
 * (which went to the ack file, not the database), trouble, the daemon's pid;
 * a forgotten job stays forgotten. */
static void test_reopen(void **state)
{
	_cleanup_(state_row_donep) struct state_row row = { 0 };
	_cleanup_(state_reader_freep) struct state_reader *r = NULL;
	struct state *s = NULL;
	struct job *a = new_job(JOB_ID_1, "a.job"), *b = new_job(JOB_ID_2, "b.job");
	usec_t started = 0;
	unsigned n = 0;

	(void)state;
	assert_int_equal(state_open(test_tmpdir, &s), 0);
	finish_job(a, JOB_OUTCOME_COMPLETED);
	flush(s, a, STATE_DIRTY_SYNC);
	flush(s, b, STATE_DIRTY_URGENT);
	assert_int_equal(state_mark_journaled(s, a), 0);
	assert_true(a->flags & JOB_FLAG_ACK_LOGGED);
	assert_int_equal(state_set_endpoint_trouble(s, "default", "HTTP 503", 1234), 0);
	assert_int_equal(state_set_daemon(s, 4321, 5678), 0);
	/* the mark is not in the database yet: a crash now would replay it */
	state_free(s);
	s = NULL;
	a->flags &= (uint16_t)~JOB_FLAG_ACK_LOGGED;
	a->dirty_idx = UINT32_MAX;
	b->dirty_idx = UINT32_MAX;

	assert_int_equal(state_open(test_tmpdir, &s), 0);
	assert_int_equal(state_load(s, count_row, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(find(JOB_ID_1, &row), 0);
	assert_true(row.journaled);
	assert_string_equal(row.outcome, "completed");
	assert_string_equal(row.trouble, "HTTP 503");
	assert_int_equal(row.trouble_since_usec, 1234);
	state_row_done(&row);
	assert_int_equal(state_reader_open(test_tmpdir, &r), 0);
	assert_int_equal(state_reader_daemon_pid(r, &started), 4321);
	assert_int_equal(started, 5678);
	n = 0;
	assert_int_equal(state_reader_rows(r, count_row, &n), 0);
	assert_int_equal(n, 2);

	assert_int_equal(state_forget(s, b), 0);
	state_free(s);
	assert_int_equal(find(JOB_ID_2, &row), -ENOENT);
	job_free(a);
	job_free(b);
}

static int load_one(void *userdata, const struct state_row *row)
{
	struct state_row *copy = userdata;

	copy->job_id = strdup_or_null(row->job_id);
	copy->outcome = strdup_or_null(row->outcome);
	copy->hook_state = row->hook_state;
	copy->journaled = row->journaled;
	copy->polls = row->polls;
	return 0;
}

/* A database another process wrote with the current schema (an older daemon
 * of the same schema version): opened without loss, its row loaded. */
static void test_current_schema_row(void **state)
{
	_cleanup_(state_row_donep) struct state_row row = { 0 };
	_cleanup_(freep) char *path = strjoin(test_tmpdir, "/", STATE_DB_NAME);
	struct state *s = NULL;
	sqlite3 *db = NULL;
	char sql[512];

	(void)state;
	assert_non_null(path);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, STATE_SCHEMA_SQL, NULL, NULL, NULL), SQLITE_OK);
	snprintf(sql, sizeof(sql),
		 "INSERT INTO meta (key, value) VALUES ('schema', '%d');"
		 "INSERT INTO jobs (endpoint, action, job_id, file, accepted_usec, polls, outcome,"
		 " journaled, hook_state, updated_usec) VALUES ('default', 'disable', '%s',"
		 " 'x.job', 1, 7, 'expired', 1, %d, 1);",
		 STATE_SCHEMA_VERSION, JOB_ID_2, (int)STATE_HOOK_DONE);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);

	assert_int_equal(state_open(test_tmpdir, &s), 0);
	assert_int_equal(state_load(s, load_one, &row), 0);
	assert_string_equal(row.job_id, JOB_ID_2);
	assert_string_equal(row.outcome, "expired");
	assert_int_equal(row.hook_state, STATE_HOOK_DONE);
	assert_true(row.journaled);
	assert_int_equal(row.polls, 7);
	state_free(s);
}

/* The rows state_load() gives, copied (up to 4). */
struct rows {
	struct state_row r[4];
	size_t n;
};

static int load_all(void *userdata, const struct state_row *row)
{
	struct rows *rows = userdata;
	struct state_row *c;

	assert_true(rows->n < ELEMENTSOF(rows->r));
	c = &rows->r[rows->n++];
	*c = (struct state_row){
		.endpoint = strdup_or_null(row->endpoint),
		.kind = strdup_or_null(row->kind),
		.action = strdup_or_null(row->action),
		.dataset = strdup_or_null(row->dataset),
		.job_id = strdup_or_null(row->job_id),
		.file = strdup_or_null(row->file),
		.outcome = row->outcome ? strdup_or_null(row->outcome) : NULL,
		.last_status = row->last_status ? strdup_or_null(row->last_status) : NULL,
		.remote_status = row->remote_status ? strdup_or_null(row->remote_status) : NULL,
		.progress = row->progress ? strdup_or_null(row->progress) : NULL,
		.documents = row->documents,
		.documents_failed = row->documents_failed,
		.stalled_usec = row->stalled_usec,
		.status_changed_usec = row->status_changed_usec,
		.polls = row->polls,
		.journaled = row->journaled,
		.hook_state = row->hook_state,
		.accepted_usec = row->accepted_usec,
	};
	if (row->body) {
		c->body = malloc(row->body_len);
		assert_non_null(c->body);
		memcpy(c->body, row->body, row->body_len);
		c->body_len = row->body_len;
	}
	return 0;
}

static void rows_done(struct rows *rows)
{
	for (size_t i = 0; i < rows->n; i++) {
		state_row_done(&rows->r[i]);
	}
}

static char *meta_schema(const char *path)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	char *v = NULL;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = 'schema'", -1,
					    &st, NULL),
			 SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW) {
		v = strdup_or_null((const char *)sqlite3_column_text(st, 0));
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

/*
 * A state file of version 1, as the daemon before kinds wrote it (its schema
 * spelled out here, not taken from state-sql.h), with a pending job, a
 * finished one whose hook is due, and a "journaled" mark of version 1's form
 * in the ack file: state_open() migrates it in place to version 2 without
 * losing a row or a column, and the migrated rows are written as usual.
 */
static void test_migrate_v1(void **state)
{
	_cleanup_(freep) char *path = strjoin(test_tmpdir, "/", STATE_DB_NAME);
	_cleanup_(freep) char *acks = strjoin(test_tmpdir, "/", STATE_ACKS_NAME);
	_cleanup_(freep) char *version = NULL;
	struct rows rows = { 0 };
	struct state *s = NULL;
	sqlite3 *db = NULL;
	char sql[2048];
	FILE *f;

	(void)state;
	assert_non_null(path);
	assert_non_null(acks);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	snprintf(
		sql, sizeof(sql),
		"CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID;"
		"CREATE TABLE jobs (endpoint TEXT NOT NULL, action TEXT NOT NULL,"
		" job_id TEXT NOT NULL, file TEXT NOT NULL, description TEXT,"
		" accepted_usec INTEGER NOT NULL, polls INTEGER NOT NULL DEFAULT 0,"
		" seen_alive INTEGER NOT NULL DEFAULT 0, gone_count INTEGER NOT NULL DEFAULT 0,"
		" last_status TEXT, last_status_usec INTEGER, outcome TEXT, finished_usec INTEGER,"
		" error_msg TEXT, body BLOB, journaled INTEGER NOT NULL DEFAULT 0,"
		" hook_state INTEGER NOT NULL DEFAULT 0, hook_pid INTEGER, hook_pid_start INTEGER,"
		" updated_usec INTEGER NOT NULL, PRIMARY KEY (endpoint, action, job_id))"
		" WITHOUT ROWID;"
		"CREATE TABLE endpoints (name TEXT PRIMARY KEY, trouble TEXT,"
		" trouble_since_usec INTEGER, updated_usec INTEGER NOT NULL) WITHOUT ROWID;"
		"INSERT INTO meta VALUES ('schema', '1');"
		"INSERT INTO jobs (endpoint, action, job_id, file, accepted_usec, polls, seen_alive,"
		" last_status, last_status_usec, updated_usec) VALUES ('default', 'enable', '%s',"
		" 'a.job', 11, 3, 1, 'processing', 12, 13);"
		"INSERT INTO jobs (endpoint, action, job_id, file, accepted_usec, polls, outcome,"
		" finished_usec, error_msg, body, journaled, hook_state, updated_usec) VALUES"
		" ('other', 'disable', '%s', 'b.job', 21, 9, 'error', 22, 'boom', X'7B7D', 0, %d,"
		" 23);",
		JOB_ID_1, JOB_ID_2, (int)STATE_HOOK_PENDING);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
	f = fopen(acks, "we");
	assert_non_null(f);
	fprintf(f, "other disable %s\n", JOB_ID_2);
	fclose(f);

	assert_int_equal(state_open(test_tmpdir, &s), 0);
	version = meta_schema(path);
	assert_string_equal(version, "2");
	assert_int_equal(state_load(s, load_all, &rows), 0);
	assert_int_equal(rows.n, 2);
	for (size_t i = 0; i < rows.n; i++) {
		struct state_row *r = &rows.r[i];
		assert_string_equal(r->kind, "annotation-reply");
		assert_string_equal(r->dataset, "");
		assert_int_equal(r->documents, -1);
		assert_int_equal(r->documents_failed, -1);
		assert_null(r->progress);
		assert_int_equal(r->stalled_usec, 0);
		if (streq(r->job_id, JOB_ID_1)) {
			assert_string_equal(r->endpoint, "default");
			assert_string_equal(r->action, "enable");
			assert_string_equal(r->file, "a.job");
			assert_null(r->outcome);
			/* a word an older version stored, kept as text (the
			 * daemon reads it back as an unknown status) */
			assert_string_equal(r->last_status, "processing");
			assert_int_equal(r->polls, 3);
			assert_int_equal(r->accepted_usec, 11);
			assert_false(r->journaled);
		} else {
			assert_string_equal(r->job_id, JOB_ID_2);
			assert_string_equal(r->endpoint, "other");
			assert_string_equal(r->action, "disable");
			assert_string_equal(r->outcome, "error");
			assert_int_equal(r->hook_state, STATE_HOOK_PENDING);
			assert_true(r->journaled); /* the version 1 ack line was applied */
			assert_int_equal(r->body_len, 2);
			assert_memory_equal(r->body, "{}", 2);
		}
	}

	/* the migrated rows are the daemon's rows: forgetting one deletes it */
	assert_int_equal(state_forget_row(s, &rows.r[0]), 0);
	rows_done(&rows);
	rows = (struct rows){ 0 };
	assert_int_equal(state_load(s, load_all, &rows), 0);
	assert_int_equal(rows.n, 1);
	rows_done(&rows);
	state_free(s);

	/* opened again: version 2 already, nothing migrated twice */
	assert_int_equal(state_open(test_tmpdir, &s), 0);
	rows = (struct rows){ 0 };
	assert_int_equal(state_load(s, load_all, &rows), 0);
	assert_int_equal(rows.n, 1);
	rows_done(&rows);
	state_free(s);
}

/* A file of a newer schema is left alone, with an error. */
static void test_newer_schema_refused(void **state)
{
	_cleanup_(freep) char *path = strjoin(test_tmpdir, "/", STATE_DB_NAME);
	struct state *s = NULL;
	sqlite3 *db = NULL;

	(void)state;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db,
				      "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);"
				      "INSERT INTO meta VALUES ('schema', '99');",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
	assert_int_equal(state_open(test_tmpdir, &s), -EPROTONOSUPPORT);
	assert_null(s);
}

/* A document-indexing job's identity and kind columns, written and read
 * back; its "journaled" mark goes through the ack file and a reopen. */
static void test_indexing_row(void **state)
{
	struct kind_ident ident = { .kind = KIND_DOCUMENT_INDEXING };
	struct response_documents d = { .has_data = true, .total = 20 };
	struct rows rows = { 0 };
	struct state *s = NULL;
	struct job *j = job_new_kind(KIND_DOCUMENT_INDEXING);

	(void)state;
	assert_non_null(j);
	assert_int_equal(kind_field_parse(KIND_FIELD_DATASET, JOB_ID_1, &ident), 0);
	assert_int_equal(kind_field_parse(KIND_FIELD_BATCH, KIND_BATCH_EXAMPLE, &ident), 0);
	assert_int_equal(job_set_ident(j, &ident), 0);
	j->endpoint = &ep;
	j->file = strdup_or_null("b.job");
	j->accepted_usec = 5;
	d.count[RESPONSE_DOC_COMPLETED] = 18;
	d.count[RESPONSE_DOC_ERROR] = 2;
	d.completed_segments = 40;
	d.total_segments = 41;
	assert_true(job_set_progress(j, &d));
	assert_false(job_set_progress(j, &d)); /* no change */
	j->track.has_status = true;
	j->track.remote_status = job_status_intern("error");
	finish_job(j, JOB_OUTCOME_ERROR);

	assert_int_equal(state_open(test_tmpdir, &s), 0);
	state_mark(s, j, STATE_DIRTY_SYNC);
	assert_int_equal(state_flush(s, true), 0);
	assert_int_equal(state_mark_journaled(s, j), 0);
	state_free(s); /* not flushed: the mark is in the ack file only */

	assert_int_equal(state_open(test_tmpdir, &s), 0);
	assert_int_equal(state_load(s, load_all, &rows), 0);
	assert_int_equal(rows.n, 1);
	assert_string_equal(rows.r[0].kind, "document-indexing");
	assert_string_equal(rows.r[0].action, "");
	assert_string_equal(rows.r[0].dataset, JOB_ID_1);
	assert_string_equal(rows.r[0].job_id, KIND_BATCH_EXAMPLE);
	assert_string_equal(rows.r[0].remote_status, "error");
	assert_string_equal(rows.r[0].last_status, "error");
	assert_string_equal(rows.r[0].progress, "20/20 documents, 40/41 segments");
	assert_int_equal(rows.r[0].documents, 20);
	assert_int_equal(rows.r[0].documents_failed, 2);
	assert_true(rows.r[0].journaled); /* the ack line of version 2's form */
	assert_int_equal(rows.r[0].stalled_usec, 0);
	rows_done(&rows);
	assert_int_equal(state_forget(s, j), 0);
	rows = (struct rows){ 0 };
	assert_int_equal(state_load(s, load_all, &rows), 0);
	assert_int_equal(rows.n, 0);
	state_free(s);
	job_free(j);
}

/* A [Kind:NAME] job's row: kind NAME, job_id the JobID= text with its
 * blanks, its Key=value lines in dataset (state-sql.h); "journaled" goes to
 * the database at once (no ack line can carry the blanks). */
static void test_user_kind_row(void **state)
{
	struct kind_ident ident = { .kind = KIND_USER,
				    .user = "render\nr 1/x\nProject=p 1\nQueue=fast" };
	struct rows rows = { 0 };
	struct state *s = NULL;
	struct job *j = job_new_kind(KIND_USER);

	(void)state;
	assert_non_null(j);
	assert_int_equal(job_set_ident(j, &ident), 0);
	j->endpoint = &ep;
	j->file = strdup_or_null("r.job");
	j->accepted_usec = 5;
	j->track.has_status = true;
	j->track.remote_status = job_status_intern("done");
	finish_job(j, JOB_OUTCOME_COMPLETED);

	assert_int_equal(state_open(test_tmpdir, &s), 0);
	state_mark(s, j, STATE_DIRTY_SYNC);
	assert_int_equal(state_flush(s, true), 0);
	assert_int_equal(state_mark_journaled(s, j), 0);
	state_free(s);

	assert_int_equal(state_open(test_tmpdir, &s), 0);
	assert_int_equal(state_load(s, load_all, &rows), 0);
	assert_int_equal(rows.n, 1);
	assert_string_equal(rows.r[0].kind, "render");
	assert_string_equal(rows.r[0].action, "");
	assert_string_equal(rows.r[0].job_id, "r 1/x");
	assert_string_equal(rows.r[0].dataset, "Project=p 1\nQueue=fast");
	assert_string_equal(rows.r[0].remote_status, "done");
	assert_true(rows.r[0].journaled);
	/* the row gives the identity back (daemon-restore.c) */
	{
		_cleanup_(freep) char *text = NULL;
		assert_int_equal(userkind_text_from_parts(rows.r[0].kind, rows.r[0].job_id,
							  rows.r[0].dataset, &text),
				 0);
		assert_string_equal(text, ident.user);
	}
	rows_done(&rows);
	assert_int_equal(state_forget(s, j), 0);
	rows = (struct rows){ 0 };
	assert_int_equal(state_load(s, load_all, &rows), 0);
	assert_int_equal(rows.n, 0);
	state_free(s);
	job_free(j);
}

/* The ack file's lines (state-ack.h): written and read back as the identity's
 * columns; version 1's three-word line still read; torn lines skipped. */
static void test_ack_lines(void **state)
{
	struct job *j = new_job(JOB_ID_1, "a.job");
	const char *w[_STATE_ACK_FIELDS];
	char line[256], v1[] = "default disable " JOB_ID_1, torn[] = "default enable";
	char five[] = "kb document-indexing - " JOB_ID_1 " " KIND_BATCH_EXAMPLE;
	int n;

	(void)state;
	n = state_ack_line(j, line, sizeof(line));
	assert_string_equal(line, "default enable " JOB_ID_1 "\n");
	assert_int_equal(n, (int)strlen(line));
	assert_int_equal(state_ack_line(j, (char[10]){ 0 }, 10), -ENOBUFS);
	line[n - 1] = '\0';
	assert_true(state_ack_parse(line, w));
	assert_string_equal(w[STATE_ACK_KIND], "annotation-reply");
	assert_string_equal(w[STATE_ACK_ACTION], "enable");
	assert_string_equal(w[STATE_ACK_DATASET], "");
	assert_string_equal(w[STATE_ACK_JOB_ID], JOB_ID_1);
	job_free(j);

	assert_true(state_ack_parse(v1, w));
	assert_string_equal(w[STATE_ACK_ENDPOINT], "default");
	assert_string_equal(w[STATE_ACK_ACTION], "disable");
	assert_true(state_ack_parse(five, w));
	assert_string_equal(w[STATE_ACK_ENDPOINT], "kb");
	assert_string_equal(w[STATE_ACK_KIND], "document-indexing");
	assert_string_equal(w[STATE_ACK_ACTION], "");
	assert_string_equal(w[STATE_ACK_DATASET], JOB_ID_1);
	assert_string_equal(w[STATE_ACK_JOB_ID], KIND_BATCH_EXAMPLE);
	assert_false(state_ack_parse(torn, w));

	/* a user kind's id may hold blanks: no line */
	j = job_new_kind(KIND_USER);
	assert_non_null(j);
	assert_int_equal(state_ack_line(j, line, sizeof(line)), -EINVAL);
	job_free(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_reader_without_state, test_tmpdir_setup,
						test_tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_write_and_read, test_tmpdir_setup,
						test_tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_hook_marks, test_tmpdir_setup,
						test_tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_reopen, test_tmpdir_setup,
						test_tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_current_schema_row, test_tmpdir_setup,
						test_tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_migrate_v1, test_tmpdir_setup,
						test_tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_newer_schema_refused, test_tmpdir_setup,
						test_tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_user_kind_row, test_tmpdir_setup,
						test_tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_indexing_row, test_tmpdir_setup,
						test_tmpdir_teardown),
		cmocka_unit_test(test_ack_lines),
	};

	log_set_max_level(LOG_WARNING);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
