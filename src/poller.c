/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <sys/random.h>
#include <time.h>

#include "dify.h"
#include "endpoint.h"
#include "journal.h"
#include "log.h"
#include "poller-internal.h"
#include "poller.h"
#include "redact.h"
#include "response.h"
#include "stall.h"
#include "string-util.h"
#include "time-util.h"
#include "timespan.h"
#include "userkind.h"

/* Due jobs handled per timer callback before yielding to I/O. */
#define DISPATCH_BUDGET 4096

static void dispatch(struct poller *p, struct job *j, usec_t now);
static void on_uv_poller_timer(uv_timer_t *t);

/* --- timer --- */

static void arm(struct poller *p)
{
	struct heap_node *top = heap_peek(&p->heap);
	usec_t due = top ? top->key : USEC_INFINITY;

	if (p->stopped) {
		due = USEC_INFINITY;
	}
	if (due == p->timer_due) {
		return;
	}
	p->timer_due = due;
	if (due == USEC_INFINITY) {
		(void)uv_timer_stop(&p->timer);
		return;
	}
	/* libuv counts in whole ms of CLOCK_MONOTONIC from its cached loop time
	 * and fires once that time reaches start + timeout. Aim at the first ms
	 * at or after due on that same clock, so the timer never fires early. */
	uint64_t due_ms = (due + USEC_PER_MSEC - 1) / USEC_PER_MSEC;
	uint64_t loop_ms = uv_now(p->loop);
	(void)uv_timer_start(&p->timer, on_uv_poller_timer, due_ms > loop_ms ? due_ms - loop_ms : 0,
			     0);
}

static void heap_put(struct poller *p, struct job *j, usec_t key)
{
	if (heap_set(&p->heap, &j->timer, key) < 0) {
		/* Out of memory for the heap array: retry on the next timer. The
		 * job is not lost, it is polled late. */
		log_job(LOG_ERR, j, "Out of memory scheduling the next poll, retrying");
	}
}

usec_t poller_job_timeout(const struct config *c, const struct job *j)
{
	return j->timeout_usec > 0 ? j->timeout_usec : c->job_timeout_usec;
}

void poller_schedule(struct poller *p, struct job *j, usec_t when)
{
	assert(!j->request && !heap_node_queued(&j->timer));
	j->state = JOB_STATE_SCHEDULED;
	heap_put(p, j, MIN(when, j->deadline_usec));
	arm(p);
}

static void queue_remove(struct poller *p, struct job *j)
{
	if (endpoint_queue_remove(j->endpoint, j)) {
		p->n_queued--;
	}
}

static struct job *queue_pop(struct poller *p, struct endpoint *e)
{
	struct job *j = endpoint_queue_pop(e);
	if (j) {
		p->n_queued--;
	}
	return j;
}

static void queue_push(struct poller *p, struct endpoint *e, struct job *j)
{
	j->state = JOB_STATE_QUEUED;
	endpoint_queue_push(e, j);
	p->n_queued++;
}

/* --- requests --- */

static void busy_unlink(struct poller *p, struct poll_request *pr)
{
	if (pr->busy_prev) {
		pr->busy_prev->busy_next = pr->busy_next;
	} else if (p->busy == pr) {
		p->busy = pr->busy_next;
	}
	if (pr->busy_next) {
		pr->busy_next->busy_prev = pr->busy_prev;
	}
	pr->busy_prev = pr->busy_next = NULL;
}

/*
 * The body cap of a job's answers. An annotation-reply or workflow-run
 * answer is a few hundred bytes (a workflow's outputs may be more): 64 KiB.
 * A document-indexing answer lists every document of the batch, about 430
 * bytes each, and Dify takes up to 1,000 documents in a batch: about 430 KB,
 * so 1 MiB. The body is what the state keeps for the hook's stdin until the
 * hook has run, so a hook's stdin is bounded by the same cap (jobwatchd(8)).
 */
#define POLL_BODY_MAX_INDEXING (1024U * 1024U)

