#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The trust boundary (issue 10, "The key and the jobs directory"):

1. A server that echoes the request headers (not Dify: a debug server or a broken proxy) puts the
   API key into its answers: in an error answer's message (HTTP 500 and 400), in a job's
   error_msg, in an unknown job_status, in a field nobody parses, and in a response header.  The
   key appears in no journal entry of the daemon or its hooks (--log-level=debug with the HTTP
   trace on), in no hook's environment, argv or stdin, and not in the state files; "[redacted]"
   stands where it was.  jobwatchctl start prints such an answer without the key too.
2. A job file's Hook= is refused (FILE:LINE error, no hook runs, the other jobs go on) unless the
   configuration says [Hook] AllowJobHooks=yes; after a reload that sets it, the same file is
   taken and its hook runs.  An empty Hook= is always fine.
3. --check (and the daemon at start-up) warns, naming the path, about a key file with mode 0644
   or 0666 and a jobs directory with mode 0777; quiet with 0600 and 0755.
4. http_proxy, https_proxy, HTTP_PROXY and ALL_PROXY in the environment are ignored (a listener
   there gets no connection; the jobs complete directly), by the daemon and by jobwatchctl start;
   with ProxyFromEnvironment=yes they are used; with Proxy= every request goes through that
   proxy: as is for an http:// BaseURL (the proxy sees the key; --check warns), through a CONNECT
   tunnel for https:// (the proxy sees neither the key nor the path)."""

import glob
import os
import socket
import stat
import subprocess
import threading
import time
import uuid

import harness as H
import jwcheck as C

SECRET = "app-S3cr3tK3yF0rJ0bw4tchT3st"
START_ARGS = ["--score-threshold", "0.9", "--embedding-provider", "openai", "--embedding-model",
              "text-embedding-3-small"]


def uid():
    return str(uuid.uuid4())


def check_run(sb, *extra):
    p = subprocess.run([H.find_jobwatchd(), "--check", "--config", sb.conf, "--jobs-dir", sb.jobs_dir,
                        "--state-dir", sb.state_dir] + list(extra),
                       capture_output=True, text=True, timeout=30, env=H._clean_env())
    H.log("jobwatchd --check -> %d\n%s%s", p.returncode, p.stdout, p.stderr)
    return p


def line_of(path, prefix):
    with open(path) as f:
        for i, ln in enumerate(f, 1):
            if ln.startswith(prefix):
                return i
    raise H.Failure("no line starting with %r in %s" % (prefix, path))


# ---- 1. redaction ----------------------------------------------------------------------------

