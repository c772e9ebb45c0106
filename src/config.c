/* SPDX-License-Identifier: MIT */
/*
 * jobwatch.conf's schema: the table of keys, their value parsers, the
 * defaults, and the cross-field checks. Reading the files and drop-ins is
 * config-load.c; an endpoint's lookup, proxy and API key, config-endpoint.c.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <strings.h>

#include "alloc-util.h"
#include "config-paths.h"
#include "config.h"
#include "escape.h"
#include "ini.h"
#include "memory-util.h"
#include "parse-util.h"
#include "stall.h"
#include "string-util.h"
#include "strv.h"
#include "timespan.h"
#include "url-util.h"

#define TIMESPAN_EXAMPLES "such as '500ms', '30s' or '1h 30min'"

static const char *const http_version_table[_HTTP_VERSION_MAX] = {
	[HTTP_VERSION_AUTO] = "auto",
	[HTTP_VERSION_1_1] = "1.1",
	[HTTP_VERSION_2_PRIOR_KNOWLEDGE] = "2-prior-knowledge",
};

const char *http_version_to_string(enum http_version v)
{
	return string_table_name(http_version_table, ELEMENTSOF(http_version_table), (int)v);
}

int http_version_from_string(const char *s)
{
	return string_table_value(http_version_table, ELEMENTSOF(http_version_table), s);
}

enum section_kind {
	SECTION_NONE, /* unknown or invalid: its keys are dropped */
	SECTION_DAEMON,
	SECTION_POLL,
	SECTION_HOOK,
	SECTION_ENDPOINT,
	SECTION_KIND, /* [Kind:NAME]: its keys go to kinddef_set(), not to the table */
};

/* Where an assignment is, for the item parsers' messages. */
struct item_ctx {
	const char *file;
	unsigned line;
	const char *key;
	struct endpoint_config *endpoint; /* borrowed; set in endpoint sections */
	struct diag_list *diags;
};

struct config_item;

/* Stores value into data or reports it as invalid. Returns 0 either way,
 * -ENOMEM on OOM. */
typedef int (*config_parse_fn)(const struct item_ctx *ctx, const struct config_item *item,
			       const char *value, void *data);

struct config_item {
	enum section_kind section;
	const char *key;
	config_parse_fn parse;
	size_t offset; /* into struct config, or struct endpoint_config for SECTION_ENDPOINT */
	uint64_t min, max; /* bounds for numbers and time spans */
	enum config_key_where where; /* remember FILE:LINE of the assignment, or WHERE_NONE */
};

/* An invalid value, reported at the assignment's FILE:LINE. */
#define item_error(ctx, ...)                                                                       \
	diag_add((ctx)->diags, DIAG_ERROR, (ctx)->file, (ctx)->line, __VA_ARGS__)

static bool path_is_absolute(const char *s)
{
	return s && s[0] == '/';
}

static int parse_path(const struct item_ctx *ctx, const struct config_item *item, const char *value,
		      void *data)
{
	if (!path_is_absolute(value)) {
		item_error(ctx, "Invalid %s= value '%s', expected an absolute path", ctx->key,
			   QUOTE(value));
		return 0;
	}
	return free_and_strdup(data, value);
}

/* Like parse_path(), but an empty value resets the setting. */
static int parse_path_or_empty(const struct item_ctx *ctx, const struct config_item *item,
			       const char *value, void *data)
{
	if (isempty(value)) {
		return free_and_strdup(data, NULL);
	}
	return parse_path(ctx, item, value, data);
}

static int parse_unsigned(const struct item_ctx *ctx, const struct config_item *item,
			  const char *value, void *data)
{
	unsigned v;

	if (safe_atou(value, &v) < 0 || v < item->min || v > item->max) {
		item_error(ctx, "Invalid %s= value '%s', expected an integer from %llu to %llu",
			   ctx->key, QUOTE(value), (unsigned long long)item->min,
			   (unsigned long long)item->max);
		return 0;
	}
	*(unsigned *)data = v;
	return 0;
}