/* A user kind's request state, released for the next use. */
static void user_done(struct poll_request *pr)
{
	jsonextract_done(&pr->extract);
	for (size_t i = 0; i < pr->n_ptrs; i++) {
		jsonptr_done(&pr->ptrs[i]);
	}
	pr->n_ptrs = 0;
	pr->user = false;
	pr->bad_reason = NULL;
}

static size_t body_cap(const struct job *j)
{
	return j->kind == KIND_DOCUMENT_INDEXING ? POLL_BODY_MAX_INDEXING : RESPONSE_BODY_MAX;
}

static void release_request(struct poller *p, struct poll_request *pr)
{
	busy_unlink(p, pr);
	if (pr->http.body_allocated > RESPONSE_BODY_MAX) {
		/* a large indexing answer: the pooled request does not keep its buffer */
		free(pr->http.body);
		pr->http.body = NULL;
		pr->http.body_len = pr->http.body_allocated = 0;
	}
	response_parser_done(&pr->parser);
	user_done(pr);
	http_headers_unref(pr->headers);
	pr->headers = NULL;
	pr->job = NULL;
	pr->next_free = p->free_requests;
	p->free_requests = pr;
}

static void on_poll_done(struct http_request *req);

/* The body is parsed as it streams in, but in pieces of at least this size:
 * yajl re-lexes a token split across feeds from its start, so a body
 * trickled a byte at a time would otherwise cost O(n^2) CPU on our loop. */
#define PARSE_CHUNK_MIN 1024

static void feed_parser(struct poll_request *pr)
{
	struct http_request *req = &pr->http;
	if (req->body_len > pr->parsed) {
		/* A syntax error is remembered by the parser and reported at the end. */
		if (pr->user) {
			(void)jsonextract_feed(&pr->extract, req->body + pr->parsed,
					       req->body_len - pr->parsed);
		} else {
			(void)response_parser_feed(&pr->parser, req->body + pr->parsed,
						   req->body_len - pr->parsed);
		}
		pr->parsed = req->body_len;
	}
}

static int on_poll_data(struct http_request *req, const char *data, size_t len)
{
	struct poll_request *pr = container_of(req, struct poll_request, http);
	if (req->body_len - pr->parsed >= PARSE_CHUNK_MIN) {
		feed_parser(pr);
	}
	return 0;
}

static struct poll_request *get_request(struct poller *p)
{
	struct poll_request *pr = p->free_requests;

	if (pr) {
		p->free_requests = pr->next_free;
		pr->next_free = NULL;
		return pr;
	}
	pr = calloc(1, sizeof(*pr));
	if (!pr) {
		return NULL;
	}
	pr->http.max_body = RESPONSE_BODY_MAX;
	if (http_request_init(&pr->http, p->http) < 0) {
		free(pr);
		return NULL;
	}
	pr->http.on_done = on_poll_done;
	pr->http.on_data = on_poll_data;
	pr->poller = p;
	p->n_requests++;
	return pr;
}

static int build_url(struct poll_request *pr, const struct endpoint *e, const struct job *j,
		     const struct kind_def *def)
{
	struct kind_ident ident;
	size_t base = strlen(e->conf->base_url);
	size_t need = base + (def ? USERKIND_STATUS_PATH_MAX : KIND_STATUS_PATH_MAX);
	if (need > pr->url_size) {
		char *u = realloc(pr->url, need);
		if (!u) {
			return -ENOMEM;
		}
		pr->url = u;
		pr->url_size = need;
	}
	job_ident(j, &ident);
	if (def) {
		/* base_url + the kind's StatusPath= with the job's values */
		struct userkind_lookup l = { .text = ident.user };
		memcpy(pr->url, e->conf->base_url, base);
		int r = kinddef_status_path(def, userkind_lookup, &l, pr->url + base,
					    pr->url_size - base);
		return r < 0 ? r : (int)base + r;
	}
	return kind_status_url(e->conf->base_url, &ident, pr->url, pr->url_size);
}

/* A user kind's answer streams into pr->extract: StatusField= (a status
 * word at most) and ErrorField= (JOB_ERROR's text). */
