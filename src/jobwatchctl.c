/* SPDX-License-Identifier: MIT */
/*
 * jobwatchctl: the command line of jobwatch. It adds job files, lists what the
 * daemon knows from its state file, waits for results in the journal and
 * starts jobs on Dify. It reuses the pure layer (config, jobfile, dify,
 * response, timespan, util) and the read-only side of state.c, never the
 * daemon's internals (no event loop, poller or registry).
 */
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <systemd/sd-journal.h>
#include <time.h>
#include <unistd.h>
#include <yajl/yajl_gen.h>

#include "config-paths.h"
#include "config.h"
#include "curl-util.h"
#include "dify.h"
#include "escape.h"
#include "fd-util.h"
#include "fileio.h"
#include "jobfile.h"
#include "journal.h"
#include "log.h"
#include "memory-util.h"
#include "parse-util.h"
#include "redact.h"
#include "response.h"
#include "state.h"
#include "string-util.h"
#include "time-util.h"
#include "timespan.h"
#include "uuid-util.h"

/* Exit statuses (documented in --help and jobwatchctl(1)): EXIT_SUCCESS,
 * EXIT_FAILURE (for wait also: a job ended other than completed), and: */
#define EXIT_TIMEOUT 2 /* wait: --timeout passed first */
#define EXIT_WAIT_ERROR 3 /* wait: the journal cannot be read */
#define EXIT_USAGE EX_USAGE

#define START_TIMEOUT_MS 30000L /* one POST to Dify */
#define STATUS_REFRESH_USEC (500 * USEC_PER_MSEC) /* live status line */
#define JOURNAL_WAKEUP_USEC USEC_PER_SEC /* re-check the state file this often */
#define STATE_FALLBACK_USEC (3 * USEC_PER_SEC) /* outcome in state, not in journal */
#define ERROR_SNIPPET_MAX 300 /* bytes of a server's error text we show */

/* The command line, parsed once: the only globals (STYLE §2.9). */
static const char *arg_config;
static const char *arg_jobs_dir;
static const char *arg_state_dir;
static const char *arg_endpoint;
static const char *arg_description;
static bool arg_json;
static usec_t arg_timeout_usec = USEC_INFINITY;
static const char *arg_score_threshold;
static const char *arg_provider;
static const char *arg_model;
static bool arg_wait;

/* Set from SIGINT/SIGTERM so that a wait can clear its status line. */
static volatile sig_atomic_t interrupted;

DEFINE_TRIVIAL_CLEANUP_FUNC(struct state_reader *, state_reader_close);
DEFINE_TRIVIAL_CLEANUP_FUNC(CURL *, curl_easy_cleanup);
DEFINE_TRIVIAL_CLEANUP_FUNC(yajl_gen, yajl_gen_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(DIR *, closedir);

static void diag_list_clearp(struct diag_list *l)
{
	diag_list_clear(l);
}

static void jobfile_donep(struct jobfile *j)
{
	jobfile_done(j);
}

static void state_row_donep(struct state_row *r)
{
	state_row_done(r);
}

/* --- messages --- */

/* "jobwatchctl: message" on stderr, escaped (escape.h), so one line; returns
 * code, so "return fail(1, ...)". */
static int fail(int code, const char *fmt, ...) _printf_(2, 3);
static int fail(int code, const char *fmt, ...)
{
	char msg[4096], safe[4096];
	va_list ap;

	/* messages quote file names and servers' text: escaped (escape.h) */
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "jobwatchctl: %s\n", escape_text_buf(safe, sizeof(safe), msg, strlen(msg)));
	return code;
}

static void print_diags(const struct diag_list *l, bool warnings)
{
	char buf[2048];

	for (size_t i = 0; i < l->n; i++) {
		if (l->items[i].level == DIAG_WARNING && !warnings) {
			continue;
		}
		fprintf(stderr, "jobwatchctl: %s%s\n",
			l->items[i].level == DIAG_WARNING ? "warning: " : "",
			diag_format(&l->items[i], buf, sizeof(buf)));
	}
	if (l->oom) {
		fputs("jobwatchctl: out of memory collecting problems\n", stderr);
	}
}

/*
 * Text from a server or the journal as one line in buf (cut to size - 1
 * bytes, "…" marking a cut): C0, DEL, C1 and bytes that are not UTF-8 are
 * escaped (escape.h), so nothing a server sends can move the cursor or
 * start a terminal command. Returns buf.
 */
static char *snippet(char *buf, size_t size, const char *s, size_t len)
{
	size_t n;

	assert(size > 4);
	len = strnlen(s, len);
	while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\n' || s[len - 1] == '\r')) {
		len--;
	}
	escape_text_buf(buf, size, s, len);
	n = strlen(buf);
	while (n > 0 && buf[n - 1] == ' ') {
		n--;
	}
	buf[n] = '\0';
	return buf;
}

/* --- paths and config --- */

static const char *config_path(void)
{
	return arg_config ? arg_config : JOBWATCH_CONFIG_FILE;
}

/* The state directory as the daemon picks it: -s, $STATE_DIRECTORY (its
 * first entry), or the built-in default. Returns an owned string. */
static char *state_dir(void)
{
	const char *e;

	if (arg_state_dir) {
		return strdup_or_null(arg_state_dir);
	}
	e = getenv("STATE_DIRECTORY");
	if (!isempty(e)) {
		const char *colon = strchr(e, ':');
		return colon ? strndup(e, (size_t)(colon - e)) : strdup_or_null(e);
	}
	return strdup_or_null(JOBWATCH_STATE_DIR);
}

/* Load the config like the daemon does; problems are printed. */
static int load_config(bool warnings, struct config **ret)
{
	_cleanup_(diag_list_clearp) struct diag_list diags = { 0 };
	_cleanup_(config_freep) struct config *c = NULL;
	int r;

	r = config_load(config_path(), arg_config != NULL, &c, &diags);
	print_diags(&diags, warnings);
	if (r < 0) {
		return fail(r, "cannot load the configuration '%s': %s", config_path(),
			    strerror(-r));
	}
	if (diag_has_errors(&diags) || !c) {
		return fail(
			-EINVAL,
			"the configuration '%s' has errors: fix them (see jobwatchd --check) and try again",
			config_path());
	}
	*ret = TAKE_PTR(c);
	return 0;
}

static const char *jobs_dir(const struct config *c)
{
	assert(c);
	return arg_jobs_dir ? arg_jobs_dir : c->jobs_dir;
}

/* The endpoint for --endpoint (NULL or "default": the unnamed one); prints
 * what is configured when it is not there. */
static const struct endpoint_config *find_endpoint(const struct config *c, const char *name)
{
	const struct endpoint_config *e;
	char list[1024];
	size_t n = 0;

	assert(c);
	if (name && streq(name, ENDPOINT_DEFAULT_NAME)) {
		name = NULL;
	}
	e = config_find_endpoint(c, name);
	if (e) {
		return e;
	}
	list[0] = '\0';
	for (size_t i = 0; i < c->n_endpoints && n < sizeof(list); i++) {
		int k = snprintf(list + n, sizeof(list) - n, "%s'%s'", i ? ", " : "",
				 c->endpoints[i].name);
		if (k < 0) {
			break;
		}
		n += (size_t)k;
	}
	if (c->n_endpoints == 0) {
		fail(-1,
		     "no endpoint is configured in '%s'%s: add an [Endpoint] section with BaseURL= and APIKeyFile=, or name the config with --config",
		     config_path(),
		     arg_config || access(config_path(), F_OK) == 0 ? ""
								    : " (the file does not exist)");
	} else if (!name) {
		fail(-1,
		     "'%s' has no default [Endpoint]: name one with --endpoint (configured: %s)",
		     config_path(), list);
	} else {
		fail(-1,
		     "endpoint '%s' is not configured in '%s': add an [Endpoint:%s] section, or use one of %s",
		     name, config_path(), name, list);
	}
	return NULL;
}

