/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * String, number, file and id helpers used across the tree. Pure: no logging,
 * no event loop. Functions returning int give >= 0 on success and a negative
 * errno on failure.
 */

#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

#include "macro.h"

static inline bool streq(const char *a, const char *b)
{
	return strcmp(a, b) == 0;
}

static inline bool streq_ptr(const char *a, const char *b)
{
	if (!a || !b) {
		return a == b;
	}
	return streq(a, b);
}

static inline bool isempty(const char *s)
{
	return !s || s[0] == '\0';
}

static inline const char *strempty(const char *s)
{
	return s ? s : "";
}

int close_nointr(int fd);

static inline void closep(int *fd)
{
	if (*fd >= 0) {
		(void)close_nointr(*fd);
	}
}

/* strdup() that passes NULL through: NULL for NULL, else a copy or NULL on OOM. */
char *strdup_or_null(const char *s);

/* Returns a new string "a" + "b" + ... (NULL-terminated list); NULL on OOM. */
char *strjoin_real(const char *a, ...) __attribute__((sentinel));
#define strjoin(...) strjoin_real(__VA_ARGS__, NULL)

/* Strict numbers: the whole string must be consumed, no sign for unsigned,
 * no leading/trailing space. -EINVAL on syntax, -ERANGE on overflow. */
int safe_atou(const char *s, unsigned *ret);
int safe_atou64(const char *s, uint64_t *ret);
int safe_atod(const char *s, double *ret);

/* Name tables of enums (table[value] = name): the name of i, or NULL when out
 * of range; the value named s, or -EINVAL. */
const char *string_table_name(const char *const *table, size_t n, int i);
int string_table_value(const char *const *table, size_t n, const char *s);

/* A NULL-terminated array of owned strings. */
void strv_free(char **l);
DEFINE_TRIVIAL_CLEANUP_FUNC(char **, strv_free);
size_t strv_length(char *const *l);

/*
 * Split a command line into words the way systemd's ExecStart= does, without a
 * shell: words are separated by blanks; "double" and 'single' quotes group;
 * backslash escapes the next character (\n \t \\ \" \' \ and \x## are known).
 * Also known: \a \b \f \r \v \s (a blank) and octal \NNN.
 * Returns 0 and a NULL-terminated owned vector in *ret (empty vector for an
 * empty string), -EINVAL for unbalanced quotes, a trailing backslash, an
 * unknown escape or one that gives a NUL byte, -ENOMEM on OOM.
 */
int split_words(const char *s, char ***ret);

/* UUID text "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", hex digits in any case. */
#define UUID_STRING_MAX 37 /* 36 characters and the NUL */
int uuid_from_string(const char *s, uint8_t ret[static 16]);
/* Writes the lower-case form into buf (UUID_STRING_MAX bytes); returns buf. */
char *uuid_to_string(const uint8_t id[static 16], char buf[static UUID_STRING_MAX]);

/*
 * Read a whole regular file, at most max bytes, into a NUL-terminated buffer.
 * With nofollow set, a symlink is refused (-ELOOP). Non-regular files (FIFOs,
 * devices, directories) are refused with -EBADFD without blocking on them.
 * More than max bytes gives -EFBIG. *ret_len excludes the terminating NUL.
 * dirfd may be AT_FDCWD.
 */
int read_file_capped(int dirfd, const char *path, size_t max, bool nofollow, char **ret,
		     size_t *ret_len);

/* Make room for at least need elements of size elem in *p (capacity *cap,
 * in elements), doubling: amortised O(1) appends. Returns false on overflow
 * or out of memory, leaving *p and *cap as they were. */
bool grow_array(void **p, size_t *cap, size_t elem, size_t need);

/* fsync() the directory holding path ("." for a name without '/'). */
int fsync_directory_of(const char *path);

/* Set close-on-exec on every open fd >= first, so that a child exec'd
 * afterwards inherits none of them: close_range(CLOSE_RANGE_CLOEXEC), or
 * walking /proc/self/fd where that is unavailable (Linux < 5.11).
 * fd_cloexec_from_proc() is that fallback alone. 0 or a negative errno. */
int fd_cloexec_from(int first);
int fd_cloexec_from_proc(int first);

/* CLOCK_REALTIME / CLOCK_MONOTONIC in microseconds. */
usec_t now_realtime_usec(void);
usec_t now_monotonic_usec(void);

/* Overwrite secret memory so that it cannot linger after free. */
void erase_and_free(char *s);
static inline void erase_and_freep(char **s)
{
	erase_and_free(*s);
}

/* true for a name containing only [A-Za-z0-9_.-], 1..64 characters, other
 * than "." and ".." (names are used as file names, e.g. credentials). */
bool name_is_valid(const char *s);

/* The host of an http(s) URL: after "scheme://" and any "user@", without a
 * port, without the [] of an IPv6 address (length 0 when there is no host).
 * Returns false when url is not http:// or https://. *ret_host points into
 * url. */
bool url_host(const char *url, const char **ret_host, size_t *ret_len);

/* Hostname part of an http(s) URL is a loopback address or "localhost". */
bool url_host_is_loopback(const char *url);
