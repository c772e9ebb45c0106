#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""harness.py -- shared library of jobwatch's integration tests.

Each integration test is a standalone script registered in meson; it exits 0 (pass),
1 (fail) or 77 (skip).  A test looks like this:

    import harness as H

    def test():
        sb = H.Sandbox()
        mock = sb.start_mock(jobs=[{"job_id": JOB, "lifecycle": [["waiting", 1], ["completed", None]]}])
        key = sb.write_key("api-key", H.KEY)
        sb.write_config(sb.base_config(mock, key))
        sb.write_job("faq", JOB)
        d = sb.start_daemon()                     # waits for READY=1
        [e] = d.wait_for_results(1, timeout=20)
        H.eq(e["JOB_STATUS"], "completed")
        d.stop()                                  # SIGTERM, asserts exit status 0

    H.main(test, needs_journal=True)              # exit 77 with a reason when there is no journald

Everything started here is stopped at exit (atexit, SIGTERM/SIGINT handlers, and the child
processes die with the test process through PR_SET_PDEATHSIG).  On failure the harness prints
the tail of each daemon's stderr, its sd_notify messages, its journal entries and a summary of
each mock's request log.

Environment:
  JOBWATCHD / JOBWATCHCTL   paths of the binaries (default: BUILD_DIR/src/..., else the newest
                            REPO/build*/src/...)
  BUILD_DIR                 the meson build directory
  JOBWATCHD_WRAPPER         command put in front of jobwatchd (e.g. "valgrind -q")
  JOURNALCTL_ARGS           extra journalctl arguments (e.g. "--directory=/x" or "--root=/y")
  JOBWATCH_TEST_TMPDIR      where sandboxes go (default: $TMPDIR or /tmp)
  JOBWATCH_TEST_KEEP=1      keep the sandbox directory after the test
  JOBWATCH_TEST_VERBOSE=1   log harness steps
  JOBWATCH_TEST_TIME_SCALE  factor (>= 1) for every wall-clock bound: the timeout of each wait
                            here (wait_until and all wait_* helpers, daemon start and stop, mock
                            start, jobwatchctl runs) and, through t(), the upper bounds and
                            "nothing happens for N s" periods the tests check; default 4 with
                            JOBWATCH_TEST_SLOW=1 (valgrind), else 1.  Lower bounds are never scaled.

`python3 harness.py selftest` checks the harness itself against a small stand-in daemon
(written in Python into the sandbox), so it can be verified before jobwatchd exists.
"""

import atexit
import glob
import json
import os
import re
import select
import shlex
import shutil
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse
import http.client
import ssl
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
MOCK_SCRIPT = os.path.join(REPO, "tests", "mock", "mock_dify.py")
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable

EXIT_PASS, EXIT_FAIL, EXIT_SKIP = 0, 1, 77
KEY = "app-jobwatchtest000000000000"          # "app-" + 24 characters, like Dify's keys
KEY2 = "app-jobwatchtest000000000002"
JOURNAL_SOCKET = "/run/systemd/journal/socket"

VERBOSE = os.environ.get("JOBWATCH_TEST_VERBOSE") not in (None, "", "0")
T_START = time.monotonic()


class Skip(Exception):
    """Raise to end the test with exit status 77 (meson: SKIP)."""


class Failure(AssertionError):
    pass


def log(msg, *args):
    if VERBOSE:
        print("[%7.3f] %s" % (time.monotonic() - T_START, msg % args if args else msg), flush=True)


def note(msg, *args):
    print("[%7.3f] %s" % (time.monotonic() - T_START, msg % args if args else msg), flush=True)


# ------------------------------------------------------------------------------------------
# Assertions and waiting
# ------------------------------------------------------------------------------------------

def read_job_file(path):
    """A job file's KEY=VALUE lines as a dict (section headers left out)."""
    kv = {}
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if "=" in line and not line.startswith("["):
                k, v = line.split("=", 1)
                kv[k] = v
    return kv


def expect_run(p, rc, what, stdout=None, stderr=None):
    """A finished command (subprocess.CompletedProcess with text output) exited with RC and
    its stdout/stderr match the regexes given (re.S); returns p."""
    if p.returncode != rc:
        raise Failure("%s: exit status %d, expected %d\nstdout: %s\nstderr: %s"
                      % (what, p.returncode, rc, p.stdout, p.stderr))
    for text, pat, name in ((p.stdout, stdout, "stdout"), (p.stderr, stderr, "stderr")):
        if pat is not None and not re.search(pat, text, re.S):
            raise Failure("%s: %s does not match %r:\n%s" % (what, name, pat, text))
    return p


def eq(got, want, what="value"):
    if got != want:
        raise Failure("%s: expected %r, got %r" % (what, want, got))


def check(cond, what, *args):
    if not cond:
        raise Failure(what % args if args else what)


