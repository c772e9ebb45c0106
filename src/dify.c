/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <strings.h>

#include "backoff.h"
#include "dify.h"
#include "string-util.h"
#include "uuid-util.h"

static const char *const status_table[_DIFY_STATUS_MAX] = {
	[DIFY_STATUS_WAITING] = "waiting",
	[DIFY_STATUS_COMPLETED] = "completed",
	[DIFY_STATUS_ERROR] = "error",
	[DIFY_STATUS_OTHER] = "other",
};

const char *dify_status_to_string(enum dify_status s)
{
	return (unsigned)s < _DIFY_STATUS_MAX ? status_table[s] : "other";
}

enum dify_status dify_status_from_string(const char *s)
{
	for (unsigned i = 0; i < DIFY_STATUS_OTHER; i++) {
		if (streq(s, status_table[i])) {
			return (enum dify_status)i;
		}
	}
	return DIFY_STATUS_OTHER;
}

const char *poll_kind_to_string(enum poll_kind k)
{
	static const char *const table[_POLL_KIND_MAX] = {
		[POLL_STATUS] = "status",	    [POLL_GONE] = "gone",
		[POLL_AUTH] = "unauthorized",	    [POLL_RATE_LIMITED] = "rate-limited",
		[POLL_UNAVAILABLE] = "unavailable", [POLL_SERVER_ERROR] = "server-error",
		[POLL_HTTP_ERROR] = "http-error",   [POLL_BAD_BODY] = "bad-body",
		[POLL_TRANSFER] = "transfer",
	};
	return (unsigned)k < _POLL_KIND_MAX ? table[k] : "invalid";
}

/* Dify's "does not exist" (kind.h): a 404 from the router (HTML, or
 * werkzeug's JSON) does not carry the message. */
static bool is_job_gone(const struct kind *k, long http_code, const struct response *r)
{
	if (!r || !r->is_object || !r->has_message ||
	    !kind_is_gone_message(k, http_code, r->message)) {
		return false;
	}
	/* CONTRACT: code invalid_param or not_found (older Dify sends the first
	 * with 400, newer the second with 404; either is accepted with either) */
	return !r->has_code || streq(r->code, "invalid_param") || streq(r->code, "not_found");
}

bool dify_classify_http(enum transfer_error transfer, long http_code, bool gone, bool own_error,
			uint64_t retry_after_s, struct poll_result *ret)
{
	*ret = (struct poll_result){
		.transfer = transfer,
		.http_code = http_code,
		.status = DIFY_STATUS_OTHER,
		.status_text = "",
		.error_msg = "",
	};

	if (transfer == TRANSFER_TOO_LARGE && http_code == 200) {
		ret->kind = POLL_BAD_BODY;
		ret->job_fault = true;
		return true;
	}
	if (transfer != TRANSFER_OK || http_code == 0) {
		ret->kind = POLL_TRANSFER;
		return true;
	}
	if (http_code == 200) {
		return false;
	}

	if (gone) {
		ret->kind = POLL_GONE;
	} else if (http_code == 401 || http_code == 403) {
		ret->kind = POLL_AUTH;
	} else if (http_code == 429) {
		ret->kind = POLL_RATE_LIMITED;
	} else if (http_code == 503) {
		ret->kind = POLL_UNAVAILABLE;
	} else if (http_code >= 500 && http_code <= 599) {
		ret->kind = POLL_SERVER_ERROR;
		/* the service's own error: it failed on this job. An HTML or empty
		 * 5xx is a proxy or gateway: the endpoint's. */
		ret->job_fault = own_error;
	} else {
		ret->kind = POLL_HTTP_ERROR;
	}
	if ((http_code == 429 || http_code == 503) && retry_after_s > 0) {
		ret->retry_after_usec = backoff_retry_after_usec(retry_after_s);
	}
	return true;
}

