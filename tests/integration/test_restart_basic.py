#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""A quick restart test, small enough for valgrind (suite 'valgrind', JOBWATCH_TEST_SLOW=1).

A finished job survives a SIGTERM restart and a kill -9 restart without being polled, reported
or hooked again; a pending job resumes (JOB_POLLS = the requests the mock saw, across a clean
stop); a job file removed while the daemon is down is cancelled at start-up; a kill -9 right after
a result entry, whose "journaled" mark is only in journaled.log yet, repeats neither the entry nor
the hook.  Every clean stop must exit 0 (under valgrind: no memory errors, no leaks).
"""

import os
import time
import uuid

import harness as H



def test():
    sb = H.Sandbox(name="restart-basic")
    F, P, R = (str(uuid.uuid4()) for _ in range(3))
    mock = sb.start_mock(jobs=[{"job_id": F, "lifecycle": [["completed", None]]},
                               {"job_id": P, "lifecycle": [["waiting", None]]},
                               {"job_id": R, "lifecycle": [["waiting", None]]}])
    hook = sb.recording_hook()
    sb.write_config(sb.base_config(mock, hook=hook, initial="200ms", max_interval="500ms"))
    sb.write_job("finished", F)
    sb.write_job("pending", P)
    sb.write_job("removed", R)
    d = sb.start_daemon(timeout=20)
    [e] = d.wait_for_results(1, timeout=10, job_id=F)
    H.eq(e["JOB_STATUS"], "completed", "F outcome")
    sb.wait_for_hook_records(1, timeout=10)
    mock.wait_for_requests(2, timeout=10, job_id=P)

    # SIGTERM, with R's file removed while down
    d.stop(timeout=30)
    seq = max(x["seq"] for x in mock.requests(headers=False))
    sb.remove_job("removed")
    d.start(timeout=20)
    [c] = d.wait_for_results(1, timeout=10, job_id=R)
    H.eq(c["JOB_STATUS"], "cancelled", "R outcome (file removed while down)")
    mock.wait_for_requests(1, timeout=10, job_id=P, predicate=lambda x: x["seq"] > seq)

    # kill -9, then P ends
    time.sleep(0.5)             # the scenario: the restarted daemon polls P a while before the kill
    d.kill9()
    d.start(timeout=20)
    mock.set(P, status="completed")
    [p] = d.wait_for_results(1, timeout=10, job_id=P)
    H.eq(p["JOB_STATUS"], "completed", "P outcome")
    n = len(mock.status_requests(P))
    H.check(n - 6 <= int(p["JOB_POLLS"]) <= n, "P JOB_POLLS %s vs %d requests at the mock (a kill -9 may lose "
            "the lazily written counts of the last second)", p["JOB_POLLS"], n)
    sb.wait_for_hook_records(2, timeout=10)
    H.quiet(1.0, "F, finished before the restarts, is neither polled nor reported again")
    H.eq([x for x in mock.status_requests(F) if x["seq"] > seq], [], "status requests for F after the restarts")
    H.eq(len(d.results(job_id=F)), 1, "result entries of F")
    H.eq(len(d.results(job_id=R)), 1, "result entries of R")
    runs = sorted(r["env"]["JOBWATCH_JOB_ID"] for r in sb.hook_records())
    H.eq(runs, sorted([F, P]), "hook runs")

    # kill -9 right after a result entry, while its "journaled" mark is only in journaled.log
    # (it reaches state.db with the next lazy batch): the restart replays the file, so the
    # result is not journaled again and the hook does not run again.
    acks = os.path.join(sb.state_dir, "journaled.log")
    replayed = 0
    for attempt in range(3):
        Q = str(uuid.uuid4())
        mock.add_job(Q, lifecycle=[["completed", None]])
        sb.write_job("q%d" % attempt, Q)
        d.wait_for_results(1, timeout=10, job_id=Q)
        sb.wait_for_hook_records(3 + attempt, timeout=10)
        in_log = os.path.exists(acks) and ("default enable %s" % Q) in open(acks).read().splitlines()
        in_db = sb.state_query("SELECT journaled FROM jobs WHERE job_id = ?", (Q,))[0]["journaled"]
        d.kill9()
        d.start(timeout=20)
        H.quiet(1.0, "Q is not reported again by the restarted daemon")
        H.eq(len(d.results(job_id=Q)), 1, "result entries of Q after a kill -9 (attempt %d)" % attempt)
        after = sb.state_query("SELECT journaled FROM jobs WHERE job_id = ?", (Q,))[0]["journaled"]
        H.eq(after, 1, "Q journaled in state.db after the restart")
        H.note("attempt %d: mark in journaled.log %s, in state.db %s before the kill", attempt, in_log, in_db)
        if in_log and not in_db:
            replayed += 1
            break
    H.check(replayed == 1, "the kill never caught a mark that was only in journaled.log")
    runs = sorted(r["env"]["JOBWATCH_JOB_ID"] for r in sb.hook_records())
    H.eq(len(runs), len(set(runs)), "no hook ran twice")
    d.stop(timeout=30)


H.main(test, needs_journal=True)
