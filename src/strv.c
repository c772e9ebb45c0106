/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "alloc-util.h"
#include "string-util.h"
#include "strv.h"

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

int strv_push(char ***l, size_t *n, size_t *allocated, char *s)
{
	if (!grow_array((void **)l, allocated, sizeof(char *), *n + 2)) {
		return -ENOMEM;
	}
	(*l)[(*n)++] = s;
	(*l)[*n] = NULL;
	return 0;
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
		int a = unhexchar(p[1]), b;

		if (a < 0) {
			return -EINVAL;
		}
		b = unhexchar(p[2]);
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
	size_t n = 0, allocated = 0;
	char quote = 0;
	int r;

	/* an empty vector for an empty string */
	if (!grow_array((void **)&l, &allocated, sizeof(char *), 1)) {
		return -ENOMEM;
	}
	l[0] = NULL;

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
				r = strv_push(&l, &n, &allocated, w.s);
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

const char *command_line_problem(const char *s)
{
	_cleanup_(strv_freep) char **argv = NULL;
	int r;

	r = split_words(s, &argv);
	if (r == -ENOMEM) {
		return "out of memory";
	}
	if (r < 0) {
		return "unbalanced quotes or an invalid escape";
	}
	if (!argv[0]) {
		return "no command";
	}
	if (argv[0][0] != '/') {
		return "the command must be an absolute path";
	}
	return NULL;
}