static int parse_usec(const struct item_ctx *ctx, const struct config_item *item, const char *value,
		      void *data)
{
	char min[TIMESPAN_MAX];
	usec_t v;

	if (timespan_parse(value, &v) < 0) {
		item_error(ctx, "Invalid %s= value '%s', expected a time span " TIMESPAN_EXAMPLES,
			   ctx->key, QUOTE(value));
		return 0;
	}
	/* max USEC_INFINITY: "infinity" is a value (StallAfter=) */
	if ((v == USEC_INFINITY && item->max != USEC_INFINITY) || v > item->max) {
		item_error(ctx, "Invalid %s= value '%s', expected a finite time span", ctx->key,
			   QUOTE(value));
		return 0;
	}
	if (v < item->min) {
		if (item->min == 1) {
			item_error(ctx, "Invalid %s= value '%s', expected a time span above 0",
				   ctx->key, QUOTE(value));
		} else {
			item_error(ctx, "Invalid %s= value '%s', expected at least %s", ctx->key,
				   QUOTE(value), timespan_format(min, sizeof(min), item->min));
		}
		return 0;
	}
	*(usec_t *)data = v;
	return 0;
}

static int parse_multiplier(const struct item_ctx *ctx, const struct config_item *item,
			    const char *value, void *data)
{
	double v;

	if (safe_atod(value, &v) < 0 || !(v >= 1.0 && v <= 100.0)) {
		item_error(ctx, "Invalid %s= value '%s', expected a number from 1.0 to 100",
			   ctx->key, QUOTE(value));
		return 0;
	}
	*(double *)data = v;
	return 0;
}

static int parse_jitter(const struct item_ctx *ctx, const struct config_item *item,
			const char *value, void *data)
{
	double v;

	if (safe_atod(value, &v) < 0 || !(v >= 0.0 && v < 1.0)) {
		item_error(ctx, "Invalid %s= value '%s', expected a number from 0 up to below 1",
			   ctx->key, QUOTE(value));
		return 0;
	}
	*(double *)data = v;
	return 0;
}

static int parse_exec(const struct item_ctx *ctx, const struct config_item *item, const char *value,
		      void *data)
{
	const char *why;

	if (isempty(value)) {
		return free_and_strdup(data, NULL); /* no hook */
	}
	why = command_line_problem(value);
	if (why) {
		item_error(ctx, "Invalid %s= value '%s': %s", ctx->key, QUOTE(value), why);
		return 0;
	}
	return free_and_strdup(data, value);
}

static bool has_blank_or_control(const char *s)
{
	for (; *s; s++) {
		if ((unsigned char)*s <= ' ' || *s == 0x7f) {
			return true;
		}
	}
	return false;
}

static int parse_base_url(const struct item_ctx *ctx, const struct config_item *item,
			  const char *value, void *data)
{
	_cleanup_(freep) char *url = NULL;
	const char *host;
	size_t host_len, n;

	if (!url_host(value, &host, &host_len)) {
		item_error(
			ctx,
			"Invalid %s= value '%s', expected a URL starting with https:// or http://",
			ctx->key, QUOTE(value));
		return 0;
	}
	if (host_len == 0) {
		item_error(ctx, "Invalid %s= value '%s', the URL has no host", ctx->key,
			   QUOTE(value));
		return 0;
	}
	if (has_blank_or_control(value) || strpbrk(value, "?#")) {
		item_error(
			ctx,
			"Invalid %s= value '%s', expected a URL without blanks, query or fragment",
			ctx->key, QUOTE(value));
		return 0;
	}

	url = strdup(value);
	if (!url) {
		return -ENOMEM;
	}
	/* Paths are appended with their own '/'. The host is not empty, so
	 * this never eats into "https://". */
	n = strlen(url);
	while (n > 0 && url[n - 1] == '/') {
		url[--n] = '\0';
	}
	free(*(char **)data);
	*(char **)data = TAKE_PTR(url);
	return 0;
}