def part_redaction():
    sb = H.Sandbox(name="trust-redact")
    J = {k: uid() for k in ("echo_http", "echo_error", "status", "body_only")}
    W = {"job_status": "waiting"}
    done = {"job_status": "completed"}
    mock = sb.start_mock(keys=(SECRET,), jobs=[
        # the endpoint's trouble messages carry the server's "message": 500, then 400
        {"job_id": J["echo_http"], "responses": [{"fault": "echo_auth"},
                                                 {"fault": "echo_auth", "status": 400}, done]},
        # a job ending in error with the headers in error_msg: JOB_ERROR, JOBWATCH_ERROR, stdin
        {"job_id": J["echo_error"], "responses": [W, {"fault": "echo_auth", "variant": "error_msg"}]},
        # an unknown job_status holding the key (logged once as unknown)
        {"job_id": J["status"], "responses": [{"job_status": "x" + SECRET}, done]},
        # the key in a field nobody parses: only the body (state, hook stdin) has it
        {"job_id": J["body_only"], "responses": [W, {"status": 200, "body": {
            "job_id": "$job_id", "job_status": "completed", "error_msg": "",
            "debug": "Authorization: Bearer " + SECRET}}]},
    ])
    key_file = sb.write_key("api-key", SECRET)
    hook = sb.recording_hook()
    sb.write_config(sb.base_config(mock, key_file, hook=hook, initial="100ms", max_interval="300ms"))
    for k, j in J.items():
        sb.write_job(k, j)
    d = sb.start_daemon(args=["--log-level=debug"], env={"JOBWATCH_HTTP_TRACE": "1"})
    res = C.wait_results(d, len(J), timeout=20)
    recs = sb.wait_for_hook_records(len(J), timeout=C.t(20))
    d.wait_for_journal(None, len(J), timeout=10, MESSAGE_ID=C.HOOK_EXIT)    # the runs are over
    d.stop()

    # the server did echo the real key (else this test would prove nothing)
    echoed = [e for e in mock.requests(kind="status") if e.get("fault") == "echo_auth"]
    H.check(len(echoed) >= 3, "the mock answered %d echo_auth requests, expected 3", len(echoed))
    H.eq(mock.status_requests(J["echo_error"])[0]["authorization"], "Bearer " + SECRET, "Authorization")

    by_job = {e["JOB_ID"]: e for e in res}
    H.eq({k: by_job[j]["JOB_STATUS"] for k, j in J.items()},
         {"echo_http": "completed", "echo_error": "error", "status": "completed", "body_only": "completed"},
         "outcomes")
    err = by_job[J["echo_error"]].get("JOB_ERROR", "")
    H.check("Authorization: Bearer [redacted]" in err, "JOB_ERROR is not the redacted echo: %r", err)

    hook_pids = [r["pid"] for r in recs]
    ents = H.journal_entries(pids=d.pids + hook_pids, since=sb.t_wall - 2)
    ents += H.journal_entries(SYSLOG_IDENTIFIER="jobwatchd", since=sb.t_wall - 2)
    H.check(len(ents) > 20, "only %d journal entries to search", len(ents))
    H.check(any(e.get("MESSAGE", "").startswith("http <") for e in ents),
            "no HTTP trace lines in the journal: JOBWATCH_HTTP_TRACE had no effect?")
    leaks = [H.format_entry(e) for e in ents if any(SECRET in str(v) for v in e.values())]
    H.eq(leaks, [], "journal entries carrying the API key")
    msgs = [e.get("MESSAGE", "") for e in ents]
    for what, pat in (("the HTTP 500 trouble", "server error (HTTP 500: request headers: Authorization: Bearer [redacted]"),
                      ("the HTTP 400 trouble", "unexpected HTTP 400: request headers: Authorization: Bearer [redacted]"),
                      ("the unknown job_status", "job_status 'x[redacted]'")):
        H.check(any(pat in m for m in msgs), "no journal message with %s (%r)", what, pat)
    H.check(SECRET not in d.stderr_text(), "the API key is in the daemon's stderr")

    for r in recs:
        blob = repr(r["proc_environ"]) + repr(r["cmdline"]) + repr(r["env"]) + repr(r["argv"]) + r["stdin"]
        H.check(SECRET not in blob, "the API key reached the hook of %s", r["env"].get("JOBWATCH_JOB_ID"))
    rec = {r["env"]["JOBWATCH_JOB_ID"]: r for r in recs}
    H.check("Authorization: Bearer [redacted]" in rec[J["echo_error"]]["env"]["JOBWATCH_ERROR"],
            "JOBWATCH_ERROR: %r", rec[J["echo_error"]]["env"]["JOBWATCH_ERROR"])
    for k in ("echo_error", "body_only"):
        H.check("Bearer [redacted]" in rec[J[k]]["stdin"], "stdin of the hook of %s: %r", k, rec[J[k]]["stdin"])

    # the state files (database, WAL, anything else) hold no copy either
    for p in glob.glob(os.path.join(sb.state_dir, "**"), recursive=True):
        if os.path.isfile(p):
            with open(p, "rb") as f:
                H.check(SECRET.encode() not in f.read(), "the API key is in the state file %s", p)

    # jobwatchctl start: an error answer echoing the key is printed without it
    mock.add_override({"fault": "echo_auth", "status": 500}, match={"kind": "start"}, count=1)
    p = sb.run_ctl("start", "enable", *START_ARGS)
    H.eq(p.returncode, 1, "jobwatchctl start on an echoing server: exit status")
    H.check(SECRET not in p.stdout + p.stderr, "jobwatchctl start printed the key: %r", p.stdout + p.stderr)
    H.check("[redacted]" in p.stderr, "jobwatchctl start does not show the redacted message: %r", p.stderr)


