#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""A state directory of version 1 (before job kinds) is migrated in place (schema 2, one
transaction) and every job in it carries on as if nothing happened:

A. written by the binary from before kinds ($JOBWATCHD_BASE, default the one in
   /work/wt/base; this part is not run where there is none, and says so): a job it finished,
   reported and hooked, and whose "journaled" mark it left only in its ack file
   (journaled.log, version 1's three-field lines) because it was killed with -9 before the lazy
   flush; and a pending job it polled. The new binary reports neither the finished job nor
   runs its hook again, and the pending one ends with one result of kind annotation-reply whose
   JOB_POLLS counts the old binary's stored polls too.
B. written by hand with version 1's schema (this part always runs): a pending job, a finished
   one whose hook is still due (run once, with the body of its last answer on stdin), and a
   finished one whose result and hook are done (left alone).
"""

import os
import sqlite3
import time
import uuid

import harness as H
import jwcheck as C

BASE_BINARY = os.environ.get("JOBWATCHD_BASE", "/work/wt/base/build/src/jobwatchd")

# tests/unit/test-state.c spells out the same schema (version 1 as the daemon wrote it)
V1_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID;
CREATE TABLE jobs (endpoint TEXT NOT NULL, action TEXT NOT NULL, job_id TEXT NOT NULL,
  file TEXT NOT NULL, description TEXT, accepted_usec INTEGER NOT NULL,
  polls INTEGER NOT NULL DEFAULT 0, seen_alive INTEGER NOT NULL DEFAULT 0,
  gone_count INTEGER NOT NULL DEFAULT 0, last_status TEXT, last_status_usec INTEGER,
  outcome TEXT, finished_usec INTEGER, error_msg TEXT, body BLOB,
  journaled INTEGER NOT NULL DEFAULT 0, hook_state INTEGER NOT NULL DEFAULT 0,
  hook_pid INTEGER, hook_pid_start INTEGER, updated_usec INTEGER NOT NULL,
  PRIMARY KEY (endpoint, action, job_id)) WITHOUT ROWID;
CREATE TABLE endpoints (name TEXT PRIMARY KEY, trouble TEXT, trouble_since_usec INTEGER,
  updated_usec INTEGER NOT NULL) WITHOUT ROWID;
INSERT INTO meta VALUES ('schema', '1');
"""


def check_migrated(sb, n_rows):
    H.eq(sb.state_query("SELECT value FROM meta WHERE key = 'schema'"), [{"value": "2"}],
         "schema version of the migrated state")
    rows = sb.state_query("SELECT kind, dataset, count(*) AS n FROM jobs GROUP BY kind, dataset")
    H.eq(rows, [{"kind": "annotation-reply", "dataset": "", "n": n_rows}], "rows of the migrated state")


def part_a(sb, mock):
    if not os.access(BASE_BINARY, os.X_OK):
        print("part A not run: no binary from before kinds at %s (set JOBWATCHD_BASE)" % BASE_BINARY)
        return
    hook = sb.recording_hook()
    sb.write_config(sb.base_config(mock, hook=hook, initial="100ms", max_interval="300ms"))
    done, pending = str(uuid.uuid4()), str(uuid.uuid4())
    mock.add_jobs({"job_id": done, "lifecycle": [["waiting", 0.3], ["completed", None]]},
                  {"job_id": pending, "action": "disable", "lifecycle": [["waiting", None]]})
    sb.write_job("a-done", done)
    f_pending = sb.write_job("a-pending", pending, action="disable")
    old = sb.start_daemon(binary=BASE_BINARY)
    C.wait_results(old, 1, timeout=10, job_id=done)
    sb.wait_for_hook_records(1)
    H.wait_until(lambda: len(old.journal(MESSAGE_ID=C.HOOK_EXIT)) >= 1, 10, what="the hook's exit entry")
    mock.wait_for_requests(2, timeout=10, job_id=pending)
    old.kill9()  # before the lazy flush: the "journaled" mark is in journaled.log only
    acks = open(os.path.join(sb.state_dir, "journaled.log")).read()
    H.check(("default enable %s\n" % done) in acks, "version 1's ack line in journaled.log: %r", acks)
    H.eq(sb.state_query("SELECT journaled FROM jobs WHERE job_id = ?", (done,)), [{"journaled": 0}],
         "the mark not yet in the old database")
    polls_done = len(mock.status_requests(done))
    # poll counts are written lazily: a kill -9 loses the last few (jobwatchd(8))
    stored = sb.state_query("SELECT polls FROM jobs WHERE job_id = ?", (pending,))[0]["polls"]
    polled_old = len(mock.status_requests(pending))

    d = sb.start_daemon()
    check_migrated(sb, 2)
    before = len(mock.status_requests(pending))
    mock.wait_for_requests(before + 1, timeout=10, job_id=pending)
    mock.set(pending, status="completed", action="disable")
    C.wait_results(d, 1, timeout=10, job_id=pending)
    sb.wait_for_hook_records(2)
    res = C.assert_one_result_each(d, [pending])
    r = res[pending]
    H.eq((r["JOB_KIND"], r["JOB_ACTION"], r["JOB_STATUS"], r["JOB_REMOTE_STATUS"], r["JOB_FILE"]),
         ("annotation-reply", "disable", "completed", "completed", f_pending), "result of the pending job")
    H.eq(int(r["JOB_POLLS"]), stored + len(mock.status_requests(pending)) - polled_old,
         "JOB_POLLS: the stored count and the new binary's polls")
    H.eq(len(mock.status_requests(done)), polls_done, "polls of the job the old binary finished")
    H.eq([e["JOB_ID"] for e in C.results(old)], [done], "results of the old binary")
    H.eq(sorted(h["env"]["JOBWATCH_JOB_ID"] for h in sb.hook_records()), sorted([done, pending]),
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
    os.makedirs(sb.state_dir, exist_ok=True)
    now = int(time.time() * 1e6)
    db = sqlite3.connect(os.path.join(sb.state_dir, "state.db"))
    db.executescript(V1_SCHEMA)
    cols = "endpoint, action, job_id, file, accepted_usec, polls, seen_alive, last_status, outcome," \
           " finished_usec, error_msg, body, journaled, hook_state, updated_usec"
    # the pending row keeps "processing", a word older versions knew (no Dify release
    # writes it): it loads as an unknown status and the job is watched on
    db.executemany("INSERT INTO jobs (%s) VALUES (%s)" % (cols, ", ".join("?" * 15)), [
        ("default", "enable", pending, "b-pending.job", now - 5_000_000, 4, 1, "processing", None, None, None,
         None, 0, 0, now),
        ("default", "disable", due, "b-due.job", now - 9_000_000, 6, 1, "error", "error", now - 1_000_000,
         "embedding model gone", b'{"job_id":"%s","job_status":"error"}' % due.encode(), 1, 0, now),
        ("default", "enable", settled, "b-settled.job", now - 9_000_000, 2, 1, "completed", "completed",
         now - 2_000_000, "", None, 1, 2, now),
    ])
    db.commit()
    db.close()

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
