/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * jobwatch.conf: the schema, defaults and cross-field checks. Table-driven
 * (see config.c); the files and drop-ins are read by config-load.c, an
 * endpoint's lookup, proxy and API key are config-endpoint.c. A loaded
 * struct config is immutable; a reload builds a new one and the daemon swaps
 * it in.
 *
 * Sections: [Daemon] [Poll] [Hook] [Endpoint] [Endpoint:NAME] [Kind:NAME]
 * (kinddef.h has a kind's keys; an endpoint's AuthHeader= and Header= are
 * authheader.h). Unknown keys and sections are warnings (FILE:LINE) and
 * ignored; invalid values are errors (FILE:LINE). The same section may appear
 * more than once; a later assignment of a key wins, as in systemd, and a
 * second [Endpoint:NAME] or [Kind:NAME] continues the first (a drop-in can
 * change one key of it). Drop-ins "<config>.d/NAME.conf" are read after the
 * main file in lexical order. An empty assignment resets Exec=, CAFile=,
 * APIKeyFile=, APIKeyCredential= (so a drop-in can switch an endpoint from
 * APIKeyFile= to APIKeyCredential=) and AuthHeader=, forgets earlier Header=
 * lines and empties a kind's lists; elsewhere an empty value is invalid.
 */

#include <stdbool.h>

#include "authheader.h"
#include "diag.h"
#include "kinddef.h"
#include "macro.h"

/* The name of the unnamed [Endpoint]; "[Endpoint:default]" is refused. */
#define ENDPOINT_DEFAULT_NAME "default"
/* Largest API key file we read; a Dify key is 28 bytes. */
#define API_KEY_MAX 4096

enum http_version {
	HTTP_VERSION_AUTO, /* HTTP/2 over TLS when offered (ALPN), else 1.1 */
	HTTP_VERSION_1_1, /* "1.1" */
	HTTP_VERSION_2_PRIOR_KNOWLEDGE, /* "2-prior-knowledge": h2c, no upgrade */
	_HTTP_VERSION_MAX,
};
const char *http_version_to_string(enum http_version v);
int http_version_from_string(const char *s); /* -EINVAL if unknown */

/* Keys whose cross-field problems are reported where they were (last) set. */
enum config_key_where {
	WHERE_NONE, /* not tracked */
	WHERE_INITIAL_INTERVAL,
	WHERE_MAX_INTERVAL,
	WHERE_JITTER,
	WHERE_REQUEST_TIMEOUT,
	WHERE_HOOK_EXEC,
	_WHERE_MAX,
};

struct config_where {
	char *file; /* owned, or NULL: the key was not set (a default) */
	unsigned line;
};

struct endpoint_config {
	char *name; /* owned; ENDPOINT_DEFAULT_NAME for [Endpoint] */
	char *base_url; /* owned; http(s)://..., trailing '/' removed */
	char *api_key_file; /* owned, absolute path, or NULL */
	char *api_key_credential; /* owned credential name, or NULL */
	char *ca_file; /* owned CAFile=, or NULL for the system store */
	unsigned max_concurrent; /* MaxConcurrentRequests=, default 32, 1..10000 */
	enum http_version http_version; /* HTTPVersion=, default auto */
	char *proxy; /* owned Proxy= URL, or NULL: no proxy */
	bool proxy_from_env; /* ProxyFromEnvironment=, default no; ignored when proxy is set */
	struct authheader headers; /* AuthHeader=, Header= (authheader.h) */

	/* Where the section and the key setting lines are, for messages. */
	char *file; /* owned */
	unsigned line; /* line of the (first) section header */
	unsigned key_line; /* line of APIKeyFile=/APIKeyCredential=, or 0 */
	char *key_file; /* owned: file holding key_line, or NULL */
};

struct config {
	/* [Daemon] */
	char *jobs_dir; /* owned; JobsDirectory=, default /etc/jobwatch/jobs.d */
	unsigned max_jobs; /* MaxJobs=, default 1000000 */

