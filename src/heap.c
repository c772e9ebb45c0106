/* SPDX-License-Identifier: MIT */
#include <errno.h>

#include "heap.h"

void heap_init(struct heap *h)
{
	*h = (struct heap){ 0 };
}

void heap_done(struct heap *h)
{
	if (!h) {
		return;
	}
	for (uint32_t i = 0; i < h->n; i++) {
		h->nodes[i]->index = HEAP_INVALID_INDEX;
	}
	free(h->nodes);
	*h = (struct heap){ 0 };
}

static inline void place(struct heap *h, uint32_t i, struct heap_node *n)
{
	h->nodes[i] = n;
	n->index = i;
}

static void sift_up(struct heap *h, uint32_t i)
{
	struct heap_node *n = h->nodes[i];
	while (i > 0) {
		uint32_t parent = (i - 1) / 2;
		if (h->nodes[parent]->key <= n->key) {
			break;
		}
		place(h, i, h->nodes[parent]);
		i = parent;
	}
	place(h, i, n);
}

static void sift_down(struct heap *h, uint32_t i)
{
	struct heap_node *n = h->nodes[i];
	for (;;) {
		uint32_t l = 2 * i + 1;
		if (l >= h->n) {
			break;
		}
		uint32_t c = l;
		if (l + 1 < h->n && h->nodes[l + 1]->key < h->nodes[l]->key) {
			c = l + 1;
		}
		if (n->key <= h->nodes[c]->key) {
			break;
		}
		place(h, i, h->nodes[c]);
		i = c;
	}
	place(h, i, n);
}

int heap_push(struct heap *h, struct heap_node *node, usec_t key)
{
	assert(!heap_node_queued(node));
	if (h->n == h->allocated) {
		if (h->allocated >= UINT32_MAX / 2) {
			return -ENOMEM;
		}
		uint32_t a = h->allocated ? h->allocated * 2 : 64;
		struct heap_node **nn = realloc(h->nodes, (size_t)a * sizeof(*nn));
		if (!nn) {
			return -ENOMEM;
		}
		h->nodes = nn;
		h->allocated = a;
	}
	node->key = key;
	h->nodes[h->n] = node;
	node->index = h->n;
	h->n++;
	sift_up(h, node->index);
	return 0;
}

int heap_set(struct heap *h, struct heap_node *node, usec_t key)
{
	if (!heap_node_queued(node)) {
		return heap_push(h, node, key);
	}
	usec_t old = node->key;
	node->key = key;
	if (key < old) {
		sift_up(h, node->index);
	} else if (key > old) {
		sift_down(h, node->index);
	}
	return 0;
}

void heap_remove(struct heap *h, struct heap_node *node)
{
	if (!heap_node_queued(node)) {
		return;
	}
	uint32_t i = node->index;
	assert(i < h->n && h->nodes[i] == node);
	node->index = HEAP_INVALID_INDEX;
	h->n--;
	if (i == h->n) {
		return;
	}
	struct heap_node *last = h->nodes[h->n];
	place(h, i, last);
	if (i > 0 && h->nodes[(i - 1) / 2]->key > last->key) {
		sift_up(h, i);
	} else {
		sift_down(h, i);
	}
}

struct heap_node *heap_pop(struct heap *h)
{
	struct heap_node *top = heap_peek(h);
	if (top) {
		heap_remove(h, top);
	}
	return top;
}
