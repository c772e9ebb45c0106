/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <signal.h>
#include <stdio.h>

#include "fd-util.h"
#include "hook.h"
#include "journal.h"
#include "log.h"
#include "strv.h"
#include "time-util.h"

/* How often a process group that outlived its hook is looked at. */
#define HOOK_GROUP_CHECK_USEC (100 * USEC_PER_MSEC)

struct line_buffer {
	char data[HOOK_LINE_MAX];
	size_t len;
};

struct hook_run {
	struct hook_runner *runner; /* borrowed */
	struct hook_spec spec;
	struct hook_run *next, *prev; /* queue or running list */

	uv_process_t process;
	uv_pipe_t in, out, err;
	uv_timer_t timer; /* the next deadline below, or a look at the group */
	uv_write_t write_req;
	unsigned open_handles; /* initialised handles not yet closed */
	bool spawned, exited, out_eof, err_eof, finished;
	bool sent_term, sent_kill, timed_out;
	int exit_status, term_signal, spawn_error;
	pid_t pgid; /* the hook's process group (its pid: it leads a new session) */
	usec_t started_usec;
	usec_t timeout_usec; /* monotonic: SIGTERM to the group */
	usec_t exited_usec; /* when the main process ended */
	usec_t kill_usec; /* SIGKILL to the group, once SIGTERM was sent */
	usec_t drain_usec; /* stop reading pipes held outside the group */
	unsigned lines, dropped_lines;
	struct line_buffer out_buf, err_buf;
	char read_buf[4096];
};

void hook_spec_done(struct hook_spec *s)
{
	if (!s) {
		return;
	}
	strv_free(s->argv);
	strv_free(s->envp);
	free(s->input);
	free(s->file);
	*s = (struct hook_spec){ 0 };
}

static void run_free(struct hook_run *run)
{
	hook_spec_done(&run->spec);
	free(run);
}

static void start_next(struct hook_runner *h);

/* --- output lines --- */

static void emit_line(struct hook_run *run, bool is_stderr, const char *line, size_t len)
{
	if (len > 0 && line[len - 1] == '\r') {
		len--;
	}
	if (run->lines >= HOOK_LINES_MAX) {
		run->dropped_lines++;
		return;
	}
	run->lines++;
	journal_hook_line(run->spec.job_id, is_stderr, line, len);
}

static void feed(struct hook_run *run, bool is_stderr, const char *data, size_t len)
{
	struct line_buffer *b = is_stderr ? &run->err_buf : &run->out_buf;

	while (len > 0) {
		const char *nl = memchr(data, '\n', len);
		size_t take = nl ? (size_t)(nl - data) : len;
		size_t room = sizeof(b->data) - b->len;
		if (take > room) {
			take = room;
			nl = NULL;
		}
		memcpy(b->data + b->len, data, take);
		b->len += take;
		data += take;
		len -= take;
		if (nl) {
			emit_line(run, is_stderr, b->data, b->len);
			b->len = 0;
			data++; /* the newline */
			len--;
		} else if (b->len == sizeof(b->data)) {
			emit_line(run, is_stderr, b->data, b->len); /* split a long line */
			b->len = 0;
		}
	}
}

static void flush_partial(struct hook_run *run)
{
	if (run->out_buf.len > 0) {
		emit_line(run, false, run->out_buf.data, run->out_buf.len);
		run->out_buf.len = 0;
	}
	if (run->err_buf.len > 0) {
		emit_line(run, true, run->err_buf.data, run->err_buf.len);
		run->err_buf.len = 0;
	}
}

/* --- teardown --- */

static void on_uv_hook_handle_closed(uv_handle_t *handle)
{
	struct hook_run *run = handle->data;

	assert(run->open_handles > 0);
	if (--run->open_handles == 0) {
		run_free(run);
	}
}

static void close_handle(struct hook_run *run, uv_handle_t *handle)
{
	if (handle->type != UV_UNKNOWN_HANDLE && !uv_is_closing(handle)) {
		uv_close(handle, on_uv_hook_handle_closed);
	}
}

