/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "config-paths.h"
#include "config.h"
#include "memory-util.h"
#include "string-util.h"
#include "test-helpers.h"

static char *write_tmp(const char *name, const char *data, size_t len)
{
	char *path = test_tmp_path(name);

	assert_non_null(path);
	assert_int_equal(test_write_file_at(AT_FDCWD, path, data, len), 0);
	return path;
}

static char *write_text(const char *name, const char *text)
{
	return write_tmp(name, text, strlen(text));
}

static void assert_contains(const char *haystack, const char *needle)
{
	if (!strstr(haystack, needle)) {
		print_error("'%s' does not contain '%s'\n", haystack, needle);
		fail();
	}
}

static void print_diags(const struct diag_list *d)
{
	char buf[1024];

	for (size_t i = 0; i < d->n; i++) {
		print_error("  %s: %s\n", d->items[i].level == DIAG_ERROR ? "error" : "warning",
			    diag_format(&d->items[i], buf, sizeof(buf)));
	}
}

/* Exactly n entries. */
static void assert_n_diags(const struct diag_list *d, size_t n)
{
	if (d->n != n) {
		print_error("expected %zu diagnostics, got %zu:\n", n, d->n);
		print_diags(d);
		fail();
	}
}

/* Entry i is level at file:line, its message containing text. */
static void assert_diag(const struct diag_list *d, size_t i, enum diag_level level,
			const char *file, unsigned line, const char *text)
{
	if (i >= d->n) {
		print_error("no diagnostic #%zu, there are:\n", i);
		print_diags(d);
		fail();
	}
	assert_int_equal(d->items[i].level, level);
	if (file) {
		assert_string_equal(d->items[i].file, file);
	} else {
		assert_null(d->items[i].file);
	}
	assert_int_equal(d->items[i].line, line);
	assert_contains(d->items[i].message, text);
}

static struct config *parse(const char *text, struct diag_list *d)
{
	struct config *c = config_new();

	assert_non_null(c);
	assert_int_equal(config_parse_buffer(c, "test.conf", text, strlen(text), d), 0);
	return c;
}

static void assert_defaults(const struct config *c)
{
	assert_string_equal(c->jobs_dir, JOBWATCH_JOBS_DIR);
	assert_int_equal(c->max_jobs, 1000000);
	assert_int_equal(c->initial_interval_usec, USEC_PER_SEC);
	assert_int_equal(c->max_interval_usec, 30 * USEC_PER_SEC);
	assert_true(c->multiplier == 1.5);
	assert_true(c->jitter == 0.2);
	assert_int_equal(c->job_timeout_usec, 24 * USEC_PER_HOUR);
	assert_int_equal(c->request_timeout_usec, 30 * USEC_PER_SEC);
	assert_int_equal(c->stall_after_usec, 30 * USEC_PER_MINUTE);
	assert_null(c->hook_exec);
	assert_int_equal(c->hook_timeout_usec, 60 * USEC_PER_SEC);
	assert_int_equal(c->hook_max_parallel, 16);
	assert_false(c->allow_job_hooks);
}

static void test_defaults(void **state)
{
	_cleanup_(config_freep) struct config *c = config_new();

	assert_non_null(c);
	assert_defaults(c);
	assert_int_equal(c->n_endpoints, 0);
	assert_null(c->endpoints);
	assert_null(config_find_endpoint(c, NULL));
	config_free(NULL);
}

static const char contract_example[] = "[Daemon]\n"
				       "JobsDirectory=/etc/jobwatch/jobs.d\n"
				       "# refuse more jobs than this, loudly\n"
				       "MaxJobs=1000000\n"
				       "\n"
				       "[Poll]\n"
				       "InitialInterval=1s\n"
				       "MaxInterval=30s\n"
				       "Multiplier=1.5\n"
				       "Jitter=0.2\n"
				       "JobTimeout=24h\n"
				       "RequestTimeout=30s\n"
				       "\n"
				       "[Hook]\n"
				       "Exec=/usr/local/bin/on-job-done --quiet\n"
				       "Timeout=60s\n"
				       "MaxParallel=16\n"
				       "\n"
				       "# the default endpoint: one Dify app\n"
				       "[Endpoint]\n"
				       "BaseURL=https://api.dify.ai/v1\n"
				       "APIKeyFile=/etc/jobwatch/api-key\n"
				       "MaxConcurrentRequests=32\n"
				       "\n"
				       "[Endpoint:support-bot]\n"
				       "BaseURL=https://dify.example.com/v1\n"
				       "APIKeyCredential=support-bot\n";

static void test_contract_example(void **state)
{
	struct diag_list d = {};
	_cleanup_(config_freep) struct config *c = parse(contract_example, &d);
	const struct endpoint_config *e;

	assert_int_equal(config_verify(c, &d), 0);
	assert_n_diags(&d, 0);
	assert_string_equal(c->jobs_dir, "/etc/jobwatch/jobs.d");
	assert_string_equal(c->hook_exec, "/usr/local/bin/on-job-done --quiet");
	assert_int_equal(c->n_endpoints, 2);

	e = config_find_endpoint(c, NULL);
	assert_ptr_equal(e, &c->endpoints[0]);
	assert_ptr_equal(config_find_endpoint(c, "default"), e);
	assert_string_equal(e->name, "default");
	assert_string_equal(e->base_url, "https://api.dify.ai/v1");
	assert_string_equal(e->api_key_file, "/etc/jobwatch/api-key");
	assert_null(e->api_key_credential);
	assert_null(e->ca_file);
	assert_int_equal(e->max_concurrent, 32);
	assert_int_equal(e->http_version, HTTP_VERSION_AUTO);
	assert_string_equal(e->file, "test.conf");
	assert_int_equal(e->line, 20);
	assert_string_equal(e->key_file, "test.conf");
	assert_int_equal(e->key_line, 22);

	e = config_find_endpoint(c, "support-bot");
	assert_ptr_equal(e, &c->endpoints[1]);
	assert_string_equal(e->base_url, "https://dify.example.com/v1");
	assert_string_equal(e->api_key_credential, "support-bot");
	assert_null(e->api_key_file);
	assert_int_equal(e->line, 25);
	assert_int_equal(e->key_line, 27);
	assert_null(config_find_endpoint(c, "nope"));
}

static void test_every_key(void **state)
{
	struct diag_list d = {};
	_cleanup_(config_freep) struct config *c = parse("[Daemon]\n"
							 "JobsDirectory=/srv/jobs\n"
							 "MaxJobs=5\n"
							 "[Poll]\n"
							 "InitialInterval=250ms\n"
							 "MaxInterval=2min\n"
							 "Multiplier=2\n"
							 "Jitter=0\n"
							 "JobTimeout=2h 30min\n"
							 "RequestTimeout=1ms\n"
							 "StallAfter=infinity\n"
							 "[Hook]\n"
							 "Exec=\"/opt/my hook\" 'a b'\n"
							 "Timeout=5s\n"
							 "MaxParallel=1024\n"
							 "[Endpoint]\n"
							 "BaseURL=http://127.0.0.1:8080/v1/\n"
							 "APIKeyCredential=key.1\n"
							 "CAFile=/etc/ssl/ca.pem\n"
							 "MaxConcurrentRequests=10000\n"
							 "HTTPVersion=2-prior-knowledge\n",
							 &d);
	const struct endpoint_config *e;

	assert_int_equal(config_verify(c, &d), 0);
	assert_n_diags(&d, 0);
	assert_string_equal(c->jobs_dir, "/srv/jobs");
	assert_int_equal(c->max_jobs, 5);
	assert_int_equal(c->initial_interval_usec, 250 * USEC_PER_MSEC);
	assert_int_equal(c->max_interval_usec, 2 * USEC_PER_MINUTE);
	assert_true(c->multiplier == 2.0);
	assert_true(c->jitter == 0.0);
	assert_int_equal(c->job_timeout_usec, 150 * USEC_PER_MINUTE);
	assert_int_equal(c->request_timeout_usec, USEC_PER_MSEC);
	assert_true(c->stall_after_usec == USEC_INFINITY);
	assert_string_equal(c->hook_exec, "\"/opt/my hook\" 'a b'");
	assert_int_equal(c->hook_timeout_usec, 5 * USEC_PER_SEC);
	assert_int_equal(c->hook_max_parallel, 1024);

	e = config_find_endpoint(c, NULL);
	assert_non_null(e);
	assert_string_equal(e->base_url, "http://127.0.0.1:8080/v1");
	assert_string_equal(e->api_key_credential, "key.1");
	assert_string_equal(e->ca_file, "/etc/ssl/ca.pem");
	assert_int_equal(e->max_concurrent, 10000);
	assert_int_equal(e->http_version, HTTP_VERSION_2_PRIOR_KNOWLEDGE);
}

