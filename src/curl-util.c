/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <strings.h>

#include "curl-util.h"

int curl_code_to_errno(CURLcode c)
{
	switch (c) {
	case CURLE_OK:
		return 0;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	case CURLE_UNKNOWN_OPTION:
	case CURLE_NOT_BUILT_IN:
	case CURLE_UNSUPPORTED_PROTOCOL:
		return -EOPNOTSUPP;
	default:
		return -EINVAL;
	}
}

/* Set one option; on failure say which and return the errno. */
#define SET(e, opt, val)                                                                           \
	do {                                                                                       \
		CURLcode _c = curl_easy_setopt(e, opt, val);                                       \
		if (_c != CURLE_OK) {                                                              \
			if (reterr_option) {                                                       \
				*reterr_option = #opt;                                             \
			}                                                                          \
			return curl_code_to_errno(_c);                                             \
		}                                                                                  \
	} while (0)

int curl_easy_set_security(CURL *e, const char *user_agent, const char **reterr_option)
{
	SET(e, CURLOPT_NOSIGNAL, 1L);
	SET(e, CURLOPT_FOLLOWLOCATION, 0L);
	/* CURLOPT_PROTOCOLS_STR needs libcurl 7.85 (meson.build asks for it). */
	SET(e, CURLOPT_PROTOCOLS_STR, "http,https");
	SET(e, CURLOPT_SSL_VERIFYPEER, 1L);
	SET(e, CURLOPT_SSL_VERIFYHOST, 2L);
	SET(e, CURLOPT_USERAGENT, user_agent);
	return 0;
}

/* Whether one of h's Header= lines has the name of the line def. */
static bool extra_names(const struct authheader *h, const char *def)
{
	size_t n = strcspn(def, ":");

	for (size_t i = 0; i < h->n_extra; i++) {
		if (strcspn(h->extra[i], ":") == n && strncasecmp(h->extra[i], def, n) == 0) {
			return true;
		}
	}
	return false;
}

/* Append s to *l; false on OOM (*l unchanged). */
static bool slist_append(struct curl_slist **l, const char *s)
{
	struct curl_slist *n = curl_slist_append(*l, s);

	if (!n) {
		return false;
	}
	*l = n;
	return true;
}

struct curl_slist *curl_headers_build(const struct authheader *h, const char *key,
				      const char *const *defaults, int *ret_error)
{
	struct curl_slist *l = NULL;
	char *auth;
	bool ok;

	auth = authheader_build(h, key, ret_error);
	if (!auth) {
		return NULL;
	}
	ok = slist_append(&l, auth); /* curl copies it: wipe ours */
	erase_and_free(auth);
	for (size_t i = 0; ok && i < h->n_extra; i++) {
		ok = slist_append(&l, h->extra[i]);
	}
	for (const char *const *d = defaults; ok && d && *d; d++) {
		if (!extra_names(h, *d)) {
			ok = slist_append(&l, *d);
		}
	}
	if (!ok) {
		curl_slist_erase_and_free(l);
		*ret_error = -ENOMEM;
		return NULL;
	}
	*ret_error = 0;
	return l;
}