static void list_unlink(struct hook_runner *h, struct hook_run *run)
{
	if (run->prev) {
		run->prev->next = run->next;
	} else {
		h->running = run->next;
	}
	if (run->next) {
		run->next->prev = run->prev;
	}
	run->next = run->prev = NULL;
}

static void finish_run(struct hook_run *run)
{
	struct hook_runner *h = run->runner;
	struct hook_exit e = {
		.exit_status = -1,
		.spawn_error = run->spawn_error,
		.timed_out = run->timed_out,
		/* the main process's run: what it left behind may have taken longer */
		.duration_usec = (run->exited_usec > 0 ? run->exited_usec : now_monotonic_usec()) -
				 run->started_usec,
	};

	if (run->finished) {
		return;
	}
	run->finished = true;
	flush_partial(run);
	if (run->dropped_lines > 0) {
		char msg[128];
		int n = snprintf(msg, sizeof(msg), "(%u more output lines were not journaled)",
				 run->dropped_lines);
		journal_hook_line(run->spec.job_id, true, msg, (size_t)MAX(n, 0));
	}
	if (run->spawn_error == 0) {
		if (run->term_signal > 0) {
			e.signal = run->term_signal;
		} else {
			e.exit_status = run->exit_status;
		}
	}
	(void)journal_hook_exit(run->spec.job_id, run->spec.file, e.exit_status, e.signal,
				e.spawn_error, e.duration_usec, e.timed_out);

	list_unlink(h, run);
	h->n_running--;

	close_handle(run, (uv_handle_t *)&run->timer);
	close_handle(run, (uv_handle_t *)&run->in);
	close_handle(run, (uv_handle_t *)&run->out);
	close_handle(run, (uv_handle_t *)&run->err);
	close_handle(run, (uv_handle_t *)&run->process);

	h->ops->done(h->userdata, run->spec.userdata, &e);
	start_next(h);
	if (h->draining && h->n_running == 0) {
		h->ops->idle(h->userdata);
	}
}

static void on_uv_hook_timer(uv_timer_t *t);

/* A message about this run's job, with JOB_ID= so it is part of the job's story. */
static void run_log(int level, const struct hook_run *run, const char *fmt, ...) _printf_(3, 4);
static void run_log(int level, const struct hook_run *run, const char *fmt, ...)
{
	char fid[sizeof("JOB_ID=") + KIND_ID_STRING_MAX];
	const char *fields[] = { fid, NULL };
	va_list ap;

	snprintf(fid, sizeof(fid), "JOB_ID=%s", run->spec.job_id);
	va_start(ap, fmt);
	(void)log_fields_va(level, 0, fields, fmt, ap);
	va_end(ap);
}

static void arm_timer(struct hook_run *run, usec_t at_usec, usec_t now_usec)
{
	usec_t ms =
		at_usec > now_usec ? (at_usec - now_usec + USEC_PER_MSEC - 1) / USEC_PER_MSEC : 0;
	(void)uv_timer_start(&run->timer, on_uv_hook_timer, ms, 0);
}

/*
 * The hook leads its own session and process group (UV_PROCESS_DETACHED), so
 * this reaches its children too, also after the main process is gone: a pid
 * is not handed out again while a process group of that id has members.
 */
static void kill_group(struct hook_run *run, int sig)
{
	if (kill(-run->pgid, sig) < 0 && !run->exited) {
		/* it left its group (setpgid): the main process at least */
		(void)uv_process_kill(&run->process, sig);
	}
}

/* Is a process (zombies included) left in the hook's group? */
static bool group_alive(const struct hook_run *run)
{
	return run->pgid > 0 && kill(-run->pgid, 0) == 0;
}

/*
 * Moves a started run on; called when the timer fires, the main process
 * exits or an output pipe ends. In order:
 *  - main process running: SIGTERM to the group at its Timeout, SIGKILL 5 s
 *    later;
 *  - main process gone, processes left in its group: if it exited by itself,
 *    SIGTERM to the group after HOOK_LEFTOVER_GRACE_USEC (at its Timeout at
 *    the latest), then (as after a timeout) SIGKILL 5 s after the SIGTERM;
 *  - group empty or SIGKILLed: the run is over once both pipes ended, or
 *    HOOK_DRAIN_GRACE_USEC later if a process that left the group (its own
 *    setsid()) still holds them: then we stop reading and close our ends.
 * So a run always ends, and frees its MaxParallel slot, at most Timeout +
 * 5 s + the drain grace after its start.
 */
