/* SPDX-License-Identifier: MIT */
#pragma once

/* Clocks. Parsing and formatting time spans is timespan.h. */

#include "macro.h"

/* CLOCK_REALTIME / CLOCK_MONOTONIC in microseconds. */
usec_t now_realtime_usec(void);
usec_t now_monotonic_usec(void);
