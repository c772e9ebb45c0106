import os
import sqlite3
# SPDX-License-Identifier: MIT
"""kindcheck.py -- checks shared by the job-kind integration tests (test_kinds_*.py): every field
CONTRACT.md ("Kinds") names for a result entry of each kind, and for its hook's environment.
Built on harness.py and jwcheck.py; standard library only."""

import json
import re

import harness as H
import jwcheck as C

# Keys of the two types Dify has (DIFY.md): an app's, and a knowledge base's.
DATASET_KEY = "dataset-jobwatchtest000000000000"      # "dataset-" + 24 characters
DATASET_KEY2 = "dataset-jobwatchtest000000000002"

ANNOTATION, INDEXING, WORKFLOW = "annotation-reply", "document-indexing", "workflow-run"
ABSENT = object()


def batch_id(n):
    """A Dify-style batch: 14 digits of UTC time, then 6 'random' digits (unique per n)."""
    return "20261202080000%06d" % n


def index_job(sb, name, dataset, batch, endpoint=None, **kw):
    extra = {"Kind": INDEXING, "Dataset": dataset, "Batch": batch}
    if endpoint is not None:
        extra["Endpoint"] = endpoint
    for k, v in kw.items():
        extra[k[0].upper() + k[1:]] = v
    return sb.write_job(name, text=H.ini_text({"Job": extra}))


def run_job(sb, name, run_id, endpoint=None, **kw):
    extra = {"Kind": WORKFLOW, "JobID": run_id}
    if endpoint is not None:
        extra["Endpoint"] = endpoint
    for k, v in kw.items():
        extra[k[0].upper() + k[1:]] = v
    return sb.write_job(name, text=H.ini_text({"Job": extra}))


def _absent_or_empty(e, field, what):
    H.check(e.get(field, "") == "", "%s: %s=%r, expected none for this kind", what, field, e.get(field))


def check_result(e, *, kind, job_id, status, endpoint, job_file, remote_status=ABSENT, action=None,
                 error=None, error_check=None, dataset=None, documents=None, documents_failed=None,
                 polls=None, polls_range=None, description=None, min_duration=0.0, max_duration=None):
    """A result entry of any kind: jwcheck's common fields, and JOB_KIND, JOB_REMOTE_STATUS,
    JOB_DATASET_ID, JOB_DOCUMENTS, JOB_DOCUMENTS_FAILED.  remote_status=ABSENT: not checked;
    None: must be absent (no status word was ever seen)."""
    what = "result of %s %s" % (kind, job_id)
    H.eq(e.get("MESSAGE_ID"), C.RESULT, what + ": MESSAGE_ID")
    H.eq(e.get("SYSLOG_IDENTIFIER"), "jobwatchd", what + ": SYSLOG_IDENTIFIER")
    H.eq(e.get("JOB_ID"), job_id, what + ": JOB_ID (the kind's own id)")
    H.eq(e.get("JOB_KIND"), kind, what + ": JOB_KIND")
    H.eq(e.get("JOB_STATUS"), status, what + ": JOB_STATUS")
    H.eq(e.get("PRIORITY"), str(C.PRIORITY[status]), what + ": PRIORITY (%s)" % status)
    H.eq(e.get("JOB_ENDPOINT"), endpoint, what + ": JOB_ENDPOINT")
    H.eq(e.get("JOB_FILE"), job_file, what + ": JOB_FILE")
    if kind == ANNOTATION:
        H.eq(e.get("JOB_ACTION"), action or "enable", what + ": JOB_ACTION")
    else:
        _absent_or_empty(e, "JOB_ACTION", what)
    if remote_status is None:
        H.check("JOB_REMOTE_STATUS" not in e, "%s: JOB_REMOTE_STATUS=%r though no status word was seen",
                what, e.get("JOB_REMOTE_STATUS"))
    elif remote_status is not ABSENT:
        H.eq(e.get("JOB_REMOTE_STATUS"), remote_status, what + ": JOB_REMOTE_STATUS (the server's word)")
    if error_check is not None:
        H.check("JOB_ERROR" in e, "%s: no JOB_ERROR", what)
        error_check(e["JOB_ERROR"])
    elif error:
        H.eq(e.get("JOB_ERROR"), error, what + ": JOB_ERROR")
    else:
        H.check("JOB_ERROR" not in e, "%s: JOB_ERROR present (%r) though there is no error", what, e.get("JOB_ERROR"))
    if kind == INDEXING:
        H.eq(e.get("JOB_DATASET_ID"), dataset, what + ": JOB_DATASET_ID")
        if documents is not None:
            H.eq(e.get("JOB_DOCUMENTS"), str(documents), what + ": JOB_DOCUMENTS")
        if documents_failed is not None:
            H.eq(e.get("JOB_DOCUMENTS_FAILED"), str(documents_failed), what + ": JOB_DOCUMENTS_FAILED")
    else:
        for f in ("JOB_DATASET_ID", "JOB_DOCUMENTS", "JOB_DOCUMENTS_FAILED"):
            H.check(f not in e, "%s: %s=%r on a %s result", what, f, e.get(f), kind)
    H.check(re.fullmatch(r"\d+", e.get("JOB_POLLS", "")), "%s: JOB_POLLS=%r", what, e.get("JOB_POLLS"))
    n = int(e["JOB_POLLS"])
    if polls is not None:
        H.eq(n, polls, what + ": JOB_POLLS (status requests the mock saw)")
    if polls_range is not None:
        H.check(polls_range[0] <= n <= polls_range[1], "%s: JOB_POLLS=%d, the mock saw %s", what, n, polls_range)
    H.check(re.fullmatch(r"\d+", e.get("JOB_DURATION_USEC", "")), "%s: JOB_DURATION_USEC=%r",
            what, e.get("JOB_DURATION_USEC"))
    dur = int(e["JOB_DURATION_USEC"]) / 1e6
    H.check(dur >= min_duration - 0.01, "%s: JOB_DURATION_USEC %.3fs < %.3fs", what, dur, min_duration)
    if max_duration is not None:
        H.check(dur <= max_duration, "%s: JOB_DURATION_USEC %.3fs > %.3fs", what, dur, max_duration)
    if description is not None:
        H.eq(e.get("JOB_DESCRIPTION"), description, what + ": JOB_DESCRIPTION")
    check_message(e, kind=kind, job_id=job_id, status=status, endpoint=endpoint, polls=n, action=action)
    return n, dur


