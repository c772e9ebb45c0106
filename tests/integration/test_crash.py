#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Crash safety (issue "Never lose a job" point 3; CONTRACT.md "Persistence", "Hook").

500 jobs end at random times (completed or error) over ~40 s; a fast hook appends one line
"JOB_ID" to a file (and lingers 0.2 s, so that kills find hooks running).  The daemon is killed with SIGKILL at random moments (0.5-3 s apart, at
least 20 times) and restarted on the same directories each time; 100 of the job files are
written while this goes on.  Afterwards:
  * every job has a result entry in the journal (over all daemon PIDs) with the right outcome,
    and a hook run;
  * sum(extra result entries) + sum(extra hook runs) <= number of kills (only a job caught
    mid-report may repeat);
  * the state file holds every job as finished, journaled and hooked.
Hooks outlive a SIGKILLed daemon here (no systemd cgroup); the next daemon waits for such an
orphan instead of running it again.
"""

import os
import random
import time
import uuid

import harness as H

N_JOBS = 500
N_LATE = 100            # job files written while the kills go on
END_MIN, END_MAX = 1.0, 40.0
MIN_KILLS = 20
RESULT_ID = "a39a5dfed5e2428daa11a29b4bba0de2"
HOOK_EXIT_ID = "1caff9731d274b33a83ebcc182c7cc51"

# Appends its line at once, then lingers a little, so that a kill usually finds hooks running.
HOOK = """#!/bin/sh
printf '%%s\\n' "$JOBWATCH_JOB_ID" >> %s
sleep 0.2
"""


def explain_extra_hooks(d, sb, per_hook):
    """Sort the extra hook runs by what the journal says happened before them."""
    by_job = {}
    for e in H.journal_entries(pids=d.pids, since=sb.t_wall - 2):
        if "JOB_ID" in e:
            by_job.setdefault(e["JOB_ID"], []).append(e)
    kinds = {}
    for jid, n in per_hook.items():
        if n < 2:
            continue
        ents = by_job.get(jid, [])
        exits = [int(e["_PID"]) for e in ents if e.get("MESSAGE_ID") == HOOK_EXIT_ID]
        waited = [int(e["_PID"]) for e in ents if "still running from before the restart" in e.get("MESSAGE", "")]
        if len(exits) > 1:
            k = "hook exit journaled, then run again (killed between the hook-exit entry and the done mark)"
        elif waited:
            k = "orphan waited for by a later daemon, which was killed before it saw the end; run again after"
        else:
            k = "started by a daemon that was killed; ended (or never recorded as started) before the next one looked; run again"
        kinds.setdefault(k, []).append(jid)
    H.note("extra hook runs by kind:")
    for k, v in kinds.items():
        H.note("  %3d  %s  (e.g. %s)", len(v), k, v[0])


def test():
    seed = int(os.environ.get("JOBWATCH_TEST_SEED") or time.time())
    rnd = random.Random(seed)
    H.note("seed %d (set JOBWATCH_TEST_SEED to repeat)", seed)
    sb = H.Sandbox(name="crash")
    lines = sb.path("hook-lines")
    open(lines, "w").close()
    hook = sb.write_hook("append", HOOK % lines)

    jobs = []
    for i in range(N_JOBS):
        end = rnd.uniform(END_MIN, END_MAX)
        final = "error" if rnd.random() < 0.2 else "completed"
        jobs.append({"job_id": str(uuid.uuid4()), "final": final, "end": end, "name": "job%03d" % i})
    mock = sb.start_mock(jobs=[{"job_id": j["job_id"], "error_msg": "failed %s" % j["name"] if j["final"] == "error" else "",
                                "lifecycle": [["waiting", j["end"]], [j["final"], None]]} for j in jobs])
    t_mock = time.monotonic()
    sb.write_config(sb.base_config(mock, hook=hook, initial="1s", max_interval="3s", multiplier=1.5,
                                   jitter=0.2, request_timeout="5s", max_concurrent=8,
                                   extra={"Hook": {"MaxParallel": 8, "Timeout": "30s"}}))
    early, late = jobs[:N_JOBS - N_LATE], jobs[N_JOBS - N_LATE:]
    for j in early:
        sb.write_job(j["name"], j["job_id"])
    late_at = sorted(rnd.uniform(0.5, 15.0) for _ in late)

    d = sb.start_daemon(timeout=60)
    t0 = time.monotonic()
    kills = 0
    next_kill = t0 + rnd.uniform(0.5, 3.0)
    li = 0
    while kills < MIN_KILLS or time.monotonic() - t_mock < END_MAX + 2:
        now = time.monotonic()
        while li < len(late) and now - t0 >= late_at[li]:
            sb.write_job(late[li]["name"], late[li]["job_id"])
            li += 1
        if now >= next_kill:
            if not d.is_running():
                d.kill9()
                raise H.Failure("jobwatchd (pid %d) died by itself (rc %s) before kill %d; stderr:\n%s"
                                % (d.pid, d.rc, kills + 1, d.stderr_tail()))
            d.kill9()
            H.eq(d.rc, -9, "exit status of a SIGKILLed jobwatchd")
            kills += 1
            d.start(timeout=60)
            next_kill = time.monotonic() + rnd.uniform(0.5, 3.0)
        time.sleep(0.02)     # the scenario's pace: files and kills spread over time
    for j in late[li:]:
        sb.write_job(j["name"], j["job_id"])
    H.note("%d kills in %.1fs; waiting for the rest", kills, time.monotonic() - t0)

    ids = {j["job_id"] for j in jobs}

    def all_done():
        ents = H.journal_entries(pids=d.pids, since=sb.t_wall - 2, MESSAGE_ID=RESULT_ID)
        with open(lines) as f:
            hooked = set(f.read().split())
        got = {e["JOB_ID"] for e in ents}
        return (ents, hooked) if ids <= got and ids <= hooked else None
    try:
        ents, _ = H.wait_until(all_done, 90, interval=1.0, what="every job's result and hook run")
    except H.Failure:
        ents = H.journal_entries(pids=d.pids, since=sb.t_wall - 2, MESSAGE_ID=RESULT_ID)
        with open(lines) as f:
            hooked = set(f.read().split())
        missing_r = ids - {e["JOB_ID"] for e in ents}
        missing_h = ids - hooked
        raise H.Failure("after %d kills: %d job(s) without a result entry (%s), %d without a hook run (%s)"
                        % (kills, len(missing_r), sorted(missing_r)[:5], len(missing_h), sorted(missing_h)[:5]))
    H.quiet(2.0, "no late duplicate results")
    d.stop(timeout=60)

    ents = H.journal_entries(pids=d.pids, since=sb.t_wall - 2, MESSAGE_ID=RESULT_ID)
    per_job = {}
    for e in ents:
        per_job.setdefault(e["JOB_ID"], []).append(e)
    with open(lines) as f:
        hook_lines = f.read().split()
    per_hook = {}
    for ln in hook_lines:
        per_hook[ln] = per_hook.get(ln, 0) + 1

    duplicates = sum(len(v) - 1 for v in per_job.values())
    extra_hooks = sum(n - 1 for n in per_hook.values())
    H.note("kills=%d duplicates=%d extra_hooks=%d (jobs=%d, result entries=%d, hook runs=%d)",
           kills, duplicates, extra_hooks, N_JOBS, len(ents), len(hook_lines))
    H.check(kills >= MIN_KILLS, "only %d kills", kills)
    H.eq(set(per_job) - ids, set(), "result entries for unknown jobs")
    H.eq(set(per_hook) - ids, set(), "hook runs for unknown jobs")
    wrong = [(j["name"], j["final"], sorted({e["JOB_STATUS"] for e in per_job[j["job_id"]]}))
             for j in jobs if {e["JOB_STATUS"] for e in per_job[j["job_id"]]} != {j["final"]}]
    H.eq(wrong, [], "jobs whose result entries disagree with the server's final status")
    if duplicates + extra_hooks > kills:
        explain_extra_hooks(d, sb, per_hook)
    H.check(duplicates + extra_hooks <= kills,
            "duplicate result entries (%d) + extra hook runs (%d) exceed the number of kills (%d): %s",
            duplicates, extra_hooks, kills,
            {k: (len(per_job.get(k, [])), per_hook.get(k, 0)) for k in ids
             if len(per_job.get(k, [])) > 1 or per_hook.get(k, 0) > 1})
    rows = sb.state_query("SELECT job_id, outcome, journaled, hook_state FROM jobs")
    H.eq(len(rows), N_JOBS, "rows in the state DB")
    bad = [r for r in rows if r["outcome"] is None or r["journaled"] != 1 or r["hook_state"] != 2]
    H.eq(bad[:5], [], "state rows not finished/journaled/hooked")


H.main(test, needs_journal=True)
