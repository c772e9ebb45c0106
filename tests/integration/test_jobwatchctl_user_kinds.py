#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""jobwatchctl with jobs of kinds defined in the configuration ([Kind:NAME], issue 13), the real
jobwatchd against the mock's tiny non-Dify API (GET /things/{id}, tests/mock/mock_kinds.py):

- add --kind NAME ID for a [Kind:things] (StatusPath=/things/{id}) and, with --field
  Project=VALUE, for a [Kind:scoped] (StatusPath=/things/{Project}-{id}): the job file's name
  (ENDPOINT-KIND-ID.job for a plain id; the id made safe plus ~ and 16 hex digits otherwise),
  its Kind=, JobID= and Project= lines, accepted by jobwatchd --check; refusals: an unknown
  kind (64, naming the configured ones), a missing or unused --field (64), --field for a
  built-in kind (64), an id no job file can hold (1), the same job again (1);
- list --json and list while the jobs run: kind NAME, job_id the JobID= text, "fields"
  ({"Project": "alpha"}, {} for a kind without {Key}s), dataset null; the KIND and FIELDS
  columns;
- add's note about an outcome already recorded, for the same id and fields only;
- wait on a user kind's ids (a plain one, one with '/' and a space, a UUID in upper case as
  the job file has it): the result entry's MESSAGE, exit 0 completed, 1 failed, 2 none yet,
  64 for an id no job can have;
- bash completion of --kind offers the configured kinds.

