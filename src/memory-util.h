/* SPDX-License-Identifier: MIT */
#pragma once

/* The one way to wipe a secret (an API key, a header holding one) so that it
 * cannot linger in freed memory. */

#include <stddef.h>

/* Overwrite len bytes at p in a way the compiler cannot drop. p may be NULL. */
void erase_secret(void *p, size_t len);

/* erase_secret() the string s (strlen bytes), then free it. NULL is fine. */
void erase_and_free(char *s);
static inline void erase_and_freep(char **s)
{
	erase_and_free(*s);
}
