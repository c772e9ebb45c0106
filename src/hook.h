/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Runs hooks with uv_spawn: directly, never through a shell, with the
 * environment it is given and nothing else. stdin gets the job's last answer
 * body; every line the hook prints on stdout or stderr becomes a journal entry
 * with JOB_ID. It gets fds 0, 1 and 2 and no other. It runs in its own
 * session and process group. Past its timeout that group gets SIGTERM, and
 * SIGKILL 5 s later, whatever the main process did meanwhile. Processes a
 * hook that exited by itself left in its group get SIGTERM 1 s later, and
 * SIGKILL 5 s after that. A run is over (journaled, its slot free) once its
 * group is empty or SIGKILLed and its pipes ended, or 1 s after that if a
 * process that left the group still holds them. At most max_parallel hooks
 * run at once; the rest wait in FIFO order.
 */

#include <stdbool.h>
#include <sys/types.h>
#include <uv.h>

#include "macro.h"
#include "kind.h" /* KIND_ID_STRING_MAX */
#include "uuid-util.h"

#define HOOK_KILL_DELAY_USEC (5 * USEC_PER_SEC) /* SIGTERM -> SIGKILL */
#define HOOK_LEFTOVER_GRACE_USEC (1 * USEC_PER_SEC) /* hook exited -> SIGTERM to its group */
#define HOOK_DRAIN_GRACE_USEC (1 * USEC_PER_SEC) /* group over -> close pipes held elsewhere */
#define HOOK_LINE_MAX 4096 /* longer output lines are split */
#define HOOK_LINES_MAX 1000 /* lines journaled per run; the rest are counted */
/* Hooks started per loop turn. uv_spawn (libuv 1.44 on Linux) forks the whole
 * daemon and waits for the exec: a burst of thousands would stall polling. */
#define HOOK_STARTS_PER_TURN 4

/* What to run. Owned by the runner once enqueued. */
struct hook_spec {
	char **argv; /* owned; argv[0] is an absolute path */
	char **envp; /* owned; the complete environment */
	char *input; /* owned stdin content, may be NULL */
	size_t input_len;
	usec_t timeout_usec;
	char job_id[KIND_ID_STRING_MAX]; /* JOB_ID: any kind's own id */
	char *file; /* owned: the job file's full path, for the journal */
	void *userdata; /* borrowed: handed back to the callbacks */
};

struct hook_exit {
	int exit_status; /* >= 0 when it exited */
	int signal; /* > 0 when a signal killed it */
	int spawn_error; /* < 0 when it could not be started */
	bool timed_out;
	usec_t duration_usec;
};

struct hook_ops {
	/* The hook process now runs as pid (for the state store). */
	void (*started)(void *userdata, void *job, pid_t pid);
	/* The run ended; already journaled. */
	void (*done)(void *userdata, void *job, const struct hook_exit *e);
	/* Nothing runs any more (only while draining). */
	void (*idle)(void *userdata);
	/* A queued run is dropped unstarted by hook_runner_done(). */
	void (*discarded)(void *userdata, void *job);
};

struct hook_run;

struct hook_runner {
	uv_loop_t *loop; /* borrowed */
	const struct hook_ops *ops;
	void *userdata;
	unsigned max_parallel;
	struct hook_run *queue_head, *queue_tail; /* owned, waiting to start */
	struct hook_run *running; /* owned, started and not yet finished */
	unsigned n_queued, n_running;
	bool draining; /* no more starts: shutting down */
	uv_timer_t kick; /* continues starting hooks on the next loop turn */
	bool kick_init;
};

/* Returns 0 or a negative errno (logged). */
int hook_runner_init(struct hook_runner *h, uv_loop_t *loop, unsigned max_parallel,
		     const struct hook_ops *ops, void *userdata);
/* Drops queued runs (never started; ops->discarded for each). Running ones
 * must be over. Closes the kick timer: the struct must live until the loop
 * ran its close callback. */
void hook_runner_done(struct hook_runner *h);

void hook_runner_set_max_parallel(struct hook_runner *h, unsigned n);

/* Queue spec (ownership moves to the runner, also on failure). 0 or -ENOMEM. */
int hook_enqueue(struct hook_runner *h, struct hook_spec *spec);

/*
 * Stop starting hooks: queued ones stay unstarted (freed by finish). ops->idle
 * is called once nothing runs (right away if nothing does).
 */
void hook_runner_drain(struct hook_runner *h);

void hook_spec_done(struct hook_spec *s); /* frees members; accepts zeroed */
