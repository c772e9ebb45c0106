/* SPDX-License-Identifier: MIT */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "backoff.h"

#define SEC USEC_PER_SEC

/* An injected RNG that returns a fixed value and counts its calls. */
struct fixed_rng {
	uint64_t value;
	unsigned calls;
};

static uint64_t fixed_rng_next(void *userdata)
{
	struct fixed_rng *f = userdata;
	f->calls++;
	return f->value;
}

static void test_base_doubling(void **state)
{
	const struct backoff_params p = {
		.initial_usec = 1 * SEC, .max_usec = 60 * SEC, .multiplier = 2.0, .jitter = 0.0
	};

	assert_int_equal(backoff_base_usec(&p, 0), 1 * SEC); /* 0 is treated as 1 */
	assert_int_equal(backoff_base_usec(&p, 1), 1 * SEC);
	assert_int_equal(backoff_base_usec(&p, 2), 2 * SEC);
	assert_int_equal(backoff_base_usec(&p, 3), 4 * SEC);
	assert_int_equal(backoff_base_usec(&p, 4), 8 * SEC);
	assert_int_equal(backoff_base_usec(&p, 5), 16 * SEC);
	assert_int_equal(backoff_base_usec(&p, 6), 32 * SEC);
	assert_int_equal(backoff_base_usec(&p, 7), 60 * SEC); /* 64 s capped */
	assert_int_equal(backoff_base_usec(&p, 8), 60 * SEC);
	assert_int_equal(backoff_base_usec(&p, 1000), 60 * SEC);
	assert_int_equal(backoff_base_usec(&p, UINT_MAX), 60 * SEC);
}

static void test_base_fractional_multiplier(void **state)
{
	const struct backoff_params p = {
		.initial_usec = 2 * SEC, .max_usec = 300 * SEC, .multiplier = 1.5, .jitter = 0.0
	};

	assert_int_equal(backoff_base_usec(&p, 1), 2000000);
	assert_int_equal(backoff_base_usec(&p, 2), 3000000);
	assert_int_equal(backoff_base_usec(&p, 3), 4500000);
	assert_int_equal(backoff_base_usec(&p, 4), 6750000);
	assert_int_equal(backoff_base_usec(&p, 5), 10125000);
	/* 2 s * 1.5^12 = 259.49267578125 s, truncated to whole microseconds */
	assert_int_equal(backoff_base_usec(&p, 13), 259492675);
	assert_int_equal(backoff_base_usec(&p, 14), 300 * SEC); /* 389.2 s capped */
	assert_int_equal(backoff_base_usec(&p, UINT_MAX), 300 * SEC);
}

/* The sequence never decreases and reaches the cap exactly. */
static void test_base_monotonic(void **state)
{
	const struct backoff_params p = { .initial_usec = 1500 * USEC_PER_MSEC,
					  .max_usec = 600 * SEC,
					  .multiplier = 1.3 };
	usec_t prev = 0;

	for (unsigned k = 1; k < 200; k++) {
		usec_t d = backoff_base_usec(&p, k);
		assert_true(d >= prev);
		assert_in_range(d, p.initial_usec, p.max_usec);
		prev = d;
	}
	assert_int_equal(prev, p.max_usec);
}

static void test_base_multiplier_one(void **state)
{
	const struct backoff_params p = {
		.initial_usec = 5 * SEC, .max_usec = 60 * SEC, .multiplier = 1.0, .jitter = 0.0
	};

	assert_int_equal(backoff_base_usec(&p, 1), 5 * SEC);
	assert_int_equal(backoff_base_usec(&p, 1000), 5 * SEC);
	/* k is the job's lifetime poll count: the answer must not cost k steps. */
	assert_int_equal(backoff_base_usec(&p, UINT_MAX), 5 * SEC);
}

static void test_base_initial_equals_max(void **state)
{
	const struct backoff_params p = {
		.initial_usec = 30 * SEC, .max_usec = 30 * SEC, .multiplier = 3.0, .jitter = 0.0
	};

	assert_int_equal(backoff_base_usec(&p, 1), 30 * SEC);
	assert_int_equal(backoff_base_usec(&p, 2), 30 * SEC);
	assert_int_equal(backoff_base_usec(&p, UINT_MAX), 30 * SEC);
}

/* A huge multiplier reaches the cap instead of overflowing. */
static void test_base_huge_multiplier(void **state)
{
	const struct backoff_params p = { .initial_usec = 1,
					  .max_usec = USEC_INFINITY - 1,
					  .multiplier = 100.0 };

	assert_int_equal(backoff_base_usec(&p, 1), 1);
	assert_int_equal(backoff_base_usec(&p, 2), 100);
	assert_int_equal(backoff_base_usec(&p, 5), 100000000);
	assert_int_equal(backoff_base_usec(&p, 10), UINT64_C(1000000000000000000));
	assert_int_equal(backoff_base_usec(&p, 11), USEC_INFINITY - 1); /* 1e20 > 2^64 */
	assert_int_equal(backoff_base_usec(&p, UINT_MAX), USEC_INFINITY - 1);
}

