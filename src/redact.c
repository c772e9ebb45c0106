/* SPDX-License-Identifier: MIT */
#include <stdlib.h>
#include <string.h>

#include "redact.h"

bool redact_needed(const char *s, size_t len, const char *secret)
{
	return s && secret && *secret && memmem(s, len, secret, strlen(secret)) != NULL;
}

char *redact(const char *s, size_t len, const char *secret, size_t *ret_len)
{
	size_t slen = secret ? strlen(secret) : 0, mlen = strlen(REDACTED), n = 0, out_len;
	const char *p, *hit;
	char *out, *o;

	/* Count first: the result may be longer than s when the secret is
	 * shorter than the marker. */
	for (p = s; slen > 0 && (hit = memmem(p, (size_t)(s + len - p), secret, slen));
	     p = hit + slen) {
		n++;
	}
	out_len = len - n * slen + n * mlen;
	out = malloc(out_len + 1);
	if (!out) {
		return NULL;
	}
	o = out;
	for (p = s; n > 0 && (hit = memmem(p, (size_t)(s + len - p), secret, slen));
	     p = hit + slen) {
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
