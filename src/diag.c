/* SPDX-License-Identifier: MIT */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc-util.h"
#include "diag.h"
#include "escape.h"
#include "string-util.h"

_printf_(1, 0) static char *vformat(const char *fmt, va_list ap)
{
	va_list aq;
	char *s;
	int n;

	va_copy(aq, ap);
	n = vsnprintf(NULL, 0, fmt, aq);
	va_end(aq);
	if (n < 0) {
		return NULL;
	}

	s = malloc((size_t)n + 1);
	if (!s) {
		return NULL;
	}
	(void)vsnprintf(s, (size_t)n + 1, fmt, ap);
	return s;
}

static bool diag_list_grow(struct diag_list *l)
{
	return grow_array((void **)&l->items, &l->allocated, sizeof(*l->items), l->n + 1);
}

void diag_add(struct diag_list *l, enum diag_level level, const char *file, unsigned line,
	      const char *fmt, ...)
{
	struct diag d = { .level = level, .line = line };
	va_list ap;

	if (!l) {
		return;
	}

	va_start(ap, fmt);
	d.message = vformat(fmt, ap);
	va_end(ap);
	d.file = strdup_or_null(file);

	if (!d.message || (file && !d.file) || !diag_list_grow(l)) {
		free(d.message);
		free(d.file);
		l->oom = true;
		return;
	}

	l->items[l->n++] = d;
	if (level == DIAG_ERROR) {
		l->n_errors++;
	}
}

char *diag_format(const struct diag *d, char *buf, size_t size)
{
	size_t n = 0;

	if (size == 0) {
		return buf;
	}
	buf[0] = '\0';
	/* File names and messages quote text from outside: escaped (escape.h). */
	if (d->file) {
		escape_text_buf(buf, size, d->file, strlen(d->file));
		n = strlen(buf);
		if (d->line > 0) {
			(void)snprintf(buf + n, size - n, ":%u: ", d->line);
		} else {
			(void)snprintf(buf + n, size - n, ": ");
		}
		n = strlen(buf);
	}
	if (n + 1 < size) {
		escape_text_buf(buf + n, size - n, d->message, strlen(d->message));
	}
	return buf;
}

void diag_list_move(struct diag_list *dst, struct diag_list *src)
{
	if (!src) {
		return;
	}
	if (!dst) {
		diag_list_done(src);
		return;
	}

	for (size_t i = 0; i < src->n; i++) {
		if (!diag_list_grow(dst)) {
			/* Entries that do not fit are lost; say so. */
			for (size_t j = i; j < src->n; j++) {
				free(src->items[j].file);
				free(src->items[j].message);
			}
			dst->oom = true;
			break;
		}
		dst->items[dst->n++] = src->items[i];
		if (src->items[i].level == DIAG_ERROR) {
			dst->n_errors++;
		}
	}
	dst->oom = dst->oom || src->oom;

	free(src->items);
	*src = (struct diag_list){};
}

void diag_list_done(struct diag_list *l)
{
	if (!l) {
		return;
	}
	for (size_t i = 0; i < l->n; i++) {
		free(l->items[i].file);
		free(l->items[i].message);
	}
	free(l->items);
	*l = (struct diag_list){};
}

void diag_list_print(const struct diag_list *l, FILE *f, const char *prefix, bool warnings,
		     unsigned *n_errors, unsigned *n_warnings)
{
	unsigned errors = 0, warns = 0;

	for (size_t i = 0; i < l->n; i++) {
		const struct diag *x = &l->items[i];
		/* FILE:LINE: message, warnings marked the way compilers do; file
		 * names and messages quote text from outside, so escaped */
		const char *w = x->level == DIAG_WARNING ? "warning: " : "";
		char file[PATH_MAX], msg[2048];
		if (x->level == DIAG_WARNING && !warnings) {
			continue;
		}
		escape_text_buf(file, sizeof(file), strempty(x->file), strlen(strempty(x->file)));
		escape_text_buf(msg, sizeof(msg), x->message, strlen(x->message));
		if (x->file && x->line > 0) {
			fprintf(f, "%s%s:%u: %s%s\n", prefix, file, x->line, w, msg);
		} else if (x->file) {
			fprintf(f, "%s%s: %s%s\n", prefix, file, w, msg);
		} else {
			fprintf(f, "%s%s%s\n", prefix, w, msg);
		}
		if (x->level == DIAG_ERROR) {
			errors++;
		} else {
			warns++;
		}
	}
	if (l->oom) {
		fprintf(f, "%sout of memory\n", prefix);
		errors++;
	}
	if (n_errors) {
		*n_errors += errors;
	}
	if (n_warnings) {
		*n_warnings += warns;
	}
}
