#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Every terminal outcome, with every journal field CONTRACT.md lists, one entry per job:
completed, error (with and without error_msg), expired (old 400 and new 404 shapes),
unknown (both shapes), timeout (per-job Timeout= and [Poll] JobTimeout=), cancelled.
The hook runs once for every outcome but cancelled. A "processing" answer (no Dify release
writes it) is an unknown status: not an end, said once."""

import time
import uuid

import harness as H
import jwcheck as C


def test():
    sb = H.Sandbox()
    ids = {k: str(uuid.uuid4()) for k in (
        "completed", "error", "error_empty", "expired_old", "expired_new", "unknown_old",
        "unknown_new", "timeout_job", "timeout_global", "cancelled", "named", "processing")}
    J = ids
    forever = [["waiting", None]]
    mock = sb.start_mock(keys=(H.KEY, H.KEY2), dify_version="old", jobs=[
        {"job_id": J["completed"], "lifecycle": [["waiting", 0.3], ["waiting", 0.3], ["completed", None]]},
        {"job_id": J["error"], "action": "disable", "lifecycle": [["waiting", 0.2], ["error", None]],
         "error_msg": "quota exceeded"},
        {"job_id": J["error_empty"], "lifecycle": [["waiting", 0.2], ["error", None]], "error_msg": ""},
        # seen alive by the first poll, then the job ends and its result window (TTL) passes
        # before the watcher looks again: old Dify's 400 invalid_param
        {"job_id": J["expired_old"], "responses": [{"job_status": "waiting"}], "then": "lifecycle",
         "lifecycle": [["completed", None]], "ttl": 0},
        # newer Dify: 404 not_found
        {"job_id": J["expired_new"], "dify_version": "new", "responses": [{"job_status": "waiting"}],
         "then": "lifecycle", "lifecycle": [["error", None]], "error_msg": "x", "ttl": 0},
        # unknown_old is not known to the mock at all: old Dify's 400 invalid_param
        {"job_id": J["unknown_new"], "dify_version": "new", "lifecycle": [["gone", None]]},
        {"job_id": J["timeout_job"], "lifecycle": forever},
        {"job_id": J["timeout_global"], "lifecycle": forever},
        {"job_id": J["cancelled"], "lifecycle": forever},
        # answered per request, not by the clock: two "processing", then the natural end
        {"job_id": J["processing"], "lifecycle": [["completed", None]],
         "responses": [{"job_status": "processing"}, {"job_status": "processing"}], "then": "lifecycle"},
        {"job_id": J["named"], "app": H.KEY2, "lifecycle": [["waiting", 0.2], ["completed", None]]},
    ])
    key2 = sb.write_key("second-key", H.KEY2)
    hook = sb.recording_hook()
    job_timeout, per_job_timeout = C.t(3.0), C.t(1.0)
    conf = sb.base_config(mock, hook=hook, initial="100ms", max_interval="300ms",
                          job_timeout="%dms" % (job_timeout * 1000))
    conf["Endpoint:second"] = {"BaseURL": mock.url, "APIKeyFile": key2}
    sb.write_config(conf)

    desc = "FAQ bot re-index"
    files = {}
    # an upper-case JobID is stored lower-case
    files["completed"] = sb.write_job("completed", J["completed"].upper(), description=desc)
    files["error"] = sb.write_job("error", J["error"], action="disable")
    for k in ("error_empty", "expired_old", "expired_new", "unknown_old", "unknown_new",
              "timeout_global", "cancelled", "processing"):
        files[k] = sb.write_job(k, J[k])
    files["timeout_job"] = sb.write_job("timeout_job", J["timeout_job"],
                                        timeout="%dms" % (per_job_timeout * 1000))
    files["named"] = sb.write_job("named", J["named"], endpoint="second")

    t_wall0 = time.time()
    d = sb.start_daemon()

    # cancel: remove the file of a pending job once it has been polled twice
    mock.wait_for_requests(2, timeout=C.t(10), job_id=J["cancelled"])
    sb.remove_job("cancelled")

    C.wait_results(d, len(J), timeout=job_timeout + C.t(15))
    res = C.assert_one_result_each(d, list(J.values()))

    def polls(k):
        return len(mock.status_requests(J[k]))

    def upper(e):
        return int(e["__REALTIME_TIMESTAMP"]) / 1e6 - t_wall0 + 0.05

    plain = dict(action="enable", endpoint="default")
    C.check_result(res[J["completed"]], job_id=J["completed"], status="completed", job_file=files["completed"],
                   polls=polls("completed"), description=desc, max_duration=upper(res[J["completed"]]), **plain)
    C.check_result(res[J["error"]], job_id=J["error"], status="error", action="disable", endpoint="default",
                   job_file=files["error"], polls=polls("error"), error="quota exceeded",
                   max_duration=upper(res[J["error"]]))
    for k, st in (("processing", "completed"), ("error_empty", "error"), ("expired_old", "expired"), ("expired_new", "expired"),
                  ("unknown_old", "unknown"), ("unknown_new", "unknown")):
        C.check_result(res[J[k]], job_id=J[k], status=st, job_file=files[k], polls=polls(k),
                       max_duration=upper(res[J[k]]), **plain)
    C.check_result(res[J["timeout_job"]], job_id=J["timeout_job"], status="timeout", job_file=files["timeout_job"],
                   polls=polls("timeout_job"), min_duration=per_job_timeout,
                   max_duration=per_job_timeout + C.t(2.0), **plain)
    C.check_result(res[J["timeout_global"]], job_id=J["timeout_global"], status="timeout",
                   job_file=files["timeout_global"], polls=polls("timeout_global"), min_duration=job_timeout,
                   max_duration=job_timeout + C.t(2.0), **plain)
    # a request may have been sent but not yet have reached the mock when the file went
    n = polls("cancelled")
    C.check_result(res[J["cancelled"]], job_id=J["cancelled"], status="cancelled", job_file=files["cancelled"],
                   polls_range=(n, n + 1), max_duration=upper(res[J["cancelled"]]), **plain)
    C.check_result(res[J["named"]], job_id=J["named"], status="completed", action="enable", endpoint="second",
                   job_file=files["named"], polls=polls("named"), max_duration=upper(res[J["named"]]))

    # "processing" is a word no Dify release writes: unknown, not terminal, said once
    H.check(polls("processing") >= 2, "polls of the processing job: %d", polls("processing"))
    said = [e["MESSAGE"] for e in d.journal(JOB_ID=J["processing"]) if "does not know" in e.get("MESSAGE", "")]
    H.eq(len(said), 1, "entries saying 'processing' is unknown (%r)" % said)
    H.check("job_status 'processing'" in said[0], "the unknown word named: %r", said[0])

    # the shapes the mock really answered
    def shapes(k):
        return {(e["status"], e["job_status"]) for e in mock.status_requests(J[k])}
    H.check((400, None) in shapes("unknown_old") and (404, None) in shapes("unknown_new")
            and (400, None) in shapes("expired_old") and (404, None) in shapes("expired_new"),
            "the mock did not answer the expected gone shapes: %s",
            {k: shapes(k) for k in ("unknown_old", "unknown_new", "expired_old", "expired_new")})
    # unknown: three "does not exist" in a row and nothing else
    H.eq(polls("unknown_old"), 3, "polls of a job never seen alive")
    H.eq(polls("unknown_new"), 3, "polls of a job never seen alive (404 shape)")

    # the hook: once for each outcome but cancelled
    want = sorted(v for k, v in J.items() if k != "cancelled")
    recs = sb.wait_for_hook_records(len(want), timeout=C.t(15))
    H.quiet(0.5, "no hook runs twice")
    recs = sb.hook_records()
    got = sorted(r["env"]["JOBWATCH_JOB_ID"] for r in recs)
    H.eq(got, want, "jobs whose hook ran (once each; none for the cancelled job)")
    for r in recs:
        jid = r["env"]["JOBWATCH_JOB_ID"]
        H.eq(r["env"]["JOBWATCH_STATUS"], res[jid]["JOB_STATUS"], "JOBWATCH_STATUS of %s" % jid)
    hx = C.by_job(d.journal(MESSAGE_ID=C.HOOK_EXIT))
    H.check(J["cancelled"] not in hx, "a hook-exit entry for the cancelled job: %s", hx.get(J["cancelled"]))
    d.stop()


H.main(test, needs_journal=True)
