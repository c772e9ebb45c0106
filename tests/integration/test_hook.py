#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The hook: its environment is exactly the contract's list (no junk from the daemon's own
environment, no NOTIFY_SOCKET, no key); argv as written in Exec= (quotes respected, no shell);
stdin the body of the job's last answer, byte for byte (empty when there was none); each stdout
line a journal entry with JOB_ID (stderr lines at PRIORITY 4); the hook-exit entry with
HOOK_EXIT_STATUS and HOOK_DURATION_USEC; per-job Hook= overrides, an empty Hook= disables; a
missing hook binary gives a hook entry with HOOK_ERROR and the daemon keeps going."""

import base64
import json
import os
import time
import uuid

import harness as H
import jwcheck as C

HOOK_ENV = {"JOBWATCH_JOB_ID", "JOBWATCH_ACTION", "JOBWATCH_STATUS", "JOBWATCH_ERROR", "JOBWATCH_ENDPOINT",
            "JOBWATCH_DESCRIPTION", "JOBWATCH_JOB_FILE", "JOBWATCH_POLLS", "JOBWATCH_DURATION", "PATH", "LANG",
            "JOBWATCH_KIND", "JOBWATCH_REMOTE_STATUS"}  # JOBWATCH_DATASET_ID only for document-indexing
# words after the recording hook's own two, as written in Exec= and as the hook must get them
EXTRA_WORDS = "\"two words\" '$HOME;ls' a;b \"\" end"
EXTRA_ARGV = ["two words", "$HOME;ls", "a;b", "", "end"]


def body(job_id, status, error_msg=""):
    return (json.dumps({"job_id": job_id, "job_status": status, "error_msg": error_msg}) + "\n").encode()


def test():
    sb = H.Sandbox()
    J = {k: str(uuid.uuid4()) for k in ("main", "other_ep", "override", "disabled", "missing", "after",
                                         "timeout_silent", "timeout_waiting")}
    W = {"job_status": "waiting"}
    raw = ('{"job_id": "%s", "job_status": "completed", "error_msg": "", "note": "caf\u00e9 \\u00e9\\t;$HOME"}'
           '\n \n' % J["main"])
    mock = sb.start_mock(keys=(H.KEY, H.KEY2), jobs=[
        {"job_id": J["main"], "responses": [W, {"status": 200, "body_raw": raw, "content_type": "application/json"}]},
        {"job_id": J["other_ep"], "app": H.KEY2, "lifecycle": [["waiting", 0.2], ["error", None]],
         "error_msg": "disk full"},
        {"job_id": J["override"], "responses": [W, {"job_status": "completed"}]},
        {"job_id": J["disabled"], "responses": [W, {"job_status": "completed"}]},
        {"job_id": J["missing"], "responses": [W, {"job_status": "completed"}]},
        {"job_id": J["after"], "responses": [W, {"job_status": "completed"}]},
        {"job_id": J["timeout_waiting"], "lifecycle": [["waiting", None]]},
    ])
    main_hook = sb.recording_hook("record", exit_code=3, sleep=0.3, stdout_lines=["hello from the hook", "second line"],
                                  stderr_lines=["a warning line"]) + " " + EXTRA_WORDS
    other_hook = sb.recording_hook("other")
    conf = sb.base_config(mock, hook=main_hook, initial="100ms", max_interval="300ms")
    conf["Hook"]["AllowJobHooks"] = "yes"   # job files here may set Hook=
    conf["Endpoint:other"] = {"BaseURL": mock.url, "APIKeyFile": sb.write_key("key2", H.KEY2)}
    conf["Endpoint:dead"] = {"BaseURL": "http://127.0.0.1:9/v1", "APIKeyFile": conf["Endpoint"]["APIKeyFile"]}
    sb.write_config(conf)
    files = {
        "main": sb.write_job("main", J["main"], description="Nightly re-index"),
        "other_ep": sb.write_job("other_ep", J["other_ep"], endpoint="other"),
        "override": sb.write_job("override", J["override"], hook=other_hook),
        "disabled": sb.write_job("disabled", J["disabled"], hook=""),
        "missing": sb.write_job("missing", J["missing"], hook="/nonexistent/jobwatch-hook --flag"),
        "timeout_silent": sb.write_job("timeout_silent", J["timeout_silent"], endpoint="dead", timeout="1s"),
        "timeout_waiting": sb.write_job("timeout_waiting", J["timeout_waiting"], timeout="1s"),
    }
    env = {"LANG": "C.UTF-8", "HOME": "/nonexistent/home-of-the-test", "USER": "junk-user",
           "JOBWATCH_TEST_JUNK": "junk", "LC_ALL": "C", "SHELL": "/bin/false", "MAIL": "x", "TERM": "dumb",
           "JOBWATCH_JOB_ID": "not-from-the-daemon-env"}
    d = sb.start_daemon(env=env)

    # the missing hook binary does not stop the daemon: a job added afterwards works
    hx = d.wait_for_journal(None, 1, C.t(10), MESSAGE_ID=C.HOOK_EXIT, JOB_ID=J["missing"])[0]
    files["after"] = sb.write_job("after", J["after"])
    C.wait_results(d, len(J), timeout=15)
    res = C.assert_one_result_each(d, list(J.values()))
    want_main = sorted(J[k] for k in ("main", "other_ep", "after", "timeout_silent", "timeout_waiting"))
    recs = sb.wait_for_hook_records(len(want_main), timeout=C.t(15))
    others = sb.wait_for_hook_records(1, timeout=C.t(10), name="other")
    H.quiet(0.5, "no hook runs twice")
    recs, others = sb.hook_records(), sb.hook_records("other")
    soft = C.Soft()
    soft.eq(sorted(r["env"]["JOBWATCH_JOB_ID"] for r in recs), want_main, "jobs whose [Hook] Exec= ran (once each)")
    soft.eq([r["env"]["JOBWATCH_JOB_ID"] for r in others], [J["override"]], "jobs whose Hook= override ran")
    rec = {r["env"]["JOBWATCH_JOB_ID"]: r for r in recs + others}

    # environment: exactly the contract's list
    for k, r in rec.items():
        names = sorted(x.split("=", 1)[0] for x in r["proc_environ"])
        soft.eq(names, sorted(HOOK_ENV), "hook environment of %s (names)" % k)
        soft.eq(len(names), len(set(names)), "duplicate variables in the hook environment of %s" % k)
        e = dict(x.split("=", 1) for x in r["proc_environ"])
        rs = res[k]
        soft.eq(e.get("JOBWATCH_JOB_ID"), k, "JOBWATCH_JOB_ID")
        soft.eq(e.get("JOBWATCH_ACTION"), "enable", "JOBWATCH_ACTION of %s" % k)
        soft.eq(e.get("JOBWATCH_STATUS"), rs["JOB_STATUS"], "JOBWATCH_STATUS of %s" % k)
        soft.eq(e.get("JOBWATCH_ERROR"), rs.get("JOB_ERROR", ""), "JOBWATCH_ERROR of %s" % k)
        soft.eq(e.get("JOBWATCH_ENDPOINT"), rs["JOB_ENDPOINT"], "JOBWATCH_ENDPOINT of %s" % k)
        soft.eq(e.get("JOBWATCH_JOB_FILE"), rs["JOB_FILE"], "JOBWATCH_JOB_FILE of %s" % k)
        soft.check(os.path.isabs(e.get("JOBWATCH_JOB_FILE", "")), "JOBWATCH_JOB_FILE is not a full path")
        soft.eq(e.get("JOBWATCH_POLLS"), rs["JOB_POLLS"], "JOBWATCH_POLLS of %s" % k)
        soft.eq(e.get("JOBWATCH_KIND"), "annotation-reply", "JOBWATCH_KIND of %s" % k)
        soft.eq(e.get("JOBWATCH_REMOTE_STATUS"), rs.get("JOB_REMOTE_STATUS", ""), "JOBWATCH_REMOTE_STATUS of %s" % k)
        dur = int(rs["JOB_DURATION_USEC"]) / 1e6
        soft.check(e.get("JOBWATCH_DURATION", "").isdigit() and abs(int(e["JOBWATCH_DURATION"]) - dur) <= 1.01,
                   "JOBWATCH_DURATION of %s is %r, JOB_DURATION_USEC says %.3fs", k, e.get("JOBWATCH_DURATION"), dur)
        soft.eq(e.get("LANG"), "C.UTF-8", "LANG (the daemon has it)")
        soft.check(e.get("PATH"), "PATH empty")
    soft.eq(dict(x.split("=", 1) for x in rec[J["main"]]["proc_environ"]).get("JOBWATCH_DESCRIPTION"),
            "Nightly re-index", "JOBWATCH_DESCRIPTION")
    soft.eq(dict(x.split("=", 1) for x in rec[J["other_ep"]]["proc_environ"]).get("JOBWATCH_DESCRIPTION"),
            "", "JOBWATCH_DESCRIPTION without a description")
    soft.eq(rec[J["other_ep"]]["env"].get("JOBWATCH_ENDPOINT"), "other", "JOBWATCH_ENDPOINT of a named endpoint")
    soft.eq(rec[J["main"]]["env"].get("JOBWATCH_ENDPOINT"), "default", "JOBWATCH_ENDPOINT of [Endpoint]")
    soft.eq(rec[J["other_ep"]]["env"].get("JOBWATCH_ERROR"), "disk full", "JOBWATCH_ERROR")

    # argv as written, no shell
    script = os.path.join(sb.hooks_dir, "record-hook")
    for k in want_main:
        soft.eq(rec[k]["argv"][3:], EXTRA_ARGV, "hook argv after the first words (job %s)" % k)
        soft.eq(rec[k]["argv"][0], script, "argv[0]")
    soft.eq(rec[J["override"]]["argv"][3:], [], "argv of the Hook= override")

    # stdin: the last answer, byte for byte; empty when there was none
    def stdin(k):
        return base64.b64decode(rec[k]["stdin_b64"])
    soft.eq(stdin(J["main"]), raw.encode(), "stdin of the hook of %s" % J["main"])
    soft.eq(stdin(J["other_ep"]), body(J["other_ep"], "error", "disk full"), "stdin (error job)")
    soft.eq(stdin(J["after"]), body(J["after"], "completed"), "stdin (completed job)")
    soft.eq(stdin(J["timeout_silent"]), b"", "stdin of a job that timed out with no answer")
    soft.eq(stdin(J["timeout_waiting"]), body(J["timeout_waiting"], "waiting"),
            "stdin of a job that timed out after 'waiting' answers (its last answer)")
    for k, r in rec.items():
        soft.check(r["stdin_eof"], "hook of %s: stdin not closed", k)

    # output lines and the exit entry
    lines = d.journal(JOB_ID=J["main"], MESSAGE_ID=C.MID["HOOK_OUTPUT"])
    got = sorted((e["MESSAGE"], e["PRIORITY"]) for e in lines)
    soft.eq(got, sorted([("hello from the hook", "6"), ("second line", "6"), ("a warning line", "4")]),
            "hook output entries (MESSAGE, PRIORITY) of %s" % J["main"])
    exits = C.by_job(d.journal(MESSAGE_ID=C.HOOK_EXIT))
    for k in want_main + [J["override"]]:
        soft.eq(len(exits.get(k, [])), 1, "hook-exit entries of %s" % k)
    e = exits[J["main"]][0]
    soft.eq(e.get("HOOK_EXIT_STATUS"), "3", "HOOK_EXIT_STATUS")
    soft.check("HOOK_SIGNAL" not in e, "HOOK_SIGNAL in %s", e)
    dur = int(e.get("HOOK_DURATION_USEC", "0")) / 1e6
    soft.check(0.3 <= dur <= C.t(10), "HOOK_DURATION_USEC %.3fs for a hook that sleeps 0.3 s", dur)
    soft.eq(exits[J["override"]][0].get("HOOK_EXIT_STATUS"), "0", "HOOK_EXIT_STATUS of the override")
    # no hook at all for Hook= (empty)
    soft.check(J["disabled"] not in exits, "a hook-exit entry for a job with Hook= empty: %s", exits.get(J["disabled"]))
    # the missing binary
    soft.check(hx.get("HOOK_ERROR"), "no HOOK_ERROR in the entry of a missing hook binary: %s", H.format_entry(hx))
    soft.check("HOOK_EXIT_STATUS" not in hx, "HOOK_EXIT_STATUS for a hook that never ran: %s", H.format_entry(hx))
    soft.eq(len(exits.get(J["missing"], [])), 1, "hook entries for the missing binary")
    soft.check(d.is_running(), "jobwatchd is not running")
    soft.done()
    d.stop()


H.main(test, needs_journal=True)
