/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The only user of curl_multi_*: one multi handle driven by libuv through
 * curl_multi_socket_action, a uv_poll_t per socket and one uv_timer_t for
 * curl's timeout. Connections are kept alive and reused (HTTP/1.1) or
 * multiplexed (HTTP/2). Requests are embedded by their users and reused for
 * many transfers, so a poll costs no allocation of ours.
 *
 * Callbacks: on_data runs inside curl's write callback (it must not call any
 * http_* function); on_done runs from the completion drain after
 * curl_multi_socket_action has returned, and may submit or cancel requests,
 * including the one that just completed.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "config.h"
#include "macro.h"
#include "transfer.h"

struct http;
struct http_request;
struct curl_slist;

/* Headers of a response past this size abort the transfer (TRANSFER_TOO_LARGE). */
#define HTTP_HEADERS_MAX (64U * 1024U)

typedef void (*http_done_fn)(struct http_request *req);
/* Return 0 to go on, < 0 to abort the transfer (it ends as TRANSFER_OTHER). */
typedef int (*http_data_fn)(struct http_request *req, const char *data, size_t len);

struct http_target {
	const char *url; /* copied by curl */
	const struct curl_slist *headers; /* borrowed: must live until on_done or cancel */
	usec_t timeout_usec; /* whole transfer, RequestTimeout= */
	enum http_version version;
	const char *ca_file; /* NULL: the system's CA store */
	const char *proxy; /* config_endpoint_proxy(): NULL the environment's, "" none */
	const char *secret; /* borrowed, or NULL: a trace line holding it is not logged */
};

struct http_request {
	/* Set by the user before submitting. */
	http_done_fn on_done;
	http_data_fn on_data; /* may be NULL */
	void *userdata;
	size_t max_body; /* body cap; a larger body ends as TRANSFER_TOO_LARGE */

	/* Valid in on_done. */
	enum transfer_error error;
	long http_code; /* 0 when no status line arrived */
	uint64_t retry_after_s; /* Retry-After in seconds (0: none); dates are converted */
	char error_text[256]; /* curl's message when error != TRANSFER_OK */
	char *body; /* owned, reused: the body so far (not NUL-terminated) */
	size_t body_len;

	/* Private to http.c. */
	struct http *http; /* borrowed */
	void *easy; /* owned CURL * */
	size_t body_allocated;
	size_t header_bytes;
	bool active; /* added to the multi handle */
	bool too_large;
	bool aborted;
	enum http_version version_set;
	bool pipewait_set;
	bool forbid_reuse_set;
	char *ca_file_set; /* owned: the CAINFO currently set on easy */
	char *proxy_set; /* owned: the CURLOPT_PROXY set on easy; NULL curl's default */
	const char *secret; /* borrowed from the target while active */
};

/* Create the engine on loop. Returns 0 or a negative errno (logged). */
int http_new(uv_loop_t *loop, struct http **ret);

/*
 * Tear down: every request must have been finished (http_request_done).
 * Closes the multi handle (and its cached connections) and the uv handles;
 * the memory is released from the last close callback, so run the loop once
 * more afterwards. Accepts NULL.
 */
struct http *http_free(struct http *h);

/* How many connections curl may keep cached (sum of endpoint limits). */
void http_set_max_connections(struct http *h, unsigned n);

/* Prepare req (zeroed by the caller) for use with h. 0 or negative errno. */
int http_request_init(struct http_request *req, struct http *h);
/* Cancel if active and release the easy handle and the body. Accepts zeroed. */
void http_request_done(struct http_request *req);

/*
 * Start a GET of target on req, which must not be active. on_done runs once
 * when it ends, unless http_cancel() comes first. Returns 0 or a negative
 * errno (then on_done never runs).
 */
int http_submit(struct http_request *req, const struct http_target *target);

/* Stop an active request; on_done will not run. Not from inside on_data. */
void http_cancel(struct http_request *req);

/*
 * A reference-counted header list for requests of one endpoint: the auth
 * line (AuthHeader=, holding the API key), the Header= lines and Accept
 * (curl_headers_build()). A reload makes a new one while requests in flight
 * keep the old one alive until they end.
 */
struct authheader;
struct http_headers {
	unsigned refs;
	struct curl_slist *list; /* owned */
	char *key; /* owned copy of the key in list, for redaction (http_headers_key()) */
};
/* New list for an endpoint's headers h with key; refs = 1. NULL with
 * *ret_error -EINVAL (the key cannot go into the header) or -ENOMEM. */
struct http_headers *http_headers_new(const struct authheader *h, const char *key, int *ret_error);
struct http_headers *http_headers_ref(struct http_headers *h);
/* The key h was made with (borrowed, lives as long as h), or NULL: what
 * redact.h keeps out of a server's answer and of curl's trace. */
const char *http_headers_key(const struct http_headers *h);
/* Drop a reference; the last one erases the secret and frees. Accepts NULL. */
void http_headers_unref(struct http_headers *h);

/*
 * True when this libcurl (before 8.0.0) cannot reuse connections opened with
 * HTTP/2 prior knowledge (curl issue #10634): requests to such endpoints then
 * each use a connection of their own, which works but does not multiplex.
 */
bool http_h2c_reuse_broken(const struct http *h);

/* The version of the libcurl in use, e.g. "7.88.1". */
const char *http_libcurl_version(void);

/* Requests currently in flight. */
unsigned http_active(const struct http *h);
