#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Restarts (CONTRACT.md "Persistence", issue "Never lose a job" point 2).

Part 1, one daemon restarted twice (SIGTERM, then kill -9):
  * finished jobs are neither re-polled (mock log) nor re-reported (journal), nor re-hooked;
  * a pending job keeps its poll count: JOB_POLLS at the end = every status request the mock saw
    in both lives (across a clean stop the count is exact);
  * across kill -9 the count resumes from what the state file held (lazy poll counts may lag by
    up to STATE_LAZY_FLUSH_USEC, as src/state.h documents) and never goes backwards;
  * its duration counts from the first acceptance, the time the daemon was down included;
  * its deadline too: Timeout=3s, restart at 2 s -> timeout ~3 s after first acceptance;
  * a job file removed while the daemon is down -> a cancelled entry at start-up;
  * a job last seen alive more than 600 s before start-up (the state DB is edited while the
    daemon is stopped) is polled at once and, being gone, ends `expired` with a MESSAGE saying
    the result window passed while jobwatchd was not running.
Part 2, hooks:
  * MaxParallel=1, slow hooks, SIGTERM while some are queued: the queued hooks run after the
    restart, each exactly once; hooks that had run are not run again, results not repeated;
  * kill -9 while a hook runs: the hook outlives the daemon; the next daemon waits for it and
    does not run it again.
Part 3: kill -9 while three hooks run that end before the next start: no hook runs again (all
  three were recorded as started before the kill; see part3()).
Checks marked "continuing" do not stop the test; all failures are listed at the end.
"""

import json
import os
import sqlite3
import time
import uuid

import harness as H

# Upper bounds on "soon" grow with harness.py's time scale (JOBWATCH_TEST_TIME_SCALE); the
# harness's waits scale their timeouts themselves.
TMO = H.t(1.0)


# Failures that do not stop the rest of the test; reported together at the end.
DEFERRED = []


def soft(cond, what, *args):
    if not cond:
        msg = what % args if args else what
        H.note("FAILED (continuing): %s", msg)
        DEFERRED.append(msg)


def uid():
    return str(uuid.uuid4())


def db_rows(sb):
    return {r["job_id"]: r for r in sb.state_query("SELECT * FROM jobs")}


def results_by_job(d):
    out = {}
    for e in d.results():
        out.setdefault(e["JOB_ID"], []).append(e)
    return out


def entry_wall(e):
    return int(e.get("_SOURCE_REALTIME_TIMESTAMP") or e["__REALTIME_TIMESTAMP"]) / 1e6


def wait_after_poll(mock, job_id, timeout=5):
    """Return right after the mock finished writing an answer for job_id: the daemon has it
    (reading an answer already in its socket is all that is left), and the job's next poll is at
    least the initial interval (100 ms) away, so no request of it is in flight."""
    n = len(mock.status_requests(job_id))

    def answered():
        reqs = mock.status_requests(job_id)
        return len(reqs) > n and reqs[-1]["t_end"] is not None
    H.wait_until(answered, timeout, interval=0.01, what="an answer to a status request of %s" % job_id)


def wait_polled_again(mock, job_ids, rounds=2, timeout=10):
    """Wait until each of job_ids got `rounds` more status requests than now: that many polling
    rounds of the daemon went by (a finished job it wrongly took for pending would be polled in
    them too)."""
    have = {j: len(mock.status_requests(j)) for j in job_ids}
    H.wait_until(lambda: all(len(mock.status_requests(j)) >= have[j] + rounds for j in job_ids),
                 timeout, what="%d more polls of each of %s" % (rounds, job_ids))


def wait_hook_exits(d, job_ids, timeout=10):
    """Wait for a hook-exit entry of each job from the daemon's current run; returns them."""
    def have():
        es = [e for e in d.journal(MESSAGE_ID=HOOK_EXIT) if int(e["_PID"]) == d.pid]
        return es if {e["JOB_ID"] for e in es} >= set(job_ids) else None
    return H.wait_until(have, timeout, what="hook-exit entries of %s from pid %d" % (job_ids, d.pid))


