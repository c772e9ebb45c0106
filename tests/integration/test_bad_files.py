#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Bad job files are skipped with `PATH:LINE: message` in the journal (once per change) while
the good jobs finish: invalid UUID, missing Action=, unknown endpoint, bad Timeout=; an unknown
key is a warning and the file is still accepted; a non-.job file and a dotfile are ignored
silently.  `jobwatchd --check` prints each problem as FILE:LINE: message and exits 1, and exits 0
on a clean configuration."""

import os
import re
import subprocess
import time
import uuid

import harness as H
import jwcheck as C


def run_check(sb):
    argv = H.shlex.split(os.environ.get("JOBWATCHD_WRAPPER", "")) + [
        H.find_jobwatchd(), "--check", "--config", sb.conf, "--jobs-dir", sb.jobs_dir, "--state-dir", sb.state_dir]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=C.t(30), env=H._clean_env())
    return p.returncode, p.stdout + p.stderr


def test():
    sb = H.Sandbox()
    U = {k: str(uuid.uuid4()) for k in ("good1", "good2", "unknown_key", "bad_endpoint", "bad_timeout",
                                         "no_action", "hidden", "notes")}
    quick = [["waiting", 0.3], ["completed", None]]
    mock = sb.start_mock(jobs=[{"job_id": U[k], "lifecycle": quick} for k in U])
    sb.write_config(sb.base_config(mock, initial="100ms", max_interval="300ms"))

    sb.write_job("good1", U["good1"])
    sb.write_job("good2", U["good2"], action="disable")
    texts = {   # name: (text, line of the problem, a word the message must contain, warning?)
        "bad-uuid": ("[Job]\nJobID=not-a-uuid\nAction=enable\n", 2, "JobID", False),
        "no-action": ("# no action\n\n[Job]\nJobID=%s\n" % U["no_action"], 3, "Action", False),
        "bad-endpoint": ("[Job]\nJobID=%s\nAction=enable\n# which app\nEndpoint=nosuch\n" % U["bad_endpoint"],
                         5, "nosuch", False),
        "bad-timeout": ("[Job]\nJobID=%s\nAction=enable\nTimeout=soon\n" % U["bad_timeout"], 4, "Timeout", False),
        "unknown-key": ("[Job]\nJobID=%s\nAction=enable\nColour=blue\n" % U["unknown_key"], 4, "Colour", True),
    }
    paths = {n: sb.write_job(n, text=t) for n, (t, _, _, _) in texts.items()}
    # ignored silently: not *.job, and a dotfile
    H.write_file(os.path.join(sb.jobs_dir, "notes.txt"), "[Job]\nJobID=%s\nAction=enable\n" % U["notes"])
    H.write_file(os.path.join(sb.jobs_dir, "README"), "this directory holds job files\n")
    H.write_file(os.path.join(sb.jobs_dir, ".hidden.job"), "[Job]\nJobID=%s\nAction=enable\n" % U["hidden"])

    # --check first: starts nothing
    rc, out = run_check(sb)
    H.note("jobwatchd --check:\n%s", out)
    H.eq(rc, 1, "exit status of --check with bad job files")
    lines = out.splitlines()
    for n, (_, line, word, warning) in texts.items():
        prefix = "%s:%d: " % (paths[n], line)
        hits = [ln for ln in lines if prefix in ln]
        H.check(len(hits) == 1 and word in hits[0], "--check: expected one line with %r and %r, got %s",
                prefix, word, hits)
        if not warning:
            H.check(hits[0].startswith(prefix), "--check: %r is not FILE:LINE: message", hits[0])
    # the warning's line format is checked last (below)
    for name in ("notes.txt", "README", ".hidden"):
        H.check(name not in out, "--check mentions %s, which is not a job file", name)
    H.eq(mock.stats()["requests"], 0, "requests made by --check")

    d = sb.start_daemon()
    good = [U["good1"], U["good2"], U["unknown_key"]]
    C.wait_results(d, len(good), timeout=15)

    def mentions(fragment):
        return [e for e in d.journal() if fragment in e.get("MESSAGE", "")]

    def check_reported(n, times):
        _, line, word, warning = texts[n]
        prefix = "%s:%d: " % (paths[n], line)
        hits = [e for e in d.journal() if e.get("MESSAGE", "").startswith(prefix)]
        H.check(len(hits) == times, "%s: expected %d journal entr%s starting with %r, got %s", n, times,
                "y" if times == 1 else "ies", prefix, [e["MESSAGE"] for e in hits])
        for e in hits:
            H.check(word in e["MESSAGE"], "%s: %r does not mention %s", n, e["MESSAGE"], word)
            H.eq(e.get("PRIORITY"), "4" if warning else "3", "PRIORITY of %r" % e["MESSAGE"])
    H.quiet(1.5, "no second report without a change")
    for n in texts:
        check_reported(n, 1)
    for name in ("notes.txt", "README", ".hidden"):
        H.eq([e["MESSAGE"] for e in mentions(name)], [], "journal entries about %s" % name)
    for k in ("bad_endpoint", "bad_timeout", "no_action", "hidden", "notes"):
        H.eq(len(mock.status_requests(U[k])), 0, "status requests for the job of a skipped file (%s)" % k)
    res = C.assert_one_result_each(d, good, settle=0)
    C.check_result(res[U["unknown_key"]], job_id=U["unknown_key"], status="completed",
                   job_file=paths["unknown-key"], polls=len(mock.status_requests(U["unknown_key"])))

    # a new change of a bad file is reported again, once; fixed, it is accepted
    sb.write_job("bad-timeout", text="[Job]\nJobID=%s\nAction=enable\nTimeout=never\n" % U["bad_timeout"])
    H.wait_until(lambda: len([e for e in d.journal() if e.get("MESSAGE", "").startswith(
        "%s:4: " % paths["bad-timeout"])]) >= 2, timeout=C.t(5), what="the changed bad file reported")
    H.quiet(0.5, "the change is reported once, not more")
    check_reported("bad-timeout", 2)
    mock.set(U["bad_timeout"], lifecycle=quick)
    sb.write_job("bad-timeout", U["bad_timeout"], timeout="1h")
    C.wait_results(d, 1, job_id=U["bad_timeout"], timeout=10)
    d.stop()

    # a clean configuration: --check exits 0 and prints no problem
    for n in texts:
        os.unlink(paths[n])
    rc, out = run_check(sb)
    H.note("jobwatchd --check (clean):\n%s", out)
    H.eq(rc, 0, "exit status of --check on a clean configuration")
    H.check(not re.search(r"^\S+:\d+: ", out, re.M), "--check printed a problem on a clean configuration")

    # the warning, too, is printed as FILE:LINE: message
    sb.write_job("unknown-key", text=texts["unknown-key"][0])
    rc, out = run_check(sb)
    prefix = "%s:%d: " % (paths["unknown-key"], 4)
    H.check(any(ln.startswith(prefix) for ln in out.splitlines()),
            "--check prints the unknown-key warning as %s, not as FILE:LINE: message (CONTRACT: --check "
            "prints each problem as FILE:LINE: message)", [ln for ln in out.splitlines() if prefix in ln])


H.main(test, needs_journal=True)
