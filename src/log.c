/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <systemd/sd-journal.h>
#include <time.h>
#include <unistd.h>

#include "escape.h"
#include "log.h"
#include "string-util.h"
#include "uuid-util.h"

/* Logging state is process-wide by nature, like stderr itself. */
static enum log_target log_target = LOG_TARGET_CONSOLE;
static int log_max_level = LOG_INFO;
static const char *log_identifier = "jobwatchd";

#define LOG_LINE_MAX 2048 /* a message longer than this is cut */
#define LOG_FIELDS_MAX 16

int log_target_from_string(const char *s)
{
	static const char *const table[_LOG_TARGET_MAX] = {
		[LOG_TARGET_AUTO] = "auto",
		[LOG_TARGET_JOURNAL] = "journal",
		[LOG_TARGET_CONSOLE] = "console",
	};
	for (unsigned i = 0; i < _LOG_TARGET_MAX; i++) {
		if (streq(s, table[i])) {
			return (int)i;
		}
	}
	return -EINVAL;
}

/* $JOURNAL_STREAM is "DEV:INODE" of the stream systemd connected to our
 * stderr; it is only ours if fd 2 still is that stream. */
static bool stderr_is_journal_stream(void)
{
	const char *e = getenv("JOURNAL_STREAM");
	struct stat st;
	unsigned long long dev, ino;

	if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2) {
		return false;
	}
	if (fstat(STDERR_FILENO, &st) < 0) {
		return false;
	}
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