static void test_bounds_accepted(void **state)
{
	struct diag_list d = {};
	_cleanup_(config_freep) struct config *a =
		parse("[Poll]\nMultiplier=1\nJitter=0.99\n[Hook]\nMaxParallel=1\n"
		      "[Daemon]\nMaxJobs=4294967295\n[Endpoint]\nMaxConcurrentRequests=1\n"
		      "HTTPVersion=1.1\n",
		      &d);
	_cleanup_(config_freep) struct config *b = parse("[Poll]\nMultiplier=100\n", &d);

	assert_n_diags(&d, 0);
	assert_true(a->multiplier == 1.0);
	assert_true(a->jitter == 0.99);
	assert_int_equal(a->hook_max_parallel, 1);
	assert_int_equal(a->max_jobs, 4294967295U);
	assert_int_equal(a->endpoints[0].max_concurrent, 1);
	assert_int_equal(a->endpoints[0].http_version, HTTP_VERSION_1_1);
	assert_true(b->multiplier == 100.0);
}

struct invalid_case {
	const char *section, *key, *value, *message;
};

static const struct invalid_case invalid_cases[] = {
	{ "Daemon", "JobsDirectory", "relative/dir",
	  "Invalid JobsDirectory= value 'relative/dir', expected an absolute path" },
	{ "Daemon", "JobsDirectory", "", "expected an absolute path" },
	{ "Daemon", "MaxJobs", "0",
	  "Invalid MaxJobs= value '0', expected an integer from 1 to 4294967295" },
	{ "Daemon", "MaxJobs", "-1", "expected an integer from 1 to 4294967295" },
	{ "Daemon", "MaxJobs", "many", "expected an integer" },
	{ "Daemon", "MaxJobs", "4294967296", "expected an integer" },
	{ "Daemon", "MaxJobs", "", "Invalid MaxJobs= value ''" },
	{ "Poll", "InitialInterval", "0",
	  "Invalid InitialInterval= value '0', expected a time span above 0" },
	{ "Poll", "InitialInterval", "soon",
	  "Invalid InitialInterval= value 'soon', expected a time span such as '500ms'" },
	{ "Poll", "InitialInterval", "infinity", "expected a finite time span" },
	{ "Poll", "InitialInterval", "-1s", "expected a time span" },
	{ "Poll", "MaxInterval", "0", "Invalid MaxInterval= value '0'" },
	{ "Poll", "MaxInterval", "5 fortnights", "expected a time span" },
	{ "Poll", "Multiplier", "0.99",
	  "Invalid Multiplier= value '0.99', expected a number from 1.0 to 100" },
	{ "Poll", "Multiplier", "100.5", "expected a number from 1.0 to 100" },
	{ "Poll", "Multiplier", "nan", "expected a number from 1.0 to 100" },
	{ "Poll", "Multiplier", "1,5", "expected a number from 1.0 to 100" },
	{ "Poll", "Jitter", "1",
	  "Invalid Jitter= value '1', expected a number from 0 up to below 1" },
	{ "Poll", "Jitter", "-0.1", "expected a number from 0 up to below 1" },
	{ "Poll", "Jitter", "20%", "expected a number from 0 up to below 1" },
	{ "Poll", "JobTimeout", "0",
	  "Invalid JobTimeout= value '0', expected a time span above 0" },
	{ "Poll", "JobTimeout", "forever", "expected a time span" },
	{ "Poll", "StallAfter", "0",
	  "Invalid StallAfter= value '0', expected a time span above 0" },
	{ "Poll", "StallAfter", "never",
	  "Invalid StallAfter= value 'never', expected a time span" },
	{ "Poll", "RequestTimeout", "999us",
	  "Invalid RequestTimeout= value '999us', expected at least 1ms" },
	{ "Poll", "RequestTimeout", "0", "expected at least 1ms" },
	{ "Hook", "Exec", "on-done --quiet",
	  "Invalid Exec= value 'on-done --quiet': the command must be an absolute path" },
	{ "Hook", "Exec", "'/bin/on-done", "unbalanced quotes or an invalid escape" },
	{ "Hook", "Exec", "/bin/x \\q", "unbalanced quotes or an invalid escape" },
	{ "Hook", "Exec", "\"\"", "the command must be an absolute path" },
	{ "Hook", "Timeout", "0", "Invalid Timeout= value '0', expected a time span above 0" },
	{ "Hook", "MaxParallel", "0",
	  "Invalid MaxParallel= value '0', expected an integer from 1 to 1024" },
	{ "Hook", "MaxParallel", "1025", "expected an integer from 1 to 1024" },
	{ "Endpoint", "BaseURL", "ftp://dify.example.com",
	  "Invalid BaseURL= value 'ftp://dify.example.com', expected a URL starting with https:// or http://" },
	{ "Endpoint", "BaseURL", "api.dify.ai/v1", "expected a URL starting with https://" },
	{ "Endpoint", "BaseURL", "", "expected a URL starting with https://" },
	{ "Endpoint", "BaseURL", "https://",
	  "Invalid BaseURL= value 'https://', the URL has no host" },
	{ "Endpoint", "BaseURL", "https:///v1", "the URL has no host" },
	{ "Endpoint", "BaseURL", "https://user@:80/v1", "the URL has no host" },
	{ "Endpoint", "BaseURL", "https://[]/v1", "the URL has no host" },
	{ "Endpoint", "BaseURL", "https://a@b@/v1", "the URL has no host" },
	{ "Endpoint", "BaseURL", "https://host/v1?x=1", "without blanks, query or fragment" },
	{ "Endpoint", "BaseURL", "https://ho st/v1", "without blanks, query or fragment" },
	{ "Endpoint", "APIKeyFile", "api-key",
	  "Invalid APIKeyFile= value 'api-key', expected an absolute path" },
	{ "Endpoint", "APIKeyCredential", "a/b",
	  "Invalid APIKeyCredential= value 'a/b', expected a credential name" },
	{ "Endpoint", "APIKeyCredential", "..", "expected a credential name" },
	{ "Endpoint", "CAFile", "ca.pem",
	  "Invalid CAFile= value 'ca.pem', expected an absolute path" },
	{ "Endpoint", "MaxConcurrentRequests", "0",
	  "Invalid MaxConcurrentRequests= value '0', expected an integer from 1 to 10000" },
	{ "Endpoint", "MaxConcurrentRequests", "10001", "expected an integer from 1 to 10000" },
	{ "Endpoint", "HTTPVersion", "2",
	  "Invalid HTTPVersion= value '2', expected 'auto', '1.1' or '2-prior-knowledge'" },
	{ "Endpoint", "HTTPVersion", "AUTO", "expected 'auto', '1.1' or '2-prior-knowledge'" },
};

/* An invalid value is an error at its line and leaves the default alone. */
static void test_invalid_values(void **state)
{
	for (size_t i = 0; i < ELEMENTSOF(invalid_cases); i++) {
		const struct invalid_case *t = &invalid_cases[i];
		_cleanup_(freep) char *text = strjoin("# leading comment\n[", t->section, "]\n",
						      t->key, "=", t->value, "\n");
		struct diag_list d = {};
		struct config *c;

		assert_non_null(text);
		c = parse(text, &d);
		assert_n_diags(&d, 1);
		assert_diag(&d, 0, DIAG_ERROR, "test.conf", 3, t->message);
		assert_defaults(c);
		if (c->n_endpoints > 0) {
			const struct endpoint_config *e = &c->endpoints[0];

			assert_null(e->base_url);
			assert_null(e->api_key_file);
			assert_null(e->api_key_credential);
			assert_null(e->ca_file);
			assert_int_equal(e->max_concurrent, 32);
			assert_int_equal(e->http_version, HTTP_VERSION_AUTO);
		}
		config_free(c);
		diag_list_done(&d);
	}
}

