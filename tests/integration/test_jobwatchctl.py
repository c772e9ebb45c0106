#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""jobwatchctl end to end, with the real jobwatchd against the mock Dify:

- usage: --help per command, --version, exit 64 for usage errors;
- add: the file (name, content, mode, atomic: no temporary left), refusals (same file, another
  file naming the same job, unknown endpoint, bad action/id/description, missing jobs dir),
  two racing adds of one job, and jobwatchd --check accepting what add wrote;
- list: no state (exit 1), empty (header only / []), while the daemon runs and after it
  stopped, as a table and as JSON (parsed, compared with the state file), endpoint trouble;
- wait: a result already in the journal, one that arrives later, an error outcome (exit 1),
  several ids, a timeout (exit 2), the live status line on a terminal, and the state-file
  fallback when the daemon logs to the console;
- start: every answer shape of DIFY.md (waiting, 401, 400 with a string and with an object
  message), the proxies' (429 with Retry-After, 502, no connection) and, from the mock's
  not-Dify variant (not_dify_start: no Dify release answers so), "processing" for a job already
  watched and for one that is not, and 409; the request itself (path, Authorization, JSON body),
  the key never in argv, environment or output, and start --wait.

Exit 0 pass, 1 fail, 77 skip (no journald)."""

import fcntl
import json
import os
import pty
import re
import select
import stat
import struct
import subprocess
import termios
import time
import uuid

import harness as H
import jwcheck as C

EXIT_USAGE = 64
JOB_KEYS = {"endpoint", "action", "job_id", "file", "description", "state", "outcome",
            "last_status", "polls", "accepted_usec", "age_usec", "finished_usec", "error",
            "trouble", "trouble_since_usec",
            # kinds (added; the keys above keep their meaning)
            "kind", "dataset", "remote_status", "progress", "documents", "documents_failed",
            "status_changed_usec", "stalled_usec",
            # kinds of the configuration: a [Kind:NAME] job's {Key}s, null for the others
            "fields"}
WRONG_KEY = "app-wrongwrongwrongwrong0000"
OTHER_APP = "app-someotherapp000000000000"

outputs = []        # every stdout/stderr of jobwatchctl, checked for keys at the end


def ctl(sb, *args, **kw):
    p = sb.run_ctl(*args, **kw)
    outputs.append(p.stdout + p.stderr)
    return p


expect = H.expect_run


def ctl_argv(sb, *args):
    return [H.find_jobwatchctl(), "--config", sb.conf, "--jobs-dir", sb.jobs_dir,
            "--state-dir", sb.state_dir] + list(args)


def spawn_ctl(sb, *args, stderr=subprocess.PIPE):
    return H.spawn(ctl_argv(sb, *args), stdout=subprocess.PIPE, stderr=stderr,
                   stdin=subprocess.DEVNULL, env=H._clean_env(), text=True)


def finish(p, what, timeout=30):
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        raise H.Failure("%s did not end within %ds:\n%s%s" % (what, timeout, out, err))
    outputs.append((out or "") + (err or ""))
    return subprocess.CompletedProcess(p.args, p.returncode, out or "", err or "")


def job_files(sb):
    return sorted(os.listdir(sb.jobs_dir))


def table(p):
    """list's table: (status line, header, [row fields])."""
    lines = p.stdout.splitlines()
    H.check(len(lines) >= 2, "list printed %d lines, expected a status line and a header:\n%s",
            len(lines), p.stdout)
    header = lines[1]
    H.check(header.split()[:7] == ["ENDPOINT", "ACTION", "JOB_ID", "STATE", "POLLS", "AGE", "TROUBLE"],
            "list header: %r", header)
    rows = {}
    col = header.index("JOB_ID")
    for ln in lines[2:]:
        f = ln.split()
        # aligned: every id starts in the JOB_ID column
        H.eq(ln[col:col + 36], f[2], "JOB_ID column of %r" % ln)
        rows[f[2]] = f
    return lines[0], header, rows


# ------------------------------------------------------------------------------------------

