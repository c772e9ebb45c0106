/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "string-util.h"

char *strdup_or_null(const char *s)
{
	if (!s) {
		return NULL;
	}
	return strdup(s);
}

int free_and_strdup(char **p, const char *s)
{
	char *copy = NULL;

	if (s) {
		copy = strdup(s);
		if (!copy) {
			return -ENOMEM;
		}
	}
	free(*p);
	*p = copy;
	return 0;
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

int unhexchar(char c)
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
