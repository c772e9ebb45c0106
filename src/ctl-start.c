/* SPDX-License-Identifier: MIT */
/*
 * jobwatchctl start: POST the start of a job to Dify with the endpoint's key
 * (read as jobwatchd reads it, never printed), then add it as add does, and
 * with --wait wait for it as wait does.
 */
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config-paths.h"
#include "ctl.h"
#include "curl-util.h"
#include "dify.h"
#include "escape.h"
#include "redact.h"
#include "response.h"
#include "memory-util.h"
#include "parse-util.h"
#include "string-util.h"
#include "uuid-util.h"

#define START_TIMEOUT_MS 30000L /* one POST to Dify */
#define ERROR_SNIPPET_MAX 300 /* bytes of a server's error text we show */

struct http_answer {
	char *body; /* owned, NUL-terminated */
	size_t len;
	bool too_large;
	long code;
	curl_off_t retry_after;
	char *redirect; /* owned copy of the Location, or NULL */
	char error[CURL_ERROR_SIZE];
};

static void http_answer_done(struct http_answer *a)
{
	free(a->body);
	free(a->redirect);
}

static size_t on_curl_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct http_answer *a = userdata;
	size_t n = size * nmemb;
	char *b;

	if (a->len + n > RESPONSE_BODY_MAX) {
		a->too_large = true;
		return 0; /* curl ends the transfer with CURLE_WRITE_ERROR */
	}
	b = realloc(a->body, a->len + n + 1);
	if (!b) {
		return 0;
	}
	memcpy(b + a->len, ptr, n);
	a->len += n;
	b[a->len] = '\0';
	a->body = b;
	return n;
}

/* POST body to url with the endpoint's key; the answer in *a. Prints and
 * returns a negative errno when no HTTP answer arrived. */
/* Long (about 120 lines): one transfer's options in a row, each checked, and
 * the key's copies erased right after it, in the same function that holds
 * them. */
static int http_post(const struct endpoint_config *e, const char *url, const char *body,
		     struct http_answer *a)
{
	_cleanup_(diag_list_donep) struct diag_list diags = { 0 };
	static const char *const defaults[] = { "Content-Type: application/json",
						"Accept: application/json", NULL };
	_cleanup_(erase_and_freep) char *key = NULL;
	_cleanup_(curl_easy_cleanupp) CURL *c = NULL;
	struct curl_slist *headers = NULL;
	const char *option = NULL;
	CURLcode cc;
	char *loc = NULL;
	int r;

	r = config_read_api_key(e, getenv("CREDENTIALS_DIRECTORY"), &key, &diags);
	if (r < 0) {
		diag_list_print(&diags, stderr, "jobwatchctl: ", false, NULL, NULL);
		return r == -ENOMEM ? ctl_fail(r, "out of memory") : r;
	}
	diag_list_print(&diags, stderr, "jobwatchctl: ", true, NULL,
			NULL); /* a key file others can read */
	headers = curl_headers_build(&e->headers, key, defaults, &r);
	if (!headers) {
		/* the key is not named: only that it cannot be sent */
		return r == -ENOMEM
			       ? ctl_fail(r, "out of memory")
			       : ctl_fail(
					 r,
					 "%s:%u: the API key of endpoint '%s' cannot be put into its header '%s'",
					 e->file, e->line, e->name,
					 authheader_template(&e->headers));
	}
	c = curl_easy_init();
	if (!c) {
		curl_slist_erase_and_free(headers);
		return ctl_fail(-ENOMEM, "cannot set up libcurl");
	}

