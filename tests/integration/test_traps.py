#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The traps of STYLE.md section 10 that only show at run time.

* The only transfer in flight times out: curl's multi-uv example guards the
  completion drain with `if (running_handles)`, which loses exactly this
  completion, leaving the job polling forever. With one job and one answer
  slower than RequestTimeout=, the timeout must be reported (endpoint trouble),
  the job polled again, and then completed.
* RELOADING=1 must come with MONOTONIC_USEC= (what Type=notify-reload needs),
  and READY=1 after it.
"""

import re
import time
import uuid

import harness as H


def test():
    sb = H.Sandbox(name="traps")
    J = str(uuid.uuid4())
    mock = sb.start_mock(jobs=[{
        "job_id": J,
        # the first answer takes longer than RequestTimeout=, then Dify's lifecycle
        "responses": [{"delay": 3}],
        "then": "lifecycle",
        "lifecycle": [["waiting", 2.0], ["completed", None]],
    }])
    sb.write_config(sb.base_config(mock, initial="200ms", max_interval="300ms",
                                   request_timeout="700ms"))
    sb.write_job("only", J)
    d = sb.start_daemon()

    # the one transfer times out: its completion must not be lost
    trouble = d.wait_for_journal(
        lambda e: e.get("JOB_ENDPOINT") == "default" and "timeout" in e.get("MESSAGE", ""),
        1, timeout=10)
    H.check(trouble, "no trouble entry for the timed-out request")
    [r] = d.wait_for_results(1, timeout=15, job_id=J)
    H.eq(r["JOB_STATUS"], "completed", "outcome after the timed-out first poll")
    polls = mock.status_requests(J)
    H.check(len(polls) >= 2, "the job was not polled again after its request timed out: %d polls", len(polls))
    H.eq(int(r["JOB_POLLS"]), len(polls), "JOB_POLLS vs requests at the mock")

    # RELOADING=1 carries MONOTONIC_USEC=, READY=1 follows
    mark = len(d.notifications())
    d.reload()
    msgs = d.notifications()[mark:]
    rel = [m for m in msgs if m["fields"].get("RELOADING") == "1"]
    H.check(rel, "no RELOADING=1 after SIGHUP: %r", msgs)
    mono = rel[0]["fields"].get("MONOTONIC_USEC", "")
    H.check(re.fullmatch(r"[0-9]+", mono), "RELOADING=1 without a MONOTONIC_USEC= value: %r", rel[0])
    now_usec = int(time.clock_gettime(time.CLOCK_MONOTONIC) * 1e6)
    H.check(0 < now_usec - int(mono) < 60e6, "MONOTONIC_USEC=%s is not CLOCK_MONOTONIC now (%d)", mono, now_usec)
    H.check(any(m["fields"].get("READY") == "1" for m in msgs[msgs.index(rel[0]):]),
            "no READY=1 after RELOADING=1: %r", msgs)
    d.stop()


H.main(test, needs_journal=True)
