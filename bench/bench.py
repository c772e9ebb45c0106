#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""jobwatch's benchmark driver (issue "Scale and speed"). Run it through bench/run.

One nginx (one worker, pinned to SERVER_CPU) serves Dify's job-status endpoint from
files; every client (wrk, h2load, jobwatchd, the Node baseline) runs pinned to
CLIENT_CPU, one at a time, interleaved within each repetition, so the ratios of
one run compare like with like. Polls are counted by the server (nginx
stub_status' request counter), and so are the connections that carried them
(its accepts counter); CPU from /proc/PID/stat; memory from /proc/PID/status.

HTTP/2 runs twice: over TLS (ALPN, a self-signed certificate made at start), where
libcurl multiplexes every poll on one connection, and in cleartext with prior
knowledge (h2c), which libcurl before 8.0.0 cannot reuse (curl issue #10634):
jobwatchd then opens a connection per request, and the report says so.
"""
import argparse
import ctypes
import json
import os
import random
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
CLK_TCK = os.sysconf("SC_CLK_TCK")
MESSAGE_ID_JOB_RESULT = "a39a5dfed5e2428daa11a29b4bba0de2"
MESSAGE_ID_ENDPOINT_TROUBLE = "a7269768b97e425c852659c6811be1c2"
STATUS_PREFIX = "v1/apps/annotation-reply/enable/status"
MiB = 1024 * 1024
# the W1 variants: protocol -> (name, --only key)
W1_PROTOS = {"1.1": ("W1", "w1"), "h2": ("W1-h2", "w1h2"), "h2c": ("W1-h2c", "w1h2c")}
# W1-idx: Kind=document-indexing batches, served from srv/v1/datasets/DATASET/documents/BATCH/indexing-status
IDX_PREFIX = "v1/datasets"


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_status(pid):
    """VmRSS and VmHWM in bytes."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(v.split()[0]) * 1024
    return out


def proc_cpu(pid):
    """utime + stime in seconds (every thread of the process)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_schedstat(pid):
    """Seconds each live thread spent runnable but waiting for a CPU, by thread id."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                out[tid] = int(f.read().split()[1]) / 1e9
        except (FileNotFoundError, ProcessLookupError):  # the thread ended meanwhile
            continue
    return out


def cpu_wait(before, after):
    """Waiting for a CPU between two proc_schedstat() readings: that of the thread that waited
    most (wrk and h2load, for one, do their work in a thread of their own, not the main one)."""
    return max((w - before.get(tid, 0.0) for tid, w in after.items()), default=0.0)


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def ratio(a, b):
    return a / b if a is not None and b else None


def fmt_ratio(r):
    return "n/a" if r is None else f"{r:.2f}×"


def fmt_num(x, unit="", digits=0):
    if x is None:
        return "n/a"
    return f"{x:,.{digits}f}{unit}"


class Bench:
    def __init__(self, args):
        self.args = args
        self.work = tempfile.mkdtemp(prefix="jobwatch-bench.", dir=args.workdir)
        os.chmod(self.work, 0o755)  # nginx' worker runs as another user
        self.key = "app-" + "".join(random.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") for _ in range(24))
        self.key_file = os.path.join(self.work, "api-key")
        with open(os.open(self.key_file, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
            f.write(self.key)  # no trailing newline
        # W1-idx: a knowledge base's key (Dify's dataset keys are another type than app keys)
        self.ds_key = "dataset-" + "".join(random.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") for _ in range(24))
        self.ds_key_file = os.path.join(self.work, "dataset-key")
        with open(os.open(self.ds_key_file, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
            f.write(self.ds_key)
        self.idx_jobs_dir = None
        self.port_h1, self.port_h2, self.port_h2tls, self.port_status = (free_port(), free_port(), free_port(),
                                                                          free_port())
        self.cert, self.cert_key = os.path.join(self.work, "tls-cert.pem"), os.path.join(self.work, "tls-key.pem")
        self.stub_calls = 0  # connections the driver itself opened to stub_status
        self.srv_status = os.path.join(self.work, "srv", STATUS_PREFIX)  # a symlink to one of:
        self.trees = {st: os.path.join(self.work, f"status-{st}") for st in ("processing", "completed")}
        self.state_dir = os.path.join(args.state_base or self.work, f"jobwatch-state.{os.getpid()}")
        self.nginx = None
        self.children = []  # every process we started, to stop on the way out
        self.results = {}

    # --- set-up ---

    def make_jobs(self):
        n_max = max(self.args.jobs_w2_big, self.args.jobs_w1)
        for d in self.trees.values():
            os.makedirs(d)
        os.makedirs(os.path.dirname(self.srv_status))
        os.symlink(self.trees["processing"], self.srv_status)
        rng = random.Random(12345)
        self.ids = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(n_max)]
        self.jobs_dirs = {}
        for n in sorted({self.args.jobs_w1, self.args.jobs_w2_base, self.args.jobs_w2_small, self.args.jobs_w2_big,
                         self.args.jobs_w3}):
            d = os.path.join(self.work, f"jobs-{n}")
            os.makedirs(d)
            for jid in self.ids[:n]:
                with open(os.path.join(d, f"{jid}.job"), "w") as f:
                    f.write(f"[Job]\nJobID={jid}\nAction=enable\n")
            self.jobs_dirs[n] = d
        for jid in self.ids:
            self.set_status(jid, "processing", atomic=False)
        for jid in self.ids[:self.args.jobs_w3]:
            self.set_status(jid, "completed", atomic=False, tree="completed")
        # on disk before anything is measured: writeback of these 300,000 small files
        # would otherwise stall the first fsync of a run (sqlite's) for many seconds
        t = time.monotonic()
        os.sync()
        log(f"{n_max} jobs written under {self.work} (sync took {time.monotonic() - t:.1f}s)")

    def make_idx_jobs(self):
        """W1-idx: JOBS_W1 document-indexing job files, one dataset, each batch of IDX_DOCS documents
        that stay in 'indexing' (segments 3 of 10), answered as Dify answers (json.dumps + newline)."""
        a = self.args
        rng = random.Random(54321)
        self.dataset = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        self.batches = ["20261202080000%06d" % i for i in range(a.jobs_w1)]
        self.idx_jobs_dir = os.path.join(self.work, "jobs-idx")
        os.makedirs(self.idx_jobs_dir)
        t0 = 1764662400
        for b in self.batches:
            with open(os.path.join(self.idx_jobs_dir, f"{b}.job"), "w") as f:
                f.write(f"[Job]\nKind=document-indexing\nDataset={self.dataset}\nBatch={b}\n")
            docs = [{"id": str(uuid.UUID(int=rng.getrandbits(128), version=4)), "indexing_status": "indexing",
                     "processing_started_at": t0, "parsing_completed_at": t0 + 1, "cleaning_completed_at": t0 + 1,
                     "splitting_completed_at": t0 + 2, "completed_at": None, "paused_at": None, "stopped_at": None,
                     "error": None, "error_code": None, "completed_segments": 3, "total_segments": 10,
                     "estimated_vector_space_mb": None, "vector_space_limit_mb": None} for _ in range(a.idx_docs)]
            d = os.path.join(self.work, "srv", IDX_PREFIX, self.dataset, "documents", b)
            os.makedirs(d)
            with open(os.path.join(d, "indexing-status"), "w") as f:
                f.write(json.dumps({"data": docs}) + "\n")
        self.idx_body_bytes = os.path.getsize(os.path.join(d, "indexing-status"))
        os.sync()
        log(f"{a.jobs_w1} indexing batches of {a.idx_docs} documents written ({self.idx_body_bytes:,} bytes per answer)")

    def idx_url(self, i=0):
        return f"{self.base_url('1.1')}/{IDX_PREFIX}/{self.dataset}/documents/{self.batches[i]}/indexing-status"

    def status_body(self, jid, status):
        return json.dumps({"job_id": jid, "job_status": status, "error_msg": ""}) + "\n"

    def set_status(self, jid, status, atomic=True, tree="processing"):
        """One job's answer; atomic: written aside, then renamed into place."""
        path = os.path.join(self.trees[tree], jid)
        if not atomic:
            with open(path, "w") as f:
                f.write(self.status_body(jid, status))
            return
        tmp = os.path.join(self.trees[tree], f".{jid}.tmp")
        with open(tmp, "w") as f:
            f.write(self.status_body(jid, status))
        os.replace(tmp, path)

    def make_cert(self):
        """A self-signed certificate for IP:127.0.0.1: the server's, and the clients' CA."""
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-keyout", self.cert_key, "-out", self.cert, "-subj", "/CN=jobwatch bench",
                        "-addext", "subjectAltName=IP:127.0.0.1"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def base_url(self, proto):
        """Where a client of this protocol talks to: HTTP/1.1, HTTP/2 over TLS, h2c."""
        return {"1.1": f"http://127.0.0.1:{self.port_h1}", "h2": f"https://127.0.0.1:{self.port_h2tls}",
                "h2c": f"http://127.0.0.1:{self.port_h2}"}[proto]

    def start_nginx(self):
        os.makedirs(os.path.join(self.work, "nginx-tmp"))
        self.make_cert()
        with open(os.path.join(HERE, "nginx.conf.in")) as f:
            conf = f.read()
        for k, v in {"@WORK@": self.work, "@PORT_H1@": self.port_h1, "@PORT_H2@": self.port_h2,
                     "@PORT_H2TLS@": self.port_h2tls, "@PORT_STATUS@": self.port_status, "@KEY@": self.key,
                     "@DSKEY@": self.ds_key}.items():
            conf = conf.replace(k, str(v))
        path = os.path.join(self.work, "nginx.conf")
        with open(path, "w") as f:
            f.write(conf)
        self.nginx = self.spawn([self.args.nginx, "-c", path, "-p", self.work], self.args.server_cpu,
                                stdout=subprocess.DEVNULL, stderr=open(os.path.join(self.work, "nginx.out"), "w"))
        for _ in range(100):
            try:
                self.requests()
                break
            except OSError:
                time.sleep(0.05)
        else:
            sys.exit(f"nginx did not start; see {self.work}/nginx-error.log")
        # sanity: the three answers the daemon must understand (and the certificate verifies)
        tls = ssl.create_default_context(cafile=self.cert)
        for base in (self.base_url("1.1"), self.base_url("h2")):
            for jid, key, want in ((self.ids[0], self.key, 200), (str(uuid.uuid4()), self.key, 400),
                                   (self.ids[0], "wrong", 401)):
                req = urllib.request.Request(f"{base}/{STATUS_PREFIX}/{jid}", headers={"Authorization": f"Bearer {key}"})
                try:
                    code = urllib.request.urlopen(req, context=tls if base.startswith("https:") else None).status
                except urllib.error.HTTPError as e:
                    code = e.code
                if code != want:
                    sys.exit(f"nginx answers {code} instead of {want} on {base}")
        if self.idx_jobs_dir:
            for url, key, want in ((self.idx_url(), self.ds_key, 200), (self.idx_url().replace(self.batches[0], "1" * 20),
                                                                       self.ds_key, 404), (self.idx_url(), self.key, 401)):
                try:
                    code = urllib.request.urlopen(urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"})).status
                except urllib.error.HTTPError as e:
                    code = e.code
                if code != want:
                    sys.exit(f"nginx answers {code} instead of {want} on {url}")
        log(f"nginx on CPU {self.args.server_cpu}: HTTP/1.1 :{self.port_h1}, HTTP/2 over TLS :{self.port_h2tls}, "
            f"h2c :{self.port_h2}, stub_status :{self.port_status}")

    def spawn(self, argv, cpu, env=None, **kw):
        nice = self.args.nice

        def pre():
            os.sched_setaffinity(0, {cpu})
            if nice:
                os.nice(nice)
            os.setpgid(0, 0)  # one group per child: stopped by its id, nothing else

        p = subprocess.Popen(argv, preexec_fn=pre, env=env, **kw)
        self.children.append(p)
        return p

    def stop(self, p, sig=signal.SIGTERM, timeout=60):
        if p.poll() is None:
            try:
                os.killpg(p.pid, sig)
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                log(f"pid {p.pid} did not stop in {timeout}s, killing it")
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        if p in self.children:
            self.children.remove(p)

    def cleanup(self):
        for p in list(self.children):
            self.stop(p, timeout=30)
        if not self.args.keep:
            shutil.rmtree(self.state_dir, ignore_errors=True)
            shutil.rmtree(self.work, ignore_errors=True)
        else:
            log(f"work files kept in {self.work}")

    def stub(self):
        """nginx' counters, the driver's own stub_status requests and connections excluded:
        active connections, connections accepted so far, requests so far."""
        self.stub_calls += 1  # a connection of its own each (urllib does not keep it)
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port_status}/stub_status", timeout=30) as r:
            lines = r.read().decode().splitlines()
        accepts, _, reqs = (int(x) for x in lines[2].split())
        return {"active": int(lines[0].split(":")[1]) - 1, "accepts": accepts - self.stub_calls, "requests": reqs - 1}

    def requests(self):
        """nginx' request counter (the stub_status request itself excluded)."""
        return self.stub()["requests"]

    def wait_requests(self, target, proc, timeout):
        t_end = time.monotonic() + timeout
        while time.monotonic() < t_end:
            if self.requests() >= target:
                return True
            if proc.poll() is not None:
                return False
            time.sleep(0.05)
        return False

    # --- the pollers ---

    def jobwatchd_conf(self, name, jobs_dir, poll, endpoint):
        lines = ["[Daemon]", f"JobsDirectory={jobs_dir}", "", "[Poll]"]
        lines += [f"{k}={v}" for k, v in poll.items()]
        lines += ["", "[Endpoint]"]
        lines += [f"{k}={v}" for k, v in endpoint.items()]
        path = os.path.join(self.work, f"jobwatch-{name}.conf")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        return path

    def start_jobwatchd(self, conf, state_dir=None, fresh=True):
        """Start jobwatchd; returns (proc, seconds to READY=1 or None, state_dir)."""
        if state_dir is None:
            state_dir = self.state_dir
        if fresh:
            shutil.rmtree(state_dir, ignore_errors=True)
        os.makedirs(state_dir, exist_ok=True)
        sock_path = os.path.join(self.work, "notify.sock")
        if os.path.exists(sock_path):
            os.unlink(sock_path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(sock_path)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "NOTIFY_SOCKET": sock_path,
               "LANG": "C.UTF-8"}
        t0 = time.monotonic()
        p = self.spawn([self.args.jobwatchd, "-c", conf, "-s", state_dir, "--log-target=journal"],
                       self.args.client_cpu, env=env, stdout=subprocess.DEVNULL,
                       stderr=open(os.path.join(self.work, "jobwatchd.err"), "a"))
        ready = None
        sock.settimeout(0.2)
        while ready is None and time.monotonic() - t0 < 120:
            try:
                msg = sock.recv(65536).decode(errors="replace")
            except socket.timeout:
                if p.poll() is not None:
                    break
                continue
            if "READY=1" in msg.split("\n"):
                ready = time.monotonic() - t0
        # keep draining STATUS= so the daemon never blocks on a full socket buffer
        def drain():
            sock.settimeout(None)
            try:
                while True:
                    if not sock.recv(65536):
                        break
            except OSError:
                pass
        p._notify_sock = sock
        threading.Thread(target=drain, daemon=True).start()
        if ready is None:
            self.stop(p, signal.SIGKILL)
            sys.exit(f"jobwatchd did not report READY=1; see {self.work}/jobwatchd.err and the journal")
        return p, ready, state_dir

    def stop_jobwatchd(self, p, timeout=60):
        self.stop(p, timeout=timeout)
        try:
            p._notify_sock.close()
        except Exception:
            pass

    def start_node(self, jobs_dir, interval_ms, proto="1.1"):
        t0 = time.monotonic()
        p = self.spawn([self.args.node, os.path.join(HERE, "baseline", "poller.mjs"),
                        "--base", f"{self.base_url(proto)}/v1", "--key-file", self.key_file,
                        "--jobs-dir", jobs_dir, "--interval-ms", str(interval_ms),
                        "--concurrency", "64", "--http", "1.1" if proto == "1.1" else "2"]
                       + (["--ca", self.cert] if proto == "h2" else []),
                       self.args.client_cpu, stdout=subprocess.PIPE, text=True, bufsize=1)
        first = json.loads(p.stdout.readline() or "{}")
        if first.get("event") != "ready":
            self.stop(p)
            sys.exit("the Node baseline did not start")
        ready = time.monotonic() - t0
        p._lines = []
        p._all_done = None

        def reader():
            for line in p.stdout:
                ev = json.loads(line)
                if ev["event"] == "result":
                    p._lines.append(ev)
                elif ev["event"] == "all_done":
                    p._all_done = ev["t"] / 1000.0
        threading.Thread(target=reader, daemon=True).start()
        return p, ready

    # --- W1: throughput ---

    def server_worker(self):
        with open(f"/proc/{self.nginx.pid}/task/{self.nginx.pid}/children") as f:
            return int(f.read().split()[0])

    def measure_window(self, pid, warmup, duration):
        """Polls/s counted by the server, the client's CPU per poll and peak RSS; also how
        much of the window the client and the server spent waiting for a CPU (a busy
        machine shows here)."""
        time.sleep(warmup)
        w = self.server_worker()
        st0, c0, t0 = self.stub(), proc_cpu(pid), time.monotonic()
        s0, q0, sv0 = proc_cpu(w), proc_schedstat(pid), proc_schedstat(w)
        time.sleep(duration)
        st1, c1, t1 = self.stub(), proc_cpu(pid), time.monotonic()
        s1, q1, sv1 = proc_cpu(w), proc_schedstat(pid), proc_schedstat(w)
        hwm = proc_status(pid).get("VmHWM")
        polls, dt = st1["requests"] - st0["requests"], t1 - t0
        return {"polls_s": polls / dt, "cpu_per_1k": (c1 - c0) / polls * 1000 if polls else None,
                # connections: opened within the window, and open at its end
                "conns_window": st1["accepts"] - st0["accepts"], "conns_open": st1["active"],
                "cpu_util": (c1 - c0) / dt, "peak_rss": hwm,
                "server_cpu_per_1k": (s1 - s0) / polls * 1000 if polls else None,
                "server_util": (s1 - s0) / dt, "client_cpu_wait": cpu_wait(q0, q1) / dt, "server_cpu_wait": cpu_wait(sv0, sv1) / dt}

    def w1_ceiling(self, proto):
        a = self.args
        dur = int(a.duration + a.warmup + 30)  # stopped once the window closes
        url = f"{self.base_url(proto)}/{STATUS_PREFIX}/{self.ids[0]}"
        if proto != "1.1":
            if not a.h2load:
                return None
            # h2load: ALPN h2 for https:// (it does not verify the certificate), prior knowledge for http://
            argv = [a.h2load, "-c1", "-m64", f"-D{dur}", "-H", f"authorization: Bearer {self.key}", url]
        else:
            argv = [a.wrk, "-t1", "-c64", f"-d{dur}s", "-H", f"Authorization: Bearer {self.key}", url]
        a0 = self.stub()["accepts"]
        p = self.spawn(argv, a.client_cpu, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        m = self.measure_window(p.pid, a.warmup, a.duration)
        # wrk ends on SIGINT; h2load ignores it
        self.stop(p, signal.SIGTERM if proto != "1.1" else signal.SIGINT, timeout=10)
        m["conns"] = self.stub()["accepts"] - a0
        return m

    def w1_jobwatchd(self, proto):
        a = self.args
        ep = {"BaseURL": f"{self.base_url(proto)}/v1", "APIKeyFile": self.key_file, "MaxConcurrentRequests": "64"}
        if proto == "h2":
            ep["CAFile"] = self.cert  # HTTPVersion=auto: HTTP/2 by ALPN
        elif proto == "h2c":
            ep["HTTPVersion"] = "2-prior-knowledge"
        conf = self.jobwatchd_conf(f"w1-{proto}", self.jobs_dirs[a.jobs_w1],
                                   {"InitialInterval": "1ms", "MaxInterval": "1ms", "Jitter": "0"}, ep)
        a0 = self.stub()["accepts"]
        p, _, _ = self.start_jobwatchd(conf)
        m = self.measure_window(p.pid, a.warmup, a.duration)
        self.stop_jobwatchd(p, timeout=20)  # a sound one stops in a second or two
        m["conns"] = self.stub()["accepts"] - a0
        trouble = self.journal(p.pid, MESSAGE_ID_ENDPOINT_TROUBLE, "MESSAGE")
        m["trouble"] = trouble[0]["MESSAGE"] if trouble else None
        # the daemon's own word on h2c with this libcurl (a warning at start, once)
        warn = [e["MESSAGE"] for e in self.journal(p.pid, None, "MESSAGE") if "#10634" in e.get("MESSAGE", "")]
        m["h2c_warning"] = warn[0] if warn else None
        return m

    def w1_node(self, proto):
        a = self.args
        a0 = self.stub()["accepts"]
        p, _ = self.start_node(self.jobs_dirs[a.jobs_w1], 0, proto)
        m = self.measure_window(p.pid, a.warmup, a.duration)
        self.stop(p)
        m["conns"] = self.stub()["accepts"] - a0
        return m

    def run_w1(self, proto):
        name = W1_PROTOS[proto][0]
        runs = {"ceiling": [], "jobwatchd": [], "node": []}
        for i in range(self.args.reps):
            for who, fn in (("ceiling", self.w1_ceiling), ("jobwatchd", self.w1_jobwatchd), ("node", self.w1_node)):
                m = fn(proto)
                runs[who].append(m)
                if m:
                    log(f"{name} run {i + 1} {who}: {m['polls_s']:,.0f} polls/s, "
                        f"connections {m['conns']:,} (opened in the window {m['conns_window']:,}, "
                        f"open at its end {m['conns_open']:,}), "
                        f"{fmt_num(m['cpu_per_1k'], ' s', 3)} CPU/1k polls, CPU use {m['cpu_util']:.2f} "
                        f"(waiting for CPU {m['client_cpu_wait']:.2f}), peak RSS {m['peak_rss'] / MiB:.1f} MiB; "
                        f"server {fmt_num(m['server_cpu_per_1k'], ' s', 3)} CPU/1k, use {m['server_util']:.2f} "
                        f"(waiting {m['server_cpu_wait']:.2f})")
        self.results[name] = {who: self.med(ms) for who, ms in runs.items()}
        self.results[name]["runs"] = runs

    # --- W1-idx: W1 with document-indexing batches ---

    def w1idx_ceiling(self):
        a = self.args
        argv = [a.wrk, "-t1", "-c64", f"-d{int(a.duration + a.warmup + 30)}s", "-H",
                f"Authorization: Bearer {self.ds_key}", self.idx_url()]
        p = self.spawn(argv, a.client_cpu, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        m = self.measure_window(p.pid, a.warmup, a.duration)
        self.stop(p, signal.SIGINT, timeout=10)
        return m

    def w1idx_jobwatchd(self, which):
        """W1's jobwatchd run on the indexing batches ("idx") or, in the same repetition for a
        like-with-like ratio, on W1's annotation jobs ("annotation")."""
        a = self.args
        jobs_dir, key_file = ((self.idx_jobs_dir, self.ds_key_file) if which == "idx"
                              else (self.jobs_dirs[a.jobs_w1], self.key_file))
        conf = self.jobwatchd_conf(f"w1idx-{which}", jobs_dir,
                                   {"InitialInterval": "1ms", "MaxInterval": "1ms", "Jitter": "0"},
                                   {"BaseURL": f"{self.base_url('1.1')}/v1", "APIKeyFile": key_file,
                                    "MaxConcurrentRequests": "64"})
        t_wall = time.time() - 1
        p, _, _ = self.start_jobwatchd(conf)
        m = self.measure_window(p.pid, a.warmup, a.duration)
        self.stop_jobwatchd(p, timeout=20)
        # every poll must have been a proper answer: no trouble, no job ended (they all stay indexing)
        trouble = [e.get("MESSAGE") for e in self.journal(p.pid, None, "MESSAGE,PRIORITY", since=t_wall)
                   if e.get("PRIORITY") in ("0", "1", "2", "3", "4")]
        m["trouble"] = trouble[0] if trouble else None
        m["results"] = len(self.journal(p.pid, MESSAGE_ID_JOB_RESULT, "JOB_ID", since=t_wall))
        return m

    def run_w1idx(self):
        runs = {"ceiling": [], "idx": [], "annotation": []}
        for i in range(self.args.reps):
            for who, fn in (("ceiling", self.w1idx_ceiling), ("idx", lambda: self.w1idx_jobwatchd("idx")),
                            ("annotation", lambda: self.w1idx_jobwatchd("annotation"))):
                m = fn()
                runs[who].append(m)
                log(f"W1-idx run {i + 1} {who}: {m['polls_s']:,.0f} polls/s, {fmt_num(m['cpu_per_1k'], ' s', 3)} CPU/1k "
                    f"polls, CPU use {m['cpu_util']:.2f} (waiting for CPU {m['client_cpu_wait']:.2f}), peak RSS "
                    f"{m['peak_rss'] / MiB:.1f} MiB; server {fmt_num(m['server_cpu_per_1k'], ' s', 3)} CPU/1k"
                    + (f"; trouble: {m['trouble']}" if m.get("trouble") else "")
                    + (f"; {m['results']} results (expected none)" if m.get("results") else ""))
        self.results["W1-idx"] = {who: self.med(ms) for who, ms in runs.items()}
        self.results["W1-idx"]["runs"] = runs

    def med(self, ms):
        ms = [m for m in ms if m]
        if not ms:
            return None
        out = {}
        for k in ms[0]:
            vals = [m.get(k) for m in ms]
            if all(v is None or isinstance(v, (int, float)) for v in vals):
                out[k] = median(vals)
            else:  # text (a trouble message): the first one seen
                out[k] = next((v for v in vals if v), None)
        return out

    # --- W2 memory (+ W4 start-up) ---

    def warm_files(self, jobs_dir):
        """Read every job file, so that a start-up finds them in the page cache
        (this machine's memory reclaim may have evicted files not read for minutes)."""
        for e in os.scandir(jobs_dir):
            with open(e.path, "rb") as f:
                f.read()

    def drop_caches(self):
        """A cold start, as at boot: nothing of the job files in memory."""
        os.sync()
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")

    def w2_jobwatchd(self, n):
        a = self.args
        conf = self.jobwatchd_conf(f"w2-{n}", self.jobs_dirs[n],
                                   {"InitialInterval": "60s", "MaxInterval": "60s"},
                                   {"BaseURL": f"http://127.0.0.1:{self.port_h1}/v1", "APIKeyFile": self.key_file})
        self.warm_files(self.jobs_dirs[n])
        r0 = self.requests()
        p, ready, state_dir = self.start_jobwatchd(conf)
        t_ready = time.monotonic()
        self.wait_requests(r0 + n, p, a.w2_timeout)
        t_polled = time.monotonic() - t_ready
        time.sleep(a.settle)
        st = proc_status(p.pid)
        polled = min(n, self.requests() - r0)
        self.stop_jobwatchd(p)
        m = {"rss": st["VmRSS"], "hwm": st["VmHWM"], "ready": ready, "first_round": t_polled, "polled": polled}
        if n == a.jobs_w2_big:
            # W4 again, warm: a restart over the state the first start wrote
            p, ready2, _ = self.start_jobwatchd(conf, state_dir, fresh=False)
            self.stop_jobwatchd(p)
            m["ready_warm"] = ready2
            # and cold: a first start with nothing in the page cache
            self.drop_caches()
            p, ready3, _ = self.start_jobwatchd(conf)
            self.stop_jobwatchd(p)
            m["ready_cold"] = ready3
        return m

    def w2_node(self, n):
        a = self.args
        self.warm_files(self.jobs_dirs[n])
        r0 = self.requests()
        p, ready = self.start_node(self.jobs_dirs[n], 60000)
        t_ready = time.monotonic()
        self.wait_requests(r0 + n, p, a.w2_timeout)
        t_polled = time.monotonic() - t_ready
        time.sleep(a.settle)
        st = proc_status(p.pid)
        polled = min(n, self.requests() - r0)
        self.stop(p)
        m = {"rss": st["VmRSS"], "hwm": st["VmHWM"], "ready": ready, "first_round": t_polled, "polled": polled}
        if n == a.jobs_w2_big:
            self.drop_caches()
            p, m["ready_cold"] = self.start_node(self.jobs_dirs[n], 60000)
            self.stop(p)
        return m

    def run_w2(self):
        a = self.args
        runs = {}
        for i in range(a.reps):
            for who, fn in (("jobwatchd", self.w2_jobwatchd), ("node", self.w2_node)):
                for n in (a.jobs_w2_base, a.jobs_w2_small, a.jobs_w2_big):
                    m = fn(n)
                    runs.setdefault((who, n), []).append(m)
                    log(f"W2 run {i + 1} {who} {n} jobs: RSS {fmt_num(m['rss'] and m['rss'] / MiB, ' MiB', 1)} "
                        f"(peak {fmt_num(m['hwm'] and m['hwm'] / MiB, ' MiB', 1)}), READY {m['ready']:.2f}s"
                        + (f", restart READY {m['ready_warm']:.2f}s" if 'ready_warm' in m else "")
                        + (f", cold-cache READY {m['ready_cold']:.2f}s" if 'ready_cold' in m else "")
                        + f", first round {m['first_round']:.1f}s"
                        + ("" if m["polled"] >= n else f" (cut off: {m['polled']:,} of {n:,} polled)"))
        self.results["W2"] = {f"{who}/{n}": self.med(ms) for (who, n), ms in runs.items()}

    # --- W3 reaction ---

    def flip(self, tree):
        """Every job's answer at once: the status directory is a symlink, renamed over."""
        tmp = self.srv_status + ".new"
        if os.path.lexists(tmp):
            os.unlink(tmp)
        os.symlink(self.trees[tree], tmp)
        t = time.time()
        os.replace(tmp, self.srv_status)
        return t

    def journal(self, pid, message_id, fields, since=None):
        """The journal entries of process pid (with that MESSAGE_ID, unless None; since a wall-clock
        time, as PIDs are reused by other processes on a shared machine)."""
        out = subprocess.run(["journalctl", "--no-pager", "-o", "json", f"--output-fields={fields}"]
                             + ([f"--since=@{int(since)}"] if since else [])
                             + ([f"MESSAGE_ID={message_id}"] if message_id else []) + [f"_PID={pid}"],
                             capture_output=True, text=True).stdout
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def w3_one(self, who):
        a = self.args
        n = a.jobs_w3
        self.flip("processing")
        r0 = self.requests()
        if who == "jobwatchd":
            conf = self.jobwatchd_conf("w3", self.jobs_dirs[n],
                                       {"InitialInterval": "1s", "MaxInterval": "1s", "Jitter": "0"},
                                       {"BaseURL": f"http://127.0.0.1:{self.port_h1}/v1", "APIKeyFile": self.key_file})
            p, _, _ = self.start_jobwatchd(conf)
        else:
            p, _ = self.start_node(self.jobs_dirs[n], 1000)
        t_start = time.monotonic()
        self.wait_requests(r0 + n, p, 60)
        time.sleep(max(0.0, a.w3_flip_at - 1 - (time.monotonic() - t_start)))
        r_pre, t_pre = self.requests(), time.monotonic()
        time.sleep(max(0.0, a.w3_flip_at - (time.monotonic() - t_start)))
        t_flip = self.flip("completed")
        r_flip = self.requests()
        rate_pre = (r_flip - r_pre) / (time.monotonic() - t_pre)
        t_end = time.monotonic() + a.w3_timeout
        # Every job is polled once after the flip, and that poll ends it: the moment nginx has
        # answered n requests since the flip is when the last job learnt it was completed.
        t_polled = None
        while time.monotonic() < t_end and p.poll() is None:
            if self.requests() - r_flip >= n:
                t_polled = time.time() - t_flip
                break
            time.sleep(0.01)
        last, count, p50 = None, 0, None
        while time.monotonic() < t_end:
            time.sleep(0.25)
            if who == "jobwatchd":
                entries = self.journal(p.pid, MESSAGE_ID_JOB_RESULT, "JOB_ID,JOB_STATUS")
                done = [int(e["__REALTIME_TIMESTAMP"]) / 1e6 for e in entries if e.get("JOB_STATUS") == "completed"]
                count = len(done)
                if count >= n:
                    break
            else:
                done = [ev["t"] / 1000.0 for ev in list(p._lines) if ev["status"] == "completed"]
                count = len(done)
                if count >= n:
                    break
        if count >= n:
            last = max(done)
            p50 = statistics.median(done) - t_flip
        if who == "jobwatchd":
            self.stop_jobwatchd(p)
        else:
            self.stop(p)
        self.flip("processing")
        return {"latency": last - t_flip if last else None, "p50": p50, "results": count,
                "polled": t_polled, "rate_pre": rate_pre}

    def run_w3(self):
        runs = {"jobwatchd": [], "node": []}
        for i in range(self.args.reps):
            for who in ("jobwatchd", "node"):
                m = self.w3_one(who)
                runs[who].append(m)
                log(f"W3 run {i + 1} {who}: {m['results']} results, last one {fmt_num(m['latency'], ' s', 2)} after the flip, "
                    f"median {fmt_num(m['p50'], ' s', 2)}; every job's last poll answered {fmt_num(m['polled'], ' s', 2)} "
                    f"after the flip; polls/s in the second before it {fmt_num(m['rate_pre'])}")
        self.results["W3"] = {who: self.med(ms) for who, ms in runs.items()}

    # --- profile: where jobwatchd's time goes in W1 ---

    def run_profile(self, http):
        a = self.args
        proto = {"1.1": "1.1", "2": "h2", "h2c": "h2c"}[http]
        ep = {"BaseURL": f"{self.base_url(proto)}/v1", "APIKeyFile": self.key_file, "MaxConcurrentRequests": "64"}
        if proto == "h2":
            ep["CAFile"] = self.cert
        elif proto == "h2c":
            ep["HTTPVersion"] = "2-prior-knowledge"
        conf = self.jobwatchd_conf("profile", self.jobs_dirs[a.jobs_w1],
                                   {"InitialInterval": "1ms", "MaxInterval": "1ms", "Jitter": "0"}, ep)
        out_dir = os.path.join(HERE, "results")
        os.makedirs(out_dir, exist_ok=True)
        data = os.path.join(out_dir, "perf.data")
        p, _, _ = self.start_jobwatchd(conf)
        time.sleep(a.warmup)
        report = [f"jobwatchd W1 profile ({ {'1.1': 'HTTP/1.1', 'h2': 'HTTP/2 over TLS', 'h2c': 'h2c'}[proto]}, {a.jobs_w1:,} jobs, 64 in flight), {time.strftime('%Y-%m-%d %H:%M')}", ""]

        # 1. syscalls per poll (strace slows the daemon down; counts, not times, are the point)
        r0 = self.requests()
        st = subprocess.run(["timeout", "-s", "INT", "3", "strace", "-c", "-f", "-p", str(p.pid)],
                            capture_output=True, text=True)
        polls = max(1, self.requests() - r0)
        report.append(f"syscalls per poll (strace -c, 3 s, {polls:,} polls):")
        for line in st.stderr.splitlines():
            f = line.split()
            if len(f) >= 5 and f[0][0].isdigit() and f[-1] != "total":
                calls, errors = int(f[3]), (int(f[4]) if len(f) == 6 else 0)
                report.append(f"  {f[-1]:<16} {calls / polls:6.2f}" + (f"  ({errors / polls:.2f} failing)" if errors else ""))
        report.append("")

        # 2. CPU profile
        time.sleep(1)
        r0, c0, t0 = self.requests(), proc_cpu(p.pid), time.monotonic()
        subprocess.run(["perf", "record", "-q", "-e", "cpu-clock", "-F", "999", "--call-graph", "dwarf,16384",
                        "-p", str(p.pid), "-o", data, "--", "sleep", str(a.duration)],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        r1, c1, t1 = self.requests(), proc_cpu(p.pid), time.monotonic()
        self.stop_jobwatchd(p)
        polls = r1 - r0
        report.append(f"under perf: {polls / (t1 - t0):,.0f} polls/s, CPU use {(c1 - c0) / (t1 - t0):.2f}, "
                      f"{(c1 - c0) / max(1, polls) * 1e6:.0f} µs CPU per poll")
        report.append("")

        def perf_report(*args, limit=25):
            out = subprocess.run(["perf", "report", "-i", data, "--stdio", "-g", "none", "--percent-limit", "0.5", *args],
                                 capture_output=True, text=True).stdout
            rows = [l.rstrip() for l in out.splitlines() if l.strip() and not l.startswith("#")]
            return rows[:limit]
        report.append("CPU by object (self):")
        report += perf_report("--no-children", "--sort", "dso", limit=10)
        report.append("")
        report.append("top symbols (self):")
        report += perf_report("--no-children", "--sort", "dso,symbol", limit=30)
        report.append("")
        # jobwatchd's own functions, inclusive: which part of the daemon the time is spent under
        own = set()
        nm = subprocess.run(["nm", "--defined-only", a.jobwatchd], capture_output=True, text=True).stdout
        for line in nm.splitlines():
            f = line.split()
            if len(f) == 3 and f[1] in "tT":
                own.add(f[2])
        incl = perf_report("--children", "--sort", "symbol", limit=10000)
        report.append("jobwatchd functions, inclusive (children) and self:")
        n = 0
        for line in incl:
            f = line.split()
            if len(f) >= 4 and f[3] in own and f[3] not in ("main", "daemon_run", "_start"):
                report.append("  " + line.strip())
                n += 1
                if n >= 20:
                    break
        report.append("")
        report.append(f"perf data: {data} (perf report -i {data} --children)")
        text = "\n".join(report) + "\n"
        print(text)
        # one file per protocol: profile.txt (HTTP/1.1), profile-h2.txt, profile-h2c.txt
        name = "profile.txt" if proto == "1.1" else f"profile-{proto}.txt"
        with open(os.path.join(out_dir, name), "w") as f:
            f.write(text)

    # --- report ---

    def report(self):
        a, R = self.args, self.results
        lines, rows = [], []
        verdicts, notes, md_notes = [], [], []

        def verdict(name, ok, text):
            verdicts.append(f"  {name}: {'met' if ok else 'MISSED'} ({text})")

        curl = libcurl_version()
        h2c_broken = curl is not None and curl < (8, 0, 0)
        curl_s = ".".join(map(str, curl)) if curl else "?"
        labels = {"W1": "HTTP/1.1, 64 connections", "W1-h2": "HTTP/2 over TLS, one connection",
                  "W1-h2c": ("HTTP/2 cleartext (h2c, prior knowledge); jobwatchd: a connection per request, "
                             f"libcurl {curl_s}, curl #10634") if h2c_broken else "HTTP/2 cleartext (h2c), one connection"}
        for name, _ in W1_PROTOS.values():
            r = R.get(name)
            if not r:
                continue
            label = labels[name]
            j, nd, c = r["jobwatchd"], r["node"], r["ceiling"]
            ceiling_name = "wrk" if name == "W1" else "h2load"
            lines.append(
                f"{name} throughput ({label}, {a.jobs_w1:,} jobs, 64 in flight, {a.duration}s): "
                f"jobwatchd {fmt_num(j['polls_s'])} polls/s = {fmt_ratio(ratio(j['polls_s'], nd['polls_s']))} node "
                f"({fmt_num(nd['polls_s'])}), {fmt_ratio(ratio(j['polls_s'], c and c['polls_s']))} {ceiling_name} "
                f"({fmt_num(c and c['polls_s'])}); CPU {fmt_num(j['cpu_per_1k'], ' s', 3)}/1k polls = "
                f"{fmt_ratio(ratio(j['cpu_per_1k'], nd['cpu_per_1k']))} node ({fmt_num(nd['cpu_per_1k'], ' s', 3)}); "
                f"peak RSS {j['peak_rss'] / MiB:.1f} MiB (node {nd['peak_rss'] / MiB:.1f} MiB)")

            def conns(m):
                if not m or m.get("conns") is None:
                    return "n/a"
                per = m["conns_window"] / (m["polls_s"] * a.duration) if m["polls_s"] else None
                return (f"{m['conns']:,.0f}" + (f" ({per:.2f} per poll in the window)" if per and per >= 0.01 else ""))
            lines.append(
                f"  connections (nginx accepts over the client's run): jobwatchd {conns(j)}, node {conns(nd)}, "
                f"{ceiling_name} {conns(c)}")
            if name == "W1-h2c" and (h2c_broken or (j.get("conns") or 0) > 1):
                why = (f"libcurl {curl_s} cannot reuse HTTP/2 prior-knowledge connections (curl issue #10634, fixed "
                       "in 8.0.0), so jobwatchd opens a connection per request" if h2c_broken else
                       f"jobwatchd used {j['conns']:,.0f} connections")
                text = (f"W1-h2c is not a multiplexing figure for jobwatchd: {why}; node and h2load multiplex on one. "
                        "jobwatchd's HTTP/2 multiplexing figure is W1-h2 (TLS)"
                        + ("" if j.get("h2c_warning") or not h2c_broken else "; !! jobwatchd did not warn about it"))
                lines.append(f"  {text}")
                md_notes.append(text)
            if name == "W1-h2":
                ok = j.get("conns") == 1 and j.get("conns_window") == 0
                verdict("W1-h2 jobwatchd polls on one connection (check, nginx accepts)", ok,
                        f"{fmt_num(j.get('conns'))} over its run, {fmt_num(j.get('conns_window'))} opened in the window")
            # A busy machine: every process gets a share of a CPU, and polls/s follow CPU per poll.
            # What each would do on an idle machine, its own CPU each: min(client, server) capacity.
            def cap(m):
                if not m or not m.get("cpu_per_1k") or not m.get("server_cpu_per_1k"):
                    return None
                return min(1000 / m["cpu_per_1k"], 1000 / m["server_cpu_per_1k"])
            pj, pn, pc = cap(j), cap(nd), cap(c)
            lines.append(
                f"  waiting for a CPU (share of the window): jobwatchd {fmt_num(j.get('client_cpu_wait'), '', 2)}, "
                f"node {fmt_num(nd.get('client_cpu_wait'), '', 2)}, {ceiling_name} {fmt_num(c and c.get('client_cpu_wait'), '', 2)}, "
                f"nginx {fmt_num(j.get('server_cpu_wait'), '', 2)}; idle-machine estimate from CPU per poll "
                f"(client's and nginx's, each on its own CPU): jobwatchd {fmt_num(pj)}, node {fmt_num(pn)}, "
                f"{ceiling_name} {fmt_num(pc)} polls/s = {fmt_ratio(ratio(pj, pn))} node, {fmt_ratio(ratio(pj, pc))} ceiling")
            rows.append((f"{name} idle-machine estimate, polls/s", fmt_num(pj), fmt_num(pn), fmt_num(pc),
                         f"{fmt_ratio(ratio(pj, pn))} node, {fmt_ratio(ratio(pj, pc))} ceiling"))
            if j.get("trouble") and c and j["polls_s"] < 0.05 * c["polls_s"]:
                lines.append(f"  !! jobwatchd's requests fail ({versions().get('libcurl4', '?')} libcurl): {j['trouble']}")
                notes.append(f"{name}: jobwatchd's requests fail: {j['trouble']}")
            rows.append((f"{name} polls/s ({label})", fmt_num(j["polls_s"]), fmt_num(nd["polls_s"]),
                         fmt_num(c and c["polls_s"]) + f" ({ceiling_name})",
                         f"{fmt_ratio(ratio(j['polls_s'], nd['polls_s']))} node, {fmt_ratio(ratio(j['polls_s'], c and c['polls_s']))} ceiling"))
            rows.append((f"{name} CPU s / 1,000 polls", fmt_num(j["cpu_per_1k"], "", 3), fmt_num(nd["cpu_per_1k"], "", 3),
                         fmt_num(c and c["cpu_per_1k"], "", 3) + f" ({ceiling_name})",
                         fmt_ratio(ratio(j["cpu_per_1k"], nd["cpu_per_1k"])) + " node"))
            rows.append((f"{name} peak RSS", f"{j['peak_rss'] / MiB:.1f} MiB", f"{nd['peak_rss'] / MiB:.1f} MiB", "", ""))
            rows.append((f"{name} connections (nginx accepts)", conns(j), conns(nd), conns(c), ""))
            if name == "W1":
                rn, rc = ratio(j["polls_s"], nd["polls_s"]), ratio(j["polls_s"], c and c["polls_s"])
                verdict("W1 ≥ 4× node polls/s", rn is not None and rn >= 4, fmt_ratio(rn))
                verdict("W1 ≥ 60 % of wrk", rc is not None and rc >= 0.6, fmt_ratio(rc))
                rcpu = ratio(j["cpu_per_1k"], nd["cpu_per_1k"])
                verdict("W1 CPU/poll ≤ 1/4 node", rcpu is not None and rcpu <= 0.25, fmt_ratio(rcpu))

        r = R.get("W1-idx")
        if r:
            j, an, c = r["idx"], r["annotation"], r["ceiling"]
            what = f"{a.jobs_w1:,} indexing batches of {a.idx_docs} documents, {self.idx_body_bytes:,} bytes per answer"
            lines.append(
                f"W1-idx throughput ({what}, HTTP/1.1, 64 in flight, {a.duration}s): jobwatchd {fmt_num(j['polls_s'])} "
                f"polls/s = {fmt_ratio(ratio(j['polls_s'], an['polls_s']))} its annotation run in the same repetitions "
                f"({fmt_num(an['polls_s'])}), {fmt_ratio(ratio(j['polls_s'], c['polls_s']))} wrk ({fmt_num(c['polls_s'])}); "
                f"CPU {fmt_num(j['cpu_per_1k'], ' s', 3)}/1k polls (annotation {fmt_num(an['cpu_per_1k'], ' s', 3)}); "
                f"peak RSS {j['peak_rss'] / MiB:.1f} MiB (annotation {an['peak_rss'] / MiB:.1f} MiB); nginx "
                f"{fmt_num(j['server_cpu_per_1k'], ' s', 3)} CPU/1k polls (annotation {fmt_num(an['server_cpu_per_1k'], ' s', 3)})")
            rows.append((f"W1-idx polls/s ({what}; annotation: W1's jobs in the same runs)",
                         f"{fmt_num(j['polls_s'])} (annotation {fmt_num(an['polls_s'])})", "n/a",
                         fmt_num(c["polls_s"]) + " (wrk)",
                         f"{fmt_ratio(ratio(j['polls_s'], an['polls_s']))} annotation, "
                         f"{fmt_ratio(ratio(j['polls_s'], c['polls_s']))} ceiling"))
            rows.append(("W1-idx CPU s / 1,000 polls", f"{fmt_num(j['cpu_per_1k'], '', 3)} (annotation "
                         f"{fmt_num(an['cpu_per_1k'], '', 3)})", "n/a", fmt_num(c["cpu_per_1k"], "", 3) + " (wrk)",
                         fmt_ratio(ratio(j["cpu_per_1k"], an["cpu_per_1k"])) + " annotation"))
            rows.append(("W1-idx peak RSS", f"{j['peak_rss'] / MiB:.1f} MiB (annotation {an['peak_rss'] / MiB:.1f} MiB)",
                         "n/a", "", ""))
            for who, m in (("indexing", j), ("annotation", an)):
                if m.get("trouble"):
                    notes.append(f"W1-idx {who}: jobwatchd logged trouble: {m['trouble']}")
                if m.get("results"):
                    notes.append(f"W1-idx {who}: {m['results']:.0f} jobs ended though every answer stays running")

        r = R.get("W2")
        if r:
            big, small = a.jobs_w2_big, a.jobs_w2_small
            jb, js = r[f"jobwatchd/{big}"], r[f"jobwatchd/{small}"]
            nb, ns = r[f"node/{big}"], r[f"node/{small}"]

            base = a.jobs_w2_base
            j0, n0 = r[f"jobwatchd/{base}"], r[f"node/{base}"]

            def per_job(hi, lo, n_hi, n_lo):
                if not hi or not lo or n_hi == n_lo:
                    return None
                return (hi["rss"] - lo["rss"]) / (n_hi - n_lo)
            # bytes per job over the empty daemon at 10k and at 100k, and the marginal cost between
            pj_s, pj_b, pj = per_job(js, j0, small, base), per_job(jb, j0, big, base), per_job(jb, js, big, small)
            pn_s, pn_b, pn = per_job(ns, n0, small, base), per_job(nb, n0, big, base), per_job(nb, ns, big, small)
            for who, mm, nn in (("jobwatchd", jb, big), ("node", nb, big), ("jobwatchd", js, small), ("node", ns, small)):
                if mm and mm.get("polled", nn) < nn:
                    notes.append(f"W2 {who} {nn:,} jobs: the first round was cut off after {a.w2_timeout:g}s with "
                                 f"{mm['polled']:,.0f} jobs polled (median); its RSS is read then, an underestimate")
            lines.append(
                f"W2 memory ({big:,} jobs, 60s interval, after every job was polled): jobwatchd RSS "
                f"{fmt_num(jb['rss'] and jb['rss'] / MiB, ' MiB', 1)} (peak {fmt_num(jb['hwm'] and jb['hwm'] / MiB, ' MiB', 1)}) = "
                f"{fmt_ratio(ratio(jb['rss'], nb['rss']))} node ({fmt_num(nb['rss'] and nb['rss'] / MiB, ' MiB', 1)}); "
                f"{small:,} jobs: {fmt_num(js['rss'] and js['rss'] / MiB, ' MiB', 1)} (node {fmt_num(ns['rss'] and ns['rss'] / MiB, ' MiB', 1)}); "
                f"empty ({base} job): {fmt_num(j0['rss'] / MiB, ' MiB', 1)} (node {fmt_num(n0['rss'] / MiB, ' MiB', 1)}); "
                f"bytes per job at {small // 1000}k / {big // 1000}k / marginal {small // 1000}k→{big // 1000}k: "
                f"jobwatchd {fmt_num(pj_s)} / {fmt_num(pj_b)} / {fmt_num(pj)}, node {fmt_num(pn_s)} / {fmt_num(pn_b)} / {fmt_num(pn)}")
            rows.append((f"W2 RSS, {big:,} jobs", fmt_num(jb["rss"] and jb["rss"] / MiB, " MiB", 1),
                         fmt_num(nb["rss"] and nb["rss"] / MiB, " MiB", 1), "", fmt_ratio(ratio(jb["rss"], nb["rss"])) + " node"))
            rows.append((f"W2 RSS, {small:,} jobs", fmt_num(js["rss"] and js["rss"] / MiB, " MiB", 1),
                         fmt_num(ns["rss"] and ns["rss"] / MiB, " MiB", 1), "", fmt_ratio(ratio(js["rss"], ns["rss"])) + " node"))
            rows.append((f"W2 bytes per job at {small // 1000}k / {big // 1000}k / marginal",
                         f"{fmt_num(pj_s)} / {fmt_num(pj_b)} / {fmt_num(pj)}", f"{fmt_num(pn_s)} / {fmt_num(pn_b)} / {fmt_num(pn)}",
                         "", fmt_ratio(ratio(pj_b, pn_b)) + " node"))
            verdict("W2 ≤ 64 MiB for 100k jobs", jb["rss"] is not None and jb["rss"] <= 64 * MiB,
                    fmt_num(jb["rss"] and jb["rss"] / MiB, " MiB", 1))
            # flat: bytes per job do not grow from 10k to 100k (by more than 25 %); they may
            # shrink, as fixed costs (sqlite's 2 MiB page cache, the curl handles) spread out
            rf = ratio(pj_b, pj_s)
            verdict(f"memory per job flat {small // 1000}k→{big // 1000}k", rf is not None and rf <= 1.25,
                    f"{fmt_num(pj_s)} → {fmt_num(pj_b)} B/job, {fmt_ratio(rf)}")

            lines.append(
                f"W4 start-up ({big:,} job files, time to READY=1): jobwatchd {jb['ready']:.2f}s first start "
                f"(empty state), {fmt_num(jb.get('ready_warm'), 's', 2)} restart; node reads the same files in "
                f"{nb['ready']:.2f}s = {fmt_ratio(ratio(jb['ready'], nb['ready']))} node; "
                f"cold page cache (drop_caches, first start): jobwatchd {fmt_num(jb.get('ready_cold'), 's', 2)}, "
                f"node {fmt_num(nb.get('ready_cold'), 's', 2)} = {fmt_ratio(ratio(jb.get('ready_cold'), nb.get('ready_cold')))} node; "
                f"first round of polls: jobwatchd {jb['first_round']:.1f}s (32 in flight), node {nb['first_round']:.1f}s (64)")
            rows.append((f"W4 READY=1, {big:,} job files (first start / restart)", f"{jb['ready']:.2f} s / {fmt_num(jb.get('ready_warm'), ' s', 2)}",
                         f"{nb['ready']:.2f} s (files read)", "", fmt_ratio(ratio(jb["ready"], nb["ready"])) + " node"))
            rows.append((f"W4 READY=1, {big:,} job files, cold page cache", fmt_num(jb.get("ready_cold"), " s", 2),
                         fmt_num(nb.get("ready_cold"), " s (files read)", 2), "",
                         fmt_ratio(ratio(jb.get("ready_cold"), nb.get("ready_cold"))) + " node"))
            worst = max(x for x in (jb["ready"], jb.get("ready_warm")) if x is not None)
            verdict("W4 READY ≤ 3 s", worst <= 3.0, f"{worst:.2f} s worst of first start and restart, files cached")
            if jb.get("ready_cold") is not None:
                verdict("W4 READY ≤ 3 s, cold page cache", jb["ready_cold"] <= 3.0, f"{jb['ready_cold']:.2f} s")

        r = R.get("W3")
        if r:
            j, nd = r["jobwatchd"], r["node"]
            lines.append(
                f"W3 reaction ({a.jobs_w3:,} jobs, 1s interval, jitter 0, all flip to completed at t={a.w3_flip_at:g}s): "
                f"last result journaled {fmt_num(j['latency'], ' s', 2)} after the flip; node sees its last "
                f"{fmt_num(nd['latency'], ' s', 2)} = {fmt_ratio(ratio(j['latency'], nd['latency']))} node; "
                f"every job's last poll answered (nginx's count): jobwatchd {fmt_num(j.get('polled'), ' s', 2)}, "
                f"node {fmt_num(nd.get('polled'), ' s', 2)} after the flip; polls/s in the second before the flip: "
                f"jobwatchd {fmt_num(j.get('rate_pre'))}, node {fmt_num(nd.get('rate_pre'))}")
            rows.append(("W3 last job's last poll answered, after the flip", fmt_num(j.get("polled"), " s", 2),
                         fmt_num(nd.get("polled"), " s", 2), "", ""))
            rows.append((f"W3 last result after the flip ({a.jobs_w3:,} jobs, 1 s)", fmt_num(j["latency"], " s", 2),
                         fmt_num(nd["latency"], " s", 2), "", fmt_ratio(ratio(j["latency"], nd["latency"])) + " node"))
            jl, nl = j["latency"], nd["latency"]
            for who, mm in (("jobwatchd", j), ("node", nd)):
                if mm["latency"] is None:
                    notes.append(f"W3 {who}: not every result within {a.w3_timeout:g}s of the flip "
                                 f"({mm['results']:,.0f} of {a.jobs_w3:,}, median)")
            verdict("W3 no later than node", jl is not None and (nl is None or jl <= nl), f"{fmt_num(jl, ' s', 2)} vs {fmt_num(nl, ' s', 2)}")
            verdict("W3 ≤ 1.1 s (aim)", jl is not None and jl <= 1.1, fmt_num(jl, " s", 2))

        v = versions()
        head = (f"jobwatch benchmark, {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} CPUs, "
                f"nginx on CPU {a.server_cpu}, clients on CPU {a.client_cpu}"
                + (f" at nice {a.nice}" if a.nice else "")
                + f", median of {a.reps} runs; load average before {self.loadavg}, after "
                + " ".join(f"{x:.1f}" for x in os.getloadavg())
                + "; " + ", ".join(f"{k} {v[k]}" for k in sorted(v)))
        text = "\n".join([head, ""] + lines + ["", "targets:"] + verdicts
                          + (["", "notes:"] + [f"  {x}" for x in notes] if notes else [])) + "\n"
        print(text)
        os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
        with open(os.path.join(HERE, "results", "latest.txt"), "w") as f:
            f.write(text)
            f.write("\nraw:\n" + json.dumps(self.results, indent=1, default=str) + "\n")
        md = ["| figure | jobwatchd | Node baseline | ceiling | ratio |", "|---|---|---|---|---|"]
        md += ["| " + " | ".join(r) + " |" for r in rows]
        md.append("")
        md.append("")
        md.append(f"{head}.")
        md.append("")
        md += [f"- {x.strip()}" for x in verdicts]
        md += [f"- note: {x}" for x in md_notes + notes]
        with open(os.path.join(HERE, "results", "table.md"), "w") as f:
            f.write("\n".join(md) + "\n")
        log(f"written {HERE}/results/latest.txt and table.md")


def libcurl_version():
    """The system libcurl's version as a tuple (the one jobwatchd links), or None."""
    try:
        lib = ctypes.CDLL("libcurl.so.4")
        lib.curl_version.restype = ctypes.c_char_p
        v = lib.curl_version().decode().split()[0].split("/")[1]  # "libcurl/7.88.1 OpenSSL/..."
        return tuple(int(x) for x in v.split(".")[:3])
    except (OSError, IndexError, ValueError):
        return None


def versions():
    """Versions of what is measured, from dpkg where it knows them."""
    out = {}
    try:
        q = subprocess.run(["dpkg-query", "-W", "libcurl4", "libuv1", "libsqlite3-0", "nginx", "nginx-light", "nodejs", "wrk"],
                           capture_output=True, text=True).stdout
        for line in q.splitlines():
            name, _, ver = line.partition("\t")
            if ver:
                out[name.split(":")[0]] = ver
    except OSError:
        pass
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jobwatchd", required=True)
    ap.add_argument("--nginx", default=shutil.which("nginx") or "/usr/sbin/nginx")
    ap.add_argument("--wrk", default=shutil.which("wrk"))
    ap.add_argument("--h2load", default=shutil.which("h2load"))
    ap.add_argument("--node", default=shutil.which("node") or shutil.which("nodejs"))
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--duration", type=int, default=10, help="W1 measuring window, seconds")
    ap.add_argument("--warmup", type=float, default=2.0, help="W1 seconds before the window opens")
    ap.add_argument("--settle", type=float, default=2.0, help="W2 seconds after the first round before reading RSS")
    ap.add_argument("--jobs-w1", type=int, default=10000)
    ap.add_argument("--jobs-w2-base", type=int, default=1, help="W2: the nearly empty daemon, for bytes per job")
    ap.add_argument("--jobs-w2-small", type=int, default=10000)
    ap.add_argument("--jobs-w2-big", type=int, default=100000)
    ap.add_argument("--jobs-w3", type=int, default=10000)
    ap.add_argument("--w3-flip-at", type=float, default=3.0)
    ap.add_argument("--w3-timeout", type=float, default=30.0)
    ap.add_argument("--w2-timeout", type=float, default=60.0,
                    help="W2: longest wait for the first round; RSS is read then anyway, marked as cut off")
    ap.add_argument("--idx-docs", type=int, default=20, help="W1-idx: documents per indexing batch")
    ap.add_argument("--only", default="w1,w1idx,w1h2,w1h2c,w2,w3",
                    help="comma list of w1 (HTTP/1.1), w1idx (W1 with document-indexing batches, beside an "
                    "annotation run), w1h2 (HTTP/2 over TLS), w1h2c (h2c), w2 (includes W4), w3; "
                    "or profile (W1 under perf)")
    ap.add_argument("--profile-http", default="1.1", choices=("1.1", "2", "h2c"),
                    help="profile: HTTP/1.1, HTTP/2 over TLS, or h2c")
    ap.add_argument("--server-cpu", type=int, default=0)
    ap.add_argument("--client-cpu", type=int, default=1)
    ap.add_argument("--nice", type=int, default=0, help="niceness for server and clients (e.g. -10 on a busy machine)")
    ap.add_argument("--workdir", default=os.environ.get("TMPDIR", "/var/tmp"))
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--state-base", help="where jobwatchd's state directory goes (default: the work directory); "
                    "/dev/shm shows what the state file's fsyncs cost")
    a = ap.parse_args()
    if os.cpu_count() < 2:
        log("warning: one CPU only; server and client share it")
        a.server_cpu = a.client_cpu = 0
    b = Bench(a)
    b.loadavg = " ".join(f"{x:.1f}" for x in os.getloadavg())
    only = set(a.only.split(","))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    try:
        if only == {"profile"}:
            a.jobs_w2_small = a.jobs_w2_big = a.jobs_w3 = a.jobs_w1
        b.make_jobs()
        if "w1idx" in only:
            b.make_idx_jobs()
        b.start_nginx()
        if "profile" in only:
            b.run_profile(a.profile_http)
            return
        for proto, (_, key) in W1_PROTOS.items():
            if key in only:
                b.run_w1(proto)
            if proto == "1.1" and "w1idx" in only:
                b.run_w1idx()
        if "w2" in only:
            b.run_w2()
        if "w3" in only:
            b.run_w3()
        b.report()
    finally:
        b.cleanup()


if __name__ == "__main__":
    main()