static int parse_http_version(const struct item_ctx *ctx, const struct config_item *item,
			      const char *value, void *data)
{
	int v = http_version_from_string(value);

	if (v < 0) {
		item_error(ctx,
			   "Invalid %s= value '%s', expected 'auto', '1.1' or '2-prior-knowledge'",
			   ctx->key, QUOTE(value));
		return 0;
	}
	*(enum http_version *)data = (enum http_version)v;
	return 0;
}

static int parse_bool(const struct item_ctx *ctx, const struct config_item *item, const char *value,
		      void *data)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };

	for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
		if (strcasecmp(value, yes[i]) == 0) {
			*(bool *)data = true;
			return 0;
		}
		if (strcasecmp(value, no[i]) == 0) {
			*(bool *)data = false;
			return 0;
		}
	}
	item_error(ctx, "Invalid %s= value '%s', expected 'yes' or 'no'", ctx->key, value);
	return 0;
}

/* The schemes curl takes for CURLOPT_PROXY. */
static bool proxy_scheme_ok(const char *s)
{
	static const char *const schemes[] = { "http://",    "https://",  "socks4://",
					       "socks4a://", "socks5://", "socks5h://" };

	for (size_t i = 0; i < ELEMENTSOF(schemes); i++) {
		size_t n = strlen(schemes[i]);
		if (strncasecmp(s, schemes[i], n) == 0) {
			/* a host after any "user:password@" */
			const char *auth = s + n, *end = auth + strcspn(auth, "/?#"), *host = auth;
			for (const char *p = auth; p < end; p++) {
				if (*p == '@') {
					host = p + 1;
				}
			}
			return host < end && *host != ':';
		}
	}
	return false;
}

static int parse_proxy(const struct item_ctx *ctx, const struct config_item *item,
		       const char *value, void *data)
{
	if (isempty(value)) {
		return free_and_strdup(data, NULL);
	}
	/* The value is not repeated: a proxy URL may carry a password. */
	if (!proxy_scheme_ok(value) || has_blank_or_control(value)) {
		item_error(
			ctx,
			"Invalid %s= value, expected a URL such as 'http://proxy.example:3128' (schemes http, https, socks4, socks4a, socks5, socks5h) without blanks",
			ctx->key);
		return 0;
	}
	return free_and_strdup(data, value);
}

/* Remember where the key source was set: errors reading the key point there. */
static int note_key_line(const struct item_ctx *ctx)
{
	int r = free_and_strdup(&ctx->endpoint->key_file, ctx->file);

	if (r < 0) {
		return r;
	}
	ctx->endpoint->key_line = ctx->line;
	return 0;
}

static int parse_api_key_file(const struct item_ctx *ctx, const struct config_item *item,
			      const char *value, void *data)
{
	if (!isempty(value) && !path_is_absolute(value)) {
		item_error(ctx, "Invalid %s= value '%s', expected an absolute path", ctx->key,
			   QUOTE(value));
		return 0;
	}
	if (free_and_strdup(data, isempty(value) ? NULL : value) < 0) {
		return -ENOMEM;
	}
	return note_key_line(ctx);
}

static int parse_api_key_credential(const struct item_ctx *ctx, const struct config_item *item,
				    const char *value, void *data)
{
	if (!isempty(value) && !name_is_valid(value)) {
		item_error(
			ctx,
			"Invalid %s= value '%s', expected a credential name of 1-64 characters from A-Z a-z 0-9 _ . -",
			ctx->key, QUOTE(value));
		return 0;
	}
	if (free_and_strdup(data, isempty(value) ? NULL : value) < 0) {
		return -ENOMEM;
	}
	return note_key_line(ctx);
}

static int parse_auth_header(const struct item_ctx *ctx, const struct config_item *item,
			     const char *value, void *data)
{
	return authheader_set_auth(data, value, ctx->file, ctx->line, ctx->diags);
}

static int parse_header(const struct item_ctx *ctx, const struct config_item *item,
			const char *value, void *data)
{
	return authheader_add_extra(data, value, ctx->file, ctx->line, ctx->diags);
}

