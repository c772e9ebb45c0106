# SPDX-License-Identifier: MIT
"""jwcheck.py -- checks shared by the end-to-end integration tests (test_outcomes, test_faults,
test_hook, ...): the MESSAGE_IDs of src/journal.h, the contract's fields of a result entry, and
a time scale for slow runs (valgrind).  Built on harness.py; standard library only."""

import os
import re
import time

import harness as H

# Valgrind runs (JOBWATCH_TEST_SLOW=1) are 20-50x slower.  Waits and budgets grow by harness.py's
# one factor (JOBWATCH_TEST_TIME_SCALE, 4 under JOBWATCH_TEST_SLOW), never the lower bounds a test
# checks.  The harness's waits scale their timeouts themselves.
SLOW = os.environ.get("JOBWATCH_TEST_SLOW") not in (None, "", "0")
SCALE = H.TIME_SCALE
t = H.t


def _message_ids():
    ids = {}
    with open(os.path.join(H.REPO, "src", "journal.h")) as f:
        for m in re.finditer(r'#define\s+MESSAGE_ID_(\w+)\s+"([0-9a-f]{32})"', f.read()):
            ids[m.group(1)] = m.group(2)
    for need in ("JOB_RESULT", "HOOK_EXIT", "HOOK_OUTPUT", "ENDPOINT_TROUBLE", "ENDPOINT_RECOVERED",
                 "JOB_FILE_INVALID"):
        if need not in ids:
            raise H.Failure("src/journal.h defines no MESSAGE_ID_%s" % need)
    return ids


MID = _message_ids()
RESULT, HOOK_EXIT = MID["JOB_RESULT"], MID["HOOK_EXIT"]
TROUBLE, RECOVERED = MID["ENDPOINT_TROUBLE"], MID["ENDPOINT_RECOVERED"]
FILE_INVALID = MID["JOB_FILE_INVALID"]

# CONTRACT.md: outcome -> PRIORITY
PRIORITY = {"completed": 6, "error": 3, "expired": 4, "unknown": 4, "timeout": 4, "cancelled": 5}
# how MESSAGE may name the outcome
OUTCOME_WORDS = {"completed": r"complet", "error": r"error", "expired": r"expire",
                 "unknown": r"unknown", "timeout": r"time[sd]? ?out", "cancelled": r"cancel"}
TIMESPAN = r"\d+(\.\d+)?\s*(us|µs|ms|s|sec|min|h|d)\b"


def results(d, job_id=None):
    """Result entries of daemon d (every run): MESSAGE_ID = the job-result id."""
    m = {"MESSAGE_ID": RESULT}
    if job_id is not None:
        m["JOB_ID"] = job_id
    return d.journal(**m)


def wait_results(d, count, timeout=20, job_id=None):
    m = {"MESSAGE_ID": RESULT}
    if job_id is not None:
        m["JOB_ID"] = job_id
    return d.wait_for_journal(None, count, timeout, **m)


def by_job(entries):
    out = {}
    for e in entries:
        out.setdefault(e.get("JOB_ID"), []).append(e)
    return out


def assert_one_result_each(d, job_ids, settle=0.5):
    """Exactly one result entry per job of job_ids (after a short settle), none for others."""
    time.sleep(t(settle))            # the thing under test: no second entry comes meanwhile
    got = by_job(results(d))
    problems = []
    for j in job_ids:
        n = len(got.get(j, []))
        if n != 1:
            problems.append("job %s: %d result entries" % (j, n))
    extra = set(got) - set(job_ids)
    if extra:
        problems.append("result entries for jobs never written: %s" % sorted(extra))
    H.check(not problems, "one result entry per job: %s", "; ".join(problems))
    return {j: got[j][0] for j in job_ids}


