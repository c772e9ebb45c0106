/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * An endpoint's request headers for any API (issue 13): AuthHeader=, the
 * one header that carries the API key, and Header= lines, fixed extra
 * headers. config.c fills endpoint_config.headers; curl_headers_build()
 * (curl-util.h) turns them into the request's header list.
 *
 *   AuthHeader=x-api-key: {key}       default "Authorization: Bearer {key}"
 *   Header=anthropic-version: 2023-06-01
 *   Header=                           (empty: forget earlier Header= lines)
 *
 * Rules, each a FILE:LINE error:
 *   - a line is "Name: value"; Name is an HTTP token (RFC 9110: letters,
 *     digits and !#$%&'*+-.^_`|~); blanks around the value are dropped;
 *   - no CR, LF or other control character but tab (no header injection);
 *   - AuthHeader= holds "{key}" exactly once, in its value;
 *   - Header= never holds "{key}" (the key goes into one header only), and
 *     never names Authorization, Proxy-Authorization, Host, Content-Length,
 *     Transfer-Encoding or Connection (nor, for AuthHeader=, any of these
 *     but Authorization), nor the name AuthHeader= uses (any case);
 *   - at most AUTHHEADER_EXTRA_MAX Header= lines, each at most
 *     AUTHHEADER_LINE_MAX bytes.
 * Pure: no I/O, no logging. The key itself is never put into a message.
 */

#include <stdbool.h>
#include <stddef.h>

#include "diag.h"
#include "macro.h"

#define AUTHHEADER_DEFAULT "Authorization: Bearer {key}"
#define AUTHHEADER_PLACEHOLDER "{key}"
#define AUTHHEADER_LINE_MAX 1024 /* bytes of one configured line */
#define AUTHHEADER_EXTRA_MAX 16 /* Header= lines per endpoint */

struct authheader {
	char *auth; /* owned, normalised "Name: value with {key}"; NULL = the default */
	unsigned line_auth; /* 0 when AuthHeader= was not given */
	char **extra; /* owned, normalised "Name: value", n_extra entries */
	unsigned *extra_lines; /* owned: the line of each */
	char **extra_files; /* owned: and its file (a drop-in can add lines), or NULL */
	size_t n_extra;
	size_t allocated_extra, allocated_lines, allocated_files; /* grow_array() capacities */
};

void authheader_done(struct authheader *h); /* accepts zeroed */
static inline void authheader_donep(struct authheader *h)
{
	authheader_done(h);
}

/* AuthHeader=VALUE at file:line: stored, or an error (and h unchanged).
 * An empty value restores the default. 0, or -ENOMEM. */
int authheader_set_auth(struct authheader *h, const char *value, const char *file, unsigned line,
			struct diag_list *diags);

/* Header=VALUE at file:line: appended, or an error (h unchanged); an empty
 * value drops every earlier Header=. 0, or -ENOMEM. */
int authheader_add_extra(struct authheader *h, const char *value, const char *file, unsigned line,
			 struct diag_list *diags);

/* Once every file is read: a Header= with the name of the auth header is an
 * error at its FILE:LINE (file when the line was given without one). 0 or
 * -EINVAL. */
int authheader_validate(const struct authheader *h, const char *file, struct diag_list *diags);

/* The auth line's template: h->auth or AUTHHEADER_DEFAULT. */
const char *authheader_template(const struct authheader *h);

/*
 * The auth line with key in place of {key}: an owned string (the caller
 * wipes and frees it: it holds the secret), NULL with *ret_error = -EINVAL
 * when key is empty or holds a control character (CR, LF, ...: it would
 * end the header), -ENOMEM on OOM.
 */
char *authheader_build(const struct authheader *h, const char *key, int *ret_error);

/*
 * Where the key is in a line authheader_build() made with h: *ret_key
 * points into line, *ret_len is its length. false when line is not of that
 * shape. For redaction (redact.h needs the key) without a second copy.
 */
bool authheader_find_key(const struct authheader *h, const char *line, const char **ret_key,
			 size_t *ret_len);