HOOK_EXIT = "1caff9731d274b33a83ebcc182c7cc51"
STATE_HOOK_RUNNING, STATE_HOOK_DONE = 1, 2       # src/state.h enum state_hook


def hook_runs(sb, name="record"):
    runs = {}
    for r in sb.hook_records(name):
        runs.setdefault(r["env"]["JOBWATCH_JOB_ID"], []).append(r)
    return runs


# Put in front of the recording hook: notes what the state directory says about the job when its
# hook starts (the outcome must be stored before the hook runs, and that its result is journaled:
# in state.db, or as a line of journaled.log, which a restart replays into state.db), then becomes
# the recording hook.
DBSNAP = r"""#!/usr/bin/python3
import json, os, sqlite3, sys
db, out = sys.argv[1], sys.argv[2]
jid = os.environ.get("JOBWATCH_JOB_ID", "")
try:
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=5)
    row = con.execute("SELECT outcome, journaled, endpoint, action FROM jobs WHERE job_id = ?",
                      (jid,)).fetchone()
    con.close()
    acks = os.path.join(os.path.dirname(db), "journaled.log")
    logged = False
    if row and os.path.exists(acks):
        with open(acks) as f:
            logged = "%s %s %s" % (row[2], row[3], jid) in f.read().splitlines()
    snap = {"outcome": row[0], "journaled": 1 if row[1] or logged else 0} if row else {"missing": True}
except Exception as e:
    snap = {"error": str(e)}
with open(os.path.join(out, "%s-%d.json" % (jid, os.getpid())), "w") as f:
    json.dump(snap, f)
os.execv(sys.argv[3], sys.argv[3:])
"""


def snapshots(sb):
    out = {}
    d = sb.path("dbsnap")
    for f in os.listdir(d):
        with open(os.path.join(d, f)) as fh:
            out.setdefault(f[:36], []).append(json.load(fh))
    return out


