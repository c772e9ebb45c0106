/* SPDX-License-Identifier: MIT */
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <strings.h>

#include "config-paths.h"
#include "curl-util.h"
#include "http-internal.h"
#include "http.h"
#include "log.h"
#include "memory-util.h"
#include "string-util.h"

static void drain_completions(struct http *h);

/* --- curl -> uv --- */

void http_socket_action(struct http *h, curl_socket_t fd, int flags)
{
	int running = 0;
	CURLMcode mc = curl_multi_socket_action(h->multi, fd, flags, &running);
	if (mc != CURLM_OK) {
		log_warning("curl_multi_socket_action() failed: %s", curl_multi_strerror(mc));
	}
	/* Always drain: a transfer that timed out is reported here even when no
	 * handle is left running (the trap in curl's multi-uv example). */
	drain_completions(h);
}

static void on_uv_timer(uv_timer_t *t)
{
	struct http *h = container_of(t, struct http, timer);
	http_socket_action(h, CURL_SOCKET_TIMEOUT, 0);
}

static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
	struct http *h = userp;

	/* Only arm or stop the uv timer here: calling back into curl from this
	 * callback would be a recursive API call. */
	if (timeout_ms < 0) {
		(void)uv_timer_stop(&h->timer);
	} else {
		(void)uv_timer_start(&h->timer, on_uv_timer, (uint64_t)timeout_ms, 0);
	}
	return 0;
}

/* --- per transfer callbacks --- */

static size_t on_curl_write(char *data, size_t size, size_t nmemb, void *userdata)
{
	struct http_request *req = userdata;
	size_t len = size * nmemb;

	if (len > req->max_body - MIN(req->body_len, req->max_body)) {
		req->too_large = true;
		return 0; /* abort: CURLE_WRITE_ERROR */
	}
	if (req->body_len + len > req->body_allocated) {
		size_t a = MAX(req->body_allocated * 2, (size_t)1024);
		while (a < req->body_len + len) {
			a *= 2;
		}
		a = MIN(a, req->max_body);
		char *b = realloc(req->body, a);
		if (!b) {
			req->aborted = true;
			return 0;
		}
		req->body = b;
		req->body_allocated = a;
	}
	memcpy(req->body + req->body_len, data, len);
	req->body_len += len;
	if (req->on_data && req->on_data(req, data, len) < 0) {
		req->aborted = true;
		return 0;
	}
	return len;
}

static size_t on_curl_header(char *data, size_t size, size_t nmemb, void *userdata)
{
	struct http_request *req = userdata;
	size_t len = size * nmemb;

	req->header_bytes += len;
	if (req->header_bytes > HTTP_HEADERS_MAX) {
		req->too_large = true;
		return 0;
	}
	return len;
}

/* HTTP tracing at debug level (--log-level=debug and $JOBWATCH_HTTP_TRACE=1).
 * CURLOPT_VERBOSE is never used: it would print the Authorization header.
 * Here header lines are logged one by one and that one is redacted. */
static int on_curl_debug(CURL *easy, curl_infotype type, char *data, size_t size, void *userp)
{
	static const char *const prefix[] = {
		[CURLINFO_TEXT] = "*",
		[CURLINFO_HEADER_IN] = "<",
		[CURLINFO_HEADER_OUT] = ">",
	};
	if (type != CURLINFO_TEXT && type != CURLINFO_HEADER_IN && type != CURLINFO_HEADER_OUT) {
		return 0;
	}
	struct http_request *req = NULL;
	(void)curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&req);
	const char *p = data, *end = data + size;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		if (len > 0 && p[len - 1] == '\r') {
			len--;
		}
		/* curl's own text lines can carry header values too ("h2h3
		 * [authorization: ...]"): any line naming the header is redacted */
		if (memmem(p, len, "uthorization", 12) || memmem(p, len, "UTHORIZATION", 12)) {
			log_debug("http %s (a line with the Authorization header, redacted)",
				  prefix[type]);
		} else if (req && req->secret && memmem(p, len, req->secret, strlen(req->secret))) {
			/* a server echoing the key in a response header */
			log_debug("http %s (a line with the API key, redacted)", prefix[type]);
		} else if (len > 0) {
			log_debug("http %s %.*s", prefix[type], (int)MIN(len, (size_t)512), p);
		}
		p += len;
		while (p < end && (*p == '\r' || *p == '\n')) {
			p++;
		}
	}
	return 0;
}

