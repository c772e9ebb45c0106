/* SPDX-License-Identifier: MIT */
/*
 * Loading jobwatch.conf: the main file, then its drop-ins in lexical order,
 * then the cross-field checks (config_load()); and the one way jobwatchd and
 * jobwatchctl name the file (config_load_arg()). The schema, its table and
 * the checks are in config.c.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "config-load.h"
#include "ini.h"
#include "memory-util.h"
#include "paths.h"
#include "string-util.h"
#include "strv.h"

int config_load_arg(const char *arg_config, struct config **ret, struct diag_list *diags)
{
	int r;

	*ret = NULL;
	r = config_load(paths_config_file(arg_config), arg_config != NULL, ret, diags);
	if (r >= 0 && diag_has_errors(diags)) {
		return -EINVAL;
	}
	return r;
}

static int load_file(struct config *c, const char *path, bool missing_ok, struct diag_list *diags)
{
	_cleanup_(freep) char *buf = NULL;
	size_t len;
	int r;

	r = ini_read_file(AT_FDCWD, path, path, false, missing_ok, &buf, &len, diags);
	if (r == -ENOMEM) {
		return r;
	}
	if (r < 0) {
		return 0; /* reported, or missing and that is fine */
	}
	return config_parse_buffer(c, path, buf, len, diags);
}

static int strv_append(char ***l, size_t *n, size_t *allocated, const char *s)
{
	char *copy = strdup(s);
	int r;

	if (!copy) {
		return -ENOMEM;
	}
	r = strv_push(l, n, allocated, copy);
	if (r < 0) {
		free(copy);
	}
	return r;
}

static int cmp_strings(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool is_dropin_name(const char *name)
{
	size_t n = strlen(name);

	return name[0] != '.' && n > 5 && streq(name + n - 5, ".conf");
}

/* The drop-in file names in dir, sorted with strcmp(); none if dir is missing. */
static int list_dropins(const char *dir, char ***ret, struct diag_list *diags)
{
	_cleanup_(strv_freep) char **names = NULL;
	DIR *d;
	struct dirent *de;
	size_t n = 0, allocated = 0;
	int r = 0;

	*ret = NULL;
	d = opendir(dir);
	if (!d) {
		r = -errno;
		if (r == -ENOENT) {
			return 0;
		}
		if (r == -ENOMEM) {
			return r;
		}
		diag_add(diags, DIAG_ERROR, dir, 0, "Cannot open drop-in directory: %s",
			 strerror(-r));
		return 0;
	}

	for (;;) {
		errno = 0;
		de = readdir(d);
		if (!de) {
			if (errno != 0) {
				diag_add(diags, DIAG_ERROR, dir, 0,
					 "Cannot read drop-in directory: %s", strerror(errno));
			}
			break;
		}
		if (!is_dropin_name(de->d_name)) {
			continue;
		}
		r = strv_append(&names, &n, &allocated, de->d_name);
		if (r < 0) {
			break;
		}
	}
	closedir(d);
	if (r < 0) {
		return r;
	}

	if (n > 0) {
		qsort(names, n, sizeof(char *), cmp_strings);
	}
	*ret = TAKE_PTR(names);
	return 0;
}

static int load_dropins(struct config *c, const char *path, struct diag_list *diags)
{
	_cleanup_(strv_freep) char **names = NULL;
	_cleanup_(freep) char *dir = NULL;
	int r;

	dir = strjoin(path, ".d");
	if (!dir) {
		return -ENOMEM;
	}
	r = list_dropins(dir, &names, diags);
	if (r < 0) {
		return r;
	}

	for (char **name = names; name && *name; name++) {
		_cleanup_(freep) char *p = strjoin(dir, "/", *name);

		if (!p) {
			return -ENOMEM;
		}
		/* A drop-in removed since the listing is no longer there to read. */
		r = load_file(c, p, true, diags);
		if (r < 0) {
			return r;
		}
	}
	return 0;
}

int config_load(const char *path, bool required, struct config **ret, struct diag_list *diags)
{
	_cleanup_(config_freep) struct config *c = NULL;
	int r;

	*ret = NULL;
	c = config_new();
	if (!c) {
		return -ENOMEM;
	}

	if (required) {
		/* A named file that cannot be read is the whole story: no drop-ins,
		 * no checks that would only add noise to the one reason. */
		_cleanup_(freep) char *buf = NULL;
		size_t len;
		r = ini_read_file(AT_FDCWD, path, path, false, false, &buf, &len, diags);
		if (r < 0) {
			return r;
		}
		r = config_parse_buffer(c, path, buf, len, diags);
	} else {
		r = load_file(c, path, true, diags);
	}
	if (r < 0) {
		return r;
	}
	r = load_dropins(c, path, diags);
	if (r < 0) {
		return r;
	}
	r = config_verify(c, diags);
	if (r < 0) {
		return r;
	}

	*ret = TAKE_PTR(c);
	return 0;
}
