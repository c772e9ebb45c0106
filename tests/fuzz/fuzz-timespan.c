/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "timespan.h"
#include "test-helpers.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* timespan_format() drops what is below 1ms once t reaches 1ms. */
static usec_t expected_round_trip(usec_t t)
{
	if (t == USEC_INFINITY || t < USEC_PER_MSEC) {
		return t;
	}
	return t - t % USEC_PER_MSEC;
}

static void check_format(usec_t t)
{
	char buf[TIMESPAN_MAX], small[8];
	usec_t back;

	(void)timespan_format(buf, sizeof(buf), t);
	CHECK(strlen(buf) < sizeof(buf));
	if (t != USEC_INFINITY && t / USEC_PER_DAY >= USEC_INFINITY / USEC_PER_DAY) {
		/* "213503982d ...": as in systemd, a component of UINT64_MAX
		 * divided by its unit or more is out of range. */
		CHECK(timespan_parse(buf, &back) == -ERANGE);
	} else {
		CHECK(timespan_parse(buf, &back) == 0);
		CHECK(back == expected_round_trip(t));
	}

	/* Short buffers are truncated but stay NUL-terminated. */
	(void)timespan_format(small, sizeof(small), t);
	CHECK(strlen(small) < sizeof(small));
	CHECK(strncmp(small, buf, strlen(small)) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;
	usec_t t;

	/* timespan_parse() takes a string: exactly size bytes plus the NUL. */
	s = malloc(size + 1);
	if (!s) {
		return 0;
	}
	memcpy(s, data, size);
	s[size] = '\0';

	if (timespan_parse(s, &t) == 0) {
		check_format(t);
	}
	/* Any 64-bit value must format and parse back. */
	if (size >= sizeof(t)) {
		memcpy(&t, data, sizeof(t));
		check_format(t);
	}

	free(s);
	return 0;
}
