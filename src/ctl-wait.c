/* SPDX-License-Identifier: MIT */
/*
 * jobwatchctl wait: wait for the jobs' result entries in the journal and
 * print them; a status line from the state file on a terminal; the state
 * file's outcome when the journal does not show the entry.
 */
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

#include "ctl.h"
#include "escape.h"
#include "journal.h"
#include "paths.h"
#include "timespan.h"
#include "string-util.h"
#include "time-util.h"
#include "uuid-util.h"

#define STATUS_REFRESH_USEC (500 * USEC_PER_MSEC) /* live status line */
#define JOURNAL_WAKEUP_USEC USEC_PER_SEC /* re-check the state file this often */
#define STATE_FALLBACK_USEC (3 * USEC_PER_SEC) /* outcome in state, not in journal */

/* Set from SIGINT/SIGTERM so that a wait can clear its status line. */
static volatile sig_atomic_t interrupted;

struct wait_item {
	char ids[KIND_ID_STRING_MAX]; /* the kind's own id, as JOB_ID has it */
	/* From the state row, when the daemon knows the job: a result entry of
	 * the same id that is older, or of another endpoint, kind, action or
	 * dataset, is not this job's (the id was used before, or the job was
	 * re-added). */
	usec_t not_before_usec;
	bool known; /* the fields below are the state row's */
	char *endpoint, *kind, *action, *dataset; /* owned; NULL: anything goes */
	bool done;
	bool completed;
	usec_t outcome_seen_usec; /* monotonic: when the state first showed an outcome */
};

static void on_signal(int sig)
{
	interrupted = sig;
}

/* A field's value ("FIELD=value" in the journal) as an owned string. */
static char *journal_field(sd_journal *j, const char *field)
{
	const void *data;
	size_t len, flen = strlen(field);

	if (sd_journal_get_data(j, field, &data, &len) < 0 || len <= flen) {
		return NULL;
	}
	return strndup((const char *)data + flen + 1, len - flen - 1);
}

/* The entry's field equals want (NULL: anything goes). */
static bool field_is(sd_journal *j, const char *field, const char *want)
{
	_cleanup_(freep) char *v = NULL;

	if (!want) {
		return true;
	}
	v = journal_field(j, field);
	return v && streq(v, want);
}

/* May this user read the system journal? (root, or a group journald grants) */
static bool can_read_system_journal(void)
{
	static const char *const groups[] = { "systemd-journal", "adm", "wheel" };
	gid_t list[NGROUPS_MAX];
	int n;

	if (geteuid() == 0) {
		return true;
	}
	n = getgroups((int)ELEMENTSOF(list), list);
	for (size_t i = 0; i < ELEMENTSOF(groups); i++) {
		struct group *gr = getgrnam(groups[i]);
		if (!gr) {
			continue;
		}
		if (gr->gr_gid == getegid()) {
			return true;
		}
		for (int k = 0; k < n; k++) {
			if (list[k] == gr->gr_gid) {
				return true;
			}
		}
	}
	return false;
}

struct waiter {
	struct wait_item *items;
	size_t n, left;
	bool any_failed;
	bool tty; /* stderr is a terminal: show the status line */
	bool line_shown; /* a status line is on screen */
	char *state_dir; /* owned */
	struct state_reader *sr; /* owned; opened when it exists */
	usec_t next_state_usec; /* monotonic: next state read */
	usec_t state_cost_usec; /* how long the last read took */
	usec_t started_usec; /* monotonic */
	size_t shown; /* which remaining item the line is about */
};

static void waiter_clear_line(struct waiter *w)
{
	if (w->line_shown) {
		fputs("\r\033[K", stderr);
		fflush(stderr);
		w->line_shown = false;
	}
}

static void item_forget(struct wait_item *it)
{
	it->known = false;
	free(it->endpoint);
	free(it->kind);
	free(it->action);
	free(it->dataset);
	it->endpoint = it->kind = it->action = it->dataset = NULL;
}

/* Anchor it on the daemon's row of the job: its fields, taken from row. An
 * empty action or dataset (a kind without one) matches anything, and so
 * does the kind of a row from before kinds. */
