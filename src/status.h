/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The STATUS= line jobwatchd sends to the service manager (systemctl status
 * shows it): what is watched, in flight, waiting, finished, hooks, and the
 * endpoints in trouble. Pure: the daemon gathers the counts.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"

#define STATUS_MAX 512 /* bytes of the line, with its NUL; longer is cut */
/* Endpoints a status line names. Each adds at least 24 bytes ("; endpoint x:
 * no API key"), so more than 21 never fit in STATUS_MAX. */
#define STATUS_ENDPOINTS_MAX 32

struct status_endpoint {
	const char *name; /* borrowed */
	bool in_trouble;
	const char *trouble_text; /* borrowed, may be NULL */
	usec_t trouble_since_usec; /* CLOCK_REALTIME */
	bool no_key; /* configured, jobs waiting, no API key */
};

struct status_counts {
	size_t total, finished; /* jobs held, of which finished */
	size_t stalled; /* watched jobs whose stall was announced (CONTRACT "Stalls") */
	/* document-indexing batches still watched that have answered, and their
	 * documents done (completed or error) and in all */
	size_t batches;
	uint64_t documents_done, documents_total;
	unsigned in_flight, queued; /* requests in flight, jobs waiting for a connection */
	unsigned hooks_running, hooks_queued;
	const struct status_endpoint *endpoints; /* borrowed: only those to name */
	size_t n_endpoints;
	bool state_failing; /* the state file cannot be written */
	usec_t now_usec; /* CLOCK_REALTIME: "since" shows a date unless it is today */
};

/* Write the status line into buf (size bytes, cut to fit, always
 * NUL-terminated when size > 0). Times are local (TZ). Returns buf. */
char *status_format(char *buf, size_t size, const struct status_counts *c);
