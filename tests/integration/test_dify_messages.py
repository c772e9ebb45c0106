#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""What Dify's own words say, passed on (issue 14, "Classification fixes"; jobwatchd(8) "TROUBLE").

  wrong action  a job started as 'enable' watched with Action=disable: Dify answers "The job
                does not exist." exactly as for an unknown job, so the unknown outcome's
                MESSAGE names that case (before: "wrong job id, app or endpoint?" only).
  403s          endpoints whose key belongs to an app that no longer exists, an app whose API
                service is disabled, an app in an archived workspace: Dify answers 403 with a
                message saying so. Each is endpoint trouble whose entry quotes Dify's message
                (before: "the API key is refused", which sends the operator to the key).
  401           a tenant that is not active: 401, and the entry quotes Dify's message too.
  dataset 403   a document-indexing batch of a dataset whose API access is not enabled: 403
                "Dataset api access is not enabled.", quoted.
"""

import uuid

import harness as H
import jwcheck as C

STATES = {  # endpoint: (key, app state, Dify's message)
    "gone": ("app-jobwatchtest0000000000g1", "app_gone", "The app no longer exists."),
    "disabled": ("app-jobwatchtest0000000000d1", "api_disabled", "The app's API service has been disabled."),
    "archived": ("app-jobwatchtest0000000000a1", "workspace_archived", "The workspace's status is archived."),
    "tenant": ("app-jobwatchtest0000000000t1", "tenant_inactive",
               "Tenant owner account not found or tenant is not active."),
}


DKEY = "dataset-jobwatchtest000000000"         # "dataset-" + 21 characters
DATASET_MSG = "Dataset api access is not enabled."


def test():
    sb = H.Sandbox()
    ds, batch = str(uuid.uuid4()), "20261202075447000003"
    wrong = str(uuid.uuid4())
    others = {name: str(uuid.uuid4()) for name in STATES}
    keys = [H.KEY, DKEY] + [k for k, _, _ in STATES.values()]
    jobs = [{"job_id": wrong, "action": "enable", "lifecycle": [["waiting", None]]}]
    jobs += [{"job_id": j, "lifecycle": [["waiting", None]]} for j in others.values()]
    mock = sb.start_mock(keys=keys, jobs=jobs)
    mock.config(apps={k: {"state": st} for k, st, _ in STATES.values()})
    mock.add_batches({"dataset_id": ds, "batch": batch, "count": 1},
                     datasets=[{"id": ds, "api_enabled": False}])
    conf = sb.base_config(mock, job_timeout="30s")
    for name, (key, _, _) in STATES.items():
        conf["Endpoint:" + name] = {"BaseURL": mock.url, "APIKeyFile": sb.write_key("key-" + name, key)}
    conf["Endpoint:kb"] = {"BaseURL": mock.url, "APIKeyFile": sb.write_key("key-kb", DKEY)}
    sb.write_config(conf)
    sb.write_job("batch", text=H.ini_text({"Job": {"Kind": "document-indexing", "Dataset": ds,
                                                   "Batch": batch, "Endpoint": "kb"}}))
    sb.write_job("wrong", wrong, action="disable")
    for name, j in others.items():
        sb.write_job(name, j, endpoint=name)

    d = sb.start_daemon()
    res = C.wait_results(d, 1, job_id=wrong, timeout=15)[0]
    H.eq(res["JOB_STATUS"], "unknown", "outcome of a disable watch on an enable job")
    C.check_message(res, job_id=wrong, status="unknown", action="disable", endpoint="default",
                    polls=int(res["JOB_POLLS"]))
    H.check("polling disable for an enable job looks exactly like an unknown job" in res["MESSAGE"]
            and "action" in res["MESSAGE"],
            "the unknown outcome names the wrong-action case: %s", res["MESSAGE"])

    for name, (_, state, message) in STATES.items():
        tr = d.wait_for_journal(count=1, timeout=10, MESSAGE_ID=C.TROUBLE, JOB_ENDPOINT=name)[0]
        H.note("%s: %s", name, tr["MESSAGE"])
        H.check("'%s'" % message in tr["MESSAGE"], "endpoint %s's trouble quotes Dify's message %r: %s",
                name, message, tr["MESSAGE"])
        if state != "tenant_inactive":
            H.check("403" in tr["MESSAGE"] and "API key is refused" not in tr["MESSAGE"],
                    "a 403 naming the app or workspace is not blamed on the key: %s", tr["MESSAGE"])
    tr = d.wait_for_journal(count=1, timeout=10, MESSAGE_ID=C.TROUBLE, JOB_ENDPOINT="kb")[0]
    H.note("kb: %s", tr["MESSAGE"])
    H.check("'%s'" % DATASET_MSG in tr["MESSAGE"] and "API key is refused" not in tr["MESSAGE"],
            "the dataset's 403 quotes Dify's message: %s", tr["MESSAGE"])
    d.stop()


H.main(test, needs_journal=True)
