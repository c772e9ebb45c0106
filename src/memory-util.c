/* SPDX-License-Identifier: MIT */
#include <stdlib.h>
#include <string.h>

#include "memory-util.h"

void erase_secret(void *p, size_t len)
{
	if (p) {
		explicit_bzero(p, len);
	}
}

void erase_and_free(char *s)
{
	if (!s) {
		return;
	}
	erase_secret(s, strlen(s));
	free(s);
}
