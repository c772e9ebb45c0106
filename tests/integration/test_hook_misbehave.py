#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Hooks that misbehave (issue 10):

* timeout_stray: MaxParallel=1, Timeout=1s. Hook A forks a child that ignores SIGTERM and keeps
  stdout open, and dies itself on the SIGTERM: the child is SIGKILLed with the process group 5 s
  later, A's exit entry has HOOK_SIGNAL=SIGTERM and HOOK_TIMED_OUT=1, and the slot is freed.
  Hook A2 ignores SIGTERM and leaves a child that escaped the group (setsid) holding stdout: A2 is
  SIGKILLed, its pipes are given up after the drain time, the slot is freed. Job B's hook, queued
  behind both, runs.
* stop_during: SIGTERM to the daemon while such a hook (Timeout=2s) runs: the daemon exits 0
  within Timeout + 5 s + a margin, after journaling the hook's end; the child is gone.
* leftovers: a hook that exits 0 leaving a background child: the child gets SIGTERM 1 s after the
  hook exited (one that ignores SIGTERM and holds stdout: SIGKILL 5 s after that); the exit entry
  says HOOK_EXIT_STATUS=0 and a notice with the job's JOB_ID says leftovers were signalled.
* fds: a hook sees file descriptors 0, 1 and 2 and nothing else, even when the daemon inherited
  one without close-on-exec and libcurl has its sockets open.

Each scenario has its own daemon; every failure is reported, then the test fails."""

import json
import os
import signal
import time
import traceback
import uuid

import harness as H
import jwcheck as C

KILL_DELAY = 5.0          # SIGTERM -> SIGKILL
LEFTOVER_GRACE = 1.0      # hook exited -> SIGTERM to what it left in its process group
DRAIN = 1.0               # group gone -> pipes still held by an escaped process are closed
MARGIN = C.t(2.5)

# argv: OUTDIR NAME FLAG...
#   parent-ignore-term  the hook itself ignores SIGTERM
#   parent-exit         the hook exits 0 right after forking
#   child-ignore-term   the child ignores SIGTERM
#   child-setsid        the child leaves the hook's process group (its own session)
#   child-devnull       the child does not hold the hook's stdout/stderr
STRAY_HOOK = r'''#!/usr/bin/python3
import json, os, signal, sys, time
outdir, name, flags = sys.argv[1], sys.argv[2], set(sys.argv[3:])
signal.signal(signal.SIGTERM, signal.SIG_IGN if "child-ignore-term" in flags else signal.SIG_DFL)
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    os.close(r)
    if "child-setsid" in flags:
        os.setsid()
    if "child-devnull" in flags:
        fd = os.open("/dev/null", os.O_RDWR)
        for i in (0, 1, 2):
            os.dup2(fd, i)
        os.close(fd)
    else:
        print("child %d of %s still holds stdout" % (os.getpid(), name), flush=True)
    os.write(w, b"x")
    os.close(w)
    end = time.monotonic() + 60
    while time.monotonic() < end:
        time.sleep(0.5)
    os._exit(0)
os.close(w)
os.read(r, 1)
signal.signal(signal.SIGTERM, signal.SIG_IGN if "parent-ignore-term" in flags else signal.SIG_DFL)
rec = {"parent": os.getpid(), "child": pid, "pgid": os.getpgid(0), "t": time.monotonic()}
tmp = os.path.join(outdir, name + ".tmp")
with open(tmp, "w") as f:
    json.dump(rec, f)
os.rename(tmp, os.path.join(outdir, name + ".json"))
print("hook %s started" % name, flush=True)
if "parent-exit" in flags:
    sys.exit(0)
time.sleep(60)
'''

FDS_HOOK = r'''#!/usr/bin/python3
import json, os, sys
fds = {}
for n in os.listdir("/proc/self/fd"):
    try:
        fds[n] = os.readlink("/proc/self/fd/" + n)
    except OSError:
        pass            # the directory os.listdir had open, closed by now
tmp = sys.argv[1] + ".tmp"
with open(tmp, "w") as f:
    json.dump(fds, f)
os.rename(tmp, sys.argv[1])
'''

_strays = set()          # pids to kill at the end, whatever happened


def is_gone(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (FileNotFoundError, ProcessLookupError):
        return True


def kill_strays():
    for pid in _strays:
        if not is_gone(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


class Stray:
    """The stray hook's files in one sandbox."""

    def __init__(self, sb):
        self.sb = sb
        self.script = sb.write_hook("stray-hook", STRAY_HOOK)
        self.out = sb.path("stray-out")
        os.makedirs(self.out, exist_ok=True)

    def hook(self, name, *flags):
        return " ".join([self.script, self.out, name] + list(flags))

    def record(self, name):
        try:
            with open(os.path.join(self.out, name + ".json")) as f:
                rec = json.load(f)
        except (OSError, ValueError):
            return None
        _strays.update((rec["parent"], rec["child"]))
        return rec

    def wait_record(self, name, timeout):
        return H.wait_until(lambda: self.record(name), timeout, what="hook %s to start" % name)


