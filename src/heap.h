/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * A binary min-heap of embedded nodes keyed by time: the one timer queue
 * behind every job's poll and deadline. Push, remove and re-key are
 * O(log n); the node records its own index so any node can be removed.
 * The heap does not own the nodes.
 */

#include <stdbool.h>
#include <stdint.h>

#include "macro.h"

#define HEAP_INVALID_INDEX UINT32_MAX

struct heap_node {
	usec_t key;
	uint32_t index; /* position in the heap, HEAP_INVALID_INDEX when not in it */
};

struct heap {
	struct heap_node **nodes; /* owned array; the nodes are borrowed */
	uint32_t n, allocated;
};

static inline void heap_node_init(struct heap_node *n)
{
	n->key = 0;
	n->index = HEAP_INVALID_INDEX;
}

static inline bool heap_node_queued(const struct heap_node *n)
{
	return n->index != HEAP_INVALID_INDEX;
}

void heap_init(struct heap *h);
void heap_done(struct heap *h); /* frees the array; the nodes are left alone */

/* Insert node with key; node must not be queued. 0 or -ENOMEM. */
int heap_push(struct heap *h, struct heap_node *node, usec_t key);

/* Change the key of a queued node, or insert it when not queued. 0 or -ENOMEM. */
int heap_set(struct heap *h, struct heap_node *node, usec_t key);

/* Remove node if queued; no-op otherwise. */
void heap_remove(struct heap *h, struct heap_node *node);

/* The node with the smallest key, or NULL. */
static inline struct heap_node *heap_peek(const struct heap *h)
{
	return h->n > 0 ? h->nodes[0] : NULL;
}

/* Remove and return the smallest, or NULL. */
struct heap_node *heap_pop(struct heap *h);