def part1():
    sb = H.Sandbox(name="restart-state")
    F1, F2, P1, P3, P4, P5, P6 = (uid() for _ in range(7))
    forever = [["waiting", None]]
    mock = sb.start_mock(jobs=[
        {"job_id": F1, "lifecycle": [["waiting", 0.2], ["completed", None]]},
        {"job_id": F2, "lifecycle": [["waiting", 0.2], ["error", None]], "error_msg": "boom"},
        {"job_id": P1, "lifecycle": forever},
        {"job_id": P3, "lifecycle": forever},
        {"job_id": P4, "lifecycle": forever},
        {"job_id": P5, "lifecycle": forever},
        {"job_id": P6, "lifecycle": forever},
    ])
    os.makedirs(sb.path("dbsnap"))
    snap = sb.write_hook("dbsnap", DBSNAP)
    hook = "%s %s %s %s" % (snap, os.path.join(sb.state_dir, "state.db"), sb.path("dbsnap"), sb.recording_hook())
    sb.write_config(sb.base_config(mock, hook=hook, job_timeout="1h"))
    names = {F1: "f1", F2: "f2", P1: "p1", P3: "p3", P4: "p4", P5: "p5", P6: "p6"}
    for jid, n in names.items():
        sb.write_job(n, jid, timeout="3s" if jid == P3 else None)
    wall0 = time.time()
    d = sb.start_daemon()

    # ---- life 1 --------------------------------------------------------------------------
    d.wait_for_results(2, timeout=15)
    sb.wait_for_hook_records(2, timeout=15)
    res = results_by_job(d)
    H.eq(sorted(res), sorted([F1, F2]), "jobs finished in life 1")
    H.eq(res[F2][0]["JOB_STATUS"], "error", "F2 outcome")
    # let the state settle, then stop at ~2 s after acceptance, right after a poll of P1
    rows = H.wait_until(lambda: (lambda r: r if len(r) == 7 else None)(db_rows(sb)), 5,
                        what="7 rows in the state DB")
    accepted = {jid: rows[jid]["accepted_usec"] for jid in rows}
    for jid in names:
        H.check(abs(accepted[jid] / 1e6 - wall0) < 3 * TMO, "accepted_usec of %s is %.3fs off the start",
                jid, accepted[jid] / 1e6 - wall0)
    while time.time() < accepted[P3] / 1e6 + 1.8:         # the scenario: restart at ~2 s
        time.sleep(0.05)
    wait_after_poll(mock, P1)
    H.note("SIGTERM restart at +%.2fs after P3 was accepted", time.time() - accepted[P3] / 1e6)
    d.stop()
    seq_stop1 = max(e["seq"] for e in mock.requests(headers=False))
    rows = db_rows(sb)
    H.eq(rows[P1]["polls"], len(mock.status_requests(P1)),
         "P1 polls in the state DB after a clean stop vs requests the mock saw")
    for jid in (F1, F2):
        H.eq(rows[jid]["outcome"], res[jid][0]["JOB_STATUS"], "stored outcome of %s" % jid)
        H.eq((rows[jid]["journaled"], rows[jid]["hook_state"]), (1, 2), "journaled/hook state of %s" % jid)

    # ---- life 2 (after SIGTERM) ----------------------------------------------------------
    d.start()
    t_life2 = time.monotonic()
    [tmo] = d.wait_for_results(1, timeout=10, job_id=P3)
    H.eq(tmo["JOB_STATUS"], "timeout", "P3 outcome")
    after = entry_wall(tmo) - accepted[P3] / 1e6
    H.note("P3 timed out %.2fs after its first acceptance (Timeout=3s, restarted at ~2s)", after)
    H.check(2.9 <= after <= 3.0 + 1.2 * TMO,
            "P3 timed out %.2fs after first acceptance, expected ~3s (not 3s after the restart)", after)
    dur = int(tmo["JOB_DURATION_USEC"]) / 1e6
    H.check(abs(dur - after) < 0.3 * TMO, "P3 JOB_DURATION_USEC %.3fs vs %.3fs since acceptance", dur, after)

    mock.set(P1, status="completed")
    [r1] = d.wait_for_results(1, timeout=10, job_id=P1)
    H.eq(r1["JOB_STATUS"], "completed", "P1 outcome")
    n_p1 = len(mock.status_requests(P1))
    H.eq(int(r1["JOB_POLLS"]), n_p1, "P1 JOB_POLLS vs status requests the mock saw across both lives")
    H.check(any(e["seq"] > seq_stop1 for e in mock.status_requests(P1)), "P1 was not polled in life 2")
    d1 = int(r1["JOB_DURATION_USEC"]) / 1e6
    H.check(abs(d1 - (entry_wall(r1) - accepted[P1] / 1e6)) < 0.3 * TMO,
            "P1 JOB_DURATION_USEC %.3fs does not count from its first acceptance", d1)

    wait_polled_again(mock, (P4, P5, P6))
    for jid in (F1, F2):
        late = [e for e in mock.status_requests(jid) if e["seq"] > seq_stop1]
        H.eq(len(late), 0, "status requests for finished job %s after the SIGTERM restart" % names[jid])

    # ---- kill -9 while P4/P5/P6 are pending ------------------------------------------------
    wait_after_poll(mock, P6)
    t_kill = time.monotonic()
    d.kill9()
    wall_kill = time.time()
    seq_kill = max(e["seq"] for e in mock.requests(headers=False))
    before = mock.status_requests(P6)
    rows = db_rows(sb)
    polls_at_kill = rows[P6]["polls"]
    recent = [e for e in before if e["t"] > t_kill - 2.5]
    H.note("P6 at kill -9: %d polls in the state DB, %d requests at the mock (%d in the last 2.5s)",
           polls_at_kill, len(before), len(recent))
    H.check(len(before) - len(recent) <= polls_at_kill <= len(before),
            "P6 poll count in the state DB (%d) is not within the lazy-flush window of the %d requests sent",
            polls_at_kill, len(before))
    H.check(rows[P5]["seen_alive"] == 1 and rows[P5]["last_status_usec"],
            "P5 row has no last status: %r", rows[P5])
    for jid in (F1, F2, P1, P3):
        H.check(rows[jid]["outcome"] is not None, "finished job %s lost its outcome: %r", names[jid], rows[jid])
    # while down: remove P4's file; age P5's last sighting by 700 s and make it gone
    sb.remove_job("p4")
    con = sqlite3.connect(sb.state_db(), timeout=5)
    with con:
        n = con.execute("UPDATE jobs SET last_status_usec = last_status_usec - 700000000 WHERE job_id = ?",
                        (P5,)).rowcount
    con.close()
    H.eq(n, 1, "rows updated for P5")
    mock.set(P5, gone=True)
    while time.time() < wall_kill + 3.0:      # the scenario: down for 3 s (the duration counts it)
        time.sleep(0.05)

    # ---- life 3 (after kill -9) ----------------------------------------------------------
    d.start()
    t_life3 = time.monotonic()
    life3 = d.pid
    [c4] = d.wait_for_results(1, timeout=10, job_id=P4)
    H.eq(c4["JOB_STATUS"], "cancelled", "P4 (file removed while down) outcome")
    H.eq(int(c4["_PID"]), life3, "P4's cancelled entry comes from the restarted daemon")
    p5_polls = [e for e in mock.status_requests(P5) if e["seq"] > seq_kill]
    H.check(p5_polls, "P5 was not polled after the restart")
    H.check(p5_polls[0]["t"] - t_life3 < 1.5 * TMO, "P5 first polled %.2fs after the restart, expected at once",
            p5_polls[0]["t"] - t_life3)
    [x5] = d.wait_for_results(1, timeout=10, job_id=P5)
    H.eq(x5["JOB_STATUS"], "expired", "P5 outcome")
    soft("result window passed while jobwatchd was not running" in x5["MESSAGE"],
            "P5 MESSAGE does not say the result window passed while jobwatchd was down: %r", x5["MESSAGE"])

    mock.set(P6, status="completed")
    [r6] = d.wait_for_results(1, timeout=10, job_id=P6)
    H.eq(r6["JOB_STATUS"], "completed", "P6 outcome")
    after_kill = [e for e in mock.status_requests(P6) if e["seq"] > seq_kill]
    H.eq(int(r6["JOB_POLLS"]), polls_at_kill + len(after_kill),
         "P6 JOB_POLLS (stored count at kill -9 + requests after the restart)")
    d6 = int(r6["JOB_DURATION_USEC"]) / 1e6
    since = entry_wall(r6) - accepted[P6] / 1e6
    H.note("P6 JOB_DURATION_USEC %.3fs, %.3fs since first acceptance (3 s of it down)", d6, since)
    H.check(abs(d6 - since) < 0.3 * TMO, "P6 JOB_DURATION_USEC %.3fs vs %.3fs since first acceptance", d6, since)
    H.eq(db_rows(sb)[P6]["accepted_usec"], accepted[P6], "P6 accepted_usec after two restarts")

    # hooks of P6 and P5, then nothing more
    sb.wait_for_hook_records(6, timeout=10)
    wait_hook_exits(d, (P5, P6))
    H.quiet(1.5, "no further polls, results or hook runs of jobs that are over")
    for jid in (F1, F2):
        late = [e for e in mock.status_requests(jid) if e["seq"] > seq_stop1]
        H.eq(len(late), 0, "status requests for finished job %s after the restarts" % names[jid])
    res = results_by_job(d)
    for jid, n in names.items():
        H.eq(len(res.get(jid, [])), 1, "result entries of %s" % n)
    runs = hook_runs(sb)
    for jid, n in names.items():
        H.eq(len(runs.get(jid, [])), 0 if jid == P4 else 1, "hook runs of %s" % n)
    H.eq(int(runs[P6][0]["env"]["JOBWATCH_POLLS"]), int(r6["JOB_POLLS"]), "P6 JOBWATCH_POLLS")
    # what the state file held when each hook started: the outcome, journaled
    for jid, snaps in snapshots(sb).items():
        want = {"outcome": res[jid][0]["JOB_STATUS"], "journaled": 1}
        H.eq(snaps, [want], "state row of %s when its hook started" % names.get(jid, jid))
    # what a row holds (CONTRACT "Persistence"; issue point 1)
    row = db_rows(sb)[F2]
    H.eq((row["endpoint"], row["action"], row["file"], row["outcome"], row["error_msg"], row["last_status"],
          row["journaled"], row["hook_state"]),
         ("default", "enable", "f2.job", "error", "boom", "error", 1, 2), "stored row of F2")
    H.eq(row["accepted_usec"], accepted[F2], "F2 accepted_usec")
    H.eq(row["polls"], int(res[F2][0]["JOB_POLLS"]), "F2 stored polls")
    H.check(row["last_status_usec"] and row["finished_usec"] and accepted[F2] <= row["last_status_usec"]
            <= row["finished_usec"], "F2 stored times: %r", row)
    H.check(int(runs[P6][0]["env"]["JOBWATCH_DURATION"]) >= int(d6) - 1, "P6 JOBWATCH_DURATION %s vs %.1fs",
            runs[P6][0]["env"]["JOBWATCH_DURATION"], d6)
    d.stop()


