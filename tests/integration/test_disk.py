#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Disk trouble (issue "Never lose a job" point 4; src/state.h: results are held in memory,
neither journaled nor hooked, until their outcome is stored; retries every 2 s).

Needs root (mount); exits 77 otherwise.

Part 1, the state directory is a 4 MiB tmpfs, filled up by a filler file while the daemon runs:
  * a clear error in the journal (MESSAGE_ID state trouble, priority err) naming the state file;
    STATUS= says the state file is not writable; no crash;
  * jobs that end meanwhile (and one accepted meanwhile) are held: no result entry, no hook;
  * the filler is deleted: recovery is logged, every held result is reported exactly once, each
    hook runs once;
  * full again, two more jobs end (one of them accepted while full), kill -9 while full, space
    returns, restart: both are reported exactly once; nothing reported before is repeated.
Part 2, a read-only state directory at start-up (a read-only bind mount: root ignores mode
bits), empty and holding a previous state: jobwatchd exits non-zero with a one-line reason
naming the state directory, and never sends READY=1.
"""

import os
import shutil
import subprocess
import time
import uuid

import harness as H

STATE_TROUBLE = "0ddf7c7028c0409082cd02ab5a8d4c87"


class Mounts:
    """Mounts made by this test, unmounted (lazily) at clean-up, whatever happens."""

    def __init__(self):
        self.points = []

    def mount(self, *args):
        target = args[-1]
        p = subprocess.run(["mount"] + list(args), capture_output=True, text=True)
        if p.returncode != 0:
            raise H.Skip("cannot mount (%s): %s" % (" ".join(args), p.stderr.strip()))
        self.points.append(target)

    def umount(self, target):
        subprocess.run(["umount", target], capture_output=True)
        if os.path.ismount(target):
            subprocess.run(["umount", "-l", target], capture_output=True)
        if target in self.points:
            self.points.remove(target)

    def cleanup(self):
        for t in reversed(list(self.points)):
            self.umount(t)

    def diagnose(self):
        for t in self.points:
            print("--- mount %s" % t)
            subprocess.run(["df", "-k", t])


def fill(path):
    """Write zeros to PATH until the file system is full."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for n in (65536, 4096, 512, 1):              # the last bytes too
            block = b"\0" * n
            try:
                while True:
                    os.write(fd, block)
            except OSError:
                pass
    finally:
        os.close(fd)


def uid():
    return str(uuid.uuid4())


def per_job(d):
    out = {}
    for e in d.results():
        out.setdefault(e["JOB_ID"], []).append(e)
    return out


def hooks_per_job(sb):
    out = {}
    for r in sb.hook_records():
        j = r["env"]["JOBWATCH_JOB_ID"]
        out[j] = out.get(j, 0) + 1
    return out


def wait_stored(sb, job_ids, timeout=10):
    """Wait until the state file says of each job that its result is journaled and its hook done
    (nothing of them is left to write when the disk fills)."""
    def stored():
        rows = {r["job_id"]: r for r in sb.state_query("SELECT job_id, journaled, hook_state FROM jobs")}
        return all(j in rows and (rows[j]["journaled"], rows[j]["hook_state"]) == (1, 2) for j in job_ids)
    H.wait_until(stored, timeout, what="the state file to record %s as journaled and hooked" % job_ids)


def wait_answered(mock, job_id, statuses, timeout=10):
    """Wait until the mock has written a whole answer with a job_status in statuses for job_id."""
    H.wait_until(lambda: any(e["job_status"] in statuses and e["t_end"] is not None
                             for e in mock.status_requests(job_id)),
                 timeout, what="an answer %s for %s" % (statuses, job_id))


def new_mounts():
    m = Mounts()
    H._register(m)          # after its sandbox: unmounted before the sandbox is removed
    return m


