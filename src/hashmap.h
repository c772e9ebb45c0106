/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * An open-addressing hash set of borrowed item pointers, looked up by a key
 * derived from the item (linear probing, backward-shift deletion, grows at
 * 70 % load, shrinks never). Lookups do not allocate.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"

/* The key of an item, the hash of a key, and key equality. */
typedef const void *(*hashmap_key_fn)(const void *item);
typedef uint64_t (*hashmap_hash_fn)(const void *key);
typedef bool (*hashmap_eq_fn)(const void *a, const void *b);

struct hashmap_ops {
	hashmap_key_fn key;
	hashmap_hash_fn hash;
	hashmap_eq_fn eq;
};

struct hashmap {
	const struct hashmap_ops *ops; /* borrowed, static */
	void **slots; /* owned array of n_slots (a power of two) */
	size_t n_slots, n_items;
};

void hashmap_init(struct hashmap *m, const struct hashmap_ops *ops);
void hashmap_done(struct hashmap *m); /* frees the slots, not the items */

/* Find the item whose key equals key, or NULL. */
void *hashmap_get(const struct hashmap *m, const void *key);

/* Insert item; -EEXIST if an item with an equal key is present, -ENOMEM. */
int hashmap_put(struct hashmap *m, void *item);

/* Remove the item with this key and return it, or NULL. */
void *hashmap_remove(struct hashmap *m, const void *key);

static inline size_t hashmap_size(const struct hashmap *m)
{
	return m->n_items;
}

/* Iterate: start with *i = 0; returns the next item or NULL at the end.
 * The map must not change during the iteration. */
void *hashmap_next(const struct hashmap *m, size_t *i);

/* Hashes for common keys (FNV-1a folded through a 64-bit mixer). */
uint64_t hash_bytes(const void *p, size_t n, uint64_t seed);
uint64_t hash_string(const void *s);