static void item_anchor(struct wait_item *it, struct state_row *row)
{
	/* before its kind is taken from row */
	bool user = ctl_row_is_user_kind(row);

	item_forget(it);
	it->known = true;
	it->not_before_usec = row->accepted_usec;
	it->endpoint = TAKE_PTR(row->endpoint);
	if (!isempty(row->kind)) {
		it->kind = TAKE_PTR(row->kind);
	}
	if (!isempty(row->action)) {
		it->action = TAKE_PTR(row->action);
	}
	/* a user kind's dataset column holds its fields, which its result
	 * entries do not carry: its kind and endpoint anchor it */
	if (!isempty(row->dataset) && !user) {
		it->dataset = TAKE_PTR(row->dataset);
	}
}

/* The entry is of the job it is anchored on. JOB_KIND is new with kinds: an
 * entry without it is an annotation-reply job's (a daemon from before). */
static bool item_matches(sd_journal *j, const struct wait_item *it)
{
	_cleanup_(freep) char *kind = NULL;

	if (!field_is(j, "JOB_ENDPOINT", it->endpoint) || !field_is(j, "JOB_ACTION", it->action) ||
	    !field_is(j, "JOB_DATASET_ID", it->dataset)) {
		return false;
	}
	if (!it->kind) {
		return true;
	}
	kind = journal_field(j, "JOB_KIND");
	return kind ? streq(kind, it->kind)
		    : streq(it->kind, kind_type_to_string(KIND_ANNOTATION_REPLY));
}

static void waiter_done(struct waiter *w)
{
	waiter_clear_line(w);
	state_reader_free(w->sr);
	free(w->state_dir);
	for (size_t i = 0; w->items && i < w->n; i++) {
		item_forget(&w->items[i]);
	}
	free(w->items);
}

static void item_finish(struct waiter *w, struct wait_item *it, const char *status,
			const char *message)
{
	char line[2048];

	it->done = true;
	it->completed = streq_ptr(status, "completed");
	w->any_failed |= !it->completed;
	w->left--;
	ctl_snippet(line, sizeof(line), message, strlen(message));
	waiter_clear_line(w);
	printf("%s\n", line);
	fflush(stdout);
}

/* Read the entries that arrived since the last call. */
static int waiter_scan(struct waiter *w, sd_journal *j)
{
	int r;

	while ((r = sd_journal_next(j)) > 0) {
		_cleanup_(freep) char *id = journal_field(j, "JOB_ID");
		_cleanup_(freep) char *status = NULL, *message = NULL;
		uint64_t t = 0;

		/* the matches ask for the ids as JOB_ID has them (UUIDs in
		 * lower case) */
		if (!id) {
			continue;
		}
		(void)sd_journal_get_realtime_usec(j, &t);
		for (size_t i = 0; i < w->n; i++) {
			struct wait_item *it = &w->items[i];
			if (it->done || !streq(it->ids, id) || t < it->not_before_usec) {
				continue;
			}
			if (!item_matches(j, it)) {
				continue;
			}
			status = journal_field(j, "JOB_STATUS");
			message = journal_field(j, "MESSAGE");
			item_finish(w, it, status,
				    message  ? message
				    : status ? status
					     : "(no message)");
			break;
		}
	}
	if (r < 0) {
		return ctl_fail(r, "cannot read the journal: %s", strerror(-r));
	}
	return 0;
}

/* Open the state file if it exists now; quiet, it may not yet. */
static struct state_reader *waiter_state(struct waiter *w)
{
	if (!w->sr && w->state_dir) {
		(void)ctl_state_peek(w->state_dir, &w->sr);
	}
	return w->sr;
}

/*
 * Once at the start: the state row tells when this job was first accepted
 * and on which endpoint, for which action; result entries of the same id
 * from before (an unrelated earlier use of the id, or the job added,
 * removed, cancelled and added again) are not taken for this one's.
 */
