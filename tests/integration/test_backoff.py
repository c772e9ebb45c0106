#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Poll spacing: the first poll goes out at once; the k-th gap between poll starts is
min(InitialInterval * Multiplier^(k-1), MaxInterval) (0.2, 0.4, 0.8, 1.0, 1.0 ... here), never
shorter; with Jitter=0.2 each gap is within +-20 %, and really jittered; a poll that outlasts its
gap is followed by the next one as soon as it ends; a job never has two polls in flight; the
polls share a few keep-alive connections.  Two daemons run side by side (Jitter=0 and 0.2)."""

import uuid

import harness as H
import jwcheck as C

INITIAL, MULT, MAX = 0.2, 2.0, 1.0
# The mock stamps a poll when it has read it; under CI load (2 cores, ASan, tests in parallel)
# that stamp wanders by some 10-30 ms and now and then by 100+ ms.  Each gap is checked against
# hard bounds wide enough for that, and the typical gap against a tight one.
EARLY = C.t(0.05)             # never earlier than the gap, up to the stamp's noise
LATE = C.t(0.25)              # a single late poll (scheduling under load)
TYPICAL_LATE = C.t(0.03)      # median lateness of a Jitter=0 job
# A poll that opened a new connection arrives later after its start than one on a kept-alive
# connection (TCP connect, curl set-up: 10-60 ms under ASan), so the gap after it looks shorter.
NEW_CONN_LAG = C.t(0.06)
POLLS = 7                     # gaps 0.2 0.4 0.8 1.0 1.0 1.0


def spacing(reqs, jitter):
    """Each gap against the contract, given the previous poll's own duration.  Returns
    (problems, lateness of each gap against the un-jittered schedule)."""
    out, late = [], []
    for k in range(1, len(reqs)):
        prev, cur = reqs[k - 1], reqs[k]
        d = H.expected_gap(k, INITIAL, MULT, MAX)
        took = prev["t_end"] - prev["t"]
        gap = cur["t"] - prev["t"]
        lo = max(d * (1 - jitter), took) - EARLY - (NEW_CONN_LAG if prev["conn_req"] == 1 else 0)
        hi = max(d * (1 + jitter), took) + LATE
        late.append(gap - max(d, took))
        if not lo <= gap <= hi:
            out.append("gap %d: %.3fs not in [%.3f, %.3f] (schedule %.3fs%s, previous poll took %.3fs; "
                       "connection/request %d/%d then %d/%d)"
                       % (k, gap, lo, hi, d, " +-%d%%" % (jitter * 100) if jitter else "", took,
                          prev["conn"], prev["conn_req"], cur["conn"], cur["conn_req"]))
        if cur["t"] < prev["t_end"]:
            out.append("poll %d started %.3fs before poll %d ended: two polls in flight"
                       % (k + 1, prev["t_end"] - cur["t"], k))
    return out, late


def test():
    sb = H.Sandbox()
    plain = str(uuid.uuid4())
    slow = str(uuid.uuid4())
    jit = [str(uuid.uuid4()) for _ in range(3)]
    W = {"job_status": "waiting"}
    mock = sb.start_mock(jobs=[
        {"job_id": plain, "lifecycle": [["waiting", None]]},
        # the 1st poll takes 1 s (> 0.2 s gap), the 4th 1.3 s (> 1.0 s gap)
        {"job_id": slow, "responses": [dict(W, delay=1.0), W, W, dict(W, delay=1.3)], "then": "lifecycle",
         "lifecycle": [["waiting", None]]},
    ] + [{"job_id": j, "lifecycle": [["waiting", None]]} for j in jit])
    conf = dict(initial="%dms" % (INITIAL * 1000), max_interval="%dms" % (MAX * 1000), multiplier=MULT)
    sb.write_config(sb.base_config(mock, jitter=0, **conf))
    sb.write_job("plain", plain)
    sb.write_job("slow", slow)
    sb2 = H.Sandbox()
    sb2.write_config(sb2.base_config(mock, jitter=0.2, **conf))
    for i, j in enumerate(jit):
        sb2.write_job("jit%d" % i, j)

    d1 = sb.start_daemon()
    t_ready1 = d1.notify.messages[d1.wait_ready()]["t"]
    d2 = sb2.start_daemon()
    t_ready2 = d2.notify.messages[d2.wait_ready()]["t"]
    for j in [plain, slow] + jit:
        mock.wait_for_requests(POLLS, timeout=C.t(15), job_id=j)

    problems = []
    # the first poll goes out at once
    for j, t_ready in [(plain, t_ready1), (slow, t_ready1)] + [(j, t_ready2) for j in jit]:
        first = mock.status_requests(j)[0]["t"]
        if first > t_ready + C.t(0.25):
            problems.append("job %s: first poll %.3fs after READY=1" % (j, first - t_ready))
    for j, jitter in [(plain, 0), (slow, 0)] + [(j, 0.2) for j in jit]:
        reqs = mock.status_requests(j)[:POLLS]
        probs, late = spacing(reqs, jitter)
        problems += ["job %s: %s" % (j, p) for p in probs]
        med = sorted(late)[len(late) // 2]
        if not jitter and med > TYPICAL_LATE:
            problems.append("job %s: polls are typically %.3fs late (gaps %s)"
                            % (j, med, ["%.3f" % g for g in H.gaps([e["t"] for e in reqs])]))
    H.check(not problems, "poll spacing:\n  %s", "\n  ".join(problems))

    # the slow answers really were slow, so the rule was exercised
    reqs = mock.status_requests(slow)
    H.check(reqs[0]["t_end"] - reqs[0]["t"] >= 0.99 and reqs[3]["t_end"] - reqs[3]["t"] >= 1.29,
            "the mock's delays did not apply: %s", [round(e["t_end"] - e["t"], 3) for e in reqs[:5]])
    # Jitter=0.2 really jitters (a daemon ignoring Jitter= would give the exact schedule)
    devs = []
    for j in jit:
        ts = mock.poll_times(j)[:POLLS]
        devs += [abs(g / H.expected_gap(k, INITIAL, MULT, MAX) - 1) for k, g in enumerate(H.gaps(ts), 1)]
    H.check(max(devs) > 0.05, "with Jitter=0.2 every gap is within 5%% of the schedule: %s",
            ["%.3f" % x for x in devs])

    # keep-alive: many polls, few connections
    for name, ids, limit in (("Jitter=0 daemon", [plain, slow], 3), ("Jitter=0.2 daemon", jit, 4)):
        reqs = [e for j in ids for e in mock.status_requests(j)]
        conns = {e["conn"] for e in reqs}
        H.check(len(conns) <= limit, "%s: %d polls over %d connections (expected at most %d: keep-alive)",
                name, len(reqs), len(conns), limit)

    mock.set([plain, slow] + jit, status="completed")
    C.wait_results(d1, 2, timeout=10)
    C.wait_results(d2, 3, timeout=10)
    C.assert_one_result_each(d1, [plain, slow])
    C.assert_one_result_each(d2, jit, settle=0)
    d1.stop()
    d2.stop()


H.main(test, needs_journal=True)
