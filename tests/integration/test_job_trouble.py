#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Job trouble vs endpoint trouble (issue 10, "Conventions"; jobwatchd(8) "TROUBLE").

  mixed    two jobs on one endpoint: 'bad' gets a 500 with Dify's JSON body or a malformed
           200 on every poll for a while, then waiting -> completed; 'good' is answered
           normally (waiting ... completed) and polled many times meanwhile.  The fault is
           the bad job's own: one job-trouble entry for it (JOB_ID, JOB_ENDPOINT), one
           job-recovered entry when it answers properly again, and no endpoint trouble at
           all (before: a trouble/recovered pair nearly every poll).
  allbad   three jobs on another endpoint all get a 500 with Dify's JSON body for 3 s: a fault
           that hits every job is the endpoint's trouble, logged once and recovered once;
           at most two job-trouble entries (those before the third job showed it was not
           one job's), each recovered.
  mostly   four jobs get Dify's JSON 500 for 3 s, a fifth is answered properly all along: at
           most one endpoint trouble (jobs whose own trouble is logged do not count again),
           at most one job-trouble entry per job.
"""

import json
import time
import uuid

import harness as H
import jwcheck as C

JOB_TROUBLE = C.MID.get("JOB_TROUBLE")
JOB_RECOVERED = C.MID.get("JOB_RECOVERED")
BAD_POLLS = 12


def st(s):
    return {"job_status": s}


def test():
    H.check(JOB_TROUBLE and JOB_RECOVERED, "src/journal.h defines MESSAGE_ID_JOB_TROUBLE and _RECOVERED")
    sb = H.Sandbox()
    bad, good = str(uuid.uuid4()), str(uuid.uuid4())
    allbad = [str(uuid.uuid4()) for _ in range(3)]
    mostly = [str(uuid.uuid4()) for _ in range(4)]
    mostly_good = str(uuid.uuid4())
    faults = [{"fault": "500"}, {"fault": "malformed", "variant": "garbage"}]
    bad_responses = [st("waiting")] + [faults[i % 2] for i in range(BAD_POLLS)] + \
        [st("waiting"), st("completed")]
    scen = [{"job_id": bad, "responses": bad_responses},
            {"job_id": good, "lifecycle": [["waiting", 4.0], ["completed", None]]}]
    scen += [{"job_id": j, "lifecycle": [["waiting", 0.5], ["completed", None]]} for j in allbad + mostly]
    scen += [{"job_id": mostly_good, "lifecycle": [["waiting", 4.0], ["completed", None]]}]
    mock = sb.start_mock(jobs=scen)
    conf = sb.base_config(mock, initial="100ms", max_interval="250ms")
    key = conf["Endpoint"]["APIKeyFile"]
    conf["Endpoint:allbad"] = {"BaseURL": mock.url, "APIKeyFile": key}
    conf["Endpoint:mostly"] = {"BaseURL": mock.url, "APIKeyFile": key}
    sb.write_config(conf)
    mock.add_override({"fault": "500"}, match={"kind": "status", "job_ids": allbad + mostly}, duration=3)
    fbad = sb.write_job("bad", bad)
    fgood = sb.write_job("good", good)
    for i, j in enumerate(allbad):
        sb.write_job("allbad%d" % i, j, endpoint="allbad")
    for i, j in enumerate(mostly + [mostly_good]):
        sb.write_job("mostly%d" % i, j, endpoint="mostly")

    d = sb.start_daemon()
    everyone = [bad, good] + allbad + mostly + [mostly_good]
    C.wait_results(d, len(everyone), timeout=30)
    res = C.assert_one_result_each(d, everyone, settle=1.0)
    C.check_result(res[bad], job_id=bad, status="completed", job_file=fbad, polls=BAD_POLLS + 3)
    C.check_result(res[good], job_id=good, status="completed", job_file=fgood)
    n_good = len(mock.status_requests(good))
    H.check(n_good >= 8, "the good job was polled only %d times", n_good)

    def msgs(es):
        return [e["MESSAGE"] for e in es]

    # mixed: no endpoint trouble (count it: on the old daemon it flaps)
    tr = d.journal(MESSAGE_ID=C.TROUBLE, JOB_ENDPOINT="default")
    rc = d.journal(MESSAGE_ID=C.RECOVERED, JOB_ENDPOINT="default")
    H.note("endpoint 'default': %d trouble and %d recovered entries", len(tr), len(rc))
    H.check(len(tr) == 0 and len(rc) == 0,
            "one job's bad answers are endpoint trouble: %d trouble, %d recovered entries: %s",
            len(tr), len(rc), msgs(tr + rc)[:6])

    # ... but the bad job's own trouble, once, and its recovery, once
    jt = d.journal(MESSAGE_ID=JOB_TROUBLE, JOB_ID=bad)
    jr = d.journal(MESSAGE_ID=JOB_RECOVERED, JOB_ID=bad)
    H.eq(len(jt), 1, "job-trouble entries for the bad job (%s)" % msgs(jt))
    H.eq(len(jr), 1, "job-recovered entries for the bad job (%s)" % msgs(jr))
    H.eq(jt[0]["PRIORITY"], "4", "priority of the job-trouble entry")
    H.eq(jt[0].get("JOB_ENDPOINT"), "default", "JOB_ENDPOINT of the job-trouble entry")
    H.check(bad in jt[0]["MESSAGE"] and "500" in jt[0]["MESSAGE"],
            "the job-trouble entry names the job and the fault: %s", jt[0]["MESSAGE"])
    H.check(int(jt[0]["__MONOTONIC_TIMESTAMP"]) < int(jr[0]["__MONOTONIC_TIMESTAMP"])
            < int(res[bad]["__MONOTONIC_TIMESTAMP"]) + 1,
            "trouble, then recovery, then the result")
    # it is found with journalctl JOB_ID=
    story = [e.get("MESSAGE_ID") for e in d.journal(JOB_ID=bad)]
    H.check(JOB_TROUBLE in story and JOB_RECOVERED in story, "journalctl JOB_ID= tells the trouble")
    H.eq(d.journal(MESSAGE_ID=JOB_TROUBLE, JOB_ID=good), [], "job-trouble entries for the good job")

    # allbad: the endpoint's trouble, once
    tr = d.journal(MESSAGE_ID=C.TROUBLE, JOB_ENDPOINT="allbad")
    rc = d.journal(MESSAGE_ID=C.RECOVERED, JOB_ENDPOINT="allbad")
    H.check(len(tr) == 1 and len(rc) == 1,
            "a fault of every job: %d endpoint trouble, %d recovered entries, expected 1 and 1: %s",
            len(tr), len(rc), msgs(tr + rc))
    H.check("500" in tr[0]["MESSAGE"], "endpoint trouble names the fault: %s", tr[0]["MESSAGE"])
    jt = [e for j in allbad for e in d.journal(MESSAGE_ID=JOB_TROUBLE, JOB_ID=j)]
    jr = [e for j in allbad for e in d.journal(MESSAGE_ID=JOB_RECOVERED, JOB_ID=j)]
    H.check(len(jt) <= 2, "job-trouble entries on 'allbad': %d (%s)", len(jt), msgs(jt))
    H.eq(sorted(e["JOB_ID"] for e in jr), sorted(e["JOB_ID"] for e in jt),
         "every job-trouble entry on 'allbad' recovered")
    for j in allbad:
        H.eq(res[j]["JOB_STATUS"], "completed", "outcome of an 'allbad' job")

    # mostly: many bad jobs and one good one do not make the endpoint flap
    tr = d.journal(MESSAGE_ID=C.TROUBLE, JOB_ENDPOINT="mostly")
    rc = d.journal(MESSAGE_ID=C.RECOVERED, JOB_ENDPOINT="mostly")
    H.note("endpoint 'mostly': %d trouble and %d recovered entries", len(tr), len(rc))
    H.check(len(tr) <= 1 and len(rc) <= 1, "endpoint 'mostly' flaps: %d trouble, %d recovered: %s",
            len(tr), len(rc), msgs(tr + rc)[:6])
    for j in mostly:
        jt = d.journal(MESSAGE_ID=JOB_TROUBLE, JOB_ID=j)
        H.check(len(jt) <= 1, "job-trouble entries for %s: %s", j, msgs(jt))
        H.eq(res[j]["JOB_STATUS"], "completed", "outcome of a 'mostly' job")
    H.eq(d.journal(MESSAGE_ID=JOB_TROUBLE, JOB_ID=mostly_good), [], "job trouble of the good job on 'mostly'")
    d.stop()


H.main(test, needs_journal=True)