class TcpServer:
    """A listener on a free loopback port; a thread hands each accepted connection to
    self.accepted(conn) until close().  A subclass sets its own attributes before calling
    TcpServer.__init__, which starts the thread."""

    def __init__(self, backlog=64):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(backlog)
        self.port = self.sock.getsockname()[1]
        self.url = "http://127.0.0.1:%d" % self.port
        threading.Thread(target=self._accept_loop, daemon=True).start()

    def _accept_loop(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted(conn)

    def accepted(self, conn):
        raise NotImplementedError

    def close(self):
        self.sock.close()


def _time_scale():
    v = os.environ.get("JOBWATCH_TEST_TIME_SCALE")
    if v:
        try:
            f = float(v)
        except ValueError:
            f = 0.0
        if f < 1.0:
            raise SystemExit("JOBWATCH_TEST_TIME_SCALE=%r: expected a number >= 1" % v)
        return f
    return 4.0 if os.environ.get("JOBWATCH_TEST_SLOW") not in (None, "", "0") else 1.0


# The one factor by which every wall-clock bound of the tests grows on a slow machine (or under
# valgrind): see JOBWATCH_TEST_TIME_SCALE above and tests/README.md.
TIME_SCALE = _time_scale()


def t(seconds):
    """A wall-clock bound (a wait's timeout, an upper bound on a duration, a quiet period) scaled
    for this machine.  Never use it on a lower bound."""
    return seconds * TIME_SCALE


def quiet(seconds, what):
    """Let seconds (scaled) pass on purpose, because the test checks that nothing happens
    meanwhile (what: e.g. "no second result entry").  Never a way to wait for something to
    happen: that is wait_until() and the wait_* helpers."""
    log("quiet for %.2fs: %s", t(seconds), what)
    time.sleep(t(seconds))


def wait_until(fn, timeout=10.0, interval=0.05, what="condition"):
    """Call fn() until it returns something truthy; return that, or fail after timeout (scaled
    by TIME_SCALE)."""
    timeout = t(timeout)
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise Failure("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)


# ------------------------------------------------------------------------------------------
# Resources and clean-up
# ------------------------------------------------------------------------------------------

_resources = []          # objects with cleanup() and diagnose(); cleaned up in reverse order
_cleaned = False


def _register(obj):
    _resources.append(obj)
    return obj


def cleanup_all():
    global _cleaned
    if _cleaned:
        return
    _cleaned = True
    for r in reversed(_resources):
        try:
            r.cleanup()
        except Exception:
            traceback.print_exc()


def print_diagnostics():
    print("=" * 30 + " diagnostics " + "=" * 30, flush=True)
    for r in _resources:
        try:
            r.diagnose()
        except Exception:
            traceback.print_exc()
    print("=" * 73, flush=True)


def _on_signal(sig, frame):
    raise SystemExit("killed by %s" % signal.Signals(sig).name)


atexit.register(cleanup_all)
for _s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    try:
        signal.signal(_s, _on_signal)
    except (ValueError, OSError):
        pass


def _pdeathsig_prefix():
    """Children die with us, even on SIGKILL: setpriv --pdeathsig KILL (util-linux >= 2.33)."""
    exe = shutil.which("setpriv")
    if exe is None:
        return []
    try:
        out = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [exe, "--pdeathsig", "KILL", "--"] if "--pdeathsig" in out else []


_PDEATH = None


def spawn(argv, **kw):
    """subprocess.Popen with PR_SET_PDEATHSIG; the PID is the program's own (setpriv execs)."""
    global _PDEATH
    if _PDEATH is None:
        _PDEATH = _pdeathsig_prefix()
    return subprocess.Popen(_PDEATH + list(argv), **kw)


def run(test_fn, needs_journal=False):
    """Run a test function and return the exit status (0 pass, 1 fail, 77 skip)."""
    try:
        if needs_journal:
            require_journald()
        test_fn()
        rc = EXIT_PASS
        note("PASS")
    except Skip as e:
        note("SKIP: %s", e)
        rc = EXIT_SKIP
    except BaseException as e:
        if isinstance(e, SystemExit) and e.code in (None, 0):
            rc = EXIT_PASS
        else:
            traceback.print_exc(file=sys.stdout)
            print_diagnostics()
            note("FAIL: %s", e)
            rc = EXIT_FAIL
    finally:
        try:
            cleanup_all()
        except BaseException:
            traceback.print_exc()
            rc = EXIT_FAIL
    return rc


def main(test_fn, needs_journal=False):
    sys.stdout.reconfigure(line_buffering=True)
    sys.exit(run(test_fn, needs_journal=needs_journal))


# ------------------------------------------------------------------------------------------
# Binaries
# ------------------------------------------------------------------------------------------

def _find_binary(name, env_name):
    p = os.environ.get(env_name)
    if p:
        if not os.access(p, os.X_OK):
            raise Failure("%s=%s is not an executable file" % (env_name, p))
        return p
    cands = []
    b = os.environ.get("BUILD_DIR")
    if b:
        cands += [os.path.join(b, "src", name), os.path.join(b, name)]
    else:
        cands += glob.glob(os.path.join(REPO, "build*", "src", name))
        cands += glob.glob(os.path.join(REPO, "build*", name))
    cands = [c for c in cands if os.access(c, os.X_OK) and os.path.isfile(c)]
    if not cands:
        raise Failure("%s not found: set %s, or BUILD_DIR to the meson build directory" % (name, env_name))
    return max(cands, key=os.path.getmtime)


def find_jobwatchd():
    return _find_binary("jobwatchd", "JOBWATCHD")


def find_jobwatchctl():
    return _find_binary("jobwatchctl", "JOBWATCHCTL")


# ------------------------------------------------------------------------------------------
# Config files
# ------------------------------------------------------------------------------------------

def _ini_value(v):
    if v is None:
        return ""
    if v is True:
        return "yes"
    if v is False:
        return "no"
    return str(v)


def ini_text(conf):
    """systemd-style INI from {"Section": {"Key": value | [values]}}; a str is taken as is."""
    if isinstance(conf, str):
        return conf
    out = []
    for section, kv in conf.items():
        out.append("[%s]" % section)
        for k, v in kv.items():
            for x in (v if isinstance(v, (list, tuple)) else [v]):
                out.append("%s=%s" % (k, _ini_value(x)))
        out.append("")
    return "\n".join(out)


def write_file(path, text, mode=0o644, atomic=True):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    data = text.encode() if isinstance(text, str) else text
    tmp = os.path.join(os.path.dirname(path), ".%s.tmp-%d" % (os.path.basename(path), os.getpid())) \
        if atomic else path
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, data)
        os.fchmod(fd, mode)
    finally:
        os.close(fd)
    if atomic:
        os.rename(tmp, path)
    return path


# ------------------------------------------------------------------------------------------
# Sandbox
# ------------------------------------------------------------------------------------------

RECORD_HOOK = r'''#!/usr/bin/python3
# Recording hook written by tests/integration/harness.py.
# argv: OUTDIR CONFIG.json [more words from Exec=...]
import json, os, select, signal, sys, time
outdir, cfgpath = sys.argv[1], sys.argv[2]
cfg = json.load(open(cfgpath))
t0 = time.monotonic()
rec = {"argv": sys.argv, "env": dict(os.environ), "pid": os.getpid(), "ppid": os.getppid(),
       "uid": os.getuid(), "cwd": os.getcwd(), "t": t0, "wall": time.time(), "finished": False,
       "terminated": False, "stdin": None, "stdin_eof": False,
       "fds": sorted(int(f) for f in os.listdir("/proc/self/fd"))}
path = os.path.join(outdir, "%.6f-%d.json" % (t0, os.getpid()))

def save():
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(rec, f)
    os.rename(tmp, path)

def on_term(sig, frame):
    rec["terminated"] = True
    rec["t_end"] = time.monotonic()
    save()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)

signal.signal(signal.SIGTERM, signal.SIG_IGN if cfg.get("ignore_term") else on_term)
data = b""
try:
    deadline = time.monotonic() + cfg.get("stdin_timeout", 5)
    while time.monotonic() < deadline:
        r, _, _ = select.select([0], [], [], max(0, deadline - time.monotonic()))
        if not r:
            break
        d = os.read(0, 65536)
        if not d:
            rec["stdin_eof"] = True
            break
        data += d
except OSError:
    pass
rec["stdin"] = data.decode("utf-8", "replace")
rec["stdin_b64"] = __import__("base64").b64encode(data).decode()
# the environment and argv exactly as exec'd (os.environ may gain LC_CTYPE from Python itself)
try:
    rec["proc_environ"] = [x.decode("utf-8", "replace") for x in open("/proc/self/environ", "rb").read().split(b"\0") if x]
    rec["cmdline"] = [x.decode("utf-8", "replace") for x in open("/proc/self/cmdline", "rb").read().split(b"\0")[:-1]]
except OSError:
    pass
save()
for line in cfg.get("stdout_lines", []):
    print(line, flush=True)
for line in cfg.get("stderr_lines", []):
    print(line, file=sys.stderr, flush=True)
if cfg.get("sleep"):
    time.sleep(cfg["sleep"])
rec["finished"] = True
rec["t_end"] = time.monotonic()
save()
sys.exit(cfg.get("exit_code", 0))
'''


class Sandbox:
    """A temporary directory with config, jobs.d, state, keys and hooks for one test."""

    def __init__(self, name=None, keep=None):
        base = os.environ.get("JOBWATCH_TEST_TMPDIR") or None
        name = name or os.path.splitext(os.path.basename(sys.argv[0] or "test"))[0]
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:40]
        self.dir = tempfile.mkdtemp(prefix="jw-%s-" % name, dir=base)
        self.keep = keep if keep is not None else os.environ.get("JOBWATCH_TEST_KEEP") not in (None, "", "0")
        self.t_wall = time.time()
        self.conf = os.path.join(self.dir, "jobwatch.conf")
        self.conf_d = os.path.join(self.dir, "jobwatch.conf.d")
        self.jobs_dir = os.path.join(self.dir, "jobs.d")
        self.state_dir = os.path.join(self.dir, "state")
        self.keys_dir = os.path.join(self.dir, "keys")
        self.hooks_dir = os.path.join(self.dir, "hooks")
        self.hook_out = os.path.join(self.dir, "hook-out")
        self.logs = os.path.join(self.dir, "logs")
        for d in (self.jobs_dir, self.state_dir, self.hooks_dir, self.hook_out, self.logs):
            os.makedirs(d)
        os.makedirs(self.keys_dir, mode=0o700)
        self.mocks = []
        self.daemons = []
        _register(self)
        log("sandbox %s", self.dir)

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    # ---- files ----------------------------------------------------------------------

    def write_config(self, conf, path=None):
        """Write the main config (dict -> systemd-style INI, or text). Returns its path."""
        return write_file(path or self.conf, ini_text(conf))

    def write_dropin(self, name, conf):
        if not name.endswith(".conf"):
            name += ".conf"
        return write_file(os.path.join(self.conf_d, name), ini_text(conf))

    def write_key(self, name, key=KEY, newline=True, mode=0o600):
        """A key file (mode 0600), with a trailing newline by default."""
        return write_file(os.path.join(self.keys_dir, name), key + ("\n" if newline else ""), mode=mode)

    def job_text(self, job_id, action="enable", endpoint=None, description=None, hook=None,
                 timeout=None, extra=None):
        kv = {"JobID": job_id, "Action": action}
        if endpoint is not None:
            kv["Endpoint"] = endpoint
        if description is not None:
            kv["Description"] = description
        if hook is not None:
            kv["Hook"] = hook
        if timeout is not None:
            kv["Timeout"] = timeout
        kv.update(extra or {})
        return ini_text({"Job": kv})

    def write_job(self, name, job_id=None, action="enable", *, endpoint=None, description=None,
                  hook=None, timeout=None, extra=None, text=None, atomic=True):
        """JOBS_DIR/NAME.job, written to a temporary name and renamed into place (atomic=True),
        as the contract documents.  Returns the path."""
        if not name.endswith(".job"):
            name += ".job"
        if text is None:
            text = self.job_text(job_id, action, endpoint, description, hook, timeout, extra)
        return write_file(os.path.join(self.jobs_dir, name), text, atomic=atomic)

    def job_path(self, name):
        return os.path.join(self.jobs_dir, name if name.endswith(".job") else name + ".job")

    def remove_job(self, name):
        os.unlink(self.job_path(name))

    def write_hook(self, name, text, mode=0o755):
        return write_file(os.path.join(self.hooks_dir, name), text, mode=mode)

    def recording_hook(self, name="record", exit_code=0, sleep=0, stdout_lines=(), stderr_lines=(),
                       ignore_term=False, args=()):
        """A hook that records argv, env, stdin, pid and times as JSON in hook-out/NAME/.

        Returns the Exec= line to put in [Hook] or in a job's Hook=."""
        script = self.write_hook("record-hook", RECORD_HOOK)
        outdir = os.path.join(self.hook_out, name)
        os.makedirs(outdir, exist_ok=True)
        cfg = write_file(os.path.join(self.hooks_dir, name + ".json"), json.dumps({
            "exit_code": exit_code, "sleep": sleep, "stdout_lines": list(stdout_lines),
            "stderr_lines": list(stderr_lines), "ignore_term": ignore_term}))
        return " ".join(shlex.quote(w) for w in [script, outdir, cfg] + list(args))

    def hook_records(self, name="record"):
        out = []
        for p in glob.glob(os.path.join(self.hook_out, name, "*.json")):
            try:
                with open(p) as f:
                    out.append(json.load(f))
            except (OSError, ValueError):
                pass             # being renamed into place
        return sorted(out, key=lambda r: r["t"])

    def wait_for_hook_records(self, count, timeout=15, name="record", finished=True):
        def enough():
            recs = self.hook_records(name)
            if finished:
                recs = [r for r in recs if r["finished"] or r["terminated"]]
            return recs if len(recs) >= count else None
        return wait_until(enough, timeout, what="%d hook run(s) of %s (have %d)"
                          % (count, name, len(self.hook_records(name))))

    def base_config(self, mock, key_file=None, *, hook=None, initial="100ms", max_interval="500ms",
                    multiplier=1.5, jitter=0, job_timeout=None, request_timeout="5s",
                    max_concurrent=None, extra=None):
        """A config dict for one endpoint on MOCK (a Mock or a base URL) with fast polling."""
        url = mock.url if isinstance(mock, Mock) else mock
        if key_file is None:
            key_file = self.write_key("api-key", KEY)
        conf = {
            "Daemon": {"JobsDirectory": self.jobs_dir},
            "Poll": {"InitialInterval": initial, "MaxInterval": max_interval, "Multiplier": multiplier,
                     "Jitter": jitter, "RequestTimeout": request_timeout},
            "Endpoint": {"BaseURL": url, "APIKeyFile": key_file},
        }
        if job_timeout is not None:
            conf["Poll"]["JobTimeout"] = job_timeout
        if max_concurrent is not None:
            conf["Endpoint"]["MaxConcurrentRequests"] = max_concurrent
        if hook is not None:
            conf["Hook"] = {"Exec": hook}
        for sec, kv in (extra or {}).items():
            conf.setdefault(sec, {}).update(kv)
        return conf

    # ---- processes ------------------------------------------------------------------

    def start_mock(self, **kw):
        m = Mock(self, **kw)
        m.start()
        return m

    def start_daemon(self, wait_ready=True, timeout=20, **kw):
        d = Daemon(self, **kw)
        d.start(wait_ready=wait_ready, timeout=timeout)
        return d

    def run_ctl(self, *args, input=None, timeout=30, check=False, env=None, with_dirs=True):
        """Run jobwatchctl with this sandbox's -c/-j/-s.  Returns CompletedProcess (text)."""
        argv = [find_jobwatchctl()]
        if with_dirs:
            argv += ["--config", self.conf, "--jobs-dir", self.jobs_dir, "--state-dir", self.state_dir]
        argv += list(args)
        e = _clean_env()
        e.update(env or {})
        log("run %s", " ".join(shlex.quote(a) for a in argv))
        p = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=t(timeout), env=e)
        log("jobwatchctl %s -> %d\n%s%s", " ".join(args), p.returncode, p.stdout, p.stderr)
        if check and p.returncode != 0:
            raise Failure("%s exited %d\nstdout: %s\nstderr: %s" % (argv, p.returncode, p.stdout, p.stderr))
        return p

    # ---- state ----------------------------------------------------------------------

    def state_db(self, name=None):
        """Path of the daemon's SQLite file in the state directory."""
        if name:
            return os.path.join(self.state_dir, name)
        cands = [p for ext in ("db", "sqlite", "sqlite3")
                 for p in glob.glob(os.path.join(self.state_dir, "**", "*." + ext), recursive=True)]
        if len(cands) != 1:
            raise Failure("expected one SQLite file in %s, found %s" % (self.state_dir, cands or "none"))
        return cands[0]

    def state_query(self, sql, params=(), db=None):
        """Run SQL on the state database (read-only); returns a list of dicts."""
        return state_query(self.state_db(db), sql, params)

    # ---- resource protocol ----------------------------------------------------------

    def tree(self):
        out = []
        for root, dirs, files in os.walk(self.dir):
            dirs.sort()
            for f in sorted(files):
                p = os.path.join(root, f)
                try:
                    st = os.lstat(p)
                    out.append("  %o %8d %s" % (st.st_mode & 0o7777, st.st_size, os.path.relpath(p, self.dir)))
                except OSError:
                    pass
        return "\n".join(out)

    def diagnose(self):
        print("--- sandbox %s%s" % (self.dir, " (kept)" if self.keep else ""))
        print(self.tree())

    def cleanup(self):
        if self.keep:
            note("sandbox kept: %s", self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


def state_query(path, sql, params=()):
    """Run SQL on an SQLite file, read-only; returns a list of dicts."""
    uri = "file:%s?mode=ro" % urllib.parse.quote(os.path.abspath(path))
    con = sqlite3.connect(uri, uri=True, timeout=5)
    try:
        con.row_factory = sqlite3.Row
        return [dict(r) for r in con.execute(sql, params).fetchall()]
    finally:
        con.close()


def _clean_env():
    """The test's environment without what systemd would have given a service."""
    e = dict(os.environ)
    for k in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID",
              "LISTEN_FDNAMES", "JOURNAL_STREAM", "INVOCATION_ID", "STATE_DIRECTORY",
              "RUNTIME_DIRECTORY", "CREDENTIALS_DIRECTORY", "MANAGERPID", "SYSTEMD_EXEC_PID",
              "LOGS_DIRECTORY", "CACHE_DIRECTORY", "CONFIGURATION_DIRECTORY"):
        e.pop(k, None)
    return e


