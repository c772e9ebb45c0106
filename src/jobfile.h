/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * NAME.job files: the table and validation of [Job]. A job's identity is
 * (endpoint, kind, the kind's id fields: struct kind_ident). Pure: reading a
 * file is the only I/O.
 *
 *   [Job]
 *   Kind=NAME                optional: annotation-reply (the default),
 *                            document-indexing, workflow-run (kind.h), or
 *                            the NAME of a [Kind:NAME] section (a user kind)
 *   JobID=<uuid>             annotation-reply, workflow-run: required, any case
 *   JobID=<text>             a user kind: required, kinddef_value_is_valid()
 *   Key=<text>               a user kind: each {Key} of its StatusPath=
 *   Action=enable|disable    annotation-reply: required
 *   Dataset=<uuid>           document-indexing: required
 *   Batch=<20 digits>        document-indexing: required (Dify's batch id)
 *   Endpoint=NAME            optional; the default endpoint otherwise
 *   Description=TEXT         optional, at most JOBFILE_DESCRIPTION_MAX bytes
 *   Hook=/path args...       optional override of [Hook] Exec= (only with
 *                            [Hook] AllowJobHooks=yes); empty = no hook
 *   Timeout=2h               optional override of [Poll] JobTimeout=
 *   StallAfter=10min         optional override of [Poll] StallAfter= (infinity: off)
 *
 * A kind's key missing, or another kind's key given (Action= with
 * Kind=workflow-run): an error at FILE:LINE.
 * Unknown keys and sections: warnings. A missing required key or an invalid
 * value: an error, and the whole file is skipped.
 *
 * A user kind is known only with the configuration: the parser keeps its
 * name, JobID= text and every key of a {Key}'s form; jobfile_check_refs()
 * resolves them against the kind's section and builds ident.user.
 */

#include <stdbool.h>
#include <stdint.h>

#include "diag.h"
#include "kind.h" /* enum job_action, struct kind_ident */
#include "macro.h"

#define JOBFILE_SUFFIX ".job"
#define JOBFILE_DESCRIPTION_MAX 1024 /* bytes */

struct config;

struct jobfile {
	/* The identity, every kind: ident.kind is the enum kind_type. */
	struct kind_ident ident;
	/* Copies of ident.id and ident.action, as every job file had them before
	 * kinds: for document-indexing id holds the packed batch (kind.h). */
	uint8_t id[16];
	enum job_action action;
	char *endpoint; /* owned; NULL means the default endpoint */
	char *description; /* owned; NULL when absent */
	char *hook; /* owned; NULL = use [Hook] Exec=, "" = no hook */
	bool has_timeout;
	usec_t timeout_usec; /* valid when has_timeout; > 0 */
	bool has_stall_after;
	usec_t stall_after_usec; /* StallAfter=, valid when has_stall_after; > 0, may be
				  * USEC_INFINITY (off) */

	/* line of each key, 0 when absent; for messages about cross-checks */
	unsigned line_endpoint, line_hook, line_kind;

	/* A user kind (ident.kind == KIND_USER): */
	char *user_kind; /* owned: NAME of Kind= */
	char *user_id; /* owned: the JobID= text */
	/* owned, once jobfile_check_refs() resolved the kind: the identity
	 * text (userkind.h) that ident.user points to */
	char *user_text;
	/* Keys of a {Key}'s form (kinddef_key_is_placeholder()) that are no
	 * key of [Job], kept for a user kind: "Key=value" (owned strv, the last
	 * of a key given twice) and the line of each. For other kinds they are
	 * the unknown-key warnings they always were. */
	char **extra;
	unsigned *extra_lines;
	size_t n_extra, extra_allocated, extra_lines_allocated;
};

void jobfile_done(struct jobfile *j); /* frees members; accepts zeroed */
static inline void jobfile_donep(struct jobfile *j)
{
	jobfile_done(j);
}

/*
 * True when a directory entry name is a job file we look at: ends in ".job",
 * has something before the suffix and does not start with '.'.
 */
bool jobfile_name_is_valid(const char *name);

/*
 * Parse buf (contents of file, named in messages). On success returns 0 and
 * fills *ret (caller calls jobfile_done()). Returns -EINVAL when the file has
 * errors (all of them are in diags, with FILE:LINE), -ENOMEM on OOM.
 * Warnings do not make it fail.
 */
int jobfile_parse_buffer(const char *file, const char *buf, size_t len, struct jobfile *ret,
			 struct diag_list *diags);

/*
 * Check the references of a parsed job against a loaded config: the endpoint
 * exists (or a default endpoint exists when none is named) and a non-empty
 * Hook= is allowed ([Hook] AllowJobHooks=yes) and splits into words whose
 * first is an absolute path. Errors at the key's line.
 *
 * A user kind: its [Kind:NAME] exists (else an error at Kind=), the file
 * gives every {Key} of its StatusPath= with a valid value, and the status
 * path builds (at most USERKIND_STATUS_PATH_MAX); kept keys the kind does
 * not use are unknown-key warnings. On success j->user_text and
 * j->ident.user are set (so j is not const).
 * Returns 0, -EINVAL or -ENOMEM.
 */
int jobfile_check_refs(const char *file, struct jobfile *j, const struct config *c,
		       struct diag_list *diags);

/*
 * Read dirfd/name safely and parse it: no symlinks (O_NOFOLLOW), no FIFOs or
 * devices (refused without blocking), at most INI_FILE_MAX bytes, binary
 * content refused. path is the name used in messages (the full path).
 * Read errors are reported as "PATH: message". Returns 0, -ENOENT when the
 * file is gone (nothing reported: it was removed), -EINVAL when the file is
 * bad (reported), or another negative errno (reported).
 */
int jobfile_load(int dirfd, const char *name, const char *path, struct jobfile *ret,
		 struct diag_list *diags);

/*
 * Render a job file for jobwatchctl add: the [Job] section with the given
 * values (endpoint and description may be NULL). Description must not contain
 * a newline (-EINVAL). Returns an owned string or NULL on OOM/invalid input
 * with *ret_error set to a negative errno.
 */
char *jobfile_format(const uint8_t id[static 16], enum job_action action, const char *endpoint,
		     const char *description, int *ret_error);

/*
 * The same for a job of any kind (jobwatchctl add --kind): Kind= (left out
 * for annotation-reply, so its files read as before) and the kind's keys
 * from ident; for a KIND_USER ident Kind=NAME, JobID= and each Key=value of
 * its text. -EINVAL when ident is not valid for its kind.
 */
char *jobfile_format_kind(const struct kind_ident *ident, const char *endpoint,
			  const char *description, int *ret_error);
