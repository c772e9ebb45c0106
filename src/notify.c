/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <systemd/sd-daemon.h>

#include "log.h"
#include "notify.h"
#include "string-util.h"
#include "time-util.h"

static void ping(struct notify *n)
{
	n->last_ping_usec = now_monotonic_usec();
	(void)sd_notify(0, "WATCHDOG=1");
}

static void on_uv_watchdog(uv_timer_t *t)
{
	struct notify *n = t->data;

	if (n->progress && !n->progress(n->progress_userdata, n->watchdog_usec / 2)) {
		return;
	}
	ping(n);
}

void notify_set_progress_check(struct notify *n, notify_progress_fn fn, void *userdata)
{
	n->progress = fn;
	n->progress_userdata = userdata;
}

void notify_watchdog_keepalive(struct notify *n)
{
	if (n->watchdog_active &&
	    now_monotonic_usec() - n->last_ping_usec >= n->watchdog_usec / 4) {
		ping(n);
	}
}

int notify_init(struct notify *n, uv_loop_t *loop)
{
	uint64_t usec = 0;
	int r;

	*n = (struct notify){ 0 };
	r = uv_timer_init(loop, &n->watchdog);
	if (r < 0) {
		return log_error_errno(-EIO, "Failed to set up the watchdog timer: %s",
				       uv_strerror(r));
	}
	n->watchdog.data = n;

	r = sd_watchdog_enabled(0, &usec);
	if (r > 0 && usec > 0) {
		n->watchdog_usec = usec;
		/* ping at half the interval, as sd_event does */
		uint64_t ms = MAX((uint64_t)1, usec / 2 / USEC_PER_MSEC);
		ping(n);
		r = uv_timer_start(&n->watchdog, on_uv_watchdog, ms, ms);
		if (r < 0) {
			return log_error_errno(-EIO, "Failed to start the watchdog timer: %s",
					       uv_strerror(r));
		}
		n->watchdog_active = true;
		log_debug("Watchdog enabled: pinging every %llu ms", (unsigned long long)ms);
	}
	return 0;
}

void notify_done(struct notify *n)
{
	if (n->watchdog.type == UV_TIMER && !uv_is_closing((uv_handle_t *)&n->watchdog)) {
		uv_close((uv_handle_t *)&n->watchdog, NULL);
	}
	free(n->last_status);
	n->last_status = NULL;
}

void notify_ready(struct notify *n)
{
	(void)sd_notify(0, "READY=1");
}

void notify_reloading(struct notify *n)
{
	char buf[64];
	snprintf(buf, sizeof(buf), "RELOADING=1\nMONOTONIC_USEC=%llu",
		 (unsigned long long)now_monotonic_usec());
	(void)sd_notify(0, buf);
}

void notify_stopping(struct notify *n)
{
	(void)sd_notify(0, "STOPPING=1");
}

void notify_status(struct notify *n, const char *text)
{
	if (streq_ptr(n->last_status, text)) {
		return;
	}
	char *copy = strdup_or_null(text);
	if (!copy) {
		return;
	}
	free(n->last_status);
	n->last_status = copy;

	char *msg = strjoin("STATUS=", text);
	if (msg) {
		(void)sd_notify(0, msg);
		free(msg);
	}
}
