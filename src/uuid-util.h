/* SPDX-License-Identifier: MIT */
#pragma once

/* UUID text "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", hex digits in any case. Pure. */

#include <stdint.h>

#define UUID_STRING_MAX 37 /* 36 characters and the NUL */
/* 0 and the 16 bytes in ret, or -EINVAL. */
int uuid_from_string(const char *s, uint8_t ret[static 16]);
/* Writes the lower-case form into buf (UUID_STRING_MAX bytes); returns buf. */
char *uuid_to_string(const uint8_t id[static 16], char buf[static UUID_STRING_MAX]);
