/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * What http.c (the multi handle, requests, completions) and http-socket.c
 * (the watch of every socket curl uses) share; nothing else includes it.
 */

#include <curl/curl.h>
#include <stdbool.h>
#include <uv.h>

struct sock_ctx;

struct http {
	uv_loop_t *loop; /* borrowed */
	CURLM *multi; /* owned */
	CURLSH *share; /* owned: TLS sessions shared by every easy handle */
	uv_timer_t timer; /* curl's single timeout */
	unsigned active;
	bool closing;
	/* libcurl before 8.0.0 fails every request that reuses a connection
	 * opened with HTTP/2 prior knowledge (curl issue #10634) */
	bool h2c_reuse_broken;
	/* The watch of every socket curl has open, by fd number. A kept-alive
	 * connection is idle between transfers; its uv_poll handle is only
	 * stopped then, and closed when curl closes the socket. */
	struct sock_ctx **by_fd; /* owned array of owned contexts */
	size_t n_by_fd;
};

/* curl_multi_socket_action() on fd (CURL_SOCKET_TIMEOUT for the timer), then
 * the completion drain, always (http.c). */
void http_socket_action(struct http *h, curl_socket_t fd, int flags);

/* The socket callbacks given to curl (http-socket.c): CURLMOPT_SOCKETFUNCTION
 * with CURLMOPT_SOCKETDATA h, CURLOPT_OPENSOCKETFUNCTION and
 * CURLOPT_CLOSESOCKETFUNCTION with h as their data. */
int http_socket_on_curl_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp);
curl_socket_t http_socket_on_curl_opensocket(void *clientp, curlsocktype purpose,
					     struct curl_sockaddr *addr);
int http_socket_on_curl_closesocket(void *clientp, curl_socket_t fd);

/* Stop watching every socket left (none expected once the multi handle is
 * cleaned up) and free the table; each context is freed from its close
 * callback. */
void http_socket_forget_all(struct http *h);
