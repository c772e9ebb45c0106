#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Configuration: an unknown key is a warning naming FILE:LINE (journal and --check) and the
daemon runs; drop-ins in jobwatch.conf.d/*.conf override the main file in lexical order (later
wins; other names ignored); a missing -c file, or an invalid value, stops the start with a
non-zero exit and a one-line reason (FILE:LINE for the value); an http:// BaseURL to a host that
is not loopback gets a warning in --check output; [Endpoint:default] is refused; time spans
are read as systemd reads them (+2s is taken, 1. and 2. ms are not)."""

import os
import re
import subprocess
import uuid

import harness as H
import jwcheck as C


def jobwatchd(sb, *args, config=None):
    argv = H.shlex.split(os.environ.get("JOBWATCHD_WRAPPER", "")) + [
        H.find_jobwatchd(), "--config", config or sb.conf, "--jobs-dir", sb.jobs_dir,
        "--state-dir", sb.state_dir] + list(args)
    return subprocess.run(argv, capture_output=True, text=True, timeout=C.t(30), env=H._clean_env(),
                          stdin=subprocess.DEVNULL)


def line_of(path, pattern):
    with open(path) as f:
        for i, ln in enumerate(f.read().splitlines(), 1):
            if re.search(pattern, ln):
                return i
    raise H.Failure("%r not in %s" % (pattern, path))


def test():
    sb = H.Sandbox()
    job = str(uuid.uuid4())
    W = {"job_status": "waiting"}
    mock = sb.start_mock(jobs=[{"job_id": job, "responses": [W, W, W, {"job_status": "completed"}]}])
    key = sb.write_key("api-key", H.KEY)

    # main file: a dead BaseURL and slow polling, an unknown key; the drop-ins fix both
    sb.write_config("\n".join([
        "# main file",
        "[Daemon]",
        "JobsDirectory=%s" % sb.jobs_dir,
        "",
        "[Poll]",
        "InitialInterval=5s",
        "MaxInterval=10s",
        "Multiplier=1.5",
        "Jitter=0",
        "PollHarder=yes",
        "",
        "[Endpoint]",
        "BaseURL=http://127.0.0.1:9/v1",
        "APIKeyFile=%s" % key,
        "",
        "[Endpoint:remote]",
        "# a plain-http endpoint on another host: the key travels in clear",
        "BaseURL=http://dify.example.com/v1",
        "APIKeyFile=%s" % key,
        "",
        "[Endpoint:secure]",
        "BaseURL=https://dify.example.com/v1",
        "APIKeyFile=%s" % key,
        "",
        "[Endpoint:local]",
        "BaseURL=http://localhost:8080/v1",
        "APIKeyFile=%s" % key,
        ""]))
    unknown_line = line_of(sb.conf, r"^PollHarder=")
    sb.write_dropin("10-first", {"Poll": {"InitialInterval": "3s"}, "Endpoint": {"BaseURL": "http://127.0.0.1:9/v2"}})
    sb.write_dropin("20-second", {"Poll": {"InitialInterval": "100ms"}, "Endpoint": {"BaseURL": mock.url}})
    H.write_file(os.path.join(sb.conf_d, "30-not-a-dropin.txt"), "[Poll]\nInitialInterval=7s\n")
    H.write_file(os.path.join(sb.conf_d, ".40-hidden.conf"), "[Poll]\nInitialInterval=7s\n")
    sb.write_job("job", job)

    # --check: the warnings with FILE:LINE
    p = jobwatchd(sb, "--check")
    out = p.stdout + p.stderr
    H.note("jobwatchd --check:\n%s", out)
    H.check("%s:%d: " % (sb.conf, unknown_line) in out and "PollHarder" in out,
            "--check does not report the unknown key as %s:%d: ...", sb.conf, unknown_line)
    remote = [ln for ln in out.splitlines() if "dify.example.com" in ln and "http://" in ln]
    H.eq(len(remote), 1, "--check lines warning about http://dify.example.com")
    H.check(any("%s:%d: " % (sb.conf, n) in remote[0] for n in
                (line_of(sb.conf, r"^\[Endpoint:remote\]"), line_of(sb.conf, r"^BaseURL=http://dify"))),
            "the plain-http warning does not name %s and the line of [Endpoint:remote] or its BaseURL=: %r",
            sb.conf, remote[0])
    for ok in ("https://dify.example.com", "localhost:8080", mock.url):
        H.check(not [ln for ln in out.splitlines() if ok in ln], "--check warns about %s", ok)

    # the daemon: the unknown key is a warning in the journal, the drop-ins win
    d = sb.start_daemon()
    warn = [e for e in d.journal() if e.get("MESSAGE", "").startswith("%s:%d: " % (sb.conf, unknown_line))]
    H.check(len(warn) == 1 and "PollHarder" in warn[0]["MESSAGE"] and warn[0].get("PRIORITY") == "4",
            "journal: expected one warning '%s:%d: ...PollHarder...' at PRIORITY 4, got %s", sb.conf,
            unknown_line, [(e["MESSAGE"], e.get("PRIORITY")) for e in warn])
    [res] = C.wait_results(d, 1, timeout=10)
    H.eq(res["JOB_STATUS"], "completed", "outcome with the drop-ins' BaseURL")
    times = mock.poll_times(job)
    H.check(len(times) >= 3 and all(g < H.t(1.0) for g in H.gaps(times)),
            "poll gaps %s: the last drop-in's InitialInterval=100ms did not win", ["%.3f" % g for g in H.gaps(times)])
    d.stop()

    soft = C.Soft()
    # a missing -c file: non-zero, one line on stderr naming it
    missing = sb.path("no-such.conf")
    p = jobwatchd(sb, "--log-target=console", config=missing)
    err = [ln for ln in p.stderr.splitlines() if ln.strip()]
    H.note("missing config: rc %d, stderr %r", p.returncode, p.stderr)
    soft.check(p.returncode != 0, "jobwatchd -c %s exited 0", missing)
    soft.check(len(err) == 1 and missing in err[0], "expected a one-line reason naming %s on stderr, got %r",
               missing, err)

    # an invalid value: non-zero, FILE:LINE
    bad = sb.path("bad.conf")
    H.write_file(bad, "[Poll]\nInitialInterval=banana\n[Endpoint]\nBaseURL=%s\nAPIKeyFile=%s\n" % (mock.url, key))
    p = jobwatchd(sb, "--log-target=console", config=bad)
    H.note("invalid value: rc %d, stderr %r", p.returncode, p.stderr)
    soft.check(p.returncode != 0, "jobwatchd started with InitialInterval=banana")
    soft.check("%s:2: " % bad in p.stderr, "the reason does not name %s:2", bad)
    p = jobwatchd(sb, "--check", config=bad)
    soft.eq(p.returncode, 1, "--check exit status with an invalid value")
    soft.check(re.search(r"^%s:2: " % re.escape(bad), p.stdout, re.M), "--check: no line %s:2: ...: %r", bad, p.stdout)

    # [Endpoint:default] is refused: "default" names the unnamed [Endpoint]
    dflt = sb.path("default.conf")
    H.write_file(dflt, "[Endpoint:default]\nBaseURL=%s\nAPIKeyFile=%s\n" % (mock.url, key))
    p = jobwatchd(sb, "--check", config=dflt)
    H.note("[Endpoint:default]: rc %d, %r", p.returncode, p.stdout + p.stderr)
    soft.eq(p.returncode, 1, "--check exit status with [Endpoint:default]")
    soft.check("%s:1: " % dflt in p.stdout + p.stderr, "[Endpoint:default] not reported at %s:1", dflt)

    # time spans parse exactly as systemd parses them (`systemd-analyze timespan`): a leading
    # '+' is taken, a dot needs a digit after it, a minus sign is refused
    empty_jobs = sb.path("no-jobs.d")
    os.makedirs(empty_jobs, exist_ok=True)
    span = sb.path("span.conf")
    for value, ok in (("+2s", True), ("+1.5s", True), ("1min +30s", True), ("1.", False),
                      ("2. ms", False), ("5.s", False), ("-1s", False)):
        H.write_file(span, "[Poll]\nInitialInterval=%s\nMaxInterval=2min\n[Endpoint]\nBaseURL=%s\n"
                     "APIKeyFile=%s\n" % (value, mock.url, key))
        argv = H.shlex.split(os.environ.get("JOBWATCHD_WRAPPER", "")) + [
            H.find_jobwatchd(), "--config", span, "--jobs-dir", empty_jobs, "--state-dir", sb.state_dir,
            "--check"]
        p = subprocess.run(argv, capture_output=True, text=True, timeout=C.t(30), env=H._clean_env(),
                           stdin=subprocess.DEVNULL)
        soft.eq(p.returncode, 0 if ok else 1, "--check exit status with InitialInterval=%s (%r)"
                % (value, p.stdout + p.stderr))
        if not ok:
            soft.check(re.search(r"^%s:2: .*InitialInterval" % re.escape(span), p.stdout, re.M),
                       "--check: no line %s:2: for InitialInterval=%s: %r", span, value, p.stdout)

    soft.done()


H.main(test, needs_journal=True)
