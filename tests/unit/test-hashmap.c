/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "backoff.h"
#include "hashmap.h"
#include "string-util.h"

struct item {
	uint64_t key;
	unsigned serial;
};

static const void *item_key(const void *item)
{
	return &((const struct item *)item)->key;
}

static bool u64_eq(const void *a, const void *b)
{
	return *(const uint64_t *)a == *(const uint64_t *)b;
}

static uint64_t u64_hash_good(const void *k)
{
	return hash_bytes(k, sizeof(uint64_t), 0);
}

/* Eight home slots for every key: long probe runs, constant collisions. */
static uint64_t u64_hash_weak(const void *k)
{
	return *(const uint64_t *)k % 8;
}

/* Every key collides. */
static uint64_t u64_hash_const(const void *k)
{
	return 7;
}

/* Homes at the very end of the table: every run wraps around slot 0. */
static uint64_t u64_hash_wrap(const void *k)
{
	return UINT64_MAX - *(const uint64_t *)k % 5;
}

static const struct hashmap_ops ops_good = { item_key, u64_hash_good, u64_eq };
static const struct hashmap_ops ops_weak = { item_key, u64_hash_weak, u64_eq };
static const struct hashmap_ops ops_const = { item_key, u64_hash_const, u64_eq };
static const struct hashmap_ops ops_wrap = { item_key, u64_hash_wrap, u64_eq };

/* Structural invariants: a power-of-two table under 70 % load, each item
 * reachable from its home slot without crossing an empty slot. O(n_slots). */
static void check_structure(const struct hashmap *m)
{
	size_t count = 0, mask, empty = SIZE_MAX;

	if (m->n_slots == 0) {
		assert_int_equal(m->n_items, 0);
		return;
	}
	mask = m->n_slots - 1;
	assert_int_equal(m->n_slots & mask, 0);
	assert_true(m->n_items * 10 <= m->n_slots * 7);
	for (size_t i = 0; i < m->n_slots && empty == SIZE_MAX; i++) {
		if (!m->slots[i]) {
			empty = i;
		}
	}
	assert_true(empty != SIZE_MAX);
	/* walk once around from an empty slot, remembering the last empty one */
	size_t last_empty = empty;
	for (size_t step = 1; step <= m->n_slots; step++) {
		size_t i = (empty + step) & mask;
		if (!m->slots[i]) {
			last_empty = i;
			continue;
		}
		count++;
		size_t home = (size_t)(m->ops->hash(m->ops->key(m->slots[i])) & mask);
		size_t dist = (i - home) & mask; /* from home to here */
		size_t run = (i - last_empty) & mask; /* from the empty slot before us */
		if (dist >= run) {
			print_error("item in slot %zu (home %zu) is cut off by empty slot %zu\n", i,
				    home, last_empty);
			fail();
		}
	}
	assert_int_equal(count, m->n_items);
}

/* The map against the reference: present[k] says whether items[k] is in. */
static void check_against(const struct hashmap *m, struct item *items, const bool *present,
			  size_t n_keys)
{
	size_t expected = 0;
	unsigned char *seen = calloc(n_keys, 1);

	assert_non_null(seen);
	for (size_t k = 0; k < n_keys; k++) {
		void *got = hashmap_get(m, &items[k].key);
		if (present[k]) {
			expected++;
			assert_ptr_equal(got, &items[k]);
		} else if (got) {
			print_error("key %zu found but was removed\n", k);
			fail();
		}
	}
	assert_int_equal(hashmap_size(m), expected);

	/* iteration visits every item once */
	size_t i = 0, visited = 0;
	void *it;
	while ((it = hashmap_next(m, &i))) {
		struct item *x = it;
		size_t k = (size_t)(x - items);
		assert_true(k < n_keys);
		assert_true(present[k]);
		assert_int_equal(seen[k], 0);
		seen[k] = 1;
		visited++;
	}
	assert_int_equal(visited, expected);
	/* and stays at the end */
	assert_null(hashmap_next(m, &i));
	free(seen);
}

