/* SPDX-License-Identifier: MIT */
/*
 * An endpoint's settings as the daemon and jobwatchctl use them once loaded:
 * lookup by name, the proxy to use, and reading its API key (with the checks
 * on the key file). Declared in config.h; the [Endpoint] keys themselves are
 * parsed by the table in config.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "fileio.h"
#include "memory-util.h"
#include "string-util.h"

const struct endpoint_config *config_find_endpoint(const struct config *c, const char *name)
{
	if (!c) {
		return NULL;
	}
	if (!name) {
		name = ENDPOINT_DEFAULT_NAME;
	}
	for (size_t i = 0; i < c->n_endpoints; i++) {
		if (streq(c->endpoints[i].name, name)) {
			return &c->endpoints[i];
		}
	}
	return NULL;
}

const struct kind_def *config_find_kind(const struct config *c, const char *name)
{
	if (!c || !name) {
		return NULL;
	}
	for (size_t i = 0; i < c->n_kinds; i++) {
		if (streq(c->kinds[i]->name, name)) {
			return c->kinds[i];
		}
	}
	return NULL;
}

const char *config_endpoint_proxy(const struct endpoint_config *e)
{
	if (e->proxy) {
		return e->proxy;
	}
	return e->proxy_from_env ? NULL : "";
}

/* Problems with the key are reported where its source was set. */
static const char *key_where_file(const struct endpoint_config *e)
{
	return e->key_file ? e->key_file : e->file;
}

static unsigned key_where_line(const struct endpoint_config *e)
{
	return e->key_file ? e->key_line : e->line;
}

static bool key_is_printable(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch <= ' ' || ch >= 0x7f) {
			return false;
		}
	}
	return true;
}

/* A key file others can read (or write) is a key others have: say so. */
static void check_key_file_mode(const struct endpoint_config *e, const char *path,
				struct diag_list *diags)
{
	struct stat st;

	if (stat(path, &st) < 0 || !(st.st_mode & (S_IRGRP | S_IWGRP | S_IROTH | S_IWOTH))) {
		return;
	}
	diag_add(
		diags, DIAG_WARNING, key_where_file(e), key_where_line(e),
		"API key file '%s' is readable or writable by users other than its owner (mode %04o), expected mode 0600 or 0400 (chmod go= '%s')",
		path, (unsigned)(st.st_mode & 07777), path);
}

/* Long (about 80 lines): each way a key can be unusable (no source, no
 * $CREDENTIALS_DIRECTORY, too large, not a file, unreadable, empty, not
 * printable) gets its own message at the key's FILE:LINE, and every copy of
 * the key that fails is wiped where it was read. */
int config_read_api_key(const struct endpoint_config *e, const char *credentials_dir, char **ret,
			struct diag_list *diags)
{
	_cleanup_(freep) char *cred_path = NULL;
	const char *path;
	char *buf = NULL;
	size_t len = 0, keylen;
	int r;

	if (e->api_key_file) {
		path = e->api_key_file;
	} else if (e->api_key_credential) {
		if (isempty(credentials_dir)) {
			diag_add(
				diags, DIAG_ERROR, key_where_file(e), key_where_line(e),
				"APIKeyCredential=%s needs $CREDENTIALS_DIRECTORY, which is not set (use LoadCredential= in the service unit)",
				e->api_key_credential);
			return -ENXIO;
		}
		cred_path = strjoin(credentials_dir, "/", e->api_key_credential);
		if (!cred_path) {
			return -ENOMEM;
		}
		path = cred_path;
	} else {
		diag_add(diags, DIAG_ERROR, e->file, e->line,
			 "Endpoint '%s' has no API key, expected APIKeyFile= or APIKeyCredential=",
			 e->name);
		return -EINVAL;
	}

	r = read_file_capped(AT_FDCWD, path, API_KEY_MAX, false, &buf, &len);
	if (r == -ENOMEM) {
		return r;
	}
	if (r == -EFBIG) {
		diag_add(diags, DIAG_ERROR, key_where_file(e), key_where_line(e),
			 "API key file '%s' is too large, expected at most %d bytes", path,
			 API_KEY_MAX);
		return r;
	}
	if (r == -EBADFD) {
		diag_add(diags, DIAG_ERROR, key_where_file(e), key_where_line(e),
			 "API key file '%s' is not a regular file", path);
		return r;
	}
	if (r < 0) {
		diag_add(diags, DIAG_ERROR, key_where_file(e), key_where_line(e),
			 "Cannot read API key file '%s': %s", path, strerror(-r));
		return r;
	}

	/* One trailing newline is the file's, not the key's. */
	keylen = len;
	if (keylen > 0 && buf[keylen - 1] == '\n') {
		keylen--;
		if (keylen > 0 && buf[keylen - 1] == '\r') {
			keylen--;
		}
	}
	if (keylen == 0) {
		diag_add(diags, DIAG_ERROR, key_where_file(e), key_where_line(e),
			 "API key file '%s' is empty", path);
		erase_secret(buf, len); /* its length, not strlen(): it may hold a NUL */
		free(buf);
		return -EINVAL;
	}
	if (!key_is_printable(buf, keylen)) {
		diag_add(
			diags, DIAG_ERROR, key_where_file(e), key_where_line(e),
			"API key file '%s' contains control characters, blanks or non-ASCII bytes, expected printable ASCII",
			path);
		erase_secret(buf, len); /* its length, not strlen(): it may hold a NUL */
		free(buf);
		return -EINVAL;
	}

	check_key_file_mode(e, path, diags);
	buf[keylen] = '\0';
	*ret = buf;
	return 0;
}
