#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The 3-in-a-row rule: "job does not exist" three times in a row ends a job (expired when it
was seen alive, unknown otherwise); a 200 with a job_status resets the count; other faults
neither count nor reset it; a 404 without Dify's body (a router's HTML or JSON 404) is endpoint
trouble, never a step towards expired."""

import uuid

import harness as H
import jwcheck as C

GONE = {"fault": "gone"}
GONE_NEW = {"fault": "gone", "dify_version": "new"}
F503 = {"fault": "503", "retry_after": None}
F500 = {"fault": "500"}
HTML404 = {"fault": "html_404"}
JSON404 = {"status": 404, "body": {"code": "not_found", "message": "The requested URL was not found on the "
                                   "server. If you entered the URL manually please check your spelling and "
                                   "try again.", "status": 404}}


def st(s):
    return {"job_status": s}


# name: (responses, expected outcome, expected polls)
CASES = {
    "reset": ([GONE, GONE, st("waiting"), GONE, GONE, st("completed")], "completed", 6),
    "faults_between_unknown": ([GONE, F503, GONE, F500, GONE, st("completed")], "unknown", 5),
    "faults_between_expired": ([st("waiting"), GONE, F503, GONE, F500, GONE, st("completed")], "expired", 6),
    "new_shape": ([st("waiting"), GONE_NEW, GONE_NEW, st("waiting"), GONE_NEW, GONE_NEW, GONE_NEW,
                   st("completed")], "expired", 7),
    "html_404": ([st("waiting"), HTML404, HTML404, HTML404, HTML404, st("completed")], "completed", 6),
    "json_404": ([st("waiting"), JSON404, JSON404, JSON404, st("completed")], "completed", 5),
    "html_404_then_gone": ([st("waiting"), HTML404, GONE, HTML404, GONE, HTML404, GONE, st("completed")],
                           "expired", 7),
}


def test():
    sb = H.Sandbox()
    ids = {k: str(uuid.uuid4()) for k in CASES}
    mock = sb.start_mock(jobs=[{"job_id": ids[k], "responses": r, "then": "repeat"}
                               for k, (r, _, _) in CASES.items()])
    sb.write_config(sb.base_config(mock, initial="50ms", max_interval="200ms", multiplier=1.5))
    files = {k: sb.write_job(k, ids[k]) for k in CASES}
    d = sb.start_daemon()
    C.wait_results(d, len(CASES), timeout=20)
    res = C.assert_one_result_each(d, list(ids.values()))
    problems = []
    for k, (_, outcome, polls) in CASES.items():
        e = res[ids[k]]
        seen = len(mock.status_requests(ids[k]))
        if (e["JOB_STATUS"], e.get("JOB_POLLS")) != (outcome, str(polls)):
            problems.append("%s: expected %s after %d polls, got %s after %s polls (mock saw %d)"
                            % (k, outcome, polls, e["JOB_STATUS"], e.get("JOB_POLLS"), seen))
    H.check(not problems, "3-in-a-row rule:\n  %s", "\n  ".join(problems))
    for k, (_, outcome, polls) in CASES.items():
        C.check_result(res[ids[k]], job_id=ids[k], status=outcome, job_file=files[k], polls=polls)
    d.stop()


H.main(test, needs_journal=True)