def part2():
    sb = H.Sandbox(name="restart-hooks")
    H1 = [uid() for _ in range(4)]
    H5 = uid()
    mock = sb.start_mock(jobs=[{"job_id": j, "lifecycle": [["completed", None]]} for j in H1 + [H5]])
    hook = sb.recording_hook(sleep=1.0)
    slow = sb.recording_hook(name="slow", sleep=3.0)
    sb.write_config(sb.base_config(mock, hook=hook, extra={"Hook": {"MaxParallel": 1, "Timeout": "30s",
                                                                     "AllowJobHooks": "yes"}}))
    for i, j in enumerate(H1):
        sb.write_job("h%d" % i, j)
    d = sb.start_daemon()
    d.wait_for_results(4, timeout=10)
    H.wait_until(lambda: sb.hook_records(), 10, what="the first hook to start")
    d.stop(timeout=30)
    ran = hook_runs(sb)
    H.check(all(len(v) == 1 for v in ran.values()), "hook runs before the stop: %s",
            {k: len(v) for k, v in ran.items()})
    H.check(all(r["finished"] for v in ran.values() for r in v), "a hook was cut short by SIGTERM")
    H.check(len(ran) < 4, "all 4 hooks ran before the stop; the test needs some queued (%d ran)", len(ran))
    rows = db_rows(sb)
    for j in H1:
        H.eq(rows[j]["hook_state"], 2 if j in ran else 0, "stored hook state of %s" % j)
    H.note("%d hook(s) ran before SIGTERM, %d were queued", len(ran), 4 - len(ran))

    d.start()
    sb.wait_for_hook_records(4, timeout=20)
    wait_hook_exits(d, [j for j in H1 if j not in ran])
    H.quiet(1.5, "no hook run again after the restart")
    ran = hook_runs(sb)
    H.eq({k: len(v) for k, v in ran.items()}, {j: 1 for j in H1}, "hook runs per job after the restart")
    res = results_by_job(d)
    H.eq({k: len(v) for k, v in res.items()}, {j: 1 for j in H1}, "result entries per job")

    # kill -9 while a hook runs: the next daemon waits for it instead of running it again
    sb.write_job("h5", H5, hook=slow)
    H.wait_until(lambda: sb.hook_records("slow"), 10, what="the slow hook to start")
    d.kill9()
    [rec] = sb.hook_records("slow")
    H.check(not rec["finished"], "the slow hook had finished already")
    H.check(os.path.exists("/proc/%d" % rec["pid"]), "the hook died with the daemon")
    d.start()
    d.wait_for_journal(lambda e: "still running from before the restart" in e.get("MESSAGE", ""),
                       timeout=5, JOB_ID=H5)
    sb.wait_for_hook_records(1, name="slow", timeout=10)
    exits = d.wait_for_journal(None, 1, timeout=5, JOB_ID=H5,
                               MESSAGE_ID="1caff9731d274b33a83ebcc182c7cc51")
    H.check(int(exits[-1]["_PID"]) == d.pid, "no hook-exit entry from the restarted daemon")
    H.quiet(1.5, "the hook that was running at kill -9 is not run again")
    H.eq(len(sb.hook_records("slow")), 1, "runs of the hook that was running at kill -9")
    H.eq(len(d.results(job_id=H5)), 1, "result entries of H5")
    H.eq(db_rows(sb)[H5]["hook_state"], 2, "stored hook state of H5")
    d.stop()


