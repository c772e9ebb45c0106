/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdbool.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "timespan.h"
#include "hexline.h"

static void check_parse(const char *s, usec_t expected)
{
	usec_t t = 12345;
	int r = timespan_parse(s, &t);

	if (r != 0 || t != expected) {
		print_error("timespan_parse('%s') = %d, %llu; expected 0, %llu\n", s, r,
			    (unsigned long long)t, (unsigned long long)expected);
		fail();
	}
}

static void check_parse_fails(const char *s, int expected)
{
	usec_t t = 12345;
	int r = timespan_parse(s, &t);

	if (r != expected || t != 12345) {
		print_error("timespan_parse('%s') = %d, %llu; expected %d, unchanged\n", s, r,
			    (unsigned long long)t, expected);
		fail();
	}
}

static void test_parse(void **state)
{
	check_parse("0", 0);
	check_parse("0s", 0);
	check_parse("1", USEC_PER_SEC);
	check_parse("500ms", 500 * USEC_PER_MSEC);
	check_parse("2s", 2 * USEC_PER_SEC);
	check_parse("5min", 5 * USEC_PER_MINUTE);
	check_parse("1h 30min", 90 * USEC_PER_MINUTE);
	check_parse("1h30min", 90 * USEC_PER_MINUTE);
	check_parse("1m30s", 90 * USEC_PER_SEC);
	check_parse("1.5s", 1500 * USEC_PER_MSEC);
	check_parse("1.5", 1500 * USEC_PER_MSEC);
	check_parse(".5s", 500 * USEC_PER_MSEC);
	check_parse("0.001s", USEC_PER_MSEC);
	check_parse("1.25h", 75 * USEC_PER_MINUTE);
	check_parse("1d", USEC_PER_DAY);
	check_parse("2 days", 2 * USEC_PER_DAY);
	check_parse("1w", 7 * USEC_PER_DAY);
	check_parse("1 weeks", 7 * USEC_PER_DAY);
	check_parse("1M", 2629800ULL * USEC_PER_SEC);
	check_parse("1 month", 2629800ULL * USEC_PER_SEC);
	check_parse("1y", 31557600ULL * USEC_PER_SEC);
	check_parse("1 years", 31557600ULL * USEC_PER_SEC);
	check_parse("1us", 1);
	check_parse("7usec", 7);
	check_parse("1\xc2\xb5s", 1);
	check_parse("1\xce\xbcs", 1);
	check_parse("3msec", 3 * USEC_PER_MSEC);
	check_parse("1 s", USEC_PER_SEC);
	check_parse("  2s  ", 2 * USEC_PER_SEC);
	check_parse("1sec", USEC_PER_SEC);
	check_parse("2 seconds", 2 * USEC_PER_SEC);
	check_parse("1 second", USEC_PER_SEC);
	check_parse("3minutes", 3 * USEC_PER_MINUTE);
	check_parse("1minute", USEC_PER_MINUTE);
	check_parse("1m", USEC_PER_MINUTE);
	check_parse("1hr", USEC_PER_HOUR);
	check_parse("2 hours", 2 * USEC_PER_HOUR);
	check_parse("1hour", USEC_PER_HOUR);
	check_parse("1h 1h", 2 * USEC_PER_HOUR);
	check_parse("1 2", 3 * USEC_PER_SEC);
	check_parse("1d 2h 3min 4s 5ms 6us", USEC_PER_DAY + 2 * USEC_PER_HOUR +
						     3 * USEC_PER_MINUTE + 4 * USEC_PER_SEC +
						     5 * USEC_PER_MSEC + 6);
	check_parse("0000000000000000000000001s", USEC_PER_SEC);
	check_parse("1.5us", 1); /* below 1us is dropped */
	check_parse("infinity", USEC_INFINITY);
	check_parse(" infinity ", USEC_INFINITY);
	check_parse("9223372036854775807us", 9223372036854775807ULL); /* LLONG_MAX */
	/* A leading '+' is taken, as systemd takes it (strtoll does). */
	check_parse("+5s", 5 * USEC_PER_SEC);
	check_parse("+1.5s", 1500 * USEC_PER_MSEC);
	check_parse("1h +30min", 90 * USEC_PER_MINUTE);
	/* "12.34 .56" and "1s.5" are two components, as in systemd. */
	check_parse("1s.5", 1500 * USEC_PER_MSEC);
	check_parse("\v5s", 5 * USEC_PER_SEC);
}