Exit 0 pass, 1 fail, 77 skip (no journald)."""

import json
import os
import re
import subprocess
import uuid

import harness as H
import jwcheck as C

EXIT_USAGE = 64
THINGS = {"StatusPath": "/things/{id}", "StatusField": "/status", "ErrorField": "/error/message",
          "Completed": "done", "Failed": "failed", "Running": "queued running", "GoneStatus": "404"}
SCOPED = dict(THINGS, StatusPath="/things/{Project}-{id}")
HASHED = r"~[0-9a-f]{16}\.job"


expect = H.expect_run


def test_add(sb, J):
    """add of user kinds, without a daemon."""
    files = {}
    p = expect(sb.run_ctl("add", "--kind", "things", J["plain"]), 0, "add --kind things (a plain id)")
    files["plain"] = p.stdout.strip()
    H.eq(os.path.basename(files["plain"]), "default-things-%s.job" % J["plain"], "name of a plain id's file")
    H.eq(H.read_job_file(files["plain"]), {"Kind": "things", "JobID": J["plain"]}, "the plain id's job file")

    p = expect(sb.run_ctl("add", "--kind=things", "--description", "odd id", J["odd"]), 0,
               "add --kind things (an id with '/' and a space)")
    files["odd"] = p.stdout.strip()
    H.check(re.fullmatch(r"default-things-Run_7_x" + HASHED, os.path.basename(files["odd"])),
            "name of the odd id's file: %s", files["odd"])
    H.eq(H.read_job_file(files["odd"]), {"Kind": "things", "JobID": J["odd"], "Description": "odd id"},
         "the odd id's job file")

    p = expect(sb.run_ctl("add", "--kind", "things", J["upper"]), 0, "add --kind things (an upper-case UUID)")
    files["upper"] = p.stdout.strip()
    H.eq(os.path.basename(files["upper"]), "default-things-%s.job" % J["upper"],
         "an upper-case UUID kept as it is in the name")
    H.eq(H.read_job_file(files["upper"])["JobID"], J["upper"], "an upper-case UUID kept as it is")

    p = expect(sb.run_ctl("add", "--kind", "scoped", "-f", "Project=alpha", J["scoped"]), 0,
               "add --kind scoped --field Project=alpha")
    files["scoped"] = p.stdout.strip()
    H.check(re.fullmatch(r"default-scoped-%s" % J["scoped"] + HASHED, os.path.basename(files["scoped"])),
            "name of the scoped job's file: %s", files["scoped"])
    H.eq(H.read_job_file(files["scoped"]), {"Kind": "scoped", "JobID": J["scoped"], "Project": "alpha"},
         "the scoped job's file")
    # the same id in another project: another job, another file
    p = expect(sb.run_ctl("add", "--kind", "scoped", "--field=Project=beta", J["scoped"]), 0,
               "the same id in another project")
    H.check(p.stdout.strip() != files["scoped"], "two projects, one file: %s", p.stdout)
    os.unlink(p.stdout.strip())   # not on the mock

    # refusals
    expect(sb.run_ctl("add", "--kind", "nightly", "x1"), EXIT_USAGE, "an unknown kind",
           stderr=r"unknown kind 'nightly', expected a built-in kind \(annotation-reply, "
                  r"document-indexing, workflow-run\) or a \[Kind:NAME\] of .*\(configured: things, scoped\)")
    expect(sb.run_ctl("add", "--kind", "no such", "x1"), EXIT_USAGE, "a name no kind can have",
           stderr=r"invalid kind 'no such'")
    expect(sb.run_ctl("add", "--kind", "scoped", J["scoped"]), EXIT_USAGE, "a missing --field",
           stderr=r"the kind 'scoped' needs --field Project=VALUE")
    expect(sb.run_ctl("add", "--kind", "things", "--field", "Project=alpha", "x1"), EXIT_USAGE,
           "a --field the kind does not use", stderr=r"the kind 'things' does not use --field Project")
    expect(sb.run_ctl("add", "--kind", "scoped", "-f", "Project=a", "-f", "Project=b", "x1"), EXIT_USAGE,
           "a --field twice", stderr=r"--field Project is given twice")
    expect(sb.run_ctl("add", "--kind", "scoped", "-f", "project=a", "x1"), EXIT_USAGE,
           "a --field that is no {Key}", stderr=r"invalid --field 'project=a'")
    expect(sb.run_ctl("add", "--field", "Project=a", "enable", str(uuid.uuid4())), EXIT_USAGE,
           "--field for a built-in kind", stderr=r"--field is for the kinds of the configuration")
    expect(sb.run_ctl("add", "--kind", "things", "x1", "x2"), EXIT_USAGE, "two ids",
           stderr=r"add --kind things needs ID")
    expect(sb.run_ctl("add", "--kind", "things", ".."), 1, "an id that would climb the path",
           stderr=r"invalid job id '\.\.' for the kind 'things'")
    expect(sb.run_ctl("add", "--kind", "things", "a\tb"), 1, "an id with a control character",
           stderr=r"invalid job id 'a\\x09b'")
    expect(sb.run_ctl("add", "--kind", "scoped", "-f", "Project=..", "x1"), 1, "a value that would climb",
           stderr=r"invalid --field 'Project=\.\.'")
    # the same job again, and in a file of another name
    expect(sb.run_ctl("add", "--kind", "things", J["odd"]), 1, "the odd id again",
           stderr=r"already in '%s'" % re.escape(files["odd"]))
    moved = os.path.join(sb.jobs_dir, "mine.job")
    os.rename(files["scoped"], moved)
    expect(sb.run_ctl("add", "--kind", "scoped", "-f", "Project=alpha", J["scoped"]), 1,
           "the scoped job, in another file",
           stderr=r"this job \(scoped %s on endpoint 'default'\) is already in '%s'" % (J["scoped"], re.escape(moved)))
    os.rename(moved, files["scoped"])

    H.eq([f for f in os.listdir(sb.jobs_dir) if f.startswith(".")], [], "temporary files left")
    chk = subprocess.run([H.find_jobwatchd(), "--config", sb.conf, "--jobs-dir", sb.jobs_dir, "--check"],
                         capture_output=True, text=True, timeout=30, env=H._clean_env())
    H.check(chk.returncode == 0, "jobwatchd --check on the added files: %d\n%s%s", chk.returncode,
            chk.stdout, chk.stderr)
    return files


def jobs_json(sb):
    return {j["job_id"]: j for j in json.loads(expect(sb.run_ctl("list", "--json"), 0, "list --json").stdout)}


def test_list_running(sb, J):
    def running():
        jobs = jobs_json(sb)
        j = jobs.get(J["scoped"])
        return jobs if j and j["remote_status"] == "running" and j["outcome"] is None else None
    jobs = H.wait_until(running, H.t(20), what="the scoped job running, in list --json")
    s = jobs[J["scoped"]]
    H.eq((s["kind"], s["fields"], s["dataset"], s["action"], s["state"]),
         ("scoped", {"Project": "alpha"}, None, None, "running"), "the scoped job's row")
    o = jobs.get(J["odd"])
    H.check(o is not None, "the odd id in list --json: %s", sorted(jobs))
    H.eq((o["kind"], o["fields"], o["dataset"], o["description"]), ("things", {}, None, "odd id"),
         "the odd id's row")

    p = expect(sb.run_ctl("list"), 0, "list while the jobs run")
    lines = p.stdout.splitlines()
    header = lines[1]
    for col in ("KIND", "FIELDS"):
        H.check(col in header.split(), "no %s column: %r", col, header)
    H.check("DATASET" not in header.split(), "a DATASET column without a batch: %r", header)
    [row] = [ln for ln in lines[2:] if ln.split()[2] == J["scoped"]]
    H.eq(row[header.index("KIND"):].split()[0], "scoped", "KIND column of the scoped job")
    H.eq(row[header.index("FIELDS"):].split()[0], "Project=alpha", "FIELDS column of the scoped job")
    [row] = [ln for ln in lines[2:] if J["odd"] in ln]
    H.eq(row[header.index("FIELDS"):].split()[0], "-", "FIELDS column of a job without fields")


def test_wait(sb, d, J):
    for key in ("plain", "odd", "upper"):
        p = expect(sb.run_ctl("wait", "--timeout", "60s", J[key], timeout=int(H.t(90))), 0, "wait on " + key)
        [e] = C.wait_results(d, 1, job_id=J[key])
        H.eq(e.get("JOB_KIND"), "things", "JOB_KIND of " + key)
        H.eq(p.stdout, e["MESSAGE"] + "\n", "wait's output for " + key)
        H.check("state file" not in p.stderr, "wait used the state file: %s", p.stderr)
    p = expect(sb.run_ctl("wait", "--timeout", "60s", J["scoped"], timeout=int(H.t(90))), 1,
               "wait on a failed job")
    [e] = C.wait_results(d, 1, job_id=J["scoped"])
    H.eq((e.get("JOB_STATUS"), e.get("JOB_ERROR")), ("error", "quota exceeded"), "the failed job's result")
    H.eq(p.stdout, e["MESSAGE"] + "\n", "wait's output for the failed job")
    H.check("state file" not in p.stderr, "wait used the state file for the failed job: %s", p.stderr)
    expect(sb.run_ctl("wait", "--timeout", "0", "not-added-1"), 2, "wait on an id nobody added",
           stderr=r"no result yet for: not-added-1")
    expect(sb.run_ctl("wait", ".."), EXIT_USAGE, "wait on an id no job can have", stderr=r"invalid job id '\.\.'")


COMPLETION = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "completion",
                          "jobwatchctl.bash")


def complete(*words):
    script = ('source "$1"; shift; COMP_WORDS=(jobwatchctl "$@"); COMP_CWORD=$#; COMPREPLY=(); '
              '_jobwatchctl; printf "%s\\n" "${COMPREPLY[@]}"')
    p = subprocess.run(["bash", "-c", script, "bash", COMPLETION] + list(words), capture_output=True,
                       text=True, timeout=30)
    H.check(p.returncode == 0, "completion of %s: %d %s", words, p.returncode, p.stderr)
    return sorted(w for w in p.stdout.splitlines() if w)


def test_completion(sb):
    builtin = ["annotation-reply", "document-indexing", "workflow-run"]
    H.eq(complete("-c", sb.conf, "add", "--kind", ""), sorted(builtin + ["scoped", "things"]),
         "completion of --kind with the configured kinds")
    H.eq(complete("-c", sb.conf, "add", "--kind", "sc"), ["scoped"], "completion of --kind sc")
    H.eq(complete("-c", sb.conf, "add", "--kind", "scoped", "--fi"), ["--field"], "completion of --fi")
    H.eq(complete("-c", sb.conf, "add", "--kind", "scoped", ""), [], "no action offered for a user kind")


def test():
    sb = H.Sandbox()
    J = {"plain": "batch_abc123", "odd": "Run/7 x", "upper": str(uuid.uuid4()).upper(), "scoped": "42"}
    mock = sb.start_mock()
    done = [["queued", H.t(0.5)], ["running", H.t(1.5)], ["done", None]]
    mock.ctl("POST", "/_mock/jobs", {"things": [
        {"id": J["plain"], "lifecycle": done},
        {"id": J["odd"], "lifecycle": done},
        {"id": J["upper"], "lifecycle": done},
        {"id": "alpha-" + J["scoped"], "lifecycle": [["queued", H.t(0.5)], ["running", H.t(8)], ["failed", None]],
         "error": "quota exceeded"},
    ]})
    conf = sb.base_config(mock, initial="100ms", max_interval="300ms")
    conf["Kind:things"] = THINGS
    conf["Kind:scoped"] = SCOPED
    sb.write_config(conf)

    test_completion(sb)
    files = test_add(sb, J)
    d = sb.start_daemon()
    test_list_running(sb, J)
    test_wait(sb, d, J)
    C.assert_one_result_each(d, [J[k] for k in ("plain", "odd", "upper", "scoped")], settle=0.5)
    d.stop()

    # the scoped job's file removed while the daemon is stopped and added again: add says its
    # outcome is known; not for the same id in another project (another job)
    os.unlink(files["scoped"])
    expect(sb.run_ctl("add", "--kind", "scoped", "-f", "Project=alpha", J["scoped"]), 0,
           "add a finished job again",
           stderr=r"note: jobwatchd already recorded the outcome 'error' for this job")
    p = expect(sb.run_ctl("add", "--kind", "scoped", "-f", "Project=beta", J["scoped"]), 0,
               "add the id in another project")
    H.check("note:" not in p.stderr, "a note for another job: %s", p.stderr)


if __name__ == "__main__":
    H.main(test, needs_journal=True)
