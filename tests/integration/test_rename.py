#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""A job is its identity (endpoint, action, JobID), not its file name (issue 10).

1. `mv a.job b.job` of a running job: no `cancelled`, no second acceptance; one result, under the
   new file, with JOB_POLLS and JOB_DURATION_USEC counting from the first acceptance; the hook gets
   the new path; `jobwatchctl wait` exits 0.  Renamed onto the file of another job: that other job
   is cancelled (its file names another job now), the renamed one goes on.
2. A finished job's file renamed, or copied under another name and the old one removed: never
   polled again, never reported again, no second hook.
3. Two files naming one job (the second refused as a duplicate), the first removed: the job goes
   on under the second file, no `cancelled`.
4. Renamed while the daemon is stopped: after the restart the same job (a running one goes on
   with its polls and age; a finished one is not polled, reported or hooked again), and the
   state file records the new name.
5. Still a removal: renamed to a dotfile, or out of the directory: cancelled (JOB_FILE = the old
   path), no hook.
6. A finished job renamed, then another job renamed over the new name, back to back: the
   finished one is not reported again, the other goes on under the name (run under ASan, this
   also checks that a job renamed and then dropped within one batch is freed once, and late).
7. Chains of 40 renames back to back (a running job and a finished one), faster than the daemon
   reads them: still the same job, one result, no cancel.
8. A stress of 300 random renames (see stress()), which split renames into a cancel and a new job
   before the daemon waited for a quiet directory to settle removals.
9. Copies of finished jobs' files, the originals removed, then the copies renamed, a few ms later
   (see settle_race()): the daemon refuses each copy, and when the directory is quiet re-reads
   them to adopt the jobs; a copy renamed meanwhile was gone, and its job was dropped, then
   accepted anew under the new name (a second result and hook; seen once in scenario 8).
