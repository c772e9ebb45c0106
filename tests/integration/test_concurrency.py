#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""MaxConcurrentRequests: 30 jobs per endpoint whose answers take 300 ms; the mock never sees
more requests in flight for an endpoint's key than its limit (3 for [Endpoint], 5 for
[Endpoint:two]), and each endpoint reaches its own limit (they are not shared); every job is
reported once; a job never has two polls in flight; the requests share kept-alive connections."""

import uuid

import harness as H
import jwcheck as C

N = 30
LIMITS = {H.KEY: 3, H.KEY2: 5}


def test():
    sb = H.Sandbox()
    ids = {H.KEY: [str(uuid.uuid4()) for _ in range(N)], H.KEY2: [str(uuid.uuid4()) for _ in range(N)]}
    mock = sb.start_mock(keys=(H.KEY, H.KEY2), jobs=[
        {"job_id": j, "app": app, "lifecycle": [["waiting", 0.5], ["completed", None]]}
        for app, js in ids.items() for j in js])
    mock.add_override({"delay": 0.3}, match={"kind": "status"})     # every answer takes 300 ms
    conf = sb.base_config(mock, initial="100ms", max_interval="300ms", max_concurrent=LIMITS[H.KEY])
    conf["Endpoint:two"] = {"BaseURL": mock.url, "APIKeyFile": sb.write_key("key2", H.KEY2),
                            "MaxConcurrentRequests": LIMITS[H.KEY2]}
    sb.write_config(conf)
    for j in ids[H.KEY]:
        sb.write_job(j, j)
    for j in ids[H.KEY2]:
        sb.write_job(j, j, endpoint="two")
    d = sb.start_daemon()
    C.wait_results(d, 2 * N, timeout=40)
    res = C.assert_one_result_each(d, ids[H.KEY] + ids[H.KEY2])
    bad = {j: e["JOB_STATUS"] for j, e in res.items() if e["JOB_STATUS"] != "completed"}
    H.check(not bad, "jobs not completed: %s", bad)

    st = mock.stats()
    for app, limit in LIMITS.items():
        got = st["max_in_flight"].get(app, 0)
        H.check(got <= limit, "%d requests in flight at once for key %s, limit %d", got, app, limit)
        H.eq(got, limit, "most requests in flight at once for key %s (30 jobs, 300 ms answers: "
             "the limit must be reached, and each endpoint has its own)" % app)
        reqs = [e for e in mock.requests(kind="status", headers=False) if e["app"] == app]
        per_job = {}
        for e in reqs:
            per_job[e["job_id"]] = per_job.get(e["job_id"], 0) + 1
        for j in ids[app]:
            H.eq(res[j]["JOB_POLLS"], str(per_job.get(j, 0)), "JOB_POLLS of %s" % j)
        H.eq(C.overlapping_polls(reqs)[:10], [], "two polls of one job in flight")
        conns = {e["conn"] for e in reqs}
        H.check(len(conns) <= 2 * limit, "key %s: %d requests over %d connections (keep-alive: at most %d)",
                app, len(reqs), len(conns), 2 * limit)
    d.stop()


H.main(test, needs_journal=True)