# ---- 2. AllowJobHooks= ---------------------------------------------------------------------

def part_job_hooks():
    sb = H.Sandbox(name="trust-hooks")
    J = {k: uid() for k in ("own", "plain", "none")}
    late = uid()
    mock = sb.start_mock(jobs=[{"job_id": j, "lifecycle": [["completed", None]]} for j in J.values()]
                         + [{"job_id": late, "lifecycle": [["waiting", None]]}])
    main_hook = sb.recording_hook("main")
    own_hook = sb.recording_hook("own")
    conf = sb.base_config(mock, hook=main_hook)
    sb.write_config(conf)
    own = sb.write_job("own", J["own"], hook=own_hook)
    sb.write_job("plain", J["plain"])
    sb.write_job("none", J["none"], hook="")        # an empty Hook= is always allowed
    hook_line = line_of(own, "Hook=")

    p = check_run(sb)
    H.eq(p.returncode, 1, "--check exit status with a job file's Hook= not allowed")
    H.check("%s:%d: Hook= is not allowed in job files" % (own, hook_line) in p.stdout,
            "--check does not report %s:%d: Hook= is not allowed...: %r", own, hook_line, p.stdout)
    H.check("none.job" not in p.stdout, "--check complains about an empty Hook=: %r", p.stdout)

    d = sb.start_daemon()
    C.wait_results(d, 2, timeout=10)
    sb.wait_for_hook_records(1, timeout=C.t(10), name="main")
    errs = d.wait_for_journal(lambda e: e.get("MESSAGE", "").startswith("%s:%d: " % (own, hook_line)), 1,
                              timeout=C.t(10))
    H.check("AllowJobHooks=yes" in errs[0]["MESSAGE"] and errs[0].get("PRIORITY") == "3",
            "journal: %r", (errs[0]["MESSAGE"], errs[0].get("PRIORITY")))
    H.quiet(1.0, "the refused job hook does not run")
    H.eq(sorted(e["JOB_ID"] for e in d.results()), sorted([J["plain"], J["none"]]), "jobs with a result")
    H.eq([r["env"]["JOBWATCH_JOB_ID"] for r in sb.hook_records("main")], [J["plain"]], "main hook runs")
    H.eq(sb.hook_records("own"), [], "runs of the refused job file's own hook")
    H.check(not mock.status_requests(J["own"]), "the refused job was polled")

    # allowed: the reload rescans the directory and takes the file
    conf["Hook"]["AllowJobHooks"] = "yes"
    sb.write_config(conf)
    H.eq(check_run(sb).returncode, 0, "--check exit status with AllowJobHooks=yes")
    d.reload()
    C.wait_results(d, 1, timeout=10, job_id=J["own"])
    [r] = sb.wait_for_hook_records(1, timeout=C.t(10), name="own")
    H.eq(r["env"]["JOBWATCH_JOB_ID"], J["own"], "the job file's own hook ran for its job")
    H.eq(len(sb.hook_records("main")), 1, "main hook runs after the reload")

    # taken while allowed, then a reload turns AllowJobHooks= off before the job ends: no hook
    sb.write_job("late", late, hook=own_hook)
    mock.wait_for_requests(1, job_id=late, kind="status")
    conf["Hook"]["AllowJobHooks"] = "no"
    sb.write_config(conf)
    d.reload()
    mock.set(late, status="completed")
    C.wait_results(d, 1, timeout=10, job_id=late)
    d.wait_for_journal(lambda e: "Not running the job file's Hook=" in e.get("MESSAGE", ""), 1,
                       timeout=C.t(5), JOB_ID=late)
    H.quiet(1.0, "the job file's hook does not run")
    H.eq([r["env"]["JOBWATCH_JOB_ID"] for r in sb.hook_records("own")], [J["own"]],
         "own hook runs after AllowJobHooks= was turned off")
    H.eq(len(sb.hook_records("main")), 1, "main hook runs after AllowJobHooks= was turned off")
    d.stop()


# ---- 3. permission warnings ----------------------------------------------------------------

