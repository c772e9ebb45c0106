#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""A job kind defined in the configuration (issue 13, CONTRACT "Kinds"): a [Kind:things] section
for the mock's tiny non-Dify API (GET /things/{id} -> {"status": WORD}, 404 for an unknown id;
tests/mock/mock_kinds.py), and job files of Kind=things.

  done      queued -> running -> done: completed, JOB_KIND=things, JOB_REMOTE_STATUS=done,
            JOB_ID the JobID= text, the hook gets JOBWATCH_KIND=things and the body on stdin
  bad       queued -> failed with an error message: error, JOB_ERROR from ErrorField=
  nothing   an id the server never knew (404 = GoneStatus=): unknown after three answers
  odd       a status that is a number: job trouble saying so ("the status at '/status' is a
            number"), never a terminal state: it times out (Timeout=2s)
  slow      still running across a clean restart: polled again after it, one result
  kept      the kind removed by a reload: the job is reported once and left alone (no polls,
            no result), also across a restart; a reload that brings the kind back makes it
            poll again, and it completes

The mock's route is in mock_kinds.py.
The broad tests of OpenAI-batch-shaped APIs are test_user_kinds_*.py (mock_jobapi.py)."""

import harness as H
import jwcheck as C

KIND = {"StatusPath": "/things/{id}", "StatusField": "/status", "ErrorField": "/error/message",
        "Completed": "done", "Failed": "failed", "Running": "queued running", "GoneStatus": "404"}
MISSING = "Kind 'things' is not in the configuration"


def thing_job(sb, name, thing_id, timeout=None):
    kv = {"Kind": "things", "JobID": thing_id}
    if timeout:
        kv["Timeout"] = timeout
    return sb.write_job(name, text=H.ini_text({"Job": kv}))


def polls(mock, thing_id):
    return len(mock.requests(job_id=thing_id, kind="thing", headers=False))


def check_result(e, thing_id, status, remote, job_file, error=None):
    H.eq(e.get("JOB_ID"), thing_id, "JOB_ID")
    H.eq(e.get("JOB_KIND"), "things", "JOB_KIND of %s" % thing_id)
    H.eq(e.get("JOB_STATUS"), status, "JOB_STATUS of %s" % thing_id)
    H.eq(e.get("JOB_REMOTE_STATUS"), remote, "JOB_REMOTE_STATUS of %s" % thing_id)
    H.eq(e.get("JOB_FILE"), job_file, "JOB_FILE of %s" % thing_id)
    H.eq(e.get("JOB_ERROR"), error, "JOB_ERROR of %s" % thing_id)
    H.eq(e.get("PRIORITY"), str(C.PRIORITY[status]), "PRIORITY of %s" % thing_id)
    H.check("Dify" not in e["MESSAGE"], "MESSAGE of a user kind does not name Dify: %s", e["MESSAGE"])
    H.check(e["MESSAGE"].startswith("things job %s on endpoint 'default'" % thing_id),
            "MESSAGE names the kind, the id and the endpoint: %s", e["MESSAGE"])


def test():
    sb = H.Sandbox()
    mock = sb.start_mock()
    hook = sb.recording_hook()
    mock.ctl("POST", "/_mock/jobs", {"things": [
        {"id": "done-1", "lifecycle": [["queued", 0.3], ["running", 0.5], ["done", None]]},
        {"id": "bad/2", "lifecycle": [["queued", 0.3], ["failed", None]], "error": "disk full"},
        {"id": "slow-3", "lifecycle": [["running", 4.0], ["done", None]]},
        {"id": "kept-4", "lifecycle": [["running", 8.0], ["done", None]]},
        {"id": "odd-5", "body": {"status": 7}},
    ]})
    conf = sb.base_config(mock, hook=hook, initial="100ms", max_interval="300ms")
    conf["Kind:things"] = KIND
    sb.write_config(conf)
    files = {t: thing_job(sb, n, t) for n, t in (("done", "done-1"), ("bad", "bad/2"),
                                                   ("nothing", "nothing-0"), ("slow", "slow-3"),
                                                   ("kept", "kept-4"))}
    files["odd-5"] = thing_job(sb, "odd", "odd-5", timeout="2s")

    d = sb.start_daemon()
    res = {k: v[0] for k, v in C.by_job(C.wait_results(d, 4, timeout=15)).items()}
    check_result(res["done-1"], "done-1", "completed", "done", files["done-1"])
    check_result(res["bad/2"], "bad/2", "error", "failed", files["bad/2"], error="disk full")
    check_result(res["nothing-0"], "nothing-0", "unknown", None, files["nothing-0"])
    check_result(res["odd-5"], "odd-5", "timeout", None, files["odd-5"])
    t = d.journal(MESSAGE_ID=C.MID["JOB_TROUBLE"], JOB_ID="odd-5")
    H.eq(len(t), 1, "job trouble entries of odd-5")
    H.check("the status at '/status' is a number" in t[0]["MESSAGE"],
            "the trouble says why the answer is no status: %s", t[0]["MESSAGE"])
    # the id went into the path escaped, as the job file has it
    paths = {r["path"] for r in mock.requests(job_id="bad/2", headers=False)}
    H.check(paths and all(p.endswith("/things/bad%2F2") for p in paths),
            "bad/2 polled at .../things/bad%%2F2: %s", sorted(paths))
    recs = sb.wait_for_hook_records(4)
    by_id = {r["env"].get("JOBWATCH_JOB_ID"): r for r in recs}
    h = by_id.get("done-1")
    H.check(h is not None, "a hook run for done-1: %s", sorted(by_id))
    H.eq(h["env"].get("JOBWATCH_KIND"), "things", "JOBWATCH_KIND")
    H.check('"done"' in h["stdin"], "the hook's stdin is the last answer: %r", h["stdin"])

    # slow: a clean restart while it runs; polled again after it, one result
    H.wait_until(lambda: polls(mock, "slow-3") >= 2, 5, what="slow-3 polled")
    d.restart()
    before = polls(mock, "slow-3")
    e = C.wait_results(d, 1, timeout=15, job_id="slow-3")[0]
    check_result(e, "slow-3", "completed", "done", files["slow-3"])
    H.check(polls(mock, "slow-3") > before, "slow-3 polled after the restart")

    # kept: its kind removed by a reload -> reported once, no polls, no result
    H.eq(C.results(d, job_id="kept-4"), [], "a result of kept-4 before its end")
    del conf["Kind:things"]
    sb.write_config(conf)
    d.reload()
    w = d.wait_for_journal(lambda e: MISSING in e.get("MESSAGE", ""), 1, 5, JOB_ID="kept-4")[0]
    H.eq(w.get("PRIORITY"), "4", "the missing kind is a warning")
    n = polls(mock, "kept-4")
    H.quiet(1.5, "no polls of a job whose kind is gone")
    H.check(polls(mock, "kept-4") <= n + 1, "kept-4 not polled without its kind (%d -> %d)", n,
            polls(mock, "kept-4"))
    # ... and across a restart: kept, not cancelled
    d.restart()
    H.quiet(1.0, "kept-4 waits for its kind after the restart")
    H.eq(C.results(d, job_id="kept-4"), [], "a result of kept-4 while its kind is gone")
    n = polls(mock, "kept-4")

    # the kind comes back: polled again, completes
    conf["Kind:things"] = KIND
    sb.write_config(conf)
    d.reload()
    e = C.wait_results(d, 1, timeout=15, job_id="kept-4")[0]
    check_result(e, "kept-4", "completed", "done", files["kept-4"])
    H.check(polls(mock, "kept-4") > n, "kept-4 polled once its kind is back")
    C.assert_one_result_each(d, ["done-1", "bad/2", "nothing-0", "odd-5", "slow-3", "kept-4"],
                             settle=0.5)
    d.stop()


H.main(test, needs_journal=True)
