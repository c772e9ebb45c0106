/* SPDX-License-Identifier: MIT */
#include <errno.h>

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
