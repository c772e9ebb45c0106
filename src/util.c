/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

int close_nointr(int fd)
{
	/* On Linux the fd is gone even when close() reports EINTR; retrying
	 * could close an fd another thread just got, so EINTR counts as done. */
	if (close(fd) < 0 && errno != EINTR) {
		return -errno;
	}
	return 0;
}

char *strdup_or_null(const char *s)
{
	if (!s) {
		return NULL;
	}
	return strdup(s);
}

char *strjoin_real(const char *a, ...)
{
	va_list ap;
	size_t len = 0;
	char *r, *p;

	va_start(ap, a);
	for (const char *s = a; s; s = va_arg(ap, const char *)) {
		size_t n = strlen(s);

		if (n > SIZE_MAX - 1 - len) {
			va_end(ap);
			return NULL;
		}
		len += n;
	}
	va_end(ap);

	r = malloc(len + 1);
	if (!r) {
		return NULL;
	}

	p = r;
	va_start(ap, a);
	for (const char *s = a; s; s = va_arg(ap, const char *)) {
		size_t n = strlen(s);

		memcpy(p, s, n);
		p += n;
	}
	va_end(ap);
	*p = '\0';
	return r;
}

/* Digits only: strtoull() alone would accept blanks, a sign and "0x". */
static int parse_decimal_u64(const char *s, uint64_t *ret)
{
	unsigned long long v;
	char *end = NULL;

	if (!s || !isdigit((unsigned char)s[0])) {
		return -EINVAL;
	}

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno == ERANGE) {
		return -ERANGE;
	}
	if (errno != 0 || !end || *end != '\0') {
		return -EINVAL;
	}

	*ret = (uint64_t)v;
	return 0;
}

int safe_atou(const char *s, unsigned *ret)
{
	uint64_t v;
	int r;

	r = parse_decimal_u64(s, &v);
	if (r < 0) {
		return r;
	}
	if (v > UINT_MAX) {
		return -ERANGE;
	}

	*ret = (unsigned)v;
	return 0;
}

int safe_atou64(const char *s, uint64_t *ret)
{
	return parse_decimal_u64(s, ret);
}

int safe_atod(const char *s, double *ret)
{
	locale_t loc;
	char *end = NULL;
	double v;
	int saved;

	/* Plain decimal notation only: strtod() would also take blanks,
	 * "nan", "inf" and hex floats. */
	if (!s || s[0] == '\0' || strspn(s, "0123456789.eE+-") != strlen(s)) {
		return -EINVAL;
	}

	/* strtod() follows LC_NUMERIC; a config file must not mean something
	 * else under a locale whose decimal point is ','. */
	loc = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
	if (loc == (locale_t)0) {
		return -ENOMEM;
	}
	errno = 0;
	v = strtod_l(s, &end, loc);
	saved = errno;
	freelocale(loc);

	if (!end || end == s || *end != '\0') {
		return -EINVAL;
	}
	if (saved == ERANGE || !isfinite(v)) {
		return -ERANGE;
	}
	if (saved != 0) {
		return -EINVAL;
	}

	*ret = v;
	return 0;
}

void strv_free(char **l)
{
	if (!l) {
		return;
	}
	for (char **p = l; *p; p++) {
		free(*p);
	}
	free(l);
}

size_t strv_length(char *const *l)
{
	size_t n = 0;

	if (!l) {
		return 0;
	}
	while (l[n]) {
		n++;
	}
	return n;
}

bool grow_array(void **p, size_t *cap, size_t elem, size_t need)
{
	size_t n = *cap ? *cap : 16;
	void *q;

	if (need <= *cap) {
		return true;
	}
	while (n < need) {
		if (n > SIZE_MAX / 2) {
			return false;
		}
		n *= 2;
	}
	if (elem && n > SIZE_MAX / elem) {
		return false;
	}
	q = realloc(*p, n * elem);
	if (!q) {
		return false;
	}
	*p = q;
	*cap = n;
	return true;
}

/* A growable string for split_words(). */
struct word {
	char *s;
	size_t len, allocated;
	bool started; /* "" is a word once quotes were seen */
};

static int word_append(struct word *w, char c)
{
	if (w->len + 2 > w->allocated) {
		size_t n = w->allocated ? w->allocated * 2 : 32;
		char *p = realloc(w->s, n);

		if (!p) {
			return -ENOMEM;
		}
		w->s = p;
		w->allocated = n;
	}
	w->s[w->len++] = c;
	w->s[w->len] = '\0';
	w->started = true;
	return 0;
}

