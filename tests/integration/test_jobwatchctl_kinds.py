#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""jobwatchctl with every kind of job (CONTRACT "Kinds", "jobwatchctl"), the real jobwatchd
against the mock Dify:

- add --kind: the file of each kind (name, Kind= and the kind's keys, no Kind= for an
  annotation-reply job, as before), accepted by jobwatchd --check; refusals with a message
  saying what was expected (a UUID given as a batch, a batch as a run id, an unknown kind, the
  wrong number of arguments, a dataset and batch without --kind); the same job in a file of
  another name; an annotation job and a run of the same UUID are two jobs;
- list and list --json while an indexing batch runs: KIND, DATASET and PROGRESS columns, the
  server's status word, documents done/total and segments; after the end: outcome and the
  document counts;
- wait on a batch id (20 digits) and on a run id (UUID): the result entry's MESSAGE, exit 0 for
  completed, 1 for a failed run, 2 for a batch that is not there;
- add's note about an outcome already recorded, for a kind other than annotation-reply;
- wait's state-file fallback (a daemon logging to the console) for a batch;
- bash completion of --kind and of each kind's first argument.

Exit 0 pass, 1 fail, 77 skip (no journald)."""

import json
import os
import re
import subprocess
import time
import uuid

import harness as H
import jwcheck as C

EXIT_USAGE = 64
DATASET_KEY = "dataset-jobwatchtest0000000000"


expect = H.expect_run


def batch_id():
    """A Dify-style batch id: 14 digits of UTC time, 6 random digits."""
    return time.strftime("%Y%m%d%H%M%S", time.gmtime()) + "%06d" % (uuid.uuid4().int % 900000 + 100000)


def jobs_json(sb):
    return json.loads(expect(sb.run_ctl("list", "--json"), 0, "list --json").stdout)


def test_add(sb, J):
    """add of each kind, without a daemon."""
    files = {}
    p = expect(sb.run_ctl("add", "--kind", "document-indexing", "--endpoint", "kb",
                   J["dataset"].upper(), J["batch"]), 0, "add --kind document-indexing")
    files["batch"] = p.stdout.strip()
    H.eq(os.path.basename(files["batch"]),
         "kb-document-indexing-%s-%s.job" % (J["dataset"], J["batch"]), "name of the batch's file")
    H.eq(H.read_job_file(files["batch"]), {"Kind": "document-indexing", "Dataset": J["dataset"],
                                    "Batch": J["batch"], "Endpoint": "kb"}, "the batch's job file")

    p = expect(sb.run_ctl("add", "--kind=workflow-run", "--description", "nightly report",
                   J["run"].upper()), 0, "add --kind workflow-run")
    files["run"] = p.stdout.strip()
    H.eq(os.path.basename(files["run"]), "default-workflow-run-%s.job" % J["run"], "name of the run's file")
    H.eq(H.read_job_file(files["run"]), {"Kind": "workflow-run", "JobID": J["run"],
                                  "Description": "nightly report"}, "the run's job file")

    p = expect(sb.run_ctl("add", "--kind", "workflow-run", J["failrun"]), 0, "add a second run")
    files["failrun"] = p.stdout.strip()

    # annotation-reply, with or without --kind: the file of before kinds
    p = expect(sb.run_ctl("add", "--kind", "annotation-reply", "enable", J["run"]), 0,
               "add --kind annotation-reply (the run's UUID: another job)")
    files["annotation"] = p.stdout.strip()
    H.eq(os.path.basename(files["annotation"]), "default-enable-%s.job" % J["run"], "annotation file name")
    H.eq(H.read_job_file(files["annotation"]), {"JobID": J["run"], "Action": "enable"}, "annotation job file")

    # refusals
    expect(sb.run_ctl("add", "--kind", "document-indexing", "--endpoint", "kb", J["dataset"], J["run"]), 1,
           "a UUID as the batch", stderr=r"invalid batch id '%s', expected .*20 digits" % J["run"])
    expect(sb.run_ctl("add", "--kind", "document-indexing", "--endpoint", "kb", J["batch"], J["batch"]), 1,
           "a batch as the dataset", stderr=r"invalid dataset id '%s', expected a UUID" % J["batch"])
    expect(sb.run_ctl("add", "--kind", "workflow-run", J["batch"]), 1, "a batch as the run id",
           stderr=r"invalid run id '%s', expected a UUID" % J["batch"])
    expect(sb.run_ctl("add", "--kind", "nightly", J["run"]), EXIT_USAGE, "an unknown kind",
           stderr=r"unknown kind 'nightly', expected a built-in kind \(annotation-reply, document-indexing, "
                  r"workflow-run\) or a \[Kind:NAME\] of .*\(none is configured\)")
    expect(sb.run_ctl("add", "--kind", "workflow-run", "enable", J["run"]), EXIT_USAGE,
           "two arguments for a run", stderr=r"add --kind workflow-run needs RUN_ID")
    expect(sb.run_ctl("add", "--kind", "document-indexing", J["dataset"]), EXIT_USAGE,
           "a dataset without its batch", stderr=r"needs DATASET and BATCH")
    expect(sb.run_ctl("add", "--endpoint", "kb", J["dataset"], J["batch"]), 1, "a batch without --kind",
           stderr=r"invalid action '%s'.*--kind" % J["dataset"])

    # the same job again, and in a file of another name
    expect(sb.run_ctl("add", "--kind", "document-indexing", "--endpoint", "kb", J["dataset"], J["batch"]), 1,
           "the batch again", stderr=r"already in '%s'" % re.escape(files["batch"]))
    moved = os.path.join(sb.jobs_dir, "mine.job")
    os.rename(files["run"], moved)
    expect(sb.run_ctl("add", "--kind", "workflow-run", J["run"]), 1, "the run, in another file",
           stderr=r"this job \(workflow-run %s on endpoint 'default'\) is already in '%s'"
           % (J["run"], re.escape(moved)))
    os.rename(moved, files["run"])
    # the batch on another endpoint is another job
    p = expect(sb.run_ctl("add", "--kind", "document-indexing", "--endpoint", "kb2", J["dataset"], J["batch"]),
               0, "the batch on another endpoint")
    os.unlink(p.stdout.strip())

    H.eq([f for f in os.listdir(sb.jobs_dir) if f.startswith(".")], [], "temporary files left")
    chk = subprocess.run([H.find_jobwatchd(), "--config", sb.conf, "--jobs-dir", sb.jobs_dir, "--check"],
                         capture_output=True, text=True, timeout=30, env=H._clean_env())
    H.check(chk.returncode == 0, "jobwatchd --check on the added files: %d\n%s%s", chk.returncode,
            chk.stdout, chk.stderr)
    os.unlink(files["annotation"])   # not on the mock: it would end 'unknown'
    return files


def test_list_running(sb, J):
    """While the batch indexes: its row, as JSON and in the table."""
    def running_batch():
        for j in jobs_json(sb):
            if j["job_id"] == J["batch"] and j["outcome"] is None and j["progress"] \
                    and j["remote_status"] == "indexing":
                return j
        return None
    b = H.wait_until(running_batch, C.t(30), what="the batch indexing, with progress, in list --json")
    H.eq(b["kind"], "document-indexing", "kind of the batch")
    H.eq(b["dataset"], J["dataset"], "dataset of the batch")
    H.eq(b["endpoint"], "kb", "endpoint of the batch")
    H.eq(b["action"], None, "action of a batch")
    H.eq(b["state"], "indexing", "state of the batch")
    H.check(re.fullmatch(r"\d+/3 documents, \d+/\d+ segments", b["progress"]), "progress: %r", b["progress"])
    H.eq(b["documents"], None, "documents of a running batch")

    p = expect(sb.run_ctl("list"), 0, "list while the batch indexes")
    lines = p.stdout.splitlines()
    header = lines[1]
    H.check(header.split()[:7] == ["ENDPOINT", "ACTION", "JOB_ID", "STATE", "POLLS", "AGE", "TROUBLE"],
            "the columns of before kinds come first: %r", header)
    for col in ("KIND", "DATASET", "PROGRESS"):
        H.check(col in header.split(), "no %s column: %r", col, header)
    [row] = [ln for ln in lines[2:] if J["batch"] in ln]
    f = row.split()
    H.eq(f[:3], ["kb", "-", J["batch"]], "identity columns of the batch")
    H.eq(f[3], "indexing", "STATE of the batch")
    H.eq(row[header.index("KIND"):].split()[0], "document-indexing", "KIND column of the batch")
    H.eq(row[header.index("DATASET"):].split()[0], J["dataset"], "DATASET column of the batch")
    H.check(re.match(r"\d+/3 documents, \d+/\d+ segments", row[header.index("PROGRESS"):]),
            "PROGRESS column of the batch: %r", row)


def test_wait(sb, d, J):
    # a batch id (20 digits): waits for the result, prints its MESSAGE, exit 0
    p = expect(sb.run_ctl("wait", "--timeout", "60s", J["batch"], timeout=int(C.t(90))), 0, "wait on the batch")
    [e] = C.wait_results(d, 1, job_id=J["batch"])
    H.eq(p.stdout, e["MESSAGE"] + "\n", "wait's output for the batch")
    H.check("state file" not in p.stderr, "wait used the state file: %s", p.stderr)
    # a run id (UUID, any case), completed; a failed one: exit 1; both: every line, exit 1
    p = expect(sb.run_ctl("wait", "--timeout", "60s", J["run"].upper(), timeout=int(C.t(90))), 0, "wait on the run")
    [e_run] = C.wait_results(d, 1, job_id=J["run"])
    H.eq(p.stdout, e_run["MESSAGE"] + "\n", "wait's output for the run")
    p = expect(sb.run_ctl("wait", "--timeout", "60s", J["run"], J["failrun"], timeout=int(C.t(90))), 1,
               "wait on a completed and a failed run")
    [e_fail] = C.wait_results(d, 1, job_id=J["failrun"])
    H.eq(sorted(p.stdout.splitlines()), sorted([e_run["MESSAGE"], e_fail["MESSAGE"]]), "lines of wait on two runs")
    # a batch nobody added: no result; wait only looks (--timeout 0): exit 2, named
    other = batch_id()
    expect(sb.run_ctl("wait", "--timeout", "0", other), 2, "wait on a batch that is not watched",
           stderr=r"no result yet for: %s" % other)
    # any other text may be a [Kind:NAME] job's id: only one no job can have is a usage error
    expect(sb.run_ctl("wait", "x\ty"), EXIT_USAGE, "wait on an id with a tab", stderr=r"invalid job id 'x\\x09y'")


def test_list_done(sb, J):
    jobs = {j["job_id"]: j for j in jobs_json(sb) if j["kind"] != "annotation-reply"}
    b = jobs[J["batch"]]
    H.eq((b["outcome"], b["documents"], b["documents_failed"]), ("completed", 3, 0), "the batch at the end")
    H.eq(jobs[J["run"]]["outcome"], "completed", "outcome of the run")
    H.eq(jobs[J["run"]]["kind"], "workflow-run", "kind of the run")
    H.eq(jobs[J["run"]]["dataset"], None, "dataset of a run")
    H.eq(jobs[J["failrun"]]["outcome"], "error", "outcome of the failed run")
    H.eq(jobs[J["failrun"]]["remote_status"], "failed", "remote status of the failed run")


def test_console_fallback(mock):
    """A daemon logging to the console writes no journal entry: wait reports a batch's outcome
    from the state file, worded as the journal would (the document count from the state)."""
    sb = H.Sandbox(name="ctl-kinds-console")
    dataset, batch = str(uuid.uuid4()), batch_id()
    doc = {"lifecycle": [["waiting", 0.2], ["indexing", 0.3], ["completed", None]]}
    mock.add_batches({"dataset_id": dataset, "batch": batch, "documents": [doc, doc]})
    conf = sb.base_config(mock)
    conf["Endpoint:kb"] = {"BaseURL": mock.url, "APIKeyFile": sb.write_key("kb-key", DATASET_KEY)}
    sb.write_config(conf)
    expect(sb.run_ctl("add", "--kind", "document-indexing", "--endpoint", "kb", dataset, batch), 0,
           "add (console daemon)")
    d = sb.start_daemon(log_target="console")
    expect(sb.run_ctl("wait", "--timeout", "60s", batch, timeout=int(C.t(90))), 0, "wait (console daemon)",
           stdout=r"^[^\n]*%s[^\n]*completed: 2 documents indexed" % batch,
           stderr=r"warning: the state file has the result of job %s" % batch)
    d.stop()


COMPLETION = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "completion",
                          "jobwatchctl.bash")


def complete(*words):
    """What bash completion offers for the last word of `jobwatchctl WORDS...`."""
    script = ('source "$1"; shift; COMP_WORDS=(jobwatchctl "$@"); COMP_CWORD=$#; COMPREPLY=(); '
              '_jobwatchctl; printf "%s\\n" "${COMPREPLY[@]}"')
    p = subprocess.run(["bash", "-c", script, "bash", COMPLETION] + list(words), capture_output=True,
                       text=True, timeout=30)
    H.check(p.returncode == 0, "completion of %s: %d %s", words, p.returncode, p.stderr)
    return sorted(w for w in p.stdout.splitlines() if w)


def test_completion():
    H.eq(complete("add", "--ki"), ["--kind"], "completion of add --ki")
    H.eq(complete("add", "--kind", ""), ["annotation-reply", "document-indexing", "workflow-run"],
         "completion of --kind")
    H.eq(complete("add", ""), ["disable", "enable"], "completion of add's first argument")
    H.eq(complete("add", "-k", "annotation-reply", ""), ["disable", "enable"], "annotation-reply's ACTION")
    H.eq(complete("add", "--kind", "document-indexing", "--endpoint", "kb", ""), [],
         "no action offered for a batch")
    H.eq(complete("add", "--kind", "workflow-run", ""), [], "no action offered for a run")


def test():
    test_completion()
    sb = H.Sandbox()
    J = {"dataset": str(uuid.uuid4()), "batch": batch_id(), "run": str(uuid.uuid4()),
         "failrun": str(uuid.uuid4())}
    mock = sb.start_mock(keys=(H.KEY, DATASET_KEY))
    doc = {"total_segments": 10,
           "lifecycle": [["waiting", 0.2], ["parsing", 0.2], ["cleaning", 0.2], ["splitting", 0.2],
                         ["indexing", C.t(6)], ["completed", None]]}
    mock.add_batches({"dataset_id": J["dataset"], "batch": J["batch"], "documents": [doc, doc, doc]})
    mock.add_runs({"run_id": J["run"], "outputs": {"answer": 42},
                   "lifecycle": [["running", C.t(2)], ["succeeded", None]]},
                  {"run_id": J["failrun"], "error": "node 3 failed",
                   "lifecycle": [["running", C.t(1)], ["failed", None]]})
    conf = sb.base_config(mock, initial="100ms", max_interval="300ms")
    for name in ("kb", "kb2"):
        conf["Endpoint:" + name] = {"BaseURL": mock.url, "APIKeyFile": sb.write_key(name + "-key", DATASET_KEY)}
    sb.write_config(conf)

    files = test_add(sb, J)
    d = sb.start_daemon()
    test_list_running(sb, J)
    test_wait(sb, d, J)
    test_list_done(sb, J)

    # the batch's file is removed while the daemon is stopped (a running one forgets a finished
    # job whose file goes) and added again: add says the outcome is known
    d.stop()
    os.unlink(files["batch"])
    expect(sb.run_ctl("add", "--kind", "document-indexing", "--endpoint", "kb", J["dataset"], J["batch"]), 0,
           "add a finished batch again",
           stderr=r"note: jobwatchd already recorded the outcome 'completed' for this job")
    # not for the same batch id under another dataset: another job
    p = expect(sb.run_ctl("add", "--kind", "document-indexing", "--endpoint", "kb", str(uuid.uuid4()), J["batch"]),
               0, "add the batch id under another dataset")
    H.check("note:" not in p.stderr, "a note for another job: %s", p.stderr)

    test_console_fallback(mock)


if __name__ == "__main__":
    H.main(test, needs_journal=True)
