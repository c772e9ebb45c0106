#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""A state directory of version 1 (before job kinds) is migrated in place (schema 2, one
transaction) and every job in it carries on as if nothing happened:

A. as version 1 leaves it when killed with -9 right after a result: a job it finished,
   reported and hooked, whose "journaled" mark is only in its ack file (journaled.log,
   version 1's three-field lines), and a pending job with its polls stored. The new binary
   reports neither the finished job nor runs its hook again, and the pending one ends with one
   result of kind annotation-reply whose JOB_POLLS counts the stored polls too.
B. a pending job, a finished
   one whose hook is still due (run once, with the body of its last answer on stdin), and a
   finished one whose result and hook are done (left alone).
"""

import os
import time
import uuid

import harness as H
import jwcheck as C
from kindcheck import write_v1_state



def check_migrated(sb, n_rows):
    H.eq(sb.state_query("SELECT value FROM meta WHERE key = 'schema'"), [{"value": "2"}],
         "schema version of the migrated state")
    rows = sb.state_query("SELECT kind, dataset, count(*) AS n FROM jobs GROUP BY kind, dataset")
    H.eq(rows, [{"kind": "annotation-reply", "dataset": "", "n": n_rows}], "rows of the migrated state")


def part_a(sb, mock):
    hook = sb.recording_hook()
    sb.write_config(sb.base_config(mock, hook=hook, initial="100ms", max_interval="300ms"))
    done, pending = str(uuid.uuid4()), str(uuid.uuid4())
    mock.add_jobs({"job_id": pending, "action": "disable", "lifecycle": [["waiting", None]]})
    sb.write_job("a-done", done)
    f_pending = sb.write_job("a-pending", pending, action="disable")
    now = int(time.time() * 1e6)
    # as version 1 leaves it when killed with -9 right after a result: the job's result
    # journaled and its hook done, the "journaled" mark only in its ack file (version 1's
    # three-field line); a pending job with 3 polls stored
    write_v1_state(sb.state_dir, [
        ("default", "enable", done, "a-done.job", now - 9_000_000, 5, 1, "completed", "completed",
         now - 1_000_000, "", None, 0, 2, now),
        ("default", "disable", pending, "a-pending.job", now - 9_000_000, 3, 1, "waiting", None, None,
         None, None, 0, 0, now),
    ], acks=["default enable %s" % done])

    d = sb.start_daemon()
    check_migrated(sb, 2)
    mock.wait_for_requests(1, timeout=10, job_id=pending)
    mock.set(pending, status="completed", action="disable")
    C.wait_results(d, 1, timeout=10, job_id=pending)
    sb.wait_for_hook_records(1)
    res = C.assert_one_result_each(d, [pending])
    r = res[pending]
    H.eq((r["JOB_KIND"], r["JOB_ACTION"], r["JOB_STATUS"], r["JOB_REMOTE_STATUS"], r["JOB_FILE"]),
         ("annotation-reply", "disable", "completed", "completed", f_pending), "result of the pending job")
    H.eq(int(r["JOB_POLLS"]), 3 + len(mock.status_requests(pending)),
         "JOB_POLLS: the stored count and the new binary's polls")
    H.eq(mock.status_requests(done), [], "polls of the job version 1 finished")
    H.eq(C.results(d, job_id=done), [], "results of the job version 1 finished")
    H.eq(sorted(h["env"]["JOBWATCH_JOB_ID"] for h in sb.hook_records()), [pending],
         "hook runs (the finished job's not again)")
    H.eq(sb.state_query("SELECT journaled FROM jobs WHERE job_id = ?", (done,)), [{"journaled": 1}],
         "the ack line applied to the migrated row")
    d.stop()


def part_b(sb, mock):
    hook = sb.recording_hook()
    sb.write_config(sb.base_config(mock, hook=hook, initial="100ms", max_interval="300ms"))
    pending, due, settled = (str(uuid.uuid4()) for _ in range(3))
    mock.add_jobs({"job_id": pending, "lifecycle": [["waiting", None]]})
    names = {pending: sb.write_job("b-pending", pending), due: sb.write_job("b-due", due, action="disable"),
             settled: sb.write_job("b-settled", settled)}
    now = int(time.time() * 1e6)
    # the pending row keeps "processing", a word older versions knew (no Dify release
    # writes it): it loads as an unknown status and the job is watched on
    write_v1_state(sb.state_dir, [
        ("default", "enable", pending, "b-pending.job", now - 5_000_000, 4, 1, "processing", None, None, None,
         None, 0, 0, now),
        ("default", "disable", due, "b-due.job", now - 9_000_000, 6, 1, "error", "error", now - 1_000_000,
         "embedding model gone", b'{"job_id":"%s","job_status":"error"}' % due.encode(), 1, 0, now),
        ("default", "enable", settled, "b-settled.job", now - 9_000_000, 2, 1, "completed", "completed",
         now - 2_000_000, "", None, 1, 2, now),
    ])

    d = sb.start_daemon()
    check_migrated(sb, 3)
    sb.wait_for_hook_records(1)
    mock.wait_for_requests(1, timeout=10, job_id=pending)
    mock.set(pending, status="completed")
    C.wait_results(d, 1, timeout=10, job_id=pending)
    sb.wait_for_hook_records(2)
    res = C.assert_one_result_each(d, [pending])
    r = res[pending]
    H.eq((r["JOB_KIND"], r["JOB_STATUS"], r["JOB_REMOTE_STATUS"], r["JOB_FILE"]),
         ("annotation-reply", "completed", "completed", names[pending]), "result of the pending job")
    H.eq(int(r["JOB_POLLS"]), 4 + len(mock.status_requests(pending)), "JOB_POLLS counts the stored polls")
    hooks = {h["env"]["JOBWATCH_JOB_ID"]: h for h in sb.hook_records()}
    H.eq(sorted(hooks), sorted([pending, due]), "hook runs (the settled job's not again)")
    H.eq((hooks[due]["env"]["JOBWATCH_KIND"], hooks[due]["env"]["JOBWATCH_ACTION"],
          hooks[due]["env"]["JOBWATCH_STATUS"], hooks[due]["env"]["JOBWATCH_ERROR"]),
         ("annotation-reply", "disable", "error", "embedding model gone"), "hook of the due job")
    H.eq(hooks[due]["stdin"], '{"job_id":"%s","job_status":"error"}' % due, "the due hook's stdin")
    H.eq(mock.status_requests(due) + mock.status_requests(settled), [], "polls of the finished jobs")
    d.stop()


def test():
    sb = H.Sandbox(name="state_v1_base")
    mock = sb.start_mock()
    part_a(sb, mock)
    sb2 = H.Sandbox(name="state_v1_hand")
    part_b(sb2, mock)


H.main(test, needs_journal=True)