def check_result(e, *, job_id, status, action="enable", endpoint="default", job_file, polls=None,
                 polls_range=None, error=None, description=None, min_duration=0.0, max_duration=None):
    """Every field CONTRACT.md lists for a result entry."""
    what = "result of %s" % job_id
    H.eq(e.get("MESSAGE_ID"), RESULT, what + ": MESSAGE_ID")
    H.eq(e.get("SYSLOG_IDENTIFIER"), "jobwatchd", what + ": SYSLOG_IDENTIFIER")
    H.eq(e.get("JOB_ID"), job_id, what + ": JOB_ID")
    H.eq(e.get("JOB_STATUS"), status, what + ": JOB_STATUS")
    H.eq(e.get("PRIORITY"), str(PRIORITY[status]), what + ": PRIORITY (%s)" % status)
    H.eq(e.get("JOB_ACTION"), action, what + ": JOB_ACTION")
    H.eq(e.get("JOB_ENDPOINT"), endpoint, what + ": JOB_ENDPOINT")
    H.eq(e.get("JOB_FILE"), job_file, what + ": JOB_FILE")
    if error:
        H.eq(e.get("JOB_ERROR"), error, what + ": JOB_ERROR")
    else:
        H.check("JOB_ERROR" not in e, "%s: JOB_ERROR present (%r) though there is no error message",
                what, e.get("JOB_ERROR"))
    # JOB_POLLS: a number, equal to what the mock saw
    H.check(re.fullmatch(r"\d+", e.get("JOB_POLLS", "")), "%s: JOB_POLLS=%r", what, e.get("JOB_POLLS"))
    n = int(e["JOB_POLLS"])
    if polls is not None:
        H.eq(n, polls, what + ": JOB_POLLS (status requests the mock saw)")
    if polls_range is not None:
        H.check(polls_range[0] <= n <= polls_range[1], "%s: JOB_POLLS=%d, the mock saw %s",
                what, n, polls_range)
    H.check(re.fullmatch(r"\d+", e.get("JOB_DURATION_USEC", "")), "%s: JOB_DURATION_USEC=%r",
            what, e.get("JOB_DURATION_USEC"))
    dur = int(e["JOB_DURATION_USEC"]) / 1e6
    H.check(dur >= min_duration - 0.01, "%s: JOB_DURATION_USEC %.3fs, expected at least %.3fs",
            what, dur, min_duration)
    if max_duration is not None:
        H.check(dur <= max_duration, "%s: JOB_DURATION_USEC %.3fs, expected at most %.3fs",
                what, dur, max_duration)
    check_message(e, job_id=job_id, status=status, action=action, endpoint=endpoint, polls=n,
                  description=description)
    return n, dur


def check_message(e, *, job_id, status, action, endpoint, polls, description=None):
    msg = e.get("MESSAGE", "")
    what = "MESSAGE of %s (%r)" % (job_id, msg)
    H.check(msg and "\n" not in msg, "%s: one line expected", what)
    H.check(msg.rstrip().endswith("."), "%s: one sentence, ending with a period", what)
    body = msg.rstrip()[:-1]
    if description:
        body = body.replace(description, "")
    H.check(not re.search(r"[.!?]\s+[A-Z]", body), "%s: more than one sentence", what)
    H.check(job_id in msg, "%s: does not name the job", what)
    H.check(re.search(r"\b%s\b" % action, msg), "%s: does not name the action %s", what, action)
    H.check(endpoint in msg, "%s: does not name the endpoint %s", what, endpoint)
    if description:
        H.check(description in msg, "%s: does not give the description %r", what, description)
    H.check(re.search(OUTCOME_WORDS[status], msg, re.I), "%s: does not say the outcome %s", what, status)
    H.check(re.search(r"\b%d\s+polls?\b" % polls, msg), "%s: does not give the number of polls %d",
            what, polls)
    H.check(re.search(TIMESPAN, msg), "%s: does not give the duration", what)


def overlapping_polls(reqs):
    """Jobs with a status request that arrived before the previous one of the same job was
    answered (two polls in flight).  reqs: the mock's log entries."""
    last, bad = {}, []
    for e in sorted(reqs, key=lambda e: e["t"]):
        k = (e["action"], e["job_id"])
        prev = last.get(k)
        if prev is not None and (prev["t_end"] is None or e["t"] < prev["t_end"]):
            bad.append("%s: request #%d arrived while #%d was still open" % (e["job_id"], e["seq"], prev["seq"]))
        last[k] = e
    return bad


def count(d, message_id, **m):
    return len(d.journal(MESSAGE_ID=message_id, **m))


class Soft:
    """Independent checks: collect the failures, report them all at the end (done())."""

    def __init__(self):
        self.failures = []

    def check(self, cond, what, *args):
        if not cond:
            msg = what % args if args else what
            H.note("CHECK FAILED: %s", msg)
            self.failures.append(msg)
        return cond

    def eq(self, got, want, what="value"):
        return self.check(got == want, "%s: expected %r, got %r", what, want, got)

    def done(self):
        if self.failures:
            raise H.Failure("%d check(s) failed:\n  - %s" % (len(self.failures), "\n  - ".join(self.failures)))