static int user_begin(struct poll_request *pr, const struct kind_def *def, const char *secret)
{
	static const size_t caps[2] = { KINDDEF_WORD_MAX, KINDDEF_ERROR_MAX };
	int r;

	pr->extract = (struct jsonextract){};
	pr->user = true;
	r = jsonptr_copy(&def->status, &pr->ptrs[0]);
	if (r < 0) {
		return r;
	}
	pr->n_ptrs = 1;
	if (def->has_error) {
		r = jsonptr_copy(&def->error, &pr->ptrs[1]);
		if (r < 0) {
			return r;
		}
		pr->n_ptrs = 2;
	}
	for (size_t i = 0; i < pr->n_ptrs; i++) {
		r = jsonextract_add(&pr->extract, &pr->ptrs[i], caps[i]);
		if (r < 0) {
			return r;
		}
	}
	pr->extract.secret = secret;
	return jsonextract_begin(&pr->extract);
}

/* Send j's next status request (def: its kind's definition, a user kind's
 * only). Returns 0 or a negative errno. */
static int submit(struct poller *p, struct job *j, const struct kind_def *def, usec_t now)
{
	struct endpoint *e = j->endpoint;
	struct poll_request *pr = get_request(p);
	int r;

	if (!pr) {
		return -ENOMEM;
	}
	r = build_url(pr, e, j, def);
	if (r >= 0) {
		pr->http.max_body = body_cap(j);
		pr->parsed = 0;
		/* The key lives in e->headers, which the request holds a reference to. */
		pr->parser.secret = http_headers_key(e->headers);
		r = def ? user_begin(pr, def, pr->parser.secret)
			: response_parser_begin(&pr->parser);
	}
	if (r >= 0) {
		struct http_target t = {
			.url = pr->url,
			.headers = e->headers->list,
			.timeout_usec = p->config->request_timeout_usec,
			.version = e->conf->http_version,
			.ca_file = e->conf->ca_file,
			.proxy = config_endpoint_proxy(e->conf),
			.secret = pr->parser.secret,
		};
		r = http_submit(&pr->http, &t);
	}
	if (r < 0) {
		release_request(p, pr);
		return r;
	}
	pr->headers = http_headers_ref(e->headers);
	pr->job = j;
	pr->busy_next = p->busy;
	if (p->busy) {
		p->busy->busy_prev = pr;
	}
	p->busy = pr;
	j->request = pr;
	j->state = JOB_STATE_POLLING;
	j->polls++;
	j->last_poll_usec = now;
	e->in_flight++;
	p->in_flight++;
	return 0;
}

/* --- stalls --- */

usec_t poller_stall_after(const struct config *c, const struct job *j)
{
	return j->stall_after_usec > 0 ? j->stall_after_usec : c->stall_after_usec;
}

uint32_t poller_stall_fingerprint(const struct job *j)
{
	const struct job_indexing *x = job_indexing(j);
	bool progress = x && x->has_progress;

	return stall_fingerprint(job_remote_status(j), progress ? x->documents_done : 0,
				 progress ? x->segments_done : 0);
}

/* One status answer about j, already applied (remote status, progress): keep
 * its stall clock, and say when it stalls or moves again (CONTRACT "Stalls").
 * O(1): a fingerprint, no copy of the answer. */
