/* SPDX-License-Identifier: MIT */
#include <errno.h>

#include "alloc-util.h"
#include "http.h"
#include "registry.h"
#include "string-util.h"

static const void *file_key(const void *item)
{
	return ((const struct job *)item)->file;
}

static bool string_eq(const void *a, const void *b)
{
	return streq(a, b);
}

static const struct hashmap_ops by_file_ops = {
	.key = file_key,
	.hash = hash_string,
	.eq = string_eq,
};

/* Identity lookups use a job as the key: the probe is a stack job with only
 * endpoint and identity filled in (registry_by_identity()). The identity is
 * (endpoint, struct kind_ident); kind.c says what makes two idents equal. */
static const void *identity_key(const void *item)
{
	return item;
}

static uint64_t identity_hash(const void *key)
{
	const struct job *j = key;
	struct kind_ident ident;
	job_ident(j, &ident);
	return kind_ident_hash(&ident, (uint64_t)(uintptr_t)j->endpoint * 31);
}

static bool identity_eq(const void *a, const void *b)
{
	const struct job *x = a, *y = b;
	struct kind_ident ix, iy;
	if (x->endpoint != y->endpoint || x->kind != y->kind) {
		return false;
	}
	job_ident(x, &ix);
	job_ident(y, &iy);
	return kind_ident_equal(&ix, &iy);
}

static const struct hashmap_ops by_identity_ops = {
	.key = identity_key,
	.hash = identity_hash,
	.eq = identity_eq,
};

void registry_init(struct registry *r)
{
	*r = (struct registry){ 0 };
	hashmap_init(&r->by_file, &by_file_ops);
	hashmap_init(&r->by_identity, &by_identity_ops);
}

/* The endpoint and its header reference (http.c's, which endpoint.c, being
 * pure, does not call). */
static void endpoint_release(struct endpoint *e)
{
	if (e) {
		http_headers_unref(e->headers);
		(void)endpoint_free(e);
	}
}

void registry_done(struct registry *r)
{
	struct job *j;
	size_t i = 0;

	if (!r) {
		return;
	}
	/* Collect first: the maps must not change while iterating. */
	size_t n = hashmap_size(&r->by_identity), k = 0;
	struct job **all = n ? calloc(n, sizeof(*all)) : NULL;
	while (all && (j = hashmap_next(&r->by_identity, &i))) {
		all[k++] = j;
	}
	hashmap_done(&r->by_file);
	hashmap_done(&r->by_identity);
	for (size_t x = 0; x < k; x++) {
		job_free(all[x]);
	}
	free(all);
	for (size_t x = 0; x < r->n_endpoints; x++) {
		endpoint_release(r->endpoints[x]);
	}
	free(r->endpoints);
	*r = (struct registry){ 0 };
}

struct endpoint *registry_endpoint(struct registry *r, const char *name, bool create)
{
	for (size_t i = 0; i < r->n_endpoints; i++) {
		if (streq(r->endpoints[i]->name, name)) {
			return r->endpoints[i];
		}
	}
	if (!create) {
		return NULL;
	}
	if (!grow_array((void **)&r->endpoints, &r->endpoints_allocated, sizeof(*r->endpoints),
			r->n_endpoints + 1)) {
		return NULL;
	}
	struct endpoint *e = endpoint_new(name);
	if (!e) {
		return NULL;
	}
	r->endpoints[r->n_endpoints++] = e;
	return e;
}

struct job *registry_by_file(const struct registry *r, const char *file)
{
	return hashmap_get(&r->by_file, file);
}

struct job *registry_by_identity(const struct registry *r, const struct endpoint *e,
				 const struct kind_ident *ident)
{
	/* a job of any kind with room for the indexing or user part (job.h) */
	struct {
		struct job job;
		union {
			struct job_indexing indexing;
			struct job_user user;
		};
	} probe = { .job = { .endpoint = (struct endpoint *)e, .kind = ident->kind } };
	static_assert(offsetof(typeof(probe), indexing) == sizeof(struct job),
		      "the probe has job_new_kind()'s layout");
	if (ident->kind == KIND_USER) {
		/* borrowed, not copied: the probe is never freed; only its
		 * identity (job_ident()) is looked at */
		probe.user.text = (char *)(uintptr_t)ident->user;
	} else {
		(void)job_set_ident(&probe.job, ident);
	}
	return hashmap_get(&r->by_identity, &probe.job);
}

int registry_add(struct registry *r, struct job *j)
{
	int ret;

	assert(j->file && j->endpoint);
	if (hashmap_get(&r->by_file, j->file) || hashmap_get(&r->by_identity, j)) {
		return -EEXIST;
	}
	ret = hashmap_put(&r->by_file, j);
	if (ret < 0) {
		return ret;
	}
	ret = hashmap_put(&r->by_identity, j);
	if (ret < 0) {
		(void)hashmap_remove(&r->by_file, j->file);
		return ret;
	}
	j->endpoint->n_jobs++;
	if (j->kind == KIND_DOCUMENT_INDEXING) {
		r->n_indexing++;
	}
	if (job_is_finished(j)) {
		r->n_finished++;
	}
	if (j->stall.stalled_usec != 0) {
		r->n_stalled++;
	}
	return 0;
}

void registry_remove(struct registry *r, struct job *j)
{
	if (hashmap_get(&r->by_identity, j) != j) {
		return;
	}
	registry_unfile(r, j);
	(void)hashmap_remove(&r->by_identity, j);
	j->endpoint->n_jobs--;
	if (j->kind == KIND_DOCUMENT_INDEXING) {
		r->n_indexing--;
	}
	if (job_is_finished(j)) {
		r->n_finished--;
	}
	if (j->stall.stalled_usec != 0) {
		r->n_stalled--;
	}
}

void registry_stall_changed(struct registry *r, const struct job *j, bool stalled)
{
	if (hashmap_get(&r->by_identity, j) != j) {
		return;
	}
	if (stalled) {
		r->n_stalled++;
	} else if (r->n_stalled > 0) {
		r->n_stalled--;
	}
}

void registry_unfile(struct registry *r, struct job *j)
{
	if (hashmap_get(&r->by_file, j->file) == j) {
		(void)hashmap_remove(&r->by_file, j->file);
	}
}

int registry_set_file(struct registry *r, struct job *j, const char *name)
{
	char *copy;
	int ret;

	assert(hashmap_get(&r->by_identity, j) == j);
	if (hashmap_get(&r->by_file, name)) {
		return -EEXIST;
	}
	copy = strdup_or_null(name);
	if (!copy) {
		return -ENOMEM;
	}
	registry_unfile(r, j);
	free(j->file);
	j->file = copy;
	ret = hashmap_put(&r->by_file, j);
	return ret < 0 ? ret : 0;
}

bool registry_has_file(const struct registry *r, const struct job *j)
{
	return hashmap_get(&r->by_file, j->file) == j;
}