def test_usage(sb):
    for cmd in ([], ["add"], ["list"], ["wait"], ["start"]):
        p = expect(ctl(sb, *(cmd + ["--help"])), 0, "%s --help" % cmd, stdout=r"^Usage: jobwatchctl")
        if cmd:
            H.check(cmd[0] in p.stdout.splitlines()[0], "%s --help names the command", cmd)
    expect(ctl(sb, "--version"), 0, "--version", stdout=r"^jobwatchctl \d")
    expect(ctl(sb), EXIT_USAGE, "no command", stderr=r"missing command")
    expect(ctl(sb, "frobnicate"), EXIT_USAGE, "unknown command", stderr=r"unknown command 'frobnicate'")
    expect(ctl(sb, "list", "--bogus"), EXIT_USAGE, "unknown option", stderr=r"unknown option '--bogus'")
    expect(ctl(sb, "list", "extra"), EXIT_USAGE, "list with an argument")
    expect(ctl(sb, "add", "enable"), EXIT_USAGE, "add without JOB_ID", stderr=r"ACTION and JOB_ID")
    expect(ctl(sb, "wait"), EXIT_USAGE, "wait without ids")
    expect(ctl(sb, "wait", "--timeout", "soon", str(uuid.uuid4())), EXIT_USAGE, "bad --timeout",
           stderr=r"invalid --timeout 'soon'")
    expect(ctl(sb, "wait", ".."), EXIT_USAGE, "wait on a bad id", stderr=r"invalid job id '\.\.'")
    # any other text may be the id of a [Kind:NAME] job: waited for (only looked for here)
    expect(ctl(sb, "wait", "--timeout", "0", "not-a-uuid"), 2, "wait on a user kind's id",
           stderr=r"no result yet for: not-a-uuid")
    expect(ctl(sb, "start", "enable", "--embedding-provider", "p", "--embedding-model", "m"),
           EXIT_USAGE, "start without --score-threshold", stderr=r"--score-threshold")
    expect(ctl(sb, "start", "enable", "--score-threshold", "1.5", "--embedding-provider", "p",
               "--embedding-model", "m"), EXIT_USAGE, "start with a threshold over 1",
           stderr=r"invalid --score-threshold '1.5'")
    expect(ctl(sb, "start", "enable", "--score-threshold", "0.5", "--embedding-provider", "p",
               "--embedding-model", "m", "--timeout", "1s"), EXIT_USAGE, "--timeout without --wait")
    # common options after the command work too
    expect(ctl(sb, "list", "-s", sb.path("nowhere"), with_dirs=False), 1, "list -s after the command",
           stderr=r"no state at .*nowhere")


