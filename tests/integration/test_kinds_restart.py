#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Issue 12's "Done when": three job files -- an annotation job, a document batch, a workflow
run -- on two endpoints (an app key and a dataset key) give three correct results with their
kind-specific fields in the journal; the same across a clean restart and across kill -9 in the
middle (no job lost, no result or hook twice, no poll of an ended job), and kill -9 after the
results.  Then a state directory of version 1 (before kinds, written as that version leaves
it) and its job files keep working: the finished job is not polled, reported or hooked again, the pending one goes on with its polls and duration, and jobs of the
new kinds join it."""

import os
import time
import uuid

import harness as H
import jwcheck as C
import kindcheck as K

FOREVER_DOC = [["waiting", 0.1], ["indexing", None]]


class Trio:
    """One job of each kind, pending until finish() is called."""

    def __init__(self, sb, mock, tag, n):
        self.sb, self.mock, self.tag = sb, mock, tag
        self.ann, self.run, self.dataset, self.batch = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4()), K.batch_id(n)
        mock.add_jobs({"job_id": self.ann, "lifecycle": [["waiting", None]]})
        mock.add_batches({"dataset_id": self.dataset, "batch": self.batch,
                          "documents": [{"lifecycle": FOREVER_DOC} for _ in range(3)]})
        mock.add_runs({"run_id": self.run, "app": H.KEY, "lifecycle": [["running", None]],
                       "outputs": {"report": "done %s" % tag}})
        self.files = {}

    def write(self):
        self.files["ann"] = self.sb.write_job("%s-annotation" % self.tag, self.ann, description="FAQ bot")
        self.files["idx"] = K.index_job(self.sb, "%s-batch" % self.tag, self.dataset, self.batch, endpoint="kb")
        self.files["run"] = K.run_job(self.sb, "%s-run" % self.tag, self.run)
        self.t_written = time.time()

    def ids(self):
        return [self.ann, self.batch, self.run]

    def polls(self):
        m = self.mock
        return {"ann": len(m.status_requests(self.ann)), "idx": K.polls_of(m, self.batch, "indexing"),
                "run": K.polls_of(m, self.run, "run")}

    def wait_polled(self, n, since=None):
        since = since or {"ann": 0, "idx": 0, "run": 0}
        try:
            H.wait_until(lambda: all(v >= since[k] + n for k, v in self.polls().items()), 15,
                         what="%d more poll(s) of each %s job" % (n, self.tag))
        except H.Failure as e:
            raise H.Failure("%s: polls %s, before %s" % (e, self.polls(), since))

    def finish(self):
        self.mock.set(self.ann, status="completed")
        self.mock.set_batch(self.batch, lifecycle=[["indexing", 0.2], ["completed", None]])
        self.mock.set_run(self.run, status="succeeded")

    def check(self, d, res, killed_after=None):
        """killed_after: the polls seen before a kill -9, of which JOB_POLLS may miss those of the
        last 5 s (jobwatchd(8), JOB_POLLS): then JOB_POLLS is only bounded by them."""
        p = self.polls()

        def polls(k):
            if killed_after is None:
                return {"polls": p[k]}
            return {"polls_range": (p[k] - killed_after[k], p[k])}
        m = self.mock
        first = {self.ann: m.status_requests(self.ann), self.batch: m.requests(job_id=self.batch, kind="indexing"),
                 self.run: m.requests(job_id=self.run, kind="run")}

        def durations(jid):
            # accepted before its first poll and after its file was written, across restarts
            ts = int(res[jid]["__REALTIME_TIMESTAMP"]) / 1e6
            return {"min_duration": ts - first[jid][0]["wall"] - 0.05, "max_duration": ts - self.t_written + 0.05}
        K.check_result(res[self.ann], kind=K.ANNOTATION, job_id=self.ann, status="completed", endpoint="default",
                       job_file=self.files["ann"], remote_status="completed", action="enable", **polls("ann"),
                       description="FAQ bot", **durations(self.ann))
        K.check_result(res[self.batch], kind=K.INDEXING, job_id=self.batch, status="completed", endpoint="kb",
                       job_file=self.files["idx"], remote_status="completed", dataset=self.dataset, documents=3,
                       documents_failed=0, **polls("idx"), **durations(self.batch))
        K.check_result(res[self.run], kind=K.WORKFLOW, job_id=self.run, status="completed", endpoint="default",
                       job_file=self.files["run"], remote_status="succeeded", **polls("run"), **durations(self.run))
        K.check_auth(self.mock, self.ann, "status", H.KEY)
        K.check_auth(self.mock, self.batch, "indexing", K.DATASET_KEY)
        K.check_auth(self.mock, self.run, "run", H.KEY)


def assert_nothing_more(sb, d, mock, trios, what):
    """After a restart: no second result, no second hook, no poll of an ended job."""
    polls = [t.polls() for t in trios]
    hooks = len(sb.hook_records())
    H.quiet(1.0, "nothing more of the ended jobs (%s)" % what)
    H.eq([t.polls() for t in trios], polls, "polls of ended jobs after %s" % what)
    H.eq(len(sb.hook_records()), hooks, "hook runs after %s" % what)
    ids = [i for t in trios for i in t.ids()]
    C.assert_one_result_each(d, ids, settle=0)


def check_hooks(sb, trios, res):
    hooks = K.hook_by_job(sb)
    for t in trios:
        for jid, kind, ds in ((t.ann, K.ANNOTATION, None), (t.batch, K.INDEXING, t.dataset), (t.run, K.WORKFLOW, None)):
            rs = hooks.get(jid, [])
            H.eq(len(rs), 1, "hook runs of %s %s" % (kind, jid))
            K.check_hook(rs[0], res[jid], kind=kind, dataset=ds, keys=(H.KEY, K.DATASET_KEY))


def done_when(sb, mock):
    hook = sb.recording_hook()
    conf = sb.base_config(mock, hook=hook, initial="100ms", max_interval="300ms")
    conf["Endpoint:kb"] = {"BaseURL": mock.url, "APIKeyFile": sb.write_key("kb-key", K.DATASET_KEY)}
    sb.write_config(conf)

    # 1. three job files dropped in, a clean restart in the middle
    a = Trio(sb, mock, "a", 1)
    a.write()
    d = sb.start_daemon()
    a.wait_polled(2)
    d.stop()
    before = a.polls()
    d.start()
    a.wait_polled(1, since=before)
    H.eq(C.results(d), [], "results before any job ended")
    a.finish()
    C.wait_results(d, 3, timeout=15)
    sb.wait_for_hook_records(3)
    res = C.assert_one_result_each(d, a.ids())
    a.check(d, res)
    check_hooks(sb, [a], res)
    d.restart()
    assert_nothing_more(sb, d, mock, [a], "a clean restart")

    # 2. three more, kill -9 while they are polled
    b = Trio(sb, mock, "b", 2)
    b.write()
    b.wait_polled(2)
    d.kill9()
    before = b.polls()
    d.start()
    b.wait_polled(1, since=before)
    b.finish()
    C.wait_results(d, 6, timeout=15)
    sb.wait_for_hook_records(6)
    res = C.assert_one_result_each(d, a.ids() + b.ids())
    b.check(d, res, killed_after=before)
    check_hooks(sb, [a, b], res)

    # 3. kill -9 once every result and hook is recorded
    # (a hook whose completion was recorded is never run again: wait for the record, as test_crash does)
    H.wait_until(lambda: len(d.journal(MESSAGE_ID=C.HOOK_EXIT)) >= 6, 10, what="6 hook-exit entries")
    H.wait_until(lambda: [(r["journaled"], r["hook_state"]) for r in
                          sb.state_query("SELECT journaled, hook_state FROM jobs")] == [(1, 2)] * 6, 10,
                 what="every result journaled and every hook's completion recorded in the state")
    d.kill9()
    d.start()
    assert_nothing_more(sb, d, mock, [a, b], "kill -9 after the results")
    d.stop()


def from_v1(mock):
    """A state directory of version 1 (before kinds) and its job files, taken over."""
    sb = H.Sandbox("kinds_from_v1")
    hook = sb.recording_hook()
    conf = sb.base_config(mock, hook=hook, initial="100ms", max_interval="300ms")
    conf["Endpoint:kb"] = {"BaseURL": mock.url, "APIKeyFile": sb.write_key("kb-key", K.DATASET_KEY)}
    sb.write_config(conf)
    done, pending = str(uuid.uuid4()), str(uuid.uuid4())
    mock.add_jobs({"job_id": pending, "action": "disable", "lifecycle": [["waiting", None]]})
    f_done = sb.write_job("old-done", done)
    f_pending = sb.write_job("old-pending", pending, action="disable")
    now = int(time.time() * 1e6)
    accepted = now - 4_000_000
    # as version 1 left them: one job finished, journaled and hooked; one pending, 2 polls
    K.write_v1_state(sb.state_dir, [
        ("default", "enable", done, os.path.basename(f_done), now - 9_000_000, 3, 1, "completed",
         "completed", now - 5_000_000, "", None, 1, 2, now),
        ("default", "disable", pending, os.path.basename(f_pending), accepted, 2, 1, "waiting", None,
         None, None, None, 0, 0, now),
    ])

    c = Trio(sb, mock, "c", 3)
    c.write()
    d = sb.start_daemon()
    c.wait_polled(1)
    mock.wait_for_requests(1, timeout=10, job_id=pending)
    c.finish()
    mock.set(pending, status="completed", action="disable")
    C.wait_results(d, 4, timeout=15)
    sb.wait_for_hook_records(4)
    res = C.assert_one_result_each(d, [pending] + c.ids())
    c.check(d, res)
    H.eq(mock.status_requests(done), [], "polls of the job version 1 had finished")
    H.eq(C.results(d, job_id=done), [], "results of the job version 1 had finished")
    # JOB_DURATION_USEC counts from when version 1 accepted the job
    ts = int(res[pending]["__REALTIME_TIMESTAMP"]) / 1e6
    K.check_result(res[pending], kind=K.ANNOTATION, job_id=pending, status="completed", endpoint="default",
                   job_file=f_pending, remote_status="completed", action="disable",
                   polls=2 + len(mock.status_requests(pending)),
                   min_duration=(now - accepted) / 1e6, max_duration=ts - accepted / 1e6 + 0.05)
    hooks = K.hook_by_job(sb)
    H.eq(len(hooks.get(done, [])), 0, "hook runs of the job version 1 had finished")
    K.check_hook(hooks[pending][0], res[pending], kind=K.ANNOTATION, keys=(H.KEY, K.DATASET_KEY))
    rows = sb.state_query("select kind, count(*) as n from jobs group by kind")
    H.eq({r["kind"]: r["n"] for r in rows}, {K.ANNOTATION: 3, K.INDEXING: 1, K.WORKFLOW: 1},
         "jobs in the migrated state, by kind")
    d.stop()


def test():
    sb = H.Sandbox()
    mock = sb.start_mock(keys=(H.KEY, K.DATASET_KEY))
    done_when(sb, mock)
    from_v1(mock)


H.main(test, needs_journal=True)
