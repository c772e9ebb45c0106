/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <limits.h>
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
 * What strtoll with base 10 does, without its locale or errno: skips
 * isspace() in the C locale (which includes \v and \f, unlike BLANKS), takes
 * a sign, then digits. With no digit *ret_end is p, as strtoll leaves it.
 * -ERANGE when the number does not fit in a long long (either sign).
 */
static int parse_integer(const char *p, long long *ret, const char **ret_end)
{
	const char *s = p + strspn(p, BLANKS "\v\f");
	bool negative = false;
	uint64_t v = 0, limit;

	if (*s == '+' || *s == '-') {
		negative = *s == '-';
		s++;
	}
	if (!is_digit(*s)) {
		*ret = 0;
		*ret_end = p;
		return 0;
	}
	limit = negative ? (uint64_t)LLONG_MAX + 1 : (uint64_t)LLONG_MAX;
	for (; is_digit(*s); s++) {
		if (__builtin_mul_overflow(v, 10, &v) ||
		    __builtin_add_overflow(v, (uint64_t)(*s - '0'), &v) || v > limit) {
			return -ERANGE;
		}
	}
	*ret = negative ? (long long)(0 - v) : (long long)v;
	*ret_end = s;
	return 0;
}

/*
 * One component, as systemd's parse_time(): an integer (sign and leading
 * \v\f allowed, as strtoll takes them), an optional '.' and fraction, then,
 * after optional blanks, an optional unit (seconds if none). Advances *p past
 * it and adds its value to *total. The order of the checks is systemd's, so
 * that the error codes are too.
 */
static int parse_component(const char **p, usec_t *total)
{
	const char *s, *e, *u;
	const struct unit *unit;
	usec_t mult = USEC_PER_SEC, usec = *total, k;
	long long l;
	int r;

	if (**p == '-') {
		return -ERANGE; /* not even "-0" */
	}
	r = parse_integer(*p, &l, &e);
	if (r < 0) {
		return r;
	}
	if (l < 0) {
		return -ERANGE;
	}
	if (*e == '.') {
		s = e + 1;
		s += strspn(s, "0123456789");
	} else if (e == *p) {
		return -EINVAL; /* no number at all: a unit, garbage, "+.5" */
	} else {
		s = e;
	}

	/* "5 s" is one component; "12.34.56" and "1x" are errors, "1s.5" is 1.5s. */
	u = s + strspn(s, BLANKS);
	unit = unit_at(u);
	if (unit) {
		mult = unit->usec;
		u += strlen(unit->suffix);
	} else if (u == s && *u != '\0') {
		return -EINVAL;
	}
	*p = u;

	/* No finite sum may reach USEC_INFINITY, which means "infinity". */
	if ((usec_t)l >= USEC_INFINITY / mult) {
		return -ERANGE;
	}
	k = (usec_t)l * mult;
	if (k >= USEC_INFINITY - usec) {
		return -ERANGE;
	}
	usec += k;

	if (*e == '.') {
		const char *d;
		usec_t m = mult / 10;

		/* Digit by digit, as systemd: exact, and below 1us dropped. */
		for (d = e + 1; is_digit(*d); d++, m /= 10) {
			k = (usec_t)(*d - '0') * m;
			if (k >= USEC_INFINITY - usec) {
				return -ERANGE;
			}
			usec += k;
		}
		if (d == e + 1) {
			return -EINVAL; /* "1.", "2. ms", "3.s", "0.-0" */
		}
	}

	*total = usec;
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
	if (strncmp(p, "infinity", 8) == 0) {
		if (!is_infinity(p)) {
			return -EINVAL; /* "infinity5", "infinity 1s" */
		}
		*ret = USEC_INFINITY;
		return 0;
	}

	for (;;) {
		int r;

		p += strspn(p, BLANKS);
		if (*p == '\0') {
			break;
		}
		r = parse_component(&p, &total);
		if (r < 0) {
			return r;
		}
		any = true;
	}

	if (!any) {
		return -EINVAL;
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
