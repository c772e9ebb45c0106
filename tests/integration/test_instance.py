#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""One daemon per state directory. A second jobwatchd started 2 s after the first on the same
state directory is refused: exit status non-zero, one line that names the first one's PID,
no READY=1, and every job is still reported once and hooked once. Two started at the same
moment: exactly one runs, the other is refused with the same line, never "database is
locked". While the daemon runs, `jobwatchctl list` and `jobwatchd --check` keep working, and
the lock file jobwatchd.lock in the state directory holds the daemon's PID."""

import collections
import os
import re
import subprocess
import time
import uuid

import harness as H
import jwcheck as C

REFUSED = r"Cannot start: another jobwatchd \(PID %d\) is running on the state directory '%s'"


def refusal_lines(lines):
    return [ln for ln in lines if "another jobwatchd" in ln]


def test():
    sb = H.Sandbox()
    J = [str(uuid.uuid4()) for _ in range(4)]
    mock = sb.start_mock(jobs=[{"job_id": j, "lifecycle": [["waiting", 3.0 + i], ["completed", None]]}
                               for i, j in enumerate(J)])
    hook = sb.recording_hook()
    sb.write_config(sb.base_config(mock, hook=hook, initial="200ms", max_interval="500ms"))
    for i, j in enumerate(J):
        sb.write_job("job%d" % i, j)
    state_dir = os.path.realpath(sb.state_dir)

    # --- a second daemon 2 s after the first --------------------------------------------------
    d1 = sb.start_daemon(name="first")
    time.sleep(2.0)             # the scenario: the second one starts 2 s after the first
    d2 = sb.start_daemon(wait_ready=False, name="second")
    rc = d2.wait_exit(timeout=C.t(10))
    H.check(rc not in (0, None) and rc > 0, "the second jobwatchd exited with %s, expected non-zero", rc)
    ents = [e for e in d2.journal() if int(e.get("PRIORITY", "6")) <= 3]
    H.check(any(re.search(REFUSED % (d1.pid, re.escape(state_dir)), e.get("MESSAGE", "")) for e in ents),
            "the second jobwatchd's error does not name the first one's PID %d: %s", d1.pid,
            [e.get("MESSAGE") for e in d2.journal()])
    H.eq(d2.notifications("READY"), [], "READY=1 from the refused jobwatchd")
    H.check(d1.is_running(), "the first jobwatchd is gone")
    with open(os.path.join(sb.state_dir, "jobwatchd.lock")) as f:
        H.eq(f.read().strip(), str(d1.pid), "PID in the lock file")

    # read-only commands work while the daemon holds the lock
    p = sb.run_ctl("list")
    H.eq(p.returncode, 0, "jobwatchctl list exit status while jobwatchd runs (stderr %r)" % p.stderr)
    H.check(re.search(r"jobwatchd is running \(pid %d\b" % d1.pid, p.stdout), "list status line: %r",
            p.stdout[:200])
    for j in J:
        H.check(j in p.stdout, "jobwatchctl list does not show %s:\n%s", j, p.stdout)
    p = subprocess.run([d1.binary, "--check", "--config", sb.conf, "--jobs-dir", sb.jobs_dir,
                        "--state-dir", sb.state_dir], capture_output=True, text=True, timeout=30)
    H.eq(p.returncode, 0, "jobwatchd --check exit status while jobwatchd runs (%r)" % (p.stdout + p.stderr))
    H.check("Configuration OK" in p.stdout, "--check output: %r", p.stdout)

    # every job: one result, one hook run
    C.wait_results(d1, len(J), timeout=20)
    sb.wait_for_hook_records(len(J), timeout=C.t(15))
    H.quiet(1.0, "no result or hook run twice")
    res = d1.journal(MESSAGE_ID=C.RESULT) + d2.journal(MESSAGE_ID=C.RESULT)
    H.eq(collections.Counter(e.get("JOB_ID") for e in res), collections.Counter(J), "results per job")
    runs = collections.Counter(r["env"].get("JOBWATCH_JOB_ID") for r in sb.hook_records())
    H.eq(runs, collections.Counter(J), "hook runs per job")
    d1.stop()

    # --- two started at the same moment, a few times ------------------------------------------
    for rnd in range(5):
        a = H.Daemon(sb, log_target="console", name="a%d" % rnd)
        b = H.Daemon(sb, log_target="console", name="b%d" % rnd)
        a.start(wait_ready=False)
        b.start(wait_ready=False)

        def one_gone():
            return [x for x in (a, b) if not x.is_running()] or None
        try:
            H.wait_until(one_gone, timeout=C.t(10), what="one of two jobwatchd started together to exit")
        except H.Failure:
            raise H.Failure("round %d: two jobwatchd started together both run (pids %d, %d)"
                            % (rnd, a.pid, b.pid))
        H.quiet(0.5, "the other one keeps running")
        gone = [x for x in (a, b) if not x.is_running()]
        H.eq(len(gone), 1, "round %d: jobwatchd processes that exited" % rnd)
        loser, winner = gone[0], (b if gone[0] is a else a)
        loser._reaped()
        for x in (a, b):
            H.check(not any("database is locked" in ln for ln in x.stderr_lines()),
                    "round %d: 'database is locked' from %s: %s", rnd, x.name, x.stderr_tail())
        H.check(loser.rc not in (0, None) and loser.rc > 0, "round %d: the refused one exited with %s",
                rnd, loser.rc)
        lines = [ln for ln in loser.stderr_lines() if ln.strip()]
        H.eq(len(lines), 1, "round %d: stderr lines of the refused jobwatchd (%r)" % (rnd, lines))
        H.check(re.search(REFUSED % (winner.pid, re.escape(state_dir)), lines[0]),
                "round %d: the refusal does not name PID %d: %r", rnd, winner.pid, lines[0])
        winner.wait_ready(timeout=C.t(10))
        H.eq(loser.notifications("READY"), [], "READY=1 from the refused jobwatchd")
        winner.stop()
    H.eq(len(refusal_lines(d1.stderr_lines())), 0, "refusals logged by the first daemon")


H.main(test, needs_journal=True)