static int strv_push(char ***l, size_t *n, char *s)
{
	char **p = realloc(*l, (*n + 2) * sizeof(char *));

	if (!p) {
		return -ENOMEM;
	}
	p[(*n)++] = s;
	p[*n] = NULL;
	*l = p;
	return 0;
}

static int unhex(char c)
{
	if (c >= '0' && c <= '9') {
		return c - '0';
	}
	if (c >= 'a' && c <= 'f') {
		return c - 'a' + 10;
	}
	if (c >= 'A' && c <= 'F') {
		return c - 'A' + 10;
	}
	return -EINVAL;
}

/*
 * Decode the escape after a backslash at *p (p points past the backslash).
 * Returns the number of characters consumed and the byte in *ret, or
 * -EINVAL for an unknown or NUL-producing escape.
 */
static int unescape_one(const char *p, char *ret)
{
	switch (p[0]) {
	case 'a':
		*ret = '\a';
		return 1;
	case 'b':
		*ret = '\b';
		return 1;
	case 'f':
		*ret = '\f';
		return 1;
	case 'n':
		*ret = '\n';
		return 1;
	case 'r':
		*ret = '\r';
		return 1;
	case 't':
		*ret = '\t';
		return 1;
	case 'v':
		*ret = '\v';
		return 1;
	case 's':
		*ret = ' ';
		return 1;
	case '\\':
	case '"':
	case '\'':
	case ' ':
		*ret = p[0];
		return 1;
	case 'x': {
		int a = unhex(p[1]), b;

		if (a < 0) {
			return -EINVAL;
		}
		b = unhex(p[2]);
		if (b < 0 || (a == 0 && b == 0)) {
			return -EINVAL; /* a NUL cannot be part of a C string */
		}
		*ret = (char)(a << 4 | b);
		return 3;
	}
	case '0':
	case '1':
	case '2':
	case '3': {
		int v = 0;

		for (int i = 0; i < 3; i++) {
			if (p[i] < '0' || p[i] > '7') {
				return -EINVAL;
			}
			v = v * 8 + (p[i] - '0');
		}
		if (v == 0) {
			return -EINVAL;
		}
		*ret = (char)v;
		return 3;
	}
	default:
		/* Unknown escapes and a trailing backslash. */
		return -EINVAL;
	}
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

int split_words(const char *s, char ***ret)
{
	_cleanup_(strv_freep) char **l = NULL;
	struct word w = {};
	size_t n = 0;
	char quote = 0;
	int r;

	l = calloc(1, sizeof(char *));
	if (!l) {
		return -ENOMEM;
	}

	for (const char *p = s;; p++) {
		char c = *p;

		if (c == '\0' || (!quote && is_blank(c))) {
			if (c == '\0' && quote) {
				r = -EINVAL; /* unbalanced quote */
				goto fail;
			}
			if (w.started) {
				if (!w.s) {
					w.s = strdup("");
					if (!w.s) {
						r = -ENOMEM;
						goto fail;
					}
				}
				r = strv_push(&l, &n, w.s);
				if (r < 0) {
					goto fail;
				}
				w = (struct word){};
			}
			if (c == '\0') {
				break;
			}
			continue;
		}

		if (c == '\\') {
			char e;
			int k = unescape_one(p + 1, &e);

			if (k < 0) {
				r = k;
				goto fail;
			}
			r = word_append(&w, e);
			if (r < 0) {
				goto fail;
			}
			p += k;
		} else if (quote && c == quote) {
			quote = 0;
		} else if (!quote && (c == '"' || c == '\'')) {
			quote = c;
			w.started = true;
		} else {
			r = word_append(&w, c);
			if (r < 0) {
				goto fail;
			}
		}
	}

	*ret = TAKE_PTR(l);
	return 0;

fail:
	free(w.s);
	return r;
}

int uuid_from_string(const char *s, uint8_t ret[static 16])
{
	uint8_t id[16];
	size_t j = 0;

	if (!s || strlen(s) != 36) {
		return -EINVAL;
	}

	for (size_t i = 0; i < 36;) {
		int a, b;

		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-') {
				return -EINVAL;
			}
			i++;
			continue;
		}
		a = unhex(s[i]);
		b = unhex(s[i + 1]);
		if (a < 0 || b < 0) {
			return -EINVAL;
		}
		id[j++] = (uint8_t)(a << 4 | b);
		i += 2;
	}

	memcpy(ret, id, sizeof(id));
	return 0;
}

