/* SPDX-License-Identifier: MIT */
#include <stdlib.h>
#include <string.h>

#include "redact.h"

/* memmem() without _GNU_SOURCE's help: the lengths here are small. */
static const char *find(const char *s, size_t len, const char *secret, size_t slen)
{
	if (slen == 0 || len < slen) {
		return NULL;
	}
	for (const char *p = s; p + slen <= s + len; p++) {
		p = memchr(p, secret[0], (size_t)(s + len - p));
		if (!p || p + slen > s + len) {
			return NULL;
		}
		if (memcmp(p, secret, slen) == 0) {
			return p;
		}
	}
	return NULL;
}

bool redact_needed(const char *s, size_t len, const char *secret)
{
	return s && secret && find(s, len, secret, strlen(secret)) != NULL;
}

char *redact(const char *s, size_t len, const char *secret, size_t *ret_len)
{
	size_t slen = secret ? strlen(secret) : 0, mlen = strlen(REDACTED), n = 0, out_len;
	const char *p, *hit;
	char *out, *o;

	/* Count first: the result may be longer than s when the secret is
	 * shorter than the marker. */
	for (p = s; slen > 0 && (hit = find(p, (size_t)(s + len - p), secret, slen));
	     p = hit + slen) {
		n++;
	}
	out_len = len - n * slen + n * mlen;
	out = malloc(out_len + 1);
	if (!out) {
		return NULL;
	}
	o = out;
	for (p = s; n > 0 && (hit = find(p, (size_t)(s + len - p), secret, slen)); p = hit + slen) {
		memcpy(o, p, (size_t)(hit - p));
		o += hit - p;
		memcpy(o, REDACTED, mlen);
		o += mlen;
	}
	if (len > 0) {
		memcpy(o, p, (size_t)(s + len - p));
		o += s + len - p;
	}
	*o = '\0';
	*ret_len = out_len;
	return out;
}