/* --- add --- */

static int write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t k = write(fd, buf, len);
		if (k < 0) {
			if (errno == EINTR) {
				continue;
			}
			return -errno;
		}
		buf += k;
		len -= (size_t)k;
	}
	return 0;
}

/* Rename tmp to path unless path exists: -EEXIST then. */
static int rename_noreplace(const char *tmp, const char *path)
{
	if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) == 0) {
		return 0;
	}
	if (errno != EINVAL && errno != ENOSYS) {
		return -errno;
	}
	/* A file system without RENAME_NOREPLACE: link() also refuses to replace. */
	if (link(tmp, path) == 0) {
		(void)unlink(tmp);
		return 0;
	}
	if (errno != EPERM && errno != EOPNOTSUPP) {
		return -errno;
	}
	/* No hard links either: we checked for the name just before. */
	if (access(path, F_OK) == 0) {
		return -EEXIST;
	}
	return rename(tmp, path) == 0 ? 0 : -errno;
}

/*
 * Another *.job file in dirfd naming the same (endpoint, action, id). Bad
 * files are skipped (the daemon reports them). Returns 1 with its name in
 * *ret_name, 0 if none, or a negative errno.
 */
static int find_same_job(int dirfd, const char *dir, const uint8_t id[static 16],
			 enum job_action action, const char *endpoint, char **ret_name)
{
	_cleanup_(closedirp) DIR *d = NULL;
	int fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 3);
	struct dirent *de;

	if (fd < 0) {
		return -errno;
	}
	d = fdopendir(fd);
	if (!d) {
		int r = -errno;
		close(fd);
		return r;
	}
	rewinddir(d);
	while ((errno = 0, de = readdir(d))) {
		_cleanup_(jobfile_donep) struct jobfile jf = { 0 };
		_cleanup_(freep) char *path = NULL;

		if (!jobfile_name_is_valid(de->d_name)) {
			continue;
		}
		path = strjoin(dir, "/", de->d_name);
		if (!path) {
			return -ENOMEM;
		}
		if (jobfile_load(dirfd, de->d_name, path, &jf, NULL) < 0) {
			continue;
		}
		if (memcmp(jf.id, id, 16) == 0 && jf.action == action &&
		    streq_ptr(jf.endpoint, endpoint)) {
			*ret_name = strdup_or_null(de->d_name);
			return *ret_name ? 1 : -ENOMEM;
		}
	}
	return errno > 0 ? -errno : 0;
}

/* The job file's name: <endpoint>-<action>-<id>.job; never a dotfile. */
static char *job_file_name(const uint8_t id[static 16], enum job_action action,
			   const char *endpoint)
{
	char ids[UUID_STRING_MAX];
	const char *ep = endpoint ? endpoint : ENDPOINT_DEFAULT_NAME;

	return strjoin(ep[0] == '.' ? "_" : "", ep, "-", job_action_to_string(action), "-",
		       uuid_to_string(id, ids), JOBFILE_SUFFIX);
}

/*
 * Write the job file for (endpoint, action, id) into the jobs directory,
 * atomically: a dotfile temporary (which the daemon ignores), fsync, 0644,
 * rename without replacing, fsync of the directory. endpoint NULL means the
 * default one. Returns 0 with the new file's path in *ret_path; -EEXIST with
 * the path of the file that already holds the job in *ret_path (nothing
 * printed); any other negative errno after printing why.
 */
static int job_add(const struct config *c, const uint8_t id[static 16], enum job_action action,
		   const char *endpoint, const char *description, char **ret_path)
{
	_cleanup_(diag_list_clearp) struct diag_list diags = { 0 };
	_cleanup_(jobfile_donep) struct jobfile jf = { 0 };
	_cleanup_(freep) char *text = NULL, *name = NULL, *dir = NULL, *path = NULL, *tmp = NULL,
			      *other = NULL;
	_cleanup_(closep) int dirfd = -1, fd = -1;
	const char *d = jobs_dir(c);
	struct stat st;
	int r;

	if (endpoint && streq(endpoint, ENDPOINT_DEFAULT_NAME)) {
		endpoint = NULL;
	}

	text = jobfile_format(id, action, endpoint, description, &r);
	if (!text) {
		if (r == -ENOMEM) {
			return fail(r, "out of memory");
		}
		return fail(
			r,
			"the description cannot be written to a job file: it must be 1-%d bytes of UTF-8 text without control characters, without leading or trailing blanks and not ending in a backslash",
			JOBFILE_DESCRIPTION_MAX);
	}
	/* What the daemon will read back, checked by the daemon's own code. */
	r = jobfile_parse_buffer("(new job file)", text, strlen(text), &jf, &diags);
	if (r >= 0) {
		r = jobfile_check_refs("(new job file)", &jf, c, &diags);
	}
	if (r < 0) {
		print_diags(&diags, false);
		return r == -ENOMEM ? fail(r, "out of memory") : r;
	}

	dirfd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0) {
		r = -errno;
		if (r == -ENOENT) {
			return fail(
				r,
				"the jobs directory '%s' does not exist: create it, or name the directory jobwatchd watches with --jobs-dir",
				d);
		}
		return fail(r, "cannot open the jobs directory '%s': %s%s", d, strerror(-r),
			    r == -EACCES ? " (run as root, or as a user who may write there)" : "");
	}
	/* JOB_FILE in the journal is a full path; print the same. */
	dir = realpath(d, NULL);
	if (!dir) {
		dir = strdup_or_null(d);
	}
	name = job_file_name(id, action, endpoint);
	if (!dir || !name) {
		return fail(-ENOMEM, "out of memory");
	}
	path = strjoin(dir, "/", name);
	if (!path) {
		return fail(-ENOMEM, "out of memory");
	}

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		*ret_path = TAKE_PTR(path);
		return -EEXIST;
	}
	r = find_same_job(dirfd, dir, id, action, endpoint, &other);
	if (r < 0) {
		return fail(r, "cannot read the jobs directory '%s': %s", dir, strerror(-r));
	}
	if (r > 0) {
		*ret_path = strjoin(dir, "/", other);
		return *ret_path ? -EEXIST : fail(-ENOMEM, "out of memory");
	}

	tmp = strjoin(dir, "/.jobwatchctl-XXXXXX");
	if (!tmp) {
		return fail(-ENOMEM, "out of memory");
	}
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		return fail(r, "cannot write to the jobs directory '%s': %s%s", dir, strerror(-r),
			    r == -EACCES || r == -EPERM || r == -EROFS
				    ? " (run as root, or as a user who may write there)"
				    : "");
	}
	r = write_all(fd, text, strlen(text));
	if (r >= 0 && fsync(fd) < 0) {
		r = -errno;
	}
	if (r >= 0 && fchmod(fd, 0644) < 0) {
		r = -errno;
	}
	if (r >= 0) {
		r = close_nointr(TAKE_FD(fd));
	}
	if (r >= 0) {
		r = rename_noreplace(tmp, path);
	}
	if (r < 0) {
		(void)unlink(tmp);
		if (r == -EEXIST) {
			/* another writer was quicker */
			*ret_path = TAKE_PTR(path);
			return r;
		}
		return fail(r, "cannot write the job file '%s': %s", path, strerror(-r));
	}
	r = fsync_directory_of(path);
	if (r < 0) {
		/* The file is in place; only its survival of a power loss is in doubt. */
		fprintf(stderr, "jobwatchctl: warning: cannot sync the jobs directory '%s': %s\n",
			dir, strerror(-r));
	}
	*ret_path = TAKE_PTR(path);
	return 0;
}