def part_permissions():
    sb = H.Sandbox(name="trust-perms")
    job = uid()
    mock = sb.start_mock(jobs=[{"job_id": job, "lifecycle": [["completed", None]]}])
    key_file = sb.write_key("api-key", H.KEY)
    sb.write_config(sb.base_config(mock, key_file))
    sb.write_job("job", job)
    key_line = line_of(sb.conf, "APIKeyFile=")
    os.chmod(sb.jobs_dir, 0o755)

    p = check_run(sb)
    H.eq((p.returncode, [ln for ln in p.stdout.splitlines() if "warning:" in ln]), (0, []),
         "--check with a 0600 key file and a 0755 jobs directory")

    for mode in (0o644, 0o666):
        os.chmod(key_file, mode)
        p = check_run(sb)
        H.eq(p.returncode, 0, "--check exit status with a key file of mode %04o" % mode)
        want = "%s:%d: warning: API key file '%s' is readable or writable by users other than its owner (mode %04o)" \
            % (sb.conf, key_line, key_file, mode)
        H.check(want in p.stdout, "--check does not warn %r: %r", want, p.stdout)

    os.chmod(sb.jobs_dir, 0o777)
    p = check_run(sb)
    want = "%s: warning: The jobs directory is writable by users other than its owner (mode 0777)" % sb.jobs_dir
    H.check(want in p.stdout, "--check does not warn %r: %r", want, p.stdout)
    H.check("1 warning" not in p.stdout and "2 warnings" in p.stdout, "--check summary: %r", p.stdout)

    # jobwatchctl start, which reads the key too, warns as well
    p = sb.run_ctl("start", "enable", *START_ARGS)
    H.eq(p.returncode, 0, "jobwatchctl start with a key file of mode 0666 (stderr %r)" % p.stderr)
    # printed as --check prints it (diag_list_print()), after jobwatchctl's prefix
    H.check("jobwatchctl: %s:%d: warning: API key file '%s' is readable or writable" % (sb.conf, key_line, key_file)
            in p.stderr,
            "jobwatchctl start does not warn about the key file: %r", p.stderr)

    # the daemon says the same at start-up
    d = sb.start_daemon()
    C.wait_results(d, 1, timeout=10)
    msgs = [e.get("MESSAGE", "") for e in d.journal()]
    for what in ("API key file '%s' is readable or writable" % key_file,
                 "%s: The jobs directory is writable by users other than its owner" % sb.jobs_dir):
        H.check(any(what in m for m in msgs), "no start-up warning %r in the journal", what)
    d.stop()
    os.chmod(sb.jobs_dir, 0o755)


# ---- 4. proxies ----------------------------------------------------------------------------

class Listener(H.TcpServer):
    """A TCP port that counts connections and answers nothing (a proxy that must not be used)."""

    def __init__(self):
        self.connections = 0
        self.conns = []
        super().__init__(backlog=16)

    def accepted(self, c):
        self.connections += 1
        self.conns.append(c)             # held open: a client that used it would hang, not fail fast

    def close(self):
        super().close()
        for c in self.conns:
            c.close()


