#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Kind=document-indexing, every outcome (CONTRACT "Kinds", DIFY.md kind 2), against the mock's
indexing-status route with dataset keys, results read from the journal:
completed; error with JOB_ERROR naming the failed documents (and bounded for 50 of them);
paused documents are not an end, and the batch ends once they are resumed; expired and unknown
from 404 "Documents not found." / "Dataset not found." (flask-restx's "did you mean" suffix
too); a 404 HTML page and a 403 "Dataset api access is not enabled." are endpoint trouble, not
an answer about the batch; timeout; cancelled; a batch of 1,000 documents; a batch polled on an
endpoint with an app key gets Dify's 401 (endpoint trouble) until its deadline.  Every result field
(JOB_KIND, JOB_REMOTE_STATUS, JOB_ID = the batch, JOB_DATASET_ID, JOB_DOCUMENTS,
JOB_DOCUMENTS_FAILED) and the hook's (JOBWATCH_KIND, JOBWATCH_REMOTE_STATUS,
JOBWATCH_DATASET_ID, stdin = the final answer)."""

import json
import uuid

import harness as H
import jwcheck as C
import kindcheck as K

KEY_HTML = "dataset-jobwatchtest000000000003"
KEY_403 = "dataset-jobwatchtest000000000004"
FAST = [["waiting", 0.2], ["parsing", 0.1], ["splitting", 0.1], ["indexing", 0.3], ["completed", None]]
FOREVER = [["waiting", 0.1], ["indexing", None]]
GONE = {"fault": "gone"}


def doc(lifecycle=FAST, **kw):
    d = {"id": str(uuid.uuid4()), "lifecycle": lifecycle}
    d.update(kw)
    return d


def test():
    sb = H.Sandbox()
    DS, DS_GONE, DS_403 = (str(uuid.uuid4()) for _ in range(3))
    names = ["completed", "error", "error_bounded", "paused", "expired_docs", "expired_dataset_dym",
             "unknown_docs", "unknown_docs_dym", "unknown_dataset", "html404", "forbidden", "timeout",
             "cancelled", "big", "app_key"]
    B = {k: K.batch_id(i) for i, k in enumerate(names)}
    err_docs = [doc(), doc([["waiting", 0.2], ["parsing", 0.2], ["error", None]], error="PDF has no text layer",
                          error_code="EmptyDocument"),
                doc([["waiting", 0.3], ["error", None]]),
                doc([["waiting", 0.2], ["indexing", 0.2], ["error", None]], error="Quota exceeded: vector space")]
    paused_docs = [doc([["waiting", 0.2], ["indexing", 0.2], ["paused", None]], total_segments=8), doc(FAST)]
    mock = sb.start_mock(keys=(H.KEY, K.DATASET_KEY, KEY_HTML, KEY_403))
    mock.add_batches(
        {"dataset_id": DS, "batch": B["completed"], "documents": [doc(), doc(), doc(total_segments=3)]},
        {"dataset_id": DS, "batch": B["error"], "documents": err_docs},
        {"dataset_id": DS, "batch": B["error_bounded"], "count": 50,
         "document": {"lifecycle": [["waiting", 0.2], ["error", None]], "error": "E" * 400}},
        {"dataset_id": DS, "batch": B["paused"], "documents": paused_docs},
        {"dataset_id": DS, "batch": B["expired_docs"], "responses": [{}, GONE], "then": "repeat"},
        {"dataset_id": DS, "batch": B["expired_dataset_dym"], "then": "repeat",
         "responses": [{}, {"fault": "gone", "message": "Dataset not found.", "did_you_mean": True}]},
        # unknown_docs: a batch the mock does not know, in a dataset it knows
        {"dataset_id": DS, "batch": B["unknown_docs_dym"], "responses": [dict(GONE, did_you_mean=True)],
         "then": "repeat"},
        # unknown_dataset: DS_GONE is not known at all
        {"dataset_id": DS, "batch": B["html404"], "documents": [doc()], "then": "lifecycle",
         "responses": [{}] + [{"fault": "html_404"}] * 4},
        {"dataset_id": DS_403, "batch": B["forbidden"], "documents": [doc()]},
        {"dataset_id": DS, "batch": B["timeout"], "documents": [doc(FOREVER), doc(FOREVER)]},
        {"dataset_id": DS, "batch": B["cancelled"], "documents": [doc(FOREVER)]},
        # polled on the default endpoint, whose key is an app key: Dify's 401, trouble, never an answer
        {"dataset_id": DS, "batch": B["app_key"], "documents": [doc()]},
        {"dataset_id": DS, "batch": B["big"], "count": 1000, "stagger": 0.001,
         "document": {"lifecycle": [["waiting", 0.3], ["indexing", 0.5], ["completed", None]]}},
        datasets=[{"id": DS_403, "api_enabled": False}])
    keys = {"kb": sb.write_key("kb-key", K.DATASET_KEY), "kb-html": sb.write_key("kb-html-key", KEY_HTML),
            "kb-403": sb.write_key("kb-403-key", KEY_403)}
    hook = sb.recording_hook()
    conf = sb.base_config(mock, hook=hook, initial="100ms", max_interval="300ms", job_timeout="60s")
    for ep, kf in keys.items():
        conf["Endpoint:" + ep] = {"BaseURL": mock.url, "APIKeyFile": kf}
    sb.write_config(conf)

    ds_of = {k: DS for k in names}
    ds_of.update(unknown_dataset=DS_GONE, forbidden=DS_403)
    ep_of = {k: "kb" for k in names}
    ep_of.update(html404="kb-html", forbidden="kb-403", app_key="default")
    files = {}
    for k in names[:-1]:
        files[k] = K.index_job(sb, k, ds_of[k].upper() if k == "completed" else ds_of[k], B[k], endpoint=ep_of[k],
                               **({"timeout": "1s"} if k == "timeout" else {}),
                               **({"description": "FAQ articles, December"} if k == "completed" else {}))
    files["app_key"] = K.index_job(sb, "app_key", DS, B["app_key"], timeout="1s")   # no Endpoint=
    d = sb.start_daemon()

    # cancelled: the file goes after two polls
    mock.wait_for_requests(2, timeout=10, job_id=B["cancelled"], kind="indexing")
    sb.remove_job("cancelled")

    # forbidden: three 403 "Dataset api access is not enabled.", then the API is switched on
    mock.wait_for_requests(3, timeout=10, job_id=B["forbidden"], kind="indexing",
                           predicate=lambda r: r["status"] == 403)
    H.check(not C.results(d, job_id=B["forbidden"]), "a result for a batch that only got 403s: %s",
            C.results(d, job_id=B["forbidden"]))
    mock.add_batches(datasets=[{"id": DS_403, "api_enabled": True}])

    # paused: one document paused, the other completed; polled on, no result; then resumed
    def paused_now():
        return mock.batches(B["paused"])[0]["statuses"] == {"paused": 1, "completed": 1}
    H.wait_until(paused_now, 10, what="batch %s: one document paused, one completed" % B["paused"])
    n0 = K.polls_of(mock, B["paused"], "indexing")
    mock.wait_for_requests(n0 + 4, timeout=10, job_id=B["paused"], kind="indexing")
    H.check(not C.results(d, job_id=B["paused"]), "a paused document ended its batch: %s",
            [H.format_entry(e) for e in C.results(d, job_id=B["paused"])])
    # its progress, in the state (schema v2): the completed document and every segment of both
    want_progress = "1/2 documents, 18/18 segments"
    H.wait_until(lambda: sb.state_query("SELECT progress FROM jobs WHERE job_id = ?", (B["paused"],))
                 == [{"progress": want_progress}], 10,
                 what="progress %r of the paused batch in the state (have %s)" % (
                     want_progress, sb.state_query("SELECT progress FROM jobs WHERE job_id = ?", (B["paused"],))))
    # STATUS= sums the progress of the batches still watched (the paused one among them)
    st = d.wait_status(r"\b\d+ document batch(es)? indexing: \d+/\d+ documents done\b", timeout=5)
    H.note("STATUS=%s", st)
    mock.set_batch(B["paused"], document_ids=[paused_docs[0]["id"]],
                   lifecycle=[["indexing", 0.3], ["completed", None]])

    C.wait_results(d, len(names), timeout=40)
    res = C.assert_one_result_each(d, [B[k] for k in names])
    soft = C.Soft()

    def case(k, status, **kw):
        e = res[B[k]]
        n = K.polls_of(mock, B[k], "indexing")
        kw.setdefault("polls", n)
        try:
            K.check_result(e, kind=K.INDEXING, job_id=B[k], status=status, endpoint=ep_of[k], job_file=files[k],
                           dataset=ds_of[k], **kw)
        except H.Failure as ex:
            soft.check(False, "%s: %s\n      entry: %s", k, ex, H.format_entry(e))

    case("completed", "completed", remote_status="completed", documents=3, documents_failed=0,
         description="FAQ articles, December")

    want_err = {"%s: PDF has no text layer" % err_docs[1]["id"], err_docs[2]["id"],
                "%s: Quota exceeded: vector space" % err_docs[3]["id"]}

    def err_check(v):
        H.eq(set(v.split("; ")), want_err, "JOB_ERROR of the batch (failed documents and their errors)")
    case("error", "error", remote_status="error", documents=4, documents_failed=3, error_check=err_check)

    def bounded(v):
        H.check(len(v.encode()) <= 1024, "JOB_ERROR of 50 failed documents is %d bytes, more than 1 KiB",
                len(v.encode()))
        H.check(v.endswith("…"), "JOB_ERROR cut without '…': %r", v[-40:])
        first = v.split("; ")[0]
        H.check(len(first.split(": ", 1)[1].encode()) <= 255 if ": " in first else False,
                "one document's error is not cut to 255 bytes: %r", first[:80])
    case("error_bounded", "error", remote_status="error", documents=50, documents_failed=50, error_check=bounded)
    case("paused", "completed", remote_status="completed", documents=2, documents_failed=0)
    case("expired_docs", "expired", polls=4)
    case("expired_dataset_dym", "expired", polls=4)
    case("unknown_docs", "unknown", polls=3, remote_status=None)
    case("unknown_docs_dym", "unknown", polls=3, remote_status=None)
    case("unknown_dataset", "unknown", polls=3, remote_status=None)
    case("html404", "completed", remote_status="completed", documents=1, documents_failed=0)
    case("forbidden", "completed", remote_status="completed", documents=1, documents_failed=0)
    case("timeout", "timeout", remote_status="indexing", documents=2, documents_failed=0, min_duration=1.0,
         max_duration=C.t(4.0))
    n = K.polls_of(mock, B["cancelled"], "indexing")
    case("cancelled", "cancelled", polls=None, polls_range=(n, n + 1))
    case("big", "completed", remote_status="completed", documents=1000, documents_failed=0)
    case("app_key", "timeout", remote_status=None, min_duration=1.0, max_duration=C.t(4.0))
    soft.check({r["status"] for r in mock.requests(job_id=B["app_key"], kind="indexing", headers=False)} == {401},
               "a batch polled with an app key was not answered 401 only")
    tr = d.journal(MESSAGE_ID=C.TROUBLE, JOB_ENDPOINT="default")
    soft.check(tr and "401" in tr[0].get("MESSAGE", ""), "no 401 endpoint trouble for the app key: %s",
               [e.get("MESSAGE") for e in tr])

    # what the mock answered: Dify's shapes, each case as meant
    def shapes(k):
        return [(r["status"], r.get("fault")) for r in mock.requests(job_id=B[k], kind="indexing", headers=False)]
    soft.check(all(s == 404 for s, _ in shapes("unknown_dataset")) and all(s == 404 for s, _ in shapes("unknown_docs")),
               "unknown batches were not answered 404: %s", (shapes("unknown_dataset"), shapes("unknown_docs")))
    soft.check((404, "html_404") in shapes("html404"), "html404: no HTML 404 answered: %s", shapes("html404"))

    # the HTML 404 and the 403 are trouble of their endpoints, logged, and recovered from
    for ep in ("kb-html", "kb-403"):
        soft.check(d.journal(MESSAGE_ID=C.TROUBLE, JOB_ENDPOINT=ep), "no endpoint-trouble entry for %s", ep)
        soft.check(d.journal(MESSAGE_ID=C.RECOVERED, JOB_ENDPOINT=ep), "no recovered entry for %s", ep)
    tr = d.journal(MESSAGE_ID=C.TROUBLE, JOB_ENDPOINT="kb")
    soft.check(not tr, "endpoint trouble on kb, where Dify answered properly: %s", [e.get("MESSAGE") for e in tr])
    jt = [e for e in d.journal() if e.get("JOB_ID") in B.values() and e.get("PRIORITY") in ("3", "4")
          and e.get("MESSAGE_ID") not in (C.RESULT, C.HOOK_EXIT)]
    soft.check(not [e for e in jt if e.get("JOB_ID") == B["big"]], "trouble with the batch of 1,000: %s",
               [e.get("MESSAGE") for e in jt if e.get("JOB_ID") == B["big"]])

    # the dataset key, on its endpoint, for every request
    for k in names:
        try:
            K.check_auth(mock, B[k], "indexing", {"kb-html": KEY_HTML, "kb-403": KEY_403, "default": H.KEY}.get(
                ep_of[k], K.DATASET_KEY))
        except H.Failure as ex:
            soft.check(False, "%s", ex)

    # hooks: once per batch but the cancelled one, with the kind's variables and the final answer
    want = sorted(B[k] for k in names if k != "cancelled")
    try:
        sb.wait_for_hook_records(len(want), timeout=20)
    except H.Failure as ex:
        soft.check(False, "%s", ex)
    hooks = K.hook_by_job(sb)
    soft.eq(sorted(hooks), want, "batches whose hook ran")
    for k in names:
        for r in hooks.get(B[k], []):
            try:
                K.check_hook(r, res[B[k]], kind=K.INDEXING, dataset=ds_of[k],
                             keys=(K.DATASET_KEY, KEY_HTML, KEY_403, H.KEY))
            except H.Failure as ex:
                soft.check(False, "%s: %s", k, ex)
    for k, total in (("completed", 3), ("error", 4), ("paused", 2), ("big", 1000)):
        for r in hooks.get(B[k], []):
            try:
                body = json.loads(r["stdin"])
                sts = [x["indexing_status"] for x in body["data"]]
                soft.eq(len(sts), total, "%s: documents in the hook's stdin" % k)
                soft.check(set(sts) <= {"completed", "error"}, "%s: the hook's stdin is not the final answer: %s",
                           k, sorted(set(sts)))
            except (ValueError, KeyError, TypeError) as ex:
                soft.check(False, "%s: hook stdin is not the batch's answer (%s): %r", k, ex, r["stdin"][:200])
    H.quiet(0.5, "no second result, hook or poll of an ended batch")
    soft.eq(len(C.results(d)), len(names), "result entries")
    soft.done()
    d.stop()


H.main(test, needs_journal=True)
