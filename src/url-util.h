/* SPDX-License-Identifier: MIT */
#pragma once

/* The host part of http(s) URLs. Pure. */

#include <stdbool.h>
#include <stddef.h>

/* The host of an http(s) URL: after "scheme://" and any "user@", without a
 * port, without the [] of an IPv6 address (length 0 when there is no host).
 * Returns false when url is not http:// or https://. *ret_host points into
 * url. */
bool url_host(const char *url, const char **ret_host, size_t *ret_len);

/* Hostname part of an http(s) URL is a loopback address or "localhost". */
bool url_host_is_loopback(const char *url);