static enum transfer_error map_curl_code(CURLcode c)
{
	switch (c) {
	case CURLE_OK:
		return TRANSFER_OK;
	case CURLE_OPERATION_TIMEDOUT:
		return TRANSFER_TIMEOUT;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return TRANSFER_DNS;
	case CURLE_COULDNT_CONNECT:
		return TRANSFER_CONNECT;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_SHUTDOWN_FAILED:
	case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_SSL_ENGINE_SETFAILED:
	case CURLE_SSL_ENGINE_INITFAILED:
	case CURLE_USE_SSL_FAILED:
		return TRANSFER_TLS;
	case CURLE_FILESIZE_EXCEEDED:
		return TRANSFER_TOO_LARGE;
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return TRANSFER_RESET;
	case CURLE_WEIRD_SERVER_REPLY:
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_BAD_CONTENT_ENCODING:
	case CURLE_TOO_MANY_REDIRECTS:
	case CURLE_URL_MALFORMAT:
		return TRANSFER_PROTOCOL;
	default:
		return TRANSFER_OTHER;
	}
}

/* The options http_submit() sets only when they change are not set on a new
 * (or no) easy handle: forget what was set, so that the next submit sets all
 * of them. A stale "proxy set to none" would let a new handle use the
 * environment's proxy, and send it the key. */
static void forget_options(struct http_request *req)
{
	req->pipewait_set = false;
	req->forbid_reuse_set = false;
	free(req->ca_file_set);
	req->ca_file_set = NULL;
	free(req->proxy_set);
	req->proxy_set = NULL;
}

/* libcurl 8.14 (Debian 13's) leaks the host name of a failed name resolution
 * when the handle is used again (curl issue #17602, fixed in 8.15.0): such a
 * handle is replaced by a new one, set up as http_request_init() does. */
static void renew_easy(struct http_request *req)
{
	CURL *old = req->easy;

	if (http_request_init(req, req->http) < 0) {
		return; /* out of memory: the old handle goes on */
	}
	curl_easy_cleanup(old);
	forget_options(req);
}

static void complete(struct http *h, struct http_request *req, CURLcode result)
{
	CURL *easy = req->easy;
	long code = 0;
	curl_off_t retry_after = 0;

	(void)curl_multi_remove_handle(h->multi, easy);
	req->active = false;
	h->active--;

	(void)curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
	(void)curl_easy_getinfo(easy, CURLINFO_RETRY_AFTER, &retry_after);
	req->http_code = code;
	req->retry_after_s = retry_after > 0 ? (uint64_t)retry_after : 0;

	if (req->too_large) {
		req->error = TRANSFER_TOO_LARGE;
		snprintf(
			req->error_text, sizeof(req->error_text),
			"answer larger than allowed (body over %zu bytes or headers over %u bytes)",
			req->max_body, HTTP_HEADERS_MAX);
	} else if (req->aborted) {
		req->error = TRANSFER_OTHER;
		snprintf(req->error_text, sizeof(req->error_text), "transfer aborted");
	} else {
		req->error = map_curl_code(result);
		if (result != CURLE_OK && req->error_text[0] == '\0') {
			snprintf(req->error_text, sizeof(req->error_text), "%s",
				 curl_easy_strerror(result));
		}
	}
	if (result == CURLE_COULDNT_RESOLVE_HOST || result == CURLE_COULDNT_RESOLVE_PROXY) {
		renew_easy(req);
	}
	req->on_done(req);
}