static void advance(struct hook_run *run)
{
	usec_t now = now_monotonic_usec();

	if (run->finished) {
		return;
	}
	if (!run->exited) {
		if (!run->sent_term && now >= run->timeout_usec) {
			run->sent_term = run->timed_out = true;
			run->kill_usec = now + HOOK_KILL_DELAY_USEC;
			run_log(LOG_WARNING, run,
				"Hook for job %s ran past its Timeout=, sending SIGTERM to its process group.",
				run->spec.job_id);
			kill_group(run, SIGTERM);
		}
		if (run->sent_term && !run->sent_kill && now >= run->kill_usec) {
			run->sent_kill = true;
			run_log(LOG_WARNING, run,
				"Hook for job %s did not stop after SIGTERM, sending SIGKILL to its process group.",
				run->spec.job_id);
			kill_group(run, SIGKILL);
		}
		if (!run->sent_kill) {
			arm_timer(run, run->sent_term ? run->kill_usec : run->timeout_usec, now);
		}
		return; /* its exit callback comes */
	}

	if (!run->sent_kill && group_alive(run)) {
		/* within the Timeout= too, so that a run never lasts longer than
		 * Timeout= + HOOK_KILL_DELAY_USEC + HOOK_DRAIN_GRACE_USEC */
		usec_t term_usec =
			MIN(run->exited_usec + HOOK_LEFTOVER_GRACE_USEC, run->timeout_usec);

		if (!run->sent_term && now >= term_usec) {
			run->sent_term = true;
			run->kill_usec = now + HOOK_KILL_DELAY_USEC;
			run_log(LOG_NOTICE, run,
				"Hook for job %s exited but left processes running, sending SIGTERM to its process group.",
				run->spec.job_id);
			kill_group(run, SIGTERM);
		} else if (run->sent_term && now >= run->kill_usec) {
			run->sent_kill = true;
			run_log(LOG_WARNING, run,
				"Processes of the hook for job %s did not stop after SIGTERM, sending SIGKILL to its process group.",
				run->spec.job_id);
			kill_group(run, SIGKILL);
		}
		if (!run->sent_kill) {
			usec_t next = run->sent_term ? run->kill_usec : term_usec;
			arm_timer(run, MIN(next, now + HOOK_GROUP_CHECK_USEC), now);
			return;
		}
	}

	if (run->out_eof && run->err_eof) {
		finish_run(run);
		return;
	}
	/* What holds the pipes now left the group, or was just killed and its
	 * end of the pipes is about to close. */
	if (run->drain_usec == 0) {
		run->drain_usec = now + HOOK_DRAIN_GRACE_USEC;
	}
	if (now >= run->drain_usec) {
		run_log(LOG_NOTICE, run,
			"A process outside the process group of the hook for job %s still holds its output, closing it.",
			run->spec.job_id);
		finish_run(run);
		return;
	}
	arm_timer(run, run->drain_usec, now);
}

/* --- callbacks --- */

static void on_uv_hook_timer(uv_timer_t *t)
{
	advance(t->data);
}

static void on_uv_hook_exit(uv_process_t *p, int64_t exit_status, int term_signal)
{
	struct hook_run *run = p->data;

	run->exited = true;
	run->exited_usec = now_monotonic_usec();
	run->exit_status = (int)exit_status;
	run->term_signal = term_signal;
	advance(run);
}

static void on_uv_hook_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
	struct hook_run *run = handle->data;
	*buf = uv_buf_init(run->read_buf, sizeof(run->read_buf));
}

static void on_uv_hook_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct hook_run *run = s->data;
	bool is_stderr = s == (uv_stream_t *)&run->err;

	if (nread > 0) {
		feed(run, is_stderr, buf->base, (size_t)nread);
		return;
	}
	if (nread == 0) {
		return; /* EAGAIN */
	}
	(void)uv_read_stop(s);
	if (is_stderr) {
		run->err_eof = true;
	} else {
		run->out_eof = true;
	}
	advance(run);
}