void dify_classify_bad_body(struct poll_result *ret)
{
	/* nothing of a misshapen answer is passed on */
	*ret = (struct poll_result){
		.kind = POLL_BAD_BODY,
		.transfer = ret->transfer,
		.http_code = ret->http_code,
		.status = DIFY_STATUS_OTHER,
		.status_text = "",
		.error_msg = "",
		.job_fault = true,
	};
}

void dify_classify_kind(const struct kind *k, enum transfer_error transfer, long http_code,
			const struct response *resp, bool body_ok, uint64_t retry_after_s,
			const char *expected_id, struct poll_result *ret)
{
	const struct response *r = body_ok ? resp : NULL;

	/* Dify's own JSON error carries a message */
	if (dify_classify_http(transfer, http_code, is_job_gone(k, http_code, r),
			       r && r->is_object && r->has_message, retry_after_s, ret)) {
		return;
	}
	enum kind_verdict v = KIND_VERDICT_BAD;
	if (r && r->is_object) {
		v = k->read_answer(r, expected_id, ret);
	}
	if (v == KIND_VERDICT_BAD) {
		dify_classify_bad_body(ret);
		return;
	}
	ret->kind = POLL_STATUS;
	ret->verdict = v;
}

void dify_classify(enum transfer_error transfer, long http_code, const struct response *resp,
		   bool body_ok, uint64_t retry_after_s, const char *expected_id,
		   struct poll_result *ret)
{
	dify_classify_kind(kind_get(KIND_ANNOTATION_REPLY), transfer, http_code, resp, body_ok,
			   retry_after_s, expected_id, ret);
}

int dify_status_url(char *buf, size_t size, const char *base, enum job_action action,
		    const uint8_t id[static 16])
{
	char ids[UUID_STRING_MAX];
	int n = snprintf(buf, size, "%s/apps/annotation-reply/%s/status/%s", base,
			 job_action_to_string(action), uuid_to_string(id, ids));
	if (n < 0 || (size_t)n >= size) {
		return -ENOBUFS;
	}
	return n;
}

int dify_start_url(char *buf, size_t size, const char *base, enum job_action action)
{
	int n = snprintf(buf, size, "%s/apps/annotation-reply/%s", base,
			 job_action_to_string(action));
	if (n < 0 || (size_t)n >= size) {
		return -ENOBUFS;
	}
	return n;
}

/* Append s as a JSON string to out (which has room: caller sized it). */
static char *json_quote(char *out, const char *s)
{
	*out++ = '"';
	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		if (*c == '"' || *c == '\\') {
			*out++ = '\\';
			*out++ = (char)*c;
		} else if (*c < 0x20) {
			out += snprintf(out, 7, "\\u%04x", *c);
		} else {
			*out++ = (char)*c;
		}
	}
	*out++ = '"';
	*out = '\0';
	return out;
}

char *dify_start_body(double score_threshold, const char *provider, const char *model,
		      int *ret_error)
{
	if (!isfinite(score_threshold) || score_threshold < 0.0 || score_threshold > 1.0 ||
	    isempty(provider) || isempty(model)) {
		*ret_error = -EINVAL;
		return NULL;
	}
	size_t size = 128 + 6 * (strlen(provider) + strlen(model));
	char *buf = malloc(size);
	if (!buf) {
		*ret_error = -ENOMEM;
		return NULL;
	}
	/* the shortest form that reads back as the same double */
	char num[32];
	snprintf(num, sizeof(num), "%.15g", score_threshold);
	if (strtod(num, NULL) != score_threshold) { /* checked: a round trip of our own text */
		snprintf(num, sizeof(num), "%.17g", score_threshold);
	}
	int n = snprintf(buf, size, "{\"score_threshold\": %s, \"embedding_provider_name\": ", num);
	char *p = json_quote(buf + n, provider);
	p += snprintf(p, 32, ", \"embedding_model_name\": ");
	p = json_quote(p, model);
	snprintf(p, 2, "}");
	*ret_error = 0;
	return buf;
}
