/* SPDX-License-Identifier: MIT */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "escape.h"
#include "kind.h"
#include "string-util.h"
#include "test-helpers.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What the parser promises about any config it accepted. */
static void check_config(const struct config *c)
{
	CHECK(c->jobs_dir && c->jobs_dir[0] == '/');
	CHECK(c->max_jobs >= 1);
	CHECK(c->initial_interval_usec > 0);
	CHECK(c->multiplier >= 1.0 && c->multiplier <= 100.0);
	CHECK(c->jitter >= 0.0 && c->jitter < 1.0);
	CHECK(c->request_timeout_usec >= 1000);
	CHECK(c->hook_max_parallel >= 1 && c->hook_max_parallel <= 1024);
	CHECK(!c->hook_exec || c->hook_exec[0] != '\0');

	for (size_t i = 0; i < c->n_endpoints; i++) {
		const struct endpoint_config *e = &c->endpoints[i];
		size_t n;

		CHECK(name_is_valid(e->name));
		CHECK(config_find_endpoint(c, e->name) == e);
		CHECK(e->max_concurrent >= 1 && e->max_concurrent <= 10000);
		CHECK(http_version_to_string(e->http_version));
		CHECK(!e->api_key_file || e->api_key_file[0] == '/');
		CHECK(!e->api_key_credential || name_is_valid(e->api_key_credential));
		if (e->base_url) {
			n = strlen(e->base_url);
			CHECK(n > 0 && e->base_url[n - 1] != '/');
		}
		/* the key goes into one header, and no header line can be split */
		CHECK(strstr(authheader_template(&e->headers), AUTHHEADER_PLACEHOLDER));
		CHECK(e->headers.n_extra <= AUTHHEADER_EXTRA_MAX);
		CHECK(!strpbrk(authheader_template(&e->headers), "\r\n"));
		for (size_t j = 0; j < e->headers.n_extra; j++) {
			CHECK(!strpbrk(e->headers.extra[j], "\r\n"));
			CHECK(!strstr(e->headers.extra[j], AUTHHEADER_PLACEHOLDER));
		}
	}

	/* one definition per name, none a built-in kind's */
	for (size_t i = 0; i < c->n_kinds; i++) {
		const struct kind_def *k = c->kinds[i];

		CHECK(name_is_valid(k->name));
		CHECK(config_find_kind(c, k->name) == k);
		CHECK(kind_type_from_string(k->name) < 0);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct diag_list diags = {};
	struct config *c;
	char *buf, msg[512];

	/* A copy of exactly size bytes, so that ASan catches over-reads. */
	buf = malloc(size);
	if (!buf && size > 0) {
		return 0;
	}
	if (size > 0) {
		memcpy(buf, data, size);
	}

	c = config_new();
	if (c) {
		if (config_parse_buffer(c, "fuzz.conf", buf, size, &diags) == 0 &&
		    config_verify(c, &diags) == 0) {
			check_config(c);
		}
		config_free(c);
	}

	for (size_t i = 0; i < diags.n; i++) {
		(void)diag_format(&diags.items[i], msg, sizeof(msg));
		/* safe for a terminal and MESSAGE=, whatever the input */
		CHECK(escape_is_clean(msg, strlen(msg)));
	}
	diag_list_done(&diags);
	free(buf);
	return 0;
}
