/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Inside the poller, shared by poller.c (scheduling, requests, answers) and
 * poller-trouble.c (what the journal says when an endpoint or a job's answers
 * go wrong and when they recover). Not for anyone else.
 */

#include "dify.h"
#include "http.h"
#include "jsonextract.h"
#include "poller.h"
#include "response.h"

/* One status request; pooled and reused, never freed while polling runs. */
struct poll_request {
	struct http_request http; /* embedded: http.c hands it back in on_done */
	struct response_parser parser;
	struct poller *poller; /* borrowed */
	struct job *job; /* borrowed, while in flight */
	struct http_headers *headers; /* a reference, while in flight */
	size_t parsed; /* bytes of the body fed to the parser */
	/* A job of a [Kind:NAME] (KIND_USER): its answer streams into extract
	 * instead of parser, with copies of the kind's StatusField= (ptrs[0])
	 * and ErrorField= (ptrs[1] when n_ptrs is 2) taken at submit: extract
	 * borrows them, and a reload may free the kind's definition while the
	 * answer streams in. */
	bool user;
	struct jsonextract extract;
	struct jsonptr ptrs[2];
	size_t n_ptrs;
	const char *bad_reason; /* static: why a user kind's 200 was no status */
	char *url; /* owned, reused */
	size_t url_size;
	struct poll_request *next_free; /* in the pool */
	struct poll_request *busy_prev, *busy_next; /* in flight */
};

/* Log what endpoint_trouble_update() says changed about e and j after the
 * result r of the request pr (poller-trouble.c). */
void poller_trouble_update(struct poller *p, struct endpoint *e, struct job *j,
			   const struct poll_result *r, const struct poll_request *pr);