static void test_unknown(void **state)
{
	struct diag_list d = {};
	_cleanup_(config_freep) struct config *c =
		parse("[Poll]\nFoo=1\n[Nope]\nA=1\nB=2\n[poll]\nC=1\n[Endpoint:x]\nbaseurl=y\n"
		      "[Poll]\nMaxJobs=3\n",
		      &d);

	assert_n_diags(&d, 5);
	assert_diag(&d, 0, DIAG_WARNING, "test.conf", 2,
		    "Unknown key 'Foo' in section [Poll], ignoring");
	assert_diag(&d, 1, DIAG_WARNING, "test.conf", 3, "Unknown section [Nope], ignoring");
	assert_diag(&d, 2, DIAG_WARNING, "test.conf", 6, "Unknown section [poll], ignoring");
	assert_diag(&d, 3, DIAG_WARNING, "test.conf", 9,
		    "Unknown key 'baseurl' in section [Endpoint:x], ignoring");
	/* A key of another section is unknown here. */
	assert_diag(&d, 4, DIAG_WARNING, "test.conf", 11,
		    "Unknown key 'MaxJobs' in section [Poll], ignoring");
	assert_int_equal(d.n_errors, 0);
	assert_int_equal(c->max_jobs, 1000000);
	diag_list_done(&d);
}

static void test_endpoint_sections(void **state)
{
	struct diag_list d = {};
	_cleanup_(config_freep) struct config *c = parse("[Endpoint:b]\n"
							 "BaseURL=https://b.example/v1///\n"
							 "[Endpoint:default]\n"
							 "BaseURL=https://nope\n"
							 "[Endpoint:bad name]\n"
							 "[Endpoint:]\n"
							 "[Endpoint:a/b]\n"
							 "[Endpoint]\n"
							 "BaseURL=https://a.example/\n"
							 "CAFile=/ca.pem\n"
							 "[Endpoint:b]\n"
							 "BaseURL=HTTPS://b2.example:8443\n"
							 "[Endpoint]\n"
							 "CAFile=\n",
							 &d);

	assert_n_diags(&d, 4);
	assert_diag(
		&d, 0, DIAG_ERROR, "test.conf", 3,
		"Invalid section [Endpoint:default]: 'default' is the name of the unnamed [Endpoint]");
	assert_diag(&d, 1, DIAG_ERROR, "test.conf", 5,
		    "Invalid endpoint name 'bad name' in [Endpoint:bad name]");
	assert_diag(&d, 2, DIAG_ERROR, "test.conf", 6, "Invalid endpoint name ''");
	assert_diag(&d, 3, DIAG_ERROR, "test.conf", 7, "Invalid endpoint name 'a/b'");

	/* In order of first appearance; a later section adds to the first. */
	assert_int_equal(c->n_endpoints, 2);
	assert_string_equal(c->endpoints[0].name, "b");
	assert_int_equal(c->endpoints[0].line, 1);
	assert_string_equal(c->endpoints[0].base_url, "HTTPS://b2.example:8443");
	assert_string_equal(c->endpoints[1].name, "default");
	assert_int_equal(c->endpoints[1].line, 8);
	assert_string_equal(c->endpoints[1].base_url, "https://a.example");
	/* An empty assignment resets. */
	assert_null(c->endpoints[1].ca_file);
	diag_list_done(&d);
}

static void test_later_wins(void **state)
{
	struct diag_list d = {};
	_cleanup_(config_freep) struct config *c =
		parse("[Daemon]\nMaxJobs=1\nMaxJobs=2\n[Hook]\nExec=/bin/a\n[Daemon]\nMaxJobs=3\n"
		      "[Hook]\nExec=\n",
		      &d);

	assert_n_diags(&d, 0);
	assert_int_equal(c->max_jobs, 3);
	assert_null(c->hook_exec);
}

static void test_binary(void **state)
{
	static const char text[] = "[Daemon]\nMaxJobs=2\0\n";
	struct diag_list d = {};
	_cleanup_(config_freep) struct config *c = config_new();

	assert_int_equal(config_parse_buffer(c, "test.conf", text, sizeof(text) - 1, &d), 0);
	assert_n_diags(&d, 1);
	assert_diag(&d, 0, DIAG_ERROR, "test.conf", 2, "NUL byte");
	assert_int_equal(c->max_jobs, 1000000);
	diag_list_done(&d);
}

static const char good_endpoint[] = "[Endpoint]\nBaseURL=https://x/v1\nAPIKeyFile=/k\n";

/* Parse good_endpoint plus text, verify; the diags are left in d. */
static struct config *parse_verify(const char *text, struct diag_list *d)
{
	_cleanup_(freep) char *all = strjoin(good_endpoint, text);
	struct config *c;

	assert_non_null(all);
	c = parse(all, d);
	assert_int_equal(config_verify(c, d), 0);
	return c;
}

static void test_verify_poll(void **state)
{
	struct diag_list d = {};
	struct config *c;

	/* Reported where MaxInterval= was set (lines 1-3 are good_endpoint). */
	c = parse_verify("[Poll]\nInitialInterval=10s\nMaxInterval=5s\n", &d);
	assert_n_diags(&d, 1);
	assert_diag(&d, 0, DIAG_ERROR, "test.conf", 6,
		    "[Poll] MaxInterval= 5s is shorter than InitialInterval= 10s");
	config_free(c);
	diag_list_done(&d);

	c = parse_verify("[Poll]\nInitialInterval=10s\nMaxInterval=10s\n", &d);
	assert_n_diags(&d, 0);
	config_free(c);

	c = parse_verify("[Poll]\nInitialInterval=1ms\nMaxInterval=999us\n", &d);
	assert_n_diags(&d, 1);
	assert_diag(&d, 0, DIAG_ERROR, "test.conf", 6,
		    "[Poll] MaxInterval= 999us is shorter than InitialInterval= 1ms");
	config_free(c);
	diag_list_done(&d);

	/* MaxInterval= left at its default (30s): where InitialInterval= was set. */
	c = parse_verify("[Poll]\n\nInitialInterval=1min\n", &d);
	assert_n_diags(&d, 1);
	assert_diag(&d, 0, DIAG_ERROR, "test.conf", 6,
		    "[Poll] MaxInterval= 30s is shorter than InitialInterval= 1min");
	config_free(c);
	diag_list_done(&d);

	/* An invalid later value is not stored: the valid assignment is named. */
	c = parse_verify("[Poll]\nInitialInterval=2s\nMaxInterval=1s\nMaxInterval=soon\n", &d);
	assert_n_diags(&d, 2);
	assert_diag(&d, 0, DIAG_ERROR, "test.conf", 7, "Invalid MaxInterval= value 'soon'");
	assert_diag(&d, 1, DIAG_ERROR, "test.conf", 6,
		    "[Poll] MaxInterval= 1s is shorter than InitialInterval= 2s");
	config_free(c);
	diag_list_done(&d);

	/* Set twice: the later assignment counts, and is named. */
	c = parse_verify("[Poll]\nMaxInterval=1s\nInitialInterval=2s\n[Poll]\nMaxInterval=1500ms\n",
			 &d);
	assert_n_diags(&d, 1);
	assert_diag(&d, 0, DIAG_ERROR, "test.conf", 8,
		    "[Poll] MaxInterval= 1s 500ms is shorter than InitialInterval= 2s");
	config_free(c);
	diag_list_done(&d);

	/* 8min * 1.2 + 30s = 606s. */
	c = parse_verify("[Poll]\nMaxInterval=8min\n", &d);
	assert_n_diags(&d, 1);
	assert_diag(&d, 0, DIAG_WARNING, "test.conf", 5,
		    "may outlast Dify's 600 s result window; results can be lost");
	assert_int_equal(d.n_errors, 0);
	config_free(c);
	diag_list_done(&d);

	/* 8min * 1.0 + 30s = 510s. */
	c = parse_verify("[Poll]\nMaxInterval=8min\nJitter=0\n", &d);
	assert_n_diags(&d, 0);
	config_free(c);

	/* 7min * 1.2 + 3min = 684s. */
	c = parse_verify("[Poll]\nMaxInterval=7min\nRequestTimeout=3min\n", &d);
	assert_n_diags(&d, 1);
	assert_contains(d.items[0].message, "600 s result window");
	config_free(c);
	diag_list_done(&d);

	/* Only RequestTimeout= set (30s * 1.2 + 10min): named there. */
	c = parse_verify("[Poll]\nRequestTimeout=10min\n", &d);
	assert_n_diags(&d, 1);
	assert_diag(&d, 0, DIAG_WARNING, "test.conf", 5, "600 s result window");
	config_free(c);
	diag_list_done(&d);
}