static void waiter_init_items(struct waiter *w)
{
	struct state_reader *sr = waiter_state(w);

	for (size_t i = 0; sr && i < w->n; i++) {
		_cleanup_(state_row_donep) struct state_row row = { 0 };
		struct wait_item *it = &w->items[i];
		if (state_reader_find(sr, it->ids, &row) >= 0) {
			item_anchor(it, &row);
		}
	}
}

/*
 * The state file knows the outcome, and says it was journaled, but the
 * entry does not show: the daemon logs to the console, or we may not read
 * its journal. After STATE_FALLBACK_USEC, report what the state says.
 */
static void waiter_state_fallback(struct waiter *w, struct wait_item *it,
				  const struct state_row *row, usec_t now)
{
	char msg[2048];

	if (!row->outcome || !row->journaled) {
		it->outcome_seen_usec = 0;
		return;
	}
	if (it->outcome_seen_usec == 0) {
		it->outcome_seen_usec = now;
		return;
	}
	if (now - it->outcome_seen_usec < STATE_FALLBACK_USEC) {
		return;
	}
	struct journal_result jr = {
		.job_id = row->job_id,
		.kind = ctl_row_kind(row),
		.user_kind = ctl_row_is_user_kind(row),
		.action = isempty(row->action) ? NULL : row->action,
		.dataset = isempty(row->dataset) || ctl_row_is_user_kind(row) ? NULL : row->dataset,
		.documents = row->documents,
		.documents_failed = row->documents_failed,
		.endpoint = row->endpoint,
		.description = row->description,
		.status = row->outcome,
		.error = row->error_msg,
		.last_status = row->last_status,
		.remote_status = row->remote_status,
		.polls = row->polls,
		.duration_usec = row->finished_usec > row->accepted_usec
					 ? row->finished_usec - row->accepted_usec
					 : 0,
	};
	journal_format_result(&jr, msg, sizeof(msg));
	waiter_clear_line(w);
	fprintf(stderr,
		"jobwatchctl: warning: the state file has the result of job %s, but its journal entry is not visible (jobwatchd logging to the console? no read access to its journal?); using the state file\n",
		it->ids);
	item_finish(w, it, row->outcome, msg);
}

/* Every STATUS_REFRESH_USEC (slower when the state file is large): the
 * fallback check and the status line. */
static void waiter_poll_state(struct waiter *w, usec_t now)
{
	struct state_reader *sr;
	struct wait_item *first = NULL;
	usec_t t0;

	if (now < w->next_state_usec) {
		return;
	}
	sr = waiter_state(w);
	t0 = now_monotonic_usec();
	for (size_t i = 0; sr && i < w->n; i++) {
		_cleanup_(state_row_donep) struct state_row row = { 0 };
		struct wait_item *it = &w->items[i];
		if (it->done || state_reader_find(sr, it->ids, &row) < 0) {
			continue;
		}
		if (row.accepted_usec >= it->not_before_usec) {
			waiter_state_fallback(w, it, &row, now);
		}
		if (!it->done && !it->known) {
			/* added after we began: anchor on it from now on */
			item_anchor(it, &row);
		}
	}
	w->state_cost_usec = now_monotonic_usec() - t0;
	w->next_state_usec = now + MAX(w->tty ? STATUS_REFRESH_USEC : JOURNAL_WAKEUP_USEC,
				       20 * w->state_cost_usec);

	if (!w->tty || w->left == 0) {
		return;
	}
	for (size_t i = 0; i < w->n; i++) {
		if (!w->items[i].done) {
			first = &w->items[i];
			break;
		}
	}
	if (!first) {
		return;
	}

	_cleanup_(state_row_donep) struct state_row row = { 0 };
	char line[512], el[TIMESPAN_MAX], more[64] = "";
	struct winsize ws = { 0 };
	size_t cols = 80;

	if (w->left > 1) {
		snprintf(more, sizeof(more), " (+%zu)", w->left - 1);
	}
	if (sr && state_reader_find(sr, first->ids, &row) >= 0 &&
	    row.accepted_usec >= first->not_before_usec) {
		usec_t rt = now_realtime_usec();
		snprintf(line, sizeof(line), "waiting for %s%s: %s%s%s, %u poll%s, %s%s%s",
			 first->ids, more, ctl_row_state(&row), row.progress ? ", " : "",
			 strempty(row.progress), row.polls, row.polls == 1 ? "" : "s",
			 ctl_format_age(el, sizeof(el),
					rt > row.accepted_usec ? rt - row.accepted_usec : 0),
			 row.trouble ? ", endpoint trouble: " : "", strempty(row.trouble));
	} else {
		snprintf(line, sizeof(line), "waiting for %s%s: not known to jobwatchd yet, %s",
			 first->ids, more, ctl_format_age(el, sizeof(el), now - w->started_usec));
	}
	/* the state's text (a server's job_status, trouble) is escaped */
	char safe[sizeof(line)];
	escape_text_buf(safe, sizeof(safe), line, strlen(line));
	memcpy(line, safe, sizeof(line));
	if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 1) {
		cols = ws.ws_col;
	}
	/* one row, or \r cannot take us back to its start */
	line[MIN(cols - 1, sizeof(line) - 1)] = '\0';
	fprintf(stderr, "\r%s\033[K", line);
	fflush(stderr);
	w->line_shown = true;
}

