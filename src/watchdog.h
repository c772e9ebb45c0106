/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * When jobwatchd may tell the service manager that it is alive (WATCHDOG=1).
 * A timer that fires only shows that the event loop turns; a loop can turn
 * and still get nothing done (work that re-queues itself every turn, results
 * that never get out). So the daemon feeds the watchdog only when, besides,
 * the loop makes progress:
 *   - no job has been due for longer than the bound without being polled
 *     (a job waiting for a free connection of its endpoint is not due: it
 *     waits for a request in flight, which RequestTimeout= bounds), and
 *   - no finished result has waited longer than the bound for its journal
 *     entry, unless results are held back on purpose (the state file cannot
 *     be written: reported, retried, and not cured by a restart).
 * The bound is half of WATCHDOG_USEC, the ping interval. Pure: no clock of
 * its own, no logging.
 */

#include <stdbool.h>

#include "macro.h"

struct watchdog_sample {
	usec_t now_usec; /* CLOCK_MONOTONIC */
	usec_t oldest_due_usec; /* when the first job in the schedule is due; USEC_INFINITY: none */
	usec_t oldest_report_usec; /* since when the oldest result waits; USEC_INFINITY: none */
	bool reports_held; /* results are held back on purpose */
};

enum watchdog_verdict {
	WATCHDOG_PROGRESSING,
	WATCHDOG_POLLS_LATE, /* a due job has not been polled within the bound */
	WATCHDOG_RESULTS_LATE, /* a result has not been journaled within the bound */
	_WATCHDOG_VERDICT_MAX,
};

/* Whether the loop makes progress by the rule above, or what is late. */
enum watchdog_verdict watchdog_check(const struct watchdog_sample *s, usec_t bound_usec);
