/* SPDX-License-Identifier: MIT */
/* jobwatchd --check: the configuration, its keys and every job file, each
 * problem printed as FILE:LINE: message. */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "config-load.h"
#include "escape.h"
#include "jobfile.h"
#include "jobsdir.h"
#include "memory-util.h"
#include "paths.h"
#include "string-util.h"

struct check_ctx {
	const struct config *config;
	const char *dir;
	int dir_fd;
	unsigned errors, warnings, jobs;
};

static void check_one(void *userdata, const char *name)
{
	struct check_ctx *c = userdata;
	_cleanup_(freep) char *path = strjoin(c->dir, "/", name);
	struct diag_list diags = { 0 };
	struct jobfile jf = { 0 };

	if (!path) {
		c->errors++;
		return;
	}
	c->jobs++;
	int r = jobfile_load(c->dir_fd, name, path, &jf, &diags);
	if (r >= 0) {
		(void)jobfile_check_refs(path, &jf, c->config, &diags);
	}
	diag_list_print(&diags, stdout, "", true, &c->errors, &c->warnings);
	jobfile_done(&jf);
	diag_list_done(&diags);
}

int check_run(const struct daemon_options *o)
{
	const char *path = paths_config_file(o->config_path);
	struct diag_list diags = { 0 };
	_cleanup_(config_freep) struct config *c = NULL;
	struct check_ctx ctx = { .dir_fd = -1 };
	int r;

	r = config_load_arg(o->config_path, &c, &diags);
	if (r < 0 && !c) {
		diag_list_print(&diags, stdout, "", true, &ctx.errors, &ctx.warnings);
		char p[PATH_MAX];
		printf("%s: cannot be loaded\n", escape_text_buf(p, sizeof(p), path, strlen(path)));
		diag_list_done(&diags);
		return 1;
	}
	/* the keys must be readable: read and forget them */
	const char *creds = getenv("CREDENTIALS_DIRECTORY");
	for (size_t i = 0; c && !diag_has_errors(&diags) && i < c->n_endpoints; i++) {
		const struct endpoint_config *e = &c->endpoints[i];
		char *key = NULL;
		if (e->api_key_credential && isempty(creds)) {
			/* run from a shell: the service manager provides the credential */
			diag_add(
				&diags, DIAG_WARNING, e->key_file ? e->key_file : e->file,
				e->key_line,
				"APIKeyCredential=%s cannot be checked outside the service ($CREDENTIALS_DIRECTORY is not set); check the file named by LoadCredential=%s: in the unit.",
				e->api_key_credential, e->api_key_credential);
			continue;
		}
		if (config_read_api_key(e, creds, &key, &diags) >= 0) {
			erase_and_free(key);
		}
	}
	diag_list_print(&diags, stdout, "", true, &ctx.errors, &ctx.warnings);
	diag_list_done(&diags);

	assert(c); /* config_load_arg() gives one unless it cannot read the files */
	ctx.config = c;
	ctx.dir = o->jobs_dir ? o->jobs_dir : c->jobs_dir;
	ctx.dir_fd = open(ctx.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (ctx.dir_fd < 0) {
		char dir[PATH_MAX];
		printf("%s: cannot open the jobs directory: %s\n",
		       escape_text_buf(dir, sizeof(dir), ctx.dir, strlen(ctx.dir)),
		       strerror(errno));
		ctx.errors++;
	} else {
		jobsdir_check_access(ctx.dir_fd, ctx.dir, &diags);
		diag_list_print(&diags, stdout, "", true, &ctx.errors, &ctx.warnings);
		diag_list_done(&diags);
		r = jobsdir_scan_fd(ctx.dir_fd, ctx.dir, check_one, &ctx, JOBSDIR_PREFETCH_AUTO,
				    NULL);
		if (r < 0) {
			char dir[PATH_MAX];
			printf("%s: cannot read the jobs directory: %s\n",
			       escape_text_buf(dir, sizeof(dir), ctx.dir, strlen(ctx.dir)),
			       strerror(-r));
			ctx.errors++;
		}
		close(ctx.dir_fd);
	}
	if (ctx.errors == 0) {
		printf("Configuration OK: %u job file%s checked, %u warning%s.\n", ctx.jobs,
		       ctx.jobs == 1 ? "" : "s", ctx.warnings, ctx.warnings == 1 ? "" : "s");
	} else {
		printf("%u error%s, %u warning%s.\n", ctx.errors, ctx.errors == 1 ? "" : "s",
		       ctx.warnings, ctx.warnings == 1 ? "" : "s");
	}
	return ctx.errors == 0 ? 0 : 1;
}
