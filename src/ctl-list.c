/* SPDX-License-Identifier: MIT */
/*
 * jobwatchctl list: every job jobwatchd knows, read from its state file
 * (state-read.h), as a table or as JSON.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <yajl/yajl_gen.h>

#include "alloc-util.h"
#include "ctl.h"
#include "escape.h"
#include "paths.h"
#include "timespan.h"
#include "string-util.h"
#include "time-util.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(yajl_gen, yajl_gen_free);

/* Is pid a running jobwatchd? kill(0) says it exists; its command line says
 * it is ours and not a reused pid (a wrapper such as valgrind still names us). */
static bool daemon_running(pid_t pid)
{
	char path[64], buf[4096];
	ssize_t k;
	int fd;

	if (pid <= 0 || (kill(pid, 0) < 0 && errno != EPERM)) {
		return false;
	}
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		return true; /* no /proc: trust kill() */
	}
	k = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (k <= 0) {
		return false; /* a zombie or a kernel thread */
	}
	for (ssize_t i = 0; i < k; i++) {
		if (buf[i] == '\0') {
			buf[i] = ' ';
		}
	}
	buf[k] = '\0';
	return strstr(buf, "jobwatchd") != NULL;
}

/* yajl: a string or null. The string is encoded by escape_json(): valid
 * JSON whose controls (C0, DEL, C1) are \u-escaped and whose bytes that are
 * not UTF-8 become U+FFFD, so the document is safe on a terminal too. yajl's
 * own string encoder leaves DEL and C1 raw, so the encoded string goes in
 * through yajl_gen_number(), which writes its text as it is. */
static yajl_gen_status gen_str(yajl_gen g, const char *s)
{
	_cleanup_(freep) char *json = NULL;

	if (!s) {
		return yajl_gen_null(g);
	}
	json = escape_json(s, strlen(s));
	if (!json) {
		return yajl_gen_in_error_state;
	}
	return yajl_gen_number(g, json, strlen(json));
}

static yajl_gen_status gen_key(yajl_gen g, const char *k)
{
	return yajl_gen_string(g, (const unsigned char *)k, strlen(k));
}

static yajl_gen_status gen_usec(yajl_gen g, bool present, usec_t v)
{
	return present ? yajl_gen_integer(g, (long long)MIN(v, (usec_t)LLONG_MAX))
		       : yajl_gen_null(g);
}

/* A user kind's fields (the "Key=value" lines of its row's dataset column,
 * state-sql.h) as {"Key": "value", ...}; null for the other kinds. */
static yajl_gen_status gen_fields(yajl_gen g, const struct state_row *row)
{
	yajl_gen_status st;

	if (!ctl_row_is_user_kind(row)) {
		return yajl_gen_null(g);
	}
	st = yajl_gen_map_open(g);
	for (const char *p = strempty(row->dataset); *p && st == yajl_gen_status_ok;) {
		size_t n = strcspn(p, "\n");
		const char *eq = memchr(p, '=', n);
		_cleanup_(freep) char *value = NULL;

		if (eq) {
			value = strndup(eq + 1, n - (size_t)(eq - p) - 1);
			if (!value) {
				return yajl_gen_in_error_state;
			}
			/* the key has the form of a {Key}: plain ASCII */
			st = yajl_gen_string(g, (const unsigned char *)p, (size_t)(eq - p));
			if (st == yajl_gen_status_ok) {
				st = gen_str(g, value);
			}
		}
		p += n;
		if (*p == '\n') {
			p++;
		}
	}
	return st == yajl_gen_status_ok ? yajl_gen_map_close(g) : st;
}

struct list_ctx {
	usec_t now;
	yajl_gen gen; /* borrowed; --json */
	struct state_row *rows; /* owned array; table */
	size_t n_rows, allocated;
};

