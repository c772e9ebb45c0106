/* SPDX-License-Identifier: MIT */
/*
 * The watch of every socket curl uses: one uv_poll_t per fd number, kept
 * across transfers while a connection idles, and the open/close callbacks
 * that let us know a connection's whole life (docs/design.md, "One loop,
 * one thread").
 * Events go back to curl through http_socket_action() (http.c).
 */
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "http-internal.h"
#include "log.h"
#include "macro.h"

/* One per open socket curl asks us to watch; freed from its close callback
 * after curl closed the socket. */
struct sock_ctx {
	uv_poll_t poll;
	curl_socket_t fd;
	struct http *http; /* borrowed */
	bool ours; /* opened by http_socket_on_curl_opensocket */
	/* curl asked to read it: the connection is made, and curl closes such
	 * a socket through http_socket_on_curl_closesocket (one still connecting it may
	 * close behind our back, see http_socket_on_curl_socket) */
	bool established;
	bool idle; /* no transfer uses it: curl said CURL_POLL_REMOVE */
	int events; /* UV_READABLE/UV_WRITABLE last asked for by curl */
	ino_t ino; /* of an ours socket, to tell it from a later one */
};

static void on_uv_sock_closed(uv_handle_t *handle)
{
	struct sock_ctx *ctx = container_of((uv_poll_t *)handle, struct sock_ctx, poll);
	free(ctx);
}

static void on_uv_poll(uv_poll_t *p, int status, int events)
{
	struct sock_ctx *ctx = container_of(p, struct sock_ctx, poll);
	int flags = 0;

	if (ctx->idle) {
		/* An idle kept-alive connection became readable or failed: the
		 * server closed it, most likely. Nothing to tell curl now (no
		 * transfer owns the socket); curl finds the connection dead when
		 * it next tries to reuse it. Stop watching until then. */
		(void)uv_poll_stop(p);
		return;
	}
	if (status < 0) {
		/* hand socket errors to curl instead of dropping them */
		flags = CURL_CSELECT_ERR;
	} else {
		if (events & UV_READABLE) {
			flags |= CURL_CSELECT_IN;
		}
		if (events & UV_WRITABLE) {
			flags |= CURL_CSELECT_OUT;
		}
	}
	http_socket_action(ctx->http, ctx->fd, flags);
}

static struct sock_ctx *sock_lookup(const struct http *h, curl_socket_t fd)
{
	return fd >= 0 && (size_t)fd < h->n_by_fd ? h->by_fd[fd] : NULL;
}

static struct sock_ctx *sock_new(struct http *h, curl_socket_t fd)
{
	struct sock_ctx *ctx;
	int r;

	if (fd < 0) {
		return NULL;
	}
	if ((size_t)fd >= h->n_by_fd) {
		size_t n = MAX((size_t)fd + 1, h->n_by_fd * 2);
		struct sock_ctx **a = realloc(h->by_fd, n * sizeof(*a));
		if (!a) {
			return NULL;
		}
		memset(a + h->n_by_fd, 0, (n - h->n_by_fd) * sizeof(*a));
		h->by_fd = a;
		h->n_by_fd = n;
	}
	ctx = calloc(1, sizeof(*ctx));
	if (!ctx) {
		return NULL;
	}
	ctx->fd = fd;
	ctx->http = h;
	r = uv_poll_init_socket(h->loop, &ctx->poll, fd);
	if (r < 0) {
		log_error("Failed to watch socket %d: %s", (int)fd, uv_strerror(r));
		free(ctx);
		return NULL;
	}
	h->by_fd[fd] = ctx;
	return ctx;
}

/* Is ctx's fd still the socket http_socket_on_curl_opensocket made for it? */
static bool sock_is_same(const struct sock_ctx *ctx)
{
	struct stat st;
	return fstat(ctx->fd, &st) == 0 && st.st_ino == ctx->ino;
}

/* The fd number of ctx was given to a new socket, so the one ctx watched is
 * closed, behind our back. The watch is renewed in place rather than
 * replaced: curl may still hold ctx for this fd number and expect it to
 * watch as before, without telling us again. */
static void sock_renew(struct sock_ctx *ctx)
{
	int events = uv_is_active((uv_handle_t *)&ctx->poll) && !ctx->idle ? ctx->events : 0;

	log_debug("Socket %d was closed by libcurl without the close callback", (int)ctx->fd);
	/* takes the fd out of libuv's queue and epoll (ENOENT there: the new
	 * socket is not in it yet) */
	(void)uv_poll_stop(&ctx->poll);
	if (ctx->idle) {
		ctx->idle = false;
		uv_ref((uv_handle_t *)&ctx->poll);
	}
	ctx->established = false;
	if (events != 0 && uv_poll_start(&ctx->poll, events, on_uv_poll) < 0) {
		log_error("Failed to poll socket %d", (int)ctx->fd);
	}
}

/* Stop watching fd for good; the context is freed from its close callback.
 * uv_close() takes the fd out of epoll at once, so it can be closed next. */