class ForwardProxy(H.TcpServer):
    """A small HTTP forward proxy (absolute-form requests; CONNECT tunnels too): one request per
    client connection, answered with Connection: close.  Records each request line."""

    def __init__(self):
        self.requests = []
        self.seen = bytearray()      # every byte clients sent through the proxy
        super().__init__(backlog=64)

    def accepted(self, c):
        threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _pipe(self, a, b, record=False):
        try:
            while True:
                data = a.recv(65536)
                if not data:
                    break
                if record:
                    self.seen += data
                b.sendall(data)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _serve(self, c):
        try:
            head = b""
            while b"\r\n\r\n" not in head:
                data = c.recv(65536)
                if not data:
                    return
                head += data
            self.seen += head
            head, rest = head.split(b"\r\n\r\n", 1)
            lines = head.decode("latin-1").split("\r\n")
            method, target, version = lines[0].split(" ", 2)
            self.requests.append((method, target))
            if method == "CONNECT":
                host, port = target.rsplit(":", 1)
                up = socket.create_connection((host, int(port)), timeout=10)
                c.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                if rest:
                    up.sendall(rest)
                threading.Thread(target=self._pipe, args=(up, c), daemon=True).start()
                self._pipe(c, up, record=True)
                return
            assert target.startswith("http://"), target
            hostport, _, path = target[len("http://"):].partition("/")
            host, _, port = hostport.partition(":")
            headers = [ln for ln in lines[1:] if ln.split(":", 1)[0].strip().lower()
                       not in ("connection", "proxy-connection", "keep-alive")]
            clen = 0
            for ln in headers:
                if ln.lower().startswith("content-length:"):
                    clen = int(ln.split(":", 1)[1])
            while len(rest) < clen:
                data = c.recv(65536)
                if not data:
                    break
                rest += data
                self.seen += data
            up = socket.create_connection((host, int(port or 80)), timeout=10)
            up.sendall(("%s /%s %s\r\n" % (method, path, version)).encode("latin-1")
                       + "".join(h + "\r\n" for h in headers).encode("latin-1")
                       + b"Connection: close\r\n\r\n" + rest)
            self._pipe(up, c)
        except Exception as e:                     # the test sees the failure as a failed poll
            H.log("proxy: %s", e)
        finally:
            c.close()