# ------------------------------------------------------------------------------------------
# Mock Dify
# ------------------------------------------------------------------------------------------

class Mock:
    """A mock_dify.py process and a client for its control API (/_mock/...)."""

    def __init__(self, sb, *, keys=(KEY,), dify_version="old", jobs=None, scenario=None,
                 result_ttl=None, pending_ttl=None, default_lifecycle=None, prefix="/v1", tls=False,
                 args=(), name=None):
        self.sb = sb
        self.name = name or "mock%d" % (len(sb.mocks) + 1)
        self.keys = list(keys)
        self.prefix = prefix
        self.tls = tls
        self.port = None
        self.proc = None
        self.cert = self.key = None
        self.log_path = os.path.join(sb.logs, self.name + ".log")
        self.port_file = os.path.join(sb.dir, self.name + ".port")
        argv = [PYTHON, MOCK_SCRIPT, "--port-file", self.port_file, "--prefix", prefix,
                "--dify-version", dify_version]
        for k in self.keys:
            argv += ["--key", k]
        if result_ttl is not None:
            argv += ["--result-ttl", str(result_ttl)]
        if pending_ttl is not None:
            argv += ["--pending-ttl", str(pending_ttl)]
        if default_lifecycle is not None:
            argv += ["--default-lifecycle", json.dumps(default_lifecycle)]
        scen = []
        if scenario is not None:
            scen.append(scenario)
        if jobs is not None:
            scen.append({"jobs": jobs})
        for i, s in enumerate(scen):
            if isinstance(s, str) and os.path.exists(s):
                p = s
            else:
                p = write_file(os.path.join(sb.dir, "%s-scenario-%d.json" % (self.name, i)), json.dumps(s, indent=1))
            argv += ["--scenario", p]
        if tls:
            self.cert, self.key = make_cert(sb.dir, self.name)
            argv += ["--tls-cert", self.cert, "--tls-key", self.key]
        self.argv = argv + list(args)
        sb.mocks.append(self)
        _register(self)

    @property
    def scheme(self):
        return "https" if self.tls else "http"

    @property
    def url(self):
        """Base URL, as [Endpoint] BaseURL= wants it (http://127.0.0.1:PORT/v1)."""
        return "%s://127.0.0.1:%d%s" % (self.scheme, self.port, self.prefix)

    def start(self, timeout=10):
        if os.path.exists(self.port_file):
            os.unlink(self.port_file)
        self.logf = open(self.log_path, "ab")
        self.proc = spawn(self.argv, stdout=self.logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        timeout = t(timeout)
        deadline = time.monotonic() + timeout
        while not os.path.exists(self.port_file):
            if self.proc.poll() is not None:
                raise Failure("mock %s exited with %s:\n%s" % (self.name, self.proc.returncode, self.log_tail()))
            if time.monotonic() > deadline:
                raise Failure("mock %s did not start within %.0fs:\n%s" % (self.name, timeout, self.log_tail()))
            time.sleep(0.02)
        with open(self.port_file) as f:
            self.port = int(f.read())
        log("mock %s at %s (pid %d)", self.name, self.url, self.proc.pid)
        return self

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode if self.proc else None

    def restart(self):
        """Stop and start again on the same port (jobs and log are lost, as with a real restart)."""
        port = self.port
        self.stop()
        self.argv = [a for a in self.argv]
        if "--port" in self.argv:
            i = self.argv.index("--port")
            del self.argv[i:i + 2]
        self.argv += ["--port", str(port)]
        return self.start()

    def log_tail(self, n=30):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    # ---- control API ----------------------------------------------------------------

    def ctl(self, method, path, obj=None, timeout=30):
        if self.tls:
            ctx = ssl.create_default_context(cafile=self.cert)
            c = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=timeout, context=ctx)
        else:
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            body = json.dumps(obj).encode() if obj is not None else None
            c.request(method, path, body=body,
                      headers={"Content-Type": "application/json", "Connection": "close"})
            r = c.getresponse()
            data = r.read()
        finally:
            c.close()
        if r.status != 200:
            raise Failure("mock control %s %s -> %d: %s" % (method, path, r.status, data.decode(errors="replace")))
        return json.loads(data)

    def add_jobs(self, *jobs, **top):
        """Add scenario jobs (dicts in the scenario format); top-level keys go along."""
        top["jobs"] = list(jobs)
        return self.ctl("POST", "/_mock/jobs", top)["added"]

    def add_job(self, job_id, **fields):
        fields["job_id"] = job_id
        return self.add_jobs(fields)

    def set(self, job_ids=None, **fields):
        """Change jobs now: status=, error_msg=, gone=True, lifecycle=, responses=, ttl=, ..."""
        if job_ids is None:
            fields["all"] = True
        else:
            fields["job_ids"] = [job_ids] if isinstance(job_ids, str) else list(job_ids)
        return self.ctl("POST", "/_mock/set", fields)["updated"]

    def config(self, **kw):
        return self.ctl("POST", "/_mock/config", kw)

    def add_override(self, response, match=None, duration=None, count=None, name=None):
        """A global fault switch, e.g. add_override({"fault": "503", "retry_after": 2},
        match={"kind": "status"}, duration=5)."""
        o = {"response": response}
        if match is not None:
            o["match"] = match
        if duration is not None:
            o["duration"] = duration
        if count is not None:
            o["count"] = count
        if name is not None:
            o["name"] = name
        return self.config(add_override=o)

    def clear_overrides(self):
        return self.config(clear_overrides=True)

    def requests(self, job_id=None, kind=None, since=0, headers=True):
        q = {"since": since}
        if job_id is not None:
            q["job_id"] = job_id
        if kind is not None:
            q["kind"] = kind
        if not headers:
            q["headers"] = 0
        return self.ctl("GET", "/_mock/requests?" + urllib.parse.urlencode(q))

    def status_requests(self, job_id, action=None):
        return [e for e in self.requests(job_id=job_id, kind="status", headers=False)
                if action is None or e["action"] == action]

    def poll_times(self, job_id, action=None):
        """Monotonic arrival times of the job's status requests (same clock as time.monotonic())."""
        return [e["t"] for e in self.status_requests(job_id, action)]

    def stats(self):
        return self.ctl("GET", "/_mock/stats")

    def jobs(self, job_id=None):
        return self.ctl("GET", "/_mock/jobs" + ("?job_id=" + job_id if job_id else ""))

    def reset_log(self):
        return self.ctl("POST", "/_mock/reset-log")

    # document-indexing batches and workflow runs (tests/README.md, "The mock")

    def add_batches(self, *batches, **top):
        """Add batches ({"dataset_id", "batch", "documents" | "count"+"document", ...}); top-level
        scenario keys (datasets=, apps=) go along."""
        top["batches"] = list(batches)
        return self.ctl("POST", "/_mock/jobs", top)["added"]

    def set_batch(self, batch=None, **fields):
        """Change a batch now: status=, lifecycle=, document_ids=, error=, gone=True, ...;
        batch=None: every batch."""
        if batch is None:
            fields["all"] = True
        else:
            fields["batch"] = batch
        return self.ctl("POST", "/_mock/set-batch", fields)["updated"]

    def batches(self, batch=None):
        return self.ctl("GET", "/_mock/batches" + ("?batch=" + batch if batch else ""))

    def add_runs(self, *runs, **top):
        top["runs"] = list(runs)
        return self.ctl("POST", "/_mock/jobs", top)["added"]

    def set_run(self, run_ids=None, **fields):
        """Change runs now: status=, lifecycle=, outputs=, error=, gone=True, ..."""
        if run_ids is None:
            fields["all"] = True
        else:
            fields["run_ids"] = [run_ids] if isinstance(run_ids, str) else list(run_ids)
        return self.ctl("POST", "/_mock/set-run", fields)["updated"]

    def runs(self, run_id=None):
        return self.ctl("GET", "/_mock/runs" + ("?run_id=" + run_id if run_id else ""))

    # job APIs that are not Dify's, for user-defined kinds (tests/mock/mock_jobapi.py)

    def add_api_jobs(self, **lists):
        """openai_batches=[...], anthropic_batches=[...], project_jobs=[...] ({"id", "lifecycle",
        "responses", ...}, see mock_jobapi.py)."""
        return self.ctl("POST", "/_mock/api-jobs", lists)["added"]

    def set_api_job(self, kind, ids=None, **fields):
        """Change objects of one API now (kind openai|anthropic|project): status=, lifecycle=,
        gone=True, errors=, responses=, ...; ids=None: all of them."""
        fields["kind"] = kind
        if ids is None:
            fields["all"] = True
        else:
            fields["ids"] = [ids] if isinstance(ids, str) else list(ids)
        return self.ctl("POST", "/_mock/set-api-job", fields)["updated"]

    def api_jobs(self, kind=None, id=None):
        q = {k: v for k, v in (("kind", kind), ("id", id)) if v is not None}
        return self.ctl("GET", "/_mock/api-jobs" + ("?" + urllib.parse.urlencode(q) if q else ""))

    def verify(self):
        """Fail if a job's 'expect' clause was not met."""
        v = self.ctl("GET", "/_mock/verify")
        if not v["ok"]:
            raise Failure("mock %s expectations not met:\n  %s" % (self.name, "\n  ".join(v["problems"])))

    def wait_for_requests(self, count=1, timeout=10, predicate=None, job_id=None, kind=None):
        def enough():
            rs = self.requests(job_id=job_id, kind=kind, headers=predicate is not None)
            if predicate is not None:
                rs = [r for r in rs if predicate(r)]
            return rs if len(rs) >= count else None
        return wait_until(enough, timeout, interval=0.05,
                          what="%d request(s) at mock %s (job %s, kind %s)" % (count, self.name, job_id, kind))

    # ---- checks ---------------------------------------------------------------------

    def assert_max_concurrency(self, limit, app=KEY):
        got = self.stats()["max_in_flight"].get(app, 0)
        check(got <= limit, "mock %s saw %d requests in flight for one app at once, limit %d", self.name, got, limit)
        return got

    def assert_quiet(self, t_from, t_to, kind="status", app=None):
        """No request of KIND (for APP) arrived in [t_from, t_to) (monotonic times)."""
        bad = [e for e in self.requests(kind=kind, headers=False)
               if t_from <= e["t"] < t_to and (app is None or e["app"] == app)]
        check(not bad, "requests during a quiet period [%.3f, %.3f): %s", t_from, t_to,
              ["#%d %s %s at +%.3fs" % (e["seq"], e["method"], e["path"], e["t"] - t_from) for e in bad[:10]])

    def assert_retry_after_respected(self, kind="status", app=None, tolerance=0.05):
        """Every answer with a Retry-After of N seconds was followed by N seconds without a request
        of KIND (for APP, default the same app) -- the contract: the whole endpoint waits."""
        log_ = self.requests(headers=False)
        for e in log_:
            ra = e.get("retry_after")
            if ra is None or e["t_end"] is None:
                continue
            secs = _retry_after_seconds(ra, e["wall"])
            if secs is None:
                continue
            secs = min(secs, 3600)
            a = app if app is not None else e["app"]
            self.assert_quiet(e["t_end"], e["t_end"] + secs - tolerance, kind=kind, app=a)

    def summary(self, n=25):
        lines = []
        try:
            s = self.stats()
            lines.append("stats: requests=%d by_kind=%s max_in_flight=%s connections_total=%d open=%d"
                         % (s["requests"], json.dumps(s["by_kind"]), s["max_in_flight"],
                            s["connections_total"], s["connections_open"]))
            rs = self.requests(headers=False)
            per_job = {}
            for e in rs:
                if e["job_id"]:
                    per_job.setdefault(e["job_id"], []).append(str(e["status"] or e["fault"]))
            for jid, sts in list(per_job.items())[:20]:
                lines.append("  job %s: %d requests: %s" % (jid, len(sts), " ".join(sts[-15:])))
            lines.append("last %d requests:" % min(n, len(rs)))
            t0 = rs[0]["t"] if rs else 0
            for e in rs[-n:]:
                lines.append("  #%d +%.3fs conn %d %s %s -> %s%s%s%s" % (
                    e["seq"], e["t"] - t0, e["conn"], e["method"], e["path"], e["status"],
                    " [%s]" % e["fault"] if e["fault"] else "", " job_status=%s" % e["job_status"]
                    if e["job_status"] else "", " ABORTED" if e["aborted"] else ""))
        except Exception as ex:
            lines.append("(control API unavailable: %s)" % ex)
        return "\n".join(lines)

    def diagnose(self):
        print("--- mock %s %s (pid %s, rc %s)" % (self.name, self.url if self.port else "-",
                                                 self.proc.pid if self.proc else "-",
                                                 self.proc.poll() if self.proc else "-"))
        if self.proc is not None and self.proc.poll() is None:
            print(self.summary())
        tail = self.log_tail()
        if tail.strip():
            print("mock output:\n" + tail)

    def cleanup(self):
        self.stop()


