/* SPDX-License-Identifier: MIT */
#include "watchdog.h"

/* t lies more than bound before now (t in the past by more than bound). */
static bool older_than(usec_t t, usec_t now, usec_t bound)
{
	return t != USEC_INFINITY && t < now && now - t > bound;
}

enum watchdog_verdict watchdog_check(const struct watchdog_sample *s, usec_t bound_usec)
{
	if (older_than(s->oldest_due_usec, s->now_usec, bound_usec)) {
		return WATCHDOG_POLLS_LATE;
	}
	if (!s->reports_held && older_than(s->oldest_report_usec, s->now_usec, bound_usec)) {
		return WATCHDOG_RESULTS_LATE;
	}
	return WATCHDOG_PROGRESSING;
}