static void drain_completions(struct http *h)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(h->multi, &left))) {
		if (msg->msg != CURLMSG_DONE) {
			continue;
		}
		struct http_request *req = NULL;
		CURLcode result = msg->data.result;
		(void)curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&req);
		assert(req);
		/* msg is invalid once the handle is removed: result was copied above */
		complete(h, req, result);
	}
}

/* --- public --- */

int http_new(uv_loop_t *loop, struct http **ret)
{
	static bool global_done;
	struct http *h;
	int r;

	if (!global_done) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
			return log_error_errno(-EIO, "Failed to initialise libcurl");
		}
		global_done = true;
	}
	h = calloc(1, sizeof(*h));
	if (!h) {
		return log_error_errno(-ENOMEM, "Out of memory");
	}
	h->loop = loop;
	h->h2c_reuse_broken = curl_version_info(CURLVERSION_NOW)->version_num < 0x080000;
	h->multi = curl_multi_init();
	h->share = curl_share_init();
	if (!h->multi || !h->share) {
		curl_multi_cleanup(h->multi);
		curl_share_cleanup(h->share);
		free(h);
		return log_error_errno(-ENOMEM, "Failed to create the curl multi handle");
	}
	(void)curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
	(void)curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, http_socket_on_curl_socket);
	(void)curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
	(void)curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
	(void)curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
	(void)curl_multi_setopt(h->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);

	r = uv_timer_init(loop, &h->timer);
	if (r < 0) {
		curl_multi_cleanup(h->multi);
		curl_share_cleanup(h->share);
		free(h);
		return log_error_errno(-EIO, "Failed to create the curl timer: %s", uv_strerror(r));
	}
	*ret = h;
	return 0;
}

static void on_uv_http_closed(uv_handle_t *handle)
{
	struct http *h = container_of((uv_timer_t *)handle, struct http, timer);
	free(h);
}

struct http *http_free(struct http *h)
{
	if (!h) {
		return NULL;
	}
	assert(h->active == 0);
	h->closing = true;
	/* Closing the multi handle closes cached connections; curl tells us to
	 * forget their sockets through http_socket_on_curl_socket(REMOVE). */
	curl_multi_cleanup(h->multi);
	h->multi = NULL;
	curl_share_cleanup(h->share);
	h->share = NULL;
	/* curl closed its sockets through http_socket_on_curl_closesocket; anything left
	 * (none expected) is closed here */
	http_socket_forget_all(h);
	uv_close((uv_handle_t *)&h->timer, on_uv_http_closed);
	return NULL;
}

void http_set_max_connections(struct http *h, unsigned n)
{
	(void)curl_multi_setopt(h->multi, CURLMOPT_MAXCONNECTS, (long)MAX(n, 4U));
}

/* Set an easy option; on failure log curl's reason once and return it as a
 * negative errno. Every curl_easy_setopt() result is checked. */
#define EASY_SETOPT(e, opt, val)                                                                   \
	do {                                                                                       \
		CURLcode _c = curl_easy_setopt(e, opt, val);                                       \
		if (_c != CURLE_OK) {                                                              \
			return log_error_errno(curl_code_to_errno(_c),                             \
					       "Failed to set libcurl's " #opt ": %s",             \
					       curl_easy_strerror(_c));                            \
		}                                                                                  \
	} while (0)

