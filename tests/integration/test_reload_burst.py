#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""A burst of SIGHUPs (one every 10 ms) on a daemon watching many jobs: results keep arriving
during the burst, the reloads are coalesced (far fewer RELOADING=1 than signals), every job is
reported exactly once, the watchdog is fed only while results keep coming, and a SIGTERM in the
middle of a burst stops the daemon (exit 0) within a couple of seconds.

N is 5,000 jobs, as in the issue: under ASan on the 2-CPU test machine the whole test takes
20-30 s with the fix. A reload's rescan of 5,000 files then spans many loop turns, and that is
what makes "far fewer reloads than signals" (at most one in 4; 12 to 35 in 800 here) a fair
check: with a few hundred jobs a reload ends within 10 ms and nearly every SIGHUP may get its
own, which is still one reload at a time but not what this test measures (JOBWATCH_BURST_JOBS
overrides N). Also, SIGHUPs that keep coming after the SIGTERM must not kill the stopping
daemon."""

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
    """Sends SIGHUP every PERIOD to pid for duration seconds; with term, SIGTERM after
    term seconds, among the SIGHUPs. The daemon is a child not reaped meanwhile, so its
    PID cannot be reused while the burst goes on."""

    def __init__(self, pid, duration, term=None):
        super().__init__(daemon=True)
        self.pid, self.duration, self.term = pid, duration, term
        self.sent = 0
        self.t_term = None

    def run(self):
        start = time.monotonic()
        end = start + self.duration
        nxt = start
        while time.monotonic() < end:
            os.kill(self.pid, signal.SIGHUP)
            self.sent += 1
            if self.term is not None and self.t_term is None and time.monotonic() - start >= self.term:
                self.t_term = time.monotonic()
                os.kill(self.pid, signal.SIGTERM)
            nxt += PERIOD
            time.sleep(max(0.0, nxt - time.monotonic()))


def zombie(pid):
    """The process has exited (and is not reaped yet)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


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
    H.check(longest <= H.t(3.0), "no new result for %.1fs during the burst (stalls: %s)", longest, stall)

    # every job exactly once
    deadline = time.monotonic() + C.t(60)
    while len(d.journal(MESSAGE_ID=C.RESULT)) < N and time.monotonic() < deadline:
        time.sleep(1.0)
    H.quiet(1.0, "no result twice")
    res = d.journal(MESSAGE_ID=C.RESULT)
    per = collections.Counter(e.get("JOB_ID") for e in res)
    H.eq({j: n for j, n in per.items() if n != 1}, {}, "jobs reported more than once")
    H.eq(len(set(per) & set(ids)), N, "jobs reported")
    H.eq(collections.Counter(e["JOB_STATUS"] for e in res), {"completed": N}, "outcomes")

    # coalesced: far fewer reloads than signals
    reloads = len(d.notify.values("RELOADING", mark))
    H.note("%d SIGHUPs gave %d reloads", burst.sent, reloads)
    H.check(reloads >= 1, "no reload at all after %d SIGHUPs", burst.sent)
    H.check(reloads * 4 <= burst.sent, "%d reloads for %d SIGHUPs: not coalesced", reloads, burst.sent)
    # one at a time: RELOADING=1 and READY=1 alternate
    with d.notify.cond:
        seq = [k for m in d.notify.messages[mark:] for k in ("RELOADING", "READY") if k in m["fields"]]
    H.check(all(a != b for a, b in zip(seq, seq[1:])) and seq[:1] == ["RELOADING"],
            "RELOADING=1 and READY=1 do not alternate: %s", seq[:40])

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

    # SIGTERM in the middle of another burst, which goes on for 3 s after it: exit 0
    # (not death by a SIGHUP that comes after the signal handlers are gone) within a
    # couple of seconds
    burst = Burst(d.pid, 2.0 + C.t(3), term=2.0)
    burst.start()
    H.wait_until(lambda: burst.t_term, timeout=10, interval=0.01, what="the SIGTERM to be sent")
    deadline = burst.t_term + C.t(3)
    while not zombie(d.pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    took = time.monotonic() - burst.t_term
    burst.join()
    if not zombie(d.pid):
        raise H.Failure("jobwatchd still running %.1fs after SIGTERM during a SIGHUP burst" % took)
    d.proc.wait(5)
    d._reaped()
    H.note("exit %s %.2fs after SIGTERM", d.rc, took)
    H.eq(d.rc, 0, "exit status after SIGTERM during a SIGHUP burst")
    H.check(took <= C.t(3), "exit took %.1fs after SIGTERM", took)


H.main(test, needs_journal=True)