#define FINITE (USEC_INFINITY - 1)

static const struct config_item config_items[] = {
	{ SECTION_DAEMON, "JobsDirectory", parse_path, offsetof(struct config, jobs_dir) },
	{ SECTION_DAEMON, "MaxJobs", parse_unsigned, offsetof(struct config, max_jobs), 1,
	  UINT_MAX },
	{ SECTION_POLL, "InitialInterval", parse_usec,
	  offsetof(struct config, initial_interval_usec), 1, FINITE, WHERE_INITIAL_INTERVAL },
	{ SECTION_POLL, "MaxInterval", parse_usec, offsetof(struct config, max_interval_usec), 1,
	  FINITE, WHERE_MAX_INTERVAL },
	{ SECTION_POLL, "Multiplier", parse_multiplier, offsetof(struct config, multiplier) },
	{ SECTION_POLL, "Jitter", parse_jitter, offsetof(struct config, jitter), 0, 0,
	  WHERE_JITTER },
	{ SECTION_POLL, "JobTimeout", parse_usec, offsetof(struct config, job_timeout_usec), 1,
	  FINITE },
	{ SECTION_POLL, "StallAfter", parse_usec, offsetof(struct config, stall_after_usec), 1,
	  USEC_INFINITY },
	{ SECTION_POLL, "RequestTimeout", parse_usec, offsetof(struct config, request_timeout_usec),
	  USEC_PER_MSEC, FINITE, WHERE_REQUEST_TIMEOUT },
	{ SECTION_HOOK, "Exec", parse_exec, offsetof(struct config, hook_exec), 0, 0,
	  WHERE_HOOK_EXEC },
	{ SECTION_HOOK, "Timeout", parse_usec, offsetof(struct config, hook_timeout_usec), 1,
	  FINITE },
	{ SECTION_HOOK, "MaxParallel", parse_unsigned, offsetof(struct config, hook_max_parallel),
	  1, 1024 },
	{ SECTION_HOOK, "AllowJobHooks", parse_bool, offsetof(struct config, allow_job_hooks) },
	{ SECTION_ENDPOINT, "BaseURL", parse_base_url, offsetof(struct endpoint_config, base_url) },
	{ SECTION_ENDPOINT, "APIKeyFile", parse_api_key_file,
	  offsetof(struct endpoint_config, api_key_file) },
	{ SECTION_ENDPOINT, "APIKeyCredential", parse_api_key_credential,
	  offsetof(struct endpoint_config, api_key_credential) },
	{ SECTION_ENDPOINT, "CAFile", parse_path_or_empty,
	  offsetof(struct endpoint_config, ca_file) },
	{ SECTION_ENDPOINT, "MaxConcurrentRequests", parse_unsigned,
	  offsetof(struct endpoint_config, max_concurrent), 1, 10000 },
	{ SECTION_ENDPOINT, "HTTPVersion", parse_http_version,
	  offsetof(struct endpoint_config, http_version) },
	{ SECTION_ENDPOINT, "Proxy", parse_proxy, offsetof(struct endpoint_config, proxy) },
	{ SECTION_ENDPOINT, "ProxyFromEnvironment", parse_bool,
	  offsetof(struct endpoint_config, proxy_from_env) },
	{ SECTION_ENDPOINT, "AuthHeader", parse_auth_header,
	  offsetof(struct endpoint_config, headers) },
	{ SECTION_ENDPOINT, "Header", parse_header, offsetof(struct endpoint_config, headers) },
};

static const struct config_item *config_item_find(enum section_kind section, const char *key)
{
	for (size_t i = 0; i < ELEMENTSOF(config_items); i++) {
		if (config_items[i].section == section && streq(config_items[i].key, key)) {
			return &config_items[i];
		}
	}
	return NULL;
}

struct config *config_new(void)
{
	struct config *c = calloc(1, sizeof(*c));