static void test_parse_invalid(void **state)
{
	check_parse_fails("", -EINVAL);
	check_parse_fails("   ", -EINVAL);
	/* A fraction needs a digit after the dot: systemd refuses these. */
	check_parse_fails("1.", -EINVAL);
	check_parse_fails("2. ms", -EINVAL);
	check_parse_fails("5.s", -EINVAL);
	check_parse_fails("1. 5", -EINVAL);
	check_parse_fails("+.5s", -EINVAL);
	check_parse_fails("++1s", -EINVAL);
	check_parse_fails("+ 1s", -EINVAL);
	check_parse_fails("+infinity", -EINVAL);
	check_parse_fails("1s\v", -EINVAL);
	check_parse_fails("1x", -EINVAL);
	check_parse_fails("1 x", -EINVAL);
	check_parse_fails("abc", -EINVAL);
	check_parse_fails("1.2.3", -EINVAL);
	check_parse_fails(".", -EINVAL);
	check_parse_fails("s", -EINVAL);
	check_parse_fails("1s-", -ERANGE); /* a second component "-" */
	check_parse_fails("1S", -EINVAL);
	check_parse_fails("1H", -EINVAL);
	check_parse_fails("1mins", -EINVAL);
	check_parse_fails("1 infinity", -EINVAL);
	check_parse_fails("infinityx", -EINVAL);
	check_parse_fails("Infinity", -EINVAL);
	check_parse_fails("1e3", -EINVAL);
	check_parse_fails("0x10", -EINVAL);
	check_parse_fails("1,5s", -EINVAL);
}

static void test_parse_range(void **state)
{
	/* A minus sign is out of range, as in systemd, even "-0". */
	check_parse_fails("-1", -ERANGE);
	check_parse_fails("-1s", -ERANGE);
	check_parse_fails("-0", -ERANGE);
	check_parse_fails("1s -1s", -ERANGE);
	check_parse_fails("18446744073709551616us", -ERANGE);
	/* Past LLONG_MAX a component is out of range, whatever its unit. */
	check_parse_fails("9223372036854775808us", -ERANGE);
	check_parse_fails("18446744073709551614us", -ERANGE);
	/* A component of UINT64_MAX / unit or more is, even if it would fit. */
	check_parse_fails("213503982d", -ERANGE);
	check_parse("213503981d", 213503981ULL * USEC_PER_DAY);
	/* Out of range wins over a later syntax error, as in systemd. */
	check_parse_fails("99999999999999999999.", -ERANGE);
	check_parse_fails("99999999999999999999", -ERANGE);
	/* UINT64_MAX itself means infinity; no finite sum may reach it. */
	check_parse_fails("18446744073709551615us", -ERANGE);
	check_parse_fails("600000y", -ERANGE);
	check_parse_fails("18446744073709551614us 1us", -ERANGE);
	check_parse_fails("18446744073709551615us 1us", -ERANGE);
	check_parse_fails("300000y 300000y", -ERANGE);
	check_parse_fails("18446744073709s 0.9999999s", -ERANGE);
}

/* The table timespan-systemd.py wrote from `systemd-analyze timespan`. */
static const char *systemd_table;

