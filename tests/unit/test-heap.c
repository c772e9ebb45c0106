/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "backoff.h"
#include "heap.h"

/* Heap order and index bookkeeping of every entry. */
static void check_heap(const struct heap *h)
{
	assert_true(h->n <= h->allocated);
	for (uint32_t i = 0; i < h->n; i++) {
		const struct heap_node *n = h->nodes[i];
		if (n->index != i) {
			print_error("node at %" PRIu32 " says it is at %" PRIu32 "\n", i, n->index);
			fail();
		}
		if (i > 0 && h->nodes[(i - 1) / 2]->key > n->key) {
			print_error("parent %" PRIu32 " key %" PRIu64 " > child %" PRIu32
				    " key %" PRIu64 "\n",
				    (i - 1) / 2, h->nodes[(i - 1) / 2]->key, i, n->key);
			fail();
		}
	}
}

/* The reference: which nodes are in, with which keys. */
struct ref {
	struct heap_node *nodes;
	bool *in;
	usec_t *key;
	size_t n;
};

static void check_against(const struct heap *h, const struct ref *r)
{
	uint32_t count = 0;
	usec_t min = USEC_INFINITY;
	bool any = false;

	check_heap(h);
	for (size_t i = 0; i < r->n; i++) {
		assert_int_equal(heap_node_queued(&r->nodes[i]), r->in[i]);
		if (r->in[i]) {
			count++;
			assert_int_equal(r->nodes[i].key, r->key[i]);
			assert_ptr_equal(h->nodes[r->nodes[i].index], &r->nodes[i]);
			if (!any || r->key[i] < min) {
				min = r->key[i];
			}
			any = true;
		} else {
			assert_int_equal(r->nodes[i].index, HEAP_INVALID_INDEX);
		}
	}
	assert_int_equal(h->n, count);
	if (any) {
		assert_non_null(heap_peek(h));
		assert_int_equal(heap_peek(h)->key, min);
	} else {
		assert_null(heap_peek(h));
	}
}

static int cmp_usec(const void *a, const void *b)
{
	usec_t x = *(const usec_t *)a, y = *(const usec_t *)b;
	return x < y ? -1 : x > y;
}

static usec_t random_key(struct backoff_rng *rng, unsigned range)
{
	uint64_t r = backoff_rng_next(rng);

	switch (r % 16) {
	case 0:
		return 0;
	case 1:
		return USEC_INFINITY;
	default:
		return range ? (r >> 8) % range : r >> 4;
	}
}

