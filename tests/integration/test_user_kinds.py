#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Kinds defined in the configuration (CONTRACT.md "Kinds", issue 13) against job APIs that are
not Dify's: tests/mock/mock_jobapi.py's OpenAI-batch-shaped /batches/{id} (Bearer key), its
Anthropic-message-batch-shaped /messages/batches/{id} (x-api-key and anthropic-version headers)
and a /projects/{project}/jobs/{id} route for a {Key} placeholder.  Results read from the journal.

  openai-batch   validating -> in_progress -> completed: completed, JOB_KIND, JOB_REMOTE_STATUS,
                 the hook's env and the final Batch object on its stdin; failed: error, JOB_ERROR
                 is errors.data[0].message; expired (a word of Failed=): error, remote status
                 expired; an id the API does not know: three 404s, unknown; seen, then 404s:
                 expired; a word in no list: polled on, said once, ends when the word changes;
                 a status that is a number, and an answer without status: job trouble (once),
                 recovered, never an end.
  anthropic      AuthHeader=x-api-key: {key} and Header=anthropic-version: 2023-06-01 were
                 sent, no Authorization header; ended: completed.
  render-farm    StatusPath=/projects/{Project}/jobs/{id}: the job file's Project= in the path,
                 URL-escaped (space and slash).
  keys           neither key in any journal entry of the daemon, a hook's environment or
                 command line, or a file of the state directory; each endpoint's requests carry
                 only its own key, in its own header.
  restart        jobwatchd restarted while a batch is in progress: one result, JOB_POLLS counts
                 the polls of both runs, one hook.
  reload         SIGHUP with "finalizing" moved from Running= to Completed=: the batch stuck in
                 finalizing ends completed; SIGHUP without [Kind:render-farm]: a warning naming
                 the kind, no result, no poll; SIGHUP with it again: the job finishes.
  --check        a word in two lists of a [Kind:] is an error at FILE:LINE; so is a job file
                 whose Kind= names no kind.