def part3():
    """kill -9 while three hooks run; they end before the next start.  The contract allows a
    repeat across a crash ("at least once across crashes"), and the issue's bound is one extra
    run per kill, for a kill that lands between a hook's start and the record of it.  Here the
    kill comes after all three were recorded as started (the test waits for that), so the
    restarted daemon has all it needs and must repeat none."""
    sb = H.Sandbox(name="restart-orphans")
    jobs = [uid() for _ in range(3)]
    mock = sb.start_mock(jobs=[{"job_id": j, "lifecycle": [["completed", None]]} for j in jobs])
    hook = sb.recording_hook(sleep=1.0)
    sb.write_config(sb.base_config(mock, hook=hook, extra={"Hook": {"MaxParallel": 4}}))
    for i, j in enumerate(jobs):
        sb.write_job("o%d" % i, j)
    d = sb.start_daemon()
    d.wait_for_results(3, timeout=10)
    H.wait_until(lambda: len(sb.hook_records()) == 3, 10, what="3 hooks to start")
    H.wait_until(lambda: all(r["hook_state"] == STATE_HOOK_RUNNING for r in db_rows(sb).values()), 10,
                 what="the 3 hooks recorded as started in the state DB")
    H.check(not any(r["finished"] for r in sb.hook_records()), "a hook finished before the kill")
    d.kill9()
    rows = db_rows(sb)
    H.note("stored hook states at kill -9: %s", sorted(r["hook_state"] for r in rows.values()))
    recs = sb.wait_for_hook_records(3, timeout=10)
    # gone for good: reaped, not zombies (init may reap orphans lazily)
    H.wait_until(lambda: not any(os.path.exists("/proc/%d" % r["pid"]) for r in recs), 20,
                 what="the orphaned hooks to be reaped")
    d.start()
    # each job's hook settled by the restarted daemon: "ended, exit status unknown", or run again
    # and ended; then every row says so
    wait_hook_exits(d, jobs)
    H.wait_until(lambda: all(r["hook_state"] == STATE_HOOK_DONE for r in db_rows(sb).values()), 10,
                 what="the 3 hooks recorded as done in the state DB")
    runs = hook_runs(sb)
    H.eq(sorted(runs), sorted(jobs), "jobs whose hook ran")
    extra = sum(len(v) - 1 for v in runs.values())
    H.note("hooks running at kill -9 that ended before the restart: %d run again", extra)
    soft(extra == 0, "one kill -9 with 3 hooks running (all recorded as started, all ended before the "
         "restart): the restarted daemon ran %d of them again", extra)
    H.eq(len(d.results()), 3, "result entries")
    d.stop()


def test():
    part1()
    part2()
    part3()
    if DEFERRED:
        raise H.Failure("%d check(s) failed:\n  %s" % (len(DEFERRED), "\n  ".join(DEFERRED)))


H.main(test, needs_journal=True)
