/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "escape.h"
#include "fileio.h"
#include "ini.h"

#define BLANKS " \t\r"
#define UTF8_BOM "\xef\xbb\xbf"

struct ini_state {
	const char *file;
	ini_section_fn on_section;
	ini_handler_fn on_key;
	void *userdata;
	struct diag_list *diags;
	char *section; /* owned; NULL before the first header or after a bad one */
	bool bad_section; /* keys under a malformed header are dropped silently */
};

/* The logical line being assembled from continuation lines. */
struct line_buf {
	char *s; /* owned */
	size_t len, allocated;
};

static int line_buf_append(struct line_buf *b, const char *p, size_t n)
{
	if (b->len + n + 1 > b->allocated) {
		size_t want = MAX(b->allocated * 2, b->len + n + 1);
		char *s = realloc(b->s, want);

		if (!s) {
			return -ENOMEM;
		}
		b->s = s;
		b->allocated = want;
	}
	assert(b->s); /* allocated > 0 from here on */
	memcpy(b->s + b->len, p, n);
	b->len += n;
	b->s[b->len] = '\0';
	return 0;
}

/* Strip blanks in place at both ends; returns the new start. */
static char *strip(char *s)
{
	size_t n;

	s += strspn(s, BLANKS);
	n = strlen(s);
	while (n > 0 && strchr(BLANKS, s[n - 1])) {
		s[--n] = '\0';
	}
	return s;
}

static bool is_comment(const char *p, size_t n)
{
	size_t i = 0;

	while (i < n && p[i] != '\0' && strchr(BLANKS, p[i])) {
		i++;
	}
	return i < n && (p[i] == '#' || p[i] == ';');
}

bool ini_line_continues(const char *s, size_t n)
{
	size_t k = 0;

	while (k < n && s[n - 1 - k] == '\\') {
		k++;
	}
	return k % 2 == 1;
}

static int parse_section(struct ini_state *st, unsigned line, char *s)
{
	char *close = strchr(s, ']'), *name;

	free(st->section);
	st->section = NULL;
	st->bad_section = true;

	if (!close) {
		diag_add(st->diags, DIAG_ERROR, st->file, line,
			 "Invalid section header '%s', missing ']'", QUOTE(s));
		return 0;
	}
	if (close[1 + strspn(close + 1, BLANKS)] != '\0') {
		diag_add(st->diags, DIAG_ERROR, st->file, line,
			 "Unexpected text '%s' after section header", QUOTE(close + 1));
		return 0;
	}
	*close = '\0';
	name = strip(s + 1);
	if (name[0] == '\0') {
		diag_add(st->diags, DIAG_ERROR, st->file, line, "Empty section name '[]'");
		return 0;
	}

	st->section = strdup(name);
	if (!st->section) {
		return -ENOMEM;
	}
	st->bad_section = false;
	if (st->on_section) {
		return st->on_section(st->userdata, st->file, line, st->section);
	}
	return 0;
}

static int parse_assignment(struct ini_state *st, unsigned line, char *s)
{
	char *eq = strchr(s, '='), *key;

	if (!eq) {
		diag_add(st->diags, DIAG_ERROR, st->file, line,
			 "Missing '=' in '%s', expected Key=Value, a [Section] or a comment",
			 QUOTE(s));
		return 0;
	}
	*eq = '\0';
	key = strip(s);
	if (key[0] == '\0') {
		diag_add(st->diags, DIAG_ERROR, st->file, line, "Empty key before '='");
		return 0;
	}
	if (st->bad_section) {
		return 0; /* already reported at the header */
	}
	if (!st->section) {
		diag_add(st->diags, DIAG_ERROR, st->file, line,
			 "Key '%s' outside of any section, expected a [Section] header before it",
			 QUOTE(key));
		return 0;
	}
	return st->on_key(st->userdata, st->file, line, st->section, key, strip(eq + 1));
}

static int parse_logical_line(struct ini_state *st, unsigned line, char *s)
{
	s = strip(s);
	if (s[0] == '\0') {
		return 0;
	}
	if (s[0] == '[') {
		return parse_section(st, line, s);
	}
	return parse_assignment(st, line, s);
}

static unsigned line_of_offset(const char *buf, size_t offset)
{
	unsigned line = 1;

	for (size_t i = 0; i < offset; i++) {
		line += buf[i] == '\n';
	}
	return line;
}