/* Every row of the table: timespan_parse() gives what systemd gave. */
static void test_systemd_table(void **state)
{
	FILE *f;
	char *line = NULL;
	size_t cap = 0, rows = 0, wrong = 0;

	assert_non_null(systemd_table);
	f = fopen(systemd_table, "re");
	if (!f) {
		print_error("cannot open %s\n", systemd_table);
		fail();
	}
	while (getline(&line, &cap, f) >= 0) {
		char *input = line, *want, *rest, got[32];
		usec_t t = 0;
		int r;

		if (line[0] == '#') {
			continue;
		}
		want = strchr(input, '\t');
		assert_non_null(want);
		*want++ = '\0';
		rest = strchr(want, '\t');
		assert_non_null(rest);
		*rest++ = '\0';
		rest[strcspn(rest, "\n")] = '\0';
		assert_true(hexline_decode(input));

		r = timespan_parse(input, &t);
		if (r == 0) {
			(void)snprintf(got, sizeof(got), "%llu", (unsigned long long)t);
		} else {
			(void)snprintf(got, sizeof(got), "%s",
				       r == -EINVAL   ? "EINVAL"
				       : r == -ERANGE ? "ERANGE"
						      : "other");
		}
		if (strcmp(got, want) != 0) {
			print_error("timespan_parse(%s) = %s; systemd gives %s\n", rest, got, want);
			wrong++;
		}
		rows++;
	}
	free(line);
	(void)fclose(f);
	/* A truncated or misplaced table must not pass. */
	assert_true(rows > 3000);
	assert_int_equal(wrong, 0);
}

static void check_format(usec_t t, const char *expected)
{
	char buf[TIMESPAN_MAX];

	assert_string_equal(timespan_format(buf, sizeof(buf), t), expected);
}

static void test_format(void **state)
{
	check_format(0, "0");
	check_format(USEC_INFINITY, "infinity");
	check_format(1, "1us");
	check_format(999, "999us");
	check_format(USEC_PER_MSEC, "1ms");
	check_format(1500, "1ms");
	check_format(250 * USEC_PER_MSEC, "250ms");
	check_format(2500 * USEC_PER_MSEC, "2s 500ms");
	check_format(30 * USEC_PER_SEC, "30s");
	check_format(90 * USEC_PER_SEC, "1min 30s");
	check_format(90 * USEC_PER_MINUTE, "1h 30min");
	check_format(26 * USEC_PER_HOUR, "1d 2h");
	check_format(10 * USEC_PER_DAY, "10d");
	check_format(USEC_PER_DAY + 1, "1d");
	check_format(UINT64_MAX - 1, "213503982d 8h 1min 49s 551ms");
}

static void test_format_truncated(void **state)
{
	char buf[5];

	assert_string_equal(timespan_format(buf, sizeof(buf), 90 * USEC_PER_MINUTE), "1h");
	assert_string_equal(timespan_format(buf, 3, 90 * USEC_PER_MINUTE), "1h");
	assert_string_equal(timespan_format(buf, 2, 90 * USEC_PER_MINUTE), "");
	assert_string_equal(timespan_format(buf, 1, USEC_INFINITY), "");
	assert_string_equal(timespan_format(buf, 4, USEC_INFINITY), "inf");
	buf[0] = 'x';
	(void)timespan_format(buf, 0, 1);
	assert_int_equal(buf[0], 'x');
}

static void test_round_trip(void **state)
{
	static const usec_t values[] = {
		0,
		1,
		999,
		1000,
		1001,
		59 * USEC_PER_SEC,
		USEC_PER_HOUR + 1,
		7 * USEC_PER_DAY + 3 * USEC_PER_MSEC,
		/* The largest that parses back: systemd refuses 213503982d. */
		213503982ULL * USEC_PER_DAY - 1,
		USEC_INFINITY,
	};

	for (size_t i = 0; i < ELEMENTSOF(values); i++) {
		char buf[TIMESPAN_MAX];
		usec_t t = values[i], back = 0, want;

		want = t == USEC_INFINITY || t < USEC_PER_MSEC ? t : t - t % USEC_PER_MSEC;
		assert_int_equal(timespan_parse(timespan_format(buf, sizeof(buf), t), &back), 0);
		assert_true(back == want);
	}
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_parse_invalid),
		cmocka_unit_test(test_parse_range),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_format_truncated),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_systemd_table),
	};

	systemd_table = argc > 1 ? argv[1] : NULL;

	return cmocka_run_group_tests(tests, NULL, NULL);
}
