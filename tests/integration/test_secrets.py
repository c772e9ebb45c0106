#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The API key stays secret: it is read from a file (not the daemon's argv or environment), and
appears in no journal entry of the daemon or its hooks (with --log-level=debug, through 401s,
redirects, resets, bad bodies, bad job files, errors), not in the daemon's stderr, and not in a
hook's environment or argv (/proc/PID/environ and cmdline, while it runs).  The same for an
endpoint with `AuthHeader=x-api-key: {key}` whose server echoes that header back (in an error
message and in a job's error text).  Also: the hook gets no LANG when the daemon has none."""

import time
import uuid

import harness as H
import jwcheck as C

SECRET = "app-S3cr3tK3yF0rJ0bw4tchT3st"


def proc_read(pid, what):
    try:
        with open("/proc/%d/%s" % (pid, what), "rb") as f:
            return f.read()
    except OSError as e:
        raise H.Failure("cannot read /proc/%d/%s: %s" % (pid, what, e))


def test():
    assert len(SECRET) == 28
    sb = H.Sandbox()
    J = {k: str(uuid.uuid4()) for k in ("completed", "auth", "redirect", "reset", "malformed", "error", "unknown")}
    W = {"job_status": "waiting"}
    done = {"job_status": "completed"}
    mock = sb.start_mock(keys=(SECRET,), jobs=[
        {"job_id": J["completed"], "responses": [W, done]},
        {"job_id": J["auth"], "responses": [{"fault": "401"}, {"fault": "403"}, done]},
        {"job_id": J["redirect"], "responses": [{"fault": "redirect"}, done]},
        {"job_id": J["reset"], "responses": [{"fault": "reset"}, done]},
        {"job_id": J["malformed"], "responses": [{"fault": "malformed", "variant": "garbage"}, done]},
        {"job_id": J["error"], "lifecycle": [["error", None]], "error_msg": "embedding failed"},
    ])
    # an endpoint that wants the key in x-api-key, and echoes that header back
    X = {k: str(uuid.uuid4()) for k in ("x_message", "x_error_msg")}
    xmock = sb.start_mock(keys=(SECRET,), args=("--auth-header", "x-api-key"), jobs=[
        {"job_id": X["x_message"], "responses": [{"fault": "echo_auth"}, {"fault": "echo_auth", "status": 400}, done]},
        {"job_id": X["x_error_msg"], "responses": [W, {"fault": "echo_auth", "variant": "error_msg"}]},
    ])
    key_file = sb.write_key("api-key", SECRET)
    hook = sb.recording_hook(sleep=1.0, stdout_lines=["hook says hello"])
    conf = sb.base_config(mock, key_file, hook=hook, initial="100ms", max_interval="300ms")
    conf["Endpoint:xkey"] = {"BaseURL": xmock.url, "APIKeyFile": key_file, "AuthHeader": "x-api-key: {key}",
                             "Header": "X-Client: jobwatch"}
    sb.write_config(conf)
    for k, j in J.items():
        sb.write_job(k, j)
    for k, j in X.items():
        sb.write_job(k, j, endpoint="xkey")
    sb.write_job("broken", text="[Job]\nJobID=%s\nAction=sideways\n" % uuid.uuid4())
    d = sb.start_daemon(args=["--log-level=debug"], env={"LANG": None, "LC_ALL": None, "LC_CTYPE": None})

    # the daemon's own argv and environment
    for what in ("cmdline", "environ"):
        H.check(SECRET.encode() not in proc_read(d.pid, what), "the API key is in the daemon's /proc/PID/%s", what)

    # a hook while it runs
    rec = sb.wait_for_hook_records(1, timeout=C.t(15), finished=False)[0]
    hook_pids = [rec["pid"]]
    environ, cmdline = proc_read(rec["pid"], "environ"), proc_read(rec["pid"], "cmdline")
    H.check(SECRET.encode() not in environ, "the API key is in a running hook's /proc/PID/environ")
    H.check(SECRET.encode() not in cmdline, "the API key is in a running hook's /proc/PID/cmdline")

    C.wait_results(d, len(J) + len(X), timeout=20)
    sb.wait_for_hook_records(len(J) + len(X), timeout=C.t(20))
    d.wait_for_journal(None, len(J) + len(X), timeout=10, MESSAGE_ID=C.HOOK_EXIT)    # the runs are over
    recs = sb.hook_records()
    hook_pids += [r["pid"] for r in recs]
    for r in recs:
        blob = repr(r["proc_environ"]) + repr(r["cmdline"]) + repr(r["env"]) + repr(r["argv"])
        H.check(SECRET not in blob, "the API key reached the hook of %s", r["env"].get("JOBWATCH_JOB_ID"))
        names = {x.split("=", 1)[0] for x in r["proc_environ"]}
        H.check("LANG" not in names, "the hook got LANG though the daemon has none")
    d.stop()

    # every journal entry of the daemon and of the hook processes, every field
    ents = H.journal_entries(pids=d.pids + hook_pids, since=sb.t_wall - 2)
    ents += H.journal_entries(SYSLOG_IDENTIFIER="jobwatchd", since=sb.t_wall - 2)
    H.check(len(ents) > 20, "only %d journal entries to search", len(ents))
    H.check(any(e.get("PRIORITY") == "7" for e in ents), "no debug entries: --log-level=debug had no effect?")
    leaks = [H.format_entry(e) for e in ents if any(SECRET in str(v) for v in e.values())]
    H.eq(leaks, [], "journal entries carrying the API key")
    H.check(SECRET not in d.stderr_text(), "the API key is in the daemon's stderr")
    # the mock did receive it (so the test would see a leak of the real thing)
    H.eq(mock.status_requests(J["completed"])[0]["authorization"], "Bearer " + SECRET, "Authorization")
    echoed = xmock.requests(job_id=X["x_message"], kind="status")
    H.eq([r["status"] for r in echoed], [500, 400, 200], "x-api-key endpoint: the echoes were answered")
    H.eq(echoed[0]["headers"].get("x-api-key"), SECRET, "x-api-key")
    H.check("authorization" not in echoed[0]["headers"], "an Authorization header went to the x-api-key endpoint")


H.main(test, needs_journal=True)
