/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Stall warnings (CONTRACT "Stalls"): a job whose remote status (and, for
 * document-indexing, its progress) has not changed for StallAfter= gets one
 * warning, and one more entry when it moves again. Neither is an outcome.
 *
 * The stall clock is what the state store keeps per job: when the status or
 * progress last changed (status_changed_usec) and when the current stall was
 * announced (stalled_usec, 0 when it was not). What "changed" means is a
 * fingerprint of the status word and the progress, so one poll costs O(1)
 * and a job keeps no copy of its last answer. Pure: no I/O, no clock.
 */

#include <stdbool.h>
#include <stdint.h>

#include "kind.h"
#include "macro.h"

/* [Poll] StallAfter= default. */
#define STALL_AFTER_DEFAULT_USEC (30 * USEC_PER_MINUTE)

enum stall_action {
	STALL_NOTHING,
	STALL_ANNOUNCE, /* the stall warning is due: set stalled_usec to now */
	STALL_CLEAR, /* it moved after its stall was announced: say so, stalled_usec = 0 */
	_STALL_ACTION_MAX,
};

/* Per job; persisted as status_changed_usec and stalled_usec (CLOCK_REALTIME). */
struct stall_clock {
	usec_t changed_usec; /* the last change of status or progress; 0 = none seen yet */
	usec_t stalled_usec; /* when the current stall was announced; 0 = not stalled */
	uint32_t fingerprint; /* of the last status and progress; 0 = unknown (just restarted) */
};

/*
 * The decision, given the last change (0: no status seen yet), the
 * announcement of the current stall (0: none), now and StallAfter=
 * (USEC_INFINITY: off): ANNOUNCE once the status has been still for
 * stall_after and nothing was announced; CLEAR when a change came after the
 * announcement; NOTHING otherwise. An announced stall is not announced again,
 * whatever StallAfter= becomes (a reload, a restart).
 */
enum stall_action stall_decide(usec_t changed_usec, usec_t stalled_usec, usec_t now_usec,
			       usec_t stall_after_usec);

/*
 * The fingerprint of a remote status word (NULL = "") and, for
 * document-indexing, its progress: documents done (completed or error) and
 * segments done (0 and 0 for other kinds). Never 0. What it is made of is
 * kept in the state (remote_status, progress), so a restored job gets the
 * same fingerprint back.
 */
uint32_t stall_fingerprint(const char *status, uint64_t documents_done, uint64_t segments_done);

/*
 * One status answer with fingerprint fp at now: a new fingerprint restarts
 * the clock, except the first one after a restart (c->fingerprint 0 with a
 * clock already running), which the job keeps so that a restart never resets
 * it. Then stall_decide(), and c is updated for what it returns.
 */
enum stall_action stall_observe(struct stall_clock *c, uint32_t fp, usec_t now_usec,
				usec_t stall_after_usec);

/*
 * One sentence naming what to check for a job of kind k (and action, for
 * annotation-reply) stuck in status: the Dify worker consuming the `dataset`
 * queue, a disable job whose app never had annotation reply enabled, a paused
 * document or run, a document stuck in indexing. Static.
 */
const char *stall_hint(enum kind_type k, enum job_action action, const char *status);
