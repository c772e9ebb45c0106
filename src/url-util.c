/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <string.h>
#include <strings.h>

#include "url-util.h"

static bool host_is_loopback(const char *host)
{
	struct in6_addr a6;
	struct in_addr a4;

	if (strcasecmp(host, "localhost") == 0 || strcasecmp(host, "localhost.") == 0) {
		return true;
	}
	if (inet_pton(AF_INET, host, &a4) == 1) {
		return (ntohl(a4.s_addr) >> 24) == 127;
	}
	if (inet_pton(AF_INET6, host, &a6) == 1) {
		if (IN6_IS_ADDR_LOOPBACK(&a6)) {
			return true;
		}
		return IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127;
	}
	return false;
}

bool url_host(const char *url, const char **ret_host, size_t *ret_len)
{
	const char *p, *end, *at, *stop;

	if (strncasecmp(url, "http://", 7) == 0) {
		p = url + 7;
	} else if (strncasecmp(url, "https://", 8) == 0) {
		p = url + 8;
	} else {
		return false;
	}
	/* The authority ends at the path, query or fragment. */
	end = p + strcspn(p, "/?#");
	/* Drop "user:password@"; the last '@' ends it. */
	at = memrchr(p, '@', (size_t)(end - p));
	if (at) {
		p = at + 1;
	}
	if (*p == '[') {
		p++;
		stop = memchr(p, ']', (size_t)(end - p));
		stop = stop ? stop : p; /* no ']': no host */
	} else {
		stop = memchr(p, ':', (size_t)(end - p));
		stop = stop ? stop : end;
	}
	*ret_host = p;
	*ret_len = (size_t)(stop - p);
	return true;
}

bool url_host_is_loopback(const char *url)
{
	const char *p;
	char host[256];
	size_t len;

	if (!url || !url_host(url, &p, &len)) {
		return false;
	}

	if (len == 0 || len >= sizeof(host)) {
		return false;
	}
	memcpy(host, p, len);
	host[len] = '\0';
	return host_is_loopback(host);
}
