/* SPDX-License-Identifier: MIT */
/*
 * For timespan-systemd.py: reads one input per line, written as 'x' and the
 * input's bytes in hex, and prints timespan_parse()'s answer for it: the
 * microseconds, EINVAL or ERANGE.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "timespan.h"

static int hex_value(char c)
{
	if (c >= '0' && c <= '9') {
		return c - '0';
	}
	if (c >= 'a' && c <= 'f') {
		return c - 'a' + 10;
	}
	return -1;
}

/* Decodes "x6162" into "ab" in place; -EINVAL for a malformed line. */
static int decode(char *line)
{
	size_t n = strlen(line), o = 0;

	if (n == 0 || line[0] != 'x' || n % 2 != 1) {
		return -EINVAL;
	}
	for (size_t i = 1; i < n; i += 2) {
		int hi = hex_value(line[i]), lo = hex_value(line[i + 1]);

		if (hi < 0 || lo < 0) {
			return -EINVAL;
		}
		line[o++] = (char)(hi * 16 + lo);
	}
	line[o] = '\0';
	return 0;
}

int main(void)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;

	while ((len = getline(&line, &cap, stdin)) >= 0) {
		usec_t t;
		int r;

		if (len > 0 && line[len - 1] == '\n') {
			line[len - 1] = '\0';
		}
		if (decode(line) < 0) {
			fprintf(stderr, "timespan-parse: malformed input line\n");
			free(line);
			return 2;
		}
		r = timespan_parse(line, &t);
		if (r == -EINVAL) {
			printf("EINVAL\n");
		} else if (r == -ERANGE) {
			printf("ERANGE\n");
		} else if (r < 0) {
			printf("%s\n", strerror(-r));
		} else {
			printf("%llu\n", (unsigned long long)t);
		}
	}
	free(line);
	return 0;
}