static int list_json_row(struct list_ctx *ctx, const struct state_row *row)
{
	yajl_gen g = ctx->gen;
	yajl_gen_status st = yajl_gen_status_ok;
	usec_t age = ctx->now > row->accepted_usec ? ctx->now - row->accepted_usec : 0;

#define GEN(x)                                                                                     \
	do {                                                                                       \
		if (st == yajl_gen_status_ok) {                                                    \
			st = (x);                                                                  \
		}                                                                                  \
	} while (0)
	GEN(yajl_gen_map_open(g));
	GEN(gen_key(g, "endpoint"));
	GEN(gen_str(g, row->endpoint));
	GEN(gen_key(g, "action"));
	GEN(gen_str(g, isempty(row->action) ? NULL : row->action)); /* a kind without Action= */
	GEN(gen_key(g, "job_id"));
	GEN(gen_str(g, row->job_id));
	GEN(gen_key(g, "file"));
	GEN(gen_str(g, row->file));
	GEN(gen_key(g, "description"));
	GEN(gen_str(g, row->description));
	GEN(gen_key(g, "state"));
	GEN(gen_str(g, ctl_row_state(row)));
	GEN(gen_key(g, "outcome"));
	GEN(gen_str(g, row->outcome));
	GEN(gen_key(g, "last_status"));
	GEN(gen_str(g, row->last_status));
	GEN(gen_key(g, "polls"));
	GEN(yajl_gen_integer(g, row->polls));
	GEN(gen_key(g, "accepted_usec"));
	GEN(gen_usec(g, true, row->accepted_usec));
	GEN(gen_key(g, "age_usec"));
	GEN(gen_usec(g, true, age));
	GEN(gen_key(g, "finished_usec"));
	GEN(gen_usec(g, row->outcome && row->finished_usec > 0, row->finished_usec));
	GEN(gen_key(g, "error"));
	GEN(gen_str(g, isempty(row->error_msg) ? NULL : row->error_msg));
	GEN(gen_key(g, "trouble"));
	GEN(gen_str(g, row->trouble));
	GEN(gen_key(g, "trouble_since_usec"));
	GEN(gen_usec(g, row->trouble != NULL, row->trouble_since_usec));
	/* kinds (added keys; the ones above keep their meaning) */
	GEN(gen_key(g, "kind"));
	GEN(gen_str(g, ctl_row_kind(row)));
	GEN(gen_key(g, "dataset"));
	GEN(gen_str(g, isempty(row->dataset) || ctl_row_is_user_kind(row) ? NULL : row->dataset));
	GEN(gen_key(g, "remote_status"));
	GEN(gen_str(g, row->remote_status));
	GEN(gen_key(g, "progress"));
	GEN(gen_str(g, row->progress));
	/* a [Kind:NAME] job's {Key}s */
	GEN(gen_key(g, "fields"));
	GEN(gen_fields(g, row));
	GEN(gen_key(g, "documents"));
	GEN(row->documents >= 0 ? yajl_gen_integer(g, row->documents) : yajl_gen_null(g));
	GEN(gen_key(g, "documents_failed"));
	GEN(row->documents_failed >= 0 ? yajl_gen_integer(g, row->documents_failed)
				       : yajl_gen_null(g));
	/* the stall clock (jobwatchd(8), "Stalls"): null when none / not stalled */
	GEN(gen_key(g, "status_changed_usec"));
	GEN(gen_usec(g, !row->outcome && row->status_changed_usec > 0, row->status_changed_usec));
	GEN(gen_key(g, "stalled_usec"));
	GEN(gen_usec(g, !row->outcome && row->stalled_usec > 0, row->stalled_usec));
	GEN(yajl_gen_map_close(g));
#undef GEN
	return st == yajl_gen_status_ok ? 0 : -ENOMEM;
}