char *uuid_to_string(const uint8_t id[static 16], char buf[static UUID_STRING_MAX])
{
	static const char hex[] = "0123456789abcdef";
	char *p = buf;

	for (size_t i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10) {
			*p++ = '-';
		}
		*p++ = hex[id[i] >> 4];
		*p++ = hex[id[i] & 15];
	}
	*p = '\0';
	return buf;
}

/* Read the regular file fd to its end into a buffer sized from st_size;
 * -EFBIG past max. A read shorter than asked for is the end of a regular
 * file (saves a read() per file when scanning 100,000). */
static int read_fd_capped(int fd, size_t size_hint, size_t max, char **ret, size_t *ret_len)
{
	/* One byte more than we expect, to see EOF without a realloc (the
	 * buffer may hold a secret), plus the NUL. */
	size_t allocated, n = 0;
	char *buf;

	if (max > SIZE_MAX - 2) {
		return -EINVAL;
	}
	allocated = MIN(size_hint, max) + 2;
	buf = malloc(allocated);
	if (!buf) {
		return -ENOMEM;
	}

	for (;;) {
		ssize_t k;

		if (n + 1 >= allocated) {
			size_t grow = MIN(allocated * 2, max + 2);
			char *p;

			if (n > max) {
				free(buf);
				return -EFBIG;
			}
			p = realloc(buf, grow);
			if (!p) {
				free(buf);
				return -ENOMEM;
			}
			buf = p;
			allocated = grow;
		}

		size_t want = allocated - 1 - n;
		k = read(fd, buf + n, want);
		if (k < 0) {
			int r = -errno;

			if (r == -EINTR) {
				continue;
			}
			free(buf);
			return r;
		}
		if (k == 0) {
			break;
		}
		n += (size_t)k;
		if ((size_t)k < want) {
			break;
		}
	}

	if (n > max) {
		free(buf);
		return -EFBIG;
	}
	buf[n] = '\0';
	*ret = buf;
	if (ret_len) {
		*ret_len = n;
	}
	return 0;
}

int read_file_capped(int dirfd, const char *path, size_t max, bool nofollow, char **ret,
		     size_t *ret_len)
{
	_cleanup_(closep) int fd = -1;
	struct stat st;

	/* O_NONBLOCK: opening a FIFO must not wait for a writer; fstat()
	 * below refuses it before anything is read. */
	fd = openat(dirfd, path,
		    O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | (nofollow ? O_NOFOLLOW : 0));
	if (fd < 0) {
		return -errno;
	}
	if (fstat(fd, &st) < 0) {
		return -errno;
	}
	if (!S_ISREG(st.st_mode)) {
		return -EBADFD;
	}
	if ((uint64_t)st.st_size > max) {
		return -EFBIG;
	}

	return read_fd_capped(fd, (size_t)st.st_size, max, ret, ret_len);
}

int fsync_directory_of(const char *path)
{
	_cleanup_(closep) int fd = -1;
	_cleanup_(freep) char *dir = NULL;
	char *slash;

	if (isempty(path)) {
		return -EINVAL;
	}

	dir = strdup(path);
	if (!dir) {
		return -ENOMEM;
	}
	slash = strrchr(dir, '/');
	if (!slash) {
		dir[0] = '.';
		dir[1] = '\0';
	} else if (slash == dir) {
		dir[1] = '\0'; /* "/foo" lives in "/" */
	} else {
		*slash = '\0';
	}

	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		return -errno;
	}
	if (fsync(fd) < 0) {
		return -errno;
	}
	return 0;
}

int fd_cloexec_from_proc(int first)
{
	int dfd = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC), r = 0;
	DIR *dir;
	struct dirent *de;

	if (dfd < 0) {
		return -errno;
	}
	dir = fdopendir(dfd); /* owns dfd from here on */
	if (!dir) {
		r = -errno;
		close(dfd);
		return r;
	}
	while ((de = readdir(dir))) {
		unsigned fd;
		int flags;

		if (safe_atou(de->d_name, &fd) < 0 || fd < (unsigned)first || fd > INT_MAX ||
		    (int)fd == dirfd(dir)) {
			continue;
		}
		flags = fcntl((int)fd, F_GETFD);
		if (flags < 0) {
			continue; /* closed since the listing was read */
		}
		if (!(flags & FD_CLOEXEC) && fcntl((int)fd, F_SETFD, flags | FD_CLOEXEC) < 0) {
			r = -errno;
		}
	}
	closedir(dir);
	return r;
}