"""

import collections
import os
import random
import shutil
import time
import uuid

import harness as H
import jwcheck as C

ACCEPTED = C.MID["JOB_ACCEPTED"]


def test():
    sb = H.Sandbox(name="rename")
    mock = sb.start_mock(jobs=[])
    hook = sb.recording_hook()
    sb.write_config(sb.base_config(mock, hook=hook, initial="100ms", max_interval="300ms"))
    d = sb.start_daemon()
    outside = sb.path("outside")
    os.makedirs(outside, exist_ok=True)

    running, onto, victim = (str(uuid.uuid4()) for _ in range(3))
    fin_mv, fin_cp, dup = (str(uuid.uuid4()) for _ in range(3))
    to_dot, to_out = (str(uuid.uuid4()) for _ in range(2))
    chain_x, chain_y = (str(uuid.uuid4()) for _ in range(2))
    fast_run, fast_fin = (str(uuid.uuid4()) for _ in range(2))
    for j in (running, onto, victim, dup, to_dot, to_out, chain_y, fast_run):
        mock.add_job(j, lifecycle=[["waiting", None]])
    for j in (fin_mv, fin_cp, chain_x, fast_fin):
        mock.add_job(j, lifecycle=[["completed", None]])

    t_first = time.monotonic()
    sb.write_job("running-a", running)
    sb.write_job("onto-a", onto)
    f_victim = sb.write_job("victim", victim)
    f_fin_mv = sb.write_job("fin-mv-a", fin_mv)
    f_fin_cp = sb.write_job("fin-cp-a", fin_cp)
    f_dup_a = sb.write_job("dup-a", dup)
    f_to_dot = sb.write_job("to-dot", to_dot)
    f_to_out = sb.write_job("to-out", to_out)
    f_chain_x = sb.write_job("chain-x", chain_x)
    f_chain_y = sb.write_job("chain-y", chain_y)
    sb.write_job("fast-run-0", fast_run)
    sb.write_job("fast-fin-0", fast_fin)
    for j in (running, onto, victim, dup, to_dot, to_out, chain_y, fast_run):
        mock.wait_for_requests(3, timeout=C.t(10), job_id=j)
    C.wait_results(d, 1, job_id=fin_mv, timeout=10)
    C.wait_results(d, 1, job_id=fin_cp, timeout=10)
    C.wait_results(d, 1, job_id=chain_x, timeout=10)
    C.wait_results(d, 1, job_id=fast_fin, timeout=10)
    sb.wait_for_hook_records(4, timeout=C.t(10))

    # a second file naming `dup`: refused as a duplicate
    f_dup_b = sb.write_job("dup-b", dup)
    H.wait_until(lambda: [e for e in d.journal(MESSAGE_ID=C.FILE_INVALID)
                          if f_dup_b in e.get("MESSAGE", "")], C.t(5), what="dup-b refused")

    time.sleep(1.0)     # so that a job restarted by the rename would show a shorter duration
    seen = max(x["seq"] for x in mock.requests(headers=False))
    # 1: renames of running jobs
    f_running_b = sb.job_path("running-b")
    os.rename(sb.job_path("running-a"), f_running_b)
    os.rename(sb.job_path("onto-a"), f_victim)                # onto the file of another job
    # 2: a finished job renamed; another copied, then the original removed
    f_fin_mv_b = sb.job_path("fin-mv-b")
    os.rename(f_fin_mv, f_fin_mv_b)
    f_fin_cp_b = sb.job_path("fin-cp-b")
    shutil.copyfile(f_fin_cp, f_fin_cp_b)
    time.sleep(0.3)     # the scenario: the copy exists beside the original for a while
    os.unlink(f_fin_cp)
    # 3: the first of two files naming one job removed
    os.unlink(f_dup_a)
    # 5: renames that are removals
    os.rename(f_to_dot, sb.job_path(".to-dot"))
    os.rename(f_to_out, os.path.join(outside, "to-out.job"))
    # a finished job renamed, then another job renamed over its new name, at once: the
    # first is forgotten (no file names it), the second goes on under the name
    f_chain_n = sb.job_path("chain-n")
    os.rename(f_chain_x, f_chain_n)
    os.rename(f_chain_y, f_chain_n)
    # 7: chains of renames faster than the daemon reads (a -> b -> c ...): the daemon reads a
    # middle name after it was renamed on; still the same job
    for j, stem in ((fast_run, "fast-run-"), (fast_fin, "fast-fin-")):
        for k in range(40):
            os.rename(sb.job_path(stem + str(k)), sb.job_path(stem + str(k + 1)))
    f_fast_run, f_fast_fin = sb.job_path("fast-run-40"), sb.job_path("fast-fin-40")

    C.wait_results(d, 1, job_id=victim, timeout=5)
    C.wait_results(d, 1, job_id=to_dot, timeout=5)
    C.wait_results(d, 1, job_id=to_out, timeout=5)
    # the renamed running jobs go on being polled
    for j in (running, onto, dup, chain_y, fast_run):
        mock.wait_for_requests(3, timeout=C.t(5), job_id=j, predicate=lambda x: x["seq"] > seen)
    H.quiet(1.5, "several poll intervals: a re-polled finished job would show")
    soft = C.Soft()             # every scenario checked, all failures reported
    for j in (fin_mv, fin_cp, chain_x, fast_fin):
        soft.eq([x["seq"] for x in mock.status_requests(j) if x["seq"] > seen], [],
                "status requests for finished job %s after its file was renamed" % j)

    t_set = time.monotonic()
    mock.set([running, onto, dup, chain_y, fast_run], status="completed")
    for j in (running, onto, dup, chain_y, fast_run):
        H.wait_until(lambda: [e for e in C.results(d, j) if e.get("JOB_STATUS") == "completed"],
                     C.t(10), what="a completed result of %s" % j)
    H.quiet(0.5, "no poll after the result")

    def polls(j):
        return len(mock.status_requests(j))
    got = C.by_job(C.results(d))
    soft.eq(sorted(got), sorted([running, onto, victim, fin_mv, fin_cp, dup, to_dot, to_out, chain_x,
                                 chain_y, fast_run, fast_fin]),
            "jobs with a result entry")
    for j, status, f, p in ((running, "completed", f_running_b, polls(running)),
                            (onto, "completed", f_victim, polls(onto)),
                            (dup, "completed", f_dup_b, polls(dup)),
                            (fin_mv, "completed", f_fin_mv, polls(fin_mv)),
                            (fin_cp, "completed", f_fin_cp, polls(fin_cp)),
                            (victim, "cancelled", f_victim, None),
                            (to_dot, "cancelled", f_to_dot, None),
                            (to_out, "cancelled", f_to_out, None),
                            (chain_x, "completed", f_chain_x, polls(chain_x)),
                            (chain_y, "completed", f_chain_n, polls(chain_y)),
                            (fast_run, "completed", f_fast_run, polls(fast_run)),
                            (fast_fin, "completed", sb.job_path("fast-fin-0"), polls(fast_fin))):
        es = got.get(j, [])
        if not soft.eq(["%s %s" % (e.get("JOB_STATUS"), e.get("JOB_FILE")) for e in es],
                       ["%s %s" % (status, f)], "result entries (JOB_STATUS JOB_FILE) of %s" % j):
            continue
        n = polls(j)
        try:
            C.check_result(es[0], job_id=j, status=status, job_file=f, polls=p,
                           polls_range=None if p is not None else (n, n + 1),
                           min_duration=t_set - t_first - 0.3 if j == running else 0.0)
        except H.Failure as ex:
            soft.check(False, "%s", ex)
    # accepted once each, not again under the new name
    for j in (running, onto, dup, fin_mv, fin_cp, chain_y, fast_run, fast_fin):
        soft.eq(len(d.journal(MESSAGE_ID=ACCEPTED, JOB_ID=j)), 1, "acceptance entries of %s" % j)

    # jobwatchctl wait: the one result, completed
    p = sb.run_ctl("wait", "--timeout", "10s", running)
    soft.eq(p.returncode, 0, "jobwatchctl wait exit status for the renamed job (stdout %r, stderr %r)"
            % (p.stdout, p.stderr))

    # hooks: once for each ended job, with the file it ended under
    want = sorted([fin_mv, fin_cp, running, onto, dup, chain_x, chain_y, fast_run, fast_fin])
    sb.wait_for_hook_records(len(want), timeout=C.t(10))
    H.quiet(0.5, "no hook runs twice")
    recs = sb.hook_records()
    soft.eq(sorted(r["env"]["JOBWATCH_JOB_ID"] for r in recs), want, "jobs whose hook ran")
    files = {r["env"]["JOBWATCH_JOB_ID"]: r["env"]["JOBWATCH_JOB_FILE"] for r in recs}
    soft.eq(files.get(running), f_running_b, "JOBWATCH_JOB_FILE of the renamed job")
    soft.eq(files.get(dup), f_dup_b, "JOBWATCH_JOB_FILE of the job carried on by its second file")
    n_hooks = len(recs)

    # 4: renamed while the daemon is stopped
    P, G = str(uuid.uuid4()), str(uuid.uuid4())
    mock.add_job(P, lifecycle=[["waiting", None]])
    mock.add_job(G, lifecycle=[["completed", None]])
    t_p = time.monotonic()
    sb.write_job("down-p-a", P)
    sb.write_job("down-g-a", G)
    mock.wait_for_requests(3, timeout=C.t(10), job_id=P)
    C.wait_results(d, 1, job_id=G, timeout=10)
    sb.wait_for_hook_records(n_hooks + 1, timeout=C.t(10))
    time.sleep(1.0)     # so that a job restarted by the restart would show a shorter duration
    d.stop()
    seen = max(x["seq"] for x in mock.requests(headers=False))
    f_p_b, f_g_b = sb.job_path("down-p-b"), sb.job_path("down-g-b")
    os.rename(sb.job_path("down-p-a"), f_p_b)
    os.rename(sb.job_path("down-g-a"), f_g_b)
    d.start()
    mock.wait_for_requests(2, timeout=C.t(10), job_id=P, predicate=lambda x: x["seq"] > seen)
    try:                # the new names stored (the check below names what differs)
        H.wait_until(lambda: all([r["file"] for r in sb.state_query("SELECT file FROM jobs WHERE job_id = ?", (j,))]
                                 == [name] for j, name in ((P, "down-p-b.job"), (G, "down-g-b.job"))),
                     5, what="the renamed files in the state DB")
    except H.Failure:
        pass
    for j, name in ((P, "down-p-b.job"), (G, "down-g-b.job")):
        soft.eq([r["file"] for r in sb.state_query("SELECT file FROM jobs WHERE job_id = ?", (j,))],
                [name], "the state file's name of %s" % j)
    t_set = time.monotonic()
    mock.set(P, status="completed")
    H.wait_until(lambda: [e for e in C.results(d, P) if e.get("JOB_STATUS") == "completed"],
                 C.t(10), what="a completed result of P")
    H.quiet(1.0, "G, finished before the restart, is not polled")
    soft.eq([x["seq"] for x in mock.status_requests(G) if x["seq"] > seen], [],
            "status requests for G after the restart")
    got = C.by_job(C.results(d))
    soft.eq([e.get("JOB_STATUS") for e in got.get(G, [])], ["completed"], "result entries of G")
    if soft.eq(["%s %s" % (e.get("JOB_STATUS"), e.get("JOB_FILE")) for e in got.get(P, [])],
               ["completed %s" % f_p_b], "result entries (JOB_STATUS JOB_FILE) of P"):
        try:
            C.check_result(got[P][0], job_id=P, status="completed", job_file=f_p_b, polls=polls(P),
                           min_duration=t_set - t_p - 0.3)
        except H.Failure as ex:
            soft.check(False, "%s", ex)
    sb.wait_for_hook_records(n_hooks + 2, timeout=C.t(10))
    H.quiet(0.5, "no hook runs twice")
    runs = sorted(r["env"]["JOBWATCH_JOB_ID"] for r in sb.hook_records())
    soft.eq(runs, sorted(want + [P, G]), "hook runs after the restart")

    stress(sb, mock, d, soft)
    settle_race(sb, mock, d, soft)
    d.stop()
    soft.done()


def stress(sb, mock, d, soft):
    """8: 300 random renames, renames over other jobs' files, and copy-then-remove, back to back
    over 40 jobs (half finished first): a job whose file is still there at the end has exactly
    one result, under its last name if it ended after; a job whose file was overwritten has
    exactly one (cancelled if it had not ended); no hook runs twice."""
    rnd = random.Random(8)
    ids = [str(uuid.uuid4()) for _ in range(40)]
    for i, j in enumerate(ids):
        mock.add_job(j, lifecycle=[["completed" if i % 2 else "waiting", None]])
    path = {j: sb.write_job("s%d" % i, j) for i, j in enumerate(ids)}
    for i, j in enumerate(ids):
        if i % 2:
            C.wait_results(d, 1, job_id=j, timeout=10)
        else:
            mock.wait_for_requests(1, timeout=C.t(10), job_id=j)
    for k in range(300):
        j = rnd.choice(ids)
        if path[j] is None:
            continue
        op = rnd.random()
        if op < 0.6:
            dst = sb.job_path("s-mv%d" % k)
            os.rename(path[j], dst)
        elif op < 0.8:
            o = rnd.choice(ids)
            if o == j or path[o] is None:
                continue
            dst = path[o]
            os.rename(path[j], dst)
            path[o] = None
        else:
            dst = sb.job_path("s-cp%d" % k)
            with open(path[j]) as f:
                H.write_file(dst, f.read())
            os.unlink(path[j])
        path[j] = dst
        if k % 25 == 0:
            time.sleep(0.02)        # the burst's pace
    time.sleep(C.t(1.5))            # the scenario: the jobs end after the renames, not among them
    live = [j for j in ids if path[j] is not None]
    mock.set(live, status="completed")
    for j in live:
        H.wait_until(lambda: C.results(d, j), C.t(10), what="a result of %s" % j)
    H.quiet(1.0, "no result twice")
    got = C.by_job(C.results(d))
    for i, j in enumerate(ids):
        es = ["%s %s" % (e.get("JOB_STATUS"), os.path.basename(e.get("JOB_FILE", ""))) for e in got.get(j, [])]
        if path[j] is not None and i % 2 == 0:
            soft.eq(es, ["completed %s" % os.path.basename(path[j])], "stress: results of running job %s" % j)
        else:
            soft.eq(len(es), 1, "stress: number of results of %s (%s)" % (j, es))
    runs = collections.Counter(r["env"]["JOBWATCH_JOB_ID"] for r in sb.hook_records())
    soft.eq({j: runs[j] for j in ids if runs[j] > 1}, {}, "stress: jobs whose hook ran more than once")



def settle_race(sb, mock, d, soft):
    """9: each round copies 12 finished jobs' files and removes the originals (the daemon refuses
    each copy as a duplicate, then sees its original go), waits a little, and renames the copies.
    The daemon settles when the directory is quiet, re-reading the refused copies one by one: the
    renames land among those reads in some rounds (the pause varies). Each job keeps its one
    result and its one hook run."""
    ids = [str(uuid.uuid4()) for _ in range(12)]
    for j in ids:
        mock.add_job(j, lifecycle=[["completed", None]])
    n_hooks = len(sb.hook_records())
    path = {j: sb.write_job("r%d" % i, j) for i, j in enumerate(ids)}
    for j in ids:
        C.wait_results(d, 1, job_id=j, timeout=10)
    sb.wait_for_hook_records(n_hooks + len(ids), timeout=C.t(10))
    for rnd, pause in enumerate((0, 0.0003, 0.0006, 0.001, 0.0015, 0.002, 0.003, 0.005)):
        copies = {}
        for i, j in enumerate(ids):
            copies[j] = sb.job_path("r-cp%d-%d" % (rnd, i))
            with open(path[j]) as f:
                H.write_file(copies[j], f.read(), atomic=False)
        time.sleep(0.03)            # every copy read and refused
        for j in ids:
            os.unlink(path[j])      # back to back: one batch, then one settle re-reads them all
        time.sleep(pause)
        for i, j in enumerate(ids):
            path[j] = sb.job_path("r-mv%d-%d" % (rnd, i))
            os.rename(copies[j], path[j])
        time.sleep(0.03)
    H.quiet(1.0, "a job dropped and accepted anew would be polled and reported again")
    got = C.by_job(C.results(d))
    for j in ids:
        es = ["%s %s" % (e.get("JOB_STATUS"), os.path.basename(e.get("JOB_FILE", ""))) for e in got.get(j, [])]
        soft.eq(len(es), 1, "settle race: number of results of %s (%s)" % (j, es))
    runs = collections.Counter(r["env"]["JOBWATCH_JOB_ID"] for r in sb.hook_records())
    soft.eq({j: runs[j] for j in ids if runs[j] > 1}, {}, "settle race: jobs whose hook ran more than once")


H.main(test, needs_journal=True)