	if (!c) {
		return NULL;
	}
	c->jobs_dir = strdup(JOBWATCH_JOBS_DIR);
	if (!c->jobs_dir) {
		free(c);
		return NULL;
	}
	c->max_jobs = 1000000;
	c->initial_interval_usec = 1 * USEC_PER_SEC;
	c->max_interval_usec = 30 * USEC_PER_SEC;
	c->multiplier = 1.5;
	c->jitter = 0.2;
	c->job_timeout_usec = 24 * USEC_PER_HOUR;
	c->request_timeout_usec = 30 * USEC_PER_SEC;
	c->stall_after_usec = STALL_AFTER_DEFAULT_USEC;
	c->hook_timeout_usec = 60 * USEC_PER_SEC;
	c->hook_max_parallel = 16;
	return c;
}

static void endpoint_config_done(struct endpoint_config *e)
{
	free(e->name);
	free(e->base_url);
	free(e->api_key_file);
	free(e->api_key_credential);
	free(e->ca_file);
	free(e->proxy);
	free(e->file);
	free(e->key_file);
	authheader_done(&e->headers);
}

struct config *config_free(struct config *c)
{
	if (!c) {
		return NULL;
	}
	free(c->jobs_dir);
	free(c->hook_exec);
	for (size_t i = 0; i < ELEMENTSOF(c->where); i++) {
		free(c->where[i].file);
	}
	for (size_t i = 0; i < c->n_endpoints; i++) {
		endpoint_config_done(&c->endpoints[i]);
	}
	free(c->endpoints);
	for (size_t i = 0; i < c->n_kinds; i++) {
		kinddef_free(c->kinds[i]);
	}
	free(c->kinds);
	free(c);
	return NULL;
}

/* Returns the index of endpoint name, appending it with defaults if new. */
static int endpoint_get(struct config *c, const char *name, const char *file, unsigned line,
			size_t *ret)
{
	struct endpoint_config *e, *p;

	for (size_t i = 0; i < c->n_endpoints; i++) {
		if (streq(c->endpoints[i].name, name)) {
			*ret = i;
			return 0;
		}
	}

	if (!grow_array((void **)&c->endpoints, &c->endpoints_allocated, sizeof(*c->endpoints),
			c->n_endpoints + 1)) {
		return -ENOMEM;
	}
	p = c->endpoints;
	e = &p[c->n_endpoints];
	*e = (struct endpoint_config){
		.max_concurrent = 32,
		.http_version = HTTP_VERSION_AUTO,
		.line = line,
	};
	e->name = strdup(name);
	e->file = strdup(file);
	if (!e->name || !e->file) {
		endpoint_config_done(e);
		return -ENOMEM;
	}
	*ret = c->n_endpoints++;
	return 0;
}

/* The definition of [Kind:name], appended if new: a second section of the
 * same name (in the same file or a drop-in) continues it, like [Endpoint:NAME]. */
static int kinddef_get(struct config *c, const char *name, const char *file, unsigned line,
		       struct kind_def **ret)
{
	struct kind_def *def;

	for (size_t i = 0; i < c->n_kinds; i++) {
		if (streq(c->kinds[i]->name, name)) {
			*ret = c->kinds[i];
			return 0;
		}
	}
	if (!grow_array((void **)&c->kinds, &c->kinds_allocated, sizeof(*c->kinds),
			c->n_kinds + 1)) {
		return -ENOMEM;
	}
	def = kinddef_new(name, file, line);
	if (!def) {
		return -ENOMEM;
	}
	c->kinds[c->n_kinds++] = def;
	*ret = def;
	return 0;
}

struct parse_state {
	struct config *config;
	struct diag_list *diags;
	enum section_kind kind;
	size_t endpoint; /* index into config->endpoints when kind is SECTION_ENDPOINT */
	struct kind_def *kind_def; /* borrowed from config->kinds when kind is SECTION_KIND */
};