	/* The daemon's security options (no redirects, http and https only,
	 * TLS verified), then ours; every result checked: a request sent
	 * without one of them must not go out. */
	r = curl_easy_set_security(c, "jobwatchctl/" JOBWATCH_VERSION, &option);
	cc = CURLE_OK;
#define SET(opt, val)                                                                              \
	do {                                                                                       \
		if (r >= 0 && cc == CURLE_OK) {                                                    \
			cc = curl_easy_setopt(c, opt, val);                                        \
			option = #opt;                                                             \
		}                                                                                  \
	} while (0)
	SET(CURLOPT_URL, url);
	SET(CURLOPT_POSTFIELDS, body);
	SET(CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	SET(CURLOPT_HTTPHEADER, headers);
	SET(CURLOPT_TIMEOUT_MS, START_TIMEOUT_MS);
	SET(CURLOPT_HTTP_VERSION, curl_http_version_of(e->http_version));
	if (e->ca_file) {
		SET(CURLOPT_CAINFO, e->ca_file);
	}
	SET(CURLOPT_WRITEFUNCTION, on_curl_write);
	SET(CURLOPT_WRITEDATA, a);
	SET(CURLOPT_ERRORBUFFER, a->error);
#undef SET
	if (r >= 0) {
		r = curl_code_to_errno(cc);
	}
	if (r >= 0) {
		/* Proxy= and ProxyFromEnvironment=, as the daemon does */
		r = curl_set_proxy(c, config_endpoint_proxy(e));
		if (r < 0) {
			option = "CURLOPT_PROXY";
		}
	}
	if (r < 0) {
		(void)curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
		curl_slist_erase_and_free(headers);
		return ctl_fail(
			r, "cannot set up the request to endpoint '%s': libcurl refused %s: %s",
			e->name, option, strerror(-r));
	}

	cc = curl_easy_perform(c);
	/* curl keeps no copy of the list: erase the key's copies now */
	(void)curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
	curl_slist_erase_and_free(headers);

	/* A server that echoes the request puts the key into its answer, which
	 * is printed: replace it before anything reads the answer. */
	if (redact_needed(a->body, a->len, key)) {
		size_t n;
		char *clean = redact(a->body, a->len, key, &n);
		if (!clean) {
			return ctl_fail(-ENOMEM, "out of memory");
		}
		erase_secret(a->body, a->len);
		free(a->body);
		a->body = clean;
		a->len = n;
	}
	(void)curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &a->code);
	if (cc == CURLE_WRITE_ERROR && a->too_large) {
		return 0; /* an answer, with a body we refuse to read */
	}
	if (cc != CURLE_OK) {
		return ctl_fail(-EIO, "cannot reach endpoint '%s' at %s: %s", e->name, url,
				a->error[0] ? a->error : curl_easy_strerror(cc));
	}
	(void)curl_easy_getinfo(c, CURLINFO_RETRY_AFTER, &a->retry_after);
	if (curl_easy_getinfo(c, CURLINFO_REDIRECT_URL, &loc) == CURLE_OK && loc) {
		size_t n;
		a->redirect = redact(loc, strlen(loc), key, &n);
	}
	return 0;
}

/* One line about an error answer: Dify's message, or the body when the
 * message is not a string (reqparse gives an object per field). */
static void error_text(const struct http_answer *a, const struct response *resp, bool parsed,
		       char *buf, size_t size)
{
	buf[0] = '\0';
	if (parsed && resp->is_object && resp->has_message) {
		ctl_snippet(buf, size, resp->message, strlen(resp->message));
	} else if (parsed && resp->is_object && a->body) {
		ctl_snippet(buf, size, a->body, a->len);
	}
}

static const char *key_source(const struct endpoint_config *e, char *buf, size_t size)
{
	if (e->api_key_file) {
		snprintf(buf, size, "APIKeyFile=%s", e->api_key_file);
	} else {
		snprintf(buf, size, "APIKeyCredential=%s", strempty(e->api_key_credential));
	}
	return buf;
}

/* Why endpoint e did not start the job (an answer other than 200), with
 * what to do about it; msg is Dify's message, or "". */
