/* SPDX-License-Identifier: MIT */
#include <stdint.h>
#include <stdlib.h>

#include "alloc-util.h"

bool grow_array(void **p, size_t *cap, size_t elem, size_t need)
{
	size_t n = *cap ? *cap : 16;
	void *q;

	if (need <= *cap) {
		return true;
	}
	while (n < need) {
		if (n > SIZE_MAX / 2) {
			return false;
		}
		n *= 2;
	}
	if (elem && n > SIZE_MAX / elem) {
		return false;
	}
	q = realloc(*p, n * elem);
	if (!q) {
		return false;
	}
	*p = q;
	*cap = n;
	return true;
}
