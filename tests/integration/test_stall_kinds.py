#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Stall warnings for document-indexing batches and workflow runs (issue 14; CONTRACT "Stalls").

  stuck     a batch whose document stays 'indexing' with its segments stuck at 7 of 10: one stall
            warning (JOB_KIND=document-indexing, JOB_REMOTE_STATUS=indexing, JOB_PROGRESS) whose
            MESSAGE says a document is stuck in indexing.
  moving    a batch whose document is 'indexing' for 5 s with its segments moving all along:
            no warning (its progress changes, though its status word does not), then completed.
  paused    a workflow run left 'paused': one warning that says someone paused it.
  StallAfter=2s for all.
"""

import uuid

import harness as H
import jwcheck as C

STALLED = C.MID.get("JOB_STALLED")
DKEY = "dataset-jobwatchtest000000000"         # "dataset-" + 21 characters


def test():
    H.check(STALLED, "src/journal.h defines MESSAGE_ID_JOB_STALLED")
    sb = H.Sandbox()
    ds = str(uuid.uuid4())
    stuck, moving = "20261202075447000001", "20261202075447000002"
    run = str(uuid.uuid4())
    mock = sb.start_mock(keys=[H.KEY, DKEY])
    mock.add_batches(
        {"dataset_id": ds, "batch": stuck,
         "documents": [{"lifecycle": [["indexing", None]], "total_segments": 10, "completed_segments": 7}]},
        {"dataset_id": ds, "batch": moving,
         "documents": [{"lifecycle": [["indexing", 5.0], ["completed", None]], "total_segments": 500}]})
    mock.add_runs({"run_id": run, "app": H.KEY, "lifecycle": [["paused", None]]})
    conf = sb.base_config(mock, initial="100ms", max_interval="300ms")
    conf["Poll"]["StallAfter"] = "2s"
    conf["Endpoint:kb"] = {"BaseURL": mock.url, "APIKeyFile": sb.write_key("dataset-key", DKEY)}
    sb.write_config(conf)
    for name, batch in (("stuck", stuck), ("moving", moving)):
        sb.write_job(name, text=H.ini_text({"Job": {"Kind": "document-indexing", "Dataset": ds,
                                                    "Batch": batch, "Endpoint": "kb"}}))
    sb.write_job("run", text=H.ini_text({"Job": {"Kind": "workflow-run", "JobID": run}}))

    d = sb.start_daemon()
    e = d.wait_for_journal(count=1, timeout=H.t(6), MESSAGE_ID=STALLED, JOB_ID=stuck)[0]
    H.note("stuck batch: %s", e["MESSAGE"])
    H.eq(e.get("JOB_KIND"), "document-indexing", "JOB_KIND")
    H.eq(e.get("JOB_REMOTE_STATUS"), "indexing", "JOB_REMOTE_STATUS")
    H.check("7/10 segments" in e.get("JOB_PROGRESS", ""), "JOB_PROGRESS: %r", e.get("JOB_PROGRESS"))
    H.check("stuck in indexing" in e["MESSAGE"] and "'dataset'" in e["MESSAGE"],
            "the warning names what to check: %s", e["MESSAGE"])

    e = d.wait_for_journal(count=1, timeout=H.t(6), MESSAGE_ID=STALLED, JOB_ID=run)[0]
    H.note("paused run: %s", e["MESSAGE"])
    H.eq(e.get("JOB_KIND"), "workflow-run", "JOB_KIND")
    H.eq(e.get("JOB_REMOTE_STATUS"), "paused", "JOB_REMOTE_STATUS")
    H.check("someone paused it" in e["MESSAGE"], "the warning says the run was paused: %s", e["MESSAGE"])

    # the moving batch: still 'indexing' for 5 s, never stalled, then completed
    res = C.wait_results(d, 1, job_id=moving, timeout=15)[0]
    H.eq(res["JOB_STATUS"], "completed", "outcome of the moving batch")
    H.eq(d.journal(MESSAGE_ID=STALLED, JOB_ID=moving), [],
         "stall warnings for a batch whose segments keep moving")
    H.quiet(1, "no second warning")
    for j in (stuck, run):
        H.eq(len(d.journal(MESSAGE_ID=STALLED, JOB_ID=j)), 1, "stall warnings for %s" % j)
    d.wait_status(r"\b2 stalled\b", timeout=5)
    d.stop()


H.main(test, needs_journal=True)
