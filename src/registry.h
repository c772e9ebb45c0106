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
#include "endpoint.h"
#include "hashmap.h"
#include "job.h"

struct registry {
	struct hashmap by_file; /* job->file -> job, for jobs whose file is present */
	struct hashmap by_identity; /* (endpoint, action, id) -> job: every job */
	struct endpoint **endpoints; /* owned array of owned endpoints */
	size_t n_endpoints, endpoints_allocated;
	unsigned n_finished; /* jobs with an outcome still in the registry */
	unsigned n_stalled; /* jobs in the registry whose stall was announced (stall.h) */
	unsigned
		n_indexing; /* document-indexing jobs, finished or not (STATUS= sums their progress) */
};

void registry_init(struct registry *r);
/* Frees every job still registered and every endpoint. */
void registry_done(struct registry *r);

/* The endpoint called name; created (unconfigured) when create is set.
 * NULL when absent or on OOM. */
struct endpoint *registry_endpoint(struct registry *r, const char *name, bool create);

struct job *registry_by_file(const struct registry *r, const char *file);
/* The job of endpoint e with this identity (kind.h), or NULL. */
struct job *registry_by_identity(const struct registry *r, const struct endpoint *e,
				 const struct kind_ident *ident);

/* Register j (its file, endpoint and identity set). -EEXIST when the file
 * name or the identity is taken, -ENOMEM. */
int registry_add(struct registry *r, struct job *j);
/* Unregister j (does not free it). */
void registry_remove(struct registry *r, struct job *j);

/* j's stall was announced (stalled) or ended: counts it in n_stalled when j is
 * in r. j->stall.stalled_usec must already say so (0 when not stalled). */
void registry_stall_changed(struct registry *r, const struct job *j, bool stalled);

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