static void test_verify_endpoints(void **state)
{
	struct diag_list d = {};
	struct config *c;

	c = parse_verify("[Endpoint:x]\nAPIKeyFile=/k\n", &d);
	assert_n_diags(&d, 1);
	assert_diag(&d, 0, DIAG_ERROR, "test.conf", 4, "[Endpoint:x] has no BaseURL=");
	config_free(c);
	diag_list_done(&d);

	c = parse_verify("[Endpoint:x]\nBaseURL=https://x\nAPIKeyFile=/k\n\nAPIKeyCredential=x\n",
			 &d);
	assert_n_diags(&d, 1);
	assert_diag(
		&d, 0, DIAG_ERROR, "test.conf", 8,
		"[Endpoint:x] sets both APIKeyFile= and APIKeyCredential=, expected exactly one");
	config_free(c);
	diag_list_done(&d);

	c = parse_verify("[Endpoint:x]\nBaseURL=https://x\n", &d);
	assert_n_diags(&d, 1);
	assert_diag(&d, 0, DIAG_ERROR, "test.conf", 4,
		    "[Endpoint:x] has no API key, expected APIKeyFile= or APIKeyCredential=");
	config_free(c);
	diag_list_done(&d);

	/* An empty assignment clears the other source, as a drop-in would. */
	c = parse_verify("[Endpoint]\nAPIKeyFile=\nAPIKeyCredential=k\n", &d);
	assert_n_diags(&d, 0);
	assert_null(c->endpoints[0].api_key_file);
	assert_string_equal(c->endpoints[0].api_key_credential, "k");
	assert_int_equal(c->endpoints[0].key_line, 6);
	config_free(c);

	c = parse_verify("[Endpoint:plain]\nBaseURL=http://dify.example.com/v1\nAPIKeyFile=/k\n",
			 &d);
	assert_n_diags(&d, 1);
	assert_diag(&d, 0, DIAG_WARNING, "test.conf", 4, "the API key travels in clear text");
	assert_contains(d.items[0].message, "[Endpoint:plain]");
	config_free(c);
	diag_list_done(&d);

	c = parse_verify("[Endpoint:l1]\nBaseURL=http://localhost:5001/v1\nAPIKeyFile=/k\n"
			 "[Endpoint:l2]\nBaseURL=http://[::1]/v1\nAPIKeyFile=/k\n"
			 "[Endpoint:l3]\nBaseURL=http://127.0.0.2\nAPIKeyFile=/k\n",
			 &d);
	assert_n_diags(&d, 0);
	config_free(c);
}

static void test_verify_other(void **state)
{
	struct diag_list d = {};
	_cleanup_(config_freep) struct config *c = config_new();

	assert_int_equal(config_verify(c, &d), 0);
	assert_n_diags(&d, 1);
	assert_diag(&d, 0, DIAG_WARNING, NULL, 0, "No [Endpoint] section is configured");
	diag_list_done(&d);

	/* Set by hand, not through the parser, which refuses it earlier. */
	c->hook_exec = strdup("relative/hook");
	assert_int_equal(config_verify(c, &d), 0);
	assert_int_equal(d.n_errors, 1);
	assert_diag(
		&d, 0, DIAG_ERROR, NULL, 0,
		"Invalid [Hook] Exec= value 'relative/hook': the command must be an absolute path");
	diag_list_done(&d);
}

static void test_http_version_strings(void **state)
{
	assert_string_equal(http_version_to_string(HTTP_VERSION_AUTO), "auto");
	assert_string_equal(http_version_to_string(HTTP_VERSION_1_1), "1.1");
	assert_string_equal(http_version_to_string(HTTP_VERSION_2_PRIOR_KNOWLEDGE),
			    "2-prior-knowledge");
	assert_null(http_version_to_string(_HTTP_VERSION_MAX));
	assert_int_equal(http_version_from_string("1.1"), HTTP_VERSION_1_1);
	assert_int_equal(http_version_from_string("auto"), HTTP_VERSION_AUTO);
	assert_int_equal(http_version_from_string("1.0"), -EINVAL);
	assert_int_equal(http_version_from_string(NULL), -EINVAL);
}

static void test_load(void **state)
{
	_cleanup_(freep) char *main_conf = NULL, *dir = test_tmp_path("load.conf.d");
	_cleanup_(config_freep) struct config *c = NULL;
	struct diag_list d = {};
	char name[64];

	main_conf = write_text("load.conf", "[Daemon]\nMaxJobs=1\n[Poll]\nJitter=0.5\n");
	assert_int_equal(mkdir(dir, 0700), 0);
	/* strcmp() order: "10-b" < "20-c" < "9-a"; the last one wins. */
	free(write_text("load.conf.d/9-a.conf", "[Daemon]\nMaxJobs=9\n"));
	free(write_text("load.conf.d/10-b.conf", "[Daemon]\nMaxJobs=10\n[Hook]\nNope=1\n"));
	free(write_text("load.conf.d/20-c.conf", "[Daemon]\nMaxJobs=20\n"));
	free(write_text("load.conf.d/99-z.conf.bak", "[Daemon]\nMaxJobs=99\n"));
	free(write_text("load.conf.d/.hidden.conf", "[Daemon]\nMaxJobs=98\n"));
	free(write_text("load.conf.d/.conf", "[Daemon]\nMaxJobs=97\n"));
	free(write_tmp("load.conf.d/good.conf", good_endpoint, strlen(good_endpoint)));

	assert_int_equal(config_load(main_conf, true, &c, &d), 0);
	assert_non_null(c);
	assert_n_diags(&d, 1);
	(void)snprintf(name, sizeof(name), "%s/10-b.conf", dir);
	assert_diag(&d, 0, DIAG_WARNING, name, 4, "Unknown key 'Nope' in section [Hook]");
	assert_int_equal(c->max_jobs, 9);
	assert_true(c->jitter == 0.5);
	assert_int_equal(c->n_endpoints, 1);
	diag_list_done(&d);
}

static void test_load_missing(void **state)
{
	_cleanup_(freep) char *missing = test_tmp_path("missing.conf");
	_cleanup_(freep) char *dir = test_tmp_path("missing.conf.d");
	_cleanup_(freep) char *only_dropins = test_tmp_path("only.conf");
	_cleanup_(freep) char *only_dir = test_tmp_path("only.conf.d");
	struct config *c = NULL;
	struct diag_list d = {};

	/* Not required: built-in defaults. */
	assert_int_equal(config_load(missing, false, &c, &d), 0);
	assert_non_null(c);
	assert_defaults(c);
	assert_int_equal(d.n_errors, 0);
	config_free(c);
	diag_list_done(&d);

	/* Required: one error naming the file, returned as the errno; no config,
	 * and nothing else reported (drop-ins and checks would only add noise). */
	assert_int_equal(config_load(missing, true, &c, &d), -ENOENT);
	assert_null(c);
	assert_int_equal(d.n, 1);
	assert_diag(&d, 0, DIAG_ERROR, missing, 0, "No such file or directory");
	diag_list_done(&d);

	/* Drop-ins are read without a main file. */
	assert_int_equal(mkdir(only_dir, 0700), 0);
	free(write_text("only.conf.d/a.conf", "[Daemon]\nMaxJobs=7\n"));
	assert_int_equal(config_load(only_dropins, false, &c, &d), 0);
	assert_int_equal(c->max_jobs, 7);
	config_free(c);
	diag_list_done(&d);

	/* A drop-in "directory" that is a file is reported. */
	free(write_text("missing.conf.d", "x"));
	assert_int_equal(config_load(missing, false, &c, &d), 0);
	assert_true(diag_has_errors(&d));
	assert_diag(&d, 0, DIAG_ERROR, dir, 0, "Cannot open drop-in directory: Not a directory");
	config_free(c);
	diag_list_done(&d);
}

