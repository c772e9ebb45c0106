/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <string.h>

#include "string-util.h"
#include "uuid-util.h"

int uuid_from_string(const char *s, uint8_t ret[static 16])
{
	uint8_t id[16];
	size_t j = 0;

	if (!s || strlen(s) != 36) {
		return -EINVAL;
	}

	for (size_t i = 0; i < 36;) {
		int a, b;

		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-') {
				return -EINVAL;
			}
			i++;
			continue;
		}
		a = unhexchar(s[i]);
		b = unhexchar(s[i + 1]);
		if (a < 0 || b < 0) {
			return -EINVAL;
		}
		id[j++] = (uint8_t)(a << 4 | b);
		i += 2;
	}

	memcpy(ret, id, sizeof(id));
	return 0;
}

char *uuid_to_string(const uint8_t id[static 16], char buf[static UUID_STRING_MAX])
{
	static const char hex[] = "0123456789abcdef";
	char *p = buf;

	for (size_t i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10) {
			*p++ = '-';
		}
		*p++ = hex[id[i] >> 4];
		*p++ = hex[id[i] & 15];
	}
	*p = '\0';
	return buf;
}
