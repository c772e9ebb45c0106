/* SPDX-License-Identifier: MIT */
/* The poller's words about trouble: an endpoint or one job answering badly,
 * and their recovery, each logged when it starts and when it ends (the
 * decisions are endpoint.c's). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "endpoint.h"
#include "journal.h"
#include "log.h"
#include "poller-internal.h"
#include "string-util.h"
#include "time-util.h"
#include "timespan.h"

static void endpoint_log(int level, const struct endpoint *e, const char *message_id,
			 const char *fmt, ...) _printf_(4, 5);
static void endpoint_log(int level, const struct endpoint *e, const char *message_id,
			 const char *fmt, ...)
{
	char fe[160], fm[64];
	const char *fields[] = { fe, fm, NULL };
	va_list ap;

	snprintf(fe, sizeof(fe), "JOB_ENDPOINT=%s", e->name);
	snprintf(fm, sizeof(fm), "MESSAGE_ID=%s", message_id);
	va_start(ap, fmt);
	(void)log_fields_va(level, 0, fields, fmt, ap);
	va_end(ap);
}

/* A sentence for the log and a few words for STATUS=. */
static void describe_trouble(const struct poll_result *r, const struct poll_request *pr, char *text,
			     size_t size, char *brief, size_t brief_size)
{
	const struct http_request *h = &pr->http;
	const struct response *resp = &pr->parser.result;
	/* a user kind's answers are not Dify's: never quoted as Dify's */
	bool dify_json = !pr->user && !pr->parser.failed && resp->is_object && resp->has_message;
	char ra[64] = "";

	if (r->retry_after_usec > 0) {
		snprintf(ra, sizeof(ra), ", Retry-After %llus",
			 (unsigned long long)(r->retry_after_usec / USEC_PER_SEC));
	}
	snprintf(brief, brief_size, "HTTP %ld", r->http_code);
	switch (r->kind) {
	case POLL_AUTH:
		if (r->http_code == 403 && dify_json) {
			/* Dify's 403s name what is wrong (DIFY.md): the app no longer
			 * exists, its API service is disabled, the workspace is archived,
			 * the dataset API is not enabled. The key is fine: quote Dify. */
			snprintf(
				text, size,
				"access refused (HTTP 403): Dify says '%s'; check the app (or dataset) and its workspace in Dify",
				resp->message);
		} else {
			snprintf(
				text, size,
				"the API key is refused (HTTP %ld%s%s%s); check APIKeyFile=/APIKeyCredential= and that the key belongs to this app",
				r->http_code, dify_json ? ": Dify says '" : "",
				dify_json ? resp->message : "", dify_json ? "'" : "");
		}
		break;
	case POLL_RATE_LIMITED:
		snprintf(text, size, "rate limited (HTTP 429%s)", ra);
		break;
	case POLL_UNAVAILABLE:
		snprintf(text, size, "service unavailable (HTTP 503%s)", ra);
		break;
	case POLL_SERVER_ERROR:
		snprintf(text, size, "server error (HTTP %ld%s%s)", r->http_code,
			 dify_json ? ": " : "", dify_json ? resp->message : "");
		break;
	case POLL_HTTP_ERROR:
		if (r->http_code >= 300 && r->http_code < 400) {
			snprintf(
				text, size,
				"redirected (HTTP %ld); redirects are not followed, set BaseURL= to the final address",
				r->http_code);
		} else if (r->http_code == 404 && pr->user) {
			snprintf(
				text, size,
				"HTTP 404, which is not one of the kind's GoneStatus=; is BaseURL= or StatusPath= right?");
		} else if (r->http_code == 404) {
			snprintf(
				text, size,
				"HTTP 404 without Dify's \"job does not exist\" answer; is BaseURL= right?");
		} else {
			snprintf(text, size, "unexpected HTTP %ld%s%s", r->http_code,
				 dify_json ? ": " : "", dify_json ? resp->message : "");
		}
		break;
	case POLL_BAD_BODY:
		snprintf(brief, brief_size, "bad answers");
		if (h->error == TRANSFER_TOO_LARGE) {
			snprintf(text, size, "answer too large (%s)", h->error_text);
		} else if (pr->user && pr->extract.failed) {
			snprintf(text, size, "answer is not valid JSON (%s)", pr->extract.error);
		} else if (pr->user) {
			/* "the status at '/status' is a number" */
			snprintf(text, size, "the status at '%s' is %s", strempty(pr->ptrs[0].text),
				 pr->bad_reason ? pr->bad_reason : "not usable");
		} else if (pr->parser.failed) {
			snprintf(text, size, "answer is not valid JSON (%s)", pr->parser.error);
		} else {
			snprintf(
				text, size,
				"answer is JSON but not a job status (no top-level string \"job_status\")");
		}
		break;
	case POLL_TRANSFER:
	default:
		snprintf(brief, brief_size, "%s", transfer_error_to_string(r->transfer));
		snprintf(text, size, "request failed (%s): %s",
			 transfer_error_to_string(r->transfer),
			 h->error_text[0] ? h->error_text : "no answer");
		break;
	}
}

