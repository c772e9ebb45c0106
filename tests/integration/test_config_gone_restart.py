#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""A job whose [Endpoint:NAME] is gone from the configuration when jobwatchd starts (removed
while it was stopped) is kept, as a reload that removes it keeps it (jobwatchd(8), "a job whose
[Endpoint:NAME] was removed ... waits until a reload fixes it"): not cancelled as if its file had
been removed, and a finished one not reported again when the endpoint comes back.  The same
rule keeps a job of a [Kind:NAME] (test_user_kind_basic.py).

  pending   an annotation job on [Endpoint:other], still waiting: stop, remove the endpoint,
            start -> its file is refused, one warning says the endpoint is missing, no result,
            no polls; the endpoint back and a reload -> polled again, then completed once
  finished  a job on [Endpoint:other] that completed before the stop: no second result and no
            second hook run when the endpoint comes back"""

import uuid

import harness as H
import jwcheck as C

MISSING = "Endpoint 'other' is not in the configuration"


def test():
    sb = H.Sandbox()
    mock = sb.start_mock()
    hook = sb.recording_hook()
    pending, finished = str(uuid.uuid4()), str(uuid.uuid4())
    mock.add_jobs({"job_id": pending, "lifecycle": [["waiting", None]]},
                  {"job_id": finished, "lifecycle": [["waiting", 0.2], ["completed", None]]})
    conf = sb.base_config(mock, hook=hook, initial="100ms", max_interval="300ms")
    conf["Endpoint:other"] = {"BaseURL": mock.url, "APIKeyFile": sb.write_key("other-key")}
    sb.write_config(conf)
    sb.write_job("pending", pending, endpoint="other")
    sb.write_job("finished", finished, endpoint="other")

    d = sb.start_daemon()
    C.wait_results(d, 1, job_id=finished)
    sb.wait_for_hook_records(1)
    H.wait_until(lambda: len(mock.status_requests(pending)) >= 2, 5, what="pending polled")
    d.stop()

    # the endpoint removed while jobwatchd is stopped
    del conf["Endpoint:other"]
    sb.write_config(conf)
    d.start()
    d.wait_for_journal(lambda e: MISSING in e.get("MESSAGE", ""), 1, 5, JOB_ID=pending)
    n = len(mock.status_requests(pending))
    H.quiet(1.0, "the pending job waits for its endpoint")
    H.eq(C.results(d, job_id=pending), [], "a result of the pending job (cancelled?)")
    H.check(len(mock.status_requests(pending)) <= n + 1, "the pending job polled without its endpoint")

    # the endpoint back: polled again, and the finished job stays finished
    conf["Endpoint:other"] = {"BaseURL": mock.url, "APIKeyFile": sb.write_key("other-key")}
    sb.write_config(conf)
    d.reload()
    H.wait_until(lambda: len(mock.status_requests(pending)) > n + 1, 5,
                 what="the pending job polled once its endpoint is back")
    mock.set(pending, status="completed")
    e = C.wait_results(d, 1, job_id=pending)[0]
    H.eq(e["JOB_STATUS"], "completed", "the pending job's outcome")
    sb.wait_for_hook_records(2)
    C.assert_one_result_each(d, [pending, finished], settle=0.5)
    H.eq(len(sb.hook_records()), 2, "hook runs (one per job)")
    d.stop()


H.main(test, needs_journal=True)