static void random_ops(const struct hashmap_ops *ops, size_t n_keys, unsigned n_ops, uint64_t seed)
{
	struct item *items = calloc(n_keys, sizeof(*items));
	bool *present = calloc(n_keys, sizeof(bool));
	struct backoff_rng rng;
	struct hashmap m;

	assert_non_null(items);
	assert_non_null(present);
	for (size_t k = 0; k < n_keys; k++) {
		/* sparse keys, so a weak hash cannot just index an array */
		items[k].key = k * 1000003 + 17;
		items[k].serial = (unsigned)k;
	}
	backoff_rng_seed(&rng, seed);
	hashmap_init(&m, ops);

	for (unsigned op = 0; op < n_ops; op++) {
		uint64_t r = backoff_rng_next(&rng);
		size_t k = (size_t)((r >> 8) % n_keys);
		/* phases: fill, churn, drain */
		unsigned phase = op * 3 / n_ops;
		unsigned put_pct = phase == 0 ? 75 : phase == 1 ? 50 : 20;

		if (r % 100 < put_pct) {
			int rr = hashmap_put(&m, &items[k]);
			if (present[k]) {
				assert_int_equal(rr, -EEXIST);
			} else {
				assert_int_equal(rr, 0);
				present[k] = true;
			}
		} else if (r % 100 < put_pct + 15) {
			struct item probe = { .key = items[k].key };
			void *got = hashmap_get(&m, &probe.key);
			assert_ptr_equal(got, present[k] ? &items[k] : NULL);
			continue;
		} else {
			struct item probe = { .key = items[k].key };
			void *got = hashmap_remove(&m, &probe.key);
			assert_ptr_equal(got, present[k] ? &items[k] : NULL);
			present[k] = false;
		}
		if (op < 2000 || op % 97 == 0) {
			check_structure(&m);
		}
		if (op < 200 || op % 997 == 0) {
			check_against(&m, items, present, n_keys);
		}
	}
	check_against(&m, items, present, n_keys);

	/* remove the rest, in key order */
	for (size_t k = 0; k < n_keys; k++) {
		void *got = hashmap_remove(&m, &items[k].key);
		assert_ptr_equal(got, present[k] ? &items[k] : NULL);
		present[k] = false;
	}
	check_structure(&m);
	assert_int_equal(hashmap_size(&m), 0);
	for (size_t i = 0; i < m.n_slots; i++) {
		assert_null(m.slots[i]);
	}
	hashmap_done(&m);
	free(items);
	free(present);
}

static void test_random_good_hash(void **state)
{
	random_ops(&ops_good, 5000, 60000, 1);
}

static void test_random_weak_hash(void **state)
{
	random_ops(&ops_weak, 2000, 30000, 2);
}

static void test_random_wrapping_hash(void **state)
{
	random_ops(&ops_wrap, 2000, 20000, 3);
}

static void test_random_constant_hash(void **state)
{
	random_ops(&ops_const, 150, 4000, 4);
}

static void test_random_small(void **state)
{
	/* a few keys, many ops: the table stays at 16 slots and churns */
	for (uint64_t seed = 10; seed < 20; seed++) {
		random_ops(&ops_weak, 11, 2000, seed);
		random_ops(&ops_wrap, 11, 2000, seed);
	}
}

static void test_empty(void **state)
{
	struct hashmap m;
	uint64_t k = 5;
	size_t i = 0;

	hashmap_init(&m, &ops_good);
	assert_int_equal(hashmap_size(&m), 0);
	assert_null(hashmap_get(&m, &k));
	assert_null(hashmap_remove(&m, &k));
	assert_null(hashmap_next(&m, &i));
	hashmap_done(&m);
	hashmap_done(&m);
	hashmap_done(NULL);
}

static void test_basic(void **state)
{
	struct item a = { .key = 1 }, b = { .key = 9 }, a2 = { .key = 1 }, c = { .key = 17 };
	struct hashmap m;
	uint64_t k;

	hashmap_init(&m, &ops_weak); /* 1, 9 and 17 share home slot 1 */
	assert_int_equal(hashmap_put(&m, &a), 0);
	assert_int_equal(hashmap_put(&m, &b), 0);
	assert_int_equal(hashmap_put(&m, &c), 0);
	assert_int_equal(m.n_slots, 16);
	assert_ptr_equal(m.slots[1], &a);
	assert_ptr_equal(m.slots[2], &b);
	assert_ptr_equal(m.slots[3], &c);

	/* an equal key is refused, and the first item stays */
	assert_int_equal(hashmap_put(&m, &a2), -EEXIST);
	assert_int_equal(hashmap_size(&m), 3);
	k = 1;
	assert_ptr_equal(hashmap_get(&m, &k), &a);

	/* removing the head of the run shifts the others back */
	assert_ptr_equal(hashmap_remove(&m, &k), &a);
	assert_ptr_equal(m.slots[1], &b);
	assert_ptr_equal(m.slots[2], &c);
	assert_null(m.slots[3]);
	assert_null(hashmap_get(&m, &k));
	assert_null(hashmap_remove(&m, &k));
	k = 17;
	assert_ptr_equal(hashmap_get(&m, &k), &c);
	assert_int_equal(hashmap_put(&m, &a2), 0);
	k = 1;
	assert_ptr_equal(hashmap_get(&m, &k), &a2);
	assert_int_equal(hashmap_size(&m), 3);
	hashmap_done(&m);
	assert_null(m.slots);
	assert_int_equal(m.n_slots, 0);
	assert_int_equal(hashmap_size(&m), 0);
}

