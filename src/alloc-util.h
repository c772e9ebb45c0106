/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* Make room for at least need elements of size elem in *p (capacity *cap,
 * in elements), doubling: amortised O(1) appends. Returns false on overflow
 * or out of memory, leaving *p and *cap as they were. */
bool grow_array(void **p, size_t *cap, size_t elem, size_t need);