static void test_jitter_exact(void **state)
{
	const uint64_t half = UINT64_C(1) << 63;

	/* jitter 0 and d 0 leave the value alone, whatever r is */
	assert_int_equal(backoff_jitter_usec(1000000, 0.0, 0), 1000000);
	assert_int_equal(backoff_jitter_usec(1000000, 0.0, UINT64_MAX), 1000000);
	assert_int_equal(backoff_jitter_usec(0, 0.5, 0), 0);
	assert_int_equal(backoff_jitter_usec(0, 0.5, UINT64_MAX), 0);

	/* r maps linearly onto [d(1-j), d(1+j)] */
	assert_int_equal(backoff_jitter_usec(1000000, 0.2, 0), 800000);
	assert_int_equal(backoff_jitter_usec(1000000, 0.2, half >> 1), 900000);
	assert_int_equal(backoff_jitter_usec(1000000, 0.2, half), 1000000);
	assert_int_equal(backoff_jitter_usec(1000000, 0.2, half | (half >> 1)), 1100000);
	assert_int_equal(backoff_jitter_usec(1000000, 0.2, UINT64_MAX), 1200000);
	assert_int_equal(backoff_jitter_usec(1000000, 0.5, 0), 500000);
	/* only the top 53 bits matter */
	assert_int_equal(backoff_jitter_usec(1000000, 0.2, half | 0x7ff), 1000000);
	assert_int_equal(backoff_jitter_usec(60 * SEC, 0.1, UINT64_C(0x99ec5f36cb75f2b4)),
			 61215155);
}

static void test_jitter_overflow(void **state)
{
	/* d(1+j) beyond 2^64 saturates just below infinity */
	assert_int_equal(backoff_jitter_usec(UINT64_MAX, 0.5, UINT64_MAX), USEC_INFINITY - 1);
	assert_int_equal(backoff_jitter_usec(UINT64_MAX - 1, 0.9, UINT64_MAX), USEC_INFINITY - 1);
	assert_int_equal(backoff_jitter_usec(UINT64_MAX / 2, 0.5, UINT64_MAX),
			 UINT64_C(13835058055282163712));
	assert_int_equal(backoff_jitter_usec(UINT64_C(1) << 62, 0.5, 0), UINT64_C(1) << 61);
}

/* Over many draws, the spread fills the whole band and stays inside it. */
static void test_jitter_distribution(void **state)
{
	const usec_t d = 10 * SEC;
	const double j = 0.25;
	struct backoff_rng rng;
	usec_t lo = USEC_INFINITY, hi = 0;
	double sum = 0;
	const unsigned n = 20000;
	unsigned below = 0;

	backoff_rng_seed(&rng, 12345);
	for (unsigned i = 0; i < n; i++) {
		usec_t v = backoff_jitter_usec(d, j, backoff_rng_next(&rng));
		assert_in_range(v, 7500000, 12500000);
		lo = MIN(lo, v);
		hi = MAX(hi, v);
		sum += (double)v;
		below += v < d;
	}
	assert_in_range(lo, 7500000, 7510000);
	assert_in_range(hi, 12490000, 12500000);
	assert_in_range((uint64_t)(sum / n), 9950000, 10050000);
	assert_in_range(below, n / 2 - n / 50, n / 2 + n / 50);
}

static void test_gap(void **state)
{
	const struct backoff_params p = {
		.initial_usec = 2 * SEC, .max_usec = 60 * SEC, .multiplier = 2.0, .jitter = 0.2
	};
	struct fixed_rng f = { .value = 0 };

	/* exactly one draw per gap, passed the userdata */
	assert_int_equal(backoff_gap_usec(&p, 1, fixed_rng_next, &f), 1600000);
	assert_int_equal(f.calls, 1);
	assert_int_equal(backoff_gap_usec(&p, 3, fixed_rng_next, &f), 6400000);
	assert_int_equal(f.calls, 2);
	f.value = UINT64_MAX;
	assert_int_equal(backoff_gap_usec(&p, 3, fixed_rng_next, &f), 9600000);
	assert_int_equal(backoff_gap_usec(&p, 100, fixed_rng_next, &f), 72 * SEC);
	f.value = UINT64_C(1) << 63;
	assert_int_equal(backoff_gap_usec(&p, 100, fixed_rng_next, &f), 60 * SEC);
	assert_int_equal(f.calls, 5);

	/* no rng: the middle of the band */
	assert_int_equal(backoff_gap_usec(&p, 0, NULL, NULL), 2 * SEC);
	assert_int_equal(backoff_gap_usec(&p, 2, NULL, NULL), 4 * SEC);
	assert_int_equal(backoff_gap_usec(&p, 50, NULL, NULL), 60 * SEC);
}

static void test_gap_no_jitter(void **state)
{
	const struct backoff_params p = {
		.initial_usec = 1 * SEC, .max_usec = 10 * SEC, .multiplier = 3.0, .jitter = 0.0
	};
	struct fixed_rng f = { .value = 0 };

	assert_int_equal(backoff_gap_usec(&p, 1, fixed_rng_next, &f), 1 * SEC);
	assert_int_equal(backoff_gap_usec(&p, 2, fixed_rng_next, &f), 3 * SEC);
	assert_int_equal(backoff_gap_usec(&p, 3, fixed_rng_next, &f), 9 * SEC);
	assert_int_equal(backoff_gap_usec(&p, 4, fixed_rng_next, &f), 10 * SEC);
}