def check_message(e, *, kind, job_id, status, endpoint, polls, action=None):
    """MESSAGE reads naturally for each kind: one sentence naming the job by its own id, the
    endpoint, the outcome, the polls and the duration; an action only for annotation reply."""
    msg = e.get("MESSAGE", "")
    what = "MESSAGE of %s %s (%r)" % (kind, job_id, msg)
    H.check(msg and "\n" not in msg, "%s: one line expected", what)
    H.check(msg.rstrip().endswith("."), "%s: one sentence, ending with a period", what)
    H.check(job_id in msg, "%s: does not name the job's id", what)
    H.check(endpoint in msg, "%s: does not name the endpoint %s", what, endpoint)
    H.check(re.search(C.OUTCOME_WORDS[status], msg, re.I), "%s: does not say the outcome %s", what, status)
    H.check(re.search(r"\b%d\s+polls?\b" % polls, msg), "%s: does not give the number of polls %d", what, polls)
    H.check(re.search(C.TIMESPAN, msg), "%s: does not give the duration", what)
    H.check(not re.search(r"\(\s*\)|\s{2,}|\s[,.]", msg), "%s: an empty field shows (no action?)", what)
    if kind == ANNOTATION:
        H.check(re.search(r"\b%s\b" % (action or "enable"), msg), "%s: does not name the action", what)
    else:
        H.check(not re.search(r"\b(enable|disable|action)\b", msg, re.I),
                "%s: speaks of an action, which a %s job has not", what, kind)


