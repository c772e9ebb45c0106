#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Hostile files (issue "Never lose a job" point 6; CONTRACT.md "Job file", "jobwatchd command line").

Part 1, job files that are binary, hold a NUL byte, are over 64 KiB, are symlinks (to
  /etc/passwd, and to a valid job file elsewhere: symlinks are not followed), or a FIFO: each is
  reported once (MESSAGE_ID job file invalid, naming the full path) and skipped; no job named in
  them is polled; a job written right after the FIFO completes promptly (the FIFO does not block
  the loop).
Part 2, an unreadable job file.  chmod 000 does not stop root, so this daemon runs as nobody
  (setpriv --reuid=65534; the state directory and key are given to nobody): the file is
  reported ("Permission denied") and skipped; after chmod 644 (IN_ATTRIB) it is read and its
  job completes.
Part 3, 5,000 job files (valid ones with unknown ids, and binary ones) created and deleted in a
  burst: a pending job keeps being polled on schedule, and a job that ends during the burst is
  reported promptly; afterwards no phantom job is left (state DB, `jobwatchctl list --json`,
  STATUS= counts).
Part 4, MaxJobs=5 and 8 job files: 3 refused loudly (an error naming each file and MaxJobs=),
  the 5 finish.  Finished jobs whose files are still there count towards MaxJobs= ("Remove
  finished job files or raise MaxJobs=").  Removing one lets exactly one refused file in: at
  once (the daemon retries refused files when a job goes away), or -- as an earlier daemon did
  -- once that file changes again; the test accepts both and prints which.  SIGHUP rescans and
  refuses the other two again, loudly; they are never polled.
Part 5, config files that are binary, over 64 KiB, a FIFO, unreadable (as nobody): `--check`
  reports each (naming the file) and exits 1; jobwatchd refuses to start (non-zero exit status,
  a reason naming the file, no READY=1), without hanging on the FIFO.
"""

import json
import os
import random
import re
import shutil
import subprocess
import threading
import time
import uuid

import harness as H

INVALID = "3a2a5bbed42b4498a24219f52e0b9205"
NOBODY = 65534


def uid():
    return str(uuid.uuid4())


def binary_blob(n, seed):
    r = random.Random(seed)
    return bytes(r.randrange(256) for _ in range(n)) + b"\0\0\xff\xfe"


class AsNobody(H.Daemon):
    """jobwatchd run as nobody (setpriv keeps the PID: it execs)."""

    def __init__(self, sb, **kw):
        super().__init__(sb, **kw)
        if not self.notify.address.startswith("@"):
            os.chmod(self.notify.address, 0o777)            # nobody sends READY=1 there

    def argv(self):
        return ["setpriv", "--reuid=%d" % NOBODY, "--regid=%d" % NOBODY, "--clear-groups",
                "--pdeathsig", "KILL", "--"] + super().argv()


def give_to_nobody(sb):
    os.chmod(sb.dir, 0o755)
    for p in (sb.state_dir, sb.keys_dir):
        os.chown(p, NOBODY, NOBODY)
    for f in os.listdir(sb.keys_dir):
        os.chown(os.path.join(sb.keys_dir, f), NOBODY, NOBODY)


def invalid_entries(d, path):
    return [e for e in d.journal(MESSAGE_ID=INVALID) if path in e.get("MESSAGE", "")]


def expect_refused(d, path, words, timeout=10):
    ents = H.wait_until(lambda: invalid_entries(d, path), timeout, what="a report of %s" % path)
    msg = ents[0]["MESSAGE"]
    H.check(any(w in msg.lower() for w in words), "report of %s does not say %s: %r", path, words, msg)
    return ents


def part1():
    sb = H.Sandbox(name="files-hostile")
    good0, good1, NUL, HUGE, ELSE = (uid() for _ in range(5))
    mock = sb.start_mock(jobs=[{"job_id": j, "lifecycle": [["waiting", 0.3], ["completed", None]]}
                               for j in (good0, good1, NUL, HUGE, ELSE)])
    sb.write_config(sb.base_config(mock))
    sb.write_job("good0", good0)
    bin0 = sb.write_job("bin0", text=binary_blob(3000, 1))          # present at start: the scan
    d = sb.start_daemon()
    d.wait_for_results(1, timeout=10, job_id=good0)
    expect_refused(d, bin0, [""])

    paths = {}
    paths["bin1"] = sb.write_job("bin1", text=binary_blob(20000, 2))
    paths["nul"] = sb.write_job("nul", text=("[Job]\nJobID=%s\0\nAction=enable\n" % NUL).encode())
    huge = sb.job_text(HUGE) + "".join("# padding line %06d %s\n" % (i, "x" * 60) for i in range(1100))
    H.check(len(huge) > 64 * 1024, "huge job file is only %d bytes", len(huge))
    paths["huge"] = sb.write_job("huge", text=huge)
    paths["passwd"] = sb.job_path("passwd")
    os.symlink("/etc/passwd", paths["passwd"])
    elsewhere = sb.path("elsewhere.job")
    H.write_file(elsewhere, sb.job_text(ELSE))
    paths["elsewhere"] = sb.job_path("elsewhere")
    os.symlink(elsewhere, paths["elsewhere"])
    paths["fifo"] = sb.job_path("fifo")
    os.mkfifo(paths["fifo"])
    t_good1 = time.monotonic()
    sb.write_job("good1", good1)
    [r] = d.wait_for_results(1, timeout=10, job_id=good1)
    took = mock.status_requests(good1)[0]["t"] - t_good1
    H.note("the first poll of a job written after the FIFO came %.2fs after the file", took)
    H.check(took < H.t(2.0), "a job written after a FIFO was first polled only after %.2fs", took)
    H.eq(r["JOB_STATUS"], "completed", "outcome of the job written after the FIFO")

    expect_refused(d, paths["bin1"], [""])
    expect_refused(d, paths["nul"], ["nul", "invalid", "control", "binary", "utf-8"])
    expect_refused(d, paths["huge"], ["too large"])
    expect_refused(d, paths["passwd"], ["symbolic link", "symlink"])
    expect_refused(d, paths["elsewhere"], ["symbolic link", "symlink"])
    expect_refused(d, paths["fifo"], ["fifo", "regular file"])
    H.quiet(1.5, "no file is reported twice")
    for name, p in list(paths.items()) + [("bin0", bin0)]:
        msgs = [e["MESSAGE"] for e in invalid_entries(d, p)]
        H.note("%-9s reported: %s", name, " | ".join(m[:120] for m in msgs))
        # once per change: no message repeated (a report may be a problem plus a "skipping" line)
        H.eq([m for m in set(msgs) if msgs.count(m) > 1], [], "messages repeated about %s" % name)
    for j, what in ((NUL, "the NUL file"), (HUGE, "the huge file"), (ELSE, "the symlinked file")):
        H.eq(len(mock.status_requests(j)), 0, "status requests for the job in %s" % what)
    rows = sb.state_query("SELECT job_id FROM jobs")
    H.eq(sorted(r["job_id"] for r in rows), sorted([good0, good1]), "jobs in the state DB")
    H.check(d.is_running(), "jobwatchd died")
    d.stop()


def part2():
    sb = H.Sandbox(name="files-unreadable")
    ok, secret = uid(), uid()
    mock = sb.start_mock(jobs=[{"job_id": j, "lifecycle": [["completed", None]]} for j in (ok, secret)])
    sb.write_config(sb.base_config(mock))
    give_to_nobody(sb)
    sp = sb.write_job("secret", secret)
    os.chmod(sp, 0)
    sb.write_job("ok", ok)
    d = AsNobody(sb)
    d.start()
    H.check(os.stat("/proc/%d" % d.pid).st_uid == NOBODY, "the daemon does not run as nobody")
    d.wait_for_results(1, timeout=10, job_id=ok)
    ents = expect_refused(d, sp, ["permission denied"])
    H.note("unreadable job file: %s", ents[0]["MESSAGE"])
    H.quiet(1.0, "the unreadable job is not polled")
    H.eq(len(mock.status_requests(secret)), 0, "status requests for the unreadable job")
    os.chmod(sp, 0o644)                                  # IN_ATTRIB: read again
    [r] = d.wait_for_results(1, timeout=10, job_id=secret)
    H.eq(r["JOB_STATUS"], "completed", "outcome once the file is readable")
    d.stop()


def part3():
    sb = H.Sandbox(name="files-burst")
    P, E = uid(), uid()
    mock = sb.start_mock(jobs=[{"job_id": P, "lifecycle": [["waiting", None]]},
                               {"job_id": E, "lifecycle": [["waiting", None]]}])
    sb.write_config(sb.base_config(mock))
    sb.write_job("pending", P)
    sb.write_job("ends", E)
    d = sb.start_daemon()
    mock.wait_for_requests(3, timeout=10, job_id=P)
    burst_ids = []
    t = {}

    def burst():
        t["start"] = time.monotonic()
        for i in range(5000):
            p = os.path.join(sb.jobs_dir, "burst%04d.job" % i)
            if i % 10 == 9:
                data = binary_blob(64, i)
            else:
                j = uid()
                burst_ids.append(j)
                data = ("[Job]\nJobID=%s\nAction=enable\n" % j).encode()
            with open(p, "wb") as f:
                f.write(data)
            os.unlink(p)
            if i % 10 == 0:
                time.sleep(0.004)           # the burst's pace
        t["end"] = time.monotonic()
    th = threading.Thread(target=burst)
    th.start()
    time.sleep(0.8)                         # the scenario: a job ends 0.8 s into the burst
    t_set = time.monotonic()
    mock.set(E, status="completed")
    [r] = d.wait_for_results(1, timeout=15, job_id=E)
    t_done = time.monotonic()
    th.join(60)
    H.note("burst of 5000 files took %.2fs; a job set to completed %.2fs into it was reported after %.2fs",
           t["end"] - t["start"], t_set - t["start"], t_done - t_set)
    H.check(t_done - t_set < H.t(3.0), "a job that ended during the burst was reported only %.2fs later", t_done - t_set)
    times = [x for x in mock.poll_times(P) if t["start"] <= x <= t["end"] + 0.5]
    gaps = H.gaps(times)
    H.note("pending job polled %d times during the burst, largest gap %.2fs", len(times),
           max(gaps) if gaps else -1)
    H.check(len(times) >= 2 and max(gaps) < H.t(1.5), "the pending job was not polled on schedule during the burst: %s",
            ["%.2f" % g for g in gaps])
    # whatever the burst left behind is seen: only P and E stay in the state DB
    H.wait_until(lambda: sorted(x["job_id"] for x in sb.state_query("SELECT job_id FROM jobs")) == sorted([P, E]),
                 10, what="the state DB to hold P and E only after the burst")
    H.check(d.is_running(), "jobwatchd died")
    rows = sb.state_query("SELECT job_id, outcome FROM jobs")
    H.eq(sorted(x["job_id"] for x in rows), sorted([P, E]), "jobs in the state DB after the burst")
    ctl = sb.run_ctl("list", "--json")
    H.eq(ctl.returncode, 0, "jobwatchctl list --json exit status (stderr: %s)" % ctl.stderr.strip())
    listed = json.loads(ctl.stdout)
    if isinstance(listed, dict):
        listed = listed.get("jobs", listed)
    ids = sorted(x.get("job_id") or x.get("id") for x in listed)
    H.eq(ids, sorted([P, E]), "jobs listed by jobwatchctl after the burst")
    status = d.status_lines()[-1]
    H.note("STATUS after the burst: %s", status)
    H.check(re.match(r"Watching 1 job\b.*\b1 finished", status), "STATUS= counts after the burst: %r", status)
    # accepted burst jobs (if any) were cancelled, none was polled to an end
    res = {e["JOB_ID"]: e["JOB_STATUS"] for e in d.results() if e["JOB_ID"] in set(burst_ids)}
    H.eq(sorted(set(res.values()) - {"cancelled"}), [], "outcomes of burst jobs other than cancelled")
    polled = {e["job_id"] for e in mock.requests(kind="status", headers=False)} & set(burst_ids)
    overflow = any("overflow" in e.get("MESSAGE", "") for e in d.journal())
    H.note("burst: %d job(s) accepted and cancelled, %d polled before their file was gone; %d invalid-file reports; %s",
           len(res), len(polled), len(d.journal(MESSAGE_ID=INVALID)),
           "rescanned after an inotify overflow" if overflow else "no inotify overflow")
    d.stop()


def part4():
    sb = H.Sandbox(name="files-maxjobs")
    jobs = [uid() for _ in range(8)]
    mock = sb.start_mock(jobs=[{"job_id": j, "lifecycle": [["completed", None]]} for j in jobs])
    sb.write_config(sb.base_config(mock, extra={"Daemon": {"MaxJobs": 5}}))
    paths = {sb.write_job("m%d" % i, j): j for i, j in enumerate(jobs)}
    d = sb.start_daemon()
    d.wait_for_results(5, timeout=15)

    def refusals():
        return [e for e in d.journal() if "MaxJobs=" in e.get("MESSAGE", "")]
    H.wait_until(lambda: len(refusals()) >= 3, 5, what="3 refusals")
    H.quiet(1.0, "no refusal repeated")
    ref = refusals()
    refused = [p for p in paths if any(p in e["MESSAGE"] for e in ref)]
    H.note("refused: %s -- %s", [os.path.basename(p) for p in refused], ref[0]["MESSAGE"])
    H.eq(len(ref), 3, "refusal entries")
    H.eq(len(refused), 3, "files named in the refusals")
    H.check(all(int(e["PRIORITY"]) <= 3 for e in ref), "refusals are not logged as errors: %s",
            [e["PRIORITY"] for e in ref])
    res = d.results()
    H.eq(len(res), 5, "results with MaxJobs=5")
    H.eq(sorted(e["JOB_ID"] for e in res), sorted(paths[p] for p in paths if p not in refused), "jobs that ran")
    for p in refused:
        H.eq(len(mock.status_requests(paths[p])), 0, "status requests for refused %s" % os.path.basename(p))

    # remove a finished job's file: one refused file may take the free place, at once (the
    # daemon retries refused files when a job goes away) or when it changes again
    done_path = next(p for p in paths if p not in refused)
    os.unlink(done_path)
    try:
        H.wait_until(lambda: len(d.results()) > 5, 3, what="a refused job let in")
        how = "at once when the finished job's file was removed"
    except H.Failure:
        H.write_file(refused[0], open(refused[0]).read())
        d.wait_for_results(6, timeout=10)
        how = "only once its file changed again (not when the finished job's file was removed)"
    H.quiet(1.5, "no other refused file is let in")
    res = d.results()
    let_in = [p for p in refused if any(e["JOB_ID"] == paths[p] for e in res)]
    H.note("a refused file was let in %s: %s", how, [os.path.basename(p) for p in let_in])
    H.eq(len(res), 6, "results after one place was freed (MaxJobs=5 still holds)")
    H.eq(len(let_in), 1, "refused files let in for one freed place")
    still = [p for p in refused if p not in let_in]
    # SIGHUP rescans: the two others are refused again, loudly, and still not polled
    n = {p: len([e for e in refusals() if p in e["MESSAGE"]]) for p in still}
    d.reload()
    H.wait_until(lambda: all(len([e for e in refusals() if p in e["MESSAGE"]]) > n[p] for p in still), 5,
                 what="the 2 still refused files refused again after SIGHUP")
    H.quiet(1.0, "the refused files stay unpolled")
    H.eq(len(d.results()), 6, "results after SIGHUP")
    for p in still:
        H.eq(len(mock.status_requests(paths[p])), 0, "status requests for refused %s" % os.path.basename(p))
    d.stop()


def part5():
    sb = H.Sandbox(name="files-config")
    mock = sb.start_mock()
    good = H.ini_text(sb.base_config(mock))
    cases = {}
    cases["binary"] = H.write_file(sb.path("binary.conf"), binary_blob(5000, 7))
    cases["huge"] = H.write_file(sb.path("huge.conf"), good + "".join("# padding %06d %s\n" % (i, "y" * 60)
                                                                        for i in range(1100)))
    fifo = sb.path("fifo.conf")
    os.mkfifo(fifo)
    cases["fifo"] = fifo
    words = {"binary": [""], "huge": ["too large"], "fifo": ["fifo", "regular file"]}
    binary = H.find_jobwatchd()
    for name, path in cases.items():
        p = subprocess.run([binary, "--check", "--config", path, "--jobs-dir", sb.jobs_dir],
                           capture_output=True, text=True, timeout=20, env=H._clean_env())
        out = (p.stdout + p.stderr).strip().splitlines()
        H.note("--check of the %s config: exit %d, %d line(s): %s", name, p.returncode, len(out), out[:3])
        H.eq(p.returncode, 1, "--check exit status for the %s config" % name)
        H.check(any(path in ln and any(w in ln.lower() for w in words[name]) for ln in out),
                "--check does not report the %s config %s: %s", name, path, out[:5])
        d = H.Daemon(sb, log_target="console", args=[], config=path, name="cfg-" + name)
        d.start(wait_ready=False)
        rc = d.wait_exit(timeout=20)
        err = [ln for ln in d.stderr_lines() if ln.strip()]
        H.note("jobwatchd with the %s config: exit %s, %d stderr line(s), last: %s", name, rc, len(err),
               err[-1] if err else None)
        H.check(rc is not None and rc > 0, "jobwatchd exited with %s on the %s config", rc, name)
        H.check(any(path in ln for ln in err), "no stderr line names the %s config %s: %s", name, path, err[-5:])
        H.check(len(err) <= 10, "jobwatchd printed %d lines for the %s config", len(err), name)
        H.check(not d.notifications("READY"), "READY=1 with the %s config" % name)

    if os.geteuid() != 0:
        H.note("unreadable config: needs root to switch to nobody; skipped")
        return
    # unreadable (as nobody; root reads anything)
    unread = H.write_file(sb.path("unreadable.conf"), good, mode=0o600)
    os.chmod(sb.dir, 0o755)
    p = subprocess.run(["setpriv", "--reuid=%d" % NOBODY, "--regid=%d" % NOBODY, "--clear-groups", "--",
                        binary, "--check", "--config", unread, "--jobs-dir", sb.jobs_dir],
                       capture_output=True, text=True, timeout=20, env=H._clean_env())
    out = (p.stdout + p.stderr).strip().splitlines()
    H.note("--check of an unreadable config (as nobody): exit %d: %s", p.returncode, out[:3])
    H.eq(p.returncode, 1, "--check exit status for an unreadable config")
    H.check(any(unread in ln and "permission denied" in ln.lower() for ln in out),
            "--check does not report the unreadable config: %s", out)
    give_to_nobody(sb)
    d = AsNobody(sb, log_target="console", config=unread, name="cfg-unreadable")
    d.start(wait_ready=False)
    rc = d.wait_exit(timeout=20)
    err = [ln for ln in d.stderr_lines() if ln.strip()]
    H.note("jobwatchd with an unreadable config: exit %s: %s", rc, err)
    H.check(rc is not None and rc > 0, "jobwatchd exited with %s on an unreadable config", rc)
    H.check(any(unread in ln for ln in err), "no stderr line names the unreadable config: %s", err)


def test():
    if shutil.which("setpriv") is None:
        raise H.Skip("setpriv (util-linux) is not installed")
    part1()
    if os.geteuid() == 0:
        part2()
    else:
        H.note("part 2 (unreadable file) needs root to switch to nobody; skipped")
    part3()
    part4()
    part5()


H.main(test, needs_journal=True)
