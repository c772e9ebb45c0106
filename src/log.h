/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Logging with systemd's levels to the journal (structured, with extra
 * fields) or to stderr (readable lines). Every message is escaped
 * (escape.h) before it is written, on both targets, so callers may quote text
 * from outside in it; extra fields are written as given (exact bytes). The target is chosen once at start
 * (log_setup). log_*_errno() return the negative errno they were given, so
 * "return log_error_errno(r, ...)" logs and fails in one step; "%m" in the
 * format prints strerror of that error.
 */

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h> /* abs() in log_job_errno() */
#include <syslog.h>

#include "macro.h"

enum log_target {
	LOG_TARGET_AUTO,
	LOG_TARGET_JOURNAL,
	LOG_TARGET_CONSOLE,
	_LOG_TARGET_MAX,
};
int log_target_from_string(const char *s); /* -EINVAL if unknown */

/*
 * Resolve and set the target. AUTO means the journal when running under
 * systemd ($JOURNAL_STREAM names our stderr, or $INVOCATION_ID is set), or
 * when stderr is not a terminal and journald's socket is reachable; the
 * console otherwise. Returns the target in use.
 */
enum log_target log_setup(enum log_target t);
enum log_target log_get_target(void);

void log_set_max_level(int level);
int log_get_max_level(void);

/* The identifier in SYSLOG_IDENTIFIER= and console prefixes ("jobwatchd"). */
void log_set_identifier(const char *ident);

/*
 * Log one message with optional extra journal fields: fields is a
 * NULL-terminated list of "KEY=value" strings (may be NULL). Returns
 * -abs(error) when error != 0, 0 otherwise.
 */
int log_fields_internal(int level, int error, const char *const *fields, const char *fmt, ...)
	_printf_(4, 5);
/* The same with a va_list: the one structured-log helper for wrappers that
 * add their own fields (an endpoint's name, a MESSAGE_ID, a JOB_ID). */
int log_fields_va(int level, int error, const char *const *fields, const char *fmt, va_list ap)
	__attribute__((format(printf, 4, 0)));

#define log_full_errno(level, error, ...) log_fields_internal((level), (error), NULL, __VA_ARGS__)
#define log_full(level, ...) log_fields_internal((level), 0, NULL, __VA_ARGS__)

#define log_debug(...) log_full(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_full(LOG_INFO, __VA_ARGS__)
#define log_notice(...) log_full(LOG_NOTICE, __VA_ARGS__)
#define log_warning(...) log_full(LOG_WARNING, __VA_ARGS__)
#define log_error(...) log_full(LOG_ERR, __VA_ARGS__)

#define log_debug_errno(e, ...) log_full_errno(LOG_DEBUG, (e), __VA_ARGS__)
#define log_info_errno(e, ...) log_full_errno(LOG_INFO, (e), __VA_ARGS__)
#define log_notice_errno(e, ...) log_full_errno(LOG_NOTICE, (e), __VA_ARGS__)
#define log_warning_errno(e, ...) log_full_errno(LOG_WARNING, (e), __VA_ARGS__)
#define log_error_errno(e, ...) log_full_errno(LOG_ERR, (e), __VA_ARGS__)

/*
 * A message about one job: "Job ID (FILE): message" with a JOB_ID= field, so
 * that `journalctl JOB_ID=...` tells the job's whole story. id is the job's
 * own id as text (job_id_string(), kind_ident_id_string()). extra is an
 * optional NULL-terminated list of more "KEY=value" fields.
 */
int log_job_internal(int level, int error, const char *id, const char *file,
		     const char *const *extra, const char *fmt, ...) _printf_(6, 7);
/* For a struct job *j (job.h): its id is formatted only when the message is
 * written. */
#define log_job_errno(level, error, j, ...)                                                        \
	(log_would_log(level)                                                                      \
		 ? log_job_internal((level), (error),                                              \
				    job_id_string((j), (char[KIND_ID_STRING_MAX]){ 0 }),           \
				    (j)->file, NULL, __VA_ARGS__)                                  \
		 : -abs(error))
#define log_job(level, j, ...) log_job_errno((level), 0, (j), __VA_ARGS__)

/* "FILE:LINE: message" with CONFIG_FILE= and CONFIG_LINE= fields. */
int log_syntax_internal(int level, const char *file, unsigned line, const char *fmt, ...)
	_printf_(4, 5);
#define log_syntax(level, file, line, ...) log_syntax_internal((level), (file), (line), __VA_ARGS__)

/* True when messages of this level would be written (skip costly formatting). */
bool log_would_log(int level);
