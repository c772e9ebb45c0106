/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc-util.h"
#include "fd-util.h"
#include "fileio.h"
#include "journal.h"
#include "log.h"
#include "registry.h"
#include "state-ack.h"
#include "state-sql.h"
#include "state.h"
#include "string-util.h"
#include "time-util.h"
#include "userkind.h"
#include "uuid-util.h"

/* ?1..?5 are the identity (bind_identity()); ?27 is STATE_HOOK_DONE, bound
 * rather than written as a number (test-state would see the two drift apart).
 * ?25, ?26 (status_changed_usec, stalled_usec): the stall clock (stall.h),
 * NULL while it is 0. */
static const char upsert_sql[] =
	"INSERT INTO jobs (endpoint, kind, action, dataset, job_id, file, description,"
	"  accepted_usec, polls, seen_alive, gone_count, last_status, last_status_usec, outcome,"
	"  finished_usec, error_msg, body, journaled, hook_state, updated_usec, remote_status,"
	"  progress, documents, documents_failed, status_changed_usec, stalled_usec)"
	" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18,"
	"  ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26)"
	" ON CONFLICT (endpoint, kind, action, dataset, job_id) DO UPDATE SET"
	"  file = excluded.file, description = excluded.description,"
	"  accepted_usec = excluded.accepted_usec, polls = excluded.polls,"
	"  seen_alive = excluded.seen_alive, gone_count = excluded.gone_count,"
	"  last_status = excluded.last_status, last_status_usec = excluded.last_status_usec,"
	"  outcome = excluded.outcome, finished_usec = excluded.finished_usec,"
	"  error_msg = excluded.error_msg, body = excluded.body,"
	"  journaled = excluded.journaled,"
	"  hook_state = CASE WHEN excluded.hook_state = ?27 THEN ?27 ELSE jobs.hook_state END,"
	"  updated_usec = excluded.updated_usec, remote_status = excluded.remote_status,"
	"  progress = excluded.progress, documents = excluded.documents,"
	"  documents_failed = excluded.documents_failed,"
	"  status_changed_usec = excluded.status_changed_usec,"
	"  stalled_usec = excluded.stalled_usec";

#define IDENTITY_WHERE                                                                             \
	" WHERE endpoint = ?1 AND kind = ?2 AND action = ?3 AND dataset = ?4 AND job_id = ?5"

struct pending_delete {
	char *endpoint, *kind, *action, *dataset, *job_id; /* owned */
};

static void pending_delete_done(struct pending_delete *d)
{
	free(d->endpoint);
	free(d->kind);
	free(d->action);
	free(d->dataset);
	free(d->job_id);
	*d = (struct pending_delete){ 0 };
}

struct state {
	sqlite3 *db;
	char *path;
	char *acks_path; /* owned: STATE_DIR/journaled.log */
	int acks_fd; /* owned, O_APPEND */
	unsigned acks_pending; /* marks in the ack file not yet committed to the db */
	sqlite3_stmt *upsert, *lazy, *delete_job, *journaled, *hook, *endpoint;
	struct job **dirty; /* borrowed jobs; NULL slots were unmarked */
	uint32_t n_dirty, allocated;
	unsigned n_urgent, n_sync;
	struct pending_delete *deletes;
	size_t n_deletes, deletes_allocated;
	usec_t last_flush_usec; /* CLOCK_MONOTONIC of the last successful flush */
	usec_t last_sync_usec; /* ... and of the last one synced to disk */
	bool failing;
	usec_t failing_since_usec, retry_at_usec;
};

/* --- errors --- */

static void state_log(int level, const char *fmt, ...) _printf_(2, 3);
static void state_log(int level, const char *fmt, ...)
{
	const char *fields[] = { "MESSAGE_ID=" MESSAGE_ID_STATE_TROUBLE, NULL };
	va_list ap;

	va_start(ap, fmt);
	(void)log_fields_va(level, 0, fields, fmt, ap);
	va_end(ap);
}