def part1():
    sb = H.Sandbox(name="disk-full")
    mounts = new_mounts()
    mounts.mount("-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", sb.state_dir)
    state_file = os.path.join(sb.state_dir, "state.db")
    filler = os.path.join(sb.state_dir, "filler")
    A = uid()
    B = [uid() for _ in range(5)]
    N1, N2 = uid(), uid()
    mock = sb.start_mock(jobs=[{"job_id": A, "lifecycle": [["completed", None]]}] +
                         [{"job_id": b, "lifecycle": [["waiting", None]]} for b in B] +
                         [{"job_id": n, "lifecycle": [["completed", None]]} for n in (N1, N2)])
    hook = sb.recording_hook()
    sb.write_config(sb.base_config(mock, hook=hook))
    sb.write_job("a", A)
    for i, b in enumerate(B):
        sb.write_job("b%d" % i, b)
    d = sb.start_daemon()
    d.wait_for_results(1, job_id=A)
    sb.wait_for_hook_records(1)
    wait_stored(sb, [A])
    H.wait_until(lambda: len(sb.state_query("SELECT job_id FROM jobs")) == 1 + len(B), 10,
                 what="a row for every job in the state file")

    # ---- full -------------------------------------------------------------------------
    t_full = time.time()
    fill(filler)
    H.note("state tmpfs filled (%d bytes of filler)", os.path.getsize(filler))
    mock.set(B[:2], status="completed")
    mock.set(B[2], status="error", error_msg="no space for you")
    sb.write_job("n1", N1)                     # accepted while the disk is full
    errs = d.wait_for_journal(None, 1, timeout=10, MESSAGE_ID=STATE_TROUBLE, PRIORITY=3)
    msg = errs[0]["MESSAGE"]
    H.note("state error: %s", msg)
    H.check(state_file in msg, "the state error does not name the state file %s: %r", state_file, msg)
    H.check(any(w in msg.lower() for w in ("full", "space")), "the state error does not say the disk is full: %r", msg)
    d.wait_status(r"state file not writable", timeout=10)
    # the jobs end meanwhile: the mock answers their final status
    for j in B[:3] + [N1]:
        wait_answered(mock, j, ("completed", "error"))
    H.quiet(3.0, "held results stay held over more than one retry period (2 s)")
    H.check(d.is_running(), "jobwatchd died on a full disk (rc %s)", d.proc.poll())
    held = per_job(d)
    H.eq(sorted(j for j in held if j != A), [], "result entries reported while the state file cannot be written")
    H.eq(sorted(j for j in hooks_per_job(sb) if j != A), [], "hooks run while the state file cannot be written")
    H.eq(len(d.journal(MESSAGE_ID=STATE_TROUBLE, PRIORITY=3)), 1, "state errors logged (once, not per retry)")

    # ---- space returns --------------------------------------------------------------------
    os.unlink(filler)
    t_free = time.monotonic()
    rec = d.wait_for_journal(lambda e: e.get("PRIORITY") != "3", 1, timeout=10, MESSAGE_ID=STATE_TROUBLE)
    H.note("recovery: %s (%.1fs after the space returned)", rec[0]["MESSAGE"], time.monotonic() - t_free)
    H.wait_until(lambda: all(j in per_job(d) for j in B[:3] + [N1]), 10, what="the held results")
    sb.wait_for_hook_records(5, timeout=15)
    H.quiet(1.0, "no held result or hook is repeated")
    res = per_job(d)
    for j, want in ((B[0], "completed"), (B[1], "completed"), (B[2], "error"), (N1, "completed")):
        H.eq([e["JOB_STATUS"] for e in res[j]], [want], "result entries of a held job")
    H.eq(res[B[2]][0].get("JOB_ERROR"), "no space for you", "JOB_ERROR of the held error")
    H.eq(hooks_per_job(sb), {j: 1 for j in [A] + B[:3] + [N1]}, "hook runs per job")
    H.check(not any("state file not writable" in s for s in d.status_lines()[-1:]),
            "STATUS= still says the state file is not writable: %s", d.status_lines()[-1:])

    # ---- full again, kill -9 while full, space returns, restart --------------------------------
    wait_stored(sb, [A] + B[:3] + [N1])
    fill(filler)
    mock.set(B[3], status="completed")
    sb.write_job("n2", N2)
    # the second time the state file cannot be written: a second error entry
    d.wait_for_journal(None, 2, timeout=10, MESSAGE_ID=STATE_TROUBLE, PRIORITY=3)
    wait_answered(mock, B[3], ("completed",))
    wait_answered(mock, N2, ("completed",))
    H.quiet(1.0, "the results that ended on a full disk are not reported")
    H.check(B[3] not in per_job(d) and N2 not in per_job(d), "a result was reported while the disk was full")
    d.kill9()
    os.unlink(filler)
    d.start()
    H.wait_until(lambda: B[3] in per_job(d) and N2 in per_job(d), 15,
                 what="the results held when jobwatchd was killed")
    sb.wait_for_hook_records(7, timeout=15)
    H.quiet(1.5, "nothing reported before the kill -9 is reported again")
    res = per_job(d)
    H.eq({j: len(v) for j, v in res.items()}, {j: 1 for j in [A] + B[:4] + [N1, N2]},
         "result entries per job after the kill -9 on a full disk")
    H.eq(hooks_per_job(sb), {j: 1 for j in [A] + B[:4] + [N1, N2]}, "hook runs per job")
    d.stop()
    rows = {r["job_id"]: r for r in sb.state_query("SELECT job_id, outcome, journaled, hook_state FROM jobs")}
    H.eq(sorted(rows), sorted([A, N1, N2] + B), "jobs in the state file")
    for j in [A, N1, N2] + B[:4]:
        H.eq((rows[j]["outcome"] is not None, rows[j]["journaled"], rows[j]["hook_state"]), (True, 1, 2),
             "stored state of finished job %s" % j)
    H.eq(rows[B[4]]["outcome"], None, "the pending job's stored outcome")
    mounts.umount(sb.state_dir)


