#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""A burst of SIGHUPs (one every 10 ms) on a daemon watching many jobs: results keep arriving
during the burst, the reloads are coalesced (far fewer RELOADING=1 than signals), every job is
reported exactly once, the watchdog is fed only while results keep coming, and a SIGTERM in the
middle of a burst stops the daemon (exit 0) within a couple of seconds.

N is 5,000 jobs: under ASan on the 2-CPU test machine the start-up scan takes a few seconds
and the whole test well under a minute with the fix (JOBWATCH_BURST_JOBS overrides N)."""

import bisect
import collections
import os
import random
import signal
import threading
import time
import uuid

import harness as H
import jwcheck as C

N = int(os.environ.get("JOBWATCH_BURST_JOBS", "5000"))
BURST = 8.0               # seconds of SIGHUP every 10 ms
PERIOD = 0.010
WATCHDOG_USEC = 3_000_000


class Burst(threading.Thread):
    """Sends SIGHUP every PERIOD to pid for duration seconds; then SIGTERM if term."""

    def __init__(self, pid, duration, term=False):
        super().__init__(daemon=True)
        self.pid, self.duration, self.term = pid, duration, term
        self.sent = 0
        self.t_term = None

    def run(self):
        end = time.monotonic() + self.duration
        nxt = time.monotonic()
        while time.monotonic() < end:
            os.kill(self.pid, signal.SIGHUP)
            self.sent += 1
            nxt += PERIOD
            time.sleep(max(0.0, nxt - time.monotonic()))
        if self.term:
            # the last SIGHUP went out before this: no SIGHUP follows a SIGTERM, as with systemd
            self.t_term = time.monotonic()
            os.kill(self.pid, signal.SIGTERM)


def test():
    sb = H.Sandbox()
    rnd = random.Random(5000)
    ids = [str(uuid.uuid4()) for _ in range(N)]
    # every job ends some time during the burst (or just after it)
    jobs = [{"job_id": j, "lifecycle": [["waiting", round(rnd.uniform(1.0, BURST), 3)],
                                        ["completed", None]]} for j in ids]
    mock = sb.start_mock(jobs=[])
    sb.write_config(sb.base_config(mock, initial="500ms", max_interval="1s", multiplier=1.5,
                                   jitter=0.2, extra={"Daemon": {"MaxJobs": max(N, 10000)}}))
    for j in ids:
        sb.write_job(j, j)
    d = sb.start_daemon(timeout=C.t(120), watchdog_usec=WATCHDOG_USEC)
    mock.add_jobs(*jobs)           # the lifecycles start now
    t0 = time.monotonic()
    mark = d.notify.count()

    burst = Burst(d.pid, BURST)
    burst.start()
    samples = []                   # (time, results so far)
    while burst.is_alive():
        samples.append((time.monotonic(), len(d.journal(MESSAGE_ID=C.RESULT))))
        time.sleep(0.5)
    burst.join()
    t_end = time.monotonic()
    samples.append((t_end, len(d.journal(MESSAGE_ID=C.RESULT))))
    H.note("burst: %d SIGHUPs in %.1fs; results during it: %s", burst.sent, t_end - t0,
           [n for _, n in samples])
    H.check(d.is_running(), "jobwatchd died during the burst (rc %s)", d.proc.poll())

    # results keep arriving during the burst: a quarter of the jobs reported by its end,
    # and never 3 s without a new result once the first ones are due
    during = samples[-1][1]
    H.check(during >= N // 4, "only %d of %d results during an %.0fs SIGHUP burst", during, N, BURST)
    stall = [(round(a[0] - t0, 1), round(b[0] - t0, 1)) for a, b in zip(samples, samples[1:])
             if b[0] - t0 > 3.0 and a[1] < N and b[1] == a[1]]
    longest, run = 0.0, None
    for (ta, na), (tb, nb) in zip(samples, samples[1:]):
        if nb == na and na < N and ta - t0 > 1.5:
            run = run if run is not None else ta
            longest = max(longest, tb - run)
        else:
            run = None
    H.check(longest <= 3.0, "no new result for %.1fs during the burst (stalls: %s)", longest, stall)

    # every job exactly once
    deadline = time.monotonic() + C.t(60)
    while len(d.journal(MESSAGE_ID=C.RESULT)) < N and time.monotonic() < deadline:
        time.sleep(1.0)
    time.sleep(1.0)
    res = d.journal(MESSAGE_ID=C.RESULT)
    per = collections.Counter(e.get("JOB_ID") for e in res)
    H.eq({j: n for j, n in per.items() if n != 1}, {}, "jobs reported more than once")
    H.eq(len(set(per) & set(ids)), N, "jobs reported")
    H.eq(collections.Counter(e["JOB_STATUS"] for e in res), {"completed": N}, "outcomes")

    # coalesced: far fewer reloads than signals
    reloads = len(d.notify.values("RELOADING", mark))
    H.note("%d SIGHUPs gave %d reloads", burst.sent, reloads)
    H.check(reloads >= 1, "no reload at all after %d SIGHUPs", burst.sent)
    H.check(reloads * 5 <= burst.sent, "%d reloads for %d SIGHUPs: not coalesced", reloads, burst.sent)

    # the watchdog: fed during the burst, and only while results kept coming (every
    # WATCHDOG=1 of the burst had a result journaled within WATCHDOG_USEC before it)
    with d.notify.cond:
        pings = [m["t"] for m in d.notify.messages[mark:] if m["fields"].get("WATCHDOG") == "1"]
    H.check(any(t0 < p < t_end for p in pings), "no WATCHDOG=1 during the burst")
    wall0 = time.time() - time.monotonic()
    times = sorted(float(e["__REALTIME_TIMESTAMP"]) / 1e6 - wall0 for e in res)
    first = times[0] if times else t0
    # until every job was reported (or the burst ended), results were due all the time
    upto = min(t_end, times[N - 1]) if len(times) >= N else t_end
    fed_idle = [round(p - t0, 2) for p in pings
                if first + WATCHDOG_USEC / 1e6 < p < upto
                and (bisect.bisect_right(times, p) == 0
                     or p - times[bisect.bisect_right(times, p) - 1] > WATCHDOG_USEC / 1e6)]
    H.eq(fed_idle, [], "WATCHDOG=1 sent while no result had come for WATCHDOG_USEC")

    # SIGTERM in the middle of another burst: exit 0 within a couple of seconds
    burst = Burst(d.pid, 2.0, term=True)
    burst.start()
    burst.join()
    try:
        d.proc.wait(C.t(3))
    except Exception:
        raise H.Failure("jobwatchd still running %.1fs after SIGTERM during a SIGHUP burst"
                        % (time.monotonic() - burst.t_term))
    took = time.monotonic() - burst.t_term
    d._reaped()
    H.note("exit %s %.2fs after SIGTERM", d.rc, took)
    H.eq(d.rc, 0, "exit status after SIGTERM during a SIGHUP burst")
    H.check(took <= C.t(3), "exit took %.1fs after SIGTERM", took)


H.main(test, needs_journal=True)