	/* [Poll] */
	usec_t initial_interval_usec; /* InitialInterval=, default 1s, > 0 */
	usec_t max_interval_usec; /* MaxInterval=, default 30s, >= initial */
	double multiplier; /* Multiplier=, default 1.5, 1.0..100 */
	double jitter; /* Jitter=, default 0.2, 0 <= j < 1 */
	usec_t job_timeout_usec; /* JobTimeout=, default 24h, > 0 */
	usec_t request_timeout_usec; /* RequestTimeout=, default 30s, >= 1ms */
	usec_t stall_after_usec; /* StallAfter=, default 30min, > 0; USEC_INFINITY = off */

	/* [Hook] */
	char *hook_exec; /* owned; Exec=, NULL when unset or empty */
	usec_t hook_timeout_usec; /* Timeout=, default 60s, > 0 */
	unsigned hook_max_parallel; /* MaxParallel=, default 16, >= 1 */
	bool allow_job_hooks; /* AllowJobHooks=, default no: a job file's non-empty Hook= is refused */

	/* [Endpoint], [Endpoint:NAME] in order of first appearance */
	struct endpoint_config *endpoints; /* owned array */
	size_t n_endpoints, endpoints_allocated;

	/* [Kind:NAME] (kinddef.h), owned, in order of first appearance */
	struct kind_def **kinds;
	size_t n_kinds, kinds_allocated;

	/* FILE:LINE of the tracked keys, for config_verify()'s messages */
	struct config_where where[_WHERE_MAX];
};

/* A config with every default and no endpoint. NULL on OOM. */
struct config *config_new(void);
struct config *config_free(struct config *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct config *, config_free);

/*
 * Apply the assignments in buf (named file in messages) to c. Used for the
 * main file, each drop-in and by the fuzzer. Errors and warnings go to diags.
 * Returns 0, or -ENOMEM.
 */
int config_parse_buffer(struct config *c, const char *file, const char *buf, size_t len,
			struct diag_list *diags);

/*
 * Cross-field checks once every file is applied: kinddef_validate() of every
 * kind, authheader_validate() of every endpoint, MaxInterval >= InitialInterval,
 * a key source on every endpoint (exactly one of APIKeyFile=/APIKeyCredential=),
 * BaseURL present, http:// to a non-loopback host (warning), MaxInterval with
 * jitter approaching Dify's 600 s result window (warning), Hook Exec= an
 * absolute path that splits into words. Returns 0 or -ENOMEM; problems are
 * in diags.
 */
int config_verify(struct config *c, struct diag_list *diags);

/*
 * Load the main file and its drop-ins, then verify. A missing main file means
 * built-in defaults when not required (drop-ins are still read). A required
 * main file that cannot be read is reported (one entry) and returned as its
 * negative errno, with *ret NULL. Otherwise *ret holds the config even when
 * diags has errors, so --check can keep going; callers must not use it when
 * diag_has_errors(diags). Returns 0, -ENOMEM, or the read error.
 */
int config_load(const char *path, bool required, struct config **ret, struct diag_list *diags);

/* The endpoint called name (NULL: the unnamed [Endpoint]), or NULL. */
const struct endpoint_config *config_find_endpoint(const struct config *c, const char *name);

/* The [Kind:NAME] section named name (exact bytes), or NULL. */
const struct kind_def *config_find_kind(const struct config *c, const char *name);

/*
 * The proxy requests to e go through, for curl_set_proxy(): e->proxy when
 * Proxy= is set; NULL (the environment's http_proxy, https_proxy, ALL_PROXY,
 * NO_PROXY) with ProxyFromEnvironment=yes; else "" (none, whatever the
 * environment says). Borrowed from e.
 */
const char *config_endpoint_proxy(const struct endpoint_config *e);

/*
 * Read the API key of e: from e->api_key_file, or from
 * "$credentials_dir/NAME" for APIKeyCredential=NAME (credentials_dir NULL or
 * unset is an error naming $CREDENTIALS_DIRECTORY). One trailing "\n" or
 * "\r\n" is removed. The key must be non-empty printable ASCII without blanks.
 * Problems go to diags at the key's FILE:LINE, naming the key file but never
 * its content. Returns 0 and an owned string (free with erase_and_free()), or
 * a negative errno.
 */
int config_read_api_key(const struct endpoint_config *e, const char *credentials_dir, char **ret,
			struct diag_list *diags);
