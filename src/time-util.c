/* SPDX-License-Identifier: MIT */
#include <time.h>

#include "time-util.h"

static usec_t now_usec(clockid_t clock)
{
	struct timespec ts;

	/* Cannot fail for these clocks on Linux. */
	if (clock_gettime(clock, &ts) < 0) {
		return 0;
	}
	return (usec_t)ts.tv_sec * USEC_PER_SEC + (usec_t)ts.tv_nsec / 1000U;
}

usec_t now_realtime_usec(void)
{
	return now_usec(CLOCK_REALTIME);
}

usec_t now_monotonic_usec(void)
{
	return now_usec(CLOCK_MONOTONIC);
}