def part2():
    sb = H.Sandbox(name="disk-ro")
    mounts = new_mounts()
    J = uid()
    mock = sb.start_mock(jobs=[{"job_id": J, "lifecycle": [["completed", None]]}])
    sb.write_config(sb.base_config(mock))
    # (a) an empty read-only state directory, console log target
    ro = sb.path("ro-state")
    os.makedirs(ro)
    mounts.mount("--bind", ro, ro)
    mounts.mount("-o", "remount,bind,ro", ro)
    d = H.Daemon(sb, log_target="console", args=["--state-dir", ro], state_dir=False, name="ro-empty")
    d.start(wait_ready=False)
    rc = d.wait_exit(timeout=20)
    err = [ln for ln in d.stderr_lines() if ln.strip()]
    H.note("read-only empty state dir: rc %s, stderr %s", rc, err)
    H.check(rc not in (0, None) and rc > 0, "jobwatchd exited with %s on a read-only state directory", rc)
    H.check(any(ro in ln and "state" in ln.lower() for ln in err),
            "no stderr line names the unusable state directory %s: %s", ro, err)
    H.check(not d.notifications("READY"), "READY=1 was sent")

    # (b) a state directory with a previous state, made read-only; journal log target
    prev = sb.path("prev-state")
    os.makedirs(prev)
    d0 = H.Daemon(sb, args=["--state-dir", prev], state_dir=False, name="writer")
    sb.write_job("one", J)
    d0.start()
    d0.wait_for_results(1, timeout=15)
    d0.stop()
    mounts.mount("--bind", prev, prev)
    mounts.mount("-o", "remount,bind,ro", prev)
    d1 = H.Daemon(sb, args=["--state-dir", prev], state_dir=False, name="ro-prev")
    d1.start(wait_ready=False)
    rc = d1.wait_exit(timeout=20)
    ents = H.wait_for_entries(lambda e: e.get("PRIORITY") in ("0", "1", "2", "3"), 1, timeout=10,
                              pids=[d1.pid], since=sb.t_wall - 2)
    H.note("read-only state dir with a previous state: rc %s, errors %s", rc, [e["MESSAGE"] for e in ents])
    H.check(rc not in (0, None) and rc > 0, "jobwatchd exited with %s on a read-only state directory", rc)
    H.check(any(prev in e["MESSAGE"] for e in ents),
            "no error entry names the unusable state directory %s: %s", prev, [e["MESSAGE"] for e in ents])
    H.check(not d1.notifications("READY"), "READY=1 was sent")
    mounts.umount(prev)
    mounts.umount(ro)


def test():
    if os.geteuid() != 0:
        raise H.Skip("needs root to mount a tmpfs and a read-only bind mount")
    if shutil.which("mount") is None:
        raise H.Skip("mount(8) is not installed")
    part1()
    part2()


H.main(test, needs_journal=True)
