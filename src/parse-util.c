/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "parse-util.h"

/* Digits only: strtoull() alone would accept blanks, a sign and "0x". */
static int parse_decimal_u64(const char *s, uint64_t *ret)
{
	unsigned long long v;
	char *end = NULL;

	if (!s || !isdigit((unsigned char)s[0])) {
		return -EINVAL;
	}

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno == ERANGE) {
		return -ERANGE;
	}
	if (errno != 0 || !end || *end != '\0') {
		return -EINVAL;
	}

	*ret = (uint64_t)v;
	return 0;
}

int safe_atou(const char *s, unsigned *ret)
{
	uint64_t v;
	int r;

	r = parse_decimal_u64(s, &v);
	if (r < 0) {
		return r;
	}
	if (v > UINT_MAX) {
		return -ERANGE;
	}

	*ret = (unsigned)v;
	return 0;
}

int safe_atou64(const char *s, uint64_t *ret)
{
	return parse_decimal_u64(s, ret);
}

int safe_atod(const char *s, double *ret)
{
	locale_t loc;
	char *end = NULL;
	double v;
	int saved;

	/* Plain decimal notation only: strtod() would also take blanks,
	 * "nan", "inf" and hex floats. */
	if (!s || s[0] == '\0' || strspn(s, "0123456789.eE+-") != strlen(s)) {
		return -EINVAL;
	}

	/* strtod() follows LC_NUMERIC; a config file must not mean something
	 * else under a locale whose decimal point is ','. */
	loc = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
	if (loc == (locale_t)0) {
		return -ENOMEM;
	}
	errno = 0;
	v = strtod_l(s, &end, loc);
	saved = errno;
	freelocale(loc);

	if (!end || end == s || *end != '\0') {
		return -EINVAL;
	}
	if (saved == ERANGE || !isfinite(v)) {
		return -ERANGE;
	}
	if (saved != 0) {
		return -EINVAL;
	}

	*ret = v;
	return 0;
}