static bool journald_reachable(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	bool ok;

	if (fd < 0) {
		return false;
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "/run/systemd/journal/socket");
	ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

enum log_target log_setup(enum log_target t)
{
	if (t == LOG_TARGET_AUTO) {
		if (stderr_is_journal_stream() || getenv("INVOCATION_ID")) {
			t = LOG_TARGET_JOURNAL;
		} else if (!isatty(STDERR_FILENO) && journald_reachable()) {
			t = LOG_TARGET_JOURNAL;
		} else {
			t = LOG_TARGET_CONSOLE;
		}
	}
	log_target = t;
	return t;
}

enum log_target log_get_target(void)
{
	return log_target;
}

void log_set_max_level(int level)
{
	log_max_level = level;
}

int log_get_max_level(void)
{
	return log_max_level;
}

void log_set_identifier(const char *ident)
{
	log_identifier = ident;
}

bool log_would_log(int level)
{
	return level <= log_max_level;
}

static const char *level_name(int level)
{
	static const char *const names[] = {
		[LOG_EMERG] = "emerg", [LOG_ALERT] = "alert",	  [LOG_CRIT] = "crit",
		[LOG_ERR] = "error",   [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice",
		[LOG_INFO] = "info",   [LOG_DEBUG] = "debug",
	};
	return level >= 0 && level <= LOG_DEBUG ? names[level] : "log";
}

static void write_console(int level, const char *msg)
{
	/* One write per line, so lines of concurrent writers do not interleave. */
	char line[LOG_LINE_MAX + 64];
	int n;

	if (level <= LOG_WARNING) {
		n = snprintf(line, sizeof(line), "%s: %s: %s\n", log_identifier, level_name(level),
			     msg);
	} else {
		n = snprintf(line, sizeof(line), "%s: %s\n", log_identifier, msg);
	}
	if (n > 0) {
		(void)!write(STDERR_FILENO, line, MIN((size_t)n, sizeof(line) - 1));
	}
}

static void write_journal(int level, const char *msg, const char *const *fields)
{
	struct iovec iov[LOG_FIELDS_MAX + 3];
	char prio[16], ident[64], *m;
	size_t n = 0;

	snprintf(prio, sizeof(prio), "PRIORITY=%d", level);
	snprintf(ident, sizeof(ident), "SYSLOG_IDENTIFIER=%s", log_identifier);
	m = strjoin("MESSAGE=", msg);
	if (!m) {
		write_console(level, msg);
		return;
	}
	iov[n++] = (struct iovec){ .iov_base = m, .iov_len = strlen(m) };
	iov[n++] = (struct iovec){ .iov_base = prio, .iov_len = strlen(prio) };
	iov[n++] = (struct iovec){ .iov_base = ident, .iov_len = strlen(ident) };
	for (size_t i = 0; fields && fields[i] && n < ELEMENTSOF(iov); i++) {
		iov[n++] = (struct iovec){ .iov_base = (void *)fields[i],
					   .iov_len = strlen(fields[i]) };
	}
	if (sd_journal_sendv(iov, (int)n) < 0) {
		write_console(level, msg);
	}
	free(m);
}

/*
 * Every message passes here, whatever put it together: text from a server, a
 * file name or a file's content is escaped (escape.h) before it reaches a
 * terminal or MESSAGE=. Extra fields keep their exact bytes.
 */
static void log_dispatch(int level, const char *msg, const char *const *fields)
{
	char safe[LOG_LINE_MAX];

	escape_text_buf(safe, sizeof(safe), msg, strlen(msg));
	if (log_target == LOG_TARGET_JOURNAL) {
		write_journal(level, safe, fields);
	} else {
		write_console(level, safe);
	}
}

/*
 * The one place a message is formatted: prefix (may be NULL) and then fmt, as
 * one line, to log_dispatch() with fields. %m prints strerror(error).
 */
static int log_core(int level, int error, const char *const *fields, const char *prefix,
		    const char *fmt, va_list ap) __attribute__((format(printf, 5, 0)));
static int log_core(int level, int error, const char *const *fields, const char *prefix,
		    const char *fmt, va_list ap)
{
	char msg[LOG_LINE_MAX], full[LOG_LINE_MAX + 512];

	if (error < 0) {
		error = -error;
	}
	if (!log_would_log(level)) {
		return -error;
	}
	/* %m prints strerror(errno): make it the error we were given */
	errno = error;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (prefix) {
		snprintf(full, sizeof(full), "%s%s", prefix, msg);
	}
	log_dispatch(level, prefix ? full : msg, fields);
	return -error;
}

int log_fields_va(int level, int error, const char *const *fields, const char *fmt, va_list ap)
{
	return log_core(level, error, fields, NULL, fmt, ap);
}

int log_fields_internal(int level, int error, const char *const *fields, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = log_fields_va(level, error, fields, fmt, ap);
	va_end(ap);
	return r;
}

int log_job_internal(int level, int error, const char *id, const char *file,
		     const char *const *extra, const char *fmt, ...)
{
	char prefix[512];
	char fid[64];
	const char *fields[LOG_FIELDS_MAX + 2];
	size_t n = 0;
	va_list ap;
	int r;

	if (!log_would_log(level)) {
		return -abs(error);
	}
	snprintf(prefix, sizeof(prefix), "Job %s (%s): ", strempty(id), strempty(file));
	snprintf(fid, sizeof(fid), "JOB_ID=%s", strempty(id));
	fields[n++] = fid;
	for (size_t i = 0; extra && extra[i] && n < LOG_FIELDS_MAX; i++) {
		fields[n++] = extra[i];
	}
	fields[n] = NULL;
	va_start(ap, fmt);
	r = log_core(level, error, fields, prefix, fmt, ap);
	va_end(ap);
	return r;
}

int log_syntax_internal(int level, const char *file, unsigned line, const char *fmt, ...)
{
	char prefix[512] = "";
	char ffile[512], fline[32];
	const char *fields[3] = { ffile, fline, NULL };
	va_list ap;

	if (!log_would_log(level)) {
		return -EINVAL;
	}
	snprintf(ffile, sizeof(ffile), "CONFIG_FILE=%s", strempty(file));
	snprintf(fline, sizeof(fline), "CONFIG_LINE=%u", line);
	if (line > 0) {
		snprintf(prefix, sizeof(prefix), "%s:%u: ", strempty(file), line);
	} else if (file) {
		snprintf(prefix, sizeof(prefix), "%s: ", file);
	}
	va_start(ap, fmt);
	(void)log_core(level, EINVAL, fields, prefix, fmt, ap);
	va_end(ap);
	return -EINVAL;
}