static void stall_check(struct poller *p, struct job *j)
{
	usec_t now = now_realtime_usec(), since = j->stall.changed_usec, after;
	const char *status = strempty(job_remote_status(j));
	enum stall_action a;

	after = poller_stall_after(p->config, j);
	a = stall_observe(&j->stall, poller_stall_fingerprint(j), now, after);
	if (a == STALL_NOTHING) {
		return;
	}

	char fm[64], fe[160], fk[64], fs[96], fu[64], fx[64], fa[64], fp[128], span[TIMESPAN_MAX],
		sa[TIMESPAN_MAX], what[JOB_WHAT_MAX], progress[JOB_PROGRESS_STRING_MAX],
		ids[KIND_ID_STRING_MAX];
	const char *fields[9] = { fm, fe, fk, fs, fu, fx };
	size_t n = 6;
	usec_t still = now > since ? now - since : 0;
	bool has_progress = job_progress_string(j, progress, sizeof(progress)) != NULL;
	const char *server = j->kind == KIND_USER ? "the server" : "Dify";

	snprintf(fm, sizeof(fm), "MESSAGE_ID=%s",
		 a == STALL_ANNOUNCE ? MESSAGE_ID_JOB_STALLED : MESSAGE_ID_JOB_MOVING);
	snprintf(fe, sizeof(fe), "JOB_ENDPOINT=%s", j->endpoint->name);
	snprintf(fk, sizeof(fk), "JOB_KIND=%s", job_kind_name(j));
	snprintf(fs, sizeof(fs), "JOB_REMOTE_STATUS=%s", status);
	snprintf(fu, sizeof(fu), "JOB_STALLED_USEC=%llu", (unsigned long long)still);
	snprintf(fx, sizeof(fx), "JOB_STALL_AFTER_USEC=%llu", (unsigned long long)after);
	if (j->kind == KIND_ANNOTATION_REPLY) {
		snprintf(fa, sizeof(fa), "JOB_ACTION=%s", job_action_to_string(j->action));
		fields[n++] = fa;
	}
	if (has_progress) {
		snprintf(fp, sizeof(fp), "JOB_PROGRESS=%s", progress);
		fields[n++] = fp;
	}
	fields[n] = NULL;
	timespan_format(span, sizeof(span), still);
	job_what(j, what, sizeof(what));
	if (a == STALL_ANNOUNCE) {
		log_job_internal(
			LOG_WARNING, 0, job_id_string(j, ids), j->file, fields,
			"Stalled: %s has answered '%s'%s%s%s about this %s for %s without a change (StallAfter=%s); it keeps being polled until its Timeout=. %s",
			server, status, has_progress ? " (" : "", has_progress ? progress : "",
			has_progress ? ")" : "", what, span, timespan_format(sa, sizeof(sa), after),
			stall_hint(j->kind, (enum job_action)j->action, status));
	} else {
		log_job_internal(
			LOG_NOTICE, 0, job_id_string(j, ids), j->file, fields,
			"Moving again: %s answers '%s'%s%s%s about this %s now, after %s without a change.",
			server, status, has_progress ? " (" : "", has_progress ? progress : "",
			has_progress ? ")" : "", what, span);
	}
	p->ops->stall_changed(p->userdata, j, a == STALL_ANNOUNCE);
}

/* --- the answer --- */

static void schedule_next(struct poller *p, struct job *j, usec_t now)
{
	struct backoff_params bp = {
		.initial_usec = p->config->initial_interval_usec,
		.max_usec = p->config->max_interval_usec,
		.multiplier = p->config->multiplier,
		.jitter = p->config->jitter,
	};
	usec_t gap = backoff_gap_usec(&bp, j->polls, backoff_rng_next, &p->rng);
	/* Gaps are between poll starts; a poll that outlasted its gap is
	 * followed by the next one right away. */
	usec_t next = j->last_poll_usec + gap;
	if (next < now) {
		next = now;
	}
	next = MAX(next, j->endpoint->blocked_until_usec);
	poller_schedule(p, j, next);
}

static void drain_queue(struct poller *p, struct endpoint *e, usec_t now)
{
	while (e->queue_head && endpoint_has_slot(e) && !p->stopped) {
		struct job *j = queue_pop(p, e);
		dispatch(p, j, now);
	}
}

/* A status answer about j (a 200 of its kind), its track already applied:
 * alive, an unknown status word said once, progress, the stall clock. */