static void test_load_dropin_errors(void **state)
{
	_cleanup_(freep) char *main_conf = write_text("e.conf", "[Daemon]\nMaxJobs=1\n");
	_cleanup_(freep) char *dir = test_tmp_path("e.conf.d");
	_cleanup_(freep) char *sub = test_tmp_path("e.conf.d/sub.conf");
	struct config *c = NULL;
	struct diag_list d = {};
	char name[128];

	assert_int_equal(mkdir(dir, 0700), 0);
	assert_int_equal(mkdir(sub, 0700), 0);
	free(write_text("e.conf.d/bad.conf", "\n[Daemon]\nMaxJobs=zero\n"));
	assert_int_equal(config_load(main_conf, true, &c, &d), 0);
	(void)snprintf(name, sizeof(name), "%s/bad.conf", dir);
	assert_diag(&d, 0, DIAG_ERROR, name, 3, "Invalid MaxJobs= value 'zero'");
	assert_diag(&d, 1, DIAG_ERROR, sub, 0, "File is a directory");
	assert_int_equal(c->max_jobs, 1);
	config_free(c);
	diag_list_done(&d);
}

/* An endpoint reading its key from path, set at test.conf:3. */
static struct endpoint_config key_endpoint(const char *path, const char *credential)
{
	return (struct endpoint_config){
		.name = (char *)"default",
		.api_key_file = (char *)path,
		.api_key_credential = (char *)credential,
		.file = (char *)"test.conf",
		.line = 1,
		.key_file = (char *)"test.conf",
		.key_line = 3,
	};
}

/* Reading a key from a file holding data gives r and, on success, key. */
static void check_key(const char *data, size_t len, int r_expected, const char *expected)
{
	_cleanup_(freep) char *path = write_tmp("key", data, len);
	struct endpoint_config e = key_endpoint(path, NULL);
	struct diag_list d = {};
	char *key = NULL;

	assert_int_equal(config_read_api_key(&e, NULL, &key, &d), r_expected);
	if (r_expected == 0) {
		assert_n_diags(&d, 0);
		assert_string_equal(key, expected);
		erase_and_free(key);
	} else {
		assert_null(key);
		assert_n_diags(&d, 1);
		assert_diag(&d, 0, DIAG_ERROR, "test.conf", 3, expected);
		assert_contains(d.items[0].message, path);
		/* Never the key itself. */
		assert_null(strstr(d.items[0].message, "sekrit"));
	}
	diag_list_done(&d);
}

static void test_api_key_file(void **state)
{
	static const char nul_key[] = "sekrit\0x\n";

	check_key("app-abc123", 10, 0, "app-abc123");
	check_key("app-abc123\n", 11, 0, "app-abc123");
	check_key("app-abc123\r\n", 12, 0, "app-abc123");
	check_key("", 0, -EINVAL, "is empty");
	check_key("\n", 1, -EINVAL, "is empty");
	check_key("\r\n", 2, -EINVAL, "is empty");
	/* Only one newline belongs to the file. */
	check_key("sekrit\n\n", 8, -EINVAL, "contains control characters, blanks or non-ASCII");
	check_key("sekrit\r", 7, -EINVAL, "contains control characters");
	check_key("sekrit key\n", 11, -EINVAL, "contains control characters, blanks");
	check_key(" sekrit", 7, -EINVAL, "blanks");
	check_key("sekrit\tx", 8, -EINVAL, "blanks");
	check_key("sekrit\xc3\xa9", 8, -EINVAL, "non-ASCII");
	check_key("sekrit\x7f", 7, -EINVAL, "control characters");
	check_key(nul_key, sizeof(nul_key) - 1, -EINVAL, "control characters");
}

static void test_api_key_sizes(void **state)
{
	_cleanup_(freep) char *max = malloc(API_KEY_MAX + 2);
	_cleanup_(freep) char *expected = malloc(API_KEY_MAX + 1);

	assert_non_null(max);
	assert_non_null(expected);
	memset(max, 'k', API_KEY_MAX + 1);
	memcpy(expected, max, API_KEY_MAX);
	expected[API_KEY_MAX] = '\0';
	check_key(max, API_KEY_MAX, 0, expected);
	check_key(max, API_KEY_MAX + 1, -EFBIG, "is too large, expected at most 4096 bytes");
	/* The cap is on the file, newline included. */
	max[API_KEY_MAX] = '\n';
	check_key(max, API_KEY_MAX + 1, -EFBIG, "is too large");
}

static void test_api_key_errors(void **state)
{
	_cleanup_(freep) char *missing = test_tmp_path("no-such-key");
	struct endpoint_config e = key_endpoint(missing, NULL);
	struct diag_list d = {};
	char *key = NULL;

	assert_int_equal(config_read_api_key(&e, NULL, &key, &d), -ENOENT);
	assert_diag(&d, 0, DIAG_ERROR, "test.conf", 3, "Cannot read API key file '");
	assert_contains(d.items[0].message, "no-such-key': No such file or directory");
	diag_list_done(&d);

	e = key_endpoint(test_tmpdir, NULL);
	assert_int_equal(config_read_api_key(&e, NULL, &key, &d), -EBADFD);
	assert_diag(&d, 0, DIAG_ERROR, "test.conf", 3, "is not a regular file");
	diag_list_done(&d);

	/* Neither source: reported at the section. */
	e = key_endpoint(NULL, NULL);
	assert_int_equal(config_read_api_key(&e, NULL, &key, &d), -EINVAL);
	assert_diag(&d, 0, DIAG_ERROR, "test.conf", 1, "has no API key");
	diag_list_done(&d);
	assert_null(key);
}

static void test_api_key_credential(void **state)
{
	struct endpoint_config e = key_endpoint(NULL, "support-bot");
	struct diag_list d = {};
	char *key = NULL;

	free(write_text("support-bot", "app-cred\n"));

	assert_int_equal(config_read_api_key(&e, test_tmpdir, &key, &d), 0);
	assert_string_equal(key, "app-cred");
	assert_n_diags(&d, 0);
	erase_and_free(key);
	key = NULL;

	assert_int_equal(config_read_api_key(&e, NULL, &key, &d), -ENXIO);
	assert_diag(&d, 0, DIAG_ERROR, "test.conf", 3,
		    "APIKeyCredential=support-bot needs $CREDENTIALS_DIRECTORY, which is not set");
	diag_list_done(&d);
	assert_int_equal(config_read_api_key(&e, "", &key, &d), -ENXIO);
	assert_contains(d.items[0].message, "$CREDENTIALS_DIRECTORY");
	diag_list_done(&d);

	e = key_endpoint(NULL, "absent");
	assert_int_equal(config_read_api_key(&e, test_tmpdir, &key, &d), -ENOENT);
	assert_diag(&d, 0, DIAG_ERROR, "test.conf", 3, "/absent': No such file or directory");
	diag_list_done(&d);
	assert_null(key);
}

static void test_api_key_from_parsed_config(void **state)
{
	_cleanup_(freep) char *path = write_text("parsed-key", "sekrit key");
	_cleanup_(freep) char *text =
		strjoin("[Endpoint:x]\nBaseURL=https://x\n\nAPIKeyFile=", path, "\n");
	struct diag_list d = {};
	_cleanup_(config_freep) struct config *c = parse(text, &d);
	char *key = NULL;

	assert_int_equal(config_read_api_key(config_find_endpoint(c, "x"), NULL, &key, &d),
			 -EINVAL);
	assert_n_diags(&d, 1);
	assert_diag(&d, 0, DIAG_ERROR, "test.conf", 4, "contains control characters, blanks");
	assert_null(strstr(d.items[0].message, "sekrit"));
	diag_list_done(&d);
}

