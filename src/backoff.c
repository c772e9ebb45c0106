/* SPDX-License-Identifier: MIT */
#include <math.h>

#include "backoff.h"

usec_t backoff_base_usec(const struct backoff_params *p, unsigned k)
{
	if (k == 0) {
		k = 1;
	}
	/* k counts every poll of the job's life, so this must not cost k steps:
	 * compare exponents instead of multiplying. */
	if (p->multiplier <= 1.0 || p->initial_usec >= p->max_usec) {
		return MIN(p->initial_usec, p->max_usec);
	}
	double steps = (double)(k - 1);
	double to_cap = log((double)p->max_usec / (double)p->initial_usec) / log(p->multiplier);
	if (steps >= to_cap) {
		return p->max_usec;
	}
	double d = (double)p->initial_usec * pow(p->multiplier, steps);
	if (d >= (double)p->max_usec) {
		return p->max_usec;
	}
	return (usec_t)d;
}

usec_t backoff_jitter_usec(usec_t d, double jitter, uint64_t r)
{
	if (jitter <= 0.0 || d == 0) {
		return d;
	}
	/* 53 random bits give a uniform double in [0, 1). */
	double u = (double)(r >> 11) * (1.0 / 9007199254740992.0);
	double f = 1.0 - jitter + 2.0 * jitter * u;
	double v = (double)d * f;
	if (v >= 18446744073709549568.0) { /* largest double below 2^64 */
		return USEC_INFINITY - 1;
	}
	return (usec_t)v;
}

usec_t backoff_gap_usec(const struct backoff_params *p, unsigned k, backoff_rng_fn rng,
			void *userdata)
{
	usec_t d = backoff_base_usec(p, k);
	uint64_t r = rng ? rng(userdata) : (UINT64_C(1) << 63);
	return backoff_jitter_usec(d, p->jitter, r);
}

usec_t backoff_retry_after_usec(uint64_t seconds)
{
	if (seconds >= BACKOFF_RETRY_AFTER_MAX_USEC / USEC_PER_SEC) {
		return BACKOFF_RETRY_AFTER_MAX_USEC;
	}
	return seconds * USEC_PER_SEC;
}

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += UINT64_C(0x9e3779b97f4a7c15));
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

void backoff_rng_seed(struct backoff_rng *r, uint64_t seed)
{
	for (size_t i = 0; i < ELEMENTSOF(r->s); i++) {
		r->s[i] = splitmix64(&seed);
	}
}

static inline uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t backoff_rng_next(void *userdata)
{
	struct backoff_rng *r = userdata;
	uint64_t *s = r->s;
	uint64_t result = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}