def part_proxy():
    sb = H.Sandbox(name="trust-proxy")
    J = {k: uid() for k in ("direct", "envproxy", "viaproxy", "tls")}
    W, done = {"job_status": "waiting"}, {"job_status": "completed"}
    mock = sb.start_mock(jobs=[{"job_id": J[k], "responses": [W, W, done]} for k in ("direct", "envproxy", "viaproxy")])
    trap = Listener()
    proxy = ForwardProxy()
    env = {"http_proxy": trap.url, "https_proxy": trap.url, "HTTP_PROXY": trap.url,
           "HTTPS_PROXY": trap.url, "ALL_PROXY": trap.url, "all_proxy": trap.url,
           "no_proxy": None, "NO_PROXY": None}
    try:
        # the environment's proxy is ignored: no connection to it, the job completes directly
        conf = sb.base_config(mock)
        sb.write_config(conf)
        sb.write_job("direct", J["direct"])
        d = sb.start_daemon(env=env)
        [res] = C.wait_results(d, 1, timeout=10)
        H.eq(res["JOB_STATUS"], "completed", "outcome with a proxy in the environment")
        H.eq(trap.connections, 0, "connections to the proxy named by http_proxy/https_proxy/ALL_PROXY")
        H.check(len(mock.status_requests(J["direct"])) >= 2, "the mock saw no direct polls")

        # A name that does not resolve makes http.c replace the easy handle (a libcurl 8.14
        # leak): the new handle must not fall back to the environment's proxy either.
        conf["Endpoint:nodns"] = {"BaseURL": "http://jw-no-such-host.invalid/v1",
                                  "APIKeyFile": conf["Endpoint"]["APIKeyFile"]}
        sb.write_config(conf)
        d.reload()
        sb.write_job("nodns", uid(), endpoint="nodns", timeout="60s")
        H.wait_until(lambda: len(d.journal(JOB_ENDPOINT="nodns")) + len(
            [e for e in d.journal() if "jw-no-such-host" in e.get("MESSAGE", "")]) > 0,
            C.t(10), what="the unresolvable endpoint's trouble")
        H.quiet(1.5, "no connection to the proxy over several more polls, each on a replaced handle")
        H.eq(trap.connections, 0, "connections to the environment's proxy after a failed name resolution")
        sb.remove_job("nodns")
        del conf["Endpoint:nodns"]
        sb.write_config(conf)
        d.reload()

        # jobwatchctl start: the same
        since = mock.stats()["requests"]
        p = sb.run_ctl("start", "enable", *START_ARGS, env={k: v for k, v in env.items() if v})
        H.eq(p.returncode, 0, "jobwatchctl start with a proxy in the environment (stderr %r)" % p.stderr)
        H.eq(trap.connections, 0, "connections to the environment's proxy from jobwatchctl start")
        H.check([e for e in mock.requests(kind="start") if e["seq"] > since], "the start request did not reach the mock")

        # ProxyFromEnvironment=yes: the environment decides (its proxy gets the connection)
        conf["Endpoint"]["ProxyFromEnvironment"] = "yes"
        sb.write_config(conf)
        d.reload()
        sb.write_job("envproxy", J["envproxy"], timeout="60s")
        H.wait_until(lambda: trap.connections > 0, C.t(10), what="a connection to the environment's proxy")
        sb.remove_job("envproxy")

        # Proxy=: every request through it
        del conf["Endpoint"]["ProxyFromEnvironment"]
        conf["Endpoint"]["Proxy"] = proxy.url
        sb.write_config(conf)
        d.reload()
        seen = trap.connections
        sb.write_job("viaproxy", J["viaproxy"])
        [res] = C.wait_results(d, 1, timeout=10, job_id=J["viaproxy"])
        H.eq(res["JOB_STATUS"], "completed", "outcome through Proxy=")
        polls = mock.status_requests(J["viaproxy"])
        via = [t for m, t in proxy.requests if J["viaproxy"] in t]
        H.check(len(polls) >= 2 and len(via) == len(polls),
                "polls of the job: %d at the mock, %d through the proxy (%s)", len(polls), len(via), via)
        H.check(all(t.startswith(mock.url + "/") for t in via), "proxy request targets: %s", via)
        H.eq(trap.connections, seen, "connections to the environment's proxy once Proxy= is set")
        # plain http:// through a proxy: it sees the key (which --check warns about)
        H.check(("Bearer " + H.KEY).encode() in proxy.seen, "the forward proxy did not see the requests")
        p = check_run(sb)
        H.check("uses plain http:// through Proxy=: the proxy sees every request, the API key included"
                in p.stdout, "--check does not warn about http:// through Proxy=: %r", p.stdout)
        d.stop()

        # https:// through the proxy: a CONNECT tunnel; the proxy never sees a request or the key
        tls = sb.start_mock(tls=True, jobs=[{"job_id": J["tls"], "responses": [W, done]}])
        n = len(proxy.requests)
        proxy.seen.clear()
        conf2 = sb.base_config(tls, extra={"Endpoint": {"CAFile": tls.cert, "Proxy": proxy.url}})
        sb.write_config(conf2)
        sb.write_job("tls", J["tls"])
        d.restart()
        [res] = C.wait_results(d, 1, timeout=10, job_id=J["tls"])
        H.eq(res["JOB_STATUS"], "completed", "outcome over https:// through Proxy=")
        host = tls.url.split("//", 1)[1].split("/", 1)[0]
        H.check(proxy.requests[n:] and all(r == ("CONNECT", host) for r in proxy.requests[n:]),
                "requests the proxy got for an https:// endpoint: %s", proxy.requests[n:])
        H.check(H.KEY.encode() not in proxy.seen and J["tls"].encode() not in proxy.seen,
                "the proxy saw the key or the job id through a CONNECT tunnel")
        H.check(len(tls.status_requests(J["tls"])) >= 2, "the TLS mock saw no polls")
        d.stop()
        sb.write_config(conf)

        # jobwatchctl start follows Proxy= too
        n = len(proxy.requests)
        p = sb.run_ctl("start", "disable", *START_ARGS, env={k: v for k, v in env.items() if v})
        H.eq(p.returncode, 0, "jobwatchctl start with Proxy= (stderr %r)" % p.stderr)
        H.eq([m for m, t in proxy.requests[n:]], ["POST"], "jobwatchctl start's requests through Proxy=")
    finally:
        trap.close()
        proxy.close()


PARTS = {"redaction": part_redaction, "job_hooks": part_job_hooks, "permissions": part_permissions,
         "proxy": part_proxy}


def test():
    # TRUST_PARTS=proxy,... runs only those (to see each fail on its own against an old binary)
    names = [n for n in os.environ.get("TRUST_PARTS", "").split(",") if n] or list(PARTS)
    for n in names:
        H.note("part %s", n)
        PARTS[n]()


H.main(test, needs_journal=True)
