/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * sd_notify(3) for the service manager: READY=1, STATUS=, RELOADING=1 (with
 * MONOTONIC_USEC=), STOPPING=1, and WATCHDOG=1 from a uv timer at half of
 * $WATCHDOG_USEC, when the loop makes progress (notify_set_progress_check).
 * Without $NOTIFY_SOCKET every call is a cheap no-op.
 */

#include <stdbool.h>
#include <uv.h>

#include "macro.h"

/* Asked before each WATCHDOG=1 of the timer: true when the loop makes
 * progress (see watchdog.h); bound_usec is the ping interval. */
typedef bool (*notify_progress_fn)(void *userdata, usec_t bound_usec);

struct notify {
	uv_timer_t watchdog; /* armed only when the manager asked for a watchdog */
	notify_progress_fn progress; /* NULL: every tick pings */
	void *progress_userdata;
	usec_t watchdog_usec;
	bool watchdog_active;
	usec_t last_ping_usec; /* CLOCK_MONOTONIC */
	char *last_status; /* owned: the STATUS= last sent, to send only changes */
};

/* Set up; arms the watchdog timer when $WATCHDOG_USEC applies to us. */
int notify_init(struct notify *n, uv_loop_t *loop);
/* Closes the timer; the struct must live until the loop ran its close callback. */
void notify_done(struct notify *n);

/* From now on the timer sends WATCHDOG=1 only when fn(userdata) says the
 * loop makes progress; a tick without progress sends nothing, so a loop that
 * turns without getting anything done is restarted like a hung one. */
void notify_set_progress_check(struct notify *n, notify_progress_fn fn, void *userdata);

void notify_ready(struct notify *n);
void notify_reloading(struct notify *n);
void notify_stopping(struct notify *n);
/* Send WATCHDOG=1 now if the watchdog is on and a quarter of its interval
 * passed since the last ping: for long stretches of work that do not return
 * to the loop (the start-up scan of a huge jobs directory). Cheap to call
 * often. */
void notify_watchdog_keepalive(struct notify *n);

/* Send STATUS=text if it differs from the last one sent. */
void notify_status(struct notify *n, const char *text);