static void random_ops(size_t n_nodes, unsigned n_ops, unsigned key_range, uint64_t seed)
{
	struct ref r = {
		.nodes = calloc(n_nodes, sizeof(struct heap_node)),
		.in = calloc(n_nodes, sizeof(bool)),
		.key = calloc(n_nodes, sizeof(usec_t)),
		.n = n_nodes,
	};
	struct backoff_rng rng;
	struct heap h;

	assert_non_null(r.nodes);
	assert_non_null(r.in);
	assert_non_null(r.key);
	for (size_t i = 0; i < n_nodes; i++) {
		heap_node_init(&r.nodes[i]);
	}
	backoff_rng_seed(&rng, seed);
	heap_init(&h);

	for (unsigned op = 0; op < n_ops; op++) {
		uint64_t x = backoff_rng_next(&rng);
		size_t i = (size_t)((x >> 8) % n_nodes);
		unsigned phase = op * 3 / n_ops; /* fill, churn, drain */
		unsigned c = (unsigned)(x % 100);
		unsigned push = phase == 0 ? 50 : phase == 1 ? 30 : 10;

		if (c < push) {
			usec_t k = random_key(&rng, key_range);
			if (r.in[i]) {
				/* a queued node is re-keyed by set */
				assert_int_equal(heap_set(&h, &r.nodes[i], k), 0);
			} else {
				assert_int_equal(heap_push(&h, &r.nodes[i], k), 0);
			}
			r.in[i] = true;
			r.key[i] = k;
		} else if (c < push + 25) {
			usec_t k = random_key(&rng, key_range);
			assert_int_equal(heap_set(&h, &r.nodes[i], k), 0);
			r.in[i] = true;
			r.key[i] = k;
		} else if (c < push + 45) {
			heap_remove(&h, &r.nodes[i]); /* a no-op when not queued */
			r.in[i] = false;
		} else {
			struct heap_node *top = heap_pop(&h);
			if (!top) {
				for (size_t j = 0; j < n_nodes; j++) {
					assert_false(r.in[j]);
				}
			} else {
				size_t j = (size_t)(top - r.nodes);
				assert_true(j < n_nodes);
				assert_true(r.in[j]);
				assert_int_equal(top->key, r.key[j]);
				/* nothing queued is smaller */
				for (size_t m = 0; m < n_nodes; m++) {
					if (r.in[m]) {
						assert_true(r.key[m] >= top->key);
					}
				}
				assert_false(heap_node_queued(top));
				r.in[j] = false;
			}
		}
		check_against(&h, &r);
	}

	/* pop the rest: the keys come out in the reference's sorted order */
	usec_t *sorted = calloc(n_nodes, sizeof(usec_t));
	size_t n_in = 0;
	assert_non_null(sorted);
	for (size_t i = 0; i < n_nodes; i++) {
		if (r.in[i]) {
			sorted[n_in++] = r.key[i];
		}
	}
	qsort(sorted, n_in, sizeof(usec_t), cmp_usec);
	for (size_t i = 0; i < n_in; i++) {
		struct heap_node *top = heap_pop(&h);
		assert_non_null(top);
		assert_int_equal(top->key, sorted[i]);
		assert_int_equal(top->index, HEAP_INVALID_INDEX);
		check_heap(&h);
	}
	assert_null(heap_pop(&h));
	assert_int_equal(h.n, 0);
	heap_done(&h);
	free(sorted);
	free(r.nodes);
	free(r.in);
	free(r.key);
}

static void test_random_many_duplicates(void **state)
{
	random_ops(300, 20000, 10, 1);
}

static void test_random_wide_keys(void **state)
{
	random_ops(500, 20000, 0, 2);
}

static void test_random_large(void **state)
{
	/* past several reallocations of the node array */
	random_ops(3000, 30000, 1000000, 3);
}

static void test_random_small(void **state)
{
	for (uint64_t seed = 100; seed < 140; seed++) {
		random_ops(1 + seed % 7, 500, 5, seed);
	}
}

static void test_empty(void **state)
{
	struct heap h;
	struct heap_node n;

	heap_init(&h);
	heap_node_init(&n);
	assert_null(heap_peek(&h));
	assert_null(heap_pop(&h));
	heap_remove(&h, &n); /* not queued: nothing happens */
	assert_false(heap_node_queued(&n));
	heap_done(&h);
	heap_done(&h);
	heap_done(NULL);
}

static void test_order(void **state)
{
	static const usec_t keys[] = { 5, 3, 8, 1, 9, 1, 0, 7 };
	static const usec_t sorted[] = { 0, 1, 1, 3, 5, 7, 8, 9 };
	struct heap_node n[ELEMENTSOF(keys)];
	struct heap h;

	heap_init(&h);
	for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
		heap_node_init(&n[i]);
		assert_int_equal(heap_push(&h, &n[i], keys[i]), 0);
		assert_true(heap_node_queued(&n[i]));
		check_heap(&h);
	}
	assert_ptr_equal(heap_peek(&h), &n[6]);
	for (size_t i = 0; i < ELEMENTSOF(sorted); i++) {
		struct heap_node *top = heap_pop(&h);
		assert_non_null(top);
		assert_int_equal(top->key, sorted[i]);
		assert_false(heap_node_queued(top));
		check_heap(&h);
	}
	assert_null(heap_pop(&h));
	heap_done(&h);
}

/* Removing from one subtree may bring up a last entry smaller than the hole's
 * parent: it must sift up, not only down. */
