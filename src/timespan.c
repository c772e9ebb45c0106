/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "timespan.h"

#define BLANKS " \t\n\r"

#define USEC_PER_WEEK (7ULL * USEC_PER_DAY)
#define USEC_PER_MONTH (2629800ULL * USEC_PER_SEC) /* 30.44 days */
#define USEC_PER_YEAR (31557600ULL * USEC_PER_SEC) /* 365.25 days */

struct unit {
	const char *suffix;
	usec_t usec;
};

/* Matched by prefix in this order, so a longer suffix must come before any
 * shorter one it starts with ("msec" before "ms" before "m"). */
static const struct unit units[] = {
	{ "seconds", USEC_PER_SEC },
	{ "second", USEC_PER_SEC },
	{ "sec", USEC_PER_SEC },
	{ "s", USEC_PER_SEC },
	{ "minutes", USEC_PER_MINUTE },
	{ "minute", USEC_PER_MINUTE },
	{ "min", USEC_PER_MINUTE },
	{ "months", USEC_PER_MONTH },
	{ "month", USEC_PER_MONTH },
	{ "M", USEC_PER_MONTH },
	{ "msec", USEC_PER_MSEC },
	{ "ms", USEC_PER_MSEC },
	{ "m", USEC_PER_MINUTE },
	{ "hours", USEC_PER_HOUR },
	{ "hour", USEC_PER_HOUR },
	{ "hr", USEC_PER_HOUR },
	{ "h", USEC_PER_HOUR },
	{ "days", USEC_PER_DAY },
	{ "day", USEC_PER_DAY },
	{ "d", USEC_PER_DAY },
	{ "weeks", USEC_PER_WEEK },
	{ "week", USEC_PER_WEEK },
	{ "w", USEC_PER_WEEK },
	{ "years", USEC_PER_YEAR },
	{ "year", USEC_PER_YEAR },
	{ "y", USEC_PER_YEAR },
	{ "usec", 1 },
	{ "us", 1 },
	{ "\xc2\xb5s", 1 }, /* U+00B5 MICRO SIGN */
	{ "\xce\xbcs", 1 }, /* U+03BC GREEK SMALL LETTER MU */
};

/* Returns the unit p starts with, or NULL. */
static const struct unit *unit_at(const char *p)
{
	for (size_t i = 0; i < ELEMENTSOF(units); i++) {
		if (strncmp(p, units[i].suffix, strlen(units[i].suffix)) == 0) {
			return &units[i];
		}
	}
	return NULL;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/*
 * One component: digits, an optional fraction, an optional unit (seconds if
 * none). Advances *p past it and stores its value in *ret.
 */
static int parse_component(const char **p, usec_t *ret)
{
	const char *s = *p, *frac, *u;
	const struct unit *unit;
	uint64_t whole = 0;
	usec_t mult, v;
	bool has_digits = false;

	for (; is_digit(*s); s++) {
		if (__builtin_mul_overflow(whole, 10, &whole) ||
		    __builtin_add_overflow(whole, (uint64_t)(*s - '0'), &whole)) {
			return -ERANGE;
		}
		has_digits = true;
	}
	frac = NULL;
	if (*s == '.') {
		frac = ++s;
		while (is_digit(*s)) {
			s++;
			has_digits = true;
		}
	}
	if (!has_digits) {
		return -EINVAL; /* also a sign, garbage or a lone '.' */
	}

	/* "5 s" is one component, as in systemd. */
	u = s + strspn(s, BLANKS);
	unit = unit_at(u);
	if (unit) {
		mult = unit->usec;
		*p = u + strlen(unit->suffix);
	} else if (u == s && *u != '\0') {
		/* Neither a unit nor a blank: "1x", "12.34.56". */
		return -EINVAL;
	} else {
		mult = USEC_PER_SEC;
		*p = s;
	}

	if (__builtin_mul_overflow(whole, mult, &v)) {
		return -ERANGE;
	}
	/* Fraction digit by digit: exact for what a config can express. */
	for (const char *d = frac; d && is_digit(*d); d++) {
		mult /= 10;
		if (__builtin_add_overflow(v, (usec_t)(*d - '0') * mult, &v)) {
			return -ERANGE;
		}
	}

	*ret = v;
	return 0;
}

static bool is_infinity(const char *p)
{
	if (strncmp(p, "infinity", 8) != 0) {
		return false;
	}
	p += 8;
	return p[strspn(p, BLANKS)] == '\0';
}

int timespan_parse(const char *s, usec_t *ret)
{
	const char *p = s;
	usec_t total = 0;
	bool any = false;

	p += strspn(p, BLANKS);
	if (is_infinity(p)) {
		*ret = USEC_INFINITY;
		return 0;
	}

	for (;;) {
		usec_t v;
		int r;

		p += strspn(p, BLANKS);
		if (*p == '\0') {
			break;
		}
		r = parse_component(&p, &v);
		if (r < 0) {
			return r;
		}
		if (__builtin_add_overflow(total, v, &total)) {
			return -ERANGE;
		}
		any = true;
	}

	if (!any) {
		return -EINVAL;
	}
	/* USEC_INFINITY means "infinity"; no finite sum may reach it. */
	if (total == USEC_INFINITY) {
		return -ERANGE;
	}
	*ret = total;
	return 0;
}

char *timespan_format(char *buf, size_t size, usec_t t)
{
	static const struct unit parts[] = {
		{ "d", USEC_PER_DAY }, { "h", USEC_PER_HOUR },	{ "min", USEC_PER_MINUTE },
		{ "s", USEC_PER_SEC }, { "ms", USEC_PER_MSEC },
	};
	size_t pos = 0;

	if (size == 0) {
		return buf;
	}
	if (t == USEC_INFINITY) {
		(void)snprintf(buf, size, "infinity");
		return buf;
	}
	if (t == 0) {
		(void)snprintf(buf, size, "0");
		return buf;
	}
	if (t < USEC_PER_MSEC) {
		(void)snprintf(buf, size, "%lluus", (unsigned long long)t);
		return buf;
	}

	buf[0] = '\0';
	for (size_t i = 0; i < ELEMENTSOF(parts); i++) {
		usec_t n = t / parts[i].usec;
		int k;

		if (n == 0) {
			continue;
		}
		t -= n * parts[i].usec;
		k = snprintf(buf + pos, size - pos, "%s%llu%s", pos > 0 ? " " : "",
			     (unsigned long long)n, parts[i].suffix);
		if (k < 0 || (size_t)k >= size - pos) {
			/* Drop the partial component: "1h 3" would lie. */
			buf[pos] = '\0';
			break;
		}
		pos += (size_t)k;
	}
	return buf;
}
