#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Hostile servers (issue "Never lose a job" point 5; CONTRACT.md "Polling and outcomes").

Each fault gets its own named endpoint, so that its trouble entry (MESSAGE_ID endpoint trouble,
JOB_ENDPOINT=name) can be checked on its own; a healthy default endpoint keeps getting new jobs
all along, and each must finish promptly (the daemon stays responsive).
  trickle   answers trickled byte by byte: slower than RequestTimeout=3s in total -> a timeout
            fault, the request ends at ~3 s; faster -> the job completes
  headers   200 KiB of headers (many, then one single line) -> a fault, then completion
  chunked   an endless chunked body -> cut at the body cap at once (not at RequestTimeout),
            the daemon's VmRSS stays small, then completion
  redirect  302/307/301 to another host:port -> never followed: a second mock there sees no
            request at all (the key never travels); then completion
  tls       https with a self-signed certificate -> a TLS fault, the job keeps being tried, the
            server never gets an HTTP request; after a reload with CAFile= -> completion
  dns       a BaseURL under .invalid -> one fault entry (not one per poll); after a reload with
            a good BaseURL -> completion
Every fault is logged as trouble (priority warning) when it starts and as recovered when it ends
(the endless 200 body as the job's trouble: an oversized answer is the job's own fault);
jobwatchd never crashes and exits 0 on SIGTERM.
"""

import os
import threading
import time
import uuid

import harness as H

TROUBLE = "a7269768b97e425c852659c6811be1c2"
RECOVERED = "d170ee79643644feb29c8a43a496bc0e"
# An endless body answering 200 is the job's own answer, too large: job trouble (jobwatchd(8)).
JOB_TROUBLE = "2f0be04248444af5afa460af86fdf961"
JOB_RECOVERED = "27aa5e1c9a5449d5bd5d9547d1b0c15d"
REQUEST_TIMEOUT = 3.0


def uid():
    return str(uuid.uuid4())


def vmrss_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for ln in f:
                if ln.startswith("VmRSS:"):
                    return int(ln.split()[1])
    except OSError:
        pass
    return None


class Healthy(threading.Thread):
    """Every 1.5 s a new job on the healthy endpoint that ends 0.5 s after it is added."""

    def __init__(self, sb, mock):
        super().__init__(daemon=True)
        self.sb, self.mock = sb, mock
        self.added = []           # (job_id, wall time added)
        self.stop = threading.Event()
        self.error = None

    def run(self):
        i = 0
        try:
            while not self.stop.is_set():
                j = uid()
                self.mock.add_job(j, lifecycle=[["waiting", 0.5], ["completed", None]])
                self.sb.write_job("healthy%03d" % i, j)
                self.added.append((j, time.time()))
                i += 1
                self.stop.wait(1.5)
        except Exception as e:          # reported by check()
            self.error = e

    def check(self, d, slack=2.5):
        self.stop.set()
        self.join(10)
        if self.error:
            raise self.error
        late = []
        for j, t in self.added:
            [e] = d.wait_for_results(1, timeout=15, job_id=j)
            H.eq(e["JOB_STATUS"], "completed", "healthy job outcome")
            took = int(e["__REALTIME_TIMESTAMP"]) / 1e6 - t
            if took > 0.5 + slack:
                late.append("%.1fs" % took)
        H.note("%d healthy jobs finished meanwhile", len(self.added))
        H.check(not late, "healthy jobs took long while other endpoints misbehaved: %s", late)


def trouble(d, endpoint, mid=TROUBLE):
    return d.journal(MESSAGE_ID=mid, JOB_ENDPOINT=endpoint)


def test():
    sb = H.Sandbox(name="hostile-server")
    good = sb.start_mock(name="good")
    other = sb.start_mock(name="elsewhere")                # where redirects point
    TR, HH, EC, RD, TL, DN = (uid() for _ in range(6))
    to_other = "http://localhost:%d/v1/apps/annotation-reply/enable/status/%s" % (other.port, RD)
    done = {"job_status": "completed"}
    endless = {"fault": "endless_chunked", "chunk_size": 16384, "interval": 0.001}
    hostile = sb.start_mock(name="hostile", jobs=[
        {"job_id": TR, "responses": [{"fault": "trickle", "interval": 0.1},
                                     {"fault": "trickle", "interval": 0.1},
                                     {"fault": "trickle", "interval": 0.002, "job_status": "completed"}]},
        {"job_id": HH, "responses": [{"fault": "huge_headers"}, {"fault": "huge_headers", "single": True},
                                     {"fault": "huge_headers", "size": 300 * 1024, "header_len": 8000}, done]},
        {"job_id": RD, "responses": [{"fault": "redirect", "location": to_other},
                                     {"fault": "redirect", "status": 307, "location": to_other},
                                     {"fault": "redirect", "status": 301, "location": to_other}, done]},
        {"job_id": DN, "lifecycle": [["completed", None]]},
    ])
    # the endless bodies get a mock of their own: streaming them keeps a mock busy
    chunky = sb.start_mock(name="chunky", jobs=[{"job_id": EC, "responses": [endless, endless, endless, done]}])
    tls = sb.start_mock(name="tls", tls=True, jobs=[{"job_id": TL, "lifecycle": [["completed", None]]}])
    key = sb.write_key("api-key", H.KEY)
    conf = sb.base_config(good, key, request_timeout="%ds" % REQUEST_TIMEOUT)
    for name in ("trickle", "headers", "redirect"):
        conf["Endpoint:" + name] = {"BaseURL": hostile.url, "APIKeyFile": key}
    conf["Endpoint:chunked"] = {"BaseURL": chunky.url, "APIKeyFile": key}
    conf["Endpoint:tls"] = {"BaseURL": tls.url, "APIKeyFile": key}
    conf["Endpoint:dns"] = {"BaseURL": "http://jobwatch-test.invalid/v1", "APIKeyFile": key}
    sb.write_config(conf)
    ep = {TR: "trickle", HH: "headers", EC: "chunked", RD: "redirect", TL: "tls", DN: "dns"}
    for j, e in ep.items():
        sb.write_job(e, j, endpoint=e)
    # ASan keeps freed memory in a quarantine (256 MiB by default), which would swamp the RSS
    # check; a small one still catches use-after-free of recent allocations.
    asan = ":".join(x for x in (os.environ.get("ASAN_OPTIONS"), "quarantine_size_mb=4") if x)
    d = sb.start_daemon(env={"ASAN_OPTIONS": asan})
    time.sleep(0.3)             # the baseline is taken once the start-up allocations are done
    rss0 = vmrss_kib(d.pid)
    healthy = Healthy(sb, good)
    healthy.start()

    # ---- trickle, headers, chunked, redirect: faults, then completion -----------------------
    rss_max = rss0
    deadline = time.monotonic() + H.t(40)
    while time.monotonic() < deadline:
        rss_max = max(rss_max, vmrss_kib(d.pid) or 0)
        if all(d.results(job_id=j) for j in (TR, HH, EC, RD)):
            break
        H.check(d.is_running(), "jobwatchd died (rc %s)", d.proc.poll())
        time.sleep(0.1)
    for j in (TR, HH, EC, RD):
        r = d.results(job_id=j)
        H.check(r, "job on endpoint '%s' did not finish; trouble: %s", ep[j],
                [e["MESSAGE"] for e in trouble(d, ep[j])])
        H.eq([e["JOB_STATUS"] for e in r], ["completed"], "result entries on endpoint '%s'" % ep[j])
    H.note("VmRSS: %d KiB at start, at most %d KiB during the hostile answers", rss0, rss_max)
    H.check(rss_max - rss0 < 48 * 1024, "VmRSS grew by %d KiB while bodies were streamed endlessly",
            rss_max - rss0)

    def one_trouble(name, words, mid=TROUBLE):
        ents = trouble(d, name, mid)
        H.check(ents, "no trouble entry for endpoint '%s'", name)
        msgs = [e["MESSAGE"] for e in ents]
        H.note("endpoint %s: %s", name, msgs)
        H.check(all(e["PRIORITY"] == "4" for e in ents), "trouble entries of '%s' not at warning priority", name)
        H.check(any(any(w in m.lower() for w in words) for m in msgs),
                "trouble of endpoint '%s' does not mention %s: %s", name, words, msgs)
        return ents

    one_trouble("trickle", ["timeout", "timed out"])
    one_trouble("headers", ["too large", "header"])
    H.eq(len(one_trouble("chunked", ["too large"], JOB_TROUBLE)), 1, "job trouble entries on 'chunked'")
    H.eq(trouble(d, "chunked"), [], "endpoint trouble entries on 'chunked' (one job's answers)")
    H.check(d.journal(MESSAGE_ID=JOB_RECOVERED, JOB_ID=EC), "no job recovery entry on 'chunked'")
    one_trouble("redirect", ["redirect"])
    for name in ("trickle", "headers", "redirect"):
        H.check(d.journal(MESSAGE_ID=RECOVERED, JOB_ENDPOINT=name), "no recovery entry for endpoint '%s'", name)

    # (the mock sees the request only once it is sent: its clock starts later than curl's)
    for e in hostile.status_requests(TR)[:2]:
        took = e["t_end"] - e["t"]
        H.check(took <= REQUEST_TIMEOUT + 1.5,
                "a trickled answer slower than RequestTimeout= was read for %.2fs (RequestTimeout=%.0fs)",
                took, REQUEST_TIMEOUT)
        H.check(e["aborted"], "the client did not give up on a too slow answer")
    for e in chunky.status_requests(EC)[:3]:
        took = e["t_end"] - e["t"]
        H.check(took < H.t(1.5), "an endless body was read for %.2fs before being cut off", took)
    st = other.stats()
    H.eq((st["requests"], st["connections_total"]), (0, 0),
         "requests/connections at the host redirects pointed to (must never be followed)")
    H.eq(len(hostile.requests(kind="redirected")), 0, "redirected requests at the origin")

    # ---- tls and dns: still failing, logged once, tried again and again ---------------------------
    def stored_polls(j):
        rows = sb.state_query("SELECT polls FROM jobs WHERE job_id = ?", (j,))
        return rows[0]["polls"] if rows else 0
    p0 = {j: stored_polls(j) for j in (TL, DN)}
    try:
        H.wait_until(lambda: all(stored_polls(j) > p0[j] for j in (TL, DN)), 10, what="new polls")
    except H.Failure:
        pass                    # named below
    p1 = {j: stored_polls(j) for j in (TL, DN)}
    for j in (TL, DN):
        H.check(p1[j] > p0[j], "endpoint '%s': no new polls in 10 s (%d -> %d): the job is not tried any more",
                ep[j], p0[j], p1[j])
    H.eq(tls.stats()["requests"], 0, "HTTP requests the TLS server got over an unverified connection")
    t_tls = one_trouble("tls", ["tls", "ssl", "certificate"])
    t_dns = one_trouble("dns", ["dns", "resolve"])
    H.eq(len(t_tls), 1, "trouble entries for endpoint 'tls' (logged once, not per poll)")
    H.eq(len(t_dns), 1, "trouble entries for endpoint 'dns' (logged once, not per poll)")
    H.check(not d.results(job_id=TL) and not d.results(job_id=DN), "a job of a failing endpoint finished")

    # ---- fixed by a reload ------------------------------------------------------------------
    conf["Endpoint:tls"]["CAFile"] = tls.cert
    conf["Endpoint:dns"]["BaseURL"] = hostile.url
    sb.write_config(conf)
    d.reload()
    for j in (TL, DN):
        [e] = d.wait_for_results(1, timeout=15, job_id=j)
        H.eq(e["JOB_STATUS"], "completed", "outcome on endpoint '%s' after the reload" % ep[j])
    for name in ("tls", "dns"):
        d.wait_for_journal(None, 1, timeout=5, MESSAGE_ID=RECOVERED, JOB_ENDPOINT=name)
    H.eq(tls.status_requests(TL)[0]["authorization"], "Bearer " + H.KEY, "Authorization over verified TLS")

    healthy.check(d)
    H.check(not trouble(d, "default"), "the healthy endpoint had trouble: %s",
            [e["MESSAGE"] for e in trouble(d, "default")])
    d.stop()


H.main(test, needs_journal=True)