static void say_refused(const struct http_answer *a, const struct endpoint_config *e,
			const char *url, enum job_action action, const char *msg)
{
	char src[PATH_MAX + 32];
	char suffix[ERROR_SNIPPET_MAX + 16] = "";

	if (msg[0]) {
		snprintf(suffix, sizeof(suffix), ": %s", msg);
	}
	if (a->code == 401 || a->code == 403) {
		ctl_fail(
			-EPROTO,
			"the API key was refused by endpoint '%s' (HTTP %ld%s): check the key in %s",
			e->name, a->code, suffix, key_source(e, src, sizeof(src)));
	} else if (a->code == 409) {
		ctl_fail(
			-EPROTO,
			"another job ('%s') is running for this app on endpoint '%s' (HTTP 409%s; no Dify release answers so, a proxy or a modified server in front of it does): wait until it ends (jobwatchctl list), then try again",
			job_action_to_string(action == JOB_ACTION_ENABLE ? JOB_ACTION_DISABLE
									 : JOB_ACTION_ENABLE),
			e->name, suffix);
	} else if (a->code == 429 && a->retry_after > 0) {
		ctl_fail(-EPROTO,
			 "rate limited by endpoint '%s' (HTTP 429%s), try again in %" PRId64 " s",
			 e->name, suffix, (int64_t)a->retry_after);
	} else if (a->code == 429) {
		ctl_fail(-EPROTO, "rate limited by endpoint '%s' (HTTP 429%s), try again later",
			 e->name, suffix);
	} else if (a->code == 400 || a->code == 415 || a->code == 422) {
		ctl_fail(-EPROTO, "endpoint '%s' refused the request (HTTP %ld%s)", e->name,
			 a->code, suffix);
	} else if (a->code == 404) {
		ctl_fail(
			-EPROTO,
			"endpoint '%s' has no annotation-reply API at %s (HTTP 404%s): check BaseURL= (it usually ends in /v1)",
			e->name, url, suffix);
	} else if (a->code >= 300 && a->code < 400) {
		ctl_fail(
			-EPROTO,
			"endpoint '%s' redirects %s (HTTP %ld) to %s: set BaseURL= to the address it names",
			e->name, url, a->code, a->redirect ? a->redirect : "(no Location)");
	} else if (a->code >= 500) {
		ctl_fail(-EPROTO,
			 "endpoint '%s' failed (HTTP %ld%s); nothing was started, try again later",
			 e->name, a->code, suffix);
	} else {
		ctl_fail(-EPROTO, "endpoint '%s' answered HTTP %ld%s", e->name, a->code, suffix);
	}
}

/* Long (about 125 lines): the command's steps in the order a user sees them
 * (check, load, POST, read the answer, add, wait), each with its message. */
enum ctl_exit verb_start(char **args, size_t n)
{
	_cleanup_(config_freep) struct config *c = NULL;
	_cleanup_(freep) char *body = NULL, *url = NULL, *path = NULL;
	struct http_answer a = { 0 };
	struct response resp = { 0 };
	const struct endpoint_config *e;
	char perr[160], msg[ERROR_SNIPPET_MAX + 8];
	enum job_action action = JOB_ACTION_ENABLE;
	bool parsed = false, already;
	uint8_t id[16];
	double score;
	size_t url_size;
	int r;

	assert(n == 1);
	if (ctl_parse_action(args[0], &action) < 0 || ctl_check_description(arg_description) < 0) {
		return CTL_EXIT_FAILURE;
	}
	if (!arg_score_threshold || !arg_provider || !arg_model) {
		return ctl_usage_error(
			"start",
			"start needs --score-threshold, --embedding-provider and --embedding-model");
	}
	if (safe_atod(arg_score_threshold, &score) < 0 || !(score >= 0.0 && score <= 1.0)) {
		ctl_fail(-EINVAL, "invalid --score-threshold '%s', expected a number from 0 to 1",
			 arg_score_threshold);
		return CTL_EXIT_USAGE;
	}
	if (isempty(arg_provider) || isempty(arg_model)) {
		ctl_fail(-EINVAL, "--embedding-provider and --embedding-model must not be empty");
		return CTL_EXIT_USAGE;
	}
	if (ctl_load_config(true, &c) < 0) {
		return CTL_EXIT_FAILURE;
	}
	e = ctl_find_endpoint(c, arg_endpoint);
	if (!e) {
		return CTL_EXIT_FAILURE;
	}
	/* Check where the job goes before starting it on Dify. */
	if (access(ctl_jobs_dir(c), W_OK) < 0) {
		r = -errno;
		ctl_fail(
			r,
			"cannot write to the jobs directory '%s': %s; nothing was started (name the directory jobwatchd watches with --jobs-dir, or run as a user who may write there)",
			ctl_jobs_dir(c), strerror(-r));
		return CTL_EXIT_FAILURE;
	}
	body = dify_start_body(score, arg_provider, arg_model, &r);
	url_size = strlen(e->base_url) + 64;
	url = malloc(url_size);
	if (!body || !url) {
		ctl_fail(-ENOMEM, r == -EINVAL ? "invalid start parameters" : "out of memory");
		return CTL_EXIT_FAILURE;
	}
	if (dify_start_url(url, url_size, e->base_url, action) < 0) {
		ctl_fail(-ENOMEM, "out of memory");
		return CTL_EXIT_FAILURE;
	}

