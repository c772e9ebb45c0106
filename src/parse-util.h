/* SPDX-License-Identifier: MIT */
#pragma once

/* Strict numbers: the whole string must be consumed, no sign for unsigned,
 * no leading/trailing space. -EINVAL on syntax, -ERANGE on overflow. Pure. */

#include <stdint.h>

int safe_atou(const char *s, unsigned *ret);
int safe_atou64(const char *s, uint64_t *ret);
int safe_atod(const char *s, double *ret);