def test_add(sb, J):
    """Adds every job of the scenario; returns {name: path}."""
    files = {}
    # upper-case id: the file and its JobID are lower-case
    p = expect(ctl(sb, "add", "enable", J["quick"].upper()), 0, "add", stdout=r"\.job\n$")
    path = p.stdout.strip()
    H.eq(path, os.path.join(os.path.realpath(sb.jobs_dir), "default-enable-%s.job" % J["quick"]),
         "path printed by add")
    kv = H.read_job_file(path)
    H.eq(kv, {"JobID": J["quick"], "Action": "enable"}, "job file written by add")
    H.eq(stat.S_IMODE(os.stat(path).st_mode), 0o644, "mode of the job file")
    files["quick"] = path

    # the same job again: refused, naming the file; the same with --endpoint default
    for extra in ([], ["--endpoint", "default"]):
        expect(ctl(sb, "add", *extra, "enable", J["quick"]), 1, "add twice %s" % extra,
               stderr=r"already in '%s': remove that file first" % re.escape(path))
    # the same id for another action or endpoint is another job
    p = expect(ctl(sb, "add", "--description", "FAQ bot re-index", "disable", J["err"]), 0,
               "add with a description")
    files["err"] = p.stdout.strip()
    H.eq(H.read_job_file(files["err"]).get("Description"), "FAQ bot re-index", "Description= written")

    # a hand-written file that names the same job under another name
    hand = sb.write_job("hand-written", J["later"])
    expect(ctl(sb, "add", "enable", J["later"].upper()), 1, "add a job another file has",
           stderr=r"already in '.*hand-written\.job'")
    files["later"] = hand

    for name, ep in (("forever", None), ("second", "second"), ("bad", "badkey")):
        args = ["--endpoint", ep] if ep else []
        p = expect(ctl(sb, "add", *args, "enable", J[name]), 0, "add %s" % name)
        files[name] = p.stdout.strip()
        H.check(os.path.basename(files[name]).startswith("%s-enable-" % (ep or "default")),
                "file name of %s: %s", name, files[name])
        if ep:
            H.eq(H.read_job_file(files[name]).get("Endpoint"), ep, "Endpoint= of %s" % name)

    # refusals
    jid = str(uuid.uuid4())
    expect(ctl(sb, "add", "--endpoint", "nope", "enable", jid), 1, "unknown endpoint",
           stderr=r"endpoint 'nope' is not configured .*'default', 'second'")
    expect(ctl(sb, "add", "restart", jid), 1, "bad action", stderr=r"invalid action 'restart'")
    expect(ctl(sb, "add", "enable", "3c90c3cc-0d44"), 1, "bad id", stderr=r"invalid job id")
    expect(ctl(sb, "add", "--description", "two\nlines", "enable", jid), 1, "newline in description",
           stderr=r"description contains a newline")
    expect(ctl(sb, "add", "--description", "x" * 1025, "enable", jid), 1, "long description",
           stderr=r"too long")
    expect(ctl(sb, "--jobs-dir", sb.path("no-such-dir"), "add", "enable", jid), 1, "missing jobs dir",
           stderr=r"does not exist")
    expect(ctl(sb, "--config", sb.path("missing.conf"), "add", "enable", jid), 1,
           "a named config that is missing", stderr=r"missing\.conf")

    # two adds of one job at once: exactly one wins
    race = str(uuid.uuid4())
    procs = [spawn_ctl(sb, "add", "disable", race) for _ in range(4)]
    rcs = sorted(finish(p, "racing add").returncode for p in procs)
    H.eq(rcs, [0, 1, 1, 1], "exit statuses of four racing adds of one job")
    os.unlink(os.path.join(sb.jobs_dir, "default-disable-%s.job" % race))

    leftovers = [f for f in os.listdir(sb.jobs_dir) if f.startswith(".")]
    H.eq(leftovers, [], "temporary files left in the jobs directory")

    # what add wrote passes the daemon's own check
    chk = subprocess.run([H.find_jobwatchd(), "--config", sb.conf, "--jobs-dir", sb.jobs_dir, "--check"],
                         capture_output=True, text=True, timeout=30, env=H._clean_env())
    H.check(chk.returncode == 0, "jobwatchd --check on the added files: %d\n%s%s", chk.returncode,
            chk.stdout, chk.stderr)
    return files


