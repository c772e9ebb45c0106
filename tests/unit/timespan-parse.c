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
#include "hexline.h"

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
		if (!hexline_decode(line)) {
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