static int parse_action(const char *s, enum job_action *ret)
{
	int a = job_action_from_string(s);
	if (a < 0) {
		return fail(-EINVAL, "invalid action '%s', expected 'enable' or 'disable'", s);
	}
	*ret = (enum job_action)a;
	return 0;
}

static int parse_job_id(const char *s, uint8_t ret[static 16])
{
	if (uuid_from_string(s, ret) < 0) {
		return fail(
			-EINVAL,
			"invalid job id '%s', expected a UUID like 3c90c3cc-0d44-4b50-8888-8dd25736052a",
			s);
	}
	return 0;
}

/* Check --description before anything else, with a message that says why. */
static int check_description(const char *s)
{
	if (!s) {
		return 0;
	}
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p < 0x20 || *p == 0x7f) {
			return fail(
				-EINVAL,
				"the description contains a newline or another control character: give it as one line of text");
		}
	}
	if (strlen(s) > JOBFILE_DESCRIPTION_MAX) {
		return fail(-EINVAL,
			    "the description is too long (%zu bytes), at most %d are allowed",
			    strlen(s), JOBFILE_DESCRIPTION_MAX);
	}
	return 0;
}

/* Note a finished row of the same job: the daemon will not poll it again. */
static void note_known_outcome(const uint8_t id[static 16], enum job_action action,
			       const char *endpoint)
{
	_cleanup_(state_reader_closep) struct state_reader *sr = NULL;
	_cleanup_(state_row_donep) struct state_row row = { 0 };
	_cleanup_(freep) char *dir = state_dir();
	char ids[UUID_STRING_MAX];

	if (!dir || state_reader_open(dir, &sr) < 0) {
		return;
	}
	log_set_max_level(LOG_CRIT); /* a busy or odd state file is not our business here */
	if (state_reader_find(sr, uuid_to_string(id, ids), &row) >= 0 && row.outcome &&
	    streq(row.action, job_action_to_string(action)) &&
	    streq(row.endpoint, endpoint ? endpoint : ENDPOINT_DEFAULT_NAME)) {
		fprintf(stderr,
			"jobwatchctl: note: jobwatchd already recorded the outcome '%s' for this job; it will not poll it again\n",
			row.outcome);
	}
	log_set_max_level(LOG_INFO);
}

static int verb_add(char **args, size_t n)
{
	_cleanup_(config_freep) struct config *c = NULL;
	_cleanup_(freep) char *path = NULL;
	enum job_action action = JOB_ACTION_ENABLE;
	uint8_t id[16];
	int r;

	assert(n == 2);
	if (parse_action(args[0], &action) < 0 || parse_job_id(args[1], id) < 0 ||
	    check_description(arg_description) < 0) {
		return EXIT_FAILURE;
	}
	if (arg_endpoint && !streq(arg_endpoint, ENDPOINT_DEFAULT_NAME) &&
	    !name_is_valid(arg_endpoint)) {
		return fail(
			EXIT_FAILURE,
			"invalid endpoint name '%s', expected 1-64 characters from A-Z a-z 0-9 _ . -",
			arg_endpoint);
	}
	if (load_config(false, &c) < 0 || !find_endpoint(c, arg_endpoint)) {
		return EXIT_FAILURE;
	}
	r = job_add(c, id, action, arg_endpoint, arg_description, &path);
	if (r == -EEXIST) {
		return fail(
			EXIT_FAILURE,
			"this job (%s on endpoint '%s') is already in '%s': remove that file first to add it again",
			job_action_to_string(action),
			arg_endpoint ? arg_endpoint : ENDPOINT_DEFAULT_NAME, path);
	}
	if (r < 0) {
		return EXIT_FAILURE;
	}
	note_known_outcome(
		id, action,
		arg_endpoint && !streq(arg_endpoint, ENDPOINT_DEFAULT_NAME) ? arg_endpoint : NULL);
	printf("%s\n", path);
	return EXIT_SUCCESS;
}

/* --- list --- */

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

static const char *row_state(const struct state_row *row)
{
	if (row->outcome) {
		return row->outcome;
	}
	return row->last_status ? row->last_status : "pending";
}