"""

import json
import os
import re
import subprocess
import time

import harness as H
import jwcheck as C
import kindcheck as K

OPENAI_KEY = "sk-proj-jobwatchtest00000000000000001"
ANTH_KEY = "sk-ant-api03-jobwatchtest0000000000002"
OA, AN, RF = "openai-batch", "anthropic-batch", "render-farm"
PROJECT = "team a/b"
PROJECT_PATH = "team%20a%2Fb"
FOREVER = [["in_progress", None]]


def kinds(finalizing_completes=False, render=True):
    running = ["validating", "in_progress", "finalizing", "cancelling"]
    completed = ["completed"]
    if finalizing_completes:
        running.remove("finalizing")
        completed.append("finalizing")
    out = {
        "Kind:" + OA: {"StatusPath": "/batches/{id}", "StatusField": "/status",
                       "ErrorField": "/errors/data/0/message", "Completed": " ".join(completed),
                       "Failed": "failed expired cancelled", "Running": " ".join(running), "GoneStatus": "404"},
        "Kind:" + AN: {"StatusPath": "/messages/batches/{id}", "StatusField": "/processing_status",
                       "Completed": "ended", "Running": "in_progress canceling", "GoneStatus": "404"},
    }
    if render:
        out["Kind:" + RF] = {"StatusPath": "/projects/{Project}/jobs/{id}", "StatusField": "/state",
                             "ErrorField": "/error/message", "Completed": "done", "Failed": "failed",
                             "Running": "queued running", "GoneStatus": "404"}
    return out


def config(sb, mock, hook, keys, **kw):
    conf = sb.base_config(mock, key_file=keys[0], hook=hook, initial="100ms", max_interval="300ms")
    conf["Endpoint:anthropic"] = {"BaseURL": mock.url, "APIKeyFile": keys[1], "AuthHeader": "x-api-key: {key}",
                                  "Header": ["anthropic-version: 2023-06-01"]}
    conf["Endpoint:projects"] = {"BaseURL": mock.url, "APIKeyFile": keys[0]}
    conf.update(kinds(**kw))
    return conf


def ujob(sb, name, kind, job_id, endpoint=None, **extra):
    kv = {"Kind": kind, "JobID": job_id}
    if endpoint is not None:
        kv["Endpoint"] = endpoint
    kv.update(extra)
    return sb.write_job(name, text=H.ini_text({"Job": kv}))


def route_of(kind):
    return {OA: "openai_batch", AN: "anthropic_batch", RF: "project_job"}[kind]


def answered(mock, job_id, kind, word):
    return [e for e in mock.requests(job_id=job_id, kind=route_of(kind), headers=False) if e["job_status"] == word]


def after(entries, wall):
    return [e for e in entries if int(e["__REALTIME_TIMESTAMP"]) >= int(wall * 1e6)]


def run_check(sb, config_path, jobs_dir):
    argv = H.shlex.split(os.environ.get("JOBWATCHD_WRAPPER", "")) + [
        H.find_jobwatchd(), "--check", "--config", config_path, "--jobs-dir", jobs_dir, "--state-dir", sb.state_dir]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=C.t(30), env=H._clean_env(),
                       stdin=subprocess.DEVNULL)
    H.note("jobwatchd --check -c %s -j %s: rc %d\n%s", config_path, jobs_dir, p.returncode, p.stdout + p.stderr)
    return p.returncode, p.stdout + p.stderr


def test():
    sb = H.Sandbox()
    soft = C.Soft()
    B = {k: "batch_67f0%sXq" % k.capitalize() for k in
         ("ok", "failed", "expired", "unknown", "vanished", "oddword", "number", "absent", "restart", "final")}
    MB = "msgbatch_01JwQ7tKq9"
    RJ, RJ2 = "job-42", "job-43"
    mock = sb.start_mock(keys=(OPENAI_KEY, ANTH_KEY))
    mock.add_api_jobs(
        openai_batches=[
            {"id": B["ok"], "total": 20, "failed": 2, "metadata": {"nightly": "eval"},
             "lifecycle": [["validating", 0.3], ["in_progress", 0.5], ["finalizing", 0.2], ["completed", None]]},
            {"id": B["failed"], "lifecycle": [["validating", 0.4], ["failed", None]],
             "errors": "Line 3: the model field is required."},
            {"id": B["expired"], "lifecycle": [["in_progress", 0.5], ["expired", None]]},
            # long enough to be seen alive whenever the daemon's first poll comes
            {"id": B["vanished"], "lifecycle": [["in_progress", 2.0], ["gone", None]]},
            {"id": B["oddword"], "lifecycle": [["validating", 0.2], ["paused_by_ops", None]]},
            # one proper answer first (as in test_job_trouble): by the bad ones, the other jobs
            # have shown that the endpoint answers, so the trouble is the job's own
            {"id": B["number"], "lifecycle": FOREVER, "then": "lifecycle",
             "responses": [{"job_status": "in_progress"}] + [{"fault": "wrong_shape", "variant": "number"}] * 4},
            {"id": B["absent"], "lifecycle": FOREVER, "then": "lifecycle",
             "responses": [{"job_status": "in_progress"}] + [{"fault": "wrong_shape", "variant": "missing"}] * 4}],
        anthropic_batches=[{"id": MB, "total": 3, "errored": 1,
                            "lifecycle": [["in_progress", 0.6], ["ended", None]]}],
        project_jobs=[{"id": RJ, "project": PROJECT, "lifecycle": [["queued", 0.3], ["running", 0.4], ["done", None]]}])
    keys = (sb.write_key("openai", OPENAI_KEY), sb.write_key("anthropic", ANTH_KEY))
    hook = sb.recording_hook()
    sb.write_config(config(sb, mock, hook, keys))
    first = ("ok", "failed", "expired", "unknown", "vanished", "oddword", "number", "absent")
    files = {k: ujob(sb, k, OA, B[k], Description="batch %s" % k) for k in first}
    files[MB] = ujob(sb, "anthropic", AN, MB, endpoint="anthropic")
    files[RJ] = ujob(sb, "render", RF, RJ, endpoint="projects", Project=PROJECT)
    d = sb.start_daemon()

    # ---- the first round ------------------------------------------------------------------
    # a word in no list: polled on, not an end; then the batch goes on
    H.wait_until(lambda: len(answered(mock, B["oddword"], OA, "paused_by_ops")) >= 4, 15,
                 what="4 polls of the batch answered paused_by_ops")
    soft.check(not C.results(d, job_id=B["oddword"]), "a status word in no list ended the job: %s",
               [H.format_entry(e) for e in C.results(d, job_id=B["oddword"])])
    mock.set_api_job("openai", B["oddword"], status="completed")
    # a number, and no status at all: trouble, then proper answers again; only then the end
    for k in ("number", "absent"):
        H.wait_until(lambda: len(answered(mock, B[k], OA, "in_progress")) >= 3, 15,
                     what="proper answers for the %s batch after its faults" % k)
        soft.check(not C.results(d, job_id=B[k]), "%s: a bad status ended the job: %s", k,
                   [H.format_entry(e) for e in C.results(d, job_id=B[k])])
        mock.set_api_job("openai", B[k], status="completed")

    ids = [B[k] for k in first] + [MB, RJ]
    C.wait_results(d, len(ids), timeout=30)
    res = C.assert_one_result_each(d, ids)

    def case(k, kind, status, job_id=None, endpoint="default", **kw):
        jid = job_id or B[k]
        kw.setdefault("polls", K.polls_of(mock, jid, route_of(kind)))
        try:
            K.check_result(res[jid], kind=kind, job_id=jid, status=status, endpoint=endpoint,
                           job_file=files[k if job_id is None else jid], **kw)
        except H.Failure as ex:
            soft.check(False, "%s: %s\n      entry: %s", k, ex, H.format_entry(res[jid]))

    case("ok", OA, "completed", remote_status="completed", description="batch ok")
    case("failed", OA, "error", remote_status="failed", error="Line 3: the model field is required.")
    # an expired batch has no errors: JOB_ERROR, if any, is not empty
    e = res[B["expired"]]
    case("expired", OA, "error", remote_status="expired", **({"error": e["JOB_ERROR"]} if e.get("JOB_ERROR") else {}))
    case("unknown", OA, "unknown", polls=3, remote_status=None)
    case("vanished", OA, "expired")
    case("oddword", OA, "completed", remote_status="completed")
    case("number", OA, "completed", remote_status="completed")
    case("absent", OA, "completed", remote_status="completed")
    case(None, AN, "completed", job_id=MB, endpoint="anthropic", remote_status="ended")
    case(None, RF, "completed", job_id=RJ, endpoint="projects", remote_status="done")
    st = [r["status"] for r in mock.requests(job_id=B["vanished"], kind="openai_batch", headers=False)]
    soft.check(200 in st and st[-3:] == [404, 404, 404], "vanished batch: answers %s", st)

    # the word in no list: said once, named
    said = [x["MESSAGE"] for x in d.journal(JOB_ID=B["oddword"])
            if "paused_by_ops" in x.get("MESSAGE", "") and x.get("MESSAGE_ID") != C.RESULT]
    soft.eq(len(said), 1, "entries saying the status 'paused_by_ops' is unknown (%r)" % said)
    # a number or no status: job trouble once, recovered once, before the result
    for k in ("number", "absent"):
        jt = d.journal(MESSAGE_ID=C.MID["JOB_TROUBLE"], JOB_ID=B[k])
        jr = d.journal(MESSAGE_ID=C.MID["JOB_RECOVERED"], JOB_ID=B[k])
        soft.check(len(jt) == 1 and len(jr) == 1, "%s: %d job-trouble and %d job-recovered entries (%s)", k,
                   len(jt), len(jr), [x["MESSAGE"] for x in jt + jr])
        if jt and jr:
            soft.check(int(jt[0]["__MONOTONIC_TIMESTAMP"]) < int(jr[0]["__MONOTONIC_TIMESTAMP"])
                       <= int(res[B[k]]["__MONOTONIC_TIMESTAMP"]), "%s: trouble, recovered, result: in that order", k)
            soft.eq(jt[0].get("PRIORITY"), "4", "%s: PRIORITY of the job-trouble entry" % k)

    # ---- headers: each endpoint's key in its own header, the extra header, nothing else -----
    oa_reqs = [r for k in first for r in mock.requests(job_id=B[k], kind="openai_batch")]
    soft.check(oa_reqs and all(r["headers"].get("authorization") == "Bearer " + OPENAI_KEY
                               and "x-api-key" not in r["headers"] and "anthropic-version" not in r["headers"]
                               for r in oa_reqs),
               "openai-batch requests: Bearer key only: %s", sorted({json.dumps(r["headers"], sort_keys=True)
                                                                      for r in oa_reqs})[:3])
    an_reqs = mock.requests(job_id=MB, kind="anthropic_batch")
    soft.check(an_reqs and all(r["headers"].get("x-api-key") == ANTH_KEY
                               and r["headers"].get("anthropic-version") == "2023-06-01"
                               and "authorization" not in r["headers"] for r in an_reqs),
               "anthropic requests: x-api-key and anthropic-version, no Authorization: %s",
               [r["headers"] for r in an_reqs[:2]])
    soft.check(all(r["status"] == 200 for r in an_reqs), "anthropic answers: %s", [r["status"] for r in an_reqs])
    rf_reqs = mock.requests(job_id=RJ, kind="project_job")
    soft.eq(sorted({r["path"] for r in rf_reqs}), ["/v1/projects/%s/jobs/%s" % (PROJECT_PATH, RJ)],
            "the render-farm job's path ({Project} URL-escaped)")

    # ---- hooks ---------------------------------------------------------------------------------
    try:
        sb.wait_for_hook_records(len(ids), timeout=20)
    except H.Failure as ex:
        soft.check(False, "%s", ex)
    hooks = K.hook_by_job(sb)
    soft.eq(sorted(hooks), sorted(ids), "jobs whose hook ran")
    kind_of = dict([(B[k], OA) for k in first] + [(MB, AN), (RJ, RF)])
    for jid, recs in hooks.items():
        soft.eq(len(recs), 1, "hook runs of %s" % jid)
        for r in recs:
            try:
                K.check_hook(r, res[jid], kind=kind_of[jid], keys=(OPENAI_KEY, ANTH_KEY))
            except (H.Failure, KeyError) as ex:
                soft.check(False, "%s: %s", jid, ex)

    def stdin_of(jid):
        try:
            return json.loads(hooks[jid][0]["stdin"])
        except (KeyError, IndexError, ValueError, TypeError) as ex:
            soft.check(False, "%s: the hook's stdin is not the final answer (%s)", jid, ex)
            return {}
    body = stdin_of(B["ok"])
    soft.eq((body.get("id"), body.get("object"), body.get("status"), body.get("request_counts"), body.get("metadata")),
            (B["ok"], "batch", "completed", {"total": 20, "completed": 18, "failed": 2}, {"nightly": "eval"}),
            "the completed Batch object on the hook's stdin")
    body = stdin_of(B["failed"])
    soft.eq(((body.get("errors") or {}).get("data") or [{}])[0].get("message"), "Line 3: the model field is required.",
            "the failed Batch object on the hook's stdin")
    body = stdin_of(MB)
    soft.eq((body.get("id"), body.get("processing_status"), body.get("request_counts")),
            (MB, "ended", {"processing": 0, "succeeded": 2, "errored": 1, "canceled": 0, "expired": 0}),
            "the ended Message Batch on the hook's stdin")
    soft.check(str(body.get("results_url", "")).endswith("/messages/batches/%s/results" % MB),
               "results_url for the hook to fetch the results: %r", body.get("results_url"))

    # ---- restart in the middle of a user-kind job ------------------------------------------------
    mock.add_api_jobs(openai_batches=[{"id": B["restart"], "lifecycle": FOREVER}])
    files["restart"] = ujob(sb, "restart", OA, B["restart"])
    mock.wait_for_requests(2, timeout=10, job_id=B["restart"], kind="openai_batch")
    d.restart()
    n0 = K.polls_of(mock, B["restart"], "openai_batch")
    mock.wait_for_requests(n0 + 2, timeout=10, job_id=B["restart"], kind="openai_batch")
    mock.set_api_job("openai", B["restart"], status="completed")
    C.wait_results(d, 1, timeout=15, job_id=B["restart"])
    H.quiet(0.8, "no second result after the restart")
    got = C.results(d, job_id=B["restart"])
    soft.eq(len(got), 1, "results of the batch watched across a restart")
    if got:
        res[B["restart"]] = got[0]
        case("restart", OA, "completed", remote_status="completed")
    try:
        sb.wait_for_hook_records(len(ids) + 1, timeout=15)
    except H.Failure as ex:
        soft.check(False, "%s", ex)
    soft.eq(len(K.hook_by_job(sb).get(B["restart"], [])), 1, "hook runs of the batch watched across a restart")

    # ---- reload: a word moves from Running= to Completed= ------------------------------------
    mock.add_api_jobs(openai_batches=[{"id": B["final"], "lifecycle": [["in_progress", 0.2], ["finalizing", None]]}])
    files["final"] = ujob(sb, "final", OA, B["final"])
    H.wait_until(lambda: len(answered(mock, B["final"], OA, "finalizing")) >= 3, 15,
                 what="3 polls of the batch answered finalizing")
    soft.check(not C.results(d, job_id=B["final"]), "finalizing (in Running=) ended the job")
    sb.write_config(config(sb, mock, hook, keys, finalizing_completes=True))
    d.reload()
    C.wait_results(d, 1, timeout=15, job_id=B["final"])
    got = C.results(d, job_id=B["final"])
    if got:
        res[B["final"]] = got[0]
        case("final", OA, "completed", remote_status="finalizing")

    # ---- reload: a kind removed, then restored ------------------------------------------------
    mock.add_api_jobs(project_jobs=[{"id": RJ2, "project": PROJECT, "lifecycle": [["running", None]]}])
    files[RJ2] = ujob(sb, "render2", RF, RJ2, endpoint="projects", Project=PROJECT)
    mock.wait_for_requests(2, timeout=10, job_id=RJ2, kind="project_job")
    t_reload = time.time()
    sb.write_config(config(sb, mock, hook, keys, finalizing_completes=True, render=False))
    d.reload()
    try:
        # naming the kind, about the pending job (its id or its file)
        warn = H.wait_until(lambda: [x for x in after(d.journal(), t_reload)
                                     if RF in x.get("MESSAGE", "") and x.get("PRIORITY") in ("3", "4")
                                     and (RJ2 in json.dumps(x) or "render2.job" in json.dumps(x))], 10,
                            what="a warning naming the removed kind %s and its job %s" % (RF, RJ2))
        H.note("removed kind: %s", [x["MESSAGE"] for x in warn])
    except H.Failure as ex:
        soft.check(False, "%s", ex)
    time.sleep(C.t(0.5))                # a poll in flight at the reload may still arrive
    n0 = K.polls_of(mock, RJ2, "project_job")
    mock.set_api_job("project", RJ2, status="done")
    H.quiet(1.5, "the job of a removed kind is left alone")
    soft.eq(K.polls_of(mock, RJ2, "project_job"), n0, "polls of the job of a removed kind")
    soft.eq(C.results(d, job_id=RJ2), [], "results of the job of a removed kind")
    sb.write_config(config(sb, mock, hook, keys, finalizing_completes=True))
    d.reload()
    C.wait_results(d, 1, timeout=15, job_id=RJ2)
    got = C.results(d, job_id=RJ2)
    if got:
        res[RJ2] = got[0]
        case(None, RF, "completed", job_id=RJ2, endpoint="projects", remote_status="done")
    H.quiet(0.5, "no second result")
    soft.eq(len(C.results(d, job_id=RJ2)), 1, "results of the job whose kind came back")
    soft.eq(len(C.results(d, job_id=RJ)), 1, "results of the finished job whose kind went and came back")

    # every job that ended ran its hook once (the removed kind's job too, once its kind was back)
    ended = ids + [B["restart"], B["final"], RJ2]
    try:
        sb.wait_for_hook_records(len(ended), timeout=15)
    except H.Failure as ex:
        soft.check(False, "%s", ex)
    soft.eq({j: len(r) for j, r in K.hook_by_job(sb).items()}, {j: 1 for j in ended}, "hook runs per job")

    # ---- the keys: only in their headers ---------------------------------------------------------
    H.quiet(0.5, "the last entries reach the journal")
    everything = json.dumps(d.journal())
    for k in (OPENAI_KEY, ANTH_KEY):
        soft.check(k not in everything, "an API key (%s...) in the journal of jobwatchd", k[:10])
        for root, _, names in os.walk(sb.state_dir):
            for n in names:
                with open(os.path.join(root, n), "rb") as f:
                    soft.check(k.encode() not in f.read(), "an API key (%s...) in the state file %s", k[:10], n)
    d.stop()

    # ---- --check: FILE:LINE for a bad [Kind:] and a job file naming no kind ---------------------
    bad = sb.path("bad-kind.conf")
    text = H.ini_text(config(sb, mock, hook, keys)) + "\n[Kind:twice]\nStatusPath=/jobs/{id}\nStatusField=/state\n" \
        "Completed=done\nFailed=error done\nGoneStatus=404\n"
    H.write_file(bad, text)
    lines = text.splitlines()
    start = lines.index("[Kind:twice]")
    where = [i + 1 for i, ln in enumerate(lines) if i > start and ln in ("Completed=done", "Failed=error done")]
    rc, out = run_check(sb, bad, sb.jobs_dir)
    soft.eq(rc, 1, "--check exit status with a word in two lists")
    soft.check(any(re.search(r"^%s:(%s): .*\bdone\b" % (re.escape(bad), "|".join(map(str, where))), ln)
                   for ln in out.splitlines()),
               "--check: no line %s:%s: naming 'done': %r", bad, where, out)
    jobs2 = sb.path("jobs-missing-kind")
    os.makedirs(jobs2)
    missing = H.write_file(os.path.join(jobs2, "x.job"), "[Job]\nKind=no-such-kind\nJobID=batch_1\n")
    rc, out = run_check(sb, sb.conf, jobs2)
    soft.eq(rc, 1, "--check exit status with a job file naming no kind")
    soft.check(re.search(r"^%s:2: .*no-such-kind" % re.escape(missing), out, re.M),
               "--check: no line %s:2: naming no-such-kind: %r", missing, out)
    soft.done()


H.main(test, needs_journal=True)