static void test_retry_after(void **state)
{
	assert_int_equal(backoff_retry_after_usec(0), 0);
	assert_int_equal(backoff_retry_after_usec(1), 1 * SEC);
	assert_int_equal(backoff_retry_after_usec(120), 120 * SEC);
	assert_int_equal(backoff_retry_after_usec(3599), 3599 * SEC);
	assert_int_equal(backoff_retry_after_usec(3600), USEC_PER_HOUR);
	assert_int_equal(backoff_retry_after_usec(3601), USEC_PER_HOUR);
	assert_int_equal(backoff_retry_after_usec(86400 * 365), USEC_PER_HOUR);
	/* seconds * 10^6 would wrap: still an hour */
	assert_int_equal(backoff_retry_after_usec(UINT64_MAX / 1000000 + 1), USEC_PER_HOUR);
	assert_int_equal(backoff_retry_after_usec(UINT64_MAX), USEC_PER_HOUR);
	assert_int_equal(BACKOFF_RETRY_AFTER_MAX_USEC, UINT64_C(3600000000));
}

/* Reference values from an independent implementation of splitmix64 and
 * xoshiro256** (Python, from the authors' C code). */
static void test_rng_vectors(void **state)
{
	static const struct {
		uint64_t seed;
		uint64_t s[4];
		uint64_t out[5];
	} vectors[] = {
		{ 0,
		  { 0xe220a8397b1dcdaf, 0x6e789e6aa1b965f4, 0x06c45d188009454f,
		    0xf88bb8a8724c81ec },
		  { 0x99ec5f36cb75f2b4, 0xbf6e1f784956452a, 0x1a5f849d4933e6e0, 0x6aa594f1262d2d2c,
		    0xbba5ad4a1f842e59 } },
		{ 42,
		  { 0xbdd732262feb6e95, 0x28efe333b266f103, 0x47526757130f9f52,
		    0x581ce1ff0e4ae394 },
		  { 0x15780b2e0c2ec716, 0x6104d9866d113a7e, 0xae17533239e499a1, 0xecb8ad4703b360a1,
		    0xfde6dc7fe2ec5e64 } },
		{ 0xdeadbeefcafebabe,
		  { 0x0d7d93560d1929d2, 0x491dfb740e50d43f, 0x42722bf4473e5e7d,
		    0xd6ca8a0790fffc45 },
		  { 0x2299b3421aa78b66, 0x9af6550483e02887, 0xda059cb5eec5c979, 0xcf86bd29360fff98,
		    0x5cc883c940089820 } },
	};

	for (size_t v = 0; v < ELEMENTSOF(vectors); v++) {
		struct backoff_rng r;

		backoff_rng_seed(&r, vectors[v].seed);
		for (size_t i = 0; i < 4; i++) {
			assert_int_equal(r.s[i], vectors[v].s[i]);
		}
		for (size_t i = 0; i < 5; i++) {
			assert_int_equal(backoff_rng_next(&r), vectors[v].out[i]);
		}
	}
}

/* The published xoshiro256** sequence from the state {1, 2, 3, 4}. */
static void test_rng_reference_state(void **state)
{
	static const uint64_t expect[] = {
		11520,
		0,
		1509978240,
		UINT64_C(1215971899390074240),
		UINT64_C(0x10e0b61ce1009d80),
		UINT64_C(0x0870021ce143ad00),
	};
	struct backoff_rng r = { .s = { 1, 2, 3, 4 } };

	for (size_t i = 0; i < ELEMENTSOF(expect); i++) {
		assert_int_equal(backoff_rng_next(&r), expect[i]);
	}
}

static void test_rng_seeds(void **state)
{
	struct backoff_rng a, b, c;

	backoff_rng_seed(&a, 7);
	backoff_rng_seed(&b, 7);
	backoff_rng_seed(&c, 8);
	for (unsigned i = 0; i < 1000; i++) {
		uint64_t x = backoff_rng_next(&a);
		assert_int_equal(x, backoff_rng_next(&b));
		assert_int_not_equal(x, backoff_rng_next(&c));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_base_doubling),
		cmocka_unit_test(test_base_fractional_multiplier),
		cmocka_unit_test(test_base_monotonic),
		cmocka_unit_test(test_base_multiplier_one),
		cmocka_unit_test(test_base_initial_equals_max),
		cmocka_unit_test(test_base_huge_multiplier),
		cmocka_unit_test(test_jitter_exact),
		cmocka_unit_test(test_jitter_overflow),
		cmocka_unit_test(test_jitter_distribution),
		cmocka_unit_test(test_gap),
		cmocka_unit_test(test_gap_no_jitter),
		cmocka_unit_test(test_retry_after),
		cmocka_unit_test(test_rng_vectors),
		cmocka_unit_test(test_rng_reference_state),
		cmocka_unit_test(test_rng_seeds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