static void status_answered(struct poller *p, struct job *j, const struct poll_result *r)
{
	j->last_alive_usec = now_realtime_usec();
	/* alive after all: a "gone while jobwatchd was down" note no longer applies */
	j->flags &= (uint16_t)~JOB_FLAG_GONE_WHILE_DOWN;
	if (!r->status_known && !(j->flags & JOB_FLAG_OTHER_STATUS_SEEN)) {
		j->flags |= JOB_FLAG_OTHER_STATUS_SEEN;
		if (j->kind == KIND_ANNOTATION_REPLY) {
			log_job(LOG_NOTICE, j,
				"Dify answered with job_status '%s', which this version does not know; treating it as not finished.",
				r->status_text);
		} else if (j->kind == KIND_USER) {
			log_job(LOG_NOTICE, j,
				"The server answered with status '%s', which is in none of Completed=, Failed= and Running= of [Kind:%s]; treating it as not finished.",
				r->status_text, job_kind_name(j));
		} else {
			log_job(LOG_NOTICE, j,
				"Dify answered with status '%s', which this version does not know for a %s job; treating it as not finished.",
				r->status_text, job_kind_name(j));
		}
	}
	/* progress is written with the next lazy flush, the status change below at once */
	(void)job_set_progress(j, r->documents);
	stall_check(p, j);
}

static void on_poll_done(struct http_request *req)
{
	struct poll_request *pr = container_of(req, struct poll_request, http);
	struct poller *p = pr->poller;
	struct job *j = pr->job;
	struct endpoint *e = j->endpoint;
	struct poll_result r;
	usec_t now = now_monotonic_usec();
	bool body_ok = false;

	j->request = NULL;
	e->in_flight--;
	p->in_flight--;

	/* A user kind is looked up per answer: a reload may have changed or
	 * removed it (the old definition is freed). */
	const struct kind_def *def =
		pr->user ? config_find_kind(p->config, job_kind_name(j)) : NULL;
	if (pr->user && !def) {
		/* its kind went away while the answer was out: the job waits for
		 * it as dispatch() says */
		release_request(p, pr);
		dispatch(p, j, now);
		drain_queue(p, e, now);
		arm(p);
		return;
	}
	if (req->error == TRANSFER_OK) {
		feed_parser(pr);
		body_ok = pr->user ? jsonextract_complete(&pr->extract) >= 0
				   : response_parser_complete(&pr->parser) >= 0;
	}
	/* The answer goes to the state file and the hook: a key the server
	 * echoed goes no further (the parsed strings were cleaned while parsing). */
	const char *body = req->body;
	size_t body_len = req->body_len;
	_cleanup_(freep) char *clean_body = NULL;
	if (redact_needed(body, body_len, pr->parser.secret)) {
		clean_body = redact(body, body_len, pr->parser.secret, &body_len);
		body = clean_body;
		if (!clean_body) {
			body_len = 0; /* no memory: no body rather than the key */
		}
	}

	char ids[KIND_ID_STRING_MAX];
	if (def) {
		userkind_classify(def, req->error, req->http_code, body_ok, &pr->extract.values[0],
				  pr->n_ptrs > 1 ? &pr->extract.values[1] : NULL,
				  req->retry_after_s, &r, &pr->bad_reason);
	} else {
		dify_classify_kind(kind_get(j->kind), req->error, req->http_code,
				   &pr->parser.result, body_ok, req->retry_after_s,
				   job_id_string(j, ids), &r);
	}
	poller_trouble_update(p, e, j, &r, pr);

	if (r.retry_after_usec > 0) {
		endpoint_block_until(e, now + r.retry_after_usec);
	}

	uint8_t old_status = j->track.remote_status;
	bool old_alive = j->track.seen_alive, old_has = j->track.has_status;
	uint8_t old_gone = j->track.gone_count;
	enum job_outcome o = job_track_apply(&j->track, &r);

	if (r.kind == POLL_STATUS) {
		status_answered(p, j, &r);
	}

	if (o != JOB_OUTCOME_NONE) {
		j->state = JOB_STATE_FINISHED;
		p->ops->finished(p->userdata, j, o, r.error_msg, body, body_len);
	} else {
		bool urgent = old_alive != j->track.seen_alive || old_has != j->track.has_status ||
			      old_status != j->track.remote_status ||
			      old_gone != j->track.gone_count;
		p->ops->changed(p->userdata, j, urgent);
		if (now >= j->deadline_usec || (j->flags & JOB_FLAG_FINAL_POLL)) {
			/* The deadline passed (this was the last look, or the request was
			 * out when it passed). The hook gets this answer if it is one
			 * about the job, not an error page. */
			bool about_job = r.kind == POLL_STATUS || r.kind == POLL_GONE;
			j->state = JOB_STATE_FINISHED;
			p->ops->finished(p->userdata, j, JOB_OUTCOME_TIMEOUT, "",
					 about_job ? body : NULL, about_job ? body_len : 0);
		} else if (!p->stopped) {
			schedule_next(p, j, now);
		}
	}

	release_request(p, pr);
	drain_queue(p, e, now);
	arm(p);
}

