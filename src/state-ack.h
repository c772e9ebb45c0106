/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The lines of the state directory's ack file (STATE_ACKS_NAME, state.h): one
 * per result journaled and not yet marked so in the database, each naming the
 * job's identity. Written by state_mark_journaled(), replayed into the
 * database by state_open() after a crash. Pure: formatting and parsing only.
 *
 *   ENDPOINT ACTION JOB_ID                      annotation-reply (version 1's
 *                                               line: an older jobwatchd reads it)
 *   ENDPOINT KIND - DATASET JOB_ID              the other built-in kinds,
 *                                               '-' for an empty field
 *
 * A user kind's id and fields may hold blanks, which a line cannot carry: it
 * has no line (its mark goes to the database at once).
 */

#include <stdbool.h>
#include <stddef.h>

struct job;

/* The fields of one line, in the identity's column order. */
enum {
	STATE_ACK_ENDPOINT,
	STATE_ACK_KIND,
	STATE_ACK_ACTION,
	STATE_ACK_DATASET,
	STATE_ACK_JOB_ID,
	_STATE_ACK_FIELDS,
};

/* j's line with its "\n" into buf. Returns its length, or -EINVAL when j
 * cannot have one (a user kind), -ENOBUFS when it does not fit. */
int state_ack_line(const struct job *j, char *buf, size_t size);

/*
 * Split one line (without its "\n"; modified in place) into the identity's
 * columns: ret[] points into line, or to static text (the kind of a version 1
 * line, "" for '-'). false for a line of another shape (a torn one).
 */
bool state_ack_parse(char *line, const char *ret[static _STATE_ACK_FIELDS]);