static int list_fn(void *userdata, const struct state_row *row)
{
	struct list_ctx *ctx = userdata;
	struct state_row *copy;

	if (ctx->gen) {
		return list_json_row(ctx, row);
	}
	if (!grow_array((void **)&ctx->rows, &ctx->allocated, sizeof(*ctx->rows),
			ctx->n_rows + 1)) {
		return -ENOMEM;
	}
	copy = &ctx->rows[ctx->n_rows];
	*copy = (struct state_row){
		.endpoint = strdup_or_null(row->endpoint),
		.action = strdup_or_null(row->action),
		.job_id = strdup_or_null(row->job_id),
		.description = strdup_or_null(row->description),
		.last_status = strdup_or_null(row->last_status),
		.outcome = strdup_or_null(row->outcome),
		.trouble = strdup_or_null(row->trouble),
		.kind = strdup_or_null(row->kind),
		.dataset = strdup_or_null(row->dataset),
		.remote_status = strdup_or_null(row->remote_status),
		.progress = strdup_or_null(row->progress),
		.accepted_usec = row->accepted_usec,
		.trouble_since_usec = row->trouble_since_usec,
		.status_changed_usec = row->status_changed_usec,
		.stalled_usec = row->stalled_usec,
		.polls = row->polls,
		.documents = row->documents,
		.documents_failed = row->documents_failed,
	};
	ctx->n_rows++;
	if (!copy->endpoint || !copy->action || !copy->job_id ||
	    (row->description && !copy->description) || (row->last_status && !copy->last_status) ||
	    (row->outcome && !copy->outcome) || (row->trouble && !copy->trouble) ||
	    (row->kind && !copy->kind) || (row->dataset && !copy->dataset) ||
	    (row->remote_status && !copy->remote_status) || (row->progress && !copy->progress)) {
		return -ENOMEM;
	}
	return 0;
}

#define CELL_MAX 192 /* a formatted table cell */

enum {
	COL_ENDPOINT,
	COL_ACTION,
	COL_JOB_ID,
	COL_STATE,
	COL_POLLS,
	COL_AGE,
	COL_TROUBLE,
	/* shown only when a job needs them, so that a list of annotation-reply
	 * jobs reads as it did before kinds */
	COL_KIND,
	COL_DATASET,
	COL_FIELDS,
	COL_PROGRESS,
	COL_DESCRIPTION,
	_COL_MAX,
};

static void list_cells(const struct list_ctx *ctx, const struct state_row *row,
		       char cells[static _COL_MAX][CELL_MAX], const char *ptrs[static _COL_MAX])
{
	char since[TIMESPAN_MAX];
	bool user = ctl_row_is_user_kind(row);

	snprintf(cells[COL_POLLS], sizeof(cells[0]), "%u", row->polls);
	ctl_format_age(cells[COL_AGE], sizeof(cells[0]),
		       ctx->now > row->accepted_usec ? ctx->now - row->accepted_usec : 0);
	ptrs[COL_ENDPOINT] = row->endpoint;
	ptrs[COL_ACTION] = isempty(row->action) ? "-" : row->action;
	ptrs[COL_JOB_ID] = row->job_id;
	ptrs[COL_STATE] = ctl_row_state(row);
	ptrs[COL_POLLS] = cells[COL_POLLS];
	ptrs[COL_AGE] = cells[COL_AGE];
	ptrs[COL_TROUBLE] = "-";
	if (row->trouble) {
		ctl_format_age(since, sizeof(since),
			       ctx->now > row->trouble_since_usec
				       ? ctx->now - row->trouble_since_usec
				       : 0);
		snprintf(cells[COL_TROUBLE], sizeof(cells[0]), "%.80s (for %s)", row->trouble,
			 since);
		ptrs[COL_TROUBLE] = cells[COL_TROUBLE];
	} else if (!row->outcome && row->stalled_usec > 0) {
		/* a stalled job: how long its status has not moved */
		ctl_format_age(since, sizeof(since),
			       ctx->now > row->status_changed_usec
				       ? ctx->now - row->status_changed_usec
				       : 0);
		snprintf(cells[COL_TROUBLE], sizeof(cells[0]), "stalled (for %s)", since);
		ptrs[COL_TROUBLE] = cells[COL_TROUBLE];
	}
	ptrs[COL_KIND] = ctl_row_kind(row);
	ptrs[COL_DATASET] = isempty(row->dataset) || user ? "-" : row->dataset;
	ptrs[COL_FIELDS] = "-";
	if (user && !isempty(row->dataset)) {
		ptrs[COL_FIELDS] =
			ctl_format_fields(row->dataset, cells[COL_FIELDS], sizeof(cells[0]));
	}
	ptrs[COL_PROGRESS] = isempty(row->progress) ? "-" : row->progress;
	ptrs[COL_DESCRIPTION] = strempty(row->description);
	/* text from the state file (a server's status, a job file's text):
	 * escaped when it would not print as it is */
	for (unsigned i = 0; i < _COL_MAX; i++) {
		if (!escape_is_clean(ptrs[i], strlen(ptrs[i]))) {
			if (ptrs[i] != cells[i]) {
				escape_text_buf(cells[i], sizeof(cells[0]), ptrs[i],
						strlen(ptrs[i]));
			} else {
				char copy[CELL_MAX];
				memcpy(copy, cells[i], sizeof(copy));
				escape_text_buf(cells[i], sizeof(cells[0]), copy, strlen(copy));
			}
			ptrs[i] = cells[i];
		}
	}
}

