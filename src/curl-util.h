/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Small helpers for the two users of libcurl (http.c for the daemon,
 * jobwatchctl.c for its POST). Nothing else includes curl.h.
 */

#include <curl/curl.h>
#include <string.h>

#include "config.h"
#include "macro.h"
#include "memory-util.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(CURL *, curl_easy_cleanup);

/* A CURLcode as a negative errno: -ENOMEM for out of memory, -EOPNOTSUPP for
 * an option or protocol this libcurl lacks, -EINVAL for anything else. */
int curl_code_to_errno(CURLcode c);

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
 * Returns 0 or a negative errno (curl_code_to_errno()).
 */
static inline int curl_set_proxy(CURL *e, const char *proxy)
{
	CURLcode c = curl_easy_setopt(e, CURLOPT_PROXY, proxy);

	if (c == CURLE_OK) {
		c = curl_easy_setopt(e, CURLOPT_NOPROXY, proxy && *proxy ? "" : NULL);
	}
	return curl_code_to_errno(c);
}

/* Free a header list that holds a secret, wiping every line first. */
static inline void curl_slist_erase_and_free(struct curl_slist *l)
{
	for (struct curl_slist *p = l; p; p = p->next) {
		erase_secret(p->data, strlen(p->data));
	}
	curl_slist_free_all(l);
}

/*
 * An endpoint's request headers, for both senders: the auth line (h's
 * template with key in place of {key}), then every Header= line, then each
 * of defaults ("Name: value", NULL-terminated) that no Header= line names
 * (a Header=Accept: ... replaces "Accept: application/json"). Returns the
 * list (free it with curl_slist_erase_and_free(): it holds the key), or NULL
 * with *ret_error -EINVAL when the key cannot go into the header (empty, a
 * control character) or -ENOMEM.
 */
struct curl_slist *curl_headers_build(const struct authheader *h, const char *key,
				      const char *const *defaults, int *ret_error);

/*
 * The options every request of ours gets, whoever sends it (the daemon's
 * polls, `jobwatchctl start`): no signals (threaded resolver, no SIGALRM);
 * redirects never followed (the API key must not travel to another host, and
 * a redirected BaseURL= is a mistake to report); http and https only; the TLS
 * peer's certificate and host name verified; user_agent as User-Agent.
 * Every curl_easy_setopt() result is checked. Returns 0, or a negative errno
 * (curl_code_to_errno()) with the option that failed in *reterr_option (a
 * static string, for the message).
 */
int curl_easy_set_security(CURL *e, const char *user_agent, const char **reterr_option);