static void on_uv_hook_written(uv_write_t *req, int status)
{
	struct hook_run *run = req->data;
	/* EPIPE when the hook does not read its stdin: fine. Closing our end
	 * gives the hook EOF. */
	close_handle(run, (uv_handle_t *)&run->in);
}

/* --- starting --- */

static int init_handles(struct hook_run *run, uv_loop_t *loop)
{
	uv_handle_t *hs[] = { (uv_handle_t *)&run->in, (uv_handle_t *)&run->out,
			      (uv_handle_t *)&run->err };
	int r;

	for (size_t i = 0; i < ELEMENTSOF(hs); i++) {
		r = uv_pipe_init(loop, (uv_pipe_t *)hs[i], 0);
		if (r < 0) {
			return r;
		}
		hs[i]->data = run;
		run->open_handles++;
	}
	r = uv_timer_init(loop, &run->timer);
	if (r < 0) {
		return r;
	}
	run->timer.data = run;
	run->open_handles++;
	return 0;
}

/* Long (about 90 lines): the pipes, the close-on-exec sweep right before the
 * spawn, the bookkeeping when uv_spawn() fails (its exit callback never
 * runs) and the start of output and input, in the order they must happen. */
static void start_run(struct hook_runner *h, struct hook_run *run)
{
	uv_stdio_container_t stdio[3];
	uv_process_options_t opts = { 0 };
	int r;

	run->started_usec = now_monotonic_usec();
	run->next = h->running;
	if (h->running) {
		h->running->prev = run;
	}
	h->running = run;
	h->n_running++;

	r = init_handles(run, h->loop);
	if (r < 0) {
		run->spawn_error = -ENOMEM;
		run->exited = run->out_eof = run->err_eof = true;
		finish_run(run);
		return;
	}

	stdio[0] = (uv_stdio_container_t){ .flags = UV_CREATE_PIPE | UV_READABLE_PIPE,
					   .data.stream = (uv_stream_t *)&run->in };
	stdio[1] = (uv_stdio_container_t){ .flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE,
					   .data.stream = (uv_stream_t *)&run->out };
	stdio[2] = (uv_stdio_container_t){ .flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE,
					   .data.stream = (uv_stream_t *)&run->err };
	opts.file = run->spec.argv[0];
	opts.args = run->spec.argv;
	opts.env = run->spec.envp;
	opts.cwd = "/";
	opts.exit_cb = on_uv_hook_exit;
	opts.stdio = stdio;
	opts.stdio_count = 3;
	/* its own session and process group, so that a timeout, or the end of
	 * the hook, can reach what it started */
	opts.flags = UV_PROCESS_DETACHED;

	/* libuv closes nothing in the child but the pipes it made: every other
	 * fd must be close-on-exec, whoever opened it (libcurl 7.88's
	 * socketpair, an fd the daemon inherited, ...), so that the hook gets
	 * 0, 1 and 2 only. Done right before each spawn, as new fds appear all
	 * the time. Only this thread opens fds while hooks start: the jobsdir
	 * prefetch thread is joined before its scan returns, and libcurl's
	 * resolver threads only run getaddrinfo(), whose files and sockets
	 * glibc opens with O_CLOEXEC. */
	r = fd_cloexec_from(3);
	if (r < 0) {
		run_log(LOG_WARNING, run,
			"Failed to mark the daemon's files close-on-exec before running the hook for job %s, it may inherit some: %s",
			run->spec.job_id, strerror(-r));
	}

	r = uv_spawn(h->loop, &run->process, &opts);
	/* uv_spawn initialises the handle even when it fails: it must be closed */
	run->process.data = run;
	run->open_handles++;
	if (r < 0) {
		/* the exit callback will never run: finish the bookkeeping here */
		run->spawn_error = r; /* libuv's codes are negative errnos on Linux */
		run_log(LOG_WARNING, run, "Failed to start hook '%s' for job %s: %s",
			run->spec.argv[0], run->spec.job_id, uv_strerror(r));
		run->exited = run->out_eof = run->err_eof = true;
		finish_run(run);
		return;
	}
	run->spawned = true;
	run->process.data = run;
	run->pgid = run->process.pid;
	h->ops->started(h->userdata, run->spec.userdata, run->process.pid);

	(void)uv_read_start((uv_stream_t *)&run->out, on_uv_hook_alloc, on_uv_hook_read);
	(void)uv_read_start((uv_stream_t *)&run->err, on_uv_hook_alloc, on_uv_hook_read);

	if (run->spec.input && run->spec.input_len > 0) {
		uv_buf_t b = uv_buf_init(run->spec.input, (unsigned)run->spec.input_len);
		run->write_req.data = run;
		r = uv_write(&run->write_req, (uv_stream_t *)&run->in, &b, 1, on_uv_hook_written);
		if (r < 0) {
			close_handle(run, (uv_handle_t *)&run->in);
		}
	} else {
		close_handle(run, (uv_handle_t *)&run->in);
	}

	run->timeout_usec = run->started_usec + MAX(run->spec.timeout_usec, USEC_PER_MSEC);
	advance(run);
}

