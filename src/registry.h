/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Owns every job and every endpoint. Jobs are found by identity (endpoint,
 * action, id: what makes two job files name the same job; identity_eq() in
 * registry.c is the one place that says so) and by job file name; endpoints
 * by name. A job whose file was removed is "unfiled": out of the file index
 * but still registered, until the daemon gives it another file (a rename) or
 * removes it (settled at the end of the loop turn). Endpoint objects live
 * as long as the registry, across config reloads, so jobs can hold plain
 * pointers to them; a reload only re-points their config and headers.
 */

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "dify.h"
#include "hashmap.h"
#include "job.h"

struct http_headers;

struct endpoint {
	char *name; /* owned */
	const struct endpoint_config *conf; /* borrowed from the current config, or NULL */
	struct http_headers *headers; /* owned reference; NULL when the key is unusable */
	char *key_problem; /* owned: why headers is NULL, for logs and STATUS */

	unsigned in_flight; /* status requests in flight */
	struct job *queue_head, *queue_tail; /* borrowed: due jobs waiting for a slot */
	unsigned n_queued;
	usec_t blocked_until_usec; /* CLOCK_MONOTONIC, from Retry-After */

	/* The trouble in progress, logged when it starts and when it ends. */
	bool in_trouble;
	uint8_t trouble_kind; /* enum poll_kind */
	uint8_t trouble_transfer; /* enum transfer_error */
	long trouble_http_code;
	usec_t trouble_since_usec; /* CLOCK_REALTIME */
	unsigned trouble_polls; /* failed polls in this trouble */
	char *trouble_text; /* owned short text for STATUS= and `jobwatchctl list` */

	/* Faults of single jobs' answers (poll_result.job_fault) since the last
	 * good answer: from how many different jobs (not already in their own
	 * trouble). Enough of them make endpoint
	 * trouble (poller.c). fault_epoch changes with every good answer (never
	 * 0 once used), so a job counts once per streak (job->fault_epoch). */
	uint16_t fault_epoch;
	unsigned fault_jobs;

	unsigned n_jobs; /* jobs naming this endpoint, finished or not */
};

struct registry {
	struct hashmap by_file; /* job->file -> job, for jobs whose file is present */
	struct hashmap by_identity; /* (endpoint, action, id) -> job: every job */
	struct endpoint **endpoints; /* owned array of owned endpoints */
	size_t n_endpoints;
	unsigned n_finished; /* jobs with an outcome still in the registry */
};

void registry_init(struct registry *r);
/* Frees every job still registered and every endpoint. */
void registry_finish(struct registry *r);

/* The endpoint called name; created (unconfigured) when create is set.
 * NULL when absent or on OOM. */
struct endpoint *registry_endpoint(struct registry *r, const char *name, bool create);

struct job *registry_by_file(const struct registry *r, const char *file);
struct job *registry_by_identity(const struct registry *r, const struct endpoint *e,
				 enum job_action action, const uint8_t id[static 16]);

/* Register j (its file, endpoint, action and id set). -EEXIST when the file
 * name or the identity is taken, -ENOMEM. */
int registry_add(struct registry *r, struct job *j);
/* Unregister j (does not free it). */
void registry_remove(struct registry *r, struct job *j);

/* j's file is gone: take it out of the file index. j keeps its identity and
 * its old name (for messages) until registry_set_file() or registry_remove(). */
void registry_unfile(struct registry *r, struct job *j);
/* Give the unfiled job j the file name (copied). -EEXIST when another job
 * holds the name, -ENOMEM. */
int registry_set_file(struct registry *r, struct job *j, const char *name);
/* Whether j is filed: registered under its file name. */
bool registry_has_file(const struct registry *r, const struct job *j);

static inline size_t registry_size(const struct registry *r)
{
	return hashmap_size(&r->by_identity);
}

/* Iterate over jobs, unfiled ones too: *i = 0 first; NULL at the end; no
 * changes meanwhile. */
static inline struct job *registry_next(const struct registry *r, size_t *i)
{
	return hashmap_next(&r->by_identity, i);
}