static void test_remove_sifts_up(void **state)
{
	static const usec_t keys[] = { 1, 10, 2, 11, 12, 3, 4 };
	struct heap_node n[ELEMENTSOF(keys)];
	struct heap h;

	heap_init(&h);
	for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
		heap_node_init(&n[i]);
		assert_int_equal(heap_push(&h, &n[i], keys[i]), 0);
	}
	/* pushed in heap order: every node sits where it was pushed */
	for (uint32_t i = 0; i < ELEMENTSOF(keys); i++) {
		assert_int_equal(n[i].index, i);
	}
	heap_remove(&h, &n[3]); /* key 11; the last entry (4) lands under 10 */
	check_heap(&h);
	assert_int_equal(n[3].index, HEAP_INVALID_INDEX);
	assert_int_equal(n[6].index, 1);
	assert_int_equal(n[1].index, 3);
	assert_int_equal(h.n, 6);

	/* removing the last entry itself */
	heap_remove(&h, h.nodes[h.n - 1]);
	check_heap(&h);
	assert_int_equal(h.n, 5);
	/* removing the root */
	heap_remove(&h, &n[0]);
	check_heap(&h);
	assert_ptr_equal(heap_peek(&h), &n[2]);
	heap_done(&h);
}

static void test_set(void **state)
{
	struct heap_node a, b, c;
	struct heap h;

	heap_init(&h);
	heap_node_init(&a);
	heap_node_init(&b);
	heap_node_init(&c);

	/* set on a node not queued inserts it */
	assert_int_equal(heap_set(&h, &a, 100), 0);
	assert_int_equal(heap_set(&h, &b, 200), 0);
	assert_int_equal(heap_set(&h, &c, 300), 0);
	assert_int_equal(h.n, 3);
	assert_ptr_equal(heap_peek(&h), &a);

	/* lower a key: to the top */
	assert_int_equal(heap_set(&h, &c, 50), 0);
	check_heap(&h);
	assert_ptr_equal(heap_peek(&h), &c);
	/* raise it: down again */
	assert_int_equal(heap_set(&h, &c, 1000), 0);
	check_heap(&h);
	assert_ptr_equal(heap_peek(&h), &a);
	assert_int_equal(heap_set(&h, &a, 500), 0);
	check_heap(&h);
	assert_ptr_equal(heap_peek(&h), &b);
	/* the same key: nothing moves */
	uint32_t ib = b.index;
	assert_int_equal(heap_set(&h, &b, 200), 0);
	assert_int_equal(b.index, ib);
	assert_int_equal(h.n, 3);

	assert_ptr_equal(heap_pop(&h), &b);
	assert_ptr_equal(heap_pop(&h), &a);
	assert_ptr_equal(heap_pop(&h), &c);
	assert_null(heap_pop(&h));
	heap_done(&h);
}

/* finish leaves the nodes not queued, so they can be pushed again. */
static void test_finish_resets_nodes(void **state)
{
	struct heap_node n[100];
	struct heap h;

	heap_init(&h);
	for (size_t i = 0; i < ELEMENTSOF(n); i++) {
		heap_node_init(&n[i]);
		assert_int_equal(heap_push(&h, &n[i], (usec_t)(i * 7919 % 101)), 0);
	}
	assert_int_equal(h.n, 100);
	assert_true(h.allocated >= 100);
	heap_done(&h);
	assert_int_equal(h.n, 0);
	assert_null(h.nodes);
	for (size_t i = 0; i < ELEMENTSOF(n); i++) {
		assert_false(heap_node_queued(&n[i]));
	}
	/* reusable after finish */
	assert_int_equal(heap_push(&h, &n[5], 1), 0);
	assert_ptr_equal(heap_pop(&h), &n[5]);
	heap_done(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_order),
		cmocka_unit_test(test_remove_sifts_up),
		cmocka_unit_test(test_set),
		cmocka_unit_test(test_finish_resets_nodes),
		cmocka_unit_test(test_random_many_duplicates),
		cmocka_unit_test(test_random_wide_keys),
		cmocka_unit_test(test_random_large),
		cmocka_unit_test(test_random_small),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