def check_hook(rec, e, *, kind, dataset=None, keys=()):
    """A hook run's environment against its result entry (CONTRACT "Kinds", "Hook")."""
    env = rec["env"]
    what = "hook of %s %s" % (kind, e.get("JOB_ID"))
    H.eq(env.get("JOBWATCH_JOB_ID"), e["JOB_ID"], what + ": JOBWATCH_JOB_ID")
    H.eq(env.get("JOBWATCH_KIND"), kind, what + ": JOBWATCH_KIND")
    H.eq(env.get("JOBWATCH_STATUS"), e["JOB_STATUS"], what + ": JOBWATCH_STATUS")
    H.eq(env.get("JOBWATCH_REMOTE_STATUS", ""), e.get("JOB_REMOTE_STATUS", ""), what + ": JOBWATCH_REMOTE_STATUS")
    H.eq(env.get("JOBWATCH_ERROR"), e.get("JOB_ERROR", ""), what + ": JOBWATCH_ERROR")
    H.eq(env.get("JOBWATCH_ENDPOINT"), e["JOB_ENDPOINT"], what + ": JOBWATCH_ENDPOINT")
    H.eq(env.get("JOBWATCH_JOB_FILE"), e["JOB_FILE"], what + ": JOBWATCH_JOB_FILE")
    H.eq(env.get("JOBWATCH_POLLS"), e["JOB_POLLS"], what + ": JOBWATCH_POLLS")
    if kind == INDEXING:
        H.eq(env.get("JOBWATCH_DATASET_ID"), dataset, what + ": JOBWATCH_DATASET_ID")
    else:
        H.check(env.get("JOBWATCH_DATASET_ID", "") == "", "%s: JOBWATCH_DATASET_ID=%r", what,
                env.get("JOBWATCH_DATASET_ID"))
    if kind == ANNOTATION:
        H.eq(env.get("JOBWATCH_ACTION"), e.get("JOB_ACTION"), what + ": JOBWATCH_ACTION")
    blob = json.dumps(rec.get("proc_environ") or rec["env"]) + json.dumps(rec.get("cmdline") or [])
    for k in keys:
        H.check(k not in blob, "%s: an API key in the hook's environment or command line", what)


def hook_by_job(sb):
    out = {}
    for r in sb.hook_records():
        out.setdefault(r["env"].get("JOBWATCH_JOB_ID"), []).append(r)
    return out


def polls_of(mock, job_id, kind):
    return len(mock.requests(job_id=job_id, kind=kind, headers=False))


def check_auth(mock, job_id, kind, key):
    """Every status request of the job carried that endpoint's key."""
    seen = {r["authorization"] for r in mock.requests(job_id=job_id, kind=kind)}
    H.eq(seen, {"Bearer " + key}, "Authorization of the %s requests of %s" % (kind, job_id))


# tests/unit/test-state.c spells out the same schema (version 1 as the daemon wrote it)
V1_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID;
CREATE TABLE jobs (endpoint TEXT NOT NULL, action TEXT NOT NULL, job_id TEXT NOT NULL,
  file TEXT NOT NULL, description TEXT, accepted_usec INTEGER NOT NULL,
  polls INTEGER NOT NULL DEFAULT 0, seen_alive INTEGER NOT NULL DEFAULT 0,
  gone_count INTEGER NOT NULL DEFAULT 0, last_status TEXT, last_status_usec INTEGER,
  outcome TEXT, finished_usec INTEGER, error_msg TEXT, body BLOB,
  journaled INTEGER NOT NULL DEFAULT 0, hook_state INTEGER NOT NULL DEFAULT 0,
  hook_pid INTEGER, hook_pid_start INTEGER, updated_usec INTEGER NOT NULL,
  PRIMARY KEY (endpoint, action, job_id)) WITHOUT ROWID;
CREATE TABLE endpoints (name TEXT PRIMARY KEY, trouble TEXT, trouble_since_usec INTEGER,
  updated_usec INTEGER NOT NULL) WITHOUT ROWID;
INSERT INTO meta VALUES ('schema', '1');
"""

V1_COLUMNS = ("endpoint, action, job_id, file, accepted_usec, polls, seen_alive, last_status, outcome,"
              " finished_usec, error_msg, body, journaled, hook_state, updated_usec")


def write_v1_state(state_dir, rows, acks=()):
    """A state directory as version 1 (before job kinds) left it: ROWS are tuples of
    V1_COLUMNS; ACKS lines "ENDPOINT ACTION JOB_ID" of its journaled.log (marks a kill -9
    left there before they reached the database)."""
    os.makedirs(state_dir, exist_ok=True)
    db = sqlite3.connect(os.path.join(state_dir, "state.db"))
    db.executescript(V1_SCHEMA)
    db.executemany("INSERT INTO jobs (%s) VALUES (%s)" % (V1_COLUMNS, ", ".join("?" * 15)), rows)
    db.commit()
    db.close()
    if acks:
        with open(os.path.join(state_dir, "journaled.log"), "w") as f:
            f.write("".join("%s\n" % a for a in acks))