/* One table line: each shown cell padded to its width (POLLS right-aligned),
 * without trailing blanks after the last non-empty cell. */
static void print_row(const char *const *cells, const size_t *width, const bool *shown)
{
	unsigned last = 0;
	bool first = true;

	for (unsigned i = 0; i < _COL_MAX; i++) {
		if (shown[i] && !isempty(cells[i])) {
			last = i;
		}
	}
	for (unsigned i = 0; i <= last; i++) {
		if (!shown[i]) {
			continue;
		}
		if (!first) {
			fputs("  ", stdout);
		}
		first = false;
		if (i == COL_POLLS) {
			printf("%*s", (int)width[i], cells[i]);
		} else if (i == last) {
			fputs(cells[i], stdout);
		} else {
			printf("%-*s", (int)width[i], cells[i]);
		}
	}
	putchar('\n');
}

static void list_print_table(const struct list_ctx *ctx)
{
	static const char *const headers[_COL_MAX] = {
		"ENDPOINT", "ACTION", "JOB_ID",	 "STATE",  "POLLS",    "AGE",
		"TROUBLE",  "KIND",   "DATASET", "FIELDS", "PROGRESS", "DESCRIPTION",
	};
	char cells[_COL_MAX][CELL_MAX];
	const char *ptrs[_COL_MAX];
	size_t width[_COL_MAX];
	bool shown[_COL_MAX];

	for (unsigned i = 0; i < _COL_MAX; i++) {
		width[i] = strlen(headers[i]);
		shown[i] = i < COL_KIND;
	}
	for (size_t r = 0; r < ctx->n_rows; r++) {
		const struct state_row *row = &ctx->rows[r];
		list_cells(ctx, row, cells, ptrs);
		for (unsigned i = 0; i < _COL_MAX; i++) {
			width[i] = MAX(width[i], strlen(ptrs[i]));
		}
		shown[COL_KIND] |=
			!streq(ctl_row_kind(row), kind_type_to_string(KIND_ANNOTATION_REPLY));
		shown[COL_DATASET] |= !isempty(row->dataset) && !ctl_row_is_user_kind(row);
		shown[COL_FIELDS] |= !isempty(row->dataset) && ctl_row_is_user_kind(row);
		shown[COL_PROGRESS] |= !isempty(row->progress);
		shown[COL_DESCRIPTION] |= !isempty(row->description);
	}
	print_row(headers, width, shown);
	for (size_t r = 0; r < ctx->n_rows; r++) {
		list_cells(ctx, &ctx->rows[r], cells, ptrs);
		print_row(ptrs, width, shown);
	}
}