static void sock_forget(struct http *h, curl_socket_t fd)
{
	struct sock_ctx *ctx = sock_lookup(h, fd);
	if (ctx) {
		h->by_fd[fd] = NULL;
		uv_close((uv_handle_t *)&ctx->poll, on_uv_sock_closed);
	}
}

int http_socket_on_curl_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct http *h = userp;
	struct sock_ctx *ctx = socketp;
	int events = 0, r;

	if (!ctx) {
		ctx = sock_lookup(h, fd);
		if (ctx && (!ctx->ours || (!ctx->established && !sock_is_same(ctx)))) {
			/* Stale, left by a socket curl closed behind our back: a
			 * watch of a socket we did not open (the resolver's
			 * socketpair, say) never outlives its REMOVE, and an ours
			 * socket curl gave up while connecting may never have
			 * been registered with curl at all. */
			sock_forget(h, fd);
			ctx = NULL;
		}
	}
	if (what == CURL_POLL_REMOVE && ctx && (!ctx->ours || !ctx->established)) {
		/* Not a connection that can be kept. libcurl 7.88.0 to 8.1.2
		 * closes a socket it is still connecting (a cancelled transfer,
		 * a failed attempt) with close() instead of our close callback,
		 * and says REMOVE only after that (curl PR #11439): the fd may be
		 * closed already. A watch left started on it would make libuv
		 * abort (epoll_ctl ADD on a closed fd, when it was started in
		 * this loop turn) or take the events of whatever gets the fd
		 * number next. So it is closed now; curl's close callback, if
		 * it comes, finds nothing left to do. */
		(void)curl_multi_assign(h->multi, fd, NULL);
		sock_forget(h, fd);
		return 0;
	}
	if (what == CURL_POLL_REMOVE) {
		/* No transfer needs the socket now, but the connection may be kept
		 * for the next one. It stays registered as it is, marked idle:
		 * the next transfer on it then costs no epoll_ctl at all (stopping
		 * and restarting a uv_poll does, twice). An event while idle only
		 * stops the watch (on_uv_poll). */
		if (ctx && !ctx->idle) {
			ctx->idle = true;
			/* an idle watch must not keep the loop running at shutdown */
			uv_unref((uv_handle_t *)&ctx->poll);
		}
		(void)curl_multi_assign(h->multi, fd, NULL);
		return 0;
	}

	if (!ctx) {
		ctx = sock_new(h, fd);
		if (!ctx) {
			log_error("Out of memory watching a socket");
			return -1;
		}
	}
	if (ctx->idle) {
		ctx->idle = false;
		uv_ref((uv_handle_t *)&ctx->poll);
	}
	if (!socketp) {
		(void)curl_multi_assign(h->multi, fd, ctx);
	}
	if (what == CURL_POLL_IN || what == CURL_POLL_INOUT) {
		events |= UV_READABLE;
	}
	if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT) {
		events |= UV_WRITABLE;
	}
	if (events & UV_READABLE) {
		/* curl only ever asks to write to a socket it is connecting */
		ctx->established = true;
	}
	ctx->events = events;
	r = uv_poll_start(&ctx->poll, events, on_uv_poll);
	if (r < 0) {
		log_error("Failed to poll socket %d: %s", (int)fd, uv_strerror(r));
		return -1;
	}
	return 0;
}

/* curl opens a connection (CURLOPT_OPENSOCKETFUNCTION): we own the watch of
 * its socket from here until http_socket_on_curl_closesocket, so once connected it may
 * stay registered while the connection idles between transfers (a socket
 * still connecting may be closed without that callback: http_socket_on_curl_socket). */
curl_socket_t http_socket_on_curl_opensocket(void *clientp, curlsocktype purpose,
					     struct curl_sockaddr *addr)
{
	struct http *h = clientp;
	struct sock_ctx *ctx;
	struct stat st;
	int fd;

	fd = socket(addr->family, addr->socktype | SOCK_CLOEXEC, addr->protocol);
	if (fd < 0) {
		return CURL_SOCKET_BAD;
	}
	if (fstat(fd, &st) < 0) {
		close(fd);
		return CURL_SOCKET_BAD;
	}
	/* a watch left for this fd number by a socket closed behind our back */
	ctx = sock_lookup(h, fd);
	if (ctx) {
		sock_renew(ctx);
	} else {
		ctx = sock_new(h, fd);
		if (!ctx) {
			close(fd);
			return CURL_SOCKET_BAD;
		}
	}
	ctx->ours = true;
	ctx->ino = st.st_ino;
	return fd;
}

/* curl closes a socket (CURLOPT_CLOSESOCKETFUNCTION): drop its watch first. */
int http_socket_on_curl_closesocket(void *clientp, curl_socket_t fd)
{
	sock_forget(clientp, fd);
	return close(fd);
}

void http_socket_forget_all(struct http *h)
{
	for (size_t i = 0; i < h->n_by_fd; i++) {
		sock_forget(h, (curl_socket_t)i);
	}
	free(h->by_fd);
	h->by_fd = NULL;
	h->n_by_fd = 0;
}