	r = http_post(e, url, body, &a);
	if (r < 0) {
		http_answer_done(&a);
		return CTL_EXIT_FAILURE;
	}
	if (a.body && !a.too_large) {
		parsed = response_parse(a.body, a.len, &resp, perr, sizeof(perr)) >= 0;
	}
	error_text(&a, &resp, parsed, msg, sizeof(msg));

	if (a.code != 200) {
		say_refused(&a, e, url, action, msg);
		http_answer_done(&a);
		return CTL_EXIT_FAILURE;
	}

	if (!parsed || !resp.is_object || resp.bad_shape || !resp.has_job_id ||
	    !resp.has_job_status || uuid_from_string(resp.job_id, id) < 0) {
		char b[ERROR_SNIPPET_MAX + 8];
		ctl_snippet(b, sizeof(b), strempty(a.body), a.len);
		ctl_fail(
			-EPROTO,
			"unexpected answer from endpoint '%s' (HTTP 200%s): '%s'; the job may have started, see the app's annotation settings",
			e->name, a.too_large ? ", body too large" : "", b);
		http_answer_done(&a);
		return CTL_EXIT_FAILURE;
	}
	http_answer_done(&a);

	char ids[KIND_ID_STRING_MAX];
	uuid_to_string(id, ids);
	already = !streq(resp.job_status, "waiting");
	if (already) {
		/* Not Dify's: every Dify release answers a start with a new
		 * "waiting" job (DIFY.md). A proxy or a modified server may hand
		 * out the job already running ("processing"): tolerated. */
		char st[RESPONSE_SHORT_MAX * 4];
		printf("a job of this action is already running on this app: %s (%s); no Dify release answers so (a proxy or a modified server?)\n",
		       ids,
		       escape_text_buf(st, sizeof(st), resp.job_status, strlen(resp.job_status)));
	}
	struct kind_ident ident = { .kind = KIND_ANNOTATION_REPLY, .action = (uint8_t)action };
	memcpy(ident.id, id, sizeof(ident.id));
	r = ctl_add_job(c, &ident, e->name, arg_description, &path);
	if (r == -EEXIST) {
		/* another file's name: escaped */
		char p[PATH_MAX];
		printf("job %s (%s) on endpoint '%s' is already watched in %s\n", ids,
		       job_action_to_string(action), e->name,
		       escape_text_buf(p, sizeof(p), path, strlen(path)));
	} else if (r < 0) {
		ctl_fail(
			r,
			"job %s was started on Dify but could not be added; add it with: jobwatchctl add --endpoint %s %s %s",
			ids, e->name, job_action_to_string(action), ids);
		return CTL_EXIT_FAILURE;
	} else if (already) {
		printf("watching job %s (%s) on endpoint '%s' in %s\n", ids,
		       job_action_to_string(action), e->name, path);
	} else {
		printf("started %s (%s) on endpoint '%s'; watching it in %s\n", ids,
		       job_action_to_string(action), e->name, path);
	}
	fflush(stdout);
	if (!arg_wait) {
		return CTL_EXIT_SUCCESS;
	}
	return ctl_wait_for_jobs((const char(*)[KIND_ID_STRING_MAX])ids, 1);
}
