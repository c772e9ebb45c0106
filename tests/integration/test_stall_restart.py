#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Stalls across restarts, in STATUS= and in jobwatchctl list (issue 14; CONTRACT "Stalls").

  announced  a disable job stuck in 'waiting' with StallAfter=2s is announced once; the daemon
             restarts (SIGTERM, then kill -9): no second stall warning in either later run, and
             STATUS= still counts it.
  clock      a second stuck job with StallAfter=4s, still not announced at the first restart:
             after the restart it is announced with JOB_STALLED_USEC counted from its first
             answer before the restart, well before 4 s have passed since the restart (a clock
             reset to the restart time would announce it 4 s later at the earliest).
  list       jobwatchctl list shows both as stalled ("stalled (for ...)"), --json gives their
             stalled_usec and status_changed_usec, and null for a job that is not stalled.
"""

import json
import time
import uuid

import harness as H
import jwcheck as C

STALLED = C.MID.get("JOB_STALLED")


def test():
    H.check(STALLED, "src/journal.h defines MESSAGE_ID_JOB_STALLED")
    sb = H.Sandbox()
    early, late, calm = (str(uuid.uuid4()) for _ in range(3))
    mock = sb.start_mock(jobs=[
        {"job_id": early, "action": "disable", "lifecycle": [["waiting", None]]},
        {"job_id": late, "action": "disable", "lifecycle": [["waiting", None]]},
        {"job_id": calm, "lifecycle": [["waiting", None]]},
    ])
    conf = sb.base_config(mock, initial="100ms", max_interval="300ms")
    conf["Poll"]["StallAfter"] = "2s"
    sb.write_config(conf)
    sb.write_job("early", early, action="disable")
    sb.write_job("late", late, action="disable", extra={"StallAfter": "4s"})
    sb.write_job("calm", calm, extra={"StallAfter": "infinity"})

    d = sb.start_daemon()
    H.wait_until(lambda: mock.status_requests(late), 5, what="first poll of the late job")
    first_late = time.monotonic()
    d.wait_for_journal(count=1, timeout=H.t(6), MESSAGE_ID=STALLED, JOB_ID=early)
    d.wait_status(r"\b1 stalled\b", timeout=5)
    H.eq(d.journal(MESSAGE_ID=STALLED, JOB_ID=late), [], "the late job's warning before its StallAfter=")

    # the first restart: before the late job's 4 s are up
    restart_t = time.monotonic()
    H.check(restart_t - first_late < 3.5, "too slow: the late job is %.1fs still at the restart",
            restart_t - first_late)
    d.restart()
    d.wait_status(r"\b1 stalled\b", timeout=5)
    e = d.wait_for_journal(count=1, timeout=H.t(8), MESSAGE_ID=STALLED, JOB_ID=late)[0]
    announced = time.monotonic()
    H.note("late job announced %.2fs after the restart, %.2fs after its first poll: %s",
           announced - restart_t, announced - first_late, e["MESSAGE"])
    H.check(announced - restart_t < 4.0,
            "the late job was announced %.2fs after the restart: its stall clock restarted with the daemon",
            announced - restart_t)
    H.check(int(e.get("JOB_STALLED_USEC", "0")) >= 4_000_000,
            "JOB_STALLED_USEC=%s counts from the restart, not from the job's first answer",
            e.get("JOB_STALLED_USEC"))
    d.wait_status(r"\b2 stalled\b", timeout=5)

    # jobwatchctl list, while both are stalled
    p = sb.run_ctl("list")
    H.note("list:\n%s", p.stdout)
    H.eq(p.returncode, 0, "jobwatchctl list's exit status")
    lines = {ln.split()[2]: ln for ln in p.stdout.splitlines()[1:] if len(ln.split()) > 2}
    for j in (early, late):
        H.check(j in lines and "stalled (for " in lines[j], "list does not show %s as stalled: %r", j,
                lines.get(j))
    H.check(calm in lines and "stalled" not in lines[calm], "list shows the calm job as stalled: %r",
            lines.get(calm))
    rows = {r["job_id"]: r for r in json.loads(sb.run_ctl("list", "--json").stdout)}
    for j in (early, late):
        H.check(isinstance(rows[j].get("stalled_usec"), int) and rows[j]["stalled_usec"] > 0,
                "list --json stalled_usec of %s: %r", j, rows[j].get("stalled_usec"))
        H.check(isinstance(rows[j].get("status_changed_usec"), int)
                and rows[j]["status_changed_usec"] < rows[j]["stalled_usec"],
                "list --json status_changed_usec of %s: %r", j, rows[j].get("status_changed_usec"))
    H.check("stalled_usec" in rows[calm] and rows[calm]["stalled_usec"] is None,
            "list --json stalled_usec of a job that is not stalled: %r", rows[calm].get("stalled_usec"))

    # kill -9 and start again: neither is announced a second time
    d.restart(kill=True)
    d.wait_status(r"\b2 stalled\b", timeout=5)
    n = len(mock.status_requests(early))
    H.quiet(3, "both stuck jobs polled on after the second restart")
    H.check(len(mock.status_requests(early)) > n, "the stuck job is polled after the restart")
    for j in (early, late):
        H.eq(len(d.journal(MESSAGE_ID=STALLED, JOB_ID=j)), 1, "stall warnings of %s over three runs" % j)
    H.eq(d.journal(MESSAGE_ID=STALLED, JOB_ID=calm), [], "stall warnings with StallAfter=infinity")
    d.stop()


H.main(test, needs_journal=True)