def wait_gone(pid, deadline):
    """True when pid is gone by the monotonic deadline."""
    while time.monotonic() < deadline:
        if is_gone(pid):
            return True
        time.sleep(0.05)
    return is_gone(pid)


def exit_entries(d, job):
    return d.journal(MESSAGE_ID=C.HOOK_EXIT, JOB_ID=job)


def scenario_timeout_stray(soft):
    sb = H.Sandbox("hook-misbehave-timeout")
    st = Stray(sb)
    a, a2, b = (str(uuid.uuid4()) for _ in range(3))
    mock = sb.start_mock(jobs=[
        {"job_id": a, "responses": [{"job_status": "completed"}]},
        {"job_id": a2, "lifecycle": [["waiting", 0.4], ["completed", None]]},
        {"job_id": b, "lifecycle": [["waiting", 0.8], ["completed", None]]}])
    conf = sb.base_config(mock, hook=sb.recording_hook("b"), initial="100ms", max_interval="200ms")
    conf["Hook"].update({"Timeout": "1s", "MaxParallel": 1, "AllowJobHooks": "yes"})
    sb.write_config(conf)
    sb.write_job("a", a, hook=st.hook("a", "child-ignore-term"))
    sb.write_job("a2", a2, hook=st.hook("a2", "parent-ignore-term", "child-setsid"))
    sb.write_job("b", b)
    d = sb.start_daemon()
    ra = st.wait_record("a", C.t(10))
    # A dies on SIGTERM at 1 s; its child ignores it and holds stdout: SIGKILLed at 1 + 5 s
    soft.check(wait_gone(ra["child"], ra["t"] + 1 + KILL_DELAY + MARGIN),
               "A's child (pid %d, ignores SIGTERM, holds stdout) still runs %.1fs after A started",
               ra["child"], 1 + KILL_DELAY + MARGIN)
    ea = _try(lambda: H.wait_until(lambda: exit_entries(d, a), C.t(5)))
    soft.check(ea, "no hook exit entry for A within %.1fs of its child's end", C.t(5))
    if ea:
        soft.eq(ea[0].get("HOOK_SIGNAL"), "SIGTERM", "A's HOOK_SIGNAL")
        soft.eq(ea[0].get("HOOK_TIMED_OUT"), "1", "A's HOOK_TIMED_OUT")
    # A2 ignores SIGTERM: SIGKILL at 1 + 5 s; its setsid child keeps the pipes, given up after DRAIN
    ra2 = _try(lambda: st.wait_record("a2", C.t(5)))
    soft.check(ra2, "hook A2 never started (A's slot is still held)")
    if ra2:
        soft.check(ra2["pgid"] == ra2["parent"], "A2 does not lead its own process group: %s", ra2)
        ok = _try(lambda: H.wait_until(lambda: exit_entries(d, a2), 1 + KILL_DELAY + DRAIN + MARGIN))
        soft.check(ok, "no hook exit entry for A2 within %.1fs of its start (its escaped child holds the pipes)",
                   1 + KILL_DELAY + DRAIN + MARGIN)
        if ok:
            soft.eq(ok[0].get("HOOK_SIGNAL"), "SIGKILL", "A2's HOOK_SIGNAL")
            soft.eq(ok[0].get("HOOK_TIMED_OUT"), "1", "A2's HOOK_TIMED_OUT")
        soft.check(is_gone(ra2["parent"]), "A2 (pid %d) still runs", ra2["parent"])
    # B, queued behind both with MaxParallel=1, runs
    rb = _try(lambda: sb.wait_for_hook_records(1, timeout=C.t(5), name="b"))
    soft.check(rb, "B's hook never ran (a slot is still held)")
    if rb and ra2:
        soft.check(rb[0]["t"] > ra2["t"] + 1 + KILL_DELAY - 0.2,
                   "B's hook started %.2fs after A2's, while A2's run was not over (MaxParallel=1)",
                   rb[0]["t"] - ra2["t"])
    kill_strays()
    d.stop(timeout=C.t(15))


def _try(fn):
    try:
        return fn()
    except H.Failure:
        return None


