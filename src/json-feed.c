/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <yajl/yajl_parse.h>

#include "json-feed.h"

static int fail(yajl_handle h, bool *failed, char *error, size_t error_size,
		const unsigned char *buf, size_t len)
{
	*failed = true;
	if (error[0]) {
		return -EBADMSG;
	}
	unsigned char *e = yajl_get_error(h, 0, buf, len);

	snprintf(error, error_size, "%s", e ? (const char *)e : "parse error");
	/* yajl's messages end in a newline; keep ours on one line */
	error[strcspn(error, "\r\n")] = '\0';
	if (e) {
		yajl_free_error(h, e);
	}
	return -EBADMSG;
}

int json_feed(void *handle, bool *failed, char *error, size_t error_size, const void *buf,
	      size_t len)
{
	if (*failed) {
		return -EBADMSG;
	}
	if (!handle) {
		return -EINVAL;
	}
	if (yajl_parse(handle, buf, len) != yajl_status_ok) {
		return fail(handle, failed, error, error_size, buf, len);
	}
	return 0;
}

int json_complete(void *handle, bool *failed, char *error, size_t error_size)
{
	if (*failed) {
		return -EBADMSG;
	}
	if (!handle) {
		return -EINVAL;
	}
	if (yajl_complete_parse(handle) != yajl_status_ok) {
		return fail(handle, failed, error, error_size, NULL, 0);
	}
	return 0;
}
