/* SPDX-License-Identifier: MIT */
#include <errno.h>

#include "hashmap.h"

void hashmap_init(struct hashmap *m, const struct hashmap_ops *ops)
{
	*m = (struct hashmap){ .ops = ops };
}

void hashmap_done(struct hashmap *m)
{
	if (!m) {
		return;
	}
	free(m->slots);
	m->slots = NULL;
	m->n_slots = m->n_items = 0;
}

static inline size_t slot_of(const struct hashmap *m, const void *key)
{
	return (size_t)(m->ops->hash(key) & (m->n_slots - 1));
}

void *hashmap_get(const struct hashmap *m, const void *key)
{
	if (m->n_items == 0) {
		return NULL;
	}
	for (size_t i = slot_of(m, key);; i = (i + 1) & (m->n_slots - 1)) {
		void *item = m->slots[i];
		if (!item) {
			return NULL;
		}
		if (m->ops->eq(m->ops->key(item), key)) {
			return item;
		}
	}
}

static void insert_slot(struct hashmap *m, void *item)
{
	size_t i = slot_of(m, m->ops->key(item));
	while (m->slots[i]) {
		i = (i + 1) & (m->n_slots - 1);
	}
	m->slots[i] = item;
}

static int grow(struct hashmap *m)
{
	size_t n = m->n_slots ? m->n_slots * 2 : 16;
	void **old = m->slots;
	size_t old_n = m->n_slots;

	if (n > SIZE_MAX / sizeof(void *)) {
		return -ENOMEM;
	}
	m->slots = calloc(n, sizeof(void *));
	if (!m->slots) {
		m->slots = old;
		return -ENOMEM;
	}
	m->n_slots = n;
	for (size_t i = 0; i < old_n; i++) {
		if (old[i]) {
			insert_slot(m, old[i]);
		}
	}
	free(old);
	return 0;
}

int hashmap_put(struct hashmap *m, void *item)
{
	assert(item);
	if (hashmap_get(m, m->ops->key(item))) {
		return -EEXIST;
	}
	if ((m->n_items + 1) * 10 > m->n_slots * 7) {
		int r = grow(m);
		if (r < 0) {
			return r;
		}
	}
	insert_slot(m, item);
	m->n_items++;
	return 0;
}

void *hashmap_remove(struct hashmap *m, const void *key)
{
	if (m->n_items == 0) {
		return NULL;
	}
	size_t mask = m->n_slots - 1;
	size_t i = slot_of(m, key);
	for (;; i = (i + 1) & mask) {
		if (!m->slots[i]) {
			return NULL;
		}
		if (m->ops->eq(m->ops->key(m->slots[i]), key)) {
			break;
		}
	}
	void *found = m->slots[i];
	/* Backward-shift deletion: pull later members of the probe run into the
	 * hole when their home slot does not lie cyclically in (hole, j]. */
	size_t hole = i;
	for (size_t j = (i + 1) & mask; m->slots[j]; j = (j + 1) & mask) {
		size_t home = slot_of(m, m->ops->key(m->slots[j]));
		bool stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
		if (!stays) {
			m->slots[hole] = m->slots[j];
			hole = j;
		}
	}
	m->slots[hole] = NULL;
	m->n_items--;
	return found;
}

void *hashmap_next(const struct hashmap *m, size_t *i)
{
	while (*i < m->n_slots) {
		void *item = m->slots[(*i)++];
		if (item) {
			return item;
		}
	}
	return NULL;
}

uint64_t hash_bytes(const void *p, size_t n, uint64_t seed)
{
	const unsigned char *c = p;
	uint64_t h = UINT64_C(0xcbf29ce484222325) ^ seed;
	for (size_t i = 0; i < n; i++) {
		h ^= c[i];
		h *= UINT64_C(0x100000001b3);
	}
	/* FNV's low bits are weak for similar keys; mix before masking. */
	h ^= h >> 33;
	h *= UINT64_C(0xff51afd7ed558ccd);
	h ^= h >> 33;
	return h;
}

uint64_t hash_string(const void *s)
{
	return hash_bytes(s, strlen(s), 0);
}
