/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Feeding a yajl callback parser, for the two streaming readers of answers
 * (response.c, jsonextract.c): the one place that turns a failed parse into
 * a single-line message. Pure.
 */

#include <stdbool.h>
#include <stddef.h>

/*
 * Give the next chunk of a document to handle (a yajl_handle). Once a parse
 * has failed (*failed), every call fails again. On failure *failed is set and
 * error (error_size bytes) gets yajl's message on one line, unless it holds
 * a message already (a callback's own, more precise than yajl's "client
 * cancelled"). Returns 0, -EBADMSG, or -EINVAL when handle is NULL.
 */
int json_feed(void *handle, bool *failed, char *error, size_t error_size, const void *buf,
	      size_t len);
/* The end of the document, same contract. */
int json_complete(void *handle, bool *failed, char *error, size_t error_size);