/* [Hook] AllowJobHooks=: a boolean, default no. */
static void test_allow_job_hooks(void **state)
{
	static const char *const yes[] = { "yes", "true", "on", "1", "YES" };
	static const char *const no[] = { "no", "false", "off", "0", "No" };
	char text[128];

	for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
		struct diag_list d = {};
		snprintf(text, sizeof(text), "[Hook]\nAllowJobHooks=no\nAllowJobHooks=%s\n",
			 yes[i]);
		_cleanup_(config_freep) struct config *c = parse(text, &d);
		assert_n_diags(&d, 0);
		assert_true(c->allow_job_hooks);
	}
	for (size_t i = 0; i < ELEMENTSOF(no); i++) {
		struct diag_list d = {};
		snprintf(text, sizeof(text), "[Hook]\nAllowJobHooks=yes\nAllowJobHooks=%s\n",
			 no[i]);
		_cleanup_(config_freep) struct config *c = parse(text, &d);
		assert_n_diags(&d, 0);
		assert_false(c->allow_job_hooks);
	}

	struct diag_list d = {};
	_cleanup_(config_freep) struct config *c =
		parse("[Hook]\nAllowJobHooks=yes\nAllowJobHooks=maybe\n", &d);
	assert_n_diags(&d, 1);
	assert_diag(&d, 0, DIAG_ERROR, "test.conf", 3,
		    "Invalid AllowJobHooks= value 'maybe', expected 'yes' or 'no'");
	assert_true(c->allow_job_hooks); /* the earlier assignment holds */
	diag_list_done(&d);
}

/* Proxy= and ProxyFromEnvironment=: what curl is told. */
static void test_proxy(void **state)
{
	struct diag_list d = {};
	_cleanup_(config_freep) struct config *c = parse(
		"[Endpoint]\nBaseURL=https://a/v1\nAPIKeyFile=/k\n"
		"[Endpoint:env]\nBaseURL=https://b/v1\nAPIKeyFile=/k\nProxyFromEnvironment=yes\n"
		"[Endpoint:px]\nBaseURL=https://c/v1\nAPIKeyFile=/k\n"
		"Proxy=http://user:pw@proxy.example:3128\nProxyFromEnvironment=yes\n"
		"[Endpoint:socks]\nBaseURL=https://d/v1\nAPIKeyFile=/k\n"
		"Proxy=socks5h://127.0.0.1:1080\n"
		"[Endpoint:reset]\nBaseURL=https://e/v1\nAPIKeyFile=/k\n"
		"Proxy=http://p:1\nProxy=\n",
		&d);

	assert_int_equal(config_verify(c, &d), 0);
	assert_n_diags(&d, 0);
	/* default: no proxy, whatever the environment says */
	assert_null(config_find_endpoint(c, NULL)->proxy);
	assert_false(config_find_endpoint(c, NULL)->proxy_from_env);
	assert_string_equal(config_endpoint_proxy(config_find_endpoint(c, NULL)), "");
	/* the environment's, when asked for */
	assert_null(config_endpoint_proxy(config_find_endpoint(c, "env")));
	/* Proxy= wins over the environment */
	assert_string_equal(config_endpoint_proxy(config_find_endpoint(c, "px")),
			    "http://user:pw@proxy.example:3128");
	assert_string_equal(config_endpoint_proxy(config_find_endpoint(c, "socks")),
			    "socks5h://127.0.0.1:1080");
	assert_string_equal(config_endpoint_proxy(config_find_endpoint(c, "reset")), "");
}

static void test_proxy_invalid(void **state)
{
	static const char *const bad[] = {
		"proxy.example:3128", "ftp://proxy.example", "http://",
		"http:///x",	      "http://pro xy:1",     "http://user:s3cret@"
	};
	char text[256];

	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		struct diag_list d = {};
		snprintf(text, sizeof(text),
			 "[Endpoint]\nBaseURL=https://a/v1\nProxy=http://ok:1\nProxy=%s\n", bad[i]);
		_cleanup_(config_freep) struct config *c = parse(text, &d);
		assert_n_diags(&d, 1);
		assert_diag(&d, 0, DIAG_ERROR, "test.conf", 4,
			    "Invalid Proxy= value, expected a URL");
		/* a proxy URL may hold a password: the value is not repeated */
		if (strstr(bad[i], "s3cret")) {
			assert_null(strstr(d.items[0].message, "s3cret"));
		}
		assert_string_equal(config_find_endpoint(c, NULL)->proxy, "http://ok:1");
		diag_list_done(&d);
	}

	struct diag_list d = {};
	_cleanup_(config_freep) struct config *c =
		parse("[Endpoint]\nBaseURL=https://a/v1\nProxyFromEnvironment=sometimes\n", &d);
	assert_non_null(c);
	assert_n_diags(&d, 1);
	assert_diag(&d, 0, DIAG_ERROR, "test.conf", 3, "Invalid ProxyFromEnvironment= value");
	diag_list_done(&d);
}

/* Plain http:// through a proxy: the proxy sees the key. */
static void test_proxy_plain_http_warning(void **state)
{
	struct diag_list d = {};
	_cleanup_(config_freep) struct config *c =
		parse("[Endpoint]\nBaseURL=http://127.0.0.1:8080/v1\nAPIKeyFile=/k\n"
		      "Proxy=http://proxy:3128\n",
		      &d);

	assert_int_equal(config_verify(c, &d), 0);
	assert_n_diags(&d, 1);
	assert_diag(
		&d, 0, DIAG_WARNING, "test.conf", 1,
		"uses plain http:// through Proxy=: the proxy sees every request, the API key included");
	diag_list_done(&d);
}

/* A key file others may read works, with a warning naming it. */
static void test_api_key_file_mode(void **state)
{
	static const mode_t modes[] = { 0644, 0666, 0640, 0604, 0620 };
	_cleanup_(freep) char *path = write_tmp("key-mode", "app-abc123\n", 11);
	struct endpoint_config e = key_endpoint(path, NULL);

	for (size_t i = 0; i < ELEMENTSOF(modes); i++) {
		struct diag_list d = {};
		char *key = NULL, want[32];

		assert_int_equal(chmod(path, modes[i]), 0);
		assert_int_equal(config_read_api_key(&e, NULL, &key, &d), 0);
		assert_string_equal(key, "app-abc123");
		erase_and_free(key);
		assert_n_diags(&d, 1);
		assert_diag(&d, 0, DIAG_WARNING, "test.conf", 3,
			    "is readable or writable by users other than its owner");
		assert_contains(d.items[0].message, path);
		snprintf(want, sizeof(want), "(mode %04o)", (unsigned)modes[i]);
		assert_contains(d.items[0].message, want);
		assert_null(strstr(d.items[0].message, "app-abc123"));
		diag_list_done(&d);
	}
	/* owner-only modes are quiet */
	static const mode_t quiet[] = { 0600, 0400, 0700 };
	for (size_t i = 0; i < ELEMENTSOF(quiet); i++) {
		struct diag_list d = {};
		char *key = NULL;

		assert_int_equal(chmod(path, quiet[i]), 0);
		assert_int_equal(config_read_api_key(&e, NULL, &key, &d), 0);
		erase_and_free(key);
		assert_n_diags(&d, 0);
	}
}

/* good_endpoint is lines 1-3: the text given to parse_verify() starts at line 4. */
static const char good_kind[] = "[Kind:batch]\n"
				"StatusPath=/batches/{id}\n"
				"StatusField=/status\n"
				"ErrorField=/errors/data/0/message\n"
				"Completed=completed\n"
				"Failed=failed expired\n"
				"Running=validating in_progress\n"
				"GoneStatus=404\n";

