/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Pure delay math: the gap before the next poll of a job, with jitter, and
 * Retry-After handling. The random source is injected so tests can pin it.
 */

#include <stdint.h>

#include "macro.h"

/* Retry-After values above this are capped (CONTRACT: an hour). */
#define BACKOFF_RETRY_AFTER_MAX_USEC USEC_PER_HOUR

/* Returns 64 uniformly distributed random bits. */
typedef uint64_t (*backoff_rng_fn)(void *userdata);

struct backoff_params {
	usec_t initial_usec; /* InitialInterval=, > 0 */
	usec_t max_usec; /* MaxInterval=, >= initial */
	double multiplier; /* Multiplier=, >= 1 */
	double jitter; /* Jitter=, 0 <= jitter < 1 */
};

/*
 * The k-th gap between poll starts (k >= 1: the gap after the k-th poll):
 * d = min(initial * multiplier^(k-1), max), then drawn uniformly from
 * [d*(1-jitter), d*(1+jitter)] using one value of rng. k = 0 is treated as 1.
 */
usec_t backoff_gap_usec(const struct backoff_params *p, unsigned k, backoff_rng_fn rng,
			void *userdata);

/* Undithered d for the k-th gap (exposed for tests and messages). */
usec_t backoff_base_usec(const struct backoff_params *p, unsigned k);

/* Spread d by jitter using the random value r: [d*(1-j), d*(1+j)]. */
usec_t backoff_jitter_usec(usec_t d, double jitter, uint64_t r);

/* Clamp a Retry-After (in seconds, as the server sent it) to at most an hour. */
usec_t backoff_retry_after_usec(uint64_t seconds);

/* A small fast PRNG (xoshiro256**) for the daemon; not for secrets. */
struct backoff_rng {
	uint64_t s[4];
};
void backoff_rng_seed(struct backoff_rng *r, uint64_t seed);
/* backoff_rng_fn-compatible: userdata is a struct backoff_rng *. */
uint64_t backoff_rng_next(void *userdata);