static int on_config_section(void *userdata, const char *file, unsigned line, const char *section)
{
	struct parse_state *st = userdata;
	const char *name;

	st->kind = SECTION_NONE;
	if (streq(section, "Daemon")) {
		st->kind = SECTION_DAEMON;
	} else if (streq(section, "Poll")) {
		st->kind = SECTION_POLL;
	} else if (streq(section, "Hook")) {
		st->kind = SECTION_HOOK;
	} else if (streq(section, "Endpoint")) {
		st->kind = SECTION_ENDPOINT;
		return endpoint_get(st->config, ENDPOINT_DEFAULT_NAME, file, line, &st->endpoint);
	} else if (strncmp(section, "Endpoint:", 9) == 0) {
		name = section + 9;
		if (streq(name, ENDPOINT_DEFAULT_NAME)) {
			diag_add(st->diags, DIAG_ERROR, file, line,
				 "Invalid section [%s]: '%s' is the name of the unnamed [Endpoint]",
				 QUOTE(section), ENDPOINT_DEFAULT_NAME);
			return 0;
		}
		if (!name_is_valid(name)) {
			diag_add(
				st->diags, DIAG_ERROR, file, line,
				"Invalid endpoint name '%s' in [%s], expected 1-64 characters from A-Z a-z 0-9 _ . -",
				QUOTE(name), QUOTE(section));
			return 0;
		}
		st->kind = SECTION_ENDPOINT;
		return endpoint_get(st->config, name, file, line, &st->endpoint);
	} else if (strncmp(section, KINDDEF_SECTION_PREFIX, strlen(KINDDEF_SECTION_PREFIX)) == 0) {
		name = section + strlen(KINDDEF_SECTION_PREFIX);
		if (kinddef_check_name(name, file, line, st->diags) < 0) {
			return 0; /* reported; its keys are dropped without a word each */
		}
		st->kind = SECTION_KIND;
		return kinddef_get(st->config, name, file, line, &st->kind_def);
	} else {
		diag_add(st->diags, DIAG_WARNING, file, line, "Unknown section [%s], ignoring",
			 QUOTE(section));
	}
	return 0;
}

static int on_config_key(void *userdata, const char *file, unsigned line, const char *section,
			 const char *key, const char *value)
{
	struct parse_state *st = userdata;
	const struct config_item *item;
	size_t errors;
	int r;
	struct item_ctx ctx = {
		.file = file,
		.line = line,
		.key = key,
		.diags = st->diags,
	};
	void *base = st->config;

	if (st->kind == SECTION_NONE) {
		return 0; /* reported once at the section header */
	}
	if (st->kind == SECTION_KIND) {
		return kinddef_set(st->kind_def, key, value, file, line, st->diags);
	}
	item = config_item_find(st->kind, key);
	if (!item) {
		diag_add(st->diags, DIAG_WARNING, file, line,
			 "Unknown key '%s' in section [%s], ignoring", QUOTE(key), QUOTE(section));
		return 0;
	}
	if (st->kind == SECTION_ENDPOINT) {
		/* By index: the array moves when an endpoint is added. */
		ctx.endpoint = &st->config->endpoints[st->endpoint];
		base = ctx.endpoint;
	}
	errors = st->diags ? st->diags->n_errors : 0;
	r = item->parse(&ctx, item, value, (char *)base + item->offset);
	if (r < 0) {
		return r;
	}
	/* an invalid value was not stored: the earlier assignment still holds */
	if (item->where != WHERE_NONE && (!st->diags || st->diags->n_errors == errors)) {
		struct config_where *w = &st->config->where[item->where];

		r = free_and_strdup(&w->file, file);
		if (r < 0) {
			return r;
		}
		w->line = line;
	}
	return 0;
}

int config_parse_buffer(struct config *c, const char *file, const char *buf, size_t len,
			struct diag_list *diags)
{
	struct parse_state st = { .config = c, .diags = diags };
	int r;

	r = ini_parse_buffer(file, buf, len, on_config_section, on_config_key, &st, diags);
	if (r == -ENOMEM) {
		return r;
	}
	/* Anything else (binary input) is already reported. */
	return 0;
}