/* An item whose home is further on stays put when a hole opens before it. */
static void test_shift_respects_home(void **state)
{
	struct item x1 = { .key = 1 }, x9 = { .key = 9 }, x2 = { .key = 2 }, x3 = { .key = 3 };
	struct hashmap m;
	uint64_t k;

	hashmap_init(&m, &ops_weak);
	/* slots: 1 -> x1, 2 -> x9 (home 1), 3 -> x2 (home 2), 4 -> x3 (home 3) */
	assert_int_equal(hashmap_put(&m, &x1), 0);
	assert_int_equal(hashmap_put(&m, &x9), 0);
	assert_int_equal(hashmap_put(&m, &x2), 0);
	assert_int_equal(hashmap_put(&m, &x3), 0);
	assert_ptr_equal(m.slots[3], &x2);
	assert_ptr_equal(m.slots[4], &x3);
	k = 9;
	assert_ptr_equal(hashmap_remove(&m, &k), &x9);
	/* x2 and x3 move back one step each, to their homes */
	assert_ptr_equal(m.slots[1], &x1);
	assert_ptr_equal(m.slots[2], &x2);
	assert_ptr_equal(m.slots[3], &x3);
	assert_null(m.slots[4]);
	k = 1;
	assert_ptr_equal(hashmap_remove(&m, &k), &x1);
	/* x2 and x3 are at home: nothing moves into slot 1 */
	assert_null(m.slots[1]);
	assert_ptr_equal(m.slots[2], &x2);
	assert_ptr_equal(m.slots[3], &x3);
	check_structure(&m);
	hashmap_done(&m);
}

/* Runs that wrap past the last slot shift back across it. */
static void test_shift_wraps(void **state)
{
	struct item it[6];
	struct hashmap m;

	hashmap_init(&m, &ops_wrap);
	/* keys 0, 5, 10 have home 15; 1, 6 have home 14; 2 has home 13 (16 slots) */
	static const uint64_t keys[] = { 0, 5, 10, 1, 6, 2 };
	for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
		it[i] = (struct item){ .key = keys[i] };
		assert_int_equal(hashmap_put(&m, &it[i]), 0);
	}
	assert_int_equal(m.n_slots, 16);
	assert_ptr_equal(m.slots[15], &it[0]);
	assert_ptr_equal(m.slots[0], &it[1]);
	assert_ptr_equal(m.slots[1], &it[2]);
	assert_ptr_equal(m.slots[14], &it[3]);
	assert_ptr_equal(m.slots[2], &it[4]);
	assert_ptr_equal(m.slots[13], &it[5]);

	uint64_t k = 0;
	assert_ptr_equal(hashmap_remove(&m, &k), &it[0]);
	assert_ptr_equal(m.slots[15], &it[1]);
	assert_ptr_equal(m.slots[0], &it[2]);
	assert_ptr_equal(m.slots[1], &it[4]);
	assert_null(m.slots[2]);
	check_structure(&m);
	k = 1;
	assert_ptr_equal(hashmap_remove(&m, &k), &it[3]);
	assert_ptr_equal(m.slots[14], &it[4]);
	assert_null(m.slots[1]);
	check_structure(&m);
	for (size_t i = 1; i < ELEMENTSOF(keys); i++) {
		if (i != 3) {
			assert_ptr_equal(hashmap_get(&m, &keys[i]), &it[i]);
		}
	}
	hashmap_done(&m);
}

