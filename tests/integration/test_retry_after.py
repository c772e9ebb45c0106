#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Retry-After: a 429 (seconds) or a 503 (HTTP-date) for ONE job delays EVERY job of that
endpoint: no status request to the endpoint starts before the time the answer allows, and
polling resumes promptly after it.  A Retry-After of days (capped at an hour: unit-tested in
tests/unit/test-backoff.c) is logged, and the daemon stays up and keeps that endpoint quiet."""

import email.utils
import time
import uuid

import harness as H
import jwcheck as C

# a request that reached the mock this soon after the answer was written may have been sent
# before the daemon read the answer (libuv runs due timers before reading sockets; under CI
# load one loop turn takes tens of ms)
IN_FLIGHT_GRACE = C.t(0.15)
EARLY = 0.02              # clock granularity
MAX_INTERVAL = 0.5


def check_round(mock, entry, allowed_until, what):
    """No status request for the endpoint's key in (answer written, allowed_until); one soon after."""
    since = entry["t_end"] + IN_FLIGHT_GRACE
    reqs = [e for e in mock.requests(kind="status", headers=False) if e["app"] == H.KEY and e["t"] > since]
    early = [e for e in reqs if e["t"] < allowed_until - EARLY]
    H.check(not early, "%s: %d status request(s) before Retry-After allowed: %s", what, len(early),
            ["#%d at %.3fs before the allowed time" % (e["seq"], allowed_until - e["t"]) for e in early[:10]])
    H.check(reqs, "%s: no status request after Retry-After passed", what)
    first = min(e["t"] for e in reqs)
    H.check(first <= allowed_until + MAX_INTERVAL + C.t(0.5),
            "%s: polling resumed %.3fs after Retry-After allowed it, expected within %.1fs",
            what, first - allowed_until, MAX_INTERVAL + C.t(0.5))
    jobs_after = {e["job_id"] for e in reqs}
    return first, jobs_after


def wait_fault(mock, status, since_seq):
    def found():
        rs = [e for e in mock.requests(kind="status", headers=False, since=since_seq)
              if e["status"] == status and e["t_end"] is not None]
        return rs[0] if rs else None
    return H.wait_until(found, timeout=C.t(10), what="a %d answer" % status)


def wait_polled_after(mock, allowed_until, n_jobs):
    """Wait until n_jobs jobs of the endpoint were polled once Retry-After allowed it (how soon is
    check_round's to judge)."""
    def polled():
        return len({e["job_id"] for e in mock.requests(kind="status", headers=False)
                    if e["app"] == H.KEY and e["t"] >= allowed_until - EARLY}) >= n_jobs
    H.wait_until(polled, max(0.0, allowed_until - time.monotonic()) + MAX_INTERVAL + 5,
                 what="%d job(s) polled after the Retry-After" % n_jobs)


def test():
    sb = H.Sandbox()
    jobs = [str(uuid.uuid4()) for _ in range(5)]
    capped = str(uuid.uuid4())
    mock = sb.start_mock(keys=(H.KEY, H.KEY2), jobs=[{"job_id": j, "lifecycle": [["waiting", None]]} for j in jobs]
                         + [{"job_id": capped, "app": H.KEY2, "lifecycle": [["waiting", None]]}])
    conf = sb.base_config(mock, initial="100ms", max_interval="%dms" % (MAX_INTERVAL * 1000))
    conf["Endpoint:capped"] = {"BaseURL": mock.url, "APIKeyFile": sb.write_key("key2", H.KEY2)}
    sb.write_config(conf)
    for i, j in enumerate(jobs):
        sb.write_job("job%d" % i, j)
    sb.write_job("capped", capped, endpoint="capped")
    d = sb.start_daemon()
    for j in jobs + [capped]:
        mock.wait_for_requests(2, timeout=C.t(10), job_id=j)

    # a Retry-After of more than a day on [Endpoint:capped]
    mock.add_override({"fault": "429", "retry_after": 100000}, match={"kind": "status", "app": H.KEY2}, count=1)
    big = mock.wait_for_requests(1, timeout=C.t(10), kind="status",
                                 predicate=lambda e: e["app"] == H.KEY2 and e["status"] == 429)[0]

    # 1: a 429 with Retry-After: 2 (seconds) for whichever job polls next
    seq = mock.stats()["seq"]
    mock.add_override({"fault": "429", "retry_after": 2}, match={"kind": "status", "app": H.KEY}, count=1)
    e = wait_fault(mock, 429, seq)
    H.eq(e["retry_after"], "2", "Retry-After the mock sent")
    wait_polled_after(mock, e["t_end"] + 2, 4)
    _, after = check_round(mock, e, e["t_end"] + 2, "429 Retry-After: 2")
    H.check(len(after) >= 4, "after the 429 only jobs %s were polled again", after)

    # 2: a 503 with Retry-After as an HTTP-date, 3 s ahead
    seq = mock.stats()["seq"]
    mock.add_override({"fault": "503", "retry_after": "date+3"}, match={"kind": "status", "app": H.KEY}, count=1)
    e = wait_fault(mock, 503, seq)
    date = email.utils.parsedate_to_datetime(e["retry_after"]).timestamp()
    allowed = e["t"] + (date - e["wall"])           # the date on the monotonic clock
    H.check(allowed - e["t_end"] > 1.5, "the HTTP-date is only %.3fs ahead", allowed - e["t_end"])
    wait_polled_after(mock, allowed, 1)
    check_round(mock, e, allowed, "503 Retry-After: %s" % e["retry_after"])

    # the huge Retry-After: logged, the daemon up, the endpoint quiet ever since
    H.check(d.is_running(), "jobwatchd exited after a Retry-After of 100000 s")
    tr = d.journal(MESSAGE_ID=C.TROUBLE, JOB_ENDPOINT="capped")
    H.check(tr, "the 429 with Retry-After: 100000 on [Endpoint:capped] was not logged")
    late = [e for e in mock.status_requests(capped) if e["t"] > big["t_end"] + IN_FLIGHT_GRACE]
    H.eq(late, [], "requests to [Endpoint:capped] during its Retry-After")

    # the jobs still finish normally
    mock.set(jobs, status="completed")
    C.wait_results(d, len(jobs), timeout=10)
    res = C.assert_one_result_each(d, jobs)
    H.eq(sorted(x["JOB_STATUS"] for x in res.values()), ["completed"] * len(jobs), "outcomes")
    d.stop()


H.main(test, needs_journal=True)
