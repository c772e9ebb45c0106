#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Hot add and remove (inotify): a daemon started with no jobs (READY=1) polls a job file added
by rename at once; a file written in place in chunks is reported at most once per change and
accepted when complete; removing a pending job's file cancels it (PRIORITY 5, no hook); a file
changed to name another job cancels the old one and watches the new one; changing only the
Description= is no cancel."""

import os
import re
import time
import uuid

import harness as H
import jwcheck as C


def append(path, text, truncate=False):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if truncate else os.O_APPEND), 0o644)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def test():
    sb = H.Sandbox()
    mock = sb.start_mock(jobs=[])
    hook = sb.recording_hook()
    sb.write_config(sb.base_config(mock, hook=hook, initial="100ms", max_interval="300ms"))
    d = sb.start_daemon()
    H.check(not os.listdir(sb.jobs_dir), "jobs dir not empty")
    d.wait_status(r"Watching 0 jobs|\b0 jobs\b", timeout=C.t(5))

    # 1: added by rename: polled at once, completes
    added = str(uuid.uuid4())
    mock.add_job(added, lifecycle=[["waiting", 0.4], ["completed", None]])
    t0 = time.monotonic()
    f_added = sb.write_job("added", added, atomic=True)
    first = mock.wait_for_requests(1, timeout=C.t(5), job_id=added)[0]["t"]
    H.check(first - t0 <= C.t(0.5), "first poll of an added job %.3fs after the rename", first - t0)

    # 2: written in place in three chunks, closed after each: two half-written states, then complete
    chunked = str(uuid.uuid4())
    mock.add_job(chunked, lifecycle=[["waiting", 0.3], ["completed", None]])
    f_chunked = sb.job_path("chunked")
    append(f_chunked, "[Job]\nJobID=%s\n" % chunked, truncate=True)
    H.quiet(0.4, "a half-written job file is not taken")
    append(f_chunked, "Action=ena")
    H.quiet(0.4, "a half-written job file is not taken")
    H.check(d.is_running(), "jobwatchd died on a half-written job file")
    H.eq(mock.status_requests(chunked), [], "requests for a half-written job")
    append(f_chunked, "ble\nDescription=written in chunks\n")

    # 3: removed while pending: cancelled
    removed = str(uuid.uuid4())
    mock.add_job(removed, lifecycle=[["waiting", None]])
    f_removed = sb.write_job("removed", removed)
    # 4: changed to name another job: the old one cancelled, the new one watched
    old, new = str(uuid.uuid4()), str(uuid.uuid4())
    mock.add_job(old, lifecycle=[["waiting", None]])
    f_swap = sb.write_job("swap", old)
    # 5: only the description changes: the same job
    same = str(uuid.uuid4())
    mock.add_job(same, lifecycle=[["waiting", None]])
    f_same = sb.write_job("same", same, description="before")

    for j in (removed, old, same):
        mock.wait_for_requests(2, timeout=C.t(5), job_id=j)
    sb.remove_job("removed")
    mock.add_job(new, lifecycle=[["waiting", 0.3], ["completed", None]])
    sb.write_job("swap", new)
    sb.write_job("same", same, description="after")
    C.wait_results(d, 1, job_id=removed, timeout=5)
    C.wait_results(d, 1, job_id=old, timeout=5)
    n_same = len(mock.status_requests(same))
    mock.wait_for_requests(n_same + 2, timeout=C.t(5), job_id=same)      # still polled
    mock.set(same, status="completed")

    all_ids = [added, chunked, removed, old, new, same]
    C.wait_results(d, len(all_ids), timeout=15)
    res = C.assert_one_result_each(d, all_ids)

    def polls(j):
        return len(mock.status_requests(j))
    C.check_result(res[added], job_id=added, status="completed", job_file=f_added, polls=polls(added))
    C.check_result(res[chunked], job_id=chunked, status="completed", job_file=f_chunked, polls=polls(chunked),
                   description="written in chunks")
    for j, f in ((removed, f_removed), (old, f_swap)):
        n = polls(j)
        C.check_result(res[j], job_id=j, status="cancelled", job_file=f, polls_range=(n, n + 1))
    C.check_result(res[new], job_id=new, status="completed", job_file=f_swap, polls=polls(new))
    C.check_result(res[same], job_id=same, status="completed", job_file=f_same, polls=polls(same),
                   description="after")

    # the half-written file: reported at most once per change (two bad states)
    bad = [e for e in d.journal() if re.match(re.escape(f_chunked) + r":\d+: ", e.get("MESSAGE", ""))]
    H.check(len(bad) <= 2, "a half-written file reported (FILE:LINE: message) %d times for 2 changes: %s",
            len(bad), [e["MESSAGE"] for e in bad])
    H.note("half-written file reported %d time(s): %s", len(bad), [e["MESSAGE"] for e in bad])
    other = [e for e in d.journal(MESSAGE_ID=C.FILE_INVALID) if f_chunked not in e.get("MESSAGE", "")]
    H.eq([e["MESSAGE"] for e in other], [], "job-file problems for other files")

    # hooks: once for each ended job, never for a cancelled one
    want = sorted([added, chunked, new, same])
    sb.wait_for_hook_records(len(want), timeout=C.t(10))
    H.quiet(0.3, "no hook runs twice")
    recs = sb.hook_records()
    H.eq(sorted(r["env"]["JOBWATCH_JOB_ID"] for r in recs), want, "jobs whose hook ran")
    hx = C.by_job(d.journal(MESSAGE_ID=C.HOOK_EXIT))
    H.check(removed not in hx and old not in hx, "hook-exit entries for cancelled jobs")
    r_same = next(r for r in recs if r["env"]["JOBWATCH_JOB_ID"] == same)
    H.eq(r_same["env"]["JOBWATCH_DESCRIPTION"], "after", "JOBWATCH_DESCRIPTION after a change")
    d.stop()


H.main(test, needs_journal=True)