int fd_cloexec_from(int first)
{
#ifdef SYS_close_range
	if (syscall(SYS_close_range, (unsigned)first, ~0U, CLOSE_RANGE_CLOEXEC) == 0) {
		return 0;
	}
	/* ENOSYS before Linux 5.11, EINVAL for CLOSE_RANGE_CLOEXEC before 5.11 too */
#endif
	return fd_cloexec_from_proc(first);
}

static usec_t now_usec(clockid_t clock)
{
	struct timespec ts;

	/* Cannot fail for these clocks on Linux. */
	if (clock_gettime(clock, &ts) < 0) {
		return 0;
	}
	return (usec_t)ts.tv_sec * USEC_PER_SEC + (usec_t)ts.tv_nsec / 1000U;
}

usec_t now_realtime_usec(void)
{
	return now_usec(CLOCK_REALTIME);
}

usec_t now_monotonic_usec(void)
{
	return now_usec(CLOCK_MONOTONIC);
}

void erase_and_free(char *s)
{
	if (!s) {
		return;
	}
	explicit_bzero(s, strlen(s));
	free(s);
}

bool name_is_valid(const char *s)
{
	size_t n;

	if (!s) {
		return false;
	}
	n = strlen(s);
	if (n < 1 || n > 64) {
		return false;
	}
	/* "." and ".." would name directories when used as a file name. */
	if (streq(s, ".") || streq(s, "..")) {
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!isascii((unsigned char)c) ||
		    !(isalnum((unsigned char)c) || c == '_' || c == '.' || c == '-')) {
			return false;
		}
	}
	return true;
}

static bool host_is_loopback(const char *host)
{
	struct in6_addr a6;
	struct in_addr a4;

	if (strcasecmp(host, "localhost") == 0 || strcasecmp(host, "localhost.") == 0) {
		return true;
	}
	if (inet_pton(AF_INET, host, &a4) == 1) {
		return (ntohl(a4.s_addr) >> 24) == 127;
	}
	if (inet_pton(AF_INET6, host, &a6) == 1) {
		if (IN6_IS_ADDR_LOOPBACK(&a6)) {
			return true;
		}
		return IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127;
	}
	return false;
}

bool url_host(const char *url, const char **ret_host, size_t *ret_len)
{
	const char *p, *end, *at, *stop;

	if (strncasecmp(url, "http://", 7) == 0) {
		p = url + 7;
	} else if (strncasecmp(url, "https://", 8) == 0) {
		p = url + 8;
	} else {
		return false;
	}
	/* The authority ends at the path, query or fragment. */
	end = p + strcspn(p, "/?#");
	/* Drop "user:password@"; the last '@' ends it. */
	at = memrchr(p, '@', (size_t)(end - p));
	if (at) {
		p = at + 1;
	}
	if (*p == '[') {
		p++;
		stop = memchr(p, ']', (size_t)(end - p));
		stop = stop ? stop : p; /* no ']': no host */
	} else {
		stop = memchr(p, ':', (size_t)(end - p));
		stop = stop ? stop : end;
	}
	*ret_host = p;
	*ret_len = (size_t)(stop - p);
	return true;
}

bool url_host_is_loopback(const char *url)
{
	const char *p;
	char host[256];
	size_t len;

	if (!url || !url_host(url, &p, &len)) {
		return false;
	}

	if (len == 0 || len >= sizeof(host)) {
		return false;
	}
	memcpy(host, p, len);
	host[len] = '\0';
	return host_is_loopback(host);
}

const char *string_table_name(const char *const *table, size_t n, int i)
{
	return i >= 0 && (size_t)i < n ? table[i] : NULL;
}

int string_table_value(const char *const *table, size_t n, const char *s)
{
	for (size_t i = 0; s && i < n; i++) {
		if (table[i] && streq(s, table[i])) {
			return (int)i;
		}
	}
	return -EINVAL;
}