static void list_ctx_done(struct list_ctx *ctx)
{
	for (size_t i = 0; i < ctx->n_rows; i++) {
		state_row_done(&ctx->rows[i]);
	}
	free(ctx->rows);
}

static int open_state(const char *dir, struct state_reader **ret)
{
	int r = state_reader_open(dir, ret);

	if (r == -ENOENT) {
		return ctl_fail(r, "no state at %s: is jobwatchd running with this --state-dir?",
				dir);
	}
	if (r == -EACCES || r == -EPERM || r == -EROFS) {
		return ctl_fail(r, "cannot read the state file %s/%s: %s (run as root?)", dir,
				STATE_DB_NAME, strerror(-r));
	}
	if (r < 0) {
		return ctl_fail(r, "cannot open the state file %s/%s: %s", dir, STATE_DB_NAME,
				strerror(-r));
	}
	return 0;
}

enum ctl_exit verb_list(char **args, size_t n)
{
	_cleanup_(state_reader_freep) struct state_reader *sr = NULL;
	_cleanup_(yajl_gen_freep) yajl_gen g = NULL;
	_cleanup_(freep) char *dir = paths_state_dir(arg_state_dir);
	struct list_ctx ctx = { .now = now_realtime_usec() };
	usec_t started;
	pid_t pid;
	int r;

	if (!dir) {
		ctl_fail(-ENOMEM, "out of memory");
		return CTL_EXIT_FAILURE;
	}
	if (open_state(dir, &sr) < 0) {
		return CTL_EXIT_FAILURE;
	}
	if (arg_json) {
		g = yajl_gen_alloc(NULL);
		if (!g) {
			ctl_fail(-ENOMEM, "out of memory");
			return CTL_EXIT_FAILURE;
		}
		(void)yajl_gen_config(g, yajl_gen_beautify, isatty(STDOUT_FILENO) ? 1 : 0);
		(void)yajl_gen_config(g, yajl_gen_validate_utf8, 1);
		ctx.gen = g;
		if (yajl_gen_array_open(g) != yajl_gen_status_ok) {
			ctl_fail(-ENOMEM, "out of memory");
			return CTL_EXIT_FAILURE;
		}
	}
	/* The pid is read in the same breath as the rows, before them. */
	pid = state_reader_daemon_pid(sr, &started);
	r = state_reader_rows(sr, list_fn, &ctx);
	if (r < 0) {
		list_ctx_done(&ctx);
		/* state.c said what failed reading; OOM is ours to say */
		if (r == -ENOMEM) {
			ctl_fail(r, "out of memory");
		}
		return CTL_EXIT_FAILURE;
	}

	if (g) {
		const unsigned char *buf;
		size_t len;

		if (yajl_gen_array_close(g) != yajl_gen_status_ok ||
		    yajl_gen_get_buf(g, &buf, &len) != yajl_gen_status_ok) {
			ctl_fail(-ENOMEM, "out of memory");
			return CTL_EXIT_FAILURE;
		}
		fwrite(buf, 1, len, stdout);
		fputc('\n', stdout);
	} else {
		char up[TIMESPAN_MAX];

		if (daemon_running(pid)) {
			printf("jobwatchd is running (pid %d, up %s); state from %s\n", (int)pid,
			       ctl_format_age(up, sizeof(up),
					      started && ctx.now > started ? ctx.now - started : 0),
			       dir);
		} else {
			printf("jobwatchd is not running; the state it left in %s:\n", dir);
		}
		list_print_table(&ctx);
	}
	list_ctx_done(&ctx);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		ctl_fail(-EIO, "cannot write the list: %s", strerror(errno));
		return CTL_EXIT_FAILURE;
	}
	return CTL_EXIT_SUCCESS;
}
