/* SPDX-License-Identifier: MIT */
/*
 * http.c on a real loop: requests cancelled while their connection is still
 * being made. libcurl 7.88.0 to 8.1.2 closes such a socket with a plain
 * close(), without CURLOPT_CLOSESOCKETFUNCTION, and says CURL_POLL_REMOVE
 * only afterwards (curl PR #11439). The watch of that socket must not
 * outlive it:
 *  - cancelled in the turn the socket was opened (before libuv passed the
 *    watch to epoll), a watch left started made libuv abort (epoll_ctl ADD on
 *    a closed fd);
 *  - cancelled later, a watch left registered by fd number in libuv took the
 *    events of the next file that got the same number (here a pipe, in the
 *    daemon a hook's output pipe), which then never became readable.
 * The server is a local listener whose accept queue is full, so the kernel
 * drops the SYNs and every connect stays in progress.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "http.h"
#include "log.h"

#define ROUNDS 300
#define MAX_SPIN 200000 /* loop turns to wait for the pipe's byte */

enum driver {
	DRIVE_PREPARE, /* cancel 1, 2 or 3 turns after the submission */
	DRIVE_PREPARE_LATE, /* 2 or 3 turns: libuv has registered the socket */
	DRIVE_TIMER, /* zero timers: 0, 1 or 2 turns */
};

struct run {
	uv_loop_t loop;
	uv_prepare_t prepare;
	uv_idle_t idle; /* keeps the loop turning: epoll never blocks */
	uv_timer_t timer;
	enum driver driver;
	struct http *http;
	struct http_request req;
	char url[64];

	unsigned round;
	unsigned turns; /* since the submission */
	unsigned cancel_after; /* turns */
	int free_fd; /* the lowest free fd number before the submission */
	bool submitted;
	bool cancelled; /* the pipe is opened at the next step */

	/* after a cancel: a pipe that should get the fd number the socket had */
	int pipe_fds[2];
	uv_poll_t pipe_poll;
	bool pipe_open;
	bool pipe_readable;
	unsigned spin;
	unsigned reused; /* rounds in which the pipe got the socket's number */
	bool done;
};

static int listener_fd = -1;
static int filler_fds[4] = { -1, -1, -1, -1 };
static int listen_port;

/* A listener that never accepts, its queue full: connects hang in SYN_SENT. */
static void listener_start(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);

	listener_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(listener_fd >= 0);
	assert_int_equal(bind(listener_fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(listener_fd, 0), 0);
	assert_int_equal(getsockname(listener_fd, (struct sockaddr *)&a, &len), 0);
	listen_port = ntohs(a.sin_port);
	for (size_t i = 0; i < ELEMENTSOF(filler_fds); i++) {
		filler_fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		assert_true(filler_fds[i] >= 0);
		int r = connect(filler_fds[i], (struct sockaddr *)&a, sizeof(a));
		assert_true(r == 0 || errno == EINPROGRESS);
	}
	usleep(50 * 1000); /* the first fillers are queued, the others hang */
}

static void listener_stop(void)
{
	for (size_t i = 0; i < ELEMENTSOF(filler_fds); i++) {
		close(filler_fds[i]);
	}
	close(listener_fd);
}

static int lowest_free_fd(void)
{
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	close(fd);
	return fd;
}

static void on_done(struct http_request *req)
{
	(void)req;
	fail_msg("a cancelled request completed");
}

static void on_pipe(uv_poll_t *p, int status, int events)
{
	struct run *r = container_of(p, struct run, pipe_poll);
	char c;

	assert_int_equal(status, 0);
	assert_true(events & UV_READABLE);
	assert_int_equal(read(r->pipe_fds[0], &c, 1), 1);
	r->pipe_readable = true;
	uv_poll_stop(p);
}

static void on_pipe_closed(uv_handle_t *h)
{
	struct run *r = container_of((uv_poll_t *)h, struct run, pipe_poll);
	close(r->pipe_fds[0]);
	close(r->pipe_fds[1]);
}

static void pipe_open(struct run *r)
{
	assert_int_equal(pipe2(r->pipe_fds, O_CLOEXEC | O_NONBLOCK), 0);
	if (r->pipe_fds[0] == r->free_fd) {
		r->reused++;
	}
	int e = uv_poll_init(&r->loop, &r->pipe_poll, r->pipe_fds[0]);
	if (e < 0) {
		/* EEXIST: libuv still has a watch for this fd number */
		fail_msg("round %u (cancelled after %u turns): watching a pipe on fd %d "
			 "(reused: %s) failed: %s",
			 r->round, r->cancel_after, r->pipe_fds[0],
			 r->pipe_fds[0] == r->free_fd ? "yes" : "no", uv_strerror(e));
	}
	assert_int_equal(uv_poll_start(&r->pipe_poll, UV_READABLE, on_pipe), 0);
	assert_int_equal(write(r->pipe_fds[1], "x", 1), 1);
	r->pipe_open = true;
	r->pipe_readable = false;
	r->spin = 0;
}

static void on_timer(uv_timer_t *t);

