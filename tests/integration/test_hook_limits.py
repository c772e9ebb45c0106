#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Hook limits: a hook past its Timeout gets SIGTERM (HOOK_SIGNAL=SIGTERM); one that ignores
SIGTERM is SIGKILLed 5 s later (HOOK_SIGNAL=SIGKILL); at most MaxParallel hooks run at once and
the rest queue (every hook still runs, once)."""

import os
import time
import uuid

import harness as H
import jwcheck as C

TIMEOUT = 2.0
MAX_PARALLEL = 2
KILL_DELAY = 5.0
N_PAR = 6
JOURNAL_LAG = 0.05


def max_overlap(intervals):
    ev = sorted([(a, 1) for a, b in intervals] + [(b, -1) for a, b in intervals], key=lambda x: (x[0], x[1]))
    n = best = 0
    for _, step in ev:
        n += step
        best = max(best, n)
    return best


def test():
    sb = H.Sandbox()
    term, kill = str(uuid.uuid4()), str(uuid.uuid4())
    par = [str(uuid.uuid4()) for _ in range(N_PAR)]
    done = [{"job_status": "completed"}]
    mock = sb.start_mock(jobs=[{"job_id": j, "responses": done} for j in [term, kill] + par])
    conf = sb.base_config(mock, hook=sb.recording_hook("par", sleep=0.3), initial="100ms", max_interval="300ms")
    conf["Hook"]["AllowJobHooks"] = "yes"   # job files here may set Hook=
    conf["Hook"].update({"Timeout": "%dms" % (TIMEOUT * 1000), "MaxParallel": MAX_PARALLEL})
    sb.write_config(conf)
    sb.write_job("term", term, hook=sb.recording_hook("term", sleep=30))
    sb.write_job("kill", kill, hook=sb.recording_hook("kill", sleep=30, ignore_term=True))
    for i, j in enumerate(par):
        sb.write_job("par%d" % i, j)
    d = sb.start_daemon()
    C.wait_results(d, 2 + N_PAR, timeout=10)
    exits = d.wait_for_journal(None, 2 + N_PAR, TIMEOUT + KILL_DELAY + C.t(15), MESSAGE_ID=C.HOOK_EXIT)
    H.quiet(0.3, "no further hook-exit entries")
    exits = C.by_job(d.journal(MESSAGE_ID=C.HOOK_EXIT))
    soft = C.Soft()
    for j in [term, kill] + par:
        soft.eq(len(exits.get(j, [])), 1, "hook-exit entries of %s" % j)
    e_term, e_kill = exits[term][0], exits[kill][0]

    def dur(e):
        return int(e.get("HOOK_DURATION_USEC", "0")) / 1e6

    # past its Timeout: SIGTERM
    soft.eq(e_term.get("HOOK_SIGNAL"), "SIGTERM", "HOOK_SIGNAL of a hook past its Timeout")
    soft.check("HOOK_EXIT_STATUS" not in e_term, "HOOK_EXIT_STATUS with HOOK_SIGNAL: %s", H.format_entry(e_term))
    soft.check(TIMEOUT - 0.01 <= dur(e_term) <= TIMEOUT + C.t(1.5),
               "the hook was stopped after %.3fs, Timeout=%.1fs", dur(e_term), TIMEOUT)
    [r_term] = sb.hook_records("term")
    soft.check(r_term["terminated"], "the hook did not see SIGTERM")
    # ignores SIGTERM: SIGKILL 5 s later
    soft.eq(e_kill.get("HOOK_SIGNAL"), "SIGKILL", "HOOK_SIGNAL of a hook that ignores SIGTERM")
    soft.check(TIMEOUT + KILL_DELAY - 0.01 <= dur(e_kill) <= TIMEOUT + KILL_DELAY + C.t(1.5),
               "the SIGTERM-proof hook was killed after %.3fs, expected Timeout + 5 s = %.1fs",
               dur(e_kill), TIMEOUT + KILL_DELAY)
    [r_kill] = sb.hook_records("kill")
    soft.check(not os.path.exists("/proc/%d" % r_kill["pid"]) or
               open("/proc/%d/stat" % r_kill["pid"]).read().split()[2] == "Z",
               "the SIGKILLed hook (pid %d) is still running", r_kill["pid"])
    for j in par:
        soft.eq(exits[j][0].get("HOOK_EXIT_STATUS"), "0", "HOOK_EXIT_STATUS of %s" % j)

    # MaxParallel: hook intervals as the daemon measured them (end: when journald got the exit
    # entry, which may lag the real end by a few ms: the next hook starts right then) ...
    iv = []
    for j in [term, kill] + par:
        e = exits[j][0]
        end = int(e["__MONOTONIC_TIMESTAMP"]) / 1e6
        iv.append((end - dur(e) + JOURNAL_LAG, end - JOURNAL_LAG))
    n = max_overlap(iv)
    soft.check(n <= MAX_PARALLEL, "%d hooks ran at once (journal), MaxParallel=%d", n, MAX_PARALLEL)
    soft.eq(n, MAX_PARALLEL, "most hooks at once (8 hooks, MaxParallel=%d: the limit is reached)" % MAX_PARALLEL)
    # ... and as the hooks saw them (the SIGKILLed one has no end of its own: until the last other one)
    recs = sb.hook_records("par") + [r_term]
    ivh = [(r["t"], r["t_end"]) for r in recs if r.get("t_end")]
    ivh.append((r_kill["t"], r_kill["t"] + TIMEOUT + KILL_DELAY - 0.05))
    soft.eq(len(ivh), 2 + N_PAR, "hook records")
    n = max_overlap(ivh)
    soft.check(n <= MAX_PARALLEL, "%d hooks ran at once (hook records), MaxParallel=%d", n, MAX_PARALLEL)
    soft.done()
    d.stop()


H.main(test, needs_journal=True)