static void on_uv_hook_kick(uv_timer_t *t)
{
	start_next(t->data);
}

static void start_next(struct hook_runner *h)
{
	unsigned budget = HOOK_STARTS_PER_TURN;

	while (!h->draining && h->queue_head && h->n_running < h->max_parallel) {
		if (budget-- == 0) {
			/* the rest on the next loop turn, after I/O had its go */
			if (h->kick_init) {
				(void)uv_timer_start(&h->kick, on_uv_hook_kick, 0, 0);
			}
			return;
		}
		struct hook_run *run = h->queue_head;
		h->queue_head = run->next;
		if (!h->queue_head) {
			h->queue_tail = NULL;
		}
		run->next = NULL;
		h->n_queued--;
		start_run(h, run);
	}
}

/* --- public --- */

int hook_runner_init(struct hook_runner *h, uv_loop_t *loop, unsigned max_parallel,
		     const struct hook_ops *ops, void *userdata)
{
	*h = (struct hook_runner){
		.loop = loop,
		.ops = ops,
		.userdata = userdata,
		.max_parallel = MAX(max_parallel, 1U),
	};
	int r = uv_timer_init(loop, &h->kick);
	if (r < 0) {
		return log_error_errno(-EIO, "Failed to set up the hook timer: %s", uv_strerror(r));
	}
	h->kick.data = h;
	h->kick_init = true;
	return 0;
}

void hook_runner_done(struct hook_runner *h)
{
	struct hook_run *run;

	if (!h) {
		return;
	}
	assert(h->n_running == 0);
	while ((run = h->queue_head)) {
		h->queue_head = run->next;
		if (h->ops->discarded) {
			h->ops->discarded(h->userdata, run->spec.userdata);
		}
		run_free(run);
	}
	h->queue_tail = NULL;
	h->n_queued = 0;
	if (h->kick_init && !uv_is_closing((uv_handle_t *)&h->kick)) {
		uv_close((uv_handle_t *)&h->kick, NULL);
	}
}

void hook_runner_set_max_parallel(struct hook_runner *h, unsigned n)
{
	h->max_parallel = MAX(n, 1U);
	start_next(h);
}

int hook_enqueue(struct hook_runner *h, struct hook_spec *spec)
{
	struct hook_run *run = calloc(1, sizeof(*run));

	if (!run) {
		hook_spec_done(spec);
		return -ENOMEM;
	}
	run->runner = h;
	run->spec = *spec;
	*spec = (struct hook_spec){ 0 };
	if (h->queue_tail) {
		h->queue_tail->next = run;
	} else {
		h->queue_head = run;
	}
	h->queue_tail = run;
	h->n_queued++;
	start_next(h);
	return 0;
}

void hook_runner_drain(struct hook_runner *h)
{
	h->draining = true;
	if (h->n_running == 0) {
		h->ops->idle(h->userdata);
	}
}
