#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Text from outside (issue 10, "Text from outside"; README "Guarantees", jobwatchd(8) "TEXT FROM
OUTSIDE").

A server answers error_msg, an unknown job_status and a 5xx message full of terminal escapes
(ESC[2J, CR, LF, BEL, DEL, the C1 control U+009B); a job file's name holds ESC and U+009B; a
bad job file has a line without '=' that starts with an OSC escape and goes on with a long tail;
a hook prints the hostile text.  Then:
  - the console log (--log-target=console, captured stderr) and `jobwatchd --check` stdout hold
    no raw C0 (but the newline ending each line), DEL or C1 control, and show the escapes as
    \\xNN; valid UTF-8 (é, 中文) is kept;
  - every MESSAGE= of the daemon's journal entries is clean the same way;
  - JOB_ERROR and JOB_FILE keep the exact bytes, and so do the hook's JOBWATCH_ERROR and
    JOBWATCH_JOB_FILE;
  - the "Missing '='" error quotes at most 32 bytes of the bad line, "…" marking the cut;
  - `jobwatchctl list` is clean; `list --json` is valid JSON, clean on a terminal (controls
    \\u-escaped), and decodes to the exact text; `jobwatchctl wait` prints a clean line, also
    for a result entry whose MESSAGE holds raw controls (written here through journald's
    native protocol); `jobwatchctl start` shows a server's job_status and 5xx message escaped.
"""

import json
import os
import re
import subprocess
import uuid

import harness as H

RESULT = "a39a5dfed5e2428daa11a29b4bba0de2"
HOOK_OUTPUT = "11a9ad878bc143e48d409d7019067f13"
INVALID = "3a2a5bbed42b4498a24219f52e0b9205"

# ESC[2J clears the screen, CR LF forge a line, U+009B is CSI in one (C1) character, BEL, DEL
HOSTILE = "café 中文 \x1b[2J\r\nFORGED line\u009b31m\x07\x7f end"
STATUS = "weird\x1b[5m\u009b"
SERVER_MSG = "Internal \x1b]0;owned\x07 Error\r\nFORGED\u0085"
SECRET_TAIL = "TAILSECRET" * 8
BAD_LINE = "\x1b]0;pwned\x07" + "x" * 10 + "y" * 12 + SECRET_TAIL


def uid():
    return str(uuid.uuid4())


def raw_controls(data):
    """Positions and values of raw C0 (but the newline), DEL and C1 controls in bytes DATA
    (C1 both as UTF-8 and as a raw byte)."""
    bad = []
    text = data.decode("utf-8", "surrogateescape")
    for i, ch in enumerate(text):
        o = ord(ch)
        if (o < 0x20 and ch != "\n") or o == 0x7f or 0x80 <= o <= 0x9f or 0xdc80 <= o <= 0xdc9f:
            bad.append((i, hex(o if o < 0xdc00 else o - 0xdc00)))
    return bad


def check_clean(what, data, allow_newline=True):
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogateescape")
    if not allow_newline and b"\n" in data:
        raise H.Failure("%s holds a raw newline: %r" % (what, data[:300]))
    bad = raw_controls(data)
    H.check(not bad, "%s holds raw control characters %s: %r", what, bad[:10], data[:400])


def setup(sb, mock, hook):
    """The jobs: E errors after a hostile 5xx and a hostile unknown status (its file name is
    hostile); W stays on the hostile unknown status; a bad file has a hostile line."""
    J = {"E": uid(), "W": uid()}
    mock.add_job(J["E"], lifecycle=[["waiting", None]], responses=[
        {"status": 500, "body": {"message": SERVER_MSG, "code": "unknown", "status": 500}},
        {"job_status": STATUS},
        {"job_status": STATUS},
        {"job_status": "error", "error_msg": HOSTILE},
    ])
    mock.add_job(J["W"], lifecycle=[["waiting", None]], responses=[{"job_status": STATUS}])
    sb.write_config(sb.base_config(mock, hook=hook, initial="100ms", max_interval="300ms"))
    paths = {
        "E": sb.write_job("evil\x1b[31mname\u009b", J["E"]),
        "W": sb.write_job("waits", J["W"]),
        "bad": sb.write_job("bad", text="[Job]\nJobID=%s\nAction=enable\n%s\n" % (uid(), BAD_LINE)),
    }
    return J, paths


def check_bad_line_quote(what, text):
    """The "Missing '='" error names the line and quotes at most 32 escaped bytes of it."""
    lines = [ln for ln in text.splitlines() if "Missing '='" in ln]
    H.check(lines, "%s: no \"Missing '='\" error:\n%s", what, text[-3000:])
    for ln in lines:
        H.check("TAIL" not in ln,
                "%s quotes the tail of the bad line: %r", what, ln)
        m = re.search(r"Missing '=' in '([^']*)'", ln)
        H.check(m, "%s: no quote in %r", what, ln)
        # 32 bytes of input: the OSC escape (10 bytes, 2 of them escaped), then 22 more
        want = "\\x1b]0;pwned\\x07" + "x" * 10 + "y" * 12 + "…"
        H.eq(m.group(1), want, "%s: the quote of the bad line" % what)


def journal_send(**fields):
    """One entry through journald's native protocol, binary-safe (a value with a newline
    goes as KEY, a 64-bit length and the bytes)."""
    import socket
    import struct
    out = b""
    for k, v in fields.items():
        v = v.encode() if isinstance(v, str) else v
        if b"\n" in v:
            out += k.encode() + b"\n" + struct.pack("<Q", len(v)) + v + b"\n"
        else:
            out += k.encode() + b"=" + v + b"\n"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as so:
        so.sendto(out, "/run/systemd/journal/socket")


def run_check(sb):
    argv = H.shlex.split(os.environ.get("JOBWATCHD_WRAPPER", "")) + [
        H.find_jobwatchd(), "--check", "--config", sb.conf, "--jobs-dir", sb.jobs_dir,
        "--state-dir", sb.state_dir]
    p = subprocess.run(argv, capture_output=True, timeout=60, env=H._clean_env())
    return p.returncode, p.stdout, p.stderr


def part_journal():
    sb = H.Sandbox()
    mock = sb.start_mock()
    hook = sb.recording_hook(stdout_lines=[HOSTILE])
    J, paths = setup(sb, mock, hook)

    # --check (the README says to run it as root) before anything runs
    rc, out, err = run_check(sb)
    H.note("--check stdout: %r", out)
    H.eq(rc, 1, "--check exit status with a bad job file")
    check_clean("--check stdout", out)
    check_clean("--check stderr", err)
    check_bad_line_quote("--check", out.decode("utf-8", "replace"))

    d = sb.start_daemon()
    [res] = d.wait_for_results(1, timeout=30, job_id=J["E"])
    H.eq(res["JOB_STATUS"], "error", "outcome of the job")
    H.eq(res.get("JOB_ERROR"), HOSTILE, "JOB_ERROR keeps the exact bytes")
    H.eq(res.get("JOB_FILE"), paths["E"], "JOB_FILE keeps the exact bytes")
    H.check("\\x1b[2J\\x0d\\x0aFORGED line\\xc2\\x9b31m\\x07\\x7f end" in res["MESSAGE"]
            and "café 中文" in res["MESSAGE"],
            "the result's MESSAGE does not show the error escaped: %r", res["MESSAGE"])

    recs = sb.wait_for_hook_records(1, timeout=20)
    env = dict(x.split("=", 1) for x in recs[0]["proc_environ"])
    H.eq(env.get("JOBWATCH_ERROR"), HOSTILE, "JOBWATCH_ERROR keeps the exact bytes")
    H.eq(env.get("JOBWATCH_JOB_FILE"), paths["E"], "JOBWATCH_JOB_FILE keeps the exact bytes")
    d.wait_for_journal(lambda e: e.get("MESSAGE_ID") == HOOK_OUTPUT, 1, timeout=15)

    # W is seen with its unknown status (a warning naming it) before we look
    d.wait_for_journal(lambda e: "weird" in e.get("MESSAGE", "") and J["W"] in e.get("MESSAGE", ""),
                       1, timeout=15)
    ents = d.journal()
    H.check(any("Missing '='" in e.get("MESSAGE", "") for e in ents), "no Missing '=' entry")
    H.check(any("Internal \\x1b]0;owned\\x07 Error" in e.get("MESSAGE", "") for e in ents),
            "the 5xx message is not logged, escaped")
    H.check(any("evil\\x1b[31mname\\xc2\\x9b.job" in e.get("MESSAGE", "") for e in ents),
            "the hostile file name is not logged, escaped")
    for e in ents:
        check_clean("MESSAGE of %s" % e.get("MESSAGE_ID", "an entry"), e.get("MESSAGE", ""),
                    allow_newline=False)
    check_bad_line_quote("journal", "\n".join(e.get("MESSAGE", "") for e in ents))
    hook_lines = [e for e in ents if e.get("MESSAGE_ID") == HOOK_OUTPUT]
    H.check(hook_lines and "\\x1b[2J" in hook_lines[0]["MESSAGE"],
            "the hook's output line is not logged, escaped: %s", hook_lines)

    # jobwatchctl list: clean text; JSON valid, clean, and exact once decoded
    p = sb.run_ctl("list")
    H.note("list: %r", p.stdout)
    check_clean("jobwatchctl list", p.stdout)
    check_clean("jobwatchctl list (stderr)", p.stderr)
    H.check(J["E"] in p.stdout and J["W"] in p.stdout, "list does not show the jobs: %r", p.stdout)
    p = sb.run_ctl("list", "--json")
    check_clean("jobwatchctl list --json", p.stdout)
    rows = json.loads(p.stdout)
    rows = rows if isinstance(rows, list) else rows.get("jobs", rows)
    byid = {r["job_id"]: r for r in rows}
    H.eq(byid[J["E"]]["error"], HOSTILE, "list --json error, decoded")
    H.eq(byid[J["E"]]["file"], os.path.basename(paths["E"]), "list --json file (its name), decoded")

    # jobwatchctl wait: the result line, clean
    p = sb.run_ctl("wait", "--timeout=10s", J["E"], timeout=30)
    H.note("wait: rc %d, %r / %r", p.returncode, p.stdout, p.stderr)
    H.check(J["E"] in p.stdout, "wait does not print the result of E: %r", p.stdout)
    check_clean("jobwatchctl wait", p.stdout)
    check_clean("jobwatchctl wait (stderr)", p.stderr)

    # jobwatchctl wait on its own: a result entry whose MESSAGE is raw (as another writer,
    # or an older jobwatchd, may have left it) is printed escaped
    X = uid()
    journal_send(MESSAGE="Job %s ended: " % X + HOSTILE, MESSAGE_ID=RESULT, JOB_ID=X,
                 JOB_STATUS="error", JOB_ACTION="enable", JOB_ENDPOINT="default",
                 SYSLOG_IDENTIFIER="jobwatchd", PRIORITY="3")
    p = sb.run_ctl("wait", "--timeout=10s", X, timeout=30)
    H.note("wait (raw entry): rc %d, %r / %r", p.returncode, p.stdout, p.stderr)
    check_clean("jobwatchctl wait, raw entry", p.stdout)
    H.check("FORGED line\\xc2\\x9b31m\\x07\\x7f end" in p.stdout and "café 中文" in p.stdout,
            "wait does not print the raw entry escaped: %r", p.stdout)

    # jobwatchctl start: a server's job_status and a 5xx message, shown escaped
    start = ["start", "enable", "--score-threshold", "0.9", "--embedding-provider", "p",
             "--embedding-model", "m"]
    mock.add_override({"status": 200, "body": {"job_id": uid(), "job_status": STATUS}},
                      match={"kind": "start"}, count=1)
    p = sb.run_ctl(*start)
    H.note("start: rc %d, %r / %r", p.returncode, p.stdout, p.stderr)
    check_clean("jobwatchctl start", p.stdout)
    check_clean("jobwatchctl start (stderr)", p.stderr)
    H.check("weird\\x1b[5m\\xc2\\x9b" in p.stdout, "start does not show the status escaped: %r",
            p.stdout)
    mock.add_override({"status": 500, "body": {"message": SERVER_MSG, "code": "unknown", "status": 500}},
                      match={"kind": "start"}, count=1)
    p = sb.run_ctl(*start)
    H.note("start (500): rc %d, %r / %r", p.returncode, p.stdout, p.stderr)
    H.check(p.returncode != 0, "start succeeded on HTTP 500")
    check_clean("jobwatchctl start (stderr, HTTP 500)", p.stderr)
    H.check("Internal \\x1b]0;owned\\x07 Error\\x0d\\x0aFORGED\\xc2\\x85" in p.stderr,
            "start does not show the 500 message escaped: %r", p.stderr)
    d.stop()


def part_console():
    sb = H.Sandbox()
    mock = sb.start_mock()
    hook = sb.recording_hook(stdout_lines=[HOSTILE])
    J, paths = setup(sb, mock, hook)
    d = sb.start_daemon(log_target="console")
    d.wait_for_stderr(r"Job %s .*ended with an error" % J["E"], timeout=30)
    sb.wait_for_hook_records(1, timeout=20)
    d.wait_for_stderr(r"hook %s: " % J["E"], timeout=15)
    d.wait_for_stderr(r"%s .*weird" % J["W"], timeout=15)
    d.stop()
    with open(d.stderr_path, "rb") as f:
        data = f.read()
    H.note("console log: %r", data[-3000:])
    check_clean("console log", data)
    text = data.decode("utf-8", "replace")
    H.check("\\x1b[2J\\x0d\\x0aFORGED line\\xc2\\x9b31m\\x07\\x7f end" in text and "café 中文" in text,
            "the console log does not show the error escaped")
    H.check("evil\\x1b[31mname\\xc2\\x9b.job" in text, "the console log does not show the file name escaped")
    H.check("Internal \\x1b]0;owned\\x07 Error" in text, "the console log does not show the 5xx message")
    check_bad_line_quote("console log", text)


def test():
    part_journal()
    part_console()


H.main(test, needs_journal=True)
