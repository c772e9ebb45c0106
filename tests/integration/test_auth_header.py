#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""An endpoint's AuthHeader= and Header= reach the server: with `AuthHeader=x-api-key: {key}` and
two Header= lines, every poll and `jobwatchctl start` carry the key in x-api-key (and no
Authorization), the fixed headers, and Accept: application/json; a server that requires a fixed
header is satisfied, so the job completes.  A reload that drops a Header= line and sets
`Header=Accept: ...` changes the next requests: the server then refuses them (401) and the job
waits, and Accept is the configured one alone (the mock joins repeated headers)."""

import json
import re
import uuid

import harness as H
import jwcheck as C

VERSION = ("Api-Version", "2023-06-01")


def check_headers(e, what, *, accept="application/json", version=True):
    h = e["headers"]
    H.eq(h.get("x-api-key"), H.KEY, what + ": x-api-key")
    H.check("authorization" not in h, "%s: an Authorization header was sent: %r", what, h)
    H.eq(h.get("accept"), accept, what + ": Accept")
    H.eq(h.get("x-origin"), "jobwatch test", what + ": X-Origin (a Header= line)")
    if version:
        H.eq(h.get("api-version"), VERSION[1], what + ": Api-Version (a Header= line)")
    else:
        H.check("api-version" not in h, "%s: Api-Version still sent after the reload", what)


def test():
    sb = H.Sandbox()
    job, late, started = (str(uuid.uuid4()) for _ in range(3))
    W = {"job_status": "waiting"}
    mock = sb.start_mock(args=("--auth-header", "x-api-key"), jobs=[
        {"job_id": job, "responses": [W, W, {"job_status": "completed"}]},
        {"job_id": late, "lifecycle": [["waiting", None]]},
    ])
    mock.config(require_headers={VERSION[0]: VERSION[1]})
    key = sb.write_key("api-key", H.KEY)
    endpoint = {"AuthHeader": "x-api-key: {key}",
                "Header": ["%s: %s" % VERSION, "X-Origin:   jobwatch test  "]}
    sb.write_config(sb.base_config(mock, key, extra={"Endpoint": endpoint}))

    sb.write_job("job", job)
    d = sb.start_daemon()
    C.wait_results(d, 1, job_id=job)
    [e] = d.journal(MESSAGE_ID=C.RESULT, JOB_ID=job)
    H.eq(e.get("JOB_STATUS"), "completed", "the job completed through the custom headers")
    polls = mock.requests(job_id=job, kind="status")
    H.eq([r["status"] for r in polls], [200, 200, 200], "status codes of the polls")
    for i, r in enumerate(polls):
        check_headers(r, "poll %d" % (i + 1))

    # jobwatchctl start: the same headers, with its Content-Type
    mock.config(next_job_ids=[started])
    since = mock.stats()["requests"]
    p = sb.run_ctl("start", "enable", "--score-threshold", "0.9", "--embedding-provider", "p",
                   "--embedding-model", "m")
    H.expect_run(p, 0, "jobwatchctl start", stdout=r"^started %s " % started)
    [req] = [r for r in mock.requests(kind="start") if r["seq"] > since]
    check_headers(req, "the start request")
    H.eq(req["headers"].get("content-type"), "application/json", "Content-Type of the start request")
    H.eq(json.loads(req["body"])["score_threshold"], 0.9, "start body")

    # reload: Api-Version dropped, Accept configured; the server now refuses the polls
    endpoint = {"AuthHeader": "x-api-key: {key}",
                "Header": ["X-Origin: jobwatch test", "Accept: application/vnd.test+json"]}
    sb.write_config(sb.base_config(mock, key, extra={"Endpoint": endpoint}))
    d.reload()
    since = mock.stats()["requests"]
    sb.write_job("late", late)
    mock.wait_for_requests(2, kind="status", predicate=lambda r: r["seq"] > since and r["job_id"] == late)
    refused = [r for r in mock.requests(job_id=late, kind="status") if r["seq"] > since]
    for i, r in enumerate(refused):
        check_headers(r, "poll %d after the reload" % (i + 1), accept="application/vnd.test+json",
                      version=False)
        H.eq(r["status"], 401, "poll %d after the reload: refused without Api-Version" % (i + 1))
    H.eq(d.journal(MESSAGE_ID=C.RESULT, JOB_ID=late), [], "a refused job ended")
    d.stop()
    text = d.stderr_text() + "".join(str(x) for x in H.journal_entries(pids=d.pids, since=sb.t_wall - 2))
    H.check(H.KEY not in text, "the API key is in the daemon's output")
    H.check(not re.search(r"x-api-key:\s*\S", text.replace("x-api-key: {key}", "")),
            "an x-api-key line is in the daemon's output")


H.main(test, needs_journal=True)
