#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""1,000 jobs, each with a 1-3 s lifecycle ending completed or error: every job reported
exactly once with the mock's outcome and JOB_POLLS, its hook run exactly once, all within a
reasonable time, never more than MaxConcurrentRequests (default 32) requests in flight."""

import collections
import os
import random
import time
import uuid

import harness as H
import jwcheck as C

N = 1000
BUDGET = C.t(90)          # typically ~15 s under ASan
HOOK = """#!/bin/sh
printf '%%s %%s\\n' "$JOBWATCH_JOB_ID" "$JOBWATCH_STATUS" >> %s
"""


def test():
    sb = H.Sandbox()
    rnd = random.Random(1000)
    ids = [str(uuid.uuid4()) for _ in range(N)]
    want = {}
    jobs = []
    for i, j in enumerate(ids):
        outcome = "error" if i % 4 == 0 else "completed"
        want[j] = outcome
        waiting = round(rnd.uniform(0.5, 1.5), 3) + round(rnd.uniform(0.5, 1.5), 3)
        jobs.append({"job_id": j, "lifecycle": [["waiting", waiting], [outcome, None]],
                     "error_msg": "failed %d" % i if outcome == "error" else ""})
    mock = sb.start_mock(jobs=[])
    out = sb.path("hook-out", "ran.txt")
    hook = sb.write_hook("append", HOOK % out)
    sb.write_config(sb.base_config(mock, hook=hook, initial="200ms", max_interval="1s", multiplier=1.5,
                                   jitter=0.2))
    for j in ids:
        sb.write_job(j, j)
    mock.add_jobs(*jobs)           # the lifecycles start now
    t0 = time.monotonic()
    d = sb.start_daemon(timeout=C.t(60))

    def results():
        return d.journal(MESSAGE_ID=C.RESULT)
    deadline = t0 + BUDGET
    while True:
        res = results()
        if len(res) >= N or time.monotonic() > deadline:
            break
        time.sleep(1.0)
    took = time.monotonic() - t0
    H.note("%d results after %.1fs", len(res), took)
    H.check(len(res) >= N, "only %d of %d results within %.0fs", len(res), N, BUDGET)
    H.quiet(1.0, "no result twice")
    res = results()
    per = collections.Counter(e.get("JOB_ID") for e in res)
    dup = {j: n for j, n in per.items() if n != 1}
    H.eq(dup, {}, "jobs reported more than once")
    H.eq(set(per), set(ids), "jobs reported")

    reqs = mock.requests(kind="status", headers=False)
    polls = collections.Counter(e["job_id"] for e in reqs)
    bad = []
    for e in res:
        j = e["JOB_ID"]
        if e["JOB_STATUS"] != want[j]:
            bad.append("%s: %s, expected %s" % (j, e["JOB_STATUS"], want[j]))
        elif want[j] == "error" and not e.get("JOB_ERROR", "").startswith("failed "):
            bad.append("%s: JOB_ERROR=%r" % (j, e.get("JOB_ERROR")))
        if e.get("JOB_POLLS") != str(polls[j]):
            bad.append("%s: JOB_POLLS=%s, the mock saw %d" % (j, e.get("JOB_POLLS"), polls[j]))
    H.check(not bad, "%d wrong results, e.g.:\n  %s", len(bad), "\n  ".join(bad[:20]))
    H.eq(C.overlapping_polls(reqs)[:10], [], "two polls of one job in flight")

    # hooks: exactly once per job
    exits = None
    deadline = time.monotonic() + C.t(30)
    while time.monotonic() < deadline:
        exits = d.journal(MESSAGE_ID=C.HOOK_EXIT)
        if len(exits) >= N:
            break
        time.sleep(1.0)
    H.quiet(0.5, "no hook run twice")
    exits = d.journal(MESSAGE_ID=C.HOOK_EXIT)
    per = collections.Counter(e.get("JOB_ID") for e in exits)
    H.eq({j: n for j, n in per.items() if n != 1}, {}, "jobs whose hook-exit entry is not unique")
    H.eq(set(per), set(ids), "jobs with a hook-exit entry")
    H.eq(sorted({e.get("HOOK_EXIT_STATUS") for e in exits}), ["0"], "hook exit statuses")
    with open(out) as f:
        ran = collections.Counter(tuple(ln.split()) for ln in f.read().splitlines())
    H.eq(len(ran), N, "distinct hook runs recorded")
    H.eq({k: n for k, n in ran.items() if n != 1}, {}, "hooks run more than once")
    H.eq({j: s for j, s in ran}, want, "JOBWATCH_STATUS given to the hooks")

    st = mock.stats()
    H.check(st["max_in_flight"].get(H.KEY, 0) <= 32, "%d requests in flight, MaxConcurrentRequests=32",
            st["max_in_flight"].get(H.KEY, 0))
    H.note("%d status requests, %d connections, at most %d in flight", len(reqs), st["connections_total"],
           st["max_in_flight"].get(H.KEY, 0))
    f = open("/proc/%d/stat" % d.pid).read().split(")")[1].split()
    H.note("jobwatchd CPU time: %.1fs user, %.1fs system", int(f[11]) / os.sysconf("SC_CLK_TCK"),
           int(f[12]) / os.sysconf("SC_CLK_TCK"))
    d.stop()


H.main(test, needs_journal=True)
