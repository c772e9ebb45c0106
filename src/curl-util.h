/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Small helpers for the two users of libcurl (http.c for the daemon,
 * jobwatchctl.c for its POST). Nothing else includes curl.h.
 */

#include <curl/curl.h>
#include <string.h>

#include "config.h"

/* CURLOPT_HTTP_VERSION for an endpoint's HTTPVersion=. */
static inline long curl_http_version_of(enum http_version v)
{
	switch (v) {
	case HTTP_VERSION_1_1:
		return CURL_HTTP_VERSION_1_1;
	case HTTP_VERSION_2_PRIOR_KNOWLEDGE:
		return CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE;
	default:
		return CURL_HTTP_VERSION_2TLS;
	}
}

/*
 * CURLOPT_PROXY and CURLOPT_NOPROXY for what config_endpoint_proxy() says:
 * NULL: curl's default, the environment's http_proxy, https_proxy, ALL_PROXY
 * and NO_PROXY; "": no proxy, whatever the environment says; else that proxy
 * for every host (the environment's NO_PROXY does not apply).
 */
static inline void curl_set_proxy(CURL *e, const char *proxy)
{
	(void)curl_easy_setopt(e, CURLOPT_PROXY, proxy);
	(void)curl_easy_setopt(e, CURLOPT_NOPROXY, proxy && *proxy ? "" : NULL);
}

/* Free a header list that holds a secret, wiping every line first. */
static inline void curl_slist_erase_and_free(struct curl_slist *l)
{
	for (struct curl_slist *p = l; p; p = p->next) {
		explicit_bzero(p->data, strlen(p->data));
	}
	curl_slist_free_all(l);
}