static void write_failed(struct state *s, int rc, const char *what)
{
	usec_t now = now_monotonic_usec();

	s->retry_at_usec = now + STATE_RETRY_USEC;
	if (s->failing) {
		return;
	}
	s->failing = true;
	s->failing_since_usec = now;
	state_log(
		LOG_ERR,
		"Cannot write the state file '%s' (%s: %s); results are held in memory and not reported until it can be written, retrying every %llus.",
		s->path, what, sqlite3_errstr(rc),
		(unsigned long long)(STATE_RETRY_USEC / USEC_PER_SEC));
}

static void write_worked(struct state *s)
{
	if (!s->failing) {
		return;
	}
	s->failing = false;
	state_log(LOG_NOTICE, "The state file '%s' can be written again.", s->path);
}

/* --- open --- */

static int prepare(struct state *s, const char *sql, sqlite3_stmt **ret)
{
	int rc = sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, ret, NULL);
	if (rc != SQLITE_OK) {
		return log_error_errno(state_sqlite_errno(rc),
				       "Failed to prepare a statement on '%s': %s", s->path,
				       sqlite3_errmsg(s->db));
	}
	return 0;
}

static int step_reset(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	(void)sqlite3_reset(st);
	(void)sqlite3_clear_bindings(st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
}

/* Replay the "journaled" marks of the ack file into the database (a crash may
 * have left marks that never reached it), empty the file, and open it for
 * appending. */
static int apply_acks(struct state *s, const char *dir)
{
	_cleanup_(freep) char *buf = NULL;
	size_t len = 0;
	sqlite3_stmt *st = NULL;
	int rc = SQLITE_OK, r;

	s->acks_path = strjoin(dir, "/", STATE_ACKS_NAME);
	if (!s->acks_path) {
		return log_error_errno(-ENOMEM, "Out of memory");
	}
	r = read_file_capped(AT_FDCWD, s->acks_path, 64U * 1024U * 1024U, true, &buf, &len);
	if (r < 0 && r != -ENOENT) {
		log_warning_errno(r, "Failed to read '%s', ignoring: %m", s->acks_path);
	}
	if (r >= 0 && len > 0) {
		rc = sqlite3_prepare_v2(s->db, "UPDATE jobs SET journaled = 1" IDENTITY_WHERE, -1,
					&st, NULL);
		if (rc == SQLITE_OK) {
			rc = state_exec_sql(s->db, "BEGIN IMMEDIATE;");
		}
		/* a torn last line (no "\n", or another shape) is skipped */
		for (char *line = buf, *nl; rc == SQLITE_OK && (nl = strchr(line, '\n'));
		     line = nl + 1) {
			const char *w[_STATE_ACK_FIELDS];
			*nl = '\0';
			if (!state_ack_parse(line, w)) {
				continue;
			}
			for (size_t i = 0; i < _STATE_ACK_FIELDS; i++) {
				(void)sqlite3_bind_text(st, (int)i + 1, w[i], -1, SQLITE_STATIC);
			}
			rc = step_reset(st);
		}
		if (rc == SQLITE_OK) {
			rc = state_exec_sql(s->db, "COMMIT;");
		} else {
			(void)state_exec_sql(s->db, "ROLLBACK;");
		}
		sqlite3_finalize(st);
		if (rc != SQLITE_OK) {
			return log_error_errno(state_sqlite_errno(rc),
					       "Failed to apply '%s' to '%s': %s", s->acks_path,
					       s->path, sqlite3_errstr(rc));
		}
	}
	s->acks_fd =
		open(s->acks_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (s->acks_fd < 0) {
		/* not fatal: the marks then go to the database one by one */
		log_warning_errno(errno, "Failed to open '%s', ignoring: %m", s->acks_path);
		return 0;
	}
	if (ftruncate(s->acks_fd, 0) < 0) {
		log_warning_errno(errno, "Failed to empty '%s': %m", s->acks_path);
	}
	return 0;
}

/* Long (about 90 lines): the open, set-up and prepare steps each fail with
 * their own message, and all end in state_free(). */
int state_open(const char *dir, struct state **ret)
{
	_cleanup_(freep) char *path = strjoin(dir, "/", STATE_DB_NAME);
	struct state *s;
	int rc, r;

	if (!path) {
		return log_error_errno(-ENOMEM, "Out of memory");
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		return log_error_errno(-ENOMEM, "Out of memory");
	}
	s->acks_fd = -1;
	s->path = TAKE_PTR(path);

	rc = sqlite3_open_v2(s->path, &s->db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
			     NULL);
	if (rc != SQLITE_OK) {
		r = log_error_errno(state_sqlite_errno(rc),
				    "Failed to open the state file '%s': %s", s->path,
				    s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
		state_free(s);
		return r;
	}
	(void)sqlite3_busy_timeout(s->db, 2000);
	/* A small page cache: the state is written, rarely read. */
	(void)state_exec_sql(s->db, "PRAGMA cache_size = -2048;");
	rc = state_exec_sql(s->db, "PRAGMA journal_mode = WAL;");
	if (rc == SQLITE_OK) {
		rc = state_exec_sql(s->db, "PRAGMA synchronous = NORMAL;");
	}
	if (rc != SQLITE_OK) {
		r = log_error_errno(state_sqlite_errno(rc),
				    "Failed to set up the state file '%s': %s", s->path,
				    sqlite3_errmsg(s->db));
		state_free(s);
		return r;
	}
	r = state_schema_setup(s->db, s->path);
	if (r < 0) {
		state_free(s);
		return r;
	}

	r = apply_acks(s, dir);
	if (r < 0) {
		state_free(s);
		return r;
	}

	if (prepare(s, upsert_sql, &s->upsert) < 0 ||
	    prepare(s,
		    "UPDATE jobs SET polls = ?6, last_status_usec = coalesce(?7, last_status_usec),"
		    " journaled = max(journaled, ?9), updated_usec = ?8,"
		    " progress = coalesce(?10, progress),"
		    " status_changed_usec = coalesce(?11, status_changed_usec)" IDENTITY_WHERE,
		    &s->lazy) < 0 ||
	    prepare(s, "DELETE FROM jobs" IDENTITY_WHERE, &s->delete_job) < 0 ||
	    prepare(s, "UPDATE jobs SET journaled = 1, updated_usec = ?6" IDENTITY_WHERE,
		    &s->journaled) < 0 ||
	    prepare(s,
		    "UPDATE jobs SET hook_state = ?6, hook_pid = ?7, hook_pid_start = ?8,"
		    " body = CASE WHEN ?6 = ?10 THEN NULL ELSE body END, updated_usec = ?9" IDENTITY_WHERE,
		    &s->hook) < 0 ||
	    prepare(s,
		    "INSERT INTO endpoints (name, trouble, trouble_since_usec, updated_usec)"
		    " VALUES (?1, ?2, ?3, ?4) ON CONFLICT (name) DO UPDATE SET"
		    " trouble = excluded.trouble, trouble_since_usec = excluded.trouble_since_usec,"
		    " updated_usec = excluded.updated_usec",
		    &s->endpoint) < 0) {
		state_free(s);
		return -EIO;
	}
	*ret = s;
	return 0;
}

struct state *state_free(struct state *s)
{
	if (!s) {
		return NULL;
	}
	for (uint32_t i = 0; i < s->n_dirty; i++) {
		if (s->dirty[i]) {
			s->dirty[i]->dirty_idx = UINT32_MAX;
			s->dirty[i]->dirty = STATE_CLEAN;
		}
	}
	free(s->dirty);
	for (size_t i = 0; i < s->n_deletes; i++) {
		pending_delete_done(&s->deletes[i]);
	}
	free(s->deletes);
	sqlite3_finalize(s->upsert);
	sqlite3_finalize(s->lazy);
	sqlite3_finalize(s->delete_job);
	sqlite3_finalize(s->journaled);
	sqlite3_finalize(s->hook);
	sqlite3_finalize(s->endpoint);
	if (s->db) {
		(void)sqlite3_close_v2(s->db);
	}
	closep(&s->acks_fd);
	free(s->acks_path);
	free(s->path);
	free(s);
	return NULL;
}

int state_load(struct state *s, int (*fn)(void *userdata, const struct state_row *row),
	       void *userdata)
{
	return state_iterate_rows(s->db, "SELECT " STATE_ROW_COLUMNS " FROM jobs j", s->path, fn,
				  userdata, false);
}

/* --- dirty tracking --- */

void state_mark(struct state *s, struct job *j, enum state_dirty d)
{
	if (j->dirty_idx == UINT32_MAX) {
		if (s->n_dirty == s->allocated) {
			uint32_t a = s->allocated ? s->allocated * 2 : 256;
			struct job **n = realloc(s->dirty, (size_t)a * sizeof(*n));
			if (!n) {
				/* The job will be written with the next mark or flush of
				 * everything at shutdown; nothing is lost in memory. */
				log_warning("Out of memory tracking state changes");
				return;
			}
			s->dirty = n;
			s->allocated = a;
		}
		j->dirty_idx = s->n_dirty;
		s->dirty[s->n_dirty++] = j;
		j->dirty = STATE_CLEAN;
	}
	if (d > j->dirty) {
		if (d >= STATE_DIRTY_URGENT && j->dirty < STATE_DIRTY_URGENT) {
			s->n_urgent++;
		}
		if (d == STATE_DIRTY_SYNC) {
			s->n_sync++;
		}
		j->dirty = (uint8_t)d;
	}
}

static void drop_mark(struct state *s, struct job *j)
{
	if (j->dirty >= STATE_DIRTY_URGENT) {
		s->n_urgent--;
	}
	if (j->dirty == STATE_DIRTY_SYNC) {
		s->n_sync--;
	}
	j->dirty = STATE_CLEAN;
	j->dirty_idx = UINT32_MAX;
}

/* j's "journaled" mark is in the database now (or no longer needed). */
static void ack_settled(struct state *s, struct job *j)
{
	if (!(j->flags & JOB_FLAG_ACK_LOGGED)) {
		return;
	}
	j->flags &= (uint16_t)~JOB_FLAG_ACK_LOGGED;
	assert(s->acks_pending > 0);
	if (--s->acks_pending == 0 && s->acks_fd >= 0) {
		/* every mark in the file is in the database: start it afresh */
		(void)!ftruncate(s->acks_fd, 0);
	}
}

void state_unmark(struct state *s, struct job *j)
{
	if (j->dirty_idx == UINT32_MAX) {
		return;
	}
	assert(j->dirty_idx < s->n_dirty && s->dirty[j->dirty_idx] == j);
	s->dirty[j->dirty_idx] = NULL;
	drop_mark(s, j);
	/* its row is deleted or current; a line left in the ack file is harmless */
	ack_settled(s, j);
}

bool state_has_urgent(const struct state *s)
{
	return s->n_urgent > 0 || s->n_deletes > 0;
}

bool state_failing(const struct state *s)
{
	return s->failing;
}

/* --- writing --- */

/* The text of a job's identity columns (?1..?5). */
struct identity_text {
	char id[KIND_ID_STRING_MAX];
	char dataset[KIND_ID_STRING_MAX];
};

/* The dataset column: document-indexing's dataset, a user kind's other id
 * fields (state-sql.h; borrowed from the job), NULL for the others. */
static const char *identity_dataset(const struct job *j, struct identity_text *t)
{
	const struct job_user *u = job_user(j);

	return u ? userkind_text_fields(u->text) : job_dataset_string(j, t->dataset);
}

static void bind_identity(sqlite3_stmt *st, const struct job *j, struct identity_text *t)
{
	const char *dataset = identity_dataset(j, t);

	(void)sqlite3_bind_text(st, 1, j->endpoint->name, -1, SQLITE_STATIC);
	(void)sqlite3_bind_text(st, 2, job_kind_name(j), -1, SQLITE_STATIC);
	(void)sqlite3_bind_text(
		st, 3, j->kind == KIND_ANNOTATION_REPLY ? job_action_to_string(j->action) : "", -1,
		SQLITE_STATIC);
	(void)sqlite3_bind_text(st, 4, dataset ? dataset : "", -1, SQLITE_STATIC);
	(void)sqlite3_bind_text(st, 5, job_id_string(j, t->id), -1, SQLITE_STATIC);
}

/* Long (about 60 lines): one bind per column of the row. */
static int write_job(struct state *s, const struct job *j, usec_t now_rt)
{
	sqlite3_stmt *st = s->upsert;
	struct identity_text ids;
	char progress[JOB_PROGRESS_STRING_MAX];
	const struct job_indexing *x = job_indexing(j);
	bool finished = job_is_finished(j);
	bool keep_body =
		finished && !(j->flags & JOB_FLAG_HOOK_DONE) && j->result && j->result->body;

	bind_identity(st, j, &ids);
	(void)sqlite3_bind_text(st, 6, j->file, -1, SQLITE_STATIC);
	(void)sqlite3_bind_text(st, 7, j->description, -1, SQLITE_STATIC);
	(void)sqlite3_bind_int64(st, 8, (sqlite3_int64)j->accepted_usec);
	(void)sqlite3_bind_int64(st, 9, j->polls);
	(void)sqlite3_bind_int(st, 10, j->track.seen_alive);
	(void)sqlite3_bind_int(st, 11, j->track.gone_count);
	if (j->track.has_status) {
		/* last_status: annotation-reply's word as version 1 kept it (an
		 * unknown one as "other"); the remote word for the other kinds */
		(void)sqlite3_bind_text(st, 12,
					j->kind == KIND_ANNOTATION_REPLY
						? dify_status_to_string(j->track.last_status)
						: job_remote_status(j),
					-1, SQLITE_STATIC);
		(void)sqlite3_bind_int64(st, 13, (sqlite3_int64)j->last_alive_usec);
		(void)sqlite3_bind_text(st, 21, job_remote_status(j), -1, SQLITE_STATIC);
	}
	if (finished) {
		(void)sqlite3_bind_text(st, 14, job_outcome_to_string(j->outcome), -1,
					SQLITE_STATIC);
		if (j->result) {
			(void)sqlite3_bind_int64(st, 15, (sqlite3_int64)j->result->finished_usec);
			(void)sqlite3_bind_text(st, 16, j->result->error_msg, -1, SQLITE_STATIC);
		}
	}
	if (keep_body) {
		(void)sqlite3_bind_blob(st, 17, j->result->body, (int)j->result->body_len,
					SQLITE_STATIC);
	}
	(void)sqlite3_bind_int(st, 18, (j->flags & JOB_FLAG_JOURNALED) ? 1 : 0);
	(void)sqlite3_bind_int(
		st, 19, (j->flags & JOB_FLAG_HOOK_DONE) ? STATE_HOOK_DONE : STATE_HOOK_PENDING);
	(void)sqlite3_bind_int64(st, 20, (sqlite3_int64)now_rt);
	if (job_progress_string(j, progress, sizeof(progress))) {
		(void)sqlite3_bind_text(st, 22, progress, -1, SQLITE_TRANSIENT);
		if (finished) {
			(void)sqlite3_bind_int64(st, 23, x->documents_total);
			(void)sqlite3_bind_int64(st, 24, x->documents_failed);
		}
	}
	if (j->stall.changed_usec != 0) {
		(void)sqlite3_bind_int64(st, 25, (sqlite3_int64)j->stall.changed_usec);
	}
	if (j->stall.stalled_usec != 0) {
		(void)sqlite3_bind_int64(st, 26, (sqlite3_int64)j->stall.stalled_usec);
	}
	(void)sqlite3_bind_int(st, 27, STATE_HOOK_DONE);
	return step_reset(st);
}

static int write_delete(struct state *s, const struct pending_delete *d)
{
	(void)sqlite3_bind_text(s->delete_job, 1, d->endpoint, -1, SQLITE_STATIC);
	(void)sqlite3_bind_text(s->delete_job, 2, d->kind, -1, SQLITE_STATIC);
	(void)sqlite3_bind_text(s->delete_job, 3, d->action, -1, SQLITE_STATIC);
	(void)sqlite3_bind_text(s->delete_job, 4, d->dataset, -1, SQLITE_STATIC);
	(void)sqlite3_bind_text(s->delete_job, 5, d->job_id, -1, SQLITE_STATIC);
	return step_reset(s->delete_job);
}

usec_t state_flush_due_usec(const struct state *s)
{
	if (s->n_dirty == 0 && s->n_deletes == 0) {
		return USEC_INFINITY;
	}
	if (s->failing) {
		return s->retry_at_usec;
	}
	if (s->n_sync > 0) {
		/* group commit: one synced batch per STATE_SYNC_GAP_USEC at most */
		return s->last_sync_usec + STATE_SYNC_GAP_USEC;
	}
	if (s->n_urgent > 0 || s->n_deletes > 0) {
		return 0;
	}
	return s->last_flush_usec + STATE_LAZY_FLUSH_USEC;
}

/* Poll counts, last-seen times and the journaled mark only: a narrow update
 * of a row that exists. */
static int write_job_lazy(struct state *s, const struct job *j, usec_t now_rt)
{
	sqlite3_stmt *st = s->lazy;
	struct identity_text ids;
	char progress[JOB_PROGRESS_STRING_MAX];

	bind_identity(st, j, &ids);
	(void)sqlite3_bind_int64(st, 6, j->polls);
	if (j->track.has_status) {
		(void)sqlite3_bind_int64(st, 7, (sqlite3_int64)j->last_alive_usec);
	}
	(void)sqlite3_bind_int64(st, 8, (sqlite3_int64)now_rt);
	(void)sqlite3_bind_int(st, 9, (j->flags & JOB_FLAG_JOURNALED) ? 1 : 0);
	if (job_progress_string(j, progress, sizeof(progress))) {
		(void)sqlite3_bind_text(st, 10, progress, -1, SQLITE_TRANSIENT);
	}
	/* progress moves the stall clock without an urgent write */
	if (j->stall.changed_usec != 0) {
		(void)sqlite3_bind_int64(st, 11, (sqlite3_int64)j->stall.changed_usec);
	}
	return step_reset(st);
}

/* Long (about 85 lines): one transaction and its bookkeeping (which marks
 * were written) belong together. */
int state_flush(struct state *s, bool force)
{
	usec_t now = now_monotonic_usec(), now_rt = now_realtime_usec();
	uint32_t limit = force ? UINT32_MAX : STATE_FLUSH_ROWS, end = 0, taken = 0;
	bool sync = false;
	int rc = SQLITE_OK;

	if (s->n_dirty == 0 && s->n_deletes == 0) {
		return 0;
	}
	if (s->failing && now < s->retry_at_usec) {
		return -EAGAIN;
	}
	if (!force && state_flush_due_usec(s) > now) {
		return 0;
	}

	/* This batch: the first `limit` rows in the order they were marked. */
	for (end = 0; end < s->n_dirty && taken < limit; end++) {
		if (s->dirty[end]) {
			sync |= s->dirty[end]->dirty == STATE_DIRTY_SYNC;
			taken++;
		}
	}

	if (sync) {
		(void)state_exec_sql(s->db, "PRAGMA synchronous = FULL;");
	}
	rc = state_exec_sql(s->db, "BEGIN IMMEDIATE;");
	for (uint32_t i = 0; rc == SQLITE_OK && i < end; i++) {
		struct job *j = s->dirty[i];
		if (!j) {
			continue;
		}
		rc = j->dirty == STATE_DIRTY_LAZY ? write_job_lazy(s, j, now_rt)
						  : write_job(s, j, now_rt);
	}
	for (size_t i = 0; rc == SQLITE_OK && i < s->n_deletes; i++) {
		rc = write_delete(s, &s->deletes[i]);
	}
	if (rc == SQLITE_OK) {
		rc = state_exec_sql(s->db, "COMMIT;");
	}
	if (rc != SQLITE_OK) {
		int saved = rc;
		(void)state_exec_sql(s->db, "ROLLBACK;");
		if (sync) {
			(void)state_exec_sql(s->db, "PRAGMA synchronous = NORMAL;");
		}
		write_failed(s, saved, "saving job state");
		return state_sqlite_errno(saved);
	}
	if (sync) {
		(void)state_exec_sql(s->db, "PRAGMA synchronous = NORMAL;");
		s->last_sync_usec = now;
	}

	/* Drop the batch and move what is left to the front. */
	for (uint32_t i = 0; i < end; i++) {
		if (s->dirty[i]) {
			drop_mark(s, s->dirty[i]);
			ack_settled(s, s->dirty[i]);
		}
	}
	uint32_t k = 0;
	for (uint32_t i = end; i < s->n_dirty; i++) {
		if (s->dirty[i]) {
			s->dirty[k] = s->dirty[i];
			s->dirty[k]->dirty_idx = k;
			k++;
		}
	}
	s->n_dirty = k;
	for (size_t i = 0; i < s->n_deletes; i++) {
		pending_delete_done(&s->deletes[i]);
	}
	s->n_deletes = 0;
	s->last_flush_usec = now;
	write_worked(s);
	return 0;
}

int state_mark_journaled(struct state *s, struct job *j)
{
	struct identity_text ids;
	char line[256];
	int rc, n;

	/* One append, right after the journal entry: a crash between the two
	 * repeats this one entry and no other. A job without a line (state-ack.h)
	 * has its mark go to the database at once. */
	n = state_ack_line(j, line, sizeof(line));
	if (s->acks_fd >= 0 && n > 0 && write(s->acks_fd, line, (size_t)n) == n) {
		if (!(j->flags & JOB_FLAG_ACK_LOGGED)) {
			j->flags |= JOB_FLAG_ACK_LOGGED;
			s->acks_pending++;
		}
		state_mark(s, j, STATE_DIRTY_LAZY);
		return 0;
	}

	/* the ack file cannot be written: a transaction of its own */
	bind_identity(s->journaled, j, &ids);
	(void)sqlite3_bind_int64(s->journaled, 6, (sqlite3_int64)now_realtime_usec());
	rc = step_reset(s->journaled);
	if (rc != SQLITE_OK) {
		write_failed(s, rc, "marking a result as journaled");
		state_mark(s, j, STATE_DIRTY_URGENT);
		return state_sqlite_errno(rc);
	}
	return 0;
}

int state_mark_hook(struct state *s, struct job *j, enum state_hook h, pid_t pid,
		    uint64_t pid_start)
{
	struct identity_text ids;
	int rc;

	bind_identity(s->hook, j, &ids);
	(void)sqlite3_bind_int(s->hook, 6, (int)h);
	if (pid > 0) {
		(void)sqlite3_bind_int64(s->hook, 7, pid);
		(void)sqlite3_bind_int64(s->hook, 8, (sqlite3_int64)pid_start);
	}
	(void)sqlite3_bind_int64(s->hook, 9, (sqlite3_int64)now_realtime_usec());
	(void)sqlite3_bind_int(s->hook, 10, STATE_HOOK_DONE); /* ?10: the body is not needed then */
	rc = step_reset(s->hook);
	if (rc != SQLITE_OK) {
		write_failed(s, rc, "recording a hook run");
		state_mark(s, j, STATE_DIRTY_URGENT);
		return state_sqlite_errno(rc);
	}
	return 0;
}

int state_forget_row(struct state *s, const struct state_row *row)
{
	struct pending_delete d = {
		.endpoint = row->endpoint,
		.kind = row->kind,
		.action = row->action,
		.dataset = row->dataset,
		.job_id = row->job_id,
	};
	int rc = write_delete(s, &d);
	if (rc == SQLITE_OK) {
		return 0;
	}
	write_failed(s, rc, "deleting a job");
	if (!grow_array((void **)&s->deletes, &s->deletes_allocated, sizeof(*s->deletes),
			s->n_deletes + 1)) {
		return -ENOMEM;
	}
	struct pending_delete *n = s->deletes;
	n[s->n_deletes] = (struct pending_delete){
		.endpoint = strdup_or_null(row->endpoint),
		.kind = strdup_or_null(row->kind),
		.action = strdup_or_null(row->action),
		.dataset = strdup_or_null(row->dataset),
		.job_id = strdup_or_null(row->job_id),
	};
	if (!n[s->n_deletes].endpoint || !n[s->n_deletes].kind || !n[s->n_deletes].action ||
	    !n[s->n_deletes].dataset || !n[s->n_deletes].job_id) {
		pending_delete_done(&n[s->n_deletes]);
		return -ENOMEM;
	}
	s->n_deletes++;
	return state_sqlite_errno(rc);
}

int state_forget(struct state *s, struct job *j)
{
	struct identity_text ids;
	const char *dataset = identity_dataset(j, &ids);
	struct state_row row = {
		.endpoint = (char *)j->endpoint->name,
		.kind = (char *)job_kind_name(j),
		.action =
			(char *)(j->kind == KIND_ANNOTATION_REPLY ? job_action_to_string(j->action)
								  : ""),
		.dataset = (char *)(dataset ? dataset : ""),
		.job_id = job_id_string(j, ids.id),
	};
	state_unmark(s, j);
	return state_forget_row(s, &row);
}

int state_set_endpoint_trouble(struct state *s, const char *endpoint, const char *text,
			       usec_t since_usec)
{
	int rc;

	(void)sqlite3_bind_text(s->endpoint, 1, endpoint, -1, SQLITE_STATIC);
	if (text) {
		(void)sqlite3_bind_text(s->endpoint, 2, text, -1, SQLITE_STATIC);
		(void)sqlite3_bind_int64(s->endpoint, 3, (sqlite3_int64)since_usec);
	}
	(void)sqlite3_bind_int64(s->endpoint, 4, (sqlite3_int64)now_realtime_usec());
	rc = step_reset(s->endpoint);
	if (rc != SQLITE_OK) {
		write_failed(s, rc, "recording endpoint trouble");
		return state_sqlite_errno(rc);
	}
	return 0;
}

int state_set_daemon(struct state *s, pid_t pid, usec_t started_usec)
{
	char sql[256];
	snprintf(
		sql, sizeof(sql),
		"INSERT OR REPLACE INTO meta (key, value) VALUES ('pid', '%d'), ('started_usec', '%" PRIu64
		"');",
		(int)pid, (uint64_t)started_usec);
	int rc = state_exec_sql(s->db, sql);
	if (rc != SQLITE_OK) {
		write_failed(s, rc, "recording the daemon's pid");
		return state_sqlite_errno(rc);
	}
	return 0;
}
