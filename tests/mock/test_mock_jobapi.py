#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Self-test of tests/mock/mock_jobapi.py (the job APIs that are not Dify's, served by
mock_dify.py): the OpenAI-batch and Anthropic-message-batch shapes, their auth and error bodies,
the generic /projects/{project}/jobs/{id} route, scripted answers and faults, and the request log
that tests read the sent headers from.

Run:  /usr/bin/python3 tests/mock/test_mock_jobapi.py [-k SUBSTRING]
Exit status 0 when every check passes, 1 otherwise.
"""

import json
import os
import shutil
import sys
import tempfile
import time
import traceback
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_mock_dify import Mock, eq, ok  # noqa: E402  (the same mock process and client)

KEY = "sk-proj-mockjobapi0000000000000000"
KEY2 = "sk-ant-api03-mockjobapi00000000000"
BEARER = {"Authorization": "Bearer " + KEY}
ANTH = {"x-api-key": KEY2, "anthropic-version": "2023-06-01"}
# the fields of OpenAI's Batch object, in the order of its reference page
BATCH_FIELDS = ["id", "object", "endpoint", "errors", "input_file_id", "completion_window", "status",
                "output_file_id", "error_file_id", "created_at", "in_progress_at", "expires_at", "finalizing_at",
                "completed_at", "failed_at", "expired_at", "cancelling_at", "cancelled_at", "request_counts",
                "metadata"]
MSGBATCH_FIELDS = ["id", "type", "processing_status", "request_counts", "ended_at", "created_at", "expires_at",
                   "archived_at", "cancel_initiated_at", "results_url"]

TESTS = []


def test(fn):
    TESTS.append(fn)
    return fn


def get(m, path, headers):
    return m.get(path, key=None, headers=headers)


def openai_err(message, code=None, etype="invalid_request_error"):
    return {"error": {"message": message, "type": etype, "param": None, "code": code}}


def anth_err(etype, message):
    return {"type": "error", "error": {"type": etype, "message": message}}


@test
def t_openai_lifecycle(m):
    m.ctl("POST", "/_mock/api-jobs", {"openai_batches": [
        {"id": "batch_Life01", "total": 4, "failed": 1, "metadata": {"customer": "acme"},
         "lifecycle": [["validating", 0.3], ["in_progress", 0.4], ["finalizing", 0.2], ["completed", None]]}]})
    wall0 = time.time()
    st, hd, body = get(m, "/v1/batches/batch_Life01", BEARER)
    obj = json.loads(body)
    eq((st, hd["content-type"], list(obj)), (200, "application/json", BATCH_FIELDS), "Batch object fields")
    eq(body, json.dumps(obj, indent=2).encode(), "OpenAI's pretty-printed JSON")
    eq((obj["id"], obj["object"], obj["status"], obj["errors"], obj["output_file_id"], obj["in_progress_at"],
        obj["request_counts"], obj["metadata"]),
       ("batch_Life01", "batch", "validating", None, None, None, {"total": 4, "completed": 0, "failed": 0},
        {"customer": "acme"}), "validating")
    ok(abs(obj["created_at"] - wall0) <= 2 and obj["expires_at"] == obj["created_at"] + 86400, "created/expires")
    time.sleep(0.35)
    eq(json.loads(get(m, "/v1/batches/batch_Life01", BEARER)[2])["status"], "in_progress", "in_progress")
    time.sleep(0.7)
    obj = json.loads(get(m, "/v1/batches/batch_Life01", BEARER)[2])
    eq((obj["status"], obj["request_counts"], obj["output_file_id"] is not None, obj["error_file_id"] is not None),
       ("completed", {"total": 4, "completed": 3, "failed": 1}, True, True), "completed")
    ok(obj["in_progress_at"] <= obj["finalizing_at"] <= obj["completed_at"] and obj["failed_at"] is None,
       "stamps in order: %r" % obj)
    eq(m.ctl("GET", "/_mock/api-jobs?kind=openai&id=batch_Life01")[0]["status_now"], "completed", "GET api-jobs")


@test
def t_openai_failed_expired_cancelled(m):
    m.ctl("POST", "/_mock/api-jobs", {"openai_batches": [
        {"id": "batch_Fail01", "lifecycle": [["validating", 0.1], ["failed", None]],
         "errors": "Line 1: the model field is required"},
        {"id": "batch_Exp01", "lifecycle": [["in_progress", 0.1], ["expired", None]]},
        {"id": "batch_Can01", "lifecycle": [["in_progress", 0.1], ["cancelling", 0.1], ["cancelled", None]]}]})
    time.sleep(0.3)
    obj = json.loads(get(m, "/v1/batches/batch_Fail01", BEARER)[2])
    eq((obj["status"], obj["errors"], obj["request_counts"]["total"], obj["failed_at"] is not None),
       ("failed", {"object": "list", "data": [{"code": "invalid_json_line",
                                               "message": "Line 1: the model field is required",
                                               "param": None, "line": 1}]}, 0, True), "failed batch")
    obj = json.loads(get(m, "/v1/batches/batch_Exp01", BEARER)[2])
    eq((obj["status"], obj["errors"], obj["expired_at"] is not None), ("expired", None, True), "expired batch")
    obj = json.loads(get(m, "/v1/batches/batch_Can01", BEARER)[2])
    eq((obj["status"], obj["cancelling_at"] is not None, obj["cancelled_at"] is not None),
       ("cancelled", True, True), "cancelled batch")


@test
def t_openai_errors(m):
    st, _, body = get(m, "/v1/batches/batch_nope", BEARER)
    eq((st, json.loads(body)), (404, openai_err("No batch found with id 'batch_nope'.")), "unknown batch")
    st, hd, body = get(m, "/v1/batches/batch_Life01", {})
    obj = json.loads(body)
    eq((st, obj["error"]["type"], obj["error"]["code"]), (401, "invalid_request_error", None), "no key")
    ok(obj["error"]["message"].startswith("You didn't provide an API key."), "no key message")
    st, _, body = get(m, "/v1/batches/batch_Life01", {"Authorization": "Bearer sk-proj-wrong00000000001234"})
    obj = json.loads(body)
    eq((st, obj["error"]["code"]), (401, "invalid_api_key"), "wrong key")
    ok("1234" in obj["error"]["message"] and "wrong0000" not in obj["error"]["message"], "the key is masked")
    st, _, body = get(m, "/v1/batches/batch_Life01", {"x-api-key": KEY})
    eq(st, 401, "x-api-key is not OpenAI's auth")
    # a batch belongs to its key (project): another valid key does not see it
    m.ctl("POST", "/_mock/api-jobs", {"openai_batches": [{"id": "batch_Own01", "key": KEY}]})
    eq(get(m, "/v1/batches/batch_Own01", {"Authorization": "Bearer " + KEY2})[0], 404, "another key's batch")
    eq(get(m, "/v1/batches/batch_Own01", BEARER)[0], 200, "its own key")
    st, _, body = m.get("/v1/batches/batch_Own01", key=None, headers=BEARER, method="POST", body=b"{}")
    eq((st, json.loads(body)), (404, openai_err("Invalid URL (POST /v1/batches/batch_Own01)")), "POST")


@test
def t_anthropic(m):
    m.ctl("POST", "/_mock/api-jobs", {"anthropic_batches": [
        {"id": "msgbatch_01Hk", "total": 5, "errored": 1, "expired": 1,
         "lifecycle": [["in_progress", 0.3], ["ended", None]]},
        {"id": "msgbatch_01Cx", "lifecycle": [["in_progress", 0.1], ["canceling", 0.1], ["ended", None]],
         "canceled": 3}]})
    st, hd, body = get(m, "/v1/messages/batches/msgbatch_01Hk", ANTH)
    obj = json.loads(body)
    eq((st, list(obj)), (200, MSGBATCH_FIELDS), "Message Batch fields")
    eq(body, json.dumps(obj, separators=(",", ":")).encode(), "compact JSON")
    eq((obj["type"], obj["processing_status"], obj["ended_at"], obj["results_url"], obj["request_counts"]),
       ("message_batch", "in_progress", None, None,
        {"processing": 5, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}), "in progress")
    ok(obj["created_at"].endswith("Z") and "T" in obj["created_at"], "RFC 3339 created_at: %r" % obj["created_at"])
    time.sleep(0.35)
    obj = json.loads(get(m, "/v1/messages/batches/msgbatch_01Hk", ANTH)[2])
    eq((obj["processing_status"], obj["request_counts"]),
       ("ended", {"processing": 0, "succeeded": 3, "errored": 1, "canceled": 0, "expired": 1}), "ended")
    ok(obj["ended_at"] is not None and obj["results_url"].endswith("/v1/messages/batches/msgbatch_01Hk/results"),
       "ended_at, results_url: %r" % obj)
    obj = json.loads(get(m, "/v1/messages/batches/msgbatch_01Cx", ANTH)[2])
    eq((obj["processing_status"], obj["cancel_initiated_at"] is not None, obj["request_counts"]["canceled"]),
       ("ended", True, 3), "canceled, then ended")
    # auth and version, Anthropic's error shape
    for hdrs, want in (({"anthropic-version": "2023-06-01"},
                        (401, anth_err("authentication_error", "x-api-key header is required"))),
                       ({"x-api-key": "nope", "anthropic-version": "2023-06-01"},
                        (401, anth_err("authentication_error", "invalid x-api-key"))),
                       ({"x-api-key": KEY2}, (400, anth_err("invalid_request_error",
                                                            "anthropic-version: header is required"))),
                       ({"x-api-key": KEY2, "anthropic-version": "2099-01-01"},
                        (400, anth_err("invalid_request_error", 'anthropic-version: "2099-01-01" is not a valid version'))),
                       ({"Authorization": "Bearer " + KEY2, "anthropic-version": "2023-06-01"},
                        (401, anth_err("authentication_error", "x-api-key header is required")))):
        st, _, body = get(m, "/v1/messages/batches/msgbatch_01Hk", hdrs)
        eq((st, json.loads(body)), want, "auth %r" % hdrs)
    st, _, body = get(m, "/v1/messages/batches/msgbatch_nope", ANTH)
    eq((st, json.loads(body)), (404, anth_err("not_found_error", "The requested resource could not be found.")),
       "unknown message batch")
    # the request log keeps every header a request carried
    log = m.requests(job_id="msgbatch_01Hk")
    e = log[0]
    eq((e["kind"], e["headers"].get("x-api-key"), e["headers"].get("anthropic-version"), e["app"]),
       ("anthropic_batch", KEY2, "2023-06-01", KEY2), "headers in the log")
    ok("authorization" not in e["headers"], "no Authorization header was sent: %r" % e["headers"])


@test
def t_project_route(m):
    m.ctl("POST", "/_mock/api-jobs", {"project_jobs": [
        {"id": "render 7/a", "project": "team a/b", "lifecycle": [["queued", 0.1], ["failed", None]],
         "error": "out of memory"},
        {"id": "j2", "project": "p", "lifecycle": [["running", None]]}]})
    time.sleep(0.15)
    st, _, body = get(m, "/v1/projects/team%20a%2Fb/jobs/render%207%2Fa", BEARER)
    eq((st, json.loads(body)), (200, {"id": "render 7/a", "project": "team a/b", "state": "failed",
                                      "error": {"message": "out of memory"}}), "escaped segments")
    eq(get(m, "/v1/projects/team%20a/b/jobs/render%207%2Fa", BEARER)[0], 404, "an unescaped / is another path")
    eq(get(m, "/v1/projects/other/jobs/j2", BEARER)[0], 404, "the job of another project")
    eq(get(m, "/v1/projects/p/jobs/j2", {})[0], 401, "no key")
    log = m.requests(job_id=urllib.parse.quote("render 7/a", safe=""))
    eq([e["path"] for e in log], ["/v1/projects/team%20a%2Fb/jobs/render%207%2Fa"], "the raw path in the log (the unescaped one is no job of this route)")


@test
def t_scripted_faults(m):
    m.ctl("POST", "/_mock/api-jobs", {"openai_batches": [
        {"id": "batch_Scr01", "lifecycle": [["in_progress", None]], "then": "lifecycle", "responses": [
            {"fault": "wrong_shape", "variant": "number"}, {"fault": "wrong_shape", "variant": "missing"},
            {"fault": "wrong_shape", "variant": "object"}, {"fault": "500"}, {"fault": "503"},
            {"fault": "malformed", "variant": "garbage"}, {"fault": "gone"}, {"fault": "401"}]}],
        "anthropic_batches": [{"id": "msgbatch_Scr", "responses": [{"fault": "gone"}, {"fault": "500"}],
                               "then": "lifecycle"}]})
    p = "/v1/batches/batch_Scr01"
    eq(json.loads(get(m, p, BEARER)[2])["status"], 2, "a number status")
    ok("status" not in json.loads(get(m, p, BEARER)[2]), "no status")
    eq(json.loads(get(m, p, BEARER)[2])["status"], {"state": "in_progress"}, "an object status")
    st, _, body = get(m, p, BEARER)
    eq((st, json.loads(body)), (500, openai_err("The server had an error while processing your request. "
                                                "Sorry about that!", etype="server_error")), "500")
    st, hd, _ = get(m, p, BEARER)
    eq((st, hd.get("retry-after")), (503, "2"), "503 (a proxy's page)")
    st, _, body = get(m, p, BEARER)
    eq((st, body), (200, b"this is not json\n"), "garbage")
    eq(get(m, p, BEARER)[::2], (404, json.dumps(openai_err("No batch found with id 'batch_Scr01'."),
                                                indent=2).encode()), "gone")
    eq(json.loads(get(m, p, BEARER)[2])["error"]["code"], "invalid_api_key", "401")
    eq(json.loads(get(m, p, BEARER)[2])["status"], "in_progress", "then the lifecycle")
    st, _, body = get(m, "/v1/messages/batches/msgbatch_Scr", ANTH)
    eq((st, json.loads(body)["error"]["type"]), (404, "not_found_error"), "anthropic gone")
    eq(json.loads(get(m, "/v1/messages/batches/msgbatch_Scr", ANTH)[2])["error"]["type"], "api_error", "500")
    eq(get(m, "/v1/messages/batches/msgbatch_Scr", ANTH)[0], 200, "then the lifecycle")
    eq([e["source"] for e in m.requests(job_id="batch_Scr01")], ["script"] * 8 + ["lifecycle"], "sources")
    # an override by route kind
    m.ctl("POST", "/_mock/config", {"add_override": {"match": {"kind": "openai_batch"}, "count": 1,
                                                     "response": {"fault": "500"}}})
    eq([get(m, p, BEARER)[0], get(m, "/v1/messages/batches/msgbatch_Scr", ANTH)[0], get(m, p, BEARER)[0]],
       [500, 200, 200], "override of one API")


@test
def t_poll_lifecycle_and_status_specs(m):
    m.ctl("POST", "/_mock/api-jobs", {
        "openai_batches": [{"id": "batch_Poll01", "total": 4,
                            "poll_lifecycle": [["validating", 2], ["in_progress", 2], ["completed", None]]},
                           {"id": "batch_Spec01", "lifecycle": [["in_progress", None]], "then": "lifecycle",
                            "responses": [{"job_status": "needs_review"}, {"job_status": 7},
                                          {"job_status": "failed", "error_msg": "quota"}, {"fault": "natural"}]}],
        "anthropic_batches": [{"id": "msgbatch_Poll", "poll_lifecycle": [["in_progress", 1], ["gone", None]]}]})
    p = "/v1/batches/batch_Poll01"
    got = [json.loads(get(m, p, BEARER)[2]) for _ in range(5)]
    eq([o["status"] for o in got], ["validating", "validating", "in_progress", "in_progress", "completed"],
       "one step per request count")
    eq([o["request_counts"]["completed"] for o in got], [0, 0, 0, 2, 4], "progress counted in requests")
    ok(got[2]["in_progress_at"] is not None and got[4]["completed_at"] >= got[2]["in_progress_at"], "stamps")
    eq(m.ctl("POST", "/_mock/set-api-job", {"kind": "openai", "ids": ["batch_Poll01"], "status": "cancelling"}),
       {"updated": 1}, "set on a poll-scripted batch")
    eq(json.loads(get(m, p, BEARER)[2])["status"], "cancelling", "from the next request on")
    eq(json.loads(get(m, p, BEARER)[2])["status"], "cancelling", "and for good")
    eq(get(m, "/v1/messages/batches/msgbatch_Poll", ANTH)[0], 200, "first request: in progress")
    eq(get(m, "/v1/messages/batches/msgbatch_Poll", ANTH)[0], 404, "then gone")
    p = "/v1/batches/batch_Spec01"
    obj = json.loads(get(m, p, BEARER)[2])
    eq((list(obj), obj["status"]), (BATCH_FIELDS, "needs_review"), "job_status: the natural body with that word")
    eq(json.loads(get(m, p, BEARER)[2])["status"], 7, "job_status: a number")
    obj = json.loads(get(m, p, BEARER)[2])
    eq((obj["status"], obj["errors"]["data"][0]["message"]), ("failed", "quota"), "job_status and error_msg")
    eq(json.loads(get(m, p, BEARER)[2])["status"], "in_progress", "then the lifecycle")
    eq([e["job_status"] for e in m.requests(job_id="batch_Spec01")], ["needs_review", None, "failed", "in_progress"],
       "the log's job_status: the word answered (none for a number)")
    eq(get(m, p, {"Authorization": "Bearer sk-nope-0000000000000"})[0], 401, "a scripted status keeps the auth")


@test
def t_set_api_job(m):
    m.ctl("POST", "/_mock/api-jobs", {"openai_batches": [{"id": "batch_Set01", "lifecycle": [["in_progress", None]]},
                                                         {"id": "batch_set01", "lifecycle": [["validating", None]]}]})
    p = "/v1/batches/batch_Set01"
    eq(json.loads(get(m, p, BEARER)[2])["status"], "in_progress", "before")
    eq(m.ctl("POST", "/_mock/set-api-job", {"kind": "openai", "ids": ["batch_Set01"], "status": "paused_by_ops"}),
       {"updated": 1}, "set status")
    eq(json.loads(get(m, p, BEARER)[2])["status"], "paused_by_ops", "any word")
    m.ctl("POST", "/_mock/set-api-job", {"kind": "openai", "ids": ["batch_Set01"], "status": "failed",
                                         "errors": "quota exceeded"})
    eq(json.loads(get(m, p, BEARER)[2])["errors"]["data"][0]["message"], "quota exceeded", "errors set")
    m.ctl("POST", "/_mock/set-api-job", {"kind": "openai", "ids": ["batch_Set01"], "gone": True})
    eq(get(m, p, BEARER)[0], 404, "gone")
    eq(json.loads(get(m, "/v1/batches/batch_set01", BEARER)[2])["status"], "validating", "ids are case-sensitive")
    eq({e["path"] for e in m.requests(job_id="batch_Set01")}, {p}, "the log's job_id filter keeps the case")
    for bad in ({"kind": "nope", "all": True}, {"kind": "openai"}, {"kind": "openai", "all": True, "x": 1}):
        c = m.conn()
        c.request("POST", "/_mock/set-api-job", body=json.dumps(bad))
        eq(c.getresponse().status, 400, "bad set-api-job %r" % bad)
        c.close()
    for bad in ({"openai_batches": [{"id": "b", "colour": 1}]}, {"project_jobs": [{"id": "j"}]},
                {"anthropic_batches": [{"id": "m", "errored": -1}]}, {"openai_batches": {}}):
        c = m.conn()
        c.request("POST", "/_mock/api-jobs", body=json.dumps(bad))
        eq(c.getresponse().status, 400, "bad scenario %r" % bad)
        c.close()


def main():
    pick = sys.argv[sys.argv.index("-k") + 1] if "-k" in sys.argv else None
    tmp = tempfile.mkdtemp(prefix="mockjobapi-test-")
    failed = []
    m = None
    try:
        m = Mock(tmp, "--key", KEY, "--key", KEY2)
        for fn in TESTS:
            if pick and pick not in fn.__name__:
                continue
            t0 = time.monotonic()
            try:
                fn(m)
                res = "ok"
            except Exception:
                res = "FAIL"
                failed.append(fn.__name__)
                print("--- %s failed:" % fn.__name__)
                traceback.print_exc(file=sys.stdout)
            print("%-40s %-6s %.2fs" % (fn.__name__, res, time.monotonic() - t0), flush=True)
    finally:
        if m is not None:
            m.stop()
            err = m.proc.stderr.read().decode(errors="replace")
            if "Traceback" in err:
                print("--- mock stderr:\n" + err)
                failed.append("mock-stderr")
        shutil.rmtree(tmp, ignore_errors=True)
    print("%s: %d failed" % ("FAIL" if failed else "PASS", len(failed)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
