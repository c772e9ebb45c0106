/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * How an HTTP exchange ended below the HTTP status: the boundary type that
 * http.c maps curl's codes to, so nothing above it sees CURLcode.
 */

enum transfer_error {
	TRANSFER_OK, /* an HTTP answer arrived in full */
	TRANSFER_TIMEOUT, /* RequestTimeout= passed */
	TRANSFER_DNS, /* the host name did not resolve */
	TRANSFER_CONNECT, /* connection refused or unreachable */
	TRANSFER_TLS, /* TLS handshake or certificate verification failed */
	TRANSFER_RESET, /* connection closed or reset before the answer was complete */
	TRANSFER_TOO_LARGE, /* body or headers over the cap */
	TRANSFER_PROTOCOL, /* not a valid HTTP answer */
	TRANSFER_OTHER, /* anything else (out of memory, internal error) */
	_TRANSFER_ERROR_MAX,
};

static inline const char *transfer_error_to_string(enum transfer_error e)
{
	static const char *const table[_TRANSFER_ERROR_MAX] = {
		[TRANSFER_OK] = "ok",
		[TRANSFER_TIMEOUT] = "timeout",
		[TRANSFER_DNS] = "dns",
		[TRANSFER_CONNECT] = "connect",
		[TRANSFER_TLS] = "tls",
		[TRANSFER_RESET] = "reset",
		[TRANSFER_TOO_LARGE] = "too-large",
		[TRANSFER_PROTOCOL] = "protocol",
		[TRANSFER_OTHER] = "other",
	};
	return (unsigned)e < _TRANSFER_ERROR_MAX ? table[e] : "invalid";
}