/* One job's own answers fail (r->job_fault): said once, when it starts. */
static void job_trouble(struct job *j, const struct poll_result *r, const struct poll_request *pr)
{
	char text[512], brief[64], fm[64], fe[160];
	const char *fields[] = { fm, fe, NULL };

	describe_trouble(r, pr, text, sizeof(text), brief, sizeof(brief));
	snprintf(fm, sizeof(fm), "MESSAGE_ID=%s", MESSAGE_ID_JOB_TROUBLE);
	snprintf(fe, sizeof(fe), "JOB_ENDPOINT=%s", j->endpoint->name);
	char ids[KIND_ID_STRING_MAX];
	log_job_internal(
		LOG_WARNING, 0, job_id_string(j, ids), j->file, fields,
		"Endpoint '%s' answers about this job badly: %s; the job keeps being polled, its endpoint's other jobs are not affected.",
		j->endpoint->name, text);
}

static void job_recovered(struct job *j)
{
	char fm[64], fe[160];
	const char *fields[] = { fm, fe, NULL };

	snprintf(fm, sizeof(fm), "MESSAGE_ID=%s", MESSAGE_ID_JOB_RECOVERED);
	snprintf(fe, sizeof(fe), "JOB_ENDPOINT=%s", j->endpoint->name);
	char ids[KIND_ID_STRING_MAX];
	log_job_internal(LOG_NOTICE, 0, job_id_string(j, ids), j->file, fields,
			 "Endpoint '%s' answers about this job properly again.", j->endpoint->name);
}

void poller_trouble_update(struct poller *p, struct endpoint *e, struct job *j,
			   const struct poll_result *r, const struct poll_request *pr)
{
	struct endpoint_trouble_step step;
	usec_t now = now_realtime_usec();

	endpoint_trouble_update(e, j, r, now, &step);
	_cleanup_(freep) char *ended_text = step.ended_text;

	if (step.job_ended) {
		job_recovered(j);
	}
	if (step.job_started) {
		job_trouble(j, r, pr);
	}
	if (step.endpoint_started) {
		char text[512], brief[64];
		describe_trouble(r, pr, text, sizeof(text), brief, sizeof(brief));
		endpoint_log(LOG_WARNING, e, MESSAGE_ID_ENDPOINT_TROUBLE,
			     "Endpoint '%s': %s; its jobs keep being polled.", e->name, text);
		endpoint_trouble_set_text(e, brief);
		p->ops->endpoint_changed(p->userdata, e);
	}
	if (step.endpoint_ended) {
		char since[TIMESPAN_MAX];
		timespan_format(since, sizeof(since), now - MIN(step.ended_since_usec, now));
		endpoint_log(
			LOG_NOTICE, e, MESSAGE_ID_ENDPOINT_RECOVERED,
			"Endpoint '%s' answers properly again, after %u failed poll%s over %s (%s).",
			e->name, step.ended_polls, step.ended_polls == 1 ? "" : "s", since,
			strempty(ended_text));
		p->ops->endpoint_changed(p->userdata, e);
	}
}
