/* SPDX-License-Identifier: MIT */
/*
 * jobwatchctl add: write a job file for jobwatchd into the jobs directory,
 * atomically, after checking it with the daemon's own code. start uses the
 * same ctl_add_job() once Dify has started the job.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl.h"
#include "jobfile.h"
#include "paths.h"
#include "fd-util.h"
#include "fileio.h"
#include "string-util.h"
#include "userkind.h"
#include "uuid-util.h"

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
 * Another *.job file in dirfd naming the same job: (endpoint, kind, the
 * kind's id fields). Bad files are skipped (the daemon reports them).
 * Returns 1 with its name in *ret_name, 0 if none, or a negative errno.
 */
static int find_same_job(int dirfd, const char *dir, const struct config *c,
			 const struct kind_ident *ident, const char *endpoint, char **ret_name)
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
		/* a user kind's identity is known with its [Kind:NAME] only */
		if (jf.ident.kind == KIND_USER &&
		    jobfile_check_refs(path, &jf, c, NULL) == -ENOMEM) {
			return -ENOMEM;
		}
		if (kind_ident_equal(&jf.ident, ident) && streq_ptr(jf.endpoint, endpoint)) {
			*ret_name = strdup_or_null(de->d_name);
			return *ret_name ? 1 : -ENOMEM;
		}
	}
	return errno > 0 ? -errno : 0;
}

/*
 * The job file's name, never a dotfile: <endpoint>-<action>-<id>.job for an
 * annotation-reply job, as before kinds; <endpoint>-<kind>-<fields>.job for
 * the built-in others, its id fields in the order add takes them (the
 * dataset before its batch), so that two jobs never share a name;
 * <endpoint>-<kind>-<ctl_user_file_part()>.job for a [Kind:NAME] job, whose
 * id may hold any character. NULL when out of memory or ident is not valid.
 */
static char *job_file_name(const struct kind_ident *ident, const char *endpoint)
{
	enum kind_field f[_KIND_FIELD_MAX];
	size_t n = ctl_kind_args(ident->kind, f);
	const char *ep = endpoint ? endpoint : ENDPOINT_DEFAULT_NAME;
	char name[NAME_MAX + 1], buf[KIND_ID_STRING_MAX], kname[KIND_NAME_MAX];
	int k;

	k = snprintf(name, sizeof(name), "%s%s", ep[0] == '.' ? "_" : "", ep);
	if (ident->kind != KIND_ANNOTATION_REPLY && k >= 0) {
		k = snprintf(name + k, sizeof(name) - (size_t)k, "-%s",
			     strempty(kind_ident_kind_name(ident, kname)));
	}
	if (ident->kind == KIND_USER && k >= 0) {
		_cleanup_(freep) char *part = ctl_user_file_part(strempty(ident->user));
		size_t len = strlen(name);
		if (!part) {
			return NULL;
		}
		k = snprintf(name + len, sizeof(name) - len, "-%s", part);
	}
	for (size_t i = 0; i < n && k >= 0 && (size_t)k < sizeof(name); i++) {
		size_t len = strlen(name);
		if (!kind_field_to_string(ident, f[i], buf)) {
			return NULL;
		}
		k = snprintf(name + len, sizeof(name) - len, "-%s", buf);
	}
	if (k < 0 || strlen(name) + strlen(JOBFILE_SUFFIX) >= sizeof(name)) {
		return NULL; /* an endpoint name is at most 64 bytes: cannot happen */
	}
	return strjoin(name, JOBFILE_SUFFIX);
}

/*
 * Atomically: a dotfile temporary (which the daemon ignores), fsync, 0644,
 * rename without replacing, fsync of the directory.
 */
/* Long (about 120 lines): each step of the atomic write fails with a message
 * of its own that names the file and says what to do. */