static void test_kinds(void **state)
{
	struct diag_list d = {};
	struct config *c;
	const struct kind_def *k;

	c = parse_verify(good_kind, &d);
	assert_n_diags(&d, 0);
	assert_int_equal(c->n_kinds, 1);
	k = config_find_kind(c, "batch");
	assert_non_null(k);
	assert_null(config_find_kind(c, "Batch")); /* exact bytes */
	assert_string_equal(k->file, "test.conf");
	assert_int_equal(k->line, 4);
	assert_string_equal(k->status_path, "/batches/{id}");
	assert_true(k->has_status && k->has_error);
	assert_int_equal(kinddef_classify_word(k, "completed"), KINDDEF_CLASS_COMPLETED);
	assert_int_equal(kinddef_classify_word(k, "expired"), KINDDEF_CLASS_FAILED);
	assert_int_equal(kinddef_classify_word(k, "in_progress"), KINDDEF_CLASS_RUNNING);
	assert_int_equal(kinddef_classify_word(k, "cancelling"), KINDDEF_CLASS_UNKNOWN);
	assert_true(kinddef_is_gone(k, 404));
	assert_false(kinddef_is_gone(k, 400));
	config_free(c);

	/* A second section of the same name continues the first: lists add up,
	 * an empty value empties one, other keys take the last value. */
	c = parse_verify(
		"[Kind:k]\nStatusPath=/a/{id}\nStatusField=/s\nCompleted=done\n"
		"Failed=bad\n[Daemon]\nMaxJobs=5\n"
		"[Kind:k]\nCompleted=finished\nFailed=\nFailed=broken\nStatusPath=/b/{id}\n",
		&d);
	assert_n_diags(&d, 0);
	assert_int_equal(c->n_kinds, 1);
	k = config_find_kind(c, "k");
	assert_int_equal(k->line, 4); /* the first header */
	assert_string_equal(k->status_path, "/b/{id}");
	assert_int_equal(kinddef_classify_word(k, "done"), KINDDEF_CLASS_COMPLETED);
	assert_int_equal(kinddef_classify_word(k, "finished"), KINDDEF_CLASS_COMPLETED);
	assert_int_equal(kinddef_classify_word(k, "bad"), KINDDEF_CLASS_UNKNOWN);
	assert_int_equal(kinddef_classify_word(k, "broken"), KINDDEF_CLASS_FAILED);
	config_free(c);

	/* Two kinds, in order of first appearance. */
	c = parse_verify("[Kind:b]\nStatusPath=/b/{id}\nStatusField=/s\nCompleted=ok\n"
			 "[Kind:a]\nStatusPath=/a/{Region}/{id}\nStatusField=/s\nCompleted=ok\n",
			 &d);
	assert_n_diags(&d, 0);
	assert_int_equal(c->n_kinds, 2);
	assert_string_equal(c->kinds[0]->name, "b");
	assert_string_equal(c->kinds[1]->name, "a");
	assert_int_equal(c->kinds[1]->n_keys, 1);
	assert_string_equal(c->kinds[1]->keys[0], "Region");
	config_free(c);
}

/* parse_verify(text): exactly one diagnostic, an error at test.conf:line. */
static void check_one_error(const char *text, unsigned line, const char *message)
{
	struct diag_list d = {};
	struct config *c = parse_verify(text, &d);

	assert_n_diags(&d, 1);
	assert_diag(&d, 0, DIAG_ERROR, "test.conf", line, message);
	config_free(c);
	diag_list_done(&d);
}

static void test_kind_mistakes(void **state)
{
	/* An invalid name: one error, its keys dropped without a word each. */
	check_one_error("[Kind:bad name]\nStatusPath=/x\nNope=1\nCompleted=\n", 4,
			"Invalid kind name 'bad name' in [Kind:NAME]");
	check_one_error("[Kind:]\nStatusPath=/x\n", 4, "Invalid kind name '' in [Kind:NAME]");
	/* A built-in kind's name, in any letter case. */
	check_one_error("[Kind:Workflow-Run]\nStatusPath=/x/{id}\n", 4,
			"[Kind:Workflow-Run] clashes with the built-in kind 'workflow-run'");
	check_one_error("[Kind:annotation-reply]\n", 4,
			"clashes with the built-in kind 'annotation-reply'");

	check_one_error("[Kind:k]\nStatusPath=/x/{id}\nStatusField=status\nCompleted=ok\n"
			"StatusField=/s\n",
			6,
			"Invalid StatusField= value 'status', expected a JSON pointer (RFC 6901)");
	check_one_error("[Kind:k]\nStatusPath=/x/{id}\nStatusField=/s\nCompleted=ok\n"
			"ErrorField=/a~2\n",
			8, "Invalid ErrorField= value '/a~2', expected a JSON pointer (RFC 6901)");
	check_one_error(
		"[Kind:k]\nStatusPath=/x/{id}\nStatusField=/s\nCompleted=ok done\n"
		"Running=queued\nFailed=failed done\n",
		9, "Status 'done' is in both Completed= (line 7) and Failed= (line 9) of [Kind:k]");
	check_one_error("[Kind:k]\nStatusPath=/x/{id}\nStatusField=/s\nFailed=failed\n", 4,
			"[Kind:k] has no Completed= status");
	/* emptied by a later line */
	check_one_error("[Kind:k]\nStatusPath=/x/{id}\nStatusField=/s\nCompleted=ok\nCompleted=\n",
			4, "[Kind:k] has no Completed= status");
	check_one_error("[Kind:k]\nStatusField=/s\nCompleted=ok\n", 4,
			"[Kind:k] has no StatusPath=");
	check_one_error("[Kind:k]\nStatusPath=/x/{id}\nCompleted=ok\n", 4,
			"[Kind:k] has no StatusField=");
	check_one_error("[Kind:k]\nStatusPath=/x/{id}/{foo}\nStatusPath=/x/{id}\n"
			"StatusField=/s\nCompleted=ok\n",
			5,
			"Invalid StatusPath= value '/x/{id}/{foo}': unknown placeholder '{foo}'");
	check_one_error("[Kind:k]\nStatusPath=/x/{Dataset}/{id}\nStatusPath=/x/{id}\n"
			"StatusField=/s\nCompleted=ok\n",
			5,
			"placeholder '{Dataset}' names a job file key with a meaning of its own");
	check_one_error("[Kind:k]\nStatusPath=/x/{Region}\nStatusPath=/x/{id}\n"
			"StatusField=/s\nCompleted=ok\n",
			5, "{id} (the job file's JobID=) is missing");
	check_one_error("[Kind:k]\nStatusPath=/x/{id}\nStatusField=/s\nCompleted=ok\n"
			"GoneStatus=404 429\n",
			8, "Invalid GoneStatus= value '404 429'");
	{
		struct diag_list d = {};
		struct config *c = parse_verify(
			"[Kind:k]\nStatusPath=/x/{id}\nStatusField=/s\nCompleted=ok\nPoll=1\n", &d);
		assert_n_diags(&d, 1);
		assert_diag(&d, 0, DIAG_WARNING, "test.conf", 8,
			    "Unknown key 'Poll' in section [Kind:k], ignoring");
		config_free(c);
		diag_list_done(&d);
	}
}

