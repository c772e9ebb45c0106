#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""[Kind:NAME] sections and an endpoint's AuthHeader=/Header= in `jobwatchd --check`: every
mistake is one FILE:LINE line (a built-in kind's name, an unknown placeholder, a bad JSON pointer,
no StatusPath=/StatusField=/Completed=, AuthHeader= without {key}, a header the HTTP layer owns,
a Header= naming the auth header, a status a drop-in puts into a second list, reported in the
drop-in); the keys of a section with an invalid name are not reported one by one; a drop-in
that completes a kind makes the configuration valid; the daemon refuses to start on such
errors, naming FILE:LINE."""

import os
import re
import subprocess

import harness as H
import jwcheck as C


def run(sb, *args, config):
    argv = H.shlex.split(os.environ.get("JOBWATCHD_WRAPPER", "")) + [
        H.find_jobwatchd(), "--config", config, "--jobs-dir", sb.jobs_dir,
        "--state-dir", sb.state_dir] + list(args)
    return subprocess.run(argv, capture_output=True, text=True, timeout=C.t(30), env=H._clean_env(),
                          stdin=subprocess.DEVNULL)


def test():
    sb = H.Sandbox()
    key = sb.write_key("api-key", H.KEY)
    conf = sb.path("kinds.conf")
    dropins = conf + ".d"
    os.makedirs(dropins)
    H.write_file(conf, "\n".join([
        "[Endpoint]",                                  # 1
        "BaseURL=http://127.0.0.1:9/v1",
        "APIKeyFile=%s" % key,
        "AuthHeader=x-api-key: abc",                   # 4
        "Header=Host: evil.example",                   # 5
        "",
        "[Endpoint:x]",                                # 7
        "BaseURL=http://127.0.0.1:9/v1",
        "APIKeyFile=%s" % key,
        "AuthHeader=x-api-key: {key}",
        "Header=X-API-Key: 1",                         # 11
        "Header=X-Bad: a{key}",                        # 12
        "",
        "[Kind:Workflow-Run]",                         # 14
        "StatusPath=/x/{id}",
        "",
        "[Kind:bad name!]",                            # 17
        "StatusPath=/x",
        "Whatever=1",
        "",
        "[Kind:batch]",                                # 21
        "StatusPath=/batches/{id}/{foo}",              # 22
        "StatusField=status",                          # 23
        "Failed=failed expired",                       # 24
        "GoneStatus=404 401",                          # 25
        "",
        "[Kind:ok]",                                   # 27
        "StatusPath=/jobs/{Region}/{id}",
        "StatusField=/state",
        "Completed=done",
        ""]))
    dropin = os.path.join(dropins, "50-batch.conf")
    H.write_file(dropin, "[Kind:batch]\nRunning=validating\nRunning=expired\n")
    p = run(sb, "--check", config=conf)
    H.note("--check:\n%s%s", p.stdout, p.stderr)
    H.eq(p.returncode, 1, "--check exit status")
    expected = [
        (conf, 4, "Invalid AuthHeader= value 'x-api-key: abc': the value must contain {key} exactly once"),
        (conf, 5, "Invalid Header= value 'Host: evil.example': that header is set by the HTTP layer"),
        (conf, 12, "Invalid Header= value 'X-Bad: a{key}': {key} belongs in AuthHeader= only"),
        (conf, 14, "[Kind:Workflow-Run] clashes with the built-in kind 'workflow-run'"),
        (conf, 17, "Invalid kind name 'bad name!' in [Kind:NAME]"),
        (conf, 22, "Invalid StatusPath= value '/batches/{id}/{foo}': unknown placeholder '{foo}'"),
        (conf, 23, "Invalid StatusField= value 'status', expected a JSON pointer (RFC 6901)"),
        (conf, 25, "Invalid GoneStatus= value '404 401'"),
        (conf, 11, "Header= names 'X-API-Key', the header AuthHeader= carries the key in"),
        (conf, 21, "[Kind:batch] has no StatusPath="),
        (conf, 21, "[Kind:batch] has no StatusField="),
        (conf, 21, "[Kind:batch] has no Completed= status"),
        (dropin, 3, "Status 'expired' is in both Failed= (line 24 of %s) and Running= (line 3) of [Kind:batch]"
         % conf),
    ]
    lines = [ln for ln in p.stdout.splitlines() if ln.strip()]
    for f, n, msg in expected:
        hits = [ln for ln in lines if ln.startswith("%s:%d: " % (f, n)) and msg in ln]
        H.eq(len(hits), 1, "--check lines '%s:%d: ...%s...'" % (f, n, msg))
    H.eq(lines[-1], "%d errors, 0 warnings." % len(expected), "--check summary")
    H.eq(len(lines), len(expected) + 1, "--check lines (nothing for the keys of [Kind:bad name!])")
    H.check(H.KEY not in p.stdout + p.stderr, "the API key is in --check's output")

    # the daemon refuses to start, naming FILE:LINE
    p = run(sb, "--log-target=console", config=conf)
    H.check(p.returncode != 0, "jobwatchd started with invalid kinds")
    H.check("%s:22: " % conf in p.stderr, "the start failure does not name %s:22: %r", conf, p.stderr)

    # fixed: each mistake corrected, a drop-in completing [Kind:batch]
    text = open(conf).read()
    for a, b in (("AuthHeader=x-api-key: abc", "AuthHeader=x-api-key: {key}"),
                 ("Header=Host: evil.example", "Header=anthropic-version: 2023-06-01"),
                 ("Header=X-API-Key: 1", "Header=X-Other: 1"), ("Header=X-Bad: a{key}", "Header="),
                 ("[Kind:Workflow-Run]", "[Kind:workflow]"), ("[Kind:bad name!]", "[Kind:bad]"),
                 ("StatusPath=/x\n", "StatusPath=/x/{id}\nStatusField=/s\nCompleted=ok\n"),
                 ("{foo}", "{Region}"), ("StatusField=status", "StatusField=/status"),
                 ("GoneStatus=404 401", "GoneStatus=404 410"), ("Whatever=1\n", "")):
        H.check(a in text, "%r not in the config", a)
        text = text.replace(a, b)
    text = text.replace("StatusPath=/x/{id}\n\n", "StatusPath=/x/{id}\nStatusField=/s\nCompleted=ok\n\n")
    H.write_file(conf, text)
    H.write_file(dropin, "[Kind:batch]\nRunning=validating in_progress\nCompleted=completed\n")
    p = run(sb, "--check", config=conf)
    H.note("--check (fixed):\n%s%s", p.stdout, p.stderr)
    H.expect_run(p, 0, "--check of the fixed config", stdout=r"Configuration OK")
    H.check(not re.search(r"^\S+:\d+: ", p.stdout, re.M), "--check still reports: %r", p.stdout)


H.main(test, needs_journal=False)