/* The exit status, or 128 + the signal that interrupted the wait. */
/* Long (about 120 lines): setting up the journal matches and the one wait
 * loop, whose exits are the exit statuses, read best in one place. */
enum ctl_exit ctl_wait_for_jobs(const char (*ids)[KIND_ID_STRING_MAX], size_t n)
{
	_cleanup_(sd_journal_closep) sd_journal *j = NULL;
	struct waiter w = {
		.n = n,
		.left = n,
		.tty = isatty(STDERR_FILENO) == 1,
		.started_usec = now_monotonic_usec(),
	};
	struct sigaction sa = { .sa_handler = on_signal };
	usec_t deadline;
	enum ctl_exit ret;
	int r;

	w.items = calloc(n, sizeof(*w.items));
	w.state_dir = paths_state_dir(arg_state_dir);
	if (!w.items || !w.state_dir) {
		waiter_done(&w);
		ctl_fail(-ENOMEM, "out of memory");
		return CTL_EXIT_WAIT_ERROR;
	}
	for (size_t i = 0; i < n; i++) {
		memcpy(w.items[i].ids, ids[i], KIND_ID_STRING_MAX);
		w.items[i].ids[KIND_ID_STRING_MAX - 1] = '\0';
	}

	/*
	 * LOCAL_ONLY, as journalctl opens by default: this machine's system and
	 * user journals, runtime and persistent. Not SYSTEM only: a jobwatchd
	 * started by hand (not as a unit) by another user writes to that
	 * user's journal.
	 */
	r = sd_journal_open(&j, SD_JOURNAL_LOCAL_ONLY);
	if (r < 0) {
		waiter_done(&w);
		ctl_fail(r, "cannot open the journal: %s", strerror(-r));
		return CTL_EXIT_WAIT_ERROR;
	}
	if (!can_read_system_journal()) {
		fprintf(stderr,
			"jobwatchctl: warning: you may not see jobwatchd's journal entries: run as root or as a member of the group 'systemd-journal'\n");
	}
	/* Set up inotify before the first read, so that nothing slips between. */
	r = sd_journal_get_fd(j);
	if (r >= 0) {
		r = sd_journal_add_match(j, "MESSAGE_ID=" MESSAGE_ID_JOB_RESULT, 0);
	}
	/* Matches on one field are ORed, on different fields ANDed:
	 * MESSAGE_ID=result AND (JOB_ID=a OR JOB_ID=b ...). */
	for (size_t i = 0; r >= 0 && i < n; i++) {
		char m[sizeof("JOB_ID=") + KIND_ID_STRING_MAX];
		snprintf(m, sizeof(m), "JOB_ID=%s", w.items[i].ids);
		r = sd_journal_add_match(j, m, 0);
	}
	if (r >= 0) {
		r = sd_journal_seek_head(j);
	}
	if (r < 0) {
		waiter_done(&w);
		ctl_fail(r, "cannot set up reading the journal: %s", strerror(-r));
		return CTL_EXIT_WAIT_ERROR;
	}