/* --- dispatch --- */

/* j cannot be polled now: its endpoint is gone or has no key, or its
 * [Kind:NAME] is gone (kind_missing). Said once; a reload looks again
 * (poller_unstall()). */
static void stall(struct poller *p, struct job *j, bool kind_missing)
{
	struct endpoint *e = j->endpoint;

	j->state = JOB_STATE_STALLED;
	if (!(j->flags & JOB_FLAG_STALL_LOGGED)) {
		j->flags |= JOB_FLAG_STALL_LOGGED;
		if (kind_missing) {
			log_job(LOG_WARNING, j,
				"Kind '%s' is not in the configuration; the job waits until a reload defines it (or its Timeout= passes).",
				job_kind_name(j));
		} else if (!e->conf) {
			log_job(LOG_WARNING, j,
				"Endpoint '%s' is not in the configuration; the job waits until a reload defines it (or its Timeout= passes).",
				e->name);
		} else {
			log_job(LOG_WARNING, j,
				"Endpoint '%s' has no usable API key (%s); the job waits until a reload fixes it (or its Timeout= passes).",
				e->name, strempty(e->key_problem));
		}
	}
	/* Still in the heap at its deadline, so that Timeout= applies. */
	if (j->deadline_usec != USEC_INFINITY) {
		heap_put(p, j, j->deadline_usec);
	}
}

static void dispatch(struct poller *p, struct job *j, usec_t now)
{
	struct endpoint *e = j->endpoint;
	/* a user kind's definition, looked up per poll: a reload may change
	 * or remove it (never kept across one: the old config is freed) */
	const struct kind_def *def =
		j->kind == KIND_USER ? config_find_kind(p->config, job_kind_name(j)) : NULL;
	bool kind_missing = j->kind == KIND_USER && !def;

	if (now >= j->deadline_usec) {
		if (!endpoint_usable(e, now) || kind_missing) {
			j->state = JOB_STATE_FINISHED;
			p->ops->finished(p->userdata, j, JOB_OUTCOME_TIMEOUT, "", NULL, 0);
			return;
		}
		/* One last look before giving up: a job that ended right at its
		 * deadline is reported as it ended, and a timed-out job's hook gets
		 * the last answer on stdin. The answer decides (see on_poll_done). */
		j->flags |= JOB_FLAG_FINAL_POLL;
	}
	if (!e->conf || !e->headers || kind_missing) {
		stall(p, j, e->conf && e->headers && kind_missing);
		return;
	}
	j->flags &= (uint16_t)~JOB_FLAG_STALL_LOGGED;
	if (e->blocked_until_usec > now) {
		j->state = JOB_STATE_SCHEDULED;
		heap_put(p, j, MIN(e->blocked_until_usec, j->deadline_usec));
		return;
	}
	if (e->in_flight >= e->conf->max_concurrent) {
		queue_push(p, e, j);
		return;
	}
	int r = submit(p, j, def, now);
	if (r < 0) {
		if (j->flags & JOB_FLAG_FINAL_POLL) {
			j->state = JOB_STATE_FINISHED;
			p->ops->finished(p->userdata, j, JOB_OUTCOME_TIMEOUT, "", NULL, 0);
			return;
		}
		log_job_errno(LOG_WARNING, r, j,
			      "Failed to send a status request: %m; retrying later.");
		j->last_poll_usec = now;
		schedule_next(p, j, now);
	}
}