static void test_kind_dropin(void **state)
{
	_cleanup_(freep) char *main_conf = NULL, *dir = test_tmp_path("kinds.conf.d");
	_cleanup_(freep) char *a = NULL, *b = NULL;
	struct config *c = NULL;
	struct diag_list d = {};
	const struct kind_def *k;
	char buf[256];

	main_conf = write_text("kinds.conf", "[Endpoint]\nBaseURL=https://x/v1\nAPIKeyFile=/k\n"
					     "[Kind:k]\nStatusPath=/x/{id}\nStatusField=/s\n"
					     "Completed=ok\nRunning=busy\n");
	assert_int_equal(mkdir(dir, 0700), 0);
	a = write_text("kinds.conf.d/a.conf", "[Kind:k]\nStatusField=/state\nGoneStatus=410\n");
	assert_int_equal(config_load(main_conf, true, &c, &d), 0);
	assert_n_diags(&d, 0);
	assert_int_equal(c->n_kinds, 1);
	k = config_find_kind(c, "k");
	assert_string_equal(k->file, main_conf);
	assert_int_equal(k->line_status, 2);
	assert_int_equal(kinddef_classify_word(k, "busy"), KINDDEF_CLASS_RUNNING);
	assert_true(kinddef_is_gone(k, 410));
	config_free(c);

	/* A word a drop-in puts in a second list: reported in the drop-in,
	 * naming the other line's file. */
	b = write_text("kinds.conf.d/b.conf", "\n[Kind:k]\nFailed=busy\n");
	assert_int_equal(config_load(main_conf, true, &c, &d), 0);
	assert_n_diags(&d, 1);
	(void)snprintf(buf, sizeof(buf),
		       "Status 'busy' is in both Failed= (line 3) and Running= (line 8 of %s)",
		       main_conf);
	assert_diag(&d, 0, DIAG_ERROR, b, 3, buf);
	config_free(c);
	diag_list_done(&d);

	/* A drop-in that names a built-in kind. */
	free(write_text("kinds.conf.d/b.conf", "[Kind:document-indexing]\nCompleted=x\n"));
	assert_int_equal(config_load(main_conf, true, &c, &d), 0);
	assert_n_diags(&d, 1);
	assert_diag(&d, 0, DIAG_ERROR, b, 1, "clashes with the built-in kind");
	assert_int_equal(c->n_kinds, 1);
	config_free(c);
	diag_list_done(&d);
}

static void test_auth_header(void **state)
{
	struct diag_list d = {};
	struct config *c;
	const struct endpoint_config *e;

	c = parse_verify("", &d);
	assert_n_diags(&d, 0);
	assert_null(c->endpoints[0].headers.auth);
	assert_string_equal(authheader_template(&c->endpoints[0].headers),
			    "Authorization: Bearer {key}");
	config_free(c);

	c = parse_verify("AuthHeader=x-api-key:{key}\nHeader=anthropic-version:  2023-06-01 \n"
			 "Header=X-A: 1\nHeader=\nHeader=X-B: 2\n",
			 &d);
	assert_n_diags(&d, 0);
	e = &c->endpoints[0];
	assert_string_equal(e->headers.auth, "x-api-key: {key}");
	assert_int_equal(e->headers.line_auth, 4);
	assert_int_equal(e->headers.n_extra, 1);
	assert_string_equal(e->headers.extra[0], "X-B: 2");
	assert_int_equal(e->headers.extra_lines[0], 8);
	config_free(c);

	/* per endpoint */
	c = parse_verify("[Endpoint:o]\nBaseURL=https://o\nAPIKeyFile=/k\n"
			 "AuthHeader=api-key: {key}\n[Endpoint:o]\nHeader=OpenAI-Beta: v2\n",
			 &d);
	assert_n_diags(&d, 0);
	assert_null(config_find_endpoint(c, NULL)->headers.auth);
	e = config_find_endpoint(c, "o");
	assert_string_equal(e->headers.auth, "api-key: {key}");
	assert_string_equal(e->headers.extra[0], "OpenAI-Beta: v2");
	config_free(c);

	/* an empty AuthHeader= is the default again */
	c = parse_verify("AuthHeader=x-api-key: {key}\nAuthHeader=\n", &d);
	assert_n_diags(&d, 0);
	assert_null(c->endpoints[0].headers.auth);
	config_free(c);
}

static void test_auth_header_mistakes(void **state)
{
	check_one_error("AuthHeader=x-api-key: abc\n", 4,
			"Invalid AuthHeader= value 'x-api-key: abc': the value must contain {key}");
	check_one_error("AuthHeader=x-api-key: {key}{key}\n", 4, "exactly once");
	check_one_error("AuthHeader={key}\n", 4, "expected 'Name: value'");
	check_one_error("Header=X-A: a\rb\n", 4, "a control character (a header is one line)");
	check_one_error(
		"AuthHeader=x-api-key: {key}\rX-B: 1\n", 4,
		"Invalid AuthHeader= value 'x-api-key: {key}\\x0dX-B: 1': a control character");
	check_one_error(
		"Header=Host: evil.example\n", 4,
		"Invalid Header= value 'Host: evil.example': that header is set by the HTTP layer");
	check_one_error("Header=content-length: 5\n", 4, "set by the HTTP layer");
	check_one_error("AuthHeader=Proxy-Authorization: Bearer {key}\n", 4,
			"set by the HTTP layer");
	check_one_error("Header=Authorization: Basic abc\n", 4,
			"Authorization belongs in AuthHeader=");
	check_one_error("Header=X-Key: {key}\n", 4, "{key} belongs in AuthHeader= only");
	check_one_error("Header=X A: 1\n", 4, "the header name is not an HTTP token");
	/* Header= naming the auth header: found once every line is read, in any
	 * order and letter case */
	check_one_error("Header=X-API-Key: 1\nAuthHeader=x-api-key: {key}\n", 4,
			"Header= names 'X-API-Key', the header AuthHeader= carries the key in");
	check_one_error("[Endpoint:z]\nBaseURL=https://z\nAPIKeyFile=/k\nHeader=X-A: 1\n"
			"AuthHeader=x-a: {key}\n",
			7, "Header= names 'X-A'");
}

static void test_auth_header_dropin(void **state)
{
	_cleanup_(freep) char *main_conf = NULL, *dir = test_tmp_path("hdr.conf.d");
	_cleanup_(freep) char *a = NULL;
	struct config *c = NULL;
	struct diag_list d = {};

	main_conf = write_text("hdr.conf", "[Endpoint]\nBaseURL=https://x/v1\nAPIKeyFile=/k\n"
					   "AuthHeader=x-api-key: {key}\n");
	assert_int_equal(mkdir(dir, 0700), 0);
	a = write_text("hdr.conf.d/a.conf", "[Endpoint]\nHeader=X-Ok: 1\nHeader=X-Api-Key: 2\n");
	assert_int_equal(config_load(main_conf, true, &c, &d), 0);
	assert_n_diags(&d, 1);
	assert_diag(&d, 0, DIAG_ERROR, a, 3, "Header= names 'X-Api-Key'");
	config_free(c);
	diag_list_done(&d);

	/* the drop-in moves the key to another header: no conflict left */
	free(write_text("hdr.conf.d/a.conf", "[Endpoint]\nAuthHeader=\nHeader=X-Api-Key: 2\n"));
	assert_int_equal(config_load(main_conf, true, &c, &d), 0);
	assert_n_diags(&d, 0);
	assert_null(c->endpoints[0].headers.auth);
	config_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_contract_example),
		cmocka_unit_test(test_every_key),
		cmocka_unit_test(test_bounds_accepted),
		cmocka_unit_test(test_invalid_values),
		cmocka_unit_test(test_unknown),
		cmocka_unit_test(test_endpoint_sections),
		cmocka_unit_test(test_later_wins),
		cmocka_unit_test(test_binary),
		cmocka_unit_test(test_verify_poll),
		cmocka_unit_test(test_verify_endpoints),
		cmocka_unit_test(test_verify_other),
		cmocka_unit_test(test_http_version_strings),
		cmocka_unit_test(test_load),
		cmocka_unit_test(test_load_missing),
		cmocka_unit_test(test_load_dropin_errors),
		cmocka_unit_test(test_api_key_file),
		cmocka_unit_test(test_api_key_sizes),
		cmocka_unit_test(test_api_key_errors),
		cmocka_unit_test(test_api_key_credential),
		cmocka_unit_test(test_api_key_from_parsed_config),
		cmocka_unit_test(test_allow_job_hooks),
		cmocka_unit_test(test_proxy),
		cmocka_unit_test(test_proxy_invalid),
		cmocka_unit_test(test_proxy_plain_http_warning),
		cmocka_unit_test(test_api_key_file_mode),
		cmocka_unit_test(test_kinds),
		cmocka_unit_test(test_kind_mistakes),
		cmocka_unit_test(test_kind_dropin),
		cmocka_unit_test(test_auth_header),
		cmocka_unit_test(test_auth_header_mistakes),
		cmocka_unit_test(test_auth_header_dropin),
	};

	return cmocka_run_group_tests(tests, test_tmpdir_setup, test_tmpdir_teardown);
}