/* One step per loop turn, from the prepare handler or a zero timer. */
static void step(struct run *r)
{
	if (r->done) {
		return;
	}
	if (r->cancelled) {
		/* one turn later: libuv has polled once with the socket gone */
		r->cancelled = false;
		pipe_open(r);
		return;
	}
	if (r->pipe_open) {
		if (!r->pipe_readable) {
			if (++r->spin > MAX_SPIN) {
				fail_msg("round %u: a pipe reusing the fd of a cancelled "
					 "connection never became readable",
					 r->round);
			}
			return;
		}
		uv_close((uv_handle_t *)&r->pipe_poll, on_pipe_closed);
		r->pipe_open = false;
		r->round++;
		return; /* its fds are closed at the end of this turn */
	}
	if (r->round == ROUNDS) {
		r->done = true;
		uv_close((uv_handle_t *)&r->idle, NULL);
		uv_close((uv_handle_t *)&r->prepare, NULL);
		uv_close((uv_handle_t *)&r->timer, NULL);
		http_request_done(&r->req);
		http_free(r->http);
		return;
	}
	if (!r->submitted) {
		const struct http_target t = {
			.url = r->url,
			.timeout_usec = 30 * USEC_PER_SEC,
			.version = HTTP_VERSION_AUTO,
			.proxy = "",
		};
		r->free_fd = lowest_free_fd();
		assert_int_equal(http_submit(&r->req, &t), 0);
		r->submitted = true;
		r->turns = 0;
		if (r->driver == DRIVE_PREPARE) {
			/* 1: the socket was opened in this very turn (curl's zero
			 * timer, in the timer phase); 2 and 3: libuv has
			 * registered it by then */
			r->cancel_after = 1 + r->round % 3;
		} else if (r->driver == DRIVE_PREPARE_LATE) {
			r->cancel_after = 2 + r->round % 2;
		} else {
			/* 0: in the same timer phase, right after curl's zero
			 * timer opened the socket (it was started first) */
			r->cancel_after = r->round % 3;
			if (r->cancel_after == 0) {
				assert_int_equal(uv_timer_start(&r->timer, on_timer, 0, 0), 0);
			}
		}
		return;
	}
	if (++r->turns < r->cancel_after) {
		return;
	}
	http_cancel(&r->req);
	r->submitted = false;
	r->cancelled = true;
}

static void on_prepare(uv_prepare_t *p)
{
	step(container_of(p, struct run, prepare));
}

static void on_timer(uv_timer_t *t)
{
	step(container_of(t, struct run, timer));
}

/* Runs every turn. A zero timer restarted from its own callback would run
 * again in the same timer phase (libuv 1.44): restart it from here. */
static void on_idle(uv_idle_t *i)
{
	struct run *r = container_of(i, struct run, idle);
	if (r->driver == DRIVE_TIMER && !r->done && !uv_is_active((uv_handle_t *)&r->timer)) {
		assert_int_equal(uv_timer_start(&r->timer, on_timer, 0, 0), 0);
	}
}

static void run_cancels(enum driver driver)
{
	struct run *r = calloc(1, sizeof(*r));

	assert_non_null(r);
	listener_start();
	r->driver = driver;
	snprintf(r->url, sizeof(r->url), "http://127.0.0.1:%d/v1/workflows/run/x", listen_port);
	assert_int_equal(uv_loop_init(&r->loop), 0);
	assert_int_equal(http_new(&r->loop, &r->http), 0);
	r->req.on_done = on_done;
	assert_int_equal(http_request_init(&r->req, r->http), 0);
	assert_int_equal(uv_idle_init(&r->loop, &r->idle), 0);
	assert_int_equal(uv_idle_start(&r->idle, on_idle), 0);
	assert_int_equal(uv_prepare_init(&r->loop, &r->prepare), 0);
	assert_int_equal(uv_timer_init(&r->loop, &r->timer), 0);
	if (driver != DRIVE_TIMER) {
		assert_int_equal(uv_prepare_start(&r->prepare, on_prepare), 0);
	} else {
		assert_int_equal(uv_timer_start(&r->timer, on_timer, 0, 0), 0);
	}

	assert_int_equal(uv_run(&r->loop, UV_RUN_DEFAULT), 0);
	assert_true(r->done);
	/* the test is about fd reuse: it must have happened */
	if (r->reused < ROUNDS / 2) {
		fail_msg("the pipe got the socket's fd number in %u rounds of %u", r->reused,
			 ROUNDS);
	}
	assert_int_equal(uv_loop_close(&r->loop), 0);
	listener_stop();
	free(r);
}

static void test_cancel_from_prepare(void **state)
{
	(void)state;
	run_cancels(DRIVE_PREPARE);
}

/* Without the abort of the first case: the fd number reused after a cancel */
static void test_cancel_registered_from_prepare(void **state)
{
	(void)state;
	run_cancels(DRIVE_PREPARE_LATE);
}

static void test_cancel_from_zero_timer(void **state)
{
	(void)state;
	run_cancels(DRIVE_TIMER);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cancel_from_prepare),
		cmocka_unit_test(test_cancel_registered_from_prepare),
		cmocka_unit_test(test_cancel_from_zero_timer),
	};
	log_set_max_level(LOG_WARNING);
	if (argc > 1) {
		cmocka_set_test_filter(argv[1]); /* one case by name */
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
