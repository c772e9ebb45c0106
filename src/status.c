/* SPDX-License-Identifier: MIT */
#include <inttypes.h>
#include <stdio.h>
#include <time.h>

#include "status.h"
#include "string-util.h"

char *status_format(char *buf, size_t size, const struct status_counts *c)
{
	size_t total = c->total, finished = c->finished;
	char since[32], stalled[32] = "";
	int n;

	/* stalled jobs are watched jobs: said inside the parentheses, when any */
	if (c->stalled > 0) {
		snprintf(stalled, sizeof(stalled), ", %zu stalled", c->stalled);
	}
	n = snprintf(
		buf, size,
		"Watching %zu job%s (%u request%s in flight, %u waiting for a connection%s), %zu finished",
		total - finished, total - finished == 1 ? "" : "s", c->in_flight,
		c->in_flight == 1 ? "" : "s", c->queued, stalled, finished);
	if (c->batches > 0 && n > 0 && (size_t)n < size) {
		n += snprintf(buf + n, size - (size_t)n,
			      ", %zu document batch%s indexing: %" PRIu64 "/%" PRIu64
			      " documents done",
			      c->batches, c->batches == 1 ? "" : "es", c->documents_done,
			      c->documents_total);
	}
	if (c->hooks_running + c->hooks_queued > 0 && n > 0 && (size_t)n < size) {
		n += snprintf(buf + n, size - (size_t)n, ", %u hook%s running, %u waiting",
			      c->hooks_running, c->hooks_running == 1 ? "" : "s", c->hooks_queued);
	}
	for (size_t i = 0; i < c->n_endpoints && n > 0 && (size_t)n < size; i++) {
		const struct status_endpoint *e = &c->endpoints[i];
		if (e->in_trouble) {
			time_t t = (time_t)(e->trouble_since_usec / USEC_PER_SEC),
			       now = (time_t)(c->now_usec / USEC_PER_SEC);
			struct tm tm, today;
			localtime_r(&t, &tm);
			localtime_r(&now, &today);
			/* the time of day, and the date too when it is not today */
			strftime(since, sizeof(since),
				 tm.tm_yday == today.tm_yday && tm.tm_year == today.tm_year
					 ? "%H:%M"
					 : "%b %d %H:%M",
				 &tm);
			n += snprintf(buf + n, size - (size_t)n, "; endpoint %s: %s since %s",
				      e->name, strempty(e->trouble_text), since);
		} else if (e->no_key) {
			n += snprintf(buf + n, size - (size_t)n, "; endpoint %s: no API key",
				      e->name);
		}
	}
	if (c->state_failing && n > 0 && (size_t)n < size) {
		snprintf(buf + n, size - (size_t)n, "; state file not writable");
	}
	return buf;
}