static void on_uv_poller_timer(uv_timer_t *t)
{
	struct poller *p = container_of(t, struct poller, timer);
	usec_t now = now_monotonic_usec();
	unsigned budget = DISPATCH_BUDGET;
	struct heap_node *n;

	p->timer_due = USEC_INFINITY;
	while (budget-- > 0 && !p->stopped && (n = heap_peek(&p->heap)) && n->key <= now) {
		struct job *j = container_of(n, struct job, timer);
		heap_remove(&p->heap, n);
		dispatch(p, j, now);
	}
	arm(p);
}

/* --- public --- */

int poller_init(struct poller *p, uv_loop_t *loop, struct http *http, const struct poller_ops *ops,
		void *userdata)
{
	uint64_t seed;
	int r;

	*p = (struct poller){
		.loop = loop,
		.http = http,
		.ops = ops,
		.userdata = userdata,
		.timer_due = USEC_INFINITY,
	};
	heap_init(&p->heap);
	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != sizeof(seed)) {
		seed = now_monotonic_usec() ^ ((uint64_t)getpid() << 32);
	}
	backoff_rng_seed(&p->rng, seed);
	r = uv_timer_init(loop, &p->timer);
	if (r < 0) {
		return log_error_errno(-EIO, "Failed to create the poll timer: %s", uv_strerror(r));
	}
	p->timer.data = p;
	return 0;
}

void poller_set_config(struct poller *p, const struct config *c)
{
	p->config = c;
}

void poller_unschedule(struct poller *p, struct job *j)
{
	heap_remove(&p->heap, &j->timer);
	if (j->state == JOB_STATE_QUEUED) {
		queue_remove(p, j);
	}
	if (j->request) {
		struct poll_request *pr = j->request;
		http_cancel(&pr->http);
		j->request = NULL;
		j->endpoint->in_flight--;
		p->in_flight--;
		release_request(p, pr);
		drain_queue(p, j->endpoint, now_monotonic_usec());
	}
	arm(p);
}

void poller_set_deadline(struct poller *p, struct job *j, usec_t deadline)
{
	j->deadline_usec = deadline;
	if (heap_node_queued(&j->timer) && deadline < j->timer.key) {
		heap_put(p, j, deadline);
		arm(p);
	}
}

void poller_endpoint_changed(struct poller *p, struct endpoint *e)
{
	if (e->conf && e->headers) {
		drain_queue(p, e, now_monotonic_usec());
	} else {
		struct job *j;
		while ((j = queue_pop(p, e))) {
			stall(p, j, false);
		}
	}
	arm(p);
}

void poller_unstall(struct poller *p, struct job *j)
{
	if (j->state != JOB_STATE_STALLED) {
		return;
	}
	heap_remove(&p->heap, &j->timer);
	poller_schedule(p, j, 0);
}

void poller_stop(struct poller *p)
{
	p->stopped = true;
	(void)uv_timer_stop(&p->timer);
	p->timer_due = USEC_INFINITY;
	/* Answers still out are dropped: the jobs stay pending and are polled
	 * again after the next start. */
	while (p->busy) {
		struct poll_request *pr = p->busy;
		struct job *j = pr->job;
		assert(j); /* a busy request always serves a job */
		http_cancel(&pr->http);
		j->request = NULL;
		j->state = JOB_STATE_SCHEDULED;
		j->endpoint->in_flight--;
		p->in_flight--;
		release_request(p, pr);
	}
}

void poller_done(struct poller *p)
{
	struct poll_request *pr;

	if (!p->loop) {
		return; /* never initialised */
	}
	poller_stop(p);
	while ((pr = p->free_requests)) {
		p->free_requests = pr->next_free;
		http_request_done(&pr->http);
		free(pr->url);
		free(pr);
		p->n_requests--;
	}
	heap_done(&p->heap);
	if (!uv_is_closing((uv_handle_t *)&p->timer)) {
		uv_close((uv_handle_t *)&p->timer, NULL);
	}
}