def test_wait(sb, d, mock, J):
    # already in the journal: returns at once with the entry's MESSAGE
    [e] = C.wait_results(d, 1, job_id=J["quick"])
    t0 = time.monotonic()
    p = expect(ctl(sb, "wait", "--timeout", "30s", J["quick"].upper()), 0, "wait on a finished job")
    took = time.monotonic() - t0
    H.eq(p.stdout, e["MESSAGE"] + "\n", "wait's output")
    H.check("state file" not in p.stderr, "wait used the state file, not the journal: %s", p.stderr)
    if not C.SLOW:
        H.check(took < H.t(2.5), "wait on a result in the journal took %.1fs", took)

    # an error outcome: exit 1
    [e_err] = C.wait_results(d, 1, job_id=J["err"])
    expect(ctl(sb, "wait", J["err"]), 1, "wait on a job that ended in error",
           stdout=r"^%s\n$" % re.escape(e_err["MESSAGE"]))
    # several: all lines, exit 1 because one failed
    p = expect(ctl(sb, "wait", J["quick"], J["err"]), 1, "wait on two jobs")
    H.eq(sorted(p.stdout.splitlines()), sorted([e["MESSAGE"], e_err["MESSAGE"]]), "lines of wait on two jobs")

    # a result that arrives later: wait is still waiting, then returns as soon as it arrives
    w = spawn_ctl(sb, "wait", "--timeout", "60s", J["later"])
    H.quiet(1.5, "wait keeps waiting for a result that has not come")
    if w.poll() is not None:
        r = finish(w, "wait on a later result")
        raise H.Failure("wait returned before the job ended: rc %s\n%s%s" % (r.returncode, r.stdout, r.stderr))
    mock.set(J["later"], status="completed")
    t_done = time.monotonic()
    r = finish(w, "wait on a later result", timeout=int(C.t(30)))
    took = time.monotonic() - t_done
    [e_later] = C.wait_results(d, 1, job_id=J["later"])
    H.eq(r.returncode, 0, "exit status of wait on a later result (stderr: %s)" % r.stderr)
    H.eq(r.stdout, e_later["MESSAGE"] + "\n", "output of wait on a later result")
    if not C.SLOW:
        H.check(took < H.t(5), "wait took %.1fs after the job completed", took)

    # a timeout: exit 2, the pending id named
    t0 = time.monotonic()
    p = expect(ctl(sb, "wait", "--timeout", "1s", J["forever"], J["quick"]), 2, "wait timing out",
               stderr=r"no result after 1s for: %s\n" % J["forever"])
    H.eq(p.stdout, e["MESSAGE"] + "\n", "results printed before the timeout")
    took = time.monotonic() - t0
    H.check(took >= 1.0, "wait --timeout 1s returned after %.2fs", took)
    expect(ctl(sb, "wait", "--timeout", "0", J["forever"]), 2, "wait --timeout 0", stderr=r"no result yet")

    # the live status line, on a terminal only
    H.check("\r" not in p.stderr and "waiting for" not in p.stderr, "status line without a terminal: %r",
            p.stderr)
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    try:
        w = spawn_ctl(sb, "wait", "--timeout", "2s", J["forever"], J["bad"], stderr=slave)
        os.close(slave)
        slave = -1
        buf = b""
        deadline = time.monotonic() + C.t(30)
        while time.monotonic() < deadline:
            rl, _, _ = select.select([master], [], [], 0.2)
            if rl:
                try:
                    chunk = os.read(master, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                buf += chunk
            elif w.poll() is not None:
                break
        r = finish(w, "wait on a terminal")
    finally:
        os.close(master)
        if slave >= 0:
            os.close(slave)
    tty = buf.decode(errors="replace")
    H.eq(r.returncode, 2, "exit status of wait on a terminal")
    H.check(re.search(r"\rwaiting for %s \(\+1\): (waiting|pending), \d+ polls?, \d+(ms|s|min)\x1b\[K" % J["forever"], tty),
            "no live status line on the terminal: %r", tty)
    H.check("\r\x1b[K" in tty, "the status line is not cleared: %r", tty)


def test_list(sb, d, J, running):
    p = expect(ctl(sb, "list"), 0, "list")
    status, header, rows = table(p)
    if running:
        H.check(re.match(r"jobwatchd is running \(pid %d\b" % d.pid, status), "status line: %r", status)
    else:
        H.check(status.startswith("jobwatchd is not running"), "status line: %r", status)
    H.check(header.rstrip().endswith("DESCRIPTION"), "no DESCRIPTION column though a job has one: %r",
            header)
    for name in ("quick", "err", "later", "forever", "second", "bad"):
        H.check(J[name] in rows, "list does not show job %s (%s):\n%s", name, J[name], p.stdout)
    H.eq(rows[J["quick"]][:4], ["default", "enable", J["quick"], "completed"], "row of the completed job")
    H.eq(rows[J["err"]][:4], ["default", "disable", J["err"], "error"], "row of the error job")
    H.check(rows[J["forever"]][3] in ("waiting", "pending"), "state of a waiting job: %s", rows[J["forever"]])
    H.check(int(rows[J["quick"]][4]) >= 1, "polls of the completed job")
    H.check(rows[J["err"]][-3:] == ["FAQ", "bot", "re-index"], "description of a row: %s", rows[J["err"]])

    p = expect(ctl(sb, "list", "--json"), 0, "list --json")
    jobs = json.loads(p.stdout)
    H.check(isinstance(jobs, list), "list --json gives an array")
    by_id = {}
    for j in jobs:
        H.eq(set(j), JOB_KEYS, "keys of a job object")
        H.eq(j["fields"], None, "fields of a built-in kind's job")
        by_id.setdefault(j["job_id"], []).append(j)
    db = sb.state_query("SELECT endpoint, action, job_id, outcome, polls, accepted_usec FROM jobs")
    H.eq(sorted((j["endpoint"], j["action"], j["job_id"]) for j in jobs),
         sorted((r["endpoint"], r["action"], r["job_id"]) for r in db), "jobs of list --json vs the state")
    q = by_id[J["quick"]][0]
    H.eq((q["state"], q["outcome"], q["last_status"], q["error"], q["file"]),
         ("completed", "completed", "completed", None, "default-enable-%s.job" % J["quick"]), "completed job")
    H.check(isinstance(q["finished_usec"], int) and q["finished_usec"] >= q["accepted_usec"] > 0,
            "times of the completed job: %s", q)
    H.check(isinstance(q["age_usec"], int) and q["age_usec"] >= 0, "age_usec: %s", q)
    e = by_id[J["err"]][0]
    H.eq((e["state"], e["outcome"], e["error"], e["description"]), ("error", "error", "boom", "FAQ bot re-index"),
         "error job")
    f = by_id[J["forever"]][0]
    H.eq((f["outcome"], f["finished_usec"]), (None, None), "pending job")
    H.check(f["state"] in ("waiting", "pending") and f["polls"] >= 0, "pending job: %s", f)
    b = by_id[J["bad"]][0]
    H.eq(b["endpoint"], "badkey", "endpoint of the job on the refused key")
    if running:
        H.check(b["trouble"] and isinstance(b["trouble_since_usec"], int), "trouble of badkey: %s", b)
        H.check(rows[J["bad"]][6] != "-", "TROUBLE column of badkey: %s", rows[J["bad"]])
        H.eq(f["trouble"], None, "trouble of a healthy endpoint")
        H.eq(rows[J["forever"]][6], "-", "TROUBLE column of a healthy endpoint")
    return jobs


def test_start(sb, d, mock, J):
    S = {k: str(uuid.uuid4()) for k in ("s1", "p2", "s3")}
    S_ARGS = ["--score-threshold", "0.9", "--embedding-provider", "openai", "--embedding-model",
              "text-embedding-3-small"]

    # In the not-Dify variant below, a running job of the app blocks a start (processing, or
    # 409 for the other action): 'forever' and 'bad' are filed under another app in the mock
    # (see test()), and 'second', on the app of KEY2, ends first.
    mock.set(J["second"], status="completed")

    # waiting: a new job, started and added. The POST is slowed down so that we can look at
    # the process while it talks to Dify: no key in its argv or environment.
    mock.config(next_job_ids=[S["s1"]])
    mock.add_override({"fault": "delay", "delay": C.t(1.5)}, match={"kind": "start"}, count=1)
    since = mock.stats()["requests"]
    p = spawn_ctl(sb, "start", "disable", *S_ARGS)
    mock.wait_for_requests(1, kind="start", predicate=lambda e: e["seq"] > since)
    for what in ("cmdline", "environ"):
        with open("/proc/%d/%s" % (p.pid, what), "rb") as f:
            H.check(H.KEY.encode() not in f.read(), "the API key is in jobwatchctl's %s", what)
    r = finish(p, "start")
    expect(r, 0, "start (waiting)",
           stdout=r"^started %s \(disable\) on endpoint 'default'; watching it in (\S+\.job)\n$" % S["s1"])
    path = re.search(r"watching it in (\S+)\n", r.stdout).group(1)
    H.eq(H.read_job_file(path), {"JobID": S["s1"], "Action": "disable"}, "job file of the started job")
    [req] = [e for e in mock.requests(kind="start") if e["seq"] > since]
    H.eq((req["method"], req["path"], req["authorization"]),
         ("POST", "/v1/apps/annotation-reply/disable", "Bearer " + H.KEY), "the start request")
    H.eq(req["headers"].get("content-type"), "application/json", "Content-Type of the start request")
    H.eq(json.loads(req["body"]), {"score_threshold": 0.9, "embedding_provider_name": "openai",
                                   "embedding_model_name": "text-embedding-3-small"}, "start body")
    mock.set(S["s1"], status="waiting")           # runs until we end it

    # Not Dify: no release answers a second start with "processing" or 409 (each POST starts
    # another job); the mock's not_dify_start variant does, so that jobwatchctl's handling of
    # such answers stays tested.
    mock.config(not_dify_start=True)
    # processing, for the job we watch already: said so, not an error
    before = job_files(sb)
    expect(ctl(sb, "start", "disable", *S_ARGS), 0, "start (processing, watched)",
           stdout=r"already running on this app: %s.*already watched in %s" % (S["s1"], re.escape(path)))
    H.eq(job_files(sb), before, "job files after a start of a job already watched")

    # 409: the other action's job runs
    expect(ctl(sb, "start", "enable", *S_ARGS), 1, "start (409)",
           stderr=r"another job \('disable'\) is running for this app on endpoint 'default' \(HTTP 409")
    mock.set(S["s1"], status="completed")

    # processing, for a job nobody watches yet: it is added
    mock.add_job(S["p2"], action="disable", app=H.KEY2, lifecycle=[["waiting", None]])
    r = expect(ctl(sb, "start", "disable", "--endpoint", "second", *S_ARGS), 0, "start (processing, new)",
               stdout=r"already running on this app: %s.*watching job %s \(disable\) on endpoint 'second' in (\S+)"
               % (S["p2"], S["p2"]))
    p2 = r.stdout.strip().split(" in ")[-1]
    H.eq(H.read_job_file(p2), {"JobID": S["p2"], "Action": "disable", "Endpoint": "second"}, "job file of p2")
    mock.set(S["p2"], status="completed")
    mock.config(not_dify_start=False)

    # failures: nothing is added
    before = job_files(sb)
    expect(ctl(sb, "start", "enable", "--endpoint", "badkey", *S_ARGS), 1, "start (401)",
           stderr=r"API key was refused by endpoint 'badkey' \(HTTP 401.*check the key in APIKeyFile=%s"
           % re.escape(sb.path("keys", "wrong-key")))
    mock.add_override({"fault": "429", "retry_after": 7}, match={"kind": "start"}, count=1)
    expect(ctl(sb, "start", "enable", *S_ARGS), 1, "start (429)",
           stderr=r"rate limited by endpoint 'default' .*try again in 7 s")
    mock.add_override({"status": 400, "body": {"message": {"score_threshold": "Missing required parameter in the JSON body"}}},
                      match={"kind": "start"}, count=1)
    expect(ctl(sb, "start", "enable", *S_ARGS), 1, "start (400, object message)",
           stderr=r"refused the request \(HTTP 400: .*score_threshold.*Missing required parameter")
    mock.add_override({"status": 400, "body": {"code": "invalid_param", "message": "Unsupported annotation reply action",
                                               "status": 400}}, match={"kind": "start"}, count=1)
    expect(ctl(sb, "start", "enable", *S_ARGS), 1, "start (400, string message)",
           stderr=r"refused the request \(HTTP 400: Unsupported annotation reply action\)")
    mock.add_override({"fault": "html_502"}, match={"kind": "start"}, count=1)
    expect(ctl(sb, "start", "enable", *S_ARGS), 1, "start (502)", stderr=r"HTTP 502.*nothing was started")
    expect(ctl(sb, "start", "enable", "--endpoint", "dead", *S_ARGS), 1, "start (no connection)",
           stderr=r"cannot reach endpoint 'dead'")
    H.eq(job_files(sb), before, "job files after failed starts")

    # --wait: started, added, and its result printed
    mock.config(next_job_ids=[S["s3"]], default_lifecycle=[["waiting", 0.6], ["completed", None]])
    r = expect(ctl(sb, "start", "disable", "--wait", "--timeout", "60s", *S_ARGS, timeout=int(C.t(90))), 0,
               "start --wait", stdout=r"^started %s \(disable\).*\nJob %s .*complet" % (S["s3"], S["s3"]))
    [e] = C.wait_results(d, 1, job_id=S["s3"])
    H.eq(r.stdout.splitlines()[-1], e["MESSAGE"], "result line of start --wait")


def test_console_fallback(mock):
    """A daemon logging to the console writes no journal entry: wait reports the outcome from
    the state file, with a warning saying why."""
    sb = H.Sandbox(name="ctl-console")
    jid = str(uuid.uuid4())
    mock.add_job(jid, lifecycle=[["waiting", 0.2], ["completed", None]])
    sb.write_config(sb.base_config(mock))
    expect(ctl(sb, "add", "enable", jid), 0, "add (console daemon)")
    d = sb.start_daemon(log_target="console")
    p = expect(ctl(sb, "wait", "--timeout", "60s", jid, timeout=int(C.t(90))), 0, "wait (console daemon)",
               stdout=r"^Job %s \(enable, endpoint 'default'\) completed after \d+ polls? in " % jid,
               stderr=r"warning: the state file has the result")
    d.stop()
    return p


def test():
    sb = H.Sandbox()
    J = {k: str(uuid.uuid4()) for k in ("quick", "err", "later", "forever", "second", "bad")}
    mock = sb.start_mock(keys=(H.KEY, H.KEY2), dify_version="new", jobs=[
        {"job_id": J["quick"], "lifecycle": [["waiting", 0.3], ["completed", None]]},
        {"job_id": J["err"], "action": "disable", "lifecycle": [["waiting", 0.2], ["error", None]],
         "error_msg": "boom"},
        {"job_id": J["later"], "lifecycle": [["waiting", None]]},
        # filed under an app of their own, so that they do not count as running jobs of KEY's
        # app when start tests POST there; old Dify answers status polls whatever the key
        {"job_id": J["forever"], "lifecycle": [["waiting", None]], "app": OTHER_APP, "dify_version": "old"},
        {"job_id": J["second"], "app": H.KEY2, "lifecycle": [["waiting", None]]},
        {"job_id": J["bad"], "lifecycle": [["waiting", None]], "app": OTHER_APP, "dify_version": "old"},
    ])
    conf = sb.base_config(mock, initial="100ms", max_interval="300ms")
    conf["Endpoint:second"] = {"BaseURL": mock.url, "APIKeyFile": sb.write_key("second-key", H.KEY2)}
    conf["Endpoint:badkey"] = {"BaseURL": mock.url, "APIKeyFile": sb.write_key("wrong-key", WRONG_KEY)}
    conf["Endpoint:dead"] = {"BaseURL": "http://127.0.0.1:9/v1", "APIKeyFile": sb.write_key("dead-key", H.KEY)}
    sb.write_config(conf)

    test_usage(sb)
    expect(ctl(sb, "list"), 1, "list without state",
           stderr=r"no state at %s: is jobwatchd running with this --state-dir\?" % re.escape(sb.state_dir))

    d = sb.start_daemon()
    # nothing to show yet: the header only, and []
    p = expect(ctl(sb, "list"), 0, "empty list")
    H.eq(len(p.stdout.splitlines()), 2, "lines of an empty list:\n" + p.stdout)
    H.check(p.stdout.splitlines()[1].startswith("ENDPOINT"), "header of an empty list")
    H.eq(json.loads(expect(ctl(sb, "list", "--json"), 0, "empty list --json").stdout), [], "empty list --json")

    test_add(sb, J)              # the daemon picks the files up while it runs
    test_wait(sb, d, mock, J)
    # the refused key shows as endpoint trouble
    H.wait_until(lambda: sb.state_query("SELECT trouble FROM endpoints WHERE name = 'badkey' AND trouble IS NOT NULL"),
                 C.t(15), what="trouble recorded for endpoint badkey")
    test_list(sb, d, J, running=True)
    test_start(sb, d, mock, J)

    d.stop()
    jobs = test_list(sb, d, J, running=False)
    H.check(len(jobs) >= 8, "jobs after the daemon stopped: %d", len(jobs))

    test_console_fallback(mock)

    for out in outputs:
        for k in (H.KEY, H.KEY2, WRONG_KEY):
            H.check(k not in out, "an API key appears in jobwatchctl's output:\n%s", out)


if __name__ == "__main__":
    H.main(test, needs_journal=True)