/* A span at second resolution: "1h 2min 3s", "0s" under a second. */
static char *format_age(char *buf, size_t size, usec_t t)
{
	t -= t % USEC_PER_SEC;
	if (t == 0) {
		snprintf(buf, size, "0s");
		return buf;
	}
	return timespan_format(buf, size, t);
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
	GEN(gen_str(g, row->action));
	GEN(gen_key(g, "job_id"));
	GEN(gen_str(g, row->job_id));
	GEN(gen_key(g, "file"));
	GEN(gen_str(g, row->file));
	GEN(gen_key(g, "description"));
	GEN(gen_str(g, row->description));
	GEN(gen_key(g, "state"));
	GEN(gen_str(g, row_state(row)));
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
	if (ctx->n_rows == ctx->allocated) {
		size_t a = ctx->allocated ? ctx->allocated * 2 : 64;
		struct state_row *n = realloc(ctx->rows, a * sizeof(*n));
		if (!n) {
			return -ENOMEM;
		}
		ctx->rows = n;
		ctx->allocated = a;
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
		.accepted_usec = row->accepted_usec,
		.trouble_since_usec = row->trouble_since_usec,
		.polls = row->polls,
	};
	ctx->n_rows++;
	if (!copy->endpoint || !copy->action || !copy->job_id ||
	    (row->description && !copy->description) || (row->last_status && !copy->last_status) ||
	    (row->outcome && !copy->outcome) || (row->trouble && !copy->trouble)) {
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
	COL_DESCRIPTION,
	_COL_MAX,
};

static void list_cells(const struct list_ctx *ctx, const struct state_row *row,
		       char cells[static _COL_MAX][CELL_MAX], const char *ptrs[static _COL_MAX])
{
	char since[TIMESPAN_MAX];

	snprintf(cells[COL_POLLS], sizeof(cells[0]), "%u", row->polls);
	format_age(cells[COL_AGE], sizeof(cells[0]),
		   ctx->now > row->accepted_usec ? ctx->now - row->accepted_usec : 0);
	ptrs[COL_ENDPOINT] = row->endpoint;
	ptrs[COL_ACTION] = row->action;
	ptrs[COL_JOB_ID] = row->job_id;
	ptrs[COL_STATE] = row_state(row);
	ptrs[COL_POLLS] = cells[COL_POLLS];
	ptrs[COL_AGE] = cells[COL_AGE];
	ptrs[COL_TROUBLE] = "-";
	if (row->trouble) {
		format_age(since, sizeof(since),
			   ctx->now > row->trouble_since_usec ? ctx->now - row->trouble_since_usec
							      : 0);
		snprintf(cells[COL_TROUBLE], sizeof(cells[0]), "%.80s (for %s)", row->trouble,
			 since);
		ptrs[COL_TROUBLE] = cells[COL_TROUBLE];
	}
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

/* One table line: each cell padded to its width (POLLS right-aligned),
 * without trailing blanks after the last non-empty cell. */
static void print_row(const char *const *cells, const size_t *width, unsigned ncol)
{
	unsigned last = 0;

	for (unsigned i = 0; i < ncol; i++) {
		if (!isempty(cells[i])) {
			last = i;
		}
	}
	for (unsigned i = 0; i <= last; i++) {
		const char *sep = i == last ? "\n" : "  ";
		if (i == COL_POLLS) {
			printf("%*s%s", (int)width[i], cells[i], sep);
		} else if (i == last) {
			printf("%s%s", cells[i], sep);
		} else {
			printf("%-*s%s", (int)width[i], cells[i], sep);
		}
	}
}

static void list_print_table(const struct list_ctx *ctx)
{
	static const char *const headers[_COL_MAX] = {
		"ENDPOINT", "ACTION", "JOB_ID", "STATE", "POLLS", "AGE", "TROUBLE", "DESCRIPTION",
	};
	char cells[_COL_MAX][CELL_MAX];
	const char *ptrs[_COL_MAX];
	size_t width[_COL_MAX];
	bool any_description = false;

	for (unsigned i = 0; i < _COL_MAX; i++) {
		width[i] = strlen(headers[i]);
	}
	for (size_t r = 0; r < ctx->n_rows; r++) {
		list_cells(ctx, &ctx->rows[r], cells, ptrs);
		for (unsigned i = 0; i < _COL_MAX; i++) {
			width[i] = MAX(width[i], strlen(ptrs[i]));
		}
		any_description |= !isempty(ctx->rows[r].description);
	}
	print_row(headers, width, any_description ? _COL_MAX : COL_DESCRIPTION);
	for (size_t r = 0; r < ctx->n_rows; r++) {
		list_cells(ctx, &ctx->rows[r], cells, ptrs);
		print_row(ptrs, width, _COL_MAX);
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
		return fail(r, "no state at %s: is jobwatchd running with this --state-dir?", dir);
	}
	if (r == -EACCES || r == -EPERM || r == -EROFS) {
		return fail(r, "cannot read the state file %s/%s: %s (run as root?)", dir,
			    STATE_DB_NAME, strerror(-r));
	}
	if (r < 0) {
		return fail(r, "cannot open the state file %s/%s: %s", dir, STATE_DB_NAME,
			    strerror(-r));
	}
	return 0;
}

static int verb_list(char **args, size_t n)
{
	_cleanup_(state_reader_closep) struct state_reader *sr = NULL;
	_cleanup_(yajl_gen_freep) yajl_gen g = NULL;
	_cleanup_(freep) char *dir = state_dir();
	struct list_ctx ctx = { .now = now_realtime_usec() };
	usec_t started;
	pid_t pid;
	int r;

	if (!dir) {
		return fail(EXIT_FAILURE, "out of memory");
	}
	if (open_state(dir, &sr) < 0) {
		return EXIT_FAILURE;
	}
	if (arg_json) {
		g = yajl_gen_alloc(NULL);
		if (!g) {
			return fail(EXIT_FAILURE, "out of memory");
		}
		(void)yajl_gen_config(g, yajl_gen_beautify, isatty(STDOUT_FILENO) ? 1 : 0);
		(void)yajl_gen_config(g, yajl_gen_validate_utf8, 1);
		ctx.gen = g;
		if (yajl_gen_array_open(g) != yajl_gen_status_ok) {
			return fail(EXIT_FAILURE, "out of memory");
		}
	}
	/* The pid is read in the same breath as the rows, before them. */
	pid = state_reader_daemon_pid(sr, &started);
	r = state_reader_rows(sr, list_fn, &ctx);
	if (r < 0) {
		list_ctx_done(&ctx);
		/* state.c said what failed reading; OOM is ours to say */
		return r == -ENOMEM ? fail(EXIT_FAILURE, "out of memory") : EXIT_FAILURE;
	}

	if (g) {
		const unsigned char *buf;
		size_t len;

		if (yajl_gen_array_close(g) != yajl_gen_status_ok ||
		    yajl_gen_get_buf(g, &buf, &len) != yajl_gen_status_ok) {
			return fail(EXIT_FAILURE, "out of memory");
		}
		fwrite(buf, 1, len, stdout);
		fputc('\n', stdout);
	} else {
		char up[TIMESPAN_MAX];

		if (daemon_running(pid)) {
			printf("jobwatchd is running (pid %d, up %s); state from %s\n", (int)pid,
			       format_age(up, sizeof(up),
					  started && ctx.now > started ? ctx.now - started : 0),
			       dir);
		} else {
			printf("jobwatchd is not running; the state it left in %s:\n", dir);
		}
		list_print_table(&ctx);
	}
	list_ctx_done(&ctx);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		return fail(EXIT_FAILURE, "cannot write the list: %s", strerror(errno));
	}
	return EXIT_SUCCESS;
}

/* --- wait --- */

struct wait_item {
	uint8_t id[16];
	char ids[UUID_STRING_MAX];
	/* From the state row, when the daemon knows the job: a result entry of
	 * the same id that is older, or of another endpoint or action, is not
	 * this job's (the id was used before, or the job was re-added). */
	usec_t not_before_usec;
	char *endpoint, *action; /* owned, or NULL when not known */
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

static void waiter_done(struct waiter *w)
{
	waiter_clear_line(w);
	state_reader_close(w->sr);
	free(w->state_dir);
	for (size_t i = 0; w->items && i < w->n; i++) {
		free(w->items[i].endpoint);
		free(w->items[i].action);
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
	snippet(line, sizeof(line), message, strlen(message));
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
		uint8_t bin[16];
		uint64_t t = 0;

		if (!id || uuid_from_string(id, bin) < 0) {
			continue;
		}
		(void)sd_journal_get_realtime_usec(j, &t);
		for (size_t i = 0; i < w->n; i++) {
			struct wait_item *it = &w->items[i];
			if (it->done || memcmp(it->id, bin, 16) != 0 || t < it->not_before_usec) {
				continue;
			}
			if (!field_is(j, "JOB_ENDPOINT", it->endpoint) ||
			    !field_is(j, "JOB_ACTION", it->action)) {
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
		return fail(r, "cannot read the journal: %s", strerror(-r));
	}
	return 0;
}

/* Open the state file if it exists now; quiet, it may not yet. */
static struct state_reader *waiter_state(struct waiter *w)
{
	if (!w->sr && w->state_dir) {
		log_set_max_level(LOG_CRIT);
		(void)state_reader_open(w->state_dir, &w->sr);
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
			it->not_before_usec = row.accepted_usec;
			it->endpoint = TAKE_PTR(row.endpoint);
			it->action = TAKE_PTR(row.action);
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
		.action = row->action,
		.endpoint = row->endpoint,
		.description = row->description,
		.status = row->outcome,
		.error = row->error_msg,
		.last_status = row->last_status,
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
		if (!it->done && !it->action) {
			/* added after we began: anchor on it from now on */
			it->not_before_usec = row.accepted_usec;
			it->endpoint = TAKE_PTR(row.endpoint);
			it->action = TAKE_PTR(row.action);
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
		snprintf(line, sizeof(line), "waiting for %s%s: %s, %u poll%s, %s%s%s", first->ids,
			 more, row_state(&row), row.polls, row.polls == 1 ? "" : "s",
			 format_age(el, sizeof(el),
				    rt > row.accepted_usec ? rt - row.accepted_usec : 0),
			 row.trouble ? ", endpoint trouble: " : "", strempty(row.trouble));
	} else {
		snprintf(line, sizeof(line), "waiting for %s%s: not known to jobwatchd yet, %s",
			 first->ids, more, format_age(el, sizeof(el), now - w->started_usec));
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

/* Wait for the result entries of ids; returns the exit status. */
static int wait_for_jobs(const uint8_t (*ids)[16], size_t n)
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
	int r, ret;

	w.items = calloc(n, sizeof(*w.items));
	w.state_dir = state_dir();
	if (!w.items || !w.state_dir) {
		waiter_done(&w);
		return fail(EXIT_WAIT_ERROR, "out of memory");
	}
	for (size_t i = 0; i < n; i++) {
		memcpy(w.items[i].id, ids[i], 16);
		uuid_to_string(ids[i], w.items[i].ids);
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
		return fail(EXIT_WAIT_ERROR, "cannot open the journal: %s", strerror(-r));
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
		char m[sizeof("JOB_ID=") + UUID_STRING_MAX];
		snprintf(m, sizeof(m), "JOB_ID=%s", w.items[i].ids);
		r = sd_journal_add_match(j, m, 0);
	}
	if (r >= 0) {
		r = sd_journal_seek_head(j);
	}
	if (r < 0) {
		waiter_done(&w);
		return fail(EXIT_WAIT_ERROR, "cannot set up reading the journal: %s", strerror(-r));
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
			ret = EXIT_WAIT_ERROR;
			break;
		}
		now = now_monotonic_usec();
		if (w.left > 0) {
			waiter_poll_state(&w, now);
		}
		if (w.left == 0) {
			ret = w.any_failed ? EXIT_FAILURE : EXIT_SUCCESS;
			break;
		}
		if (interrupted) {
			waiter_clear_line(&w);
			ret = 128 + interrupted;
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
			ret = EXIT_TIMEOUT;
			break;
		}
		t = MIN(deadline - now,
			w.next_state_usec > now ? w.next_state_usec - now : JOURNAL_WAKEUP_USEC);
		r = sd_journal_wait(j, t);
		if (r < 0 && r != -EINTR) {
			waiter_clear_line(&w);
			ret = fail(EXIT_WAIT_ERROR, "cannot wait for the journal: %s",
				   strerror(-r));
			break;
		}
	}
	waiter_done(&w);
	return ret;
}

static int verb_wait(char **args, size_t n)
{
	_cleanup_(freep) uint8_t(*ids)[16] = calloc(n, 16);
	size_t k = 0;

	if (!ids) {
		return fail(EXIT_WAIT_ERROR, "out of memory");
	}
	for (size_t i = 0; i < n; i++) {
		bool dup = false;
		if (parse_job_id(args[i], ids[k]) < 0) {
			return EXIT_USAGE;
		}
		/* the same id twice (in any case) is one job to wait for */
		for (size_t m = 0; m < k && !dup; m++) {
			dup = memcmp(ids[m], ids[k], 16) == 0;
		}
		if (!dup) {
			k++;
		}
	}
	return wait_for_jobs((const uint8_t(*)[16])ids, k);
}

/* --- start --- */

struct http_answer {
	char *body; /* owned, NUL-terminated */
	size_t len;
	bool too_large;
	long code;
	curl_off_t retry_after;
	char *redirect; /* owned copy of the Location, or NULL */
	char error[CURL_ERROR_SIZE];
};

static void http_answer_done(struct http_answer *a)
{
	free(a->body);
	free(a->redirect);
}

static size_t on_curl_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct http_answer *a = userdata;
	size_t n = size * nmemb;
	char *b;

	if (a->len + n > RESPONSE_BODY_MAX) {
		a->too_large = true;
		return 0; /* curl ends the transfer with CURLE_WRITE_ERROR */
	}
	b = realloc(a->body, a->len + n + 1);
	if (!b) {
		return 0;
	}
	memcpy(b + a->len, ptr, n);
	a->len += n;
	b[a->len] = '\0';
	a->body = b;
	return n;
}

/* Zero the header strings curl copied (the key is in one of them), then free. */
/* POST body to url with the endpoint's key; the answer in *a. Prints and
 * returns a negative errno when no HTTP answer arrived. */
static int http_post(const struct endpoint_config *e, const char *url, const char *body,
		     struct http_answer *a)
{
	_cleanup_(diag_list_clearp) struct diag_list diags = { 0 };
	_cleanup_(erase_and_freep) char *key = NULL, *auth = NULL;
	_cleanup_(curl_easy_cleanupp) CURL *c = NULL;
	struct curl_slist *headers = NULL, *h;
	CURLcode cc;
	char *loc = NULL;
	int r;

	r = config_read_api_key(e, getenv("CREDENTIALS_DIRECTORY"), &key, &diags);
	if (r < 0) {
		print_diags(&diags, false);
		return r == -ENOMEM ? fail(r, "out of memory") : r;
	}
	print_diags(&diags, true); /* a key file others can read */
	auth = dify_auth_header(key);
	if (!auth) {
		return fail(-ENOMEM, "out of memory");
	}
	c = curl_easy_init();
	if (!c) {
		return fail(-ENOMEM, "cannot set up libcurl");
	}
	h = curl_slist_append(headers, auth);
	if (h) {
		headers = h;
		h = curl_slist_append(headers, "Content-Type: application/json");
	}
	if (h) {
		headers = h;
		h = curl_slist_append(headers, "Accept: application/json");
	}
	if (!h) {
		curl_slist_erase_and_free(headers);
		return fail(-ENOMEM, "out of memory");
	}
	headers = h;

	(void)curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	(void)curl_easy_setopt(c, CURLOPT_URL, url);
	(void)curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	(void)curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	(void)curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	(void)curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	(void)curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	(void)curl_easy_setopt(c, CURLOPT_USERAGENT, "jobwatchctl/" JOBWATCH_VERSION);
	(void)curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	(void)curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	(void)curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, START_TIMEOUT_MS);
	(void)curl_easy_setopt(c, CURLOPT_HTTP_VERSION, curl_http_version_of(e->http_version));
	if (e->ca_file) {
		(void)curl_easy_setopt(c, CURLOPT_CAINFO, e->ca_file);
	}
	/* Proxy= and ProxyFromEnvironment=, as the daemon does */
	curl_set_proxy(c, config_endpoint_proxy(e));
	(void)curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_curl_write);
	(void)curl_easy_setopt(c, CURLOPT_WRITEDATA, a);
	(void)curl_easy_setopt(c, CURLOPT_ERRORBUFFER, a->error);

	cc = curl_easy_perform(c);
	/* curl keeps no copy of the list: erase the key's copies now */
	(void)curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
	curl_slist_erase_and_free(headers);

	/* A server that echoes the request puts the key into its answer, which
	 * is printed: replace it before anything reads the answer. */
	if (redact_needed(a->body, a->len, key)) {
		size_t n;
		char *clean = redact(a->body, a->len, key, &n);
		if (!clean) {
			return fail(-ENOMEM, "out of memory");
		}
		explicit_bzero(a->body, a->len);
		free(a->body);
		a->body = clean;
		a->len = n;
	}
	(void)curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &a->code);
	if (cc == CURLE_WRITE_ERROR && a->too_large) {
		return 0; /* an answer, with a body we refuse to read */
	}
	if (cc != CURLE_OK) {
		return fail(-EIO, "cannot reach endpoint '%s' at %s: %s", e->name, url,
			    a->error[0] ? a->error : curl_easy_strerror(cc));
	}
	(void)curl_easy_getinfo(c, CURLINFO_RETRY_AFTER, &a->retry_after);
	if (curl_easy_getinfo(c, CURLINFO_REDIRECT_URL, &loc) == CURLE_OK && loc) {
		size_t n;
		a->redirect = redact(loc, strlen(loc), key, &n);
	}
	return 0;
}

/* One line about an error answer: Dify's message, or the body when the
 * message is not a string (reqparse gives an object per field). */
static void error_text(const struct http_answer *a, const struct response *resp, bool parsed,
		       char *buf, size_t size)
{
	buf[0] = '\0';
	if (parsed && resp->is_object && resp->has_message) {
		snippet(buf, size, resp->message, strlen(resp->message));
	} else if (parsed && resp->is_object && a->body) {
		snippet(buf, size, a->body, a->len);
	}
}

static const char *key_source(const struct endpoint_config *e, char *buf, size_t size)
{
	if (e->api_key_file) {
		snprintf(buf, size, "APIKeyFile=%s", e->api_key_file);
	} else {
		snprintf(buf, size, "APIKeyCredential=%s", strempty(e->api_key_credential));
	}
	return buf;
}

static int verb_start(char **args, size_t n)
{
	_cleanup_(config_freep) struct config *c = NULL;
	_cleanup_(freep) char *body = NULL, *url = NULL, *path = NULL;
	struct http_answer a = { 0 };
	struct response resp = { 0 };
	const struct endpoint_config *e;
	char perr[160], msg[ERROR_SNIPPET_MAX + 8], src[PATH_MAX + 32];
	enum job_action action = JOB_ACTION_ENABLE;
	bool parsed = false, already;
	uint8_t id[16];
	double score;
	size_t url_size;
	int r;

	assert(n == 1);
	if (parse_action(args[0], &action) < 0 || check_description(arg_description) < 0) {
		return EXIT_FAILURE;
	}
	if (!arg_score_threshold || !arg_provider || !arg_model) {
		/* fail() escapes a newline: the second line goes on its own */
		fail(EXIT_USAGE,
		     "start needs --score-threshold, --embedding-provider and --embedding-model");
		fputs("Try 'jobwatchctl start --help'.\n", stderr);
		return EXIT_USAGE;
	}
	if (safe_atod(arg_score_threshold, &score) < 0 || !(score >= 0.0 && score <= 1.0)) {
		return fail(EXIT_USAGE,
			    "invalid --score-threshold '%s', expected a number from 0 to 1",
			    arg_score_threshold);
	}
	if (isempty(arg_provider) || isempty(arg_model)) {
		return fail(EXIT_USAGE,
			    "--embedding-provider and --embedding-model must not be empty");
	}
	if (load_config(true, &c) < 0) {
		return EXIT_FAILURE;
	}
	e = find_endpoint(c, arg_endpoint);
	if (!e) {
		return EXIT_FAILURE;
	}
	/* Check where the job goes before starting it on Dify. */
	if (access(jobs_dir(c), W_OK) < 0) {
		return fail(
			EXIT_FAILURE,
			"cannot write to the jobs directory '%s': %s; nothing was started (name the directory jobwatchd watches with --jobs-dir, or run as a user who may write there)",
			jobs_dir(c), strerror(errno));
	}
	body = dify_start_body(score, arg_provider, arg_model, &r);
	url_size = strlen(e->base_url) + 64;
	url = malloc(url_size);
	if (!body || !url) {
		return fail(EXIT_FAILURE,
			    r == -EINVAL ? "invalid start parameters" : "out of memory");
	}
	if (dify_start_url(url, url_size, e->base_url, action) < 0) {
		return fail(EXIT_FAILURE, "out of memory");
	}

	r = http_post(e, url, body, &a);
	if (r < 0) {
		http_answer_done(&a);
		return EXIT_FAILURE;
	}
	if (a.body && !a.too_large) {
		parsed = response_parse(a.body, a.len, &resp, perr, sizeof(perr)) >= 0;
	}
	error_text(&a, &resp, parsed, msg, sizeof(msg));

	if (a.code != 200) {
		int ret = EXIT_FAILURE;
		char suffix[ERROR_SNIPPET_MAX + 16] = "";

		if (msg[0]) {
			snprintf(suffix, sizeof(suffix), ": %s", msg);
		}
		if (a.code == 401 || a.code == 403) {
			fail(ret,
			     "the API key was refused by endpoint '%s' (HTTP %ld%s): check the key in %s",
			     e->name, a.code, suffix, key_source(e, src, sizeof(src)));
		} else if (a.code == 409) {
			fail(ret,
			     "another job ('%s') is running for this app on endpoint '%s' (HTTP 409%s): wait until it ends (jobwatchctl list), then try again",
			     job_action_to_string(action == JOB_ACTION_ENABLE ? JOB_ACTION_DISABLE
									      : JOB_ACTION_ENABLE),
			     e->name, suffix);
		} else if (a.code == 429 && a.retry_after > 0) {
			fail(ret,
			     "rate limited by endpoint '%s' (HTTP 429%s), try again in %" PRId64
			     " s",
			     e->name, suffix, (int64_t)a.retry_after);
		} else if (a.code == 429) {
			fail(ret, "rate limited by endpoint '%s' (HTTP 429%s), try again later",
			     e->name, suffix);
		} else if (a.code == 400 || a.code == 415 || a.code == 422) {
			fail(ret, "endpoint '%s' refused the request (HTTP %ld%s)", e->name, a.code,
			     suffix);
		} else if (a.code == 404) {
			fail(ret,
			     "endpoint '%s' has no annotation-reply API at %s (HTTP 404%s): check BaseURL= (it usually ends in /v1)",
			     e->name, url, suffix);
		} else if (a.code >= 300 && a.code < 400) {
			fail(ret,
			     "endpoint '%s' redirects %s (HTTP %ld) to %s: set BaseURL= to the address it names",
			     e->name, url, a.code, a.redirect ? a.redirect : "(no Location)");
		} else if (a.code >= 500) {
			fail(ret,
			     "endpoint '%s' failed (HTTP %ld%s); nothing was started, try again later",
			     e->name, a.code, suffix);
		} else {
			fail(ret, "endpoint '%s' answered HTTP %ld%s", e->name, a.code, suffix);
		}
		http_answer_done(&a);
		return ret;
	}

	if (!parsed || !resp.is_object || resp.bad_shape || !resp.has_job_id ||
	    !resp.has_job_status || uuid_from_string(resp.job_id, id) < 0) {
		char b[ERROR_SNIPPET_MAX + 8];
		snippet(b, sizeof(b), strempty(a.body), a.len);
		fail(EXIT_FAILURE,
		     "unexpected answer from endpoint '%s' (HTTP 200%s): '%s'; the job may have started, see the app's annotation settings",
		     e->name, a.too_large ? ", body too large" : "", b);
		http_answer_done(&a);
		return EXIT_FAILURE;
	}
	http_answer_done(&a);

	char ids[UUID_STRING_MAX];
	uuid_to_string(id, ids);
	already = !streq(resp.job_status, "waiting");
	if (already) {
		/* "processing": Dify hands out the job that is already running */
		char st[RESPONSE_SHORT_MAX * 4];
		printf("a job of this action is already running on this app: %s (%s)\n", ids,
		       escape_text_buf(st, sizeof(st), resp.job_status, strlen(resp.job_status)));
	}
	r = job_add(c, id, action, e->name, arg_description, &path);
	if (r == -EEXIST) {
		/* another file's name: escaped */
		char p[PATH_MAX];
		printf("job %s (%s) on endpoint '%s' is already watched in %s\n", ids,
		       job_action_to_string(action), e->name,
		       escape_text_buf(p, sizeof(p), path, strlen(path)));
	} else if (r < 0) {
		return fail(
			EXIT_FAILURE,
			"job %s was started on Dify but could not be added; add it with: jobwatchctl add --endpoint %s %s %s",
			ids, e->name, job_action_to_string(action), ids);
	} else if (already) {
		printf("watching job %s (%s) on endpoint '%s' in %s\n", ids,
		       job_action_to_string(action), e->name, path);
	} else {
		printf("started %s (%s) on endpoint '%s'; watching it in %s\n", ids,
		       job_action_to_string(action), e->name, path);
	}
	fflush(stdout);
	if (!arg_wait) {
		return EXIT_SUCCESS;
	}
	return wait_for_jobs((const uint8_t(*)[16]) & id, 1);
}

/* --- command line --- */

enum {
	ARG_VERSION = 0x100,
	ARG_ENDPOINT,
	ARG_DESCRIPTION,
	ARG_JSON,
	ARG_TIMEOUT,
	ARG_SCORE,
	ARG_PROVIDER,
	ARG_MODEL,
	ARG_WAIT,
};

#define COMMON_OPTIONS                                                                             \
	{ "config", required_argument, NULL, 'c' }, { "jobs-dir", required_argument, NULL, 'j' },  \
		{ "state-dir", required_argument, NULL, 's' }, { "help", no_argument, NULL, 'h' }, \
	{                                                                                          \
		"version", no_argument, NULL, ARG_VERSION                                          \
	}

#define COMMON_HELP                                                                                \
	"  -c, --config=FILE     config file (default " JOBWATCH_CONFIG_FILE ";\n"                 \
	"                        a missing default file means built-in defaults)\n"                \
	"  -j, --jobs-dir=DIR    jobs directory (default: [Daemon] JobsDirectory=)\n"              \
	"  -s, --state-dir=DIR   state directory (default $STATE_DIRECTORY or\n"                   \
	"                        " JOBWATCH_STATE_DIR ")\n"                                        \
	"  -h, --help            show this help\n"                                                 \
	"      --version         show the version\n"

#define EXIT_HELP                                                                                  \
	"Exit status: 0 success; 1 failure (wait: a job ended other than 'completed');\n"          \
	"2 wait timed out; 3 wait cannot read the journal; 64 usage error.\n"

static void help_main(void)
{
	printf("Usage: jobwatchctl [OPTION]... COMMAND [ARG]...\n"
	       "Add, list, wait for and start the Dify annotation-reply jobs jobwatchd watches.\n"
	       "\n"
	       "Commands:\n"
	       "  add [--endpoint E] [--description D] ACTION JOB_ID\n"
	       "        write a job file for jobwatchd into the jobs directory\n"
	       "  list [--json]\n"
	       "        every job jobwatchd knows, from its state directory\n"
	       "  wait [--timeout T] JOB_ID...\n"
	       "        wait for the jobs' results in the journal and print them\n"
	       "  start ACTION --score-threshold X --embedding-provider P --embedding-model M\n"
	       "        [--endpoint E] [--description D] [--wait [--timeout T]]\n"
	       "        start a job on Dify, then add it\n"
	       "ACTION is 'enable' or 'disable'. 'jobwatchctl COMMAND --help' tells more.\n"
	       "\n"
	       "Options:\n" COMMON_HELP "\n" EXIT_HELP "See jobwatchctl(1).\n");
}

static void help_add(void)
{
	printf("Usage: jobwatchctl add [OPTION]... ACTION JOB_ID\n"
	       "Write a job file for jobwatchd: JOBS_DIR/ENDPOINT-ACTION-JOB_ID.job, atomically\n"
	       "(temporary dotfile, fsync, rename). Prints its path. Refuses a job that is\n"
	       "already in the jobs directory.\n"
	       "\n"
	       "  ACTION                enable or disable\n"
	       "  JOB_ID                the job's UUID, as Dify gave it (any case)\n"
	       "  -e, --endpoint=NAME   a configured [Endpoint:NAME] (default: [Endpoint])\n"
	       "  -d, --description=TEXT\n"
	       "                        one line shown in the journal and given to the hook\n" COMMON_HELP
	       "\n"
	       "Exit status: 0 added; 1 not added (the message says why); 64 usage error.\n");
}

static void help_list(void)
{
	printf("Usage: jobwatchctl list [OPTION]...\n"
	       "Show every job jobwatchd knows, read from its state directory (safe while it\n"
	       "runs): endpoint, action, id, state or outcome, polls, age since it was\n"
	       "accepted, and the endpoint's trouble if any.\n"
	       "\n"
	       "      --json            a JSON array of objects, for scripts\n" COMMON_HELP "\n"
	       "Exit status: 0 success; 1 no state or it cannot be read; 64 usage error.\n");
}

static void help_wait(void)
{
	printf("Usage: jobwatchctl wait [OPTION]... JOB_ID...\n"
	       "Wait for each job's result entry in the journal and print its message. Returns\n"
	       "at once for results already there. On a terminal, a status line on stderr shows\n"
	       "the job's state, polls and age from the state directory. Needs read access to\n"
	       "jobwatchd's journal: root, or a member of the group systemd-journal.\n"
	       "\n"
	       "  -t, --timeout=SPAN    give up after SPAN (\"30s\", \"10min\", \"1h\"; default:\n"
	       "                        wait forever; 0: only look)\n" COMMON_HELP "\n"
	       "Exit status: 0 every job completed; 1 one ended otherwise (error, expired,\n"
	       "unknown, timeout, cancelled); 2 --timeout passed first (the jobs still pending\n"
	       "are named on stderr); 3 the journal cannot be read; 64 usage error.\n");
}

static void help_start(void)
{
	printf("Usage: jobwatchctl start ACTION [OPTION]...\n"
	       "POST {BaseURL}/apps/annotation-reply/ACTION to start the job on Dify with the\n"
	       "endpoint's API key (read as jobwatchd reads it; never printed), then add it as\n"
	       "'add' does. When Dify says a job of this action is already running, that job\n"
	       "is added instead.\n"
	       "\n"
	       "  ACTION                enable or disable\n"
	       "      --score-threshold=X      0 to 1 (required)\n"
	       "      --embedding-provider=P   e.g. openai (required)\n"
	       "      --embedding-model=M      e.g. text-embedding-3-small (required)\n"
	       "  -e, --endpoint=NAME   a configured [Endpoint:NAME] (default: [Endpoint])\n"
	       "  -d, --description=TEXT\n"
	       "                        one line shown in the journal and given to the hook\n"
	       "  -w, --wait            then wait for the result, as 'wait' does\n"
	       "  -t, --timeout=SPAN    with --wait: give up after SPAN\n" COMMON_HELP "\n"
	       "Exit status: 0 started and added (with --wait: completed); 1 failure (refused\n"
	       "key, 409 another action running, 429 rate limited, 400, 5xx, network; with\n"
	       "--wait: the job ended other than completed); 2 --wait timed out; 3 the journal\n"
	       "cannot be read; 64 usage error.\n");
}

struct verb {
	const char *name;
	const char *short_opts;
	const struct option *options;
	size_t min_args, max_args;
	void (*help)(void);
	int (*run)(char **args, size_t n);
};

static const struct option options_global[] = { COMMON_OPTIONS, {} };
static const struct option options_add[] = {
	COMMON_OPTIONS,
	{ "endpoint", required_argument, NULL, 'e' },
	{ "description", required_argument, NULL, 'd' },
	{},
};
static const struct option options_list[] = {
	COMMON_OPTIONS,
	{ "json", no_argument, NULL, ARG_JSON },
	{},
};
static const struct option options_wait[] = {
	COMMON_OPTIONS,
	{ "timeout", required_argument, NULL, 't' },
	{},
};
static const struct option options_start[] = {
	COMMON_OPTIONS,
	{ "endpoint", required_argument, NULL, 'e' },
	{ "description", required_argument, NULL, 'd' },
	{ "score-threshold", required_argument, NULL, ARG_SCORE },
	{ "embedding-provider", required_argument, NULL, ARG_PROVIDER },
	{ "embedding-model", required_argument, NULL, ARG_MODEL },
	{ "wait", no_argument, NULL, 'w' },
	{ "timeout", required_argument, NULL, 't' },
	{},
};

static const struct verb verbs[] = {
	{ "add", "-:c:j:s:he:d:", options_add, 2, 2, help_add, verb_add },
	{ "list", "-:c:j:s:h", options_list, 0, 0, help_list, verb_list },
	{ "wait", "-:c:j:s:ht:", options_wait, 1, SIZE_MAX, help_wait, verb_wait },
	{ "start", "-:c:j:s:he:d:wt:", options_start, 1, 1, help_start, verb_start },
};

static int usage_error(const char *verb, const char *fmt, ...) _printf_(2, 3);
static int usage_error(const char *verb, const char *fmt, ...)
{
	va_list ap;

	fputs("jobwatchctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'jobwatchctl%s%s --help'.\n", verb ? " " : "", strempty(verb));
	return -EX_USAGE;
}

/* The option at argv[optind - 1] that getopt refused, for messages. */
static int bad_option(const char *verb, int c, char *argv[])
{
	const char *opt = argv[optind - 1];

	if (c == ':') {
		return usage_error(verb, "option '%s' needs a value", opt);
	}
	if (verb) {
		return usage_error(verb, "unknown option '%s' for '%s'", opt, verb);
	}
	return usage_error(verb, "unknown option '%s'", opt);
}

/*
 * Parse everything. Returns 1 and the verb and its positional arguments to
 * run it, 0 to exit successfully (--help, --version), or -EX_USAGE.
 * Common options are taken before and after the command.
 */
static int parse_argv(int argc, char *argv[], const struct verb **ret_verb, char ***ret_args,
		      size_t *ret_n)
{
	const struct verb *v = NULL;
	char **args;
	size_t n = 0;
	bool help = false;
	int c, r;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:c:j:s:h", options_global, NULL)) >= 0) {
		switch (c) {
		case 'c':
			arg_config = optarg;
			break;
		case 'j':
			arg_jobs_dir = optarg;
			break;
		case 's':
			arg_state_dir = optarg;
			break;
		case 'h':
			help = true;
			break;
		case ARG_VERSION:
			printf("jobwatchctl %s\n", JOBWATCH_VERSION);
			return 0;
		default:
			return bad_option(NULL, c, argv);
		}
	}
	if (help) {
		help_main();
		return 0;
	}
	if (optind >= argc) {
		return usage_error(NULL, "missing command: add, list, wait or start");
	}
	if (streq(argv[optind], "help")) {
		help_main();
		return 0;
	}
	for (size_t i = 0; i < ELEMENTSOF(verbs); i++) {
		if (streq(argv[optind], verbs[i].name)) {
			v = &verbs[i];
		}
	}
	if (!v) {
		return usage_error(NULL, "unknown command '%s', expected add, list, wait or start",
				   argv[optind]);
	}

	/* The verb's own options, anywhere among its arguments ("-" in the
	 * option string hands us positional arguments in order). */
	argc -= optind;
	argv += optind;
	args = calloc((size_t)argc + 1, sizeof(char *));
	if (!args) {
		fail(0, "out of memory");
		return -ENOMEM;
	}
	optind = 0;
	while ((c = getopt_long(argc, argv, v->short_opts, v->options, NULL)) >= 0) {
		switch (c) {
		case 1:
			args[n++] = optarg;
			break;
		case 'c':
			arg_config = optarg;
			break;
		case 'j':
			arg_jobs_dir = optarg;
			break;
		case 's':
			arg_state_dir = optarg;
			break;
		case 'h':
			help = true;
			break;
		case ARG_VERSION:
			printf("jobwatchctl %s\n", JOBWATCH_VERSION);
			free(args);
			return 0;
		case 'e':
			arg_endpoint = optarg;
			break;
		case 'd':
			arg_description = optarg;
			break;
		case ARG_JSON:
			arg_json = true;
			break;
		case 't':
			r = timespan_parse(optarg, &arg_timeout_usec);
			if (r < 0) {
				free(args);
				return usage_error(
					v->name,
					"invalid --timeout '%s', expected a time span such as 30s, 10min or 1h",
					optarg);
			}
			break;
		case ARG_SCORE:
			arg_score_threshold = optarg;
			break;
		case ARG_PROVIDER:
			arg_provider = optarg;
			break;
		case ARG_MODEL:
			arg_model = optarg;
			break;
		case 'w':
			arg_wait = true;
			break;
		default:
			free(args);
			return bad_option(v->name, c, argv);
		}
	}
	for (; optind < argc; optind++) { /* after "--" */
		args[n++] = argv[optind];
	}
	if (help) {
		v->help();
		free(args);
		return 0;
	}
	if (n < v->min_args || n > v->max_args) {
		static const char *const usage[] = {
			"add needs ACTION and JOB_ID",
			"list takes no arguments",
			"wait needs at least one JOB_ID",
			"start needs ACTION (enable or disable)",
		};
		free(args);
		return usage_error(v->name, "%s", usage[v - verbs]);
	}
	if (arg_timeout_usec != USEC_INFINITY && v->run == verb_start && !arg_wait) {
		free(args);
		return usage_error(v->name, "--timeout needs --wait");
	}
	*ret_verb = v;
	*ret_args = args;
	*ret_n = n;
	return 1;
}

int main(int argc, char *argv[])
{
	const struct verb *v = NULL;
	_cleanup_(freep) char **args = NULL;
	size_t n = 0;
	int r;

	/* state.c reports read failures through log.h: as us, on stderr */
	log_set_identifier("jobwatchctl");
	log_setup(LOG_TARGET_CONSOLE);

	r = parse_argv(argc, argv, &v, &args, &n);
	if (r <= 0) {
		return r == 0 ? EXIT_SUCCESS : r == -EX_USAGE ? EXIT_USAGE : EXIT_FAILURE;
	}
	assert(v); /* parse_argv() found the verb when it returns > 0 */
	if (v->run == verb_start && curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		return fail(EXIT_FAILURE, "cannot initialise libcurl");
	}
	r = v->run(args, n);
	if (v->run == verb_start) {
		curl_global_cleanup();
	}
	return r;
}