static void test_growth(void **state)
{
	struct item *items = calloc(1000, sizeof(*items));
	struct hashmap m;

	assert_non_null(items);
	hashmap_init(&m, &ops_good);
	for (size_t i = 0; i < 1000; i++) {
		items[i].key = i;
		assert_int_equal(hashmap_put(&m, &items[i]), 0);
		/* grows at 70 % load, by doubling from 16 */
		size_t want = 16;
		while ((i + 1) * 10 > want * 7) {
			want *= 2;
		}
		assert_int_equal(m.n_slots, want);
	}
	assert_int_equal(m.n_slots, 2048);
	/* shrinks never */
	for (size_t i = 0; i < 1000; i++) {
		assert_ptr_equal(hashmap_remove(&m, &items[i].key), &items[i]);
	}
	assert_int_equal(m.n_slots, 2048);
	assert_int_equal(hashmap_size(&m), 0);
	hashmap_done(&m);
	free(items);
}

/* String keys, as the registry uses them. */
struct named {
	char name[32];
};

static const void *named_key(const void *item)
{
	return ((const struct named *)item)->name;
}

static bool str_eq(const void *a, const void *b)
{
	return streq(a, b);
}

static void test_string_keys(void **state)
{
	static const struct hashmap_ops ops = { named_key, hash_string, str_eq };
	struct named *n = calloc(2000, sizeof(*n));
	struct hashmap m;
	char probe[32];

	assert_non_null(n);
	hashmap_init(&m, &ops);
	for (size_t i = 0; i < 2000; i++) {
		snprintf(n[i].name, sizeof(n[i].name), "job-%zu.job", i);
		assert_int_equal(hashmap_put(&m, &n[i]), 0);
	}
	for (size_t i = 0; i < 2000; i++) {
		snprintf(probe, sizeof(probe), "job-%zu.job", i);
		assert_ptr_equal(hashmap_get(&m, probe), &n[i]);
	}
	assert_null(hashmap_get(&m, "job-2000.job"));
	assert_null(hashmap_get(&m, ""));
	for (size_t i = 0; i < 2000; i += 2) {
		snprintf(probe, sizeof(probe), "job-%zu.job", i);
		assert_ptr_equal(hashmap_remove(&m, probe), &n[i]);
	}
	for (size_t i = 0; i < 2000; i++) {
		snprintf(probe, sizeof(probe), "job-%zu.job", i);
		assert_ptr_equal(hashmap_get(&m, probe), i % 2 ? &n[i] : NULL);
	}
	assert_int_equal(hashmap_size(&m), 1000);
	check_structure(&m);
	hashmap_done(&m);
	free(n);
}

/* Reference values: FNV-1a 64 folded through the mixer (computed apart). */
static void test_hash_values(void **state)
{
	static const uint8_t bytes[] = { 0, 1, 2, 3 };

	assert_int_equal(hash_string(""), UINT64_C(0xecba3df2c3383c52));
	assert_int_equal(hash_string("a"), UINT64_C(0xed8170de1919a24d));
	assert_int_equal(hash_string("abc"), UINT64_C(0xf120aee01df30dab));
	assert_int_equal(hash_string("3c90c3cc-0d44-4b50-8888-8dd25736052a"),
			 UINT64_C(0xd2256e30332adb3f));
	assert_int_equal(hash_bytes("abc", 3, 0), hash_string("abc"));
	assert_int_equal(hash_bytes("abc", 3, 1), UINT64_C(0x426843a51f2d4d32));
	assert_int_equal(hash_bytes(bytes, 4, 42), UINT64_C(0x66b43ba1509af63b));
	assert_int_equal(hash_bytes("abc", 0, 0), hash_string(""));
}

/* Similar keys spread over the low bits (what the mask keeps). */
static void test_hash_spread(void **state)
{
	unsigned buckets[64] = { 0 };

	for (uint64_t i = 0; i < 64 * 256; i++) {
		buckets[u64_hash_good(&i) & 63]++;
	}
	for (size_t b = 0; b < 64; b++) {
		assert_in_range(buckets[b], 256 - 64, 256 + 64);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_basic),
		cmocka_unit_test(test_shift_respects_home),
		cmocka_unit_test(test_shift_wraps),
		cmocka_unit_test(test_growth),
		cmocka_unit_test(test_random_good_hash),
		cmocka_unit_test(test_random_weak_hash),
		cmocka_unit_test(test_random_wrapping_hash),
		cmocka_unit_test(test_random_constant_hash),
		cmocka_unit_test(test_random_small),
		cmocka_unit_test(test_string_keys),
		cmocka_unit_test(test_hash_values),
		cmocka_unit_test(test_hash_spread),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