	(void)sigaction(SIGINT, &sa, NULL);
	(void)sigaction(SIGTERM, &sa, NULL);

	waiter_init_items(&w);
	deadline = arg_timeout_usec >= USEC_INFINITY - w.started_usec
			   ? USEC_INFINITY
			   : w.started_usec + arg_timeout_usec;
	for (;;) {
		usec_t now, t;

		if (waiter_scan(&w, j) < 0) {
			ret = CTL_EXIT_WAIT_ERROR;
			break;
		}
		now = now_monotonic_usec();
		if (w.left > 0) {
			waiter_poll_state(&w, now);
		}
		if (w.left == 0) {
			ret = w.any_failed ? CTL_EXIT_FAILURE : CTL_EXIT_SUCCESS;
			break;
		}
		if (interrupted) {
			waiter_clear_line(&w);
			ret = (enum ctl_exit)(128 + interrupted);
			break;
		}
		if (now >= deadline) {
			char span[TIMESPAN_MAX];
			waiter_clear_line(&w);
			if (arg_timeout_usec == 0) {
				fputs("jobwatchctl: no result yet for:", stderr);
			} else {
				fprintf(stderr, "jobwatchctl: no result after %s for:",
					timespan_format(span, sizeof(span), arg_timeout_usec));
			}
			for (size_t i = 0; i < n; i++) {
				if (!w.items[i].done) {
					fprintf(stderr, " %s", w.items[i].ids);
				}
			}
			fputc('\n', stderr);
			ret = CTL_EXIT_TIMEOUT;
			break;
		}
		t = MIN(deadline - now,
			w.next_state_usec > now ? w.next_state_usec - now : JOURNAL_WAKEUP_USEC);
		r = sd_journal_wait(j, t);
		if (r < 0 && r != -EINTR) {
			waiter_clear_line(&w);
			ctl_fail(r, "cannot wait for the journal: %s", strerror(-r));
			ret = CTL_EXIT_WAIT_ERROR;
			break;
		}
	}
	waiter_done(&w);
	return ret;
}

/*
 * ctl_parse_wait_id() puts a UUID in lower case, as the built-in kinds' JOB_ID
 * has it; a user kind's JobID= is its text as it is, which may be a UUID in
 * upper case. Keep s as given when the state file has a user kind's job of
 * exactly that id.
 */
static void keep_user_case(const char *s, char id[static KIND_ID_STRING_MAX])
{
	_cleanup_(state_reader_freep) struct state_reader *sr = NULL;
	_cleanup_(state_row_donep) struct state_row row = { 0 };
	_cleanup_(freep) char *dir = NULL;

	if (streq(s, id)) {
		return;
	}
	dir = paths_state_dir(arg_state_dir);
	if (dir && ctl_state_peek(dir, &sr) >= 0 && state_reader_find(sr, s, &row) >= 0 &&
	    streq_ptr(row.job_id, s) && ctl_row_is_user_kind(&row)) {
		snprintf(id, KIND_ID_STRING_MAX, "%s", s);
	}
}

enum ctl_exit verb_wait(char **args, size_t n)
{
	_cleanup_(freep) char(*ids)[KIND_ID_STRING_MAX] = calloc(n, KIND_ID_STRING_MAX);
	size_t k = 0;

	if (!ids) {
		ctl_fail(-ENOMEM, "out of memory");
		return CTL_EXIT_WAIT_ERROR;
	}
	for (size_t i = 0; i < n; i++) {
		bool dup = false;
		if (ctl_parse_wait_id(args[i], ids[k]) < 0) {
			return CTL_EXIT_USAGE;
		}
		keep_user_case(args[i], ids[k]);
		/* the same id twice (a UUID in any case) is one job to wait for */
		for (size_t m = 0; m < k && !dup; m++) {
			dup = streq(ids[m], ids[k]);
		}
		if (!dup) {
			k++;
		}
	}
	return ctl_wait_for_jobs((const char(*)[KIND_ID_STRING_MAX])ids, k);
}