def _retry_after_seconds(value, wall):
    try:
        return float(value)
    except ValueError:
        pass
    try:
        import email.utils
        return email.utils.parsedate_to_datetime(value).timestamp() - wall
    except (TypeError, ValueError):
        return None


def make_cert(directory, name="mock"):
    """A self-signed certificate for 127.0.0.1/localhost, made with openssl. (cert, key) paths."""
    if shutil.which("openssl") is None:
        raise Skip("openssl is not installed")
    cert = os.path.join(directory, name + "-cert.pem")
    key = os.path.join(directory, name + "-key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=60)
    return cert, key


# ------------------------------------------------------------------------------------------
# sd_notify listener
# ------------------------------------------------------------------------------------------

class Notify:
    """An AF_UNIX datagram socket for NOTIFY_SOCKET; records every message with time and sender."""

    def __init__(self, directory, name="notify"):
        path = os.path.join(directory, name + ".sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        if len(path.encode()) >= 100:                      # sun_path is 108 bytes
            path = "@jobwatch-test-notify-%s" % uuid.uuid4().hex
            self.sock.bind("\0" + path[1:])
        else:
            self.sock.bind(path)
        self.address = path
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.messages = []        # dicts: t, wall, pid, fields {K: V}, raw
        self.cond = threading.Condition()
        self.stopping = False
        self.thread = threading.Thread(target=self._loop, name="notify", daemon=True)
        self.thread.start()

    def _loop(self):
        credsz = socket.CMSG_SPACE(struct.calcsize("3i"))
        while not self.stopping:
            try:
                r, _, _ = select.select([self.sock], [], [], 0.2)
                if not r:
                    continue
                data, anc, _, _ = self.sock.recvmsg(65536, credsz + socket.CMSG_SPACE(64 * 4))
            except OSError:
                if self.stopping:
                    return
                continue
            pid = None
            for level, typ, cdata in anc:
                if level == socket.SOL_SOCKET and typ == socket.SCM_CREDENTIALS:
                    pid = struct.unpack("3i", cdata[:12])[0]
                elif level == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
                    for i in range(0, len(cdata) - len(cdata) % 4, 4):   # fd store: close them
                        try:
                            os.close(struct.unpack("i", cdata[i:i + 4])[0])
                        except OSError:
                            pass
            text = data.decode("utf-8", "replace")
            fields = {}
            for line in text.split("\n"):
                if "=" in line:
                    k, v = line.split("=", 1)
                    fields[k] = v
            msg = {"t": time.monotonic(), "wall": time.time(), "pid": pid, "fields": fields, "raw": text}
            log("notify from %s: %s", pid, text.replace("\n", " | "))
            with self.cond:
                self.messages.append(msg)
                self.cond.notify_all()

    def count(self):
        with self.cond:
            return len(self.messages)

    def wait(self, key, value=None, timeout=10, since=0, pid=None):
        """Wait for a message (index >= since) carrying KEY (=VALUE); returns (index, message).
        timeout is not scaled here: callers pass a scaled one."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for i in range(since, len(self.messages)):
                    m = self.messages[i]
                    if key in m["fields"] and (value is None or m["fields"][key] == value) \
                            and (pid is None or m["pid"] == pid):
                        return i, m
                left = deadline - time.monotonic()
                if left <= 0:
                    raise Failure("no sd_notify %s%s within %.1fs; got: %s" % (
                        key, "=" + value if value is not None else "", timeout,
                        [m["raw"] for m in self.messages[since:]][-10:]))
                self.cond.wait(min(left, 0.2))

    def values(self, key, since=0):
        with self.cond:
            return [m["fields"][key] for m in self.messages[since:] if key in m["fields"]]

    def close(self):
        self.stopping = True
        self.thread.join(2)
        self.sock.close()
        if not self.address.startswith("@"):
            try:
                os.unlink(self.address)
            except OSError:
                pass


# ------------------------------------------------------------------------------------------
# jobwatchd
# ------------------------------------------------------------------------------------------

class Daemon:
    """jobwatchd run on a sandbox.  Keeps the same notify socket and dirs across restarts."""

    def __init__(self, sb, *, binary=None, log_target="journal", args=(), env=None, config=True,
                 jobs_dir=True, state_dir=True, watchdog_usec=None, name=None):
        self.sb = sb
        self.name = name or "jobwatchd%d" % (len(sb.daemons) + 1)
        self.binary = binary or find_jobwatchd()
        self.log_target = log_target
        self.args = list(args)
        self.env = dict(env or {})
        self.use_config = config
        self.use_jobs_dir = jobs_dir
        self.use_state_dir = state_dir
        self.watchdog_usec = watchdog_usec
        self.notify = Notify(sb.dir, "notify-" + self.name)
        self.proc = None
        self.pids = []               # every PID this daemon had, across restarts
        self.runs = []               # (pid, stderr path, start time, rc)
        self.rc = None
        self.t_started = None
        sb.daemons.append(self)
        _register(self)

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def argv(self):
        a = []
        w = os.environ.get("JOBWATCHD_WRAPPER")
        if w:
            a += shlex.split(w)
        a.append(self.binary)
        if self.use_config:
            a += ["--config", self.sb.conf if self.use_config is True else self.use_config]
        if self.use_jobs_dir:
            a += ["--jobs-dir", self.sb.jobs_dir if self.use_jobs_dir is True else self.use_jobs_dir]
        if self.use_state_dir:
            a += ["--state-dir", self.sb.state_dir if self.use_state_dir is True else self.use_state_dir]
        if self.log_target:
            a.append("--log-target=" + self.log_target)
        return a + self.args

    def start(self, wait_ready=True, timeout=20):
        if self.is_running():
            raise Failure("%s is already running (pid %d)" % (self.name, self.pid))
        env = _clean_env()
        env["NOTIFY_SOCKET"] = self.notify.address
        if self.watchdog_usec:
            env["WATCHDOG_USEC"] = str(int(self.watchdog_usec))
        for k, v in self.env.items():
            if v is None:
                env.pop(k, None)
            else:
                env[k] = str(v)
        n = len(self.runs) + 1
        self.stderr_path = os.path.join(self.sb.logs, "%s.%d.stderr" % (self.name, n))
        self.stdout_path = os.path.join(self.sb.logs, "%s.%d.stdout" % (self.name, n))
        argv = self.argv()
        log("start %s", " ".join(shlex.quote(a) for a in argv))
        self.mark = self.notify.count()
        self.t_started = time.monotonic()
        self.wall_started = time.time()
        with open(self.stderr_path, "wb") as err, open(self.stdout_path, "wb") as out:
            self.proc = spawn(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env,
                              cwd=self.sb.dir, start_new_session=True)
        self.rc = None
        self.pids.append(self.proc.pid)
        self.runs.append({"pid": self.proc.pid, "stderr": self.stderr_path, "t": self.t_started, "rc": None})
        if wait_ready:
            self.wait_ready(timeout)
        return self

    def _check_alive(self, what):
        if self.proc.poll() is not None:
            self._reaped()
            raise Failure("%s exited with %s while waiting for %s; stderr:\n%s"
                          % (self.name, self.rc, what, self.stderr_tail()))

    def wait_notify(self, key, value=None, timeout=10, since=None):
        """Wait for an sd_notify message from this run; returns its index in notify.messages."""
        since = self.mark if since is None else since
        timeout = t(timeout)
        deadline = time.monotonic() + timeout
        while True:
            try:
                i, _ = self.notify.wait(key, value, timeout=min(0.25, max(0.0, deadline - time.monotonic())),
                                        since=since)
                return i
            except Failure:
                self._check_alive("%s=%s" % (key, value))
                if time.monotonic() >= deadline:
                    raise

    def wait_ready(self, timeout=20, since=None):
        i = self.wait_notify("READY", "1", timeout, since)
        log("%s ready after %.3fs", self.name, time.monotonic() - self.t_started)
        return i

    def notifications(self, key=None):
        """All sd_notify messages (of every run); with KEY, just that field's values."""
        if key is not None:
            return self.notify.values(key)
        with self.notify.cond:
            return list(self.notify.messages)

    def status_lines(self):
        return self.notify.values("STATUS")

    def wait_status(self, regex, timeout=10):
        """Wait until a STATUS= line matches REGEX; returns the line."""
        r = re.compile(regex)

        def found():
            return next((s for s in self.notify.values("STATUS", self.mark) if r.search(s)), None)
        return wait_until(found, timeout, what="STATUS= matching %r (have %s)" % (regex, self.status_lines()[-5:]))

    def signal(self, sig):
        self.proc.send_signal(sig)

    def reload(self, wait=True, timeout=10):
        """SIGHUP; waits for RELOADING=1 then READY=1."""
        mark = self.notify.count()
        self.proc.send_signal(signal.SIGHUP)
        if wait:
            i = self.wait_notify("RELOADING", "1", timeout, since=mark)
            self.wait_notify("READY", "1", timeout, since=i + 1)

    def stop(self, timeout=30, expect_rc=0, expect_stopping=True):
        """SIGTERM and wait; asserts the exit status (None: any) and that STOPPING=1 was sent."""
        if self.proc is None or self.proc.poll() is not None:
            self._reaped()
            if expect_rc is not None and self.rc != expect_rc:
                raise Failure("%s had already exited with %s; stderr:\n%s" % (self.name, self.rc, self.stderr_tail()))
            return self.rc
        mark = self.notify.count()
        timeout = t(timeout)
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            self._reaped()
            raise Failure("%s did not exit within %.0fs of SIGTERM; killed. stderr:\n%s"
                          % (self.name, timeout, self.stderr_tail()))
        self._reaped()
        log("%s stopped: rc %s", self.name, self.rc)
        if expect_rc is not None and self.rc != expect_rc:
            raise Failure("%s exited with %s after SIGTERM, expected %s; stderr:\n%s"
                          % (self.name, self.rc, expect_rc, self.stderr_tail()))
        if expect_stopping:
            check("1" in self.notify.values("STOPPING", mark), "%s sent no STOPPING=1 on SIGTERM", self.name)
        return self.rc

    def kill9(self):
        """SIGKILL, like a crash; returns once the process is gone."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._reaped()
        return self.rc

    def restart(self, kill=False, wait_ready=True, timeout=20, **stop_kw):
        """Stop (SIGTERM, or SIGKILL with kill=True) and start again with the same dirs."""
        if kill:
            self.kill9()
        else:
            self.stop(**stop_kw)
        return self.start(wait_ready=wait_ready, timeout=timeout)

    def wait_exit(self, timeout=10):
        timeout = t(timeout)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise Failure("%s still running after %.0fs" % (self.name, timeout))
        self._reaped()
        return self.rc

    def is_running(self):
        return self.proc is not None and self.proc.poll() is None

    def _reaped(self):
        if self.proc is not None and self.proc.returncode is not None:
            self.rc = self.proc.returncode
            self.runs[-1]["rc"] = self.rc

    # ---- output ---------------------------------------------------------------------

    def stderr_text(self, run=-1):
        try:
            with open(self.runs[run]["stderr"], errors="replace") as f:
                return f.read()
        except (OSError, IndexError):
            return ""

    def stderr_lines(self, run=-1):
        return self.stderr_text(run).splitlines()

    def stderr_tail(self, n=40, run=-1):
        return "\n".join(self.stderr_lines(run)[-n:])

    def wait_for_stderr(self, regex, timeout=10, count=1, run=-1):
        """Wait until COUNT lines of stderr match REGEX (console log target); returns them."""
        r = re.compile(regex)

        def found():
            m = [ln for ln in self.stderr_lines(run) if r.search(ln)]
            return m if len(m) >= count else None
        return wait_until(found, timeout, what="%d stderr line(s) matching %r" % (count, regex))

    # ---- journal --------------------------------------------------------------------

    def journal(self, *, all_runs=True, since=None, **matches):
        """Journal entries of this daemon (every run, matched by _PID), with FIELD=value matches."""
        pids = self.pids if all_runs else self.pids[-1:]
        return journal_entries(pids=pids, since=since if since is not None else self.sb.t_wall - 2, **matches)

    def wait_for_journal(self, predicate=None, count=1, timeout=15, **matches):
        pids = list(self.pids)
        return wait_for_entries(predicate, count, timeout, pids=pids, since=self.sb.t_wall - 2, **matches)

    def results(self, job_id=None, message_id=None):
        """Job result entries: those carrying JOB_STATUS (and MESSAGE_ID if given)."""
        m = {}
        if job_id is not None:
            m["JOB_ID"] = job_id
        if message_id is not None:
            m["MESSAGE_ID"] = message_id
        return [e for e in self.journal(**m) if "JOB_STATUS" in e]

    def wait_for_results(self, count=1, timeout=20, job_id=None, message_id=None):
        m = {}
        if job_id is not None:
            m["JOB_ID"] = job_id
        if message_id is not None:
            m["MESSAGE_ID"] = message_id
        return self.wait_for_journal(lambda e: "JOB_STATUS" in e, count, timeout, **m)

    # ---- resource protocol ----------------------------------------------------------

    def diagnose(self):
        print("--- %s: %s" % (self.name, " ".join(shlex.quote(a) for a in self.argv())))
        for i, r in enumerate(self.runs):
            print("run %d: pid %d, rc %s" % (i + 1, r["pid"], r["rc"] if r["rc"] is not None
                                            else ("running" if self.is_running() else "?")))
            print("stderr (tail):\n" + "\n".join("  " + ln for ln in self.stderr_tail(60, run=i).splitlines()))
        msgs = self.notifications()
        print("sd_notify (%d messages, last 20):" % len(msgs))
        for m in msgs[-20:]:
            print("  +%.3fs pid %s: %s" % (m["t"] - T_START, m["pid"], m["raw"].replace("\n", " | ")))
        if self.log_target == "journal" and journald_available():
            try:
                ents = self.journal()
                print("journal (%d entries, last 60):" % len(ents))
                for e in ents[-60:]:
                    print("  " + format_entry(e))
            except Exception as ex:
                print("journal unavailable: %s" % ex)

    def cleanup(self):
        try:
            if self.is_running():
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(5)
            self._reaped()
        finally:
            self.notify.close()


# ------------------------------------------------------------------------------------------
# Journal
# ------------------------------------------------------------------------------------------

_journald_state = None


def journald_available():
    """True when journald takes entries and journalctl reads them back (checked once)."""
    global _journald_state
    if _journald_state is None:
        _journald_state = _probe_journald()
    return _journald_state[0]


def journald_reason():
    journald_available()
    return _journald_state[1]


def require_journald():
    if not journald_available():
        raise Skip("no usable journald: %s" % journald_reason())


def _probe_journald():
    if shutil.which("journalctl") is None:
        return False, "journalctl is not installed"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        s.connect(JOURNAL_SOCKET)
    except OSError as e:
        return False, "%s does not accept datagrams (%s); run tests/integration/journald.sh start" % (
            JOURNAL_SOCKET, e.strerror or e)
    probe = uuid.uuid4().hex
    try:
        s.send(("MESSAGE=jobwatch test harness journal probe\nPRIORITY=7\nSYSLOG_IDENTIFIER=jobwatch-test\n"
                "JOBWATCH_TEST_PROBE=%s\n" % probe).encode())
    except OSError as e:
        return False, "cannot log to journald: %s" % e
    finally:
        s.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if journal_entries(JOBWATCH_TEST_PROBE=probe, since=time.time() - 60):
                return True, ""
        except Failure as e:
            return False, str(e)
        time.sleep(0.1)
    return False, "journald takes entries but journalctl does not show them (journal not readable?)"


def journalctl_base():
    a = ["journalctl", "--output=json", "--no-pager", "--all", "--quiet"]
    extra = os.environ.get("JOURNALCTL_ARGS")
    if extra:
        a += shlex.split(extra)
    return a


def _decode_field(v):
    if isinstance(v, list):
        if v and all(isinstance(x, int) for x in v):
            return bytes(v).decode("utf-8", "replace")
        return [_decode_field(x) for x in v]
    return v


def journal_entries(*, pids=None, since=None, message_id=None, args=(), timeout=30, **matches):
    """journalctl -o json with matches.  FIELD=value keyword arguments (a list of values is an OR);
    pids: a PID or a list of PIDs (_PID=...); since: a wall-clock time (seconds since the epoch)."""
    a = journalctl_base()
    if since is not None:
        a.append("--since=@%d" % int(since))
    a += list(args)
    if message_id is not None:
        matches["MESSAGE_ID"] = message_id
    if pids is not None:
        pids = [pids] if isinstance(pids, int) else list(pids)
        if not pids:
            return []
        matches["_PID"] = pids
    for k, v in matches.items():
        for x in (v if isinstance(v, (list, tuple)) else [v]):
            a.append("%s=%s" % (k, x))
    try:
        p = subprocess.run(a, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise Failure("journalctl timed out: %s" % " ".join(a))
    if p.returncode != 0 and p.stdout.strip() == b"":
        err = p.stderr.decode(errors="replace").strip()
        if "No entries" in err or not err:
            return []
        raise Failure("journalctl failed (%d): %s" % (p.returncode, err))
    out = []
    for line in p.stdout.splitlines():
        if not line.strip():
            continue
        e = json.loads(line)
        out.append({k: _decode_field(v) for k, v in e.items()})
    return out


def wait_for_entries(predicate=None, count=1, timeout=15, **query):
    """Poll the journal (journald writes asynchronously) until COUNT entries match PREDICATE
    (and the journal_entries() query).  Returns the matching entries."""
    last = []

    def enough():
        nonlocal last
        ents = journal_entries(**query)
        if predicate is not None:
            ents = [e for e in ents if predicate(e)]
        last = ents
        return ents if len(ents) >= count else None
    try:
        return wait_until(enough, timeout, interval=0.1, what="%d journal entries" % count)
    except Failure:
        raise Failure("timed out after %.1fs waiting for %d journal entries matching %s; found %d:\n%s"
                      % (timeout, count, {k: v for k, v in query.items() if k != "since"}, len(last),
                         "\n".join("  " + format_entry(e) for e in last[-20:])))


def format_entry(e):
    ts = e.get("__REALTIME_TIMESTAMP")
    t = time.strftime("%H:%M:%S", time.localtime(int(ts) / 1e6)) + ".%03d" % (int(ts) // 1000 % 1000) if ts else "?"
    extra = " ".join("%s=%s" % (k, e[k]) for k in sorted(e)
                     if (k.startswith("JOB_") or k.startswith("HOOK_") or k == "MESSAGE_ID") and k in e)
    return "%s %s[%s] p%s %s%s" % (t, e.get("SYSLOG_IDENTIFIER", "?"), e.get("_PID", "?"),
                                   e.get("PRIORITY", "?"), e.get("MESSAGE", ""), "  {" + extra + "}" if extra else "")


def catalog_message_ids():
    """MESSAGE_IDs and subjects from the repository's journal catalog files ({id: subject})."""
    ids = {}
    for p in glob.glob(os.path.join(REPO, "**", "*.catalog*"), recursive=True):
        if "/build" in p[len(REPO):]:
            continue
        try:
            with open(p, errors="replace") as f:
                lines = f.read().splitlines()
        except OSError:
            continue
        for i, ln in enumerate(lines):
            m = re.match(r"^-- ([0-9a-f]{32})\b", ln)
            if m:
                subj = next((x[len("Subject:"):].strip() for x in lines[i + 1:i + 6] if x.startswith("Subject:")), "")
                ids[m.group(1)] = subj
    return ids


# ------------------------------------------------------------------------------------------
# Poll spacing
# ------------------------------------------------------------------------------------------

def gaps(times):
    return [b - a for a, b in zip(times, times[1:])]


def expected_gap(k, initial, multiplier, max_interval):
    """The contract's k-th gap (k >= 1) before jitter: min(initial * multiplier^(k-1), max)."""
    return min(initial * multiplier ** (k - 1), max_interval)


def assert_backoff(times, initial, multiplier, max_interval, jitter=0.0, slack=0.15, early=0.02):
    """Check poll start times against the contract's schedule.  A gap may be longer than
    planned by SLACK seconds (scheduling, a slow answer) but never shorter than the jittered
    minimum minus EARLY."""
    problems = []
    for k, g in enumerate(gaps(times), 1):
        d = expected_gap(k, initial, multiplier, max_interval)
        lo, hi = d * (1 - jitter) - early, d * (1 + jitter) + slack
        if not lo <= g <= hi:
            problems.append("gap %d: %.3fs not in [%.3f, %.3f]" % (k, g, lo, hi))
    if problems:
        raise Failure("poll spacing does not follow the backoff (gaps %s):\n  %s"
                      % (["%.3f" % g for g in gaps(times)], "\n  ".join(problems)))


# ------------------------------------------------------------------------------------------
# Self-test: the harness against a stand-in daemon
# ------------------------------------------------------------------------------------------

FAKE_DAEMON = r'''#!/usr/bin/python3
# A stand-in for jobwatchd, written by harness.py selftest: just enough behaviour to exercise
# the harness (sd_notify, journal/console logging, polling the mock, hooks, signals).
import argparse, configparser, glob, http.client, json, os, signal, socket, subprocess, sys, time, urllib.parse
ap = argparse.ArgumentParser()
ap.add_argument("--config"); ap.add_argument("--jobs-dir"); ap.add_argument("--state-dir")
ap.add_argument("--log-target", default="auto")
a = ap.parse_args()

def notify(msg):
    addr = os.environ.get("NOTIFY_SOCKET")
    if addr:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.sendto(msg.encode(), "\0" + addr[1:] if addr.startswith("@") else addr)
        s.close()

def jlog(msg, prio=6, **fields):
    if a.log_target == "console":
        print("<%d>%s %s" % (prio, msg, " ".join("%s=%s" % kv for kv in fields.items())), file=sys.stderr, flush=True)
        return
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    body = "MESSAGE=%s\nPRIORITY=%d\nSYSLOG_IDENTIFIER=jobwatchd\n" % (msg, prio)
    body += "".join("%s=%s\n" % kv for kv in fields.items())
    s.sendto(body.encode(), "/run/systemd/journal/socket")
    s.close()

cp = configparser.ConfigParser(strict=False, interpolation=None); cp.optionxform = str
cp.read(a.config)
base = cp["Endpoint"]["BaseURL"]; key = open(cp["Endpoint"]["APIKeyFile"]).read().rstrip("\n")
hook = cp["Hook"]["Exec"].split() if cp.has_section("Hook") else None
u = urllib.parse.urlsplit(base)
state = os.path.join(a.state_dir, "state.json")
done = json.load(open(state)) if os.path.exists(state) else {}
stop = False; hup = False
def on_term(*x):
    global stop; stop = True
def on_hup(*x):
    global hup; hup = True
signal.signal(signal.SIGTERM, on_term); signal.signal(signal.SIGHUP, on_hup)
jobs = {}
for p in sorted(glob.glob(os.path.join(a.jobs_dir, "*.job"))):
    jc = configparser.ConfigParser(strict=False, interpolation=None); jc.optionxform = str; jc.read(p)
    jobs[jc["Job"]["JobID"].lower()] = (jc["Job"]["Action"], p)
notify("READY=1\nSTATUS=watching %d" % len(jobs))
if os.environ.get("WATCHDOG_USEC"):
    notify("WATCHDOG=1")
polls = {}
conn = http.client.HTTPConnection(u.hostname, u.port, timeout=5)
while not stop:
    if hup:
        hup = False; notify("RELOADING=1"); notify("READY=1\nSTATUS=reloaded")
    for jid, (action, path) in list(jobs.items()):
        if jid in done:
            continue
        polls[jid] = polls.get(jid, 0) + 1
        try:
            conn.request("GET", "%s/apps/annotation-reply/%s/status/%s" % (u.path, action, jid),
                         headers={"Authorization": "Bearer " + key})
            r = conn.getresponse(); body = r.read()
        except (OSError, http.client.HTTPException):
            conn.close(); conn = http.client.HTTPConnection(u.hostname, u.port, timeout=5); continue
        st = json.loads(body).get("job_status") if r.status == 200 else None
        if st in ("completed", "error"):
            done[jid] = st
            json.dump(done, open(state, "w"))
            jlog("Job %s %s" % (jid, st), 6 if st == "completed" else 3, MESSAGE_ID="0f1e2d3c4b5a69788796a5b4c3d2e1f0",
                 JOB_ID=jid, JOB_ACTION=action, JOB_STATUS=st, JOB_POLLS=polls[jid], JOB_FILE=path)
            notify("STATUS=finished %d" % len(done))
            if hook:
                env = {"PATH": "/usr/bin:/bin", "JOBWATCH_JOB_ID": jid, "JOBWATCH_STATUS": st}
                p = subprocess.run(hook, input=body, env=env, capture_output=True)
                for ln in p.stdout.decode().splitlines():
                    jlog(ln, 6, JOB_ID=jid)
                jlog("hook done", 6, JOB_ID=jid, HOOK_EXIT_STATUS=p.returncode)
    time.sleep(0.1)
notify("STOPPING=1")
sys.exit(0)
'''


def selftest():
    """Exercise the harness with the stand-in daemon; returns the exit status."""
    def body():
        sb = Sandbox("harness-selftest")
        fake = sb.write_hook("fake-jobwatchd", FAKE_DAEMON)
        j1, j2, j3 = (str(uuid.uuid4()) for _ in range(3))
        mock = sb.start_mock(jobs=[
            {"job_id": j1, "lifecycle": [["waiting", 0.3], ["completed", None]], "expect": {"min_requests": 1}},
            {"job_id": j2, "lifecycle": [["waiting", 0.2], ["error", None]], "error_msg": "bad"},
            {"job_id": j3, "lifecycle": [["waiting", None]]}])
        hook = sb.recording_hook(stdout_lines=["hello from the hook"])
        sb.write_config(sb.base_config(mock, hook=hook))
        text = open(sb.conf).read()
        check("[Endpoint]\nBaseURL=%s\n" % mock.url in text, "config text: %s", text)
        check(oct(os.stat(os.path.join(sb.keys_dir, "api-key")).st_mode & 0o777) == "0o600", "key mode")
        sb.write_job("one", j1, description="FAQ bot")
        sb.write_job("two", j2)
        sb.write_job("three", j3)
        check("Description=FAQ bot" in open(sb.job_path("one")).read(), "job file")
        use_journal = journald_available()
        if not use_journal:
            note("no journald (%s): journal part of the self-test skipped", journald_reason())
        d = sb.start_daemon(binary=fake, log_target="journal" if use_journal else "console", watchdog_usec=5_000_000)
        d.wait_notify("WATCHDOG", "1")
        eq(d.notify.messages[0]["pid"], d.pid, "notify sender pid (SCM_CREDENTIALS)")
        d.wait_status(r"watching 3")
        if use_journal:
            res = d.wait_for_results(2, timeout=15)
            eq(sorted(e["JOB_STATUS"] for e in res), ["completed", "error"], "results")
            eq(len(d.results(job_id=j1)), 1, "results by JOB_ID")
            hk = d.wait_for_journal(lambda e: e.get("MESSAGE") == "hello from the hook", 2, timeout=10)
            eq({e["JOB_ID"] for e in hk}, {j1, j2}, "hook lines")
        else:
            d.wait_for_stderr(r"JOB_STATUS=(completed|error)", count=2, timeout=15)
        recs = sb.wait_for_hook_records(2)
        eq({r["env"]["JOBWATCH_JOB_ID"] for r in recs}, {j1, j2}, "hook env")
        check(all(r["stdin_eof"] for r in recs), "hook stdin closed")
        eq(json.loads(recs[0]["stdin"])["job_status"] in ("completed", "error"), True, "hook stdin body")
        mock.verify()
        mock.wait_for_requests(3, job_id=j3)
        times = mock.poll_times(j3)
        check(len(times) >= 3 and times == sorted(times), "poll times: %s", times)
        eq(mock.status_requests(j3)[0]["authorization"], "Bearer " + KEY, "Authorization seen by the mock")
        mock.assert_max_concurrency(1)
        d.reload()
        # a global 503 with Retry-After: the stand-in ignores it, and the check must notice
        mock.add_override({"fault": "503", "retry_after": 1}, match={"kind": "status"}, count=1)
        mock.wait_for_requests(1, predicate=lambda e: e["status"] == 503, kind="status")
        time.sleep(0.5)
        try:
            mock.assert_retry_after_respected()
            raise AssertionError("assert_retry_after_respected() missed a poll during Retry-After")
        except Failure:
            pass
        first_pid = d.pid
        d.restart(kill=True)
        check(d.pid != first_pid and d.pids == [first_pid, d.pid], "pids across restarts: %s", d.pids)
        if use_journal:
            time.sleep(0.5)
            eq(len(d.results()), 2, "nothing re-reported after kill -9")
        d.stop()
        eq(d.rc, 0, "rc")
        try:
            assert_backoff([0, 1, 2.5], 1, 1.5, 30)
        except Failure as e:
            raise AssertionError("assert_backoff rejected a correct schedule: %s" % e)
        try:
            assert_backoff([0, 1, 1.2], 1, 1.5, 30)
            raise AssertionError("assert_backoff accepted a short gap")
        except Failure:
            pass
        # state helper on any SQLite file
        con = sqlite3.connect(os.path.join(sb.state_dir, "t.db"))
        con.execute("create table jobs(id text, status text)")
        con.execute("insert into jobs values (?, ?)", (j1, "completed"))
        con.commit()
        con.close()
        eq(sb.state_query("select status from jobs where id = ?", (j1,)), [{"status": "completed"}], "state_query")
        # console variant and a failed start are reported with stderr
        sb.write_config("[Endpoint]\n")
        d2 = Daemon(sb, binary=fake, log_target="console", name="broken")
        try:
            d2.start(timeout=5)
            raise AssertionError("a daemon that dies before READY=1 was not reported")
        except Failure as e:
            check("KeyError" in str(e), "stderr tail in the failure: %s", e)
    return run(body)


if __name__ == "__main__":
    if sys.argv[1:] == ["selftest"]:
        sys.stdout.reconfigure(line_buffering=True)
        sys.exit(selftest())
    print("usage: harness.py selftest   (the harness is a library: import harness)", file=sys.stderr)
    sys.exit(2)
