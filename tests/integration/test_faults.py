#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Every fault, followed by a normal lifecycle: the job completes, and the trouble is logged
once when it starts and once when it ends, not once per poll: the endpoint's
(ENDPOINT_TROUBLE / ENDPOINT_RECOVERED) for a fault of the endpoint as a whole, the job's
(JOB_TROUBLE / JOB_RECOVERED, with JOB_ID) for a fault of the job's own answer (JOB_FAULTS:
Dify's JSON 500, a bad 200 body), which, on an endpoint with one job, is never endpoint
trouble (jobwatchd(8) "TROUBLE"; test_job_trouble covers several jobs).  Each fault has an endpoint of its own (same mock), so that the entries can
be counted per JOB_ENDPOINT.  An unknown job_status ('paused') is logged once per job and is
not terminal."""

import uuid

import harness as H
import jwcheck as C

REQUEST_TIMEOUT = 1.0

FAULTS = {
    "e401": {"fault": "401"},
    "e429-secs": {"fault": "429", "retry_after": 1},
    "e429-date": {"fault": "429", "retry_after": "date+2"},
    "e503-secs": {"fault": "503", "retry_after": 1},
    "e503-date": {"fault": "503", "retry_after": "date+2"},
    "e500": {"fault": "500"},
    "e502-html": {"fault": "html_502"},
    "e404-html": {"fault": "html_404"},
    # a reset after the first header lines of the answer: libcurl 8 (Debian 13) silently
    # retries a request whose connection is reset before a whole header line came back
    "reset": {"job_status": "waiting", "reset_after": 40},
    "slow": {"fault": "delay", "seconds": REQUEST_TIMEOUT + 1.5},
    "malformed-garbage": {"fault": "malformed", "variant": "garbage"},
    "malformed-cut-json": {"fault": "malformed", "variant": "truncated"},
    "malformed-html-200": {"fault": "malformed", "variant": "html_200"},
    "malformed-empty": {"fault": "malformed", "variant": "empty"},
    "truncated-body": {"fault": "truncate"},
    "oversized": {"fault": "oversized"},
    "oversized-65k": {"fault": "oversized", "size": 66 * 1024},
    "shape-array": {"fault": "wrong_shape", "variant": "array"},
    "shape-number": {"fault": "wrong_shape", "variant": "number"},
    "shape-nested": {"fault": "wrong_shape", "variant": "nested"},
    "shape-missing": {"fault": "wrong_shape", "variant": "missing"},
}


# The faults of one job's own answer; every other one is the endpoint's.
JOB_FAULTS = {"e500", "malformed-garbage", "malformed-cut-json", "malformed-html-200",
              "malformed-empty", "oversized", "oversized-65k", "shape-array", "shape-number",
              "shape-nested", "shape-missing"}


def st(s):
    return {"job_status": s}


def test():
    sb = H.Sandbox()
    jobs = {name: str(uuid.uuid4()) for name in FAULTS}
    paused = [str(uuid.uuid4()), str(uuid.uuid4())]
    scen = [{"job_id": jobs[n], "responses": [st("waiting"), f, f, st("waiting"), st("completed")]}
            for n, f in FAULTS.items()]
    # 'paused' is no annotation-reply status (Dify writes waiting, completed, error): an
    # unknown word, scripted on purpose (not Dify)
    scen += [{"job_id": j, "responses": [st("waiting"), st("paused"), st("paused"), st("waiting"),
                                         st("completed")]} for j in paused]
    mock = sb.start_mock(jobs=scen)
    conf = sb.base_config(mock, initial="100ms", max_interval="300ms",
                          request_timeout="%dms" % (REQUEST_TIMEOUT * 1000))
    key = conf["Endpoint"]["APIKeyFile"]
    for n in list(FAULTS) + ["paused"]:
        conf["Endpoint:" + n] = {"BaseURL": mock.url, "APIKeyFile": key}
    sb.write_config(conf)
    files = {n: sb.write_job(n, jobs[n], endpoint=n) for n in FAULTS}
    pfiles = [sb.write_job("paused%d" % i, j, endpoint="paused") for i, j in enumerate(paused)]

    d = sb.start_daemon()
    C.wait_results(d, len(jobs) + len(paused), timeout=30)
    res = C.assert_one_result_each(d, list(jobs.values()) + paused, settle=1.0)

    problems = []
    trouble = C.by_job(d.journal(MESSAGE_ID=C.TROUBLE))        # keyed by JOB_ID: none
    H.check(not [k for k in trouble if k], "trouble entries carry a JOB_ID: %s", list(trouble))
    tr = {}
    for e in d.journal(MESSAGE_ID=C.TROUBLE):
        tr.setdefault(e.get("JOB_ENDPOINT"), []).append(e)
    rc = {}
    for e in d.journal(MESSAGE_ID=C.RECOVERED):
        rc.setdefault(e.get("JOB_ENDPOINT"), []).append(e)
    for n in FAULTS:
        e = res[jobs[n]]
        seen = len(mock.status_requests(jobs[n]))
        if e["JOB_STATUS"] != "completed" or e.get("JOB_POLLS") != "5" or seen != 5:
            problems.append("%s: %s after %s polls (mock saw %d), expected completed after 5"
                            % (n, e["JOB_STATUS"], e.get("JOB_POLLS"), seen))
        t, r = tr.get(n, []), rc.get(n, [])
        if n in JOB_FAULTS:
            if t or r:
                problems.append("%s: a fault of the job's own answer is endpoint trouble: %s"
                                % (n, [x["MESSAGE"] for x in t + r]))
            t = d.journal(MESSAGE_ID=C.MID["JOB_TROUBLE"], JOB_ID=jobs[n])
            r = d.journal(MESSAGE_ID=C.MID["JOB_RECOVERED"], JOB_ID=jobs[n])
        if len(t) != 1 or len(r) != 1:
            problems.append("%s: %d trouble and %d recovered entries, expected 1 and 1: %s"
                            % (n, len(t), len(r), [x["MESSAGE"] for x in t + r]))
        elif int(t[0]["__MONOTONIC_TIMESTAMP"]) > int(r[0]["__MONOTONIC_TIMESTAMP"]):
            problems.append("%s: recovered logged before trouble" % n)
    H.check(not problems, "faults:\n  %s", "\n  ".join(problems))
    for n in FAULTS:
        C.check_result(res[jobs[n]], job_id=jobs[n], status="completed", endpoint=n, job_file=files[n], polls=5)

    # 'paused': not terminal, no endpoint trouble, said once per job
    H.check("paused" not in tr and "paused" not in rc, "an unknown job_status is endpoint trouble: %s",
            [x["MESSAGE"] for x in tr.get("paused", []) + rc.get("paused", [])])
    for j, f in zip(paused, pfiles):
        C.check_result(res[j], job_id=j, status="completed", endpoint="paused", job_file=f, polls=5)
        said = [x for x in d.journal(JOB_ID=j) if "paused" in x.get("MESSAGE", "")
                and x.get("MESSAGE_ID") != C.RESULT]
        H.eq(len(said), 1, "entries about job_status 'paused' for job %s (%s)" % (j, [x["MESSAGE"] for x in said]))
    d.stop()


H.main(test, needs_journal=True)
