#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Stall warnings (issue 14, CONTRACT "Stalls"; jobwatchd(8) "STALLS").

  stuck    a disable job that stays 'waiting' forever (the mock's disable job for an app whose
           annotation reply was never enabled), [Poll] StallAfter=2s: exactly one stall
           warning (own MESSAGE_ID, JOB_STALLED_USEC, JOB_REMOTE_STATUS, JOB_KIND, the
           catalog's advice in MESSAGE) within StallAfter= + a poll interval, never repeated
           while it stays; STATUS= counts it; when it moves (completed) one moving-again entry
           comes before its result, and STATUS= no longer counts it.
  off      the same kind of job with StallAfter=infinity in its job file: no warning.
  quick    a job that completes before StallAfter=: no warning.
"""

import re
import uuid

import harness as H
import jwcheck as C

STALLED = C.MID.get("JOB_STALLED")
MOVING = C.MID.get("JOB_MOVING")


def test():
    H.check(STALLED and MOVING, "src/journal.h defines MESSAGE_ID_JOB_STALLED and _MOVING")
    sb = H.Sandbox()
    stuck, off, quick = (str(uuid.uuid4()) for _ in range(3))
    mock = sb.start_mock(jobs=[
        {"job_id": stuck, "action": "disable", "lifecycle": [["waiting", None]]},
        {"job_id": off, "action": "disable", "lifecycle": [["waiting", None]]},
        {"job_id": quick, "lifecycle": [["waiting", 0.5], ["completed", None]]},
    ])
    conf = sb.base_config(mock, initial="100ms", max_interval="500ms")
    conf["Poll"]["StallAfter"] = "2s"
    sb.write_config(conf)
    fstuck = sb.write_job("stuck", stuck, action="disable")
    sb.write_job("off", off, action="disable", extra={"StallAfter": "infinity"})
    sb.write_job("quick", quick)

    d = sb.start_daemon()
    C.wait_results(d, 1, job_id=quick, timeout=10)
    # StallAfter= (2 s) after the first answer, plus one poll interval (at most 0.5 s + jitter)
    e = d.wait_for_journal(count=1, timeout=H.t(6), MESSAGE_ID=STALLED, JOB_ID=stuck)[0]
    H.note("stall warning: %s", e["MESSAGE"])
    H.eq(e["PRIORITY"], "4", "priority of the stall warning")
    H.eq(e.get("JOB_REMOTE_STATUS"), "waiting", "JOB_REMOTE_STATUS")
    H.eq(e.get("JOB_KIND"), "annotation-reply", "JOB_KIND")
    H.eq(e.get("JOB_ACTION"), "disable", "JOB_ACTION")
    H.eq(e.get("JOB_ENDPOINT"), "default", "JOB_ENDPOINT")
    stalled_usec = int(e.get("JOB_STALLED_USEC", "0"))
    H.check(2_000_000 <= stalled_usec <= H.t(6) * 1_000_000,
            "JOB_STALLED_USEC=%d, expected StallAfter= (2 s) to a few s", stalled_usec)
    H.check("'waiting'" in e["MESSAGE"] and "'dataset'" in e["MESSAGE"]
            and "annotation reply was ever enabled" in e["MESSAGE"],
            "the warning names what to check: %s", e["MESSAGE"])
    H.check(fstuck.endswith(e["MESSAGE"].split("(", 1)[1].split(")", 1)[0]) or "stuck.job" in e["MESSAGE"],
            "the warning names the job file: %s", e["MESSAGE"])
    st = d.wait_status(r"\b1 stalled\b", timeout=5)
    H.note("STATUS=%s", st)

    # not repeated while it stays, and nothing for the others
    n = len(mock.status_requests(stuck))
    H.quiet(2.5, "the stuck job is polled on, still 'waiting'")
    H.check(len(mock.status_requests(stuck)) > n, "the stuck job is still polled")
    H.eq(len(d.journal(MESSAGE_ID=STALLED, JOB_ID=stuck)), 1, "stall warnings for the stuck job")
    H.eq(d.journal(MESSAGE_ID=STALLED, JOB_ID=off), [], "stall warnings with StallAfter=infinity")
    H.eq(d.journal(MESSAGE_ID=STALLED, JOB_ID=quick), [], "stall warnings for a job that completed")
    H.eq(d.journal(MESSAGE_ID=MOVING), [], "moving-again entries before anything moved")
    H.eq(C.results(d, stuck), [], "results of the stuck job (a stall is not an outcome)")

    # it moves: one moving-again entry, then its result
    mock.set(job_ids=[stuck], status="completed")
    C.wait_results(d, 1, job_id=stuck, timeout=10)
    mv = d.wait_for_journal(count=1, timeout=5, MESSAGE_ID=MOVING, JOB_ID=stuck)
    H.quiet(0.5, "no second moving-again entry")
    mv = d.journal(MESSAGE_ID=MOVING, JOB_ID=stuck)
    H.eq(len(mv), 1, "moving-again entries")
    H.eq(mv[0].get("JOB_REMOTE_STATUS"), "completed", "JOB_REMOTE_STATUS of the moving-again entry")
    res = C.results(d, stuck)
    H.check(int(mv[0]["__MONOTONIC_TIMESTAMP"]) <= int(res[0]["__MONOTONIC_TIMESTAMP"]),
            "the moving-again entry comes before the result")
    H.eq(res[0]["JOB_STATUS"], "completed", "outcome of the job that was stalled")
    last = d.wait_status(r"Watching 1 job\b", timeout=5)
    H.check(not re.search(r"stalled", last), "STATUS= after it moved: %r", last)
    H.eq(d.journal(MESSAGE_ID=STALLED, JOB_ID=off), [], "stall warnings with StallAfter=infinity")
    d.stop()


H.main(test, needs_journal=True)