int ctl_add_job(const struct config *c, const struct kind_ident *ident, const char *endpoint,
		const char *description, char **ret_path)
{
	_cleanup_(diag_list_donep) struct diag_list diags = { 0 };
	_cleanup_(jobfile_donep) struct jobfile jf = { 0 };
	_cleanup_(freep) char *text = NULL, *name = NULL, *dir = NULL, *path = NULL, *tmp = NULL,
			      *other = NULL;
	_cleanup_(closep) int dirfd = -1, fd = -1;
	const char *d = ctl_jobs_dir(c);
	struct stat st;
	int r;

	if (endpoint && streq(endpoint, ENDPOINT_DEFAULT_NAME)) {
		endpoint = NULL;
	}

	text = jobfile_format_kind(ident, endpoint, description, &r);
	if (!text) {
		if (r == -ENOMEM) {
			return ctl_fail(r, "out of memory");
		}
		return ctl_fail(
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
		diag_list_print(&diags, stderr, "jobwatchctl: ", false, NULL, NULL);
		return r == -ENOMEM ? ctl_fail(r, "out of memory") : r;
	}

	dirfd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0) {
		r = -errno;
		if (r == -ENOENT) {
			return ctl_fail(
				r,
				"the jobs directory '%s' does not exist: create it, or name the directory jobwatchd watches with --jobs-dir",
				d);
		}
		return ctl_fail(r, "cannot open the jobs directory '%s': %s%s", d, strerror(-r),
				r == -EACCES ? " (run as root, or as a user who may write there)"
					     : "");
	}
	/* JOB_FILE in the journal is a full path; print the same. */
	dir = realpath(d, NULL);
	if (!dir) {
		dir = strdup_or_null(d);
	}
	name = job_file_name(ident, endpoint);
	if (!dir || !name) {
		return ctl_fail(-ENOMEM, "out of memory");
	}
	path = strjoin(dir, "/", name);
	if (!path) {
		return ctl_fail(-ENOMEM, "out of memory");
	}

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		*ret_path = TAKE_PTR(path);
		return -EEXIST;
	}
	r = find_same_job(dirfd, dir, c, ident, endpoint, &other);
	if (r < 0) {
		return ctl_fail(r, "cannot read the jobs directory '%s': %s", dir, strerror(-r));
	}
	if (r > 0) {
		*ret_path = strjoin(dir, "/", other);
		return *ret_path ? -EEXIST : ctl_fail(-ENOMEM, "out of memory");
	}

	tmp = strjoin(dir, "/.jobwatchctl-XXXXXX");
	if (!tmp) {
		return ctl_fail(-ENOMEM, "out of memory");
	}
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		return ctl_fail(r, "cannot write to the jobs directory '%s': %s%s", dir,
				strerror(-r),
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
		return ctl_fail(r, "cannot write the job file '%s': %s", path, strerror(-r));
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

/*
 * Whether a state row is the job of (endpoint, ident): the same kind (a row
 * of a state file from before kinds has none: annotation-reply), id,
 * action (annotation-reply) and dataset (document-indexing; a user kind's
 * fields). The id was matched by state_reader_find().
 */
static bool row_is_job(const struct state_row *row, const struct kind_ident *ident,
		       const char *endpoint)
{
	const struct kind *k = kind_get(ident->kind);
	char buf[KIND_ID_STRING_MAX], kname[KIND_NAME_MAX];

	if (!streq(row->endpoint, endpoint ? endpoint : ENDPOINT_DEFAULT_NAME)) {
		return false;
	}
	if (ident->kind == KIND_USER) {
		/* the kind's name, and its fields in the dataset column */
		return streq_ptr(row->kind, kind_ident_kind_name(ident, kname)) &&
		       streq(strempty(row->dataset), userkind_text_fields(strempty(ident->user)));
	}
	if (!k ||
	    !streq(isempty(row->kind) ? kind_type_to_string(KIND_ANNOTATION_REPLY) : row->kind,
		   k->name)) {
		return false;
	}
	if ((k->fields & KIND_FIELD_BIT(KIND_FIELD_ACTION)) &&
	    !streq_ptr(row->action, kind_field_to_string(ident, KIND_FIELD_ACTION, buf))) {
		return false;
	}
	if ((k->fields & KIND_FIELD_BIT(KIND_FIELD_DATASET)) &&
	    !streq_ptr(row->dataset, kind_field_to_string(ident, KIND_FIELD_DATASET, buf))) {
		return false;
	}
	return true;
}

/* Note a finished row of the same job: the daemon will not poll it again. */
static void note_known_outcome(const struct kind_ident *ident, const char *endpoint)
{
	_cleanup_(state_reader_freep) struct state_reader *sr = NULL;
	_cleanup_(state_row_donep) struct state_row row = { 0 };
	_cleanup_(freep) char *dir = paths_state_dir(arg_state_dir);
	char ids[KIND_ID_STRING_MAX];

	if (!dir || !kind_ident_id_string(ident, ids) || ctl_state_peek(dir, &sr) < 0) {
		return;
	}
	if (state_reader_find(sr, ids, &row) >= 0 && row.outcome &&
	    row_is_job(&row, ident, endpoint)) {
		fprintf(stderr,
			"jobwatchctl: note: jobwatchd already recorded the outcome '%s' for this job; it will not poll it again\n",
			row.outcome);
	}
}

/* "enable job 3c90c3cc-...", "document-indexing batch 2026...", for messages. */
static char *describe_job(const struct kind_ident *ident, char *buf, size_t size)
{
	char id[KIND_ID_STRING_MAX], action[KIND_ID_STRING_MAX], kname[KIND_NAME_MAX];

	if (!kind_ident_id_string(ident, id)) {
		snprintf(id, sizeof(id), "?");
	}
	if (ident->kind == KIND_ANNOTATION_REPLY) {
		snprintf(buf, size, "%s",
			 strempty(kind_field_to_string(ident, KIND_FIELD_ACTION, action)));
	} else {
		snprintf(buf, size, "%s %s", strempty(kind_ident_kind_name(ident, kname)), id);
	}
	return buf;
}

/* add --kind NAME: the kind from the configuration, the identity from ID and
 * the --field values. Returns the exit status; on success *ret_text owns the
 * identity text ident borrows. */
static enum ctl_exit user_ident(const struct config *c, const char *id, struct kind_ident *ident,
				char **ret_text)
{
	const struct kind_def *def;
	int r;

	if (ctl_find_user_kind(c, arg_kind, &def) < 0) {
		return CTL_EXIT_USAGE;
	}
	r = ctl_parse_user_ident(def, id, arg_fields, arg_n_fields, ret_text);
	if (r == -ERANGE) {
		return CTL_EXIT_USAGE;
	}
	if (r < 0) {
		return CTL_EXIT_FAILURE;
	}
	*ident = (struct kind_ident){ .kind = KIND_USER, .user = *ret_text };
	return CTL_EXIT_SUCCESS;
}

/* Long (about 65 lines): the checks come in the order of their cost, the
 * command line's before the configuration's. */
enum ctl_exit verb_add(char **args, size_t n)
{
	_cleanup_(config_freep) struct config *c = NULL;
	_cleanup_(freep) char *path = NULL, *user_text = NULL;
	/* a name that is no built-in kind's: a [Kind:NAME] (ctl_parse_argv()
	 * checked its form and that ID is the one argument) */
	bool user = arg_kind && kind_type_from_string(arg_kind) < 0;
	enum kind_type t = KIND_ANNOTATION_REPLY;
	struct kind_ident ident = {};
	char what[KIND_NAME_MAX + KIND_ID_STRING_MAX + 2];
	enum ctl_exit e;
	int r;

	if (arg_kind && !user) {
		t = (enum kind_type)kind_type_from_string(arg_kind);
	}
	if (!user) {
		r = ctl_parse_ident(t, args, n, !arg_kind, &ident);
		if (r == -ERANGE) {
			return ctl_usage_error("add", "add --kind %s needs %s",
					       kind_type_to_string(t),
					       ctl_kind_args_usage(t, " and ", what, sizeof(what)));
		}
		if (r < 0) {
			return CTL_EXIT_FAILURE;
		}
	}
	if (ctl_check_description(arg_description) < 0) {
		return CTL_EXIT_FAILURE;
	}
	if (arg_endpoint && !streq(arg_endpoint, ENDPOINT_DEFAULT_NAME) &&
	    !name_is_valid(arg_endpoint)) {
		ctl_fail(
			-EINVAL,
			"invalid endpoint name '%s', expected 1-64 characters from A-Z a-z 0-9 _ . -",
			arg_endpoint);
		return CTL_EXIT_FAILURE;
	}
	if (ctl_load_config(false, &c) < 0) {
		return CTL_EXIT_FAILURE;
	}
	if (user) {
		assert(n == 1);
		e = user_ident(c, args[0], &ident, &user_text);
		if (e != CTL_EXIT_SUCCESS) {
			return e;
		}
	}
	if (!ctl_find_endpoint(c, arg_endpoint)) {
		return CTL_EXIT_FAILURE;
	}
	r = ctl_add_job(c, &ident, arg_endpoint, arg_description, &path);
	if (r == -EEXIST) {
		ctl_fail(
			r,
			"this job (%s on endpoint '%s') is already in '%s': remove that file first to add it again",
			describe_job(&ident, what, sizeof(what)),
			arg_endpoint ? arg_endpoint : ENDPOINT_DEFAULT_NAME, path);
		return CTL_EXIT_FAILURE;
	}
	if (r < 0) {
		return CTL_EXIT_FAILURE;
	}
	note_known_outcome(&ident, arg_endpoint && !streq(arg_endpoint, ENDPOINT_DEFAULT_NAME)
					   ? arg_endpoint
					   : NULL);
	printf("%s\n", path);
	return CTL_EXIT_SUCCESS;
}
