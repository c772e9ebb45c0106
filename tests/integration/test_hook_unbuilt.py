#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""A hook that cannot be run: its "hook ended" entry (HOOK_ERROR) names the job (JOB_ID and
JOB_FILE), like every other hook entry.  Realistic way to get there: a result journaled before a
stop whose hook was still waiting (MaxParallel=1, the other job's hook running), and [Hook] Exec=
removed before the next start, which then cannot build the hook it owes."""

import os
import uuid

import harness as H
import jwcheck as C


def test():
    sb = H.Sandbox()
    jobs = [str(uuid.uuid4()) for _ in range(2)]
    done = [{"job_status": "completed"}]
    mock = sb.start_mock(jobs=[{"job_id": j, "responses": done} for j in jobs])
    conf = sb.base_config(mock, hook=sb.recording_hook("slow", sleep=2), initial="100ms",
                          max_interval="300ms")
    conf["Hook"].update({"MaxParallel": 1, "Timeout": "60s"})
    sb.write_config(conf)
    for i, j in enumerate(jobs):
        sb.write_job("j%d" % i, j)
    d = sb.start_daemon()
    C.wait_results(d, 2, timeout=C.t(10))
    # one hook runs, the other waits for its slot; SIGTERM now leaves the waiting one due
    [rec] = sb.wait_for_hook_records(1, timeout=C.t(10), name="slow", finished=False)
    d.stop(timeout=C.t(30))
    ran = rec["env"]["JOBWATCH_JOB_ID"]
    [owed] = [j for j in jobs if j != ran]
    H.eq(len(C.by_job(d.journal(MESSAGE_ID=C.HOOK_EXIT)).get(owed, [])), 0,
         "hook entries of the job whose hook was still waiting at the stop")

    del conf["Hook"]["Exec"]
    sb.write_config(conf)
    d.restart()
    [e] = d.wait_for_journal(lambda e: "HOOK_ERROR" in e and e.get("_PID") == str(d.pid), 1,
                             C.t(10), MESSAGE_ID=C.HOOK_EXIT)
    H.log("hook entry: %s", H.format_entry(e))
    H.eq(e.get("JOB_ID"), owed, "JOB_ID of the hook entry of a hook that could not be run")
    H.eq(e.get("JOB_FILE"), os.path.join(os.path.realpath(sb.jobs_dir), "j%d.job" % jobs.index(owed)),
         "JOB_FILE of the hook entry of a hook that could not be run")
    # it is not owed any more: the next start does not try again
    d.restart()
    d.stop()
    n = [x for x in d.journal(MESSAGE_ID=C.HOOK_EXIT) if x.get("JOB_ID") == owed or not x.get("JOB_ID")]
    H.eq(len(n), 1, "hook entries for the job over three runs")


if __name__ == "__main__":
    H.main(test, needs_journal=True)