static int parse_lines(struct ini_state *st, const char *buf, size_t len)
{
	struct line_buf lb = {};
	const char *p = buf, *end = buf + len;
	unsigned line = 0, start_line = 0;
	bool continuing = false;
	int r = 0;

	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *next = eol ? eol + 1 : end;
		size_t n = (size_t)((eol ? eol : end) - p);

		line++;
		if (n > 0 && p[n - 1] == '\r') {
			n--;
		}

		/* Comments are whole lines, also between continuation lines,
		 * and a comment never continues onto the next line. */
		if (is_comment(p, n)) {
			p = next;
			continue;
		}

		if (!continuing) {
			lb.len = 0;
			start_line = line;
		}
		r = line_buf_append(&lb, p, n);
		if (r < 0) {
			goto out;
		}
		p = next;

		if (ini_line_continues(lb.s, lb.len)) {
			lb.s[lb.len - 1] = ' ';
			continuing = true;
			continue;
		}
		continuing = false;
		r = parse_logical_line(st, start_line, lb.s);
		if (r < 0) {
			goto out;
		}
	}

	/* A continuation at EOF ends there, as in systemd. */
	if (continuing) {
		r = parse_logical_line(st, start_line, lb.s);
	}
out:
	free(lb.s);
	return r < 0 ? r : 0;
}

int ini_parse_buffer(const char *file, const char *buf, size_t len, ini_section_fn on_section,
		     ini_handler_fn on_key, void *userdata, struct diag_list *diags)
{
	struct ini_state st = {
		.file = file,
		.on_section = on_section,
		.on_key = on_key,
		.userdata = userdata,
		.diags = diags,
	};
	const char *nul;
	int r;

	assert(on_key);

	nul = memchr(buf, '\0', len);
	if (nul) {
		diag_add(diags, DIAG_ERROR, file, line_of_offset(buf, (size_t)(nul - buf)),
			 "File contains a NUL byte, refusing binary content");
		return -EBADMSG;
	}

	if (len >= 3 && memcmp(buf, UTF8_BOM, 3) == 0) {
		buf += 3;
		len -= 3;
	}

	r = parse_lines(&st, buf, len);
	free(st.section);
	return r;
}

static const char *file_type_name(mode_t m)
{
	if (S_ISDIR(m)) {
		return "a directory";
	}
	if (S_ISFIFO(m)) {
		return "a FIFO";
	}
	if (S_ISSOCK(m)) {
		return "a socket";
	}
	if (S_ISCHR(m) || S_ISBLK(m)) {
		return "a device node";
	}
	return "not a regular file";
}

/* Turn a read_file_capped() failure into one "NAME: message" diagnostic. */
static void report_read_error(int dirfd, const char *path, const char *name, int r,
			      struct diag_list *diags)
{
	struct stat st;

	switch (r) {
	case -ELOOP:
		diag_add(diags, DIAG_ERROR, name, 0,
			 "File is a symbolic link, refusing to follow it");
		break;
	case -EBADFD:
		/* Only for the message: what kind of file it was. */
		if (fstatat(dirfd, path, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			st.st_mode = 0;
		}
		diag_add(diags, DIAG_ERROR, name, 0,
			 "File is %s, expected a regular file, refusing to read it",
			 file_type_name(st.st_mode));
		break;
	case -EFBIG:
		if (fstatat(dirfd, path, &st, 0) == 0 && (uint64_t)st.st_size > INI_FILE_MAX) {
			diag_add(diags, DIAG_ERROR, name, 0,
				 "File too large (%llu bytes, at most %u), refusing to read it",
				 (unsigned long long)st.st_size, INI_FILE_MAX);
		} else {
			diag_add(diags, DIAG_ERROR, name, 0,
				 "File too large (more than %u bytes), refusing to read it",
				 INI_FILE_MAX);
		}
		break;
	default:
		diag_add(diags, DIAG_ERROR, name, 0, "Cannot read file: %s", strerror(-r));
		break;
	}
}

int ini_read_file(int dirfd, const char *path, const char *name, bool nofollow, bool missing_ok,
		  char **ret, size_t *ret_len, struct diag_list *diags)
{
	int r;

	r = read_file_capped(dirfd, path, INI_FILE_MAX, nofollow, ret, ret_len);
	if (r == -ENOMEM) {
		return r;
	}
	if (r < 0 && !(r == -ENOENT && missing_ok)) {
		report_read_error(dirfd, path, name, r, diags);
	}
	return r;
}

int ini_parse_file(const char *path, ini_section_fn on_section, ini_handler_fn on_key,
		   void *userdata, struct diag_list *diags)
{
	_cleanup_(freep) char *buf = NULL;
	size_t len;
	int r;

	r = ini_read_file(AT_FDCWD, path, path, false, false, &buf, &len, diags);
	if (r < 0) {
		return r;
	}
	return ini_parse_buffer(path, buf, len, on_section, on_key, userdata, diags);
}
