#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""sd_notify and reload: READY=1 after the first scan; STATUS= lines with counts; WATCHDOG=1
when WATCHDOG_USEC is set; SIGHUP gives RELOADING=1 then READY=1; a reload that adds
[Endpoint:x] makes a job file on x (refused before) work; a bad new configuration is reported
and the old one kept (jobs keep polling, new job files still work); SIGTERM gives STOPPING=1
and exit status 0."""

import re
import time
import uuid

import harness as H
import jwcheck as C


def test():
    sb = H.Sandbox()
    J = {k: str(uuid.uuid4()) for k in ("a", "b", "on_x", "pending", "late")}
    W, done = {"job_status": "waiting"}, {"job_status": "completed"}
    mock = sb.start_mock(keys=(H.KEY, H.KEY2), jobs=[
        {"job_id": J["a"], "responses": [W, done]},
        {"job_id": J["b"], "responses": [W, W, done]},
        {"job_id": J["on_x"], "app": H.KEY2, "responses": [W, done]},
        {"job_id": J["pending"], "lifecycle": [["waiting", None]]},
        {"job_id": J["late"], "responses": [W, done]},
    ])
    key2 = sb.write_key("key2", H.KEY2)
    conf = sb.base_config(mock, initial="100ms", max_interval="300ms")
    sb.write_config(conf)
    sb.write_job("a", J["a"])
    sb.write_job("b", J["b"])
    f_x = sb.write_job("on_x", J["on_x"], endpoint="x")
    d = sb.start_daemon(watchdog_usec=2_000_000)

    # READY=1 after the first scan: the first STATUS= counts the two good files
    i = d.wait_ready()
    st = d.notify.wait("STATUS", timeout=H.t(5), since=d.mark)[1]["fields"]["STATUS"]
    H.note("first STATUS=%s", st)
    H.check(re.search(r"(?i)\b2 jobs?\b.*watch|watch\w*\D*\b2\b", st), "first STATUS= does not count 2 jobs: %r", st)
    # WATCHDOG=1, repeatedly, within WATCHDOG_USEC
    k = d.wait_notify("WATCHDOG", "1", timeout=3)
    d.wait_notify("WATCHDOG", "1", timeout=3, since=k + 1)
    # STATUS= follows the counts
    C.wait_results(d, 2, timeout=10)
    s = d.wait_status(r"(?i)\b2 finished|finished\D*\b2\b", timeout=5)
    H.note("STATUS after two results: %s", s)
    H.check(re.search(r"\d", s) and re.search(r"(?i)watch", s), "STATUS= without counts: %r", s)
    H.eq(mock.status_requests(J["on_x"]), [], "requests for a job on an endpoint not configured")

    # reload with [Endpoint:x]: the job file on x now works
    conf["Endpoint:x"] = {"BaseURL": mock.url, "APIKeyFile": key2}
    sb.write_config(conf)
    sb.write_job("pending", J["pending"])
    mock.wait_for_requests(1, timeout=C.t(5), job_id=J["pending"])
    d.reload()
    [e] = C.wait_results(d, 1, timeout=10, job_id=J["on_x"])
    C.check_result(e, job_id=J["on_x"], status="completed", endpoint="x", job_file=f_x,
                   polls=len(mock.status_requests(J["on_x"])))

    # a bad new configuration: reported, the old one kept
    good_text = open(sb.conf).read()
    sb.write_config(good_text.replace("InitialInterval=100ms", "InitialInterval=banana"))
    bad_line = next(n for n, ln in enumerate(open(sb.conf).read().splitlines(), 1) if ln.startswith("InitialInterval="))
    t_reload = time.time()
    d.reload()

    def reported():
        errs = [e for e in d.journal(since=t_reload - 1) if int(e.get("PRIORITY", "6")) <= 3]
        return [e for e in errs if "%s:%d" % (sb.conf, bad_line) in e.get("MESSAGE", "")]
    H.wait_until(reported, 5, what="an error entry naming %s:%d, the bad configuration" % (sb.conf, bad_line))
    n = len(mock.status_requests(J["pending"]))
    mock.wait_for_requests(n + 3, timeout=C.t(3), job_id=J["pending"])      # still polled, old intervals
    times = mock.poll_times(J["pending"])[-3:]
    H.check(all(g <= 0.3 + C.t(0.25) for g in H.gaps(times)), "polling slowed down after a failed reload: %s",
            H.gaps(times))
    sb.write_job("late", J["late"])
    [e] = C.wait_results(d, 1, timeout=10, job_id=J["late"])
    H.eq(e["JOB_STATUS"], "completed", "a job added after a failed reload")
    mock.set(J["pending"], status="completed")
    C.wait_results(d, 1, timeout=10, job_id=J["pending"])
    C.assert_one_result_each(d, list(J.values()))
    d.wait_status(r"(?i)\b5 finished|finished\D*\b5\b", timeout=5)

    # SIGTERM: STOPPING=1, exit 0 (checked by stop())
    d.stop()


H.main(test, needs_journal=True)