def scenario_stop_during(soft):
    timeout = 2.0
    sb = H.Sandbox("hook-misbehave-stop")
    st = Stray(sb)
    j = str(uuid.uuid4())
    mock = sb.start_mock(jobs=[{"job_id": j, "responses": [{"job_status": "completed"}]}])
    conf = sb.base_config(mock, initial="100ms", max_interval="200ms")
    conf["Hook"] = {"Timeout": "%gs" % timeout, "AllowJobHooks": "yes"}
    sb.write_config(conf)
    sb.write_job("d", j, hook=st.hook("d", "child-ignore-term"))
    d = sb.start_daemon()
    rec = st.wait_record("d", C.t(10))
    t0 = time.monotonic()
    budget = timeout + KILL_DELAY + MARGIN
    try:
        d.stop(timeout=budget)
    except H.Failure as e:
        soft.check(False, "SIGTERM to the daemon while a hook's child ignores SIGTERM and holds its "
                   "stdout: %s" % str(e).splitlines()[0])
        kill_strays()
        return
    took = time.monotonic() - t0
    soft.check(took <= budget, "the daemon took %.1fs to stop, Timeout=%gs", took, timeout)
    soft.check(is_gone(rec["child"]), "the hook's child (pid %d) survived the daemon's stop", rec["child"])
    e = exit_entries(d, j)
    soft.check(len(e) == 1 and e[0].get("HOOK_SIGNAL") == "SIGTERM",
               "hook exit entries before the daemon stopped: %s", [H.format_entry(x) for x in e])


def scenario_leftovers(soft):
    sb = H.Sandbox("hook-misbehave-leftovers")
    st = Stray(sb)
    l1, l2 = str(uuid.uuid4()), str(uuid.uuid4())
    mock = sb.start_mock(jobs=[{"job_id": x, "responses": [{"job_status": "completed"}]} for x in (l1, l2)])
    conf = sb.base_config(mock, initial="100ms", max_interval="200ms")
    conf["Hook"] = {"Timeout": "30s", "AllowJobHooks": "yes"}
    sb.write_config(conf)
    sb.write_job("l1", l1, hook=st.hook("l1", "parent-exit", "child-devnull"))
    sb.write_job("l2", l2, hook=st.hook("l2", "parent-exit", "child-ignore-term"))
    d = sb.start_daemon()
    r1, r2 = st.wait_record("l1", C.t(10)), st.wait_record("l2", C.t(10))
    soft.check(wait_gone(r1["child"], r1["t"] + LEFTOVER_GRACE + MARGIN),
               "the background child (pid %d) of a hook that exited 0 still runs %.1fs later",
               r1["child"], LEFTOVER_GRACE + MARGIN)
    soft.check(wait_gone(r2["child"], r2["t"] + LEFTOVER_GRACE + KILL_DELAY + MARGIN),
               "the background child (pid %d, ignores SIGTERM, holds stdout) of a hook that exited 0 "
               "still runs %.1fs later", r2["child"], LEFTOVER_GRACE + KILL_DELAY + MARGIN)
    for name, j in (("l1", l1), ("l2", l2)):
        e = _try(lambda: H.wait_until(lambda: exit_entries(d, j), C.t(5)))
        soft.check(e, "no hook exit entry for %s" % name)
        if e:
            soft.eq(e[0].get("HOOK_EXIT_STATUS"), "0", "%s's HOOK_EXIT_STATUS" % name)
            soft.check("HOOK_TIMED_OUT" not in e[0], "%s: HOOK_TIMED_OUT in %s", name, H.format_entry(e[0]))
        notes = [x for x in d.journal(JOB_ID=j) if "left" in x.get("MESSAGE", "") and "SIGTERM" in x.get("MESSAGE", "")]
        soft.check(notes, "no message with JOB_ID=%s saying the leftovers of %s got SIGTERM", j, name)
    kill_strays()
    d.stop(timeout=C.t(15))


def scenario_fds(soft):
    sb = H.Sandbox("hook-misbehave-fds")
    j = str(uuid.uuid4())
    mock = sb.start_mock(jobs=[{"job_id": j, "lifecycle": [["waiting", 0.5], ["completed", None]]}])
    script = sb.write_hook("fds-hook", FDS_HOOK)
    out = sb.path("fds.json")
    sb.write_config(sb.base_config(mock, hook="%s %s" % (script, out), initial="100ms", max_interval="200ms"))
    sb.write_job("f", j)
    # the daemon inherits fd 7 without close-on-exec, as from a careless parent
    wrapper = sb.write_hook("wrap-jobwatchd", "#!/bin/sh\nexec 7<\"$0\"\nexec '%s' \"$@\"\n" % H.find_jobwatchd())
    d = sb.start_daemon(binary=wrapper)
    H.wait_until(lambda: os.path.exists(out), C.t(10), what="the hook's fd list")
    with open(out) as f:
        fds = json.load(f)
    soft.eq(sorted(int(x) for x in fds), [0, 1, 2], "the hook's open fds (%s)" % fds)
    d.stop()


def test():
    soft = C.Soft()
    try:
        for sc in (scenario_timeout_stray, scenario_stop_during, scenario_leftovers, scenario_fds):
            H.note("scenario %s", sc.__name__)
            try:
                sc(soft)
            except H.Failure as e:
                traceback.print_exc()
                soft.check(False, "%s: %s" % (sc.__name__, e))
    finally:
        kill_strays()
    soft.done()


H.main(test, needs_journal=True)
