/* SPDX-License-Identifier: MIT */
/*
 * config_verify(): the checks across keys and sections once every file of the
 * configuration is read (config.h says which). The schema and the value
 * parsers are config.c's.
 */
#include <errno.h>
#include <stdio.h>
#include <strings.h>

#include "config.h"
#include "dify.h"
#include "escape.h"
#include "string-util.h"
#include "strv.h"
#include "timespan.h"
#include "url-util.h"

/* "[Endpoint]" or "[Endpoint:NAME]", for messages. */
static const char *endpoint_section(const struct endpoint_config *e, char *buf, size_t size)
{
	if (streq(e->name, ENDPOINT_DEFAULT_NAME)) {
		(void)snprintf(buf, size, "[Endpoint]");
	} else {
		(void)snprintf(buf, size, "[Endpoint:%s]", e->name);
	}
	return buf;
}

static void verify_endpoint(const struct endpoint_config *e, struct diag_list *diags)
{
	char sec[128];

	endpoint_section(e, sec, sizeof(sec));
	if (!e->base_url) {
		diag_add(diags, DIAG_ERROR, e->file, e->line, "%s has no BaseURL=", sec);
	} else if (strncasecmp(e->base_url, "http://", 7) == 0 &&
		   !url_host_is_loopback(e->base_url)) {
		diag_add(
			diags, DIAG_WARNING, e->file, e->line,
			"%s BaseURL= '%s' uses plain http:// to a host that is not loopback: the API key travels in clear text",
			sec, e->base_url);
	}

	if (e->proxy && e->base_url && strncasecmp(e->base_url, "http://", 7) == 0) {
		diag_add(
			diags, DIAG_WARNING, e->file, e->line,
			"%s BaseURL= '%s' uses plain http:// through Proxy=: the proxy sees every request, the API key included (with https:// it sees only the host name)",
			sec, e->base_url);
	}

	(void)authheader_validate(&e->headers, e->file, diags); /* reported */

	if (e->api_key_file && e->api_key_credential) {
		diag_add(diags, DIAG_ERROR, e->key_file ? e->key_file : e->file,
			 e->key_file ? e->key_line : e->line,
			 "%s sets both APIKeyFile= and APIKeyCredential=, expected exactly one",
			 sec);
	} else if (!e->api_key_file && !e->api_key_credential) {
		diag_add(diags, DIAG_ERROR, e->file, e->line,
			 "%s has no API key, expected APIKeyFile= or APIKeyCredential=", sec);
	}
}

/* The first of the keys given that was set in a file: where a problem that
 * several keys make together is reported. NULL (no FILE:LINE) when all are
 * defaults. */
static const struct config_where *where_first_set(const struct config *c,
						  const enum config_key_where *keys, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (c->where[keys[i]].file) {
			return &c->where[keys[i]];
		}
	}
	return NULL;
}

#define where_of(c, ...)                                                                           \
	where_first_set(c, (const enum config_key_where[]){ __VA_ARGS__ },                         \
			sizeof((const enum config_key_where[]){ __VA_ARGS__ }) /                   \
				sizeof(enum config_key_where))

static void verify_poll(const struct config *c, struct diag_list *diags)
{
	char a[TIMESPAN_MAX], b[TIMESPAN_MAX], d[TIMESPAN_MAX];
	const struct config_where *w;
	double worst;

	if (c->max_interval_usec < c->initial_interval_usec) {
		w = where_of(c, WHERE_MAX_INTERVAL, WHERE_INITIAL_INTERVAL);
		diag_add(
			diags, DIAG_ERROR, w ? w->file : NULL, w ? w->line : 0,
			"[Poll] MaxInterval= %s is shorter than InitialInterval= %s, expected at least as long",
			timespan_format(a, sizeof(a), c->max_interval_usec),
			timespan_format(b, sizeof(b), c->initial_interval_usec));
		return;
	}

	/* The longest gap between two polls, plus a slow last request: a job
	 * finishing right after a poll is only seen this much later. */
	worst = (double)c->max_interval_usec * (1.0 + c->jitter) + (double)c->request_timeout_usec;
	if (worst >= (double)DIFY_RESULT_TTL_USEC) {
		w = where_of(c, WHERE_MAX_INTERVAL, WHERE_JITTER, WHERE_REQUEST_TIMEOUT);
		diag_add(
			diags, DIAG_WARNING, w ? w->file : NULL, w ? w->line : 0,
			"[Poll] MaxInterval= %s with Jitter= %g and RequestTimeout= %s may outlast Dify's 600 s result window; results can be lost",
			timespan_format(a, sizeof(a), c->max_interval_usec), c->jitter,
			timespan_format(d, sizeof(d), c->request_timeout_usec));
	}
}

int config_verify(struct config *c, struct diag_list *diags)
{
	const char *why;

	verify_poll(c, diags);

	if (c->hook_exec) {
		why = command_line_problem(c->hook_exec);
		if (why) {
			const struct config_where *x = &c->where[WHERE_HOOK_EXEC];

			diag_add(diags, DIAG_ERROR, x->file, x->line,
				 "Invalid [Hook] Exec= value '%s': %s", QUOTE(c->hook_exec), why);
		}
	}

	if (c->n_endpoints == 0) {
		diag_add(diags, DIAG_WARNING, NULL, 0,
			 "No [Endpoint] section is configured, every job will be refused");
	}
	for (size_t i = 0; i < c->n_endpoints; i++) {
		verify_endpoint(&c->endpoints[i], diags);
	}
	for (size_t i = 0; i < c->n_kinds; i++) {
		(void)kinddef_validate(c->kinds[i], diags); /* reported */
	}

	return diags && diags->oom ? -ENOMEM : 0;
}