static int setup_easy(struct http_request *req, struct http *h, CURL *e)
{
	const char *option = NULL;
	int r;

	EASY_SETOPT(e, CURLOPT_PRIVATE, (char *)req);
	EASY_SETOPT(e, CURLOPT_WRITEFUNCTION, on_curl_write);
	EASY_SETOPT(e, CURLOPT_WRITEDATA, req);
	EASY_SETOPT(e, CURLOPT_HEADERFUNCTION, on_curl_header);
	EASY_SETOPT(e, CURLOPT_HEADERDATA, req);
	EASY_SETOPT(e, CURLOPT_ERRORBUFFER, req->error_text);
	/* No signals, redirects never followed (the key must not travel to
	 * another host, and a redirected BaseURL is a configuration mistake to
	 * report), http and https only, TLS verified. */
	r = curl_easy_set_security(e, "jobwatch/" JOBWATCH_VERSION, &option);
	if (r < 0) {
		return log_error_errno(r, "Failed to set libcurl's %s: %m", option);
	}
	EASY_SETOPT(e, CURLOPT_TCP_KEEPALIVE, 1L);
	EASY_SETOPT(e, CURLOPT_SHARE, h->share);
	EASY_SETOPT(e, CURLOPT_OPENSOCKETFUNCTION, http_socket_on_curl_opensocket);
	EASY_SETOPT(e, CURLOPT_OPENSOCKETDATA, h);
	EASY_SETOPT(e, CURLOPT_CLOSESOCKETFUNCTION, http_socket_on_curl_closesocket);
	EASY_SETOPT(e, CURLOPT_CLOSESOCKETDATA, h);
	EASY_SETOPT(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
	if (log_would_log(LOG_DEBUG) && !isempty(getenv("JOBWATCH_HTTP_TRACE"))) {
		EASY_SETOPT(e, CURLOPT_DEBUGFUNCTION, on_curl_debug);
		EASY_SETOPT(e, CURLOPT_VERBOSE, 1L); /* only feeds on_curl_debug */
	}
	return 0;
}

int http_request_init(struct http_request *req, struct http *h)
{
	CURL *e = curl_easy_init();
	int r;

	if (!e) {
		return -ENOMEM;
	}
	req->http = h;
	req->version_set = HTTP_VERSION_AUTO;
	if (req->max_body == 0) {
		req->max_body = 64 * 1024;
	}
	r = setup_easy(req, h, e);
	if (r < 0) {
		curl_easy_cleanup(e);
		return r;
	}
	req->easy = e;
	return 0;
}

void http_request_done(struct http_request *req)
{
	if (!req) {
		return;
	}
	if (req->active) {
		http_cancel(req);
	}
	if (req->easy) {
		curl_easy_cleanup(req->easy);
		req->easy = NULL;
	}
	free(req->body);
	req->body = NULL;
	req->body_len = req->body_allocated = 0;
	forget_options(req);
}

int http_submit(struct http_request *req, const struct http_target *t)
{
	struct http *h = req->http;
	CURL *e = req->easy;
	CURLMcode mc;

	assert(!req->active);
	assert(req->on_done);
	if (h->closing) {
		return -ESHUTDOWN;
	}

	req->error = TRANSFER_OK;
	req->http_code = 0;
	req->retry_after_s = 0;
	req->error_text[0] = '\0';
	req->body_len = 0;
	req->header_bytes = 0;
	req->too_large = req->aborted = false;

	if (curl_easy_setopt(e, CURLOPT_URL, t->url) != CURLE_OK) {
		return -ENOMEM;
	}
	EASY_SETOPT(e, CURLOPT_HTTPHEADER, t->headers);
	EASY_SETOPT(e, CURLOPT_TIMEOUT_MS, (long)MAX((usec_t)1, t->timeout_usec / USEC_PER_MSEC));
	/* Options that rarely change are only set when they do. */
	if (t->version != req->version_set) {
		EASY_SETOPT(e, CURLOPT_HTTP_VERSION, curl_http_version_of(t->version));
		req->version_set = t->version;
	}
	bool forbid_reuse = t->version == HTTP_VERSION_2_PRIOR_KNOWLEDGE && h->h2c_reuse_broken;
	if (forbid_reuse != req->forbid_reuse_set) {
		/* neither reused afterwards nor joined while in use (multiplexed) */
		EASY_SETOPT(e, CURLOPT_FORBID_REUSE, forbid_reuse ? 1L : 0L);
		EASY_SETOPT(e, CURLOPT_FRESH_CONNECT, forbid_reuse ? 1L : 0L);
		req->forbid_reuse_set = forbid_reuse;
	}
	/* Waiting for a connection to find out whether it multiplexes only pays
	 * where HTTP/2 is possible: over TLS (ALPN) or with prior knowledge. On
	 * plain HTTP/1.1 it would hold new requests behind a slow answer. */
	bool pipewait = (t->version == HTTP_VERSION_2_PRIOR_KNOWLEDGE && !forbid_reuse) ||
			(t->version == HTTP_VERSION_AUTO && strncasecmp(t->url, "https:", 6) == 0);
	if (pipewait != req->pipewait_set) {
		EASY_SETOPT(e, CURLOPT_PIPEWAIT, pipewait ? 1L : 0L);
		req->pipewait_set = pipewait;
	}
	if (!streq_ptr(t->ca_file, req->ca_file_set)) {
		/* -ENOMEM leaves it as it was: the option must then not be set */
		if (free_and_strdup(&req->ca_file_set, t->ca_file) < 0) {
			return -ENOMEM;
		}
		/* NULL would switch the CA file off; restore the built-in default */
		const char *ca =
			t->ca_file ? t->ca_file : curl_version_info(CURLVERSION_NOW)->cainfo;
		EASY_SETOPT(e, CURLOPT_CAINFO, ca);
	}
	if (!streq_ptr(t->proxy, req->proxy_set)) {
		if (free_and_strdup(&req->proxy_set, t->proxy) < 0) {
			return -ENOMEM;
		}
		int r = curl_set_proxy(e, t->proxy);
		if (r < 0) {
			return log_error_errno(r, "Failed to set libcurl's proxy options: %m");
		}
	}
	req->secret = t->secret;

	mc = curl_multi_add_handle(h->multi, e);
	if (mc != CURLM_OK) {
		log_warning("curl_multi_add_handle() failed: %s", curl_multi_strerror(mc));
		return -EIO;
	}
	req->active = true;
	h->active++;
	return 0;
}

void http_cancel(struct http_request *req)
{
	if (!req->active) {
		return;
	}
	(void)curl_multi_remove_handle(req->http->multi, req->easy);
	req->active = false;
	req->http->active--;
}

struct http_headers *http_headers_new(const struct authheader *h, const char *key, int *ret_error)
{
	static const char *const defaults[] = { "Accept: application/json", NULL };
	struct http_headers *hh = calloc(1, sizeof(*hh));

	if (!hh) {
		*ret_error = -ENOMEM;
		return NULL;
	}
	hh->list = curl_headers_build(h, key, defaults, ret_error);
	if (!hh->list) {
		free(hh);
		return NULL;
	}
	hh->key = strdup(key);
	if (!hh->key) {
		curl_slist_erase_and_free(hh->list);
		free(hh);
		*ret_error = -ENOMEM;
		return NULL;
	}
	hh->refs = 1;
	return hh;
}

struct http_headers *http_headers_ref(struct http_headers *h)
{
	if (h) {
		h->refs++;
	}
	return h;
}

const char *http_headers_key(const struct http_headers *h)
{
	return h ? h->key : NULL;
}

void http_headers_unref(struct http_headers *h)
{
	if (!h || --h->refs > 0) {
		return;
	}
	curl_slist_erase_and_free(h->list);
	erase_and_free(h->key);
	free(h);
}

const char *http_libcurl_version(void)
{
	return curl_version_info(CURLVERSION_NOW)->version;
}

bool http_h2c_reuse_broken(const struct http *h)
{
	return h->h2c_reuse_broken;
}

unsigned http_active(const struct http *h)
{
	return h->active;
}
