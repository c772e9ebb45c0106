#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""mock_dify.py -- a mock of Dify's asynchronous job APIs, for jobwatch's tests: annotation-reply
jobs, document-indexing batches and workflow runs (models of the last two in mock_kinds.py); and,
for user-defined kinds, job APIs that are not Dify's (OpenAI- and Anthropic-batch-shaped and a
generic one, in mock_jobapi.py).

It speaks HTTP/1.1 itself on asyncio streams, so that every byte on the wire is under
control: keep-alive, chunked bodies, resets, trickles, truncations.  It reproduces the
shapes of the real endpoint (see shared/DIFY.md and tests/README.md), drives each job
through a time-based lifecycle or a scripted list of per-request answers, and records
every request so that tests can check poll spacing, Retry-After, keep-alive reuse,
concurrency and the Authorization header.

Python 3.11 standard library only.  Run with --help for the options; the scenario format
and the control API (/_mock/...) are described in tests/README.md.
"""

import argparse
import asyncio
import base64
import email.utils
import http
import json
import os
import re
import signal
import socket
import ssl
import struct
import sys
import time
import urllib.parse
import uuid

import mock_jobapi as J
import mock_kinds as K
from mock_kinds import UUID_RE, ScenarioError, check_lifecycle, pydantic_errors

DEFAULT_KEY = "app-mockdify0000000000000000"
# Dify's annotation-reply job: waiting, then completed or error (no release writes anything else).
DEFAULT_LIFECYCLE = [["waiting", 1.5], ["completed", None]]
TERMINAL = ("completed", "error")
ACTIONS = ("enable", "disable")

# Bodies exactly as the real servers write them.
WERKZEUG_404 = (
    "<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>\n<h1>Not Found</h1>\n"
    "<p>The requested URL was not found on the server. If you entered the URL manually "
    "please check your spelling and try again.</p>\n")
WERKZEUG_404_DESC = ("The requested URL was not found on the server. If you entered the URL "
                     "manually please check your spelling and try again.")
NGINX_TITLES = {
    400: "400 Bad Request", 403: "403 Forbidden", 404: "404 Not Found",
    413: "413 Request Entity Too Large", 429: "429 Too Many Requests",
    500: "500 Internal Server Error", 502: "502 Bad Gateway",
    503: "503 Service Temporarily Unavailable", 504: "504 Gateway Time-out",
}
JOB_GONE_MSG = "The job does not exist."
# Dify's 401 messages (api/controllers/service_api/wraps.py), all with WWW-Authenticate.
UNAUTHORIZED_MSGS = {
    "no_header": "Authorization header must be provided and start with 'Bearer'",
    "scheme": "Authorization scheme must be 'Bearer'",
    "invalid": "Access token is invalid",
    "tenant": "Tenant owner account not found or tenant is not active.",
}
# Dify's 403 messages: the app's (wraps.py) and the dataset's; the variant names of fault 403.
FORBIDDEN_MSGS = {
    "app_gone": "The app no longer exists.",
    "app_abnormal": "The app's status is abnormal.",
    "api_disabled": "The app's API service has been disabled.",
    "workspace_archived": "The workspace's status is archived.",
    "dataset_api": "Dataset api access is not enabled.",
}
# Per-app (per-key) states of POST /_mock/config {"apps": ...}: what wraps.py answers for them.
APP_STATES = {"normal": None, "app_gone": (403, "app_gone"), "app_abnormal": (403, "app_abnormal"),
              "api_disabled": (403, "api_disabled"), "workspace_archived": (403, "workspace_archived"),
              "tenant_inactive": (401, "tenant")}
SERVER_ERROR = {"message": "Internal Server Error", "code": "unknown", "status": 500}
NOT_WORKFLOW_APP = "Please check if your Workflow app mode matches the right API route."
HTML_CT = "text/html; charset=utf-8"
JSON_CT = "application/json"


def nginx_page(code):
    title = NGINX_TITLES.get(code, "%d %s" % (code, reason_phrase(code)))
    return ("<html>\r\n<head><title>%s</title></head>\r\n<body>\r\n<center><h1>%s</h1></center>\r\n"
            "<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n" % (title, title))


def werkzeug_redirect_page(url):
    esc = url.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    return ("<!doctype html>\n<html lang=en>\n<title>Redirecting...</title>\n<h1>Redirecting...</h1>\n"
            "<p>You should be redirected automatically to the target URL: <a href=\"%s\">%s</a>. "
            "If not, click the link.\n" % (esc, esc))


def reason_phrase(code):
    try:
        return http.HTTPStatus(code).phrase
    except ValueError:
        return "Unknown"


def dify_json(obj):
    """Flask-RESTful/RESTX output_json: json.dumps with default separators plus a newline."""
    return (json.dumps(obj) + "\n").encode()


def http_date(ts=None):
    return email.utils.formatdate(ts, usegmt=True)


# --------------------------------------------------------------------------------------
# Response specs
# --------------------------------------------------------------------------------------

# Proxy-only (not Dify itself, which sends none of them on these routes): html_502/503/504,
# nginx, 503, 429/too_many_requests and every Retry-After; reset, delay, trickle, truncate
# are the network's.  Not Dify at all: malformed, oversized, huge_headers, endless_chunked,
# wrong_shape, redirect, echo_auth (hostile or broken servers).
FAULTS = {
    "natural", "reset", "delay", "trickle", "truncate", "malformed", "oversized",
    "huge_headers", "endless_chunked", "wrong_shape", "html_502", "html_503", "html_504",
    "nginx", "500", "server_error", "429", "too_many_requests", "503", "redirect",
    "401", "unauthorized", "403", "forbidden", "gone", "html_404", "app_not_found",
    "not_workflow_app", "echo_auth",
}
SPEC_KEYS = {
    "fault", "status", "headers", "body", "body_raw", "body_b64", "content_type",
    "job_status", "error_msg", "job_id", "delay", "trickle", "trickle_chunk",
    "trickle_headers", "truncate", "reset_after", "close", "chunked", "chunk_size",
    "retry_after", "variant", "size", "field", "location", "seconds", "interval",
    "message", "single", "header_len", "dify_version", "did_you_mean", "comment",
}
MALFORMED_VARIANTS = ("truncated", "garbage", "empty", "trailing", "nul", "invalid_utf8", "html_200")
WRONG_SHAPE_VARIANTS = ("array", "number", "null", "bool", "object", "nested", "missing",
                        "string", "empty_object", "error_msg_number", "other_job_id")


def check_spec(spec, where):
    if not isinstance(spec, dict):
        raise ScenarioError("%s: a response must be an object, not %r" % (where, spec))
    bad = set(spec) - SPEC_KEYS
    if bad:
        raise ScenarioError("%s: unknown response keys %s" % (where, sorted(bad)))
    f = spec.get("fault")
    if f is not None and str(f) not in FAULTS:
        raise ScenarioError("%s: unknown fault %r (known: %s)" % (where, f, ", ".join(sorted(FAULTS))))
    if f == "malformed" and spec.get("variant", "truncated") not in MALFORMED_VARIANTS:
        raise ScenarioError("%s: malformed variant must be one of %s" % (where, MALFORMED_VARIANTS))
    if f == "echo_auth" and spec.get("variant", "message") not in ("message", "error_msg"):
        raise ScenarioError("%s: echo_auth variant must be 'message' or 'error_msg'" % where)
    if f == "wrong_shape" and spec.get("variant", "array") not in WRONG_SHAPE_VARIANTS:
        raise ScenarioError("%s: wrong_shape variant must be one of %s" % (where, WRONG_SHAPE_VARIANTS))
    if f in ("403", "forbidden") and spec.get("variant", "app_gone") not in FORBIDDEN_MSGS:
        raise ScenarioError("%s: 403 variant must be one of %s" % (where, sorted(FORBIDDEN_MSGS)))
    if f in ("401", "unauthorized") and spec.get("variant", "invalid") not in UNAUTHORIZED_MSGS:
        raise ScenarioError("%s: 401 variant must be one of %s" % (where, sorted(UNAUTHORIZED_MSGS)))
    for k in ("delay", "trickle", "seconds", "interval"):
        if k in spec and spec[k] is not None and not isinstance(spec[k], (int, float)):
            raise ScenarioError("%s: %s must be a number" % (where, k))
    if "status" in spec and not isinstance(spec["status"], int):
        raise ScenarioError("%s: status must be an integer" % where)
    if "headers" in spec and not isinstance(spec["headers"], dict):
        raise ScenarioError("%s: headers must be an object" % where)


def subst_job_id(obj, job_id):
    if isinstance(obj, str):
        return obj.replace("$job_id", job_id or "")
    if isinstance(obj, list):
        return [subst_job_id(x, job_id) for x in obj]
    if isinstance(obj, dict):
        return {k: subst_job_id(v, job_id) for k, v in obj.items()}
    return obj


def retry_after_value(v):
    """number -> seconds; "date+N" -> HTTP-date N seconds from now; other strings verbatim."""
    if v is None:
        return None
    if isinstance(v, bool):
        raise ScenarioError("retry_after must be a number or a string")
    if isinstance(v, (int, float)):
        return str(int(v)) if float(v).is_integer() else str(v)
    s = str(v)
    if s.startswith("date+") or s.startswith("date-"):
        return http_date(time.time() + float(s[4:]))
    return s


class Plan:
    """What to put on the wire for one request."""
    __slots__ = ("status", "headers", "body", "delay", "trickle", "trickle_chunk",
                 "trickle_headers", "truncate", "reset_after", "close", "chunked",
                 "chunk_size", "endless", "fault", "job_status", "removed")

    def __init__(self, status=200, body=b"", content_type=JSON_CT, headers=None):
        self.status = status
        self.headers = [("Content-Type", content_type)] if content_type else []
        if headers:
            self.headers.extend(headers)
        self.body = body
        self.delay = 0.0
        self.trickle = 0.0
        self.trickle_chunk = 1
        self.trickle_headers = False
        self.truncate = None
        self.reset_after = None
        self.close = False
        self.chunked = False
        self.chunk_size = 0
        self.endless = None      # (prefix bytes, chunk bytes, interval) for endless_chunked
        self.fault = None
        self.job_status = None
        self.removed = set()     # header names a spec set to null: leave them out

    def set_header(self, name, value):
        low = name.lower()
        self.headers = [(k, v) for k, v in self.headers if k.lower() != low]
        if value is None:
            self.removed.add(low)
        else:
            self.headers.append((name, str(value)))

    def get_header(self, name):
        low = name.lower()
        for k, v in self.headers:
            if k.lower() == low:
                return v
        return None


# --------------------------------------------------------------------------------------
# Jobs
# --------------------------------------------------------------------------------------

JOB_KEYS = {"job_id", "app", "action", "lifecycle", "error_msg", "ttl", "pending_ttl",
            "dify_version", "error_key_gone", "responses", "then", "created", "expect", "comment"}


class Job:
    __slots__ = ("job_id", "action", "app", "lifecycle", "error_msg", "ttl", "pending_ttl",
                 "version", "created", "responses", "then", "resp_idx", "requests", "expect",
                 "error_key_gone")

    def state(self, now, srv):
        """(status, error_msg) as Dify's Redis would answer now, or None: the job does not exist."""
        t = now - self.created
        if t < 0:
            return None
        start = 0.0
        for status, dur in self.lifecycle:
            if dur is None or t < start + dur:
                age = t - start
                if status == "gone":
                    return None
                if status in TERMINAL:
                    ttl = self.ttl if self.ttl is not None else srv.result_ttl
                    if age >= ttl:
                        return None
                else:
                    # Not Dify: no release gives a pending job a TTL ('waiting' can last
                    # forever).  Only a pending_ttl set on purpose makes it vanish.
                    pttl = self.pending_ttl if self.pending_ttl is not None else srv.pending_ttl
                    if pttl is not None and age >= pttl:
                        return None
                return status, (self.error_msg if status == "error" else "")
            start += dur
        return None         # past a last step that had a duration: the key is gone

    def next_response(self):
        """The next scripted answer, or None for the natural (lifecycle) answer."""
        if not self.responses:
            return None
        if self.resp_idx < len(self.responses):
            spec = self.responses[self.resp_idx]
            self.resp_idx += 1
            return spec
        if self.then == "lifecycle":
            return None
        return self.responses[-1]

    def describe(self, now, srv):
        st = self.state(now, srv)
        return {
            "job_id": self.job_id, "action": self.action, "app": self.app,
            "status_now": st[0] if st else None, "requests": self.requests,
            "responses_used": self.resp_idx, "responses_total": len(self.responses),
            "age": round(now - self.created, 6), "dify_version": self.version or srv.version,
        }


# --------------------------------------------------------------------------------------
# Connections
# --------------------------------------------------------------------------------------

class Conn:
    __slots__ = ("id", "reader", "writer", "buf", "eof", "data_event", "eof_event", "nreq",
                 "tls", "sock", "reader_task", "srv", "api")

    def __init__(self, srv, cid, reader, writer):
        self.srv = srv
        self.id = cid
        self.reader = reader
        self.writer = writer
        self.buf = bytearray()
        self.eof = False
        self.data_event = asyncio.Event()
        self.eof_event = asyncio.Event()
        self.nreq = 0
        self.tls = writer.get_extra_info("sslcontext") is not None
        ts = writer.get_extra_info("socket")
        # asyncio hands out a TransportSocket wrapper without recv(); peek_closed() needs the socket.
        self.sock = getattr(ts, "_sock", ts)
        self.reader_task = None
        self.api = False          # carried at least one API (non-/_mock/) request

    async def read_loop(self):
        try:
            while True:
                data = await self.reader.read(65536)
                if not data:
                    break
                self.buf += data
                self.data_event.set()
        except (ConnectionError, OSError, ssl.SSLError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            pass
        finally:
            self.mark_eof()

    def mark_eof(self):
        if not self.eof:
            self.eof = True
            self.srv.conn_gone(self)
        self.eof_event.set()
        self.data_event.set()

    def peek_closed(self):
        """Non-blocking check whether the peer has closed, for exact concurrency accounting."""
        if self.eof:
            return True
        if self.sock is None:
            return False
        try:
            data = self.sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            self.mark_eof()
            return True
        if data == b"":
            self.mark_eof()
            return True
        return False

    async def wait_data(self, timeout):
        """Wait for more bytes; False on EOF or timeout."""
        if self.eof:
            return False
        self.data_event.clear()
        try:
            await asyncio.wait_for(self.data_event.wait(), timeout)
        except (asyncio.TimeoutError, TimeoutError):
            return False
        return not self.eof or bool(self.buf)

    async def sleep(self, secs):
        """Sleep, unless the client goes away first.  True if the full time passed."""
        if self.eof:
            return False
        if secs <= 0:
            return True
        try:
            await asyncio.wait_for(self.eof_event.wait(), secs)
        except (asyncio.TimeoutError, TimeoutError):
            return True
        return False

    def reset(self):
        """Close with RST: SO_LINGER on, timeout 0."""
        try:
            if self.sock is not None:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.writer.transport.abort()

    def write(self, data):
        if self.eof and self.writer.transport.is_closing():
            raise ConnectionResetError("peer gone")
        self.writer.write(data)


class Request:
    __slots__ = ("method", "target", "path", "query", "version", "headers", "body", "conn",
                 "t0", "app", "entry", "ended", "route")


class Route:
    __slots__ = ("kind", "action", "job_id", "allowed", "dataset_id", "rule", "path", "project")

    def __init__(self, kind, action=None, job_id=None, allowed=None, dataset_id=None, rule=None):
        # status | start (annotation reply) | indexing | indexing_start | run | run_start |
        # openai_batch | anthropic_batch | project_job (mock_jobapi.py) | other | redirected
        self.project = None       # project_job: the {project} segment, decoded
        self.kind = kind
        self.action = action
        self.job_id = job_id      # lower-case canonical uuid; the batch id; the run id; or None
        self.allowed = allowed    # methods of the matched rule, for 405
        self.dataset_id = dataset_id
        self.rule = rule          # the Flask rule, as flask-restx's "did you mean" quotes it
        self.path = None          # the routed (decoded, merged) path


ROUTE_KINDS = ("status", "start", "indexing", "indexing_start", "run", "run_start", "thing", "other")


class Override:
    __slots__ = ("match", "response", "expires", "count", "name", "hits")


ROUTE_KINDS += J.ROUTE_KINDS        # the job APIs that are not Dify's (mock_jobapi.py)


# --------------------------------------------------------------------------------------
# Server
# --------------------------------------------------------------------------------------

class MockDify:
    def __init__(self, args):
        self.prefix = "/" + args.prefix.strip("/") if args.prefix.strip("/") else ""
        self.keys = list(dict.fromkeys(args.key or [DEFAULT_KEY]))
        self.keyset = set(self.keys)
        # Not Dify: an API that wants its key in another header (jobwatch's AuthHeader=), its
        # whole value the key, and fixed headers (Header=) without which it answers 401.
        self.auth_header = args.auth_header.lower() if args.auth_header else None
        self.require_headers = {}
        self.version = args.dify_version
        self.result_ttl = args.result_ttl
        self.pending_ttl = args.pending_ttl      # not Dify: None unless set on purpose
        self.not_dify_start = False
        self.did_you_mean = False
        self.apps = {}                 # key -> {"state", "mode", "annotation_reply"}
        self.datasets = {}             # dataset id -> {"api_enabled"}
        self.batches = {}              # (dataset id, batch) -> mock_kinds.Batch
        self.runs = {}                 # run id -> mock_kinds.Run
        self.things = {}               # thing id -> mock_kinds.Thing (a non-Dify job API)
        self.default_document_lifecycle = check_lifecycle(K.DOC_LIFECYCLE, "default")
        self.default_run_lifecycle = check_lifecycle(K.RUN_LIFECYCLE, "default")
        self.next_batch_ids = []
        self.next_run_ids = []
        self.api_jobs = {k: {} for k in J.ROUTE_KINDS}    # route kind -> id -> mock_jobapi.ApiJob
        self.default_lifecycle = check_lifecycle(json.loads(args.default_lifecycle), "--default-lifecycle") \
            if args.default_lifecycle else check_lifecycle(DEFAULT_LIFECYCLE, "default")
        self.keepalive_timeout = args.keepalive_timeout
        self.max_requests_per_conn = args.max_requests_per_conn
        self.router_404 = args.router_404
        self.jobs = {}                 # (action, job_id) -> Job
        self.jobs_by_app = {}          # (app, action) -> list[Job]
        self.next_job_ids = []
        self.overrides = []
        self.expect_jobs = []
        self.port = None
        self.tls = False
        self.conn_seq = 0
        self.conns = set()
        self.reset_stats()
        self.in_flight = {}            # app -> set of Request
        self.in_flight_total = 0
        self.started = time.monotonic()

    # ---- stats and log ------------------------------------------------------------

    def reset_stats(self):
        self.log = []
        self.seq = getattr(self, "seq", 0)
        self.by_kind = {}
        self.by_path = {}
        self.by_status = {}
        self.max_in_flight = {}
        self.max_in_flight_total = 0
        self.max_requests_per_conn_seen = 0
        self.aborted = 0
        self.connections_total = getattr(self, "connections_total", 0)
        self.connections_since_reset = 0

    def conn_gone(self, conn):
        # End the accounting of the requests that were in flight on this connection.
        now = time.monotonic()
        for reqs in self.in_flight.values():
            for r in [r for r in reqs if r.conn is conn]:
                self.end_request(r, now, aborted=True)

    def begin_request(self, req):
        app = req.app
        reqs = self.in_flight.get(app)
        if reqs is None:
            reqs = self.in_flight[app] = set()
        # A client that gave up may have closed its socket a moment before this request
        # arrived; look before counting, so the maximum is never overstated.
        for other in list(reqs):
            other.conn.peek_closed()
        reqs.add(req)
        self.in_flight_total += 1
        n = len(reqs)
        if n > self.max_in_flight.get(app, 0):
            self.max_in_flight[app] = n
        if self.in_flight_total > self.max_in_flight_total:
            self.max_in_flight_total = self.in_flight_total
        req.entry["in_flight"] = n

    def end_request(self, req, now=None, aborted=False):
        if req.ended:
            return
        req.ended = True
        reqs = self.in_flight.get(req.app)
        if reqs is not None:
            reqs.discard(req)
        self.in_flight_total -= 1
        e = req.entry
        e["t_end"] = now if now is not None else time.monotonic()
        if aborted:
            e["aborted"] = True
            self.aborted += 1

    def count(self, entry):
        st = str(entry["status"]) if entry["status"] is not None else entry["fault"] or "none"
        d = self.by_kind.setdefault(entry["kind"], {})
        d[st] = d.get(st, 0) + 1
        d = self.by_path.setdefault(entry["path"], {})
        d[st] = d.get(st, 0) + 1
        self.by_status[st] = self.by_status.get(st, 0) + 1

    def stats(self):
        return {
            "requests": len(self.log),
            "seq": self.seq,
            "by_kind": self.by_kind,
            "by_status": self.by_status,
            "by_path": self.by_path,
            "connections_open": sum(1 for c in self.conns if c.api),
            "connections_total": self.connections_total,
            "connections_since_reset": self.connections_since_reset,
            "max_requests_per_connection": self.max_requests_per_conn_seen,
            "in_flight": {k: len(v) for k, v in self.in_flight.items() if v},
            "in_flight_total": self.in_flight_total,
            "max_in_flight": self.max_in_flight,
            "max_in_flight_total": self.max_in_flight_total,
            "aborted": self.aborted,
            "jobs": len(self.jobs),
            "batches": len(self.batches),
            "runs": len(self.runs),
            "api_jobs": sum(len(v) for v in self.api_jobs.values()),
            "overrides": len(self.overrides),
            "uptime": round(time.monotonic() - self.started, 6),
        }

    # ---- jobs -------------------------------------------------------------------------

    def load_scenario(self, data, where):
        """Add the jobs (and settings) of a scenario: a list of jobs or an object."""
        if isinstance(data, list):
            data = {"jobs": data}
        if not isinstance(data, dict):
            raise ScenarioError("%s: a scenario is a list of jobs or an object" % where)
        bad = set(data) - set(J.SCENARIO_KEYS) - {"jobs", "keys", "default_lifecycle", "dify_version", "result_ttl",
                           "pending_ttl", "overrides", "next_job_ids", "comment", "apps",
                           "datasets", "batches", "runs", "default_document_lifecycle",
                           "default_run_lifecycle", "things"}
        if bad:
            raise ScenarioError("%s: unknown scenario keys %s" % (where, sorted(bad)))
        cfg = {k: data[k] for k in ("default_lifecycle", "dify_version", "result_ttl",
                                    "pending_ttl", "next_job_ids", "apps", "default_document_lifecycle",
                                    "default_run_lifecycle") if k in data}
        if "keys" in data:
            cfg["add_keys"] = data["keys"]
        if "overrides" in data:
            cfg["add_override"] = data["overrides"]
        if cfg:
            self.configure(cfg, where)
        jobs = data.get("jobs", [])
        if not isinstance(jobs, list):
            raise ScenarioError("%s: jobs must be a list" % where)
        built = [self.build_job(j, "%s: job %d" % (where, i)) for i, j in enumerate(jobs)]
        for job in built:
            self.add_job(job)
        return len(built) + self.load_kinds(data, where) + J.load(self, data, where, check_spec)

    def load_kinds(self, data, where):
        """The datasets, batches and runs of a scenario; their number (datasets not counted)."""
        for k in ("datasets", "batches", "runs", "things"):
            if not isinstance(data.get(k, []), list):
                raise ScenarioError("%s: %s must be a list" % (where, k))
        for i, d in enumerate(data.get("datasets", [])):
            w = "%s: dataset %d" % (where, i)
            if not isinstance(d, dict) or set(d) - K.DATASET_KEYS:
                raise ScenarioError("%s: a dataset takes %s" % (w, sorted(K.DATASET_KEYS)))
            ds = K.check_uuid(d.get("id"), "id", w)
            if d.get("gone"):
                self.datasets.pop(ds, None)
            else:
                self.datasets.setdefault(ds, {"api_enabled": True})["api_enabled"] = bool(d.get("api_enabled", True))
        batches = [K.build_batch(b, "%s: batch %d" % (where, i), self.default_document_lifecycle, check_spec)
                   for i, b in enumerate(data.get("batches", []))]
        runs = [K.build_run(r, "%s: run %d" % (where, i), self.default_run_lifecycle, check_spec,
                            self.keys[0] if self.keys else DEFAULT_KEY)
                for i, r in enumerate(data.get("runs", []))]
        for b in batches:
            self.datasets.setdefault(b.dataset_id, {"api_enabled": True})
            self.batches[(b.dataset_id, b.batch)] = b
        for r in runs:
            self.runs[r.run_id] = r
        things = [K.build_thing(t, "%s: thing %d" % (where, i)) for i, t in enumerate(data.get("things", []))]
        for t in things:
            self.things[t.thing_id] = t
        return len(batches) + len(runs) + len(things)

    def set_batches(self, d):
        if not isinstance(d, dict) or set(d) - {"dataset_id", "batch", "batches", "all", "gone", "document_ids",
                                                 "status", "lifecycle", "error", "error_code", "total_segments",
                                                 "completed_segments", "responses", "then"}:
            raise ScenarioError("set-batch: takes batch|batches|all, dataset_id, gone, document_ids, status, "
                                "lifecycle, error, error_code, total_segments, completed_segments, responses, then")
        want = [d["batch"]] if "batch" in d else d.get("batches")
        if want is None and not d.get("all"):
            raise ScenarioError("set-batch: give batch, batches or all: true")
        now = time.monotonic()
        n = 0
        for (ds, bid), b in self.batches.items():
            if (want is not None and bid not in want) or d.get("dataset_id", ds) != ds:
                continue
            K.set_batch_docs(b, d, now)
            if "responses" in d:
                K.take_responses(b, {"responses": d["responses"], "then": d.get("then", b.then)},
                                 "set-batch", check_spec)
            n += 1
        return n

    def set_runs(self, d):
        if not isinstance(d, dict) or set(d) - {"run_ids", "all", "gone", "status", "lifecycle", "outputs", "error",
                                                 "inputs", "total_steps", "total_tokens", "responses", "then"}:
            raise ScenarioError("set-run: takes run_ids|all, gone, status, lifecycle, outputs, error, inputs, "
                                "total_steps, total_tokens, responses, then")
        ids = d.get("run_ids")
        if ids is None and not d.get("all"):
            raise ScenarioError("set-run: give run_ids or all: true")
        ids = None if ids is None else {str(i).lower() for i in ids}
        now = time.monotonic()
        n = 0
        for rid, r in self.runs.items():
            if ids is not None and rid not in ids:
                continue
            K.set_run(r, d, now)
            if "responses" in d:
                K.take_responses(r, {"responses": d["responses"], "then": d.get("then", r.then)},
                                 "set-run", check_spec)
            n += 1
        return n

    def build_job(self, d, where):
        if not isinstance(d, dict):
            raise ScenarioError("%s: a job must be an object" % where)
        bad = set(d) - JOB_KEYS
        if bad:
            raise ScenarioError("%s: unknown job keys %s" % (where, sorted(bad)))
        jid = d.get("job_id")
        if not isinstance(jid, str) or not UUID_RE.match(jid):
            raise ScenarioError("%s: job_id must be a UUID, got %r" % (where, jid))
        job = Job()
        job.job_id = jid.lower()
        job.action = d.get("action", "enable")
        if not isinstance(job.action, str) or "/" in job.action or not job.action:
            raise ScenarioError("%s: bad action %r" % (where, job.action))
        job.app = d.get("app", self.keys[0] if self.keys else DEFAULT_KEY)
        job.lifecycle = check_lifecycle(d["lifecycle"], where) if "lifecycle" in d \
            else list(self.default_lifecycle)
        job.error_msg = d.get("error_msg", "")
        if not isinstance(job.error_msg, str):
            raise ScenarioError("%s: error_msg must be a string" % where)
        job.ttl = d.get("ttl")
        job.pending_ttl = d.get("pending_ttl")
        job.error_key_gone = bool(d.get("error_key_gone", False))
        job.version = d.get("dify_version")
        if job.version not in (None, "old", "new"):
            raise ScenarioError("%s: dify_version must be old or new" % where)
        K.take_responses(job, d, where, check_spec)
        created = d.get("created", 0)
        if not isinstance(created, (int, float)):
            raise ScenarioError("%s: created must be a number of seconds (negative: in the past)" % where)
        job.created = time.monotonic() + created
        exp = d.get("expect")
        if exp is not None:
            if not isinstance(exp, dict) or set(exp) - {"method", "path", "authorization",
                                                           "min_requests", "max_requests"}:
                raise ScenarioError("%s: expect takes method, path, authorization, min_requests, max_requests" % where)
        job.expect = exp
        return job

    def add_job(self, job):
        key = (job.action, job.job_id)
        old = self.jobs.get(key)
        if old is not None:
            lst = self.jobs_by_app.get((old.app, old.action))
            if lst and old in lst:
                lst.remove(old)
        self.jobs[key] = job
        self.jobs_by_app.setdefault((job.app, job.action), []).append(job)

    def running_job(self, app, action, now):
        for job in self.jobs_by_app.get((app, action), ()):
            st = job.state(now, self)
            if st is not None and st[0] not in TERMINAL:
                return job
        return None

    def set_jobs(self, d):
        if not isinstance(d, dict):
            raise ScenarioError("set: expects an object")
        bad = set(d) - {"job_ids", "all", "action", "app", "status", "error_msg", "ttl",
                        "pending_ttl", "lifecycle", "responses", "then", "gone", "dify_version",
                        "error_key_gone"}
        if bad:
            raise ScenarioError("set: unknown keys %s" % sorted(bad))
        now = time.monotonic()
        ids = d.get("job_ids")
        if ids is not None:
            ids = {str(i).lower() for i in ids}
        elif not d.get("all"):
            raise ScenarioError("set: give job_ids or all: true")
        n = 0
        for (action, jid), job in list(self.jobs.items()):
            if ids is not None and jid not in ids:
                continue
            if "action" in d and d["action"] != action:
                continue
            if "app" in d and d["app"] != job.app:
                continue
            if d.get("gone"):
                job.lifecycle = [("gone", None)]
                job.created = now
            elif "lifecycle" in d:
                job.lifecycle = check_lifecycle(d["lifecycle"], "set")
                job.created = now
            elif "status" in d:
                job.lifecycle = [(str(d["status"]), None)]
                job.created = now
            if "error_msg" in d:
                job.error_msg = str(d["error_msg"])
            if "ttl" in d:
                job.ttl = d["ttl"]
            if "pending_ttl" in d:
                job.pending_ttl = d["pending_ttl"]
            if "error_key_gone" in d:
                job.error_key_gone = bool(d["error_key_gone"])
            if "dify_version" in d:
                job.version = d["dify_version"]
            if "responses" in d:
                for i, r in enumerate(d["responses"]):
                    check_spec(r, "set: response %d" % i)
                job.responses = d["responses"]
                job.resp_idx = 0
            if "then" in d:
                job.then = d["then"]
            n += 1
        return n

    def configure(self, d, where="config"):
        if not isinstance(d, dict):
            raise ScenarioError("%s: expects an object" % where)
        bad = set(d) - {"dify_version", "result_ttl", "pending_ttl", "default_lifecycle", "keys",
                        "add_keys", "revoke_keys", "router_404", "next_job_ids", "keepalive_timeout",
                        "max_requests_per_conn", "overrides", "add_override", "clear_overrides",
                        "apps", "not_dify_start", "did_you_mean", "default_document_lifecycle",
                        "default_run_lifecycle", "next_batch_ids", "next_run_ids", "auth_header",
                        "require_headers"}
        if bad:
            raise ScenarioError("%s: unknown keys %s" % (where, sorted(bad)))
        if "dify_version" in d:
            if d["dify_version"] not in ("old", "new"):
                raise ScenarioError("%s: dify_version must be old or new" % where)
            self.version = d["dify_version"]
        for k in ("result_ttl", "pending_ttl", "keepalive_timeout"):
            if k in d:
                setattr(self, k, None if d[k] is None and k == "pending_ttl" else float(d[k]))
        for k in ("not_dify_start", "did_you_mean"):
            if k in d:
                setattr(self, k, bool(d[k]))
        if "apps" in d:
            self.configure_apps(d["apps"], where)
        if "auth_header" in d:
            self.auth_header = str(d["auth_header"]).lower() if d["auth_header"] else None
        if "require_headers" in d:
            if not isinstance(d["require_headers"], dict):
                raise ScenarioError("%s: require_headers must be an object {name: value}" % where)
            self.require_headers = {str(k).lower(): str(v) for k, v in d["require_headers"].items()}
        for k in ("default_document_lifecycle", "default_run_lifecycle"):
            if k in d:
                setattr(self, k, check_lifecycle(d[k], where))
        if "next_batch_ids" in d:
            ids = [str(i) for i in d["next_batch_ids"]]
            if any("/" in i or not i for i in ids):
                raise ScenarioError("%s: next_batch_ids must be non-empty strings without '/'" % where)
            self.next_batch_ids.extend(ids)
        if "next_run_ids" in d:
            self.next_run_ids.extend(K.check_uuid(str(i), "next_run_ids", where) for i in d["next_run_ids"])
        if "max_requests_per_conn" in d:
            self.max_requests_per_conn = int(d["max_requests_per_conn"])
        if "router_404" in d:
            if d["router_404"] not in ("html", "json"):
                raise ScenarioError("%s: router_404 must be html or json" % where)
            self.router_404 = d["router_404"]
        if "default_lifecycle" in d:
            self.default_lifecycle = check_lifecycle(d["default_lifecycle"], where)
        if "keys" in d:
            self.keys = list(d["keys"])
        if "add_keys" in d:
            self.keys = list(dict.fromkeys(self.keys + list(d["add_keys"])))
        if "revoke_keys" in d:
            self.keys = [k for k in self.keys if k not in d["revoke_keys"]]
        self.keyset = set(self.keys)
        if "next_job_ids" in d:
            ids = list(d["next_job_ids"])
            for i in ids:
                if not UUID_RE.match(str(i)):
                    raise ScenarioError("%s: next_job_ids must be UUIDs" % where)
            self.next_job_ids.extend(str(i).lower() for i in ids)
        if d.get("clear_overrides"):
            self.overrides = []
        if "overrides" in d:
            self.overrides = []
            self.add_overrides(d["overrides"], where)
        if "add_override" in d:
            self.add_overrides(d["add_override"], where)

    def configure_apps(self, apps, where):
        """{"KEY": {"state": normal|app_gone|app_abnormal|api_disabled|workspace_archived|
        tenant_inactive, "mode": "workflow"|"chat"|..., "annotation_reply": bool}}: merged."""
        if not isinstance(apps, dict):
            raise ScenarioError("%s: apps must be an object keyed by API key" % where)
        for key, a in apps.items():
            if not isinstance(a, dict) or set(a) - {"state", "mode", "annotation_reply"}:
                raise ScenarioError("%s: apps[...] takes state, mode, annotation_reply" % where)
            if a.get("state", "normal") not in APP_STATES:
                raise ScenarioError("%s: app state must be one of %s" % (where, sorted(APP_STATES)))
            self.apps.setdefault(key, {}).update(a)

    def add_overrides(self, lst, where):
        if isinstance(lst, dict):
            lst = [lst]
        now = time.monotonic()
        new = []
        for i, o in enumerate(lst):
            w = "%s: override %d" % (where, i)
            if not isinstance(o, dict) or set(o) - {"match", "response", "duration", "count", "name"}:
                raise ScenarioError("%s: an override takes match, response, duration, count, name" % w)
            m = o.get("match", {})
            if not isinstance(m, dict) or set(m) - {"kind", "app", "action", "job_ids", "path_prefix", "method",
                                                    "dataset_ids"}:
                raise ScenarioError("%s: match takes kind, app, action, job_ids, dataset_ids, path_prefix, method" % w)
            kinds = m.get("kind", "any")
            if not set([kinds] if isinstance(kinds, str) else kinds) <= set(ROUTE_KINDS + ("any",)):
                raise ScenarioError("%s: match kind must be any or of %s (or a list of them)" % (w, ROUTE_KINDS))
            check_spec(o.get("response", {}), w)
            ov = Override()
            ov.match = dict(m)
            if "job_ids" in m:
                ov.match["job_ids"] = {str(j).lower() for j in m["job_ids"]}
            if "dataset_ids" in m:
                ov.match["dataset_ids"] = {str(j).lower() for j in m["dataset_ids"]}
            ov.response = o.get("response", {})
            ov.expires = now + float(o["duration"]) if o.get("duration") is not None else None
            ov.count = int(o["count"]) if o.get("count") is not None else None
            ov.name = o.get("name", "override-%d" % (len(self.overrides) + len(new)))
            ov.hits = 0
            new.append(ov)
        # Newest first: a later switch wins over an older one.
        self.overrides = new[::-1] + self.overrides

    def match_override(self, req, route, now):
        if not self.overrides:
            return None
        keep = []
        found = None
        for ov in self.overrides:
            if (ov.expires is not None and now >= ov.expires) or (ov.count is not None and ov.count <= 0):
                continue
            keep.append(ov)
            if found is not None:
                continue
            m = ov.match
            k = m.get("kind", "any")
            if k != "any" and k != route.kind and (isinstance(k, str) or route.kind not in k):
                continue
            if "dataset_ids" in m and route.dataset_id not in m["dataset_ids"]:
                continue
            if "app" in m and m["app"] != req.app:
                continue
            if "action" in m and m["action"] != route.action:
                continue
            if "job_ids" in m and route.job_id not in m["job_ids"]:
                continue
            if "path_prefix" in m and not req.path.startswith(m["path_prefix"]):
                continue
            if "method" in m and m["method"] != req.method:
                continue
            found = ov
        if found is not None:
            found.hits += 1
            if found.count is not None:
                found.count -= 1
        self.overrides = keep
        return found

    def verify(self):
        """Check the per-job 'expect' clauses against the request log."""
        per = {}
        for e in self.log:
            if e["kind"] == "status" and e["job_id"]:
                per.setdefault((e["action"], e["job_id"]), []).append(e)
        problems = []
        for (action, jid), job in self.jobs.items():
            exp = job.expect
            if not exp:
                continue
            seen = per.get((action, jid), [])
            want_path = exp.get("path", "%s/apps/annotation-reply/%s/status/%s" % (self.prefix, action, jid))
            want_auth = exp.get("authorization", "Bearer " + job.app)
            want_method = exp.get("method", "GET")
            for e in seen:
                if e["method"] != want_method:
                    problems.append("%s: request #%d used method %s, expected %s" % (jid, e["seq"], e["method"], want_method))
                if e["path"] != want_path:
                    problems.append("%s: request #%d went to %s, expected %s" % (jid, e["seq"], e["path"], want_path))
                if e["authorization"] != want_auth:
                    problems.append("%s: request #%d had Authorization %r, expected %r" % (jid, e["seq"], e["authorization"], want_auth))
            if "min_requests" in exp and len(seen) < exp["min_requests"]:
                problems.append("%s: %d requests, expected at least %d" % (jid, len(seen), exp["min_requests"]))
            if "max_requests" in exp and len(seen) > exp["max_requests"]:
                problems.append("%s: %d requests, expected at most %d" % (jid, len(seen), exp["max_requests"]))
        return {"ok": not problems, "problems": problems}

    # ---- routing ----------------------------------------------------------------------

    def base_url(self):
        return "%s://127.0.0.1:%d%s" % ("https" if self.tls else "http", self.port, self.prefix)

    def route(self, req):
        # The job APIs that are not Dify's route on the raw path: a %2F in a segment stays there.
        j = J.route(self.prefix, req.path)
        if j is not None:
            r = Route(j[0], job_id=j[1], allowed=("GET", "HEAD"))
            r.project = j[2]
            r.path = req.path
            return r
        path = urllib.parse.unquote(req.path)
        path = re.sub("/{2,}", "/", path)          # nginx's merge_slashes
        r = self.route_path(path)
        r.path = path
        return r

    def route_path(self, path):
        """werkzeug's routing: a path parameter that does not match its converter (uuid) is
        no match at all, so the router's HTML 404."""
        if path.startswith("/_redirected/"):
            return Route("redirected")
        get = ("GET", "HEAD", "OPTIONS")
        p = self.prefix + "/apps/annotation-reply/"
        if path.startswith(p):
            parts = path[len(p):].split("/")
            if len(parts) == 1 and parts[0]:
                return Route("start", action=parts[0], allowed=("OPTIONS", "POST"),
                             rule=p + "<string:action>")
            if len(parts) == 3 and parts[0] and parts[1] == "status":
                if UUID_RE.match(parts[2]):
                    return Route("status", action=parts[0], job_id=parts[2].lower(), allowed=get,
                                 rule=p + "<string:action>/status/<uuid:job_id>")
                return Route("other", action=parts[0])
            return Route("other")
        p = self.prefix + "/datasets/"
        if path.startswith(p):
            parts = path[len(p):].split("/")
            if not UUID_RE.match(parts[0]):
                return Route("other")
            ds = parts[0].lower()
            if len(parts) == 4 and parts[1] == "documents" and parts[2] and parts[3] == "indexing-status":
                return Route("indexing", job_id=parts[2].lower(), dataset_id=ds, allowed=get,
                             rule=p + "<uuid:dataset_id>/documents/<string:batch>/indexing-status")
            if len(parts) == 3 and parts[1] == "document" and parts[2] in ("create-by-text", "create_by_text"):
                return Route("indexing_start", dataset_id=ds, allowed=("OPTIONS", "POST"),
                             rule=p + "<uuid:dataset_id>/document/" + parts[2])
            return Route("other")
        p = self.prefix + "/things/"
        if path.startswith(p) and len(path) > len(p):
            return Route("thing", job_id=path[len(p):], allowed=get, rule=p + "<path:id>")
        p = self.prefix + "/workflows/run"
        if path == p:
            return Route("run_start", allowed=("OPTIONS", "POST"), rule=p)
        if path.startswith(p + "/"):
            parts = path[len(p) + 1:].split("/")
            if len(parts) == 1 and parts[0]:
                return Route("run", job_id=parts[0].lower(), allowed=get,
                             rule=p + "/<string:workflow_run_id>")
        return Route("other")

    # ---- answers ----------------------------------------------------------------------

    def json_plan(self, status, obj, headers=None):
        p = Plan(status, dify_json(obj), JSON_CT, headers)
        if isinstance(obj, dict) and isinstance(obj.get("job_status"), str):
            p.job_status = obj["job_status"]
        return p

    def router_404_plan(self):
        if self.router_404 == "json":
            return self.json_plan(404, {"code": "not_found", "message": WERKZEUG_404_DESC, "status": 404})
        return Plan(404, WERKZEUG_404.encode(), HTML_CT)

    def gone_plan(self, version):
        if version == "new":
            return self.json_plan(404, {"code": "not_found", "message": JOB_GONE_MSG, "status": 404})
        return self.json_plan(400, {"code": "invalid_param", "message": JOB_GONE_MSG, "status": 400})

    def unauthorized_plan(self, message="Access token is invalid"):
        return self.json_plan(401, {"code": "unauthorized", "message": message, "status": 401},
                              [("WWW-Authenticate", 'Bearer realm="api"')])

    def forbidden_plan(self, variant):
        return self.json_plan(403, {"code": "forbidden", "message": FORBIDDEN_MSGS[variant], "status": 403})

    def not_found_plan(self, message):
        return self.json_plan(404, {"code": "not_found", "message": message, "status": 404})

    def check_auth(self, req, scope="app"):
        """Dify's validate_and_get_api_token(scope) and the app/tenant checks of wraps.py;
        returns a 401/403 plan or None.  A key's type is its prefix: "dataset-..." keys are
        dataset keys, every other key an app key; a key of the other type is not found."""
        for name, value in self.require_headers.items():
            if req.headers.get(name) != value:
                return self.unauthorized_plan("header %s: %s is required" % (name, value))
        if self.auth_header:
            token = req.headers.get(self.auth_header)
            if token is None:
                return self.unauthorized_plan("header %s must be provided" % self.auth_header)
        else:
            h = req.headers.get("authorization")
            if h is None or " " not in h:
                return self.unauthorized_plan(UNAUTHORIZED_MSGS["no_header"])
            scheme, token = h.split(None, 1)
            if scheme.lower() != "bearer":
                return self.unauthorized_plan(UNAUTHORIZED_MSGS["scheme"])
        if token not in self.keyset or (scope == "dataset") != token.startswith("dataset-"):
            return self.unauthorized_plan(UNAUTHORIZED_MSGS["invalid"])
        state = APP_STATES[self.apps.get(token, {}).get("state", "normal")]
        if state is None:
            return None
        code, variant = state
        if code == 401:
            return self.unauthorized_plan(UNAUTHORIZED_MSGS[variant])
        if scope == "dataset" and variant != "workspace_archived":
            return None                    # an app's state does not concern a dataset key
        if variant == "app_gone" and self.version == "new":
            return self.not_found_plan("App not found")
        return self.forbidden_plan(variant)

    def did_you_mean_plan(self, plan, route):
        """flask-restx's _help_on_404 (ERROR_404_HELP): a 404's message continued with
        " You have requested this URI [PATH] but did you mean RULE ?"."""
        try:
            obj = json.loads(plan.body)
        except ValueError:
            return plan
        if not isinstance(obj, dict) or not isinstance(obj.get("message"), str) or route.rule is None:
            return plan
        msg = obj["message"]
        obj["message"] = "".join(((msg.rstrip(".") + ". ") if msg else "", "You have requested this URI [",
                                  route.path or "", "] but did you mean ", route.rule, " ?"))
        np = self.json_plan(plan.status, obj)
        np.headers = plan.headers
        return np

    def api_plan(self, kind, answer):
        status, obj, headers = answer
        p = Plan(status, J.dumps(kind, obj), JSON_CT, headers)
        if isinstance(obj, dict) and isinstance(obj.get(J.STATUS_KEYS[kind]), str):
            p.job_status = obj[J.STATUS_KEYS[kind]]
        return p

    def natural(self, req, route, now):
        if route.kind in J.ROUTE_KINDS:
            return self.api_plan(route.kind, J.natural(self, req, route, now))
        if route.kind in ("other", "redirected"):
            return self.router_404_plan()
        if req.method not in route.allowed:
            return self.json_plan(405, {"code": "method_not_allowed",
                                        "message": "The method is not allowed for the requested URL.",
                                        "status": 405}, [("Allow", ", ".join(route.allowed))])
        if req.method == "OPTIONS":
            p = Plan(200, b"", HTML_CT)
            p.set_header("Allow", ", ".join(route.allowed))
            return p
        bad = self.check_auth(req, "dataset" if route.kind in ("indexing", "indexing_start") else "app")
        if bad is not None:
            return bad
        if route.kind == "status":
            return self.natural_status(req, route, now)
        if route.kind == "start":
            return self.natural_start(req, route, now)
        if route.kind in ("indexing", "indexing_start"):
            bad = self.check_dataset(route)
            if bad is not None:
                return bad
            if route.kind == "indexing":
                return self.natural_indexing(req, route, now)
            return self.natural_create_by_text(req, route, now)
        if route.kind == "thing":
            t = self.things.get(route.job_id)
            v = t.view(now) if t is not None else None
            if v is None:
                return Plan(404, json.dumps({"error": "no such thing"}).encode(), JSON_CT)
            return Plan(200, json.dumps(v).encode(), JSON_CT)
        mode = self.apps.get(req.app, {}).get("mode", "workflow")
        if mode not in ("workflow", "advanced-chat"):
            return self.json_plan(400, {"code": "not_workflow_app", "message": NOT_WORKFLOW_APP, "status": 400})
        if route.kind == "run":
            return self.natural_run(req, route, now)
        return self.natural_run_start(req, route, now)

    def natural_status(self, req, route, now, job=None):
        if job is None:
            job = self.jobs.get((route.action, route.job_id))
        version = (job.version if job is not None else None) or self.version
        if job is None or (version == "new" and job.app != req.app):
            return self.gone_plan(version)
        st = job.state(now, self)
        if st is None:
            return self.gone_plan(version)
        if st[0] == "error" and job.error_key_gone:
            # Dify before 1.16.0: the status call reads the error key too, and a missing one
            # raised: the unhandled-error 500.
            return self.json_plan(500, SERVER_ERROR)
        return self.json_plan(200, {"job_id": route.job_id, "job_status": st[0], "error_msg": st[1]})

    # ---- document indexing and workflow runs (models in mock_kinds.py) -----------------

    def check_dataset(self, route):
        """validate_dataset_token's dataset checks: 404, then 403 if its API is disabled."""
        ds = self.datasets.get(route.dataset_id)
        if ds is None:
            return self.not_found_plan("Dataset not found.")
        if not ds["api_enabled"]:
            return self.forbidden_plan("dataset_api")
        return None

    def kind_target(self, route):
        """The batch or run a request of that kind is about (None: unknown)."""
        if route.kind == "indexing":
            return self.batches.get((route.dataset_id, route.job_id))
        if route.kind == "run":
            return self.runs.get(route.job_id)
        if route.kind in J.ROUTE_KINDS:
            return self.api_jobs[route.kind].get(route.job_id)
        return None

    def natural_indexing(self, req, route, now):
        b = self.batches.get((route.dataset_id, route.job_id))
        if b is None or b.gone:
            return self.not_found_plan("Documents not found.")
        return self.json_plan(200, b.body(now))

    def natural_run(self, req, route, now):
        r = self.runs.get(route.job_id)
        # Dify looks the run up within the app of the key.
        v = r.view(now) if r is not None and r.app == req.app else None
        if v is None:
            return self.not_found_plan("Workflow run not found.")
        return self.json_plan(200, v)

    def read_json_body(self, req):
        """request.get_json() as Flask does it: (dict, None) or (None, error plan)."""
        ctype = req.headers.get("content-type", "").split(";")[0].strip().lower()
        if not (ctype == "application/json" or (ctype.startswith("application/") and ctype.endswith("+json"))):
            return None, self.json_plan(415, {
                "code": "unsupported_media_type",
                "message": "Did not attempt to load JSON data because the request Content-Type was not 'application/json'.",
                "status": 415})
        try:
            if not req.body:
                raise ValueError("Expecting value: line 1 column 1 (char 0)")
            data = json.loads(req.body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as e:
            msg = "Failed to decode JSON object: %s" % e
            if msg == "Failed to decode JSON object: Expecting value: line 1 column 1 (char 0)":
                msg = "Invalid JSON payload received or JSON payload is empty."
            return None, self.json_plan(400, {"code": "bad_request", "message": msg, "status": 400})
        return data, None

    def natural_create_by_text(self, req, route, now):
        """POST .../document/create-by-text: a batch of one document.  The answer's "document"
        is a subset of Dify's document_fields (what a script reads: id, name, status)."""
        data, bad = self.read_json_body(req)
        if bad is not None:
            return bad
        data = data or {}
        err = pydantic_errors("DocumentTextCreatePayload", data, (("name", str), ("text", str)))
        if err:
            return self.json_plan(400, {"code": "invalid_param", "message": err, "status": 400})
        bid = self.next_batch_ids.pop(0) if self.next_batch_ids else K.new_batch_id()
        b = K.build_batch({"dataset_id": route.dataset_id, "batch": bid, "count": 1}, "create-by-text",
                          self.default_document_lifecycle, check_spec)
        self.batches[(b.dataset_id, b.batch)] = b
        req.entry["created_job"] = bid
        doc = b.docs[0]
        return self.json_plan(200, {"document": {
            "id": doc.id, "position": 1, "data_source_type": "upload_file", "name": data["name"],
            "created_from": "api", "created_at": int(time.time()), "tokens": 0,
            "indexing_status": "waiting", "error": None, "enabled": True, "disabled_at": None,
            "disabled_by": None, "archived": False, "display_status": "queuing", "word_count": 0,
            "hit_count": 0, "doc_form": "text_model"}, "batch": bid})

    def natural_run_start(self, req, route, now):
        """POST /workflows/run.  blocking: the answer waits for the run's end (plan delay) and
        carries Dify's {"task_id", "workflow_run_id", "data": {...}}.  streaming: kept minimal
        (not Dify's full stream): one workflow_started event, then the stream ends; the run
        goes on along its lifecycle."""
        data, bad = self.read_json_body(req)
        if bad is not None:
            return bad
        if not isinstance(data, dict) or not isinstance(data.get("inputs"), dict):
            err = pydantic_errors("WorkflowRunPayload", data, (("inputs", dict),))
            return self.json_plan(400, {"code": "invalid_param", "message": err, "status": 400})
        rid = self.next_run_ids.pop(0) if self.next_run_ids else str(uuid.uuid4())
        r = K.build_run({"inputs": data["inputs"]}, "workflows/run", self.default_run_lifecycle, check_spec,
                        req.app, run_id=rid)
        self.runs[rid] = r
        req.entry["created_job"] = rid
        task = str(uuid.uuid4())
        if data.get("response_mode") == "streaming":
            ev = {"event": "workflow_started", "task_id": task, "workflow_run_id": rid,
                  "data": {"id": rid, "workflow_id": r.workflow_id, "inputs": r.inputs,
                           "created_at": int(r.wall0)}}
            p = Plan(200, ("data: " + json.dumps(ev) + "\n\n").encode(), "text/event-stream")
            p.close = True
            return p
        end = r.terminal_at()
        wait = 0.0 if end is None else min(max(0.0, end - now), 60.0)
        v = r.view(now if end is None else end + 1e-6) or {}
        p = self.json_plan(200, {"task_id": task, "workflow_run_id": rid, "data": {
            k: v.get(k) for k in ("id", "workflow_id", "status", "outputs", "error", "elapsed_time",
                                  "total_tokens", "total_steps", "created_at", "finished_at")}})
        p.delay = wait
        return p

    def natural_start(self, req, route, now):
        """POST /apps/annotation-reply/{action}: the body is validated first (pydantic; a
        ValueError is Dify's 400 invalid_param), then the action: an unknown one leaves the
        controller's result unbound, an unhandled error: 500.  Every POST starts a new job."""
        data, bad = self.read_json_body(req)
        if bad is not None:
            return bad
        err = pydantic_errors("AnnotationReplyActionPayload", data or {},
                              (("score_threshold", float), ("embedding_provider_name", str),
                               ("embedding_model_name", str)))
        if err:
            return self.json_plan(400, {"code": "invalid_param", "message": err, "status": 400})
        if route.action not in ACTIONS:
            return self.json_plan(500, SERVER_ERROR)
        app = req.app
        if self.not_dify_start:
            # Not Dify (no release does this; kept for tests that need these answers): a
            # running job of the same action is handed out as "processing", one of the other
            # action makes a 409.
            other = "disable" if route.action == "enable" else "enable"
            if self.running_job(app, other, now) is not None:
                return self.json_plan(409, {"code": "conflict",
                                            "message": "Another annotation reply job is running for this app.",
                                            "status": 409})
            running = self.running_job(app, route.action, now)
            if running is not None:
                return self.json_plan(200, {"job_id": running.job_id, "job_status": "processing"})
        jid = self.next_job_ids.pop(0) if self.next_job_ids else str(uuid.uuid4())
        job = Job()
        job.job_id = jid
        job.action = route.action
        job.app = app
        job.lifecycle = list(self.default_lifecycle)
        if route.action == "disable" and not self.apps.get(app, {}).get("annotation_reply", True):
            # disable_annotation_reply_task returns early for an app whose annotation reply
            # was never enabled and writes nothing: the job stays "waiting" forever.
            job.lifecycle = [("waiting", None)]
        job.error_msg = ""
        job.ttl = job.pending_ttl = job.version = None
        job.error_key_gone = False
        job.created = now
        job.responses = []
        job.then = "repeat"
        job.resp_idx = 0
        job.requests = 0
        job.expect = None
        self.add_job(job)
        req.entry["created_job"] = jid
        return self.json_plan(200, {"job_id": jid, "job_status": "waiting"})

    def kind_body_fault(self, fault, spec, req, route, now):
        """malformed / oversized / endless_chunked / wrong_shape built on the natural body of a
        batch or run (not Dify: broken servers)."""
        nat = self.natural(req, route, now)
        try:
            obj = json.loads(nat.body)
        except ValueError:
            obj = {}
        if not isinstance(obj, dict):
            obj = {"value": obj}
        good = dify_json(obj)
        status_key = J.STATUS_KEYS.get(route.kind, "status" if route.kind == "run" else "indexing_status")
        if fault == "malformed":
            v = spec.get("variant", "truncated")
            body, ct = {"truncated": good[:len(good) // 2], "garbage": b"this is not json\n", "empty": b"",
                        "trailing": good.rstrip(b"\n") + b"}\n", "nul": good[:10] + b"\x00" + good[10:],
                        "invalid_utf8": good[:10] + b"\xff\xfe" + good[10:],
                        "html_200": b"<html><body>OK</body></html>\n"}[v], JSON_CT
            return Plan(spec.get("status", 200), body, HTML_CT if v == "html_200" else ct)
        if fault == "oversized":
            field = spec.get("field", "padding")
            obj[field] = ""
            obj[field] = "x" * max(0, int(spec.get("size", 200 * 1024)) - len(dify_json(obj)))
            return self.json_plan(spec.get("status", 200), obj)
        if fault == "endless_chunked":
            p = Plan(200, b"", JSON_CT)
            p.endless = ((json.dumps(obj)[:-1] + ', "padding": "').encode(),
                         b"x" * int(spec.get("chunk_size", 1024)), float(spec.get("interval", 0.01)))
            return p
        v = spec.get("variant", "array")
        first = obj["data"][0] if route.kind == "indexing" and obj.get("data") else obj
        if v in ("number", "null", "bool", "object", "missing", "error_msg_number", "other_job_id"):
            if v == "missing":
                first.pop(status_key, None)
            elif v == "error_msg_number":
                first["error"] = 42
            elif v == "other_job_id":
                first["id"] = str(uuid.uuid4())
            else:
                first[status_key] = {"number": 2, "null": None, "bool": True,
                                     "object": {"state": first.get(status_key)}}[v]
            shaped = obj
        else:
            shaped = {"array": [obj], "nested": {"result": obj}, "string": "completed", "empty_object": {}}[v]
        return Plan(spec.get("status", 200), dify_json(shaped), JSON_CT)

    def job_body_fields(self, req, route, now, spec):
        """job_id / job_status / error_msg for synthesized 200 bodies."""
        jid = spec.get("job_id", route.job_id or "")
        job = self.jobs.get((route.action, route.job_id)) if route.job_id else None
        st = job.state(now, self) if job is not None else None
        status = spec.get("job_status", st[0] if st else "waiting")
        err = spec.get("error_msg", st[1] if st else "")
        return jid, status, err

    def resolve(self, spec, req, route, now):
        """Turn a response spec into a Plan."""
        if spec is None:
            spec = {}
        spec = subst_job_id(spec, route.job_id or "")
        fault = spec.get("fault")
        fault = str(fault) if fault is not None else None
        p = None
        if fault is None or fault in ("natural", "delay", "trickle", "truncate", "huge_headers"):
            if "status" in spec or "body" in spec or "body_raw" in spec or "body_b64" in spec:
                status = spec.get("status", 200)
                if "body" in spec:
                    p = Plan(status, dify_json(spec["body"]), spec.get("content_type", JSON_CT))
                    if isinstance(spec["body"], dict) and isinstance(spec["body"].get("job_status"), str):
                        p.job_status = spec["body"]["job_status"]
                elif "body_b64" in spec:
                    p = Plan(status, base64.b64decode(spec["body_b64"]), spec.get("content_type", HTML_CT))
                else:
                    p = Plan(status, spec.get("body_raw", "").encode(), spec.get("content_type", HTML_CT))
            elif "job_status" in spec and route.kind in J.ROUTE_KINDS:
                p = self.api_plan(route.kind, J.with_status(J.natural(self, req, route, now), route.kind,
                                                            spec["job_status"], spec.get("error_msg")))
            elif "job_status" in spec:
                jid, status, err = self.job_body_fields(req, route, now, spec)
                p = self.json_plan(200, {"job_id": jid, "job_status": status, "error_msg": err})
            else:
                p = self.natural(req, route, now)
        elif fault == "reset":
            p = Plan(0, b"", None)
            p.reset_after = spec.get("reset_after", 0)
        elif route.kind in ("indexing", "run") + J.ROUTE_KINDS and fault in ("malformed", "oversized",
                                                                              "endless_chunked", "wrong_shape"):
            p = self.kind_body_fault(fault, spec, req, route, now)
        elif route.kind in J.ROUTE_KINDS and J.fault(self, fault, spec, req, route) is not None:
            p = self.api_plan(route.kind, J.fault(self, fault, spec, req, route))
        elif fault == "malformed":
            jid, status, err = self.job_body_fields(req, route, now, spec)
            good = dify_json({"job_id": jid, "job_status": status, "error_msg": err})
            v = spec.get("variant", "truncated")
            ct = JSON_CT
            if v == "truncated":
                body = good[:len(good) // 2]
            elif v == "garbage":
                body = b"this is not json\n"
            elif v == "empty":
                body = b""
            elif v == "trailing":
                body = good.rstrip(b"\n") + b"}\n"
            elif v == "nul":
                body = good.replace(status.encode(), status.encode()[:2] + b"\x00" + status.encode()[2:], 1)
            elif v == "invalid_utf8":
                body = good.replace(status.encode(), status.encode() + b"\xff\xfe", 1)
            else:  # html_200
                body = b"<html><body>OK</body></html>\n"
                ct = HTML_CT
            p = Plan(spec.get("status", 200), body, ct)
        elif fault == "oversized":
            jid, status, err = self.job_body_fields(req, route, now, spec)
            size = int(spec.get("size", 200 * 1024))
            field = spec.get("field", "padding")
            obj = {"job_id": jid, "job_status": status, "error_msg": err}
            obj[field] = ""
            base = len(dify_json(obj))
            obj[field] = "x" * max(0, size - base)
            p = self.json_plan(spec.get("status", 200), obj)
        elif fault == "endless_chunked":
            jid, status, err = self.job_body_fields(req, route, now, spec)
            prefix = ('{"job_id": "%s", "job_status": "%s", "error_msg": "%s", "padding": "'
                      % (jid, status, err)).encode()
            p = Plan(200, b"", JSON_CT)
            p.endless = (prefix, b"x" * int(spec.get("chunk_size", 1024)), float(spec.get("interval", 0.01)))
        elif fault == "wrong_shape":
            jid, status, err = self.job_body_fields(req, route, now, spec)
            if "job_status" not in spec:
                status = "completed"
            v = spec.get("variant", "array")
            good = {"job_id": jid, "job_status": status, "error_msg": err}
            obj = {
                "array": [good],
                "number": {"job_id": jid, "job_status": 2, "error_msg": err},
                "null": {"job_id": jid, "job_status": None, "error_msg": err},
                "bool": {"job_id": jid, "job_status": True, "error_msg": err},
                "object": {"job_id": jid, "job_status": {"state": status}, "error_msg": err},
                "nested": {"data": good},
                "missing": {"job_id": jid, "error_msg": err},
                "string": status,
                "empty_object": {},
                "error_msg_number": {"job_id": jid, "job_status": "error", "error_msg": 42},
                "other_job_id": {"job_id": str(uuid.uuid4()), "job_status": status, "error_msg": err},
            }[v]
            p = Plan(spec.get("status", 200), dify_json(obj), JSON_CT)
        elif fault in ("html_502", "html_503", "html_504", "nginx", "503"):
            # Proxy-only: nginx in front of Dify (Dify itself sends no HTML and no Retry-After).
            code = {"html_502": 502, "html_503": 503, "html_504": 504, "503": 503}.get(fault) \
                or int(spec.get("status", 502))
            p = Plan(code, nginx_page(code).encode(), "text/html")
            ra = spec.get("retry_after", 2 if code == 503 else None)
            if ra is not None:
                p.set_header("Retry-After", retry_after_value(ra))
        elif fault in ("500", "server_error"):
            p = self.json_plan(500, SERVER_ERROR)
        elif fault in ("429", "too_many_requests"):
            # Proxy-only: a rate-limiting proxy or gateway; Dify sends no 429 on these routes.
            p = self.json_plan(429, {"code": "too_many_requests",
                                     "message": spec.get("message", "Too many requests. Please try again later."),
                                     "status": 429})
            ra = spec.get("retry_after", 2)
            if ra is not None:
                p.set_header("Retry-After", retry_after_value(ra))
        elif fault == "redirect":
            loc = spec.get("location") or "http://localhost:%d/_redirected%s" % (self.port, req.target)
            p = Plan(int(spec.get("status", 302)), werkzeug_redirect_page(loc).encode(), HTML_CT)
            p.set_header("Location", loc)
        elif fault in ("401", "unauthorized"):
            p = self.unauthorized_plan(spec.get("message", UNAUTHORIZED_MSGS[spec.get("variant", "invalid")]))
        elif fault in ("403", "forbidden"):
            p = self.json_plan(403, {"code": "forbidden", "message": spec.get(
                "message", FORBIDDEN_MSGS[spec.get("variant", "app_gone")]), "status": 403})
        elif fault == "app_not_found":
            p = self.not_found_plan("App not found")
        elif fault == "not_workflow_app":
            p = self.json_plan(400, {"code": "not_workflow_app", "message": NOT_WORKFLOW_APP, "status": 400})
        elif fault == "gone" and route.kind == "indexing":
            p = self.not_found_plan(spec.get("message", "Documents not found."))
        elif fault == "gone" and route.kind == "run":
            p = self.not_found_plan("Workflow run not found.")
        elif fault == "gone":
            job = self.jobs.get((route.action, route.job_id)) if route.job_id else None
            p = self.gone_plan(spec.get("dify_version") or (job.version if job else None) or self.version)
        elif fault == "html_404":
            p = Plan(404, WERKZEUG_404.encode(), HTML_CT)
        elif fault == "echo_auth":
            # Not Dify: a misconfigured proxy or debug server that echoes the request headers
            # back, Authorization included.  variant "message" (default): an error answer whose
            # message holds them (status, default 500); "error_msg": a 200 saying the job ended
            # in error, with them in error_msg.  The header also comes back as X-Echoed-Credentials.
            auth = req.headers.get(self.auth_header or "authorization", "")
            echoed = "request headers: %s: %s; Host: %s" % (self.auth_header or "Authorization", auth,
                                                            req.headers.get("host", ""))
            if spec.get("variant", "message") == "error_msg":
                jid, _, _ = self.job_body_fields(req, route, now, spec)
                p = self.json_plan(200, {"job_id": jid, "job_status": "error", "error_msg": echoed})
            else:
                code = int(spec.get("status", 500))
                p = self.json_plan(code, {"code": "echo", "message": echoed, "status": code})
            p.set_header("X-Echoed-Credentials", auth)
        else:  # pragma: no cover - check_spec() rejects unknown names
            raise ScenarioError("unknown fault %r" % fault)

        if p.status == 404 and p.get_header("Content-Type") == JSON_CT \
                and spec.get("did_you_mean", self.did_you_mean):
            p = self.did_you_mean_plan(p, route)
        p.fault = fault
        # Modifiers, valid with every kind of answer.
        if fault == "delay":
            p.delay = float(spec.get("seconds", spec.get("delay", 60)))
        elif "delay" in spec:
            p.delay = float(spec["delay"])
        if fault == "trickle":
            p.trickle = float(spec.get("interval", spec.get("trickle", 0.1)))
        elif "trickle" in spec:
            p.trickle = float(spec["trickle"])
        p.trickle_chunk = max(1, int(spec.get("trickle_chunk", 1)))
        p.trickle_headers = bool(spec.get("trickle_headers", False))
        if fault == "truncate":
            p.truncate = spec.get("truncate", len(p.body) // 2)
            if p.truncate is True:
                p.truncate = len(p.body) // 2
            p.truncate = int(p.truncate)
        elif spec.get("truncate") not in (None, False):
            p.truncate = len(p.body) // 2 if spec["truncate"] is True else int(spec["truncate"])
        if fault != "reset" and "reset_after" in spec:
            p.reset_after = int(spec["reset_after"])
        if fault == "huge_headers":
            size = int(spec.get("size", 200 * 1024))
            if spec.get("single"):
                p.headers.append(("X-Padding", "x" * size))
            else:
                ln = max(16, int(spec.get("header_len", 1000)))
                i = 0
                total = 0
                while total < size:
                    name = "X-Padding-%04d" % i
                    val = "x" * (ln - len(name) - 4)
                    p.headers.append((name, val))
                    total += ln
                    i += 1
        if spec.get("chunked"):
            p.chunked = True
            p.chunk_size = max(1, int(spec.get("chunk_size", 64)))
        if spec.get("close"):
            p.close = True
        if "retry_after" in spec and fault not in ("html_502", "html_503", "html_504", "nginx", "503",
                                                   "429", "too_many_requests"):
            ra = retry_after_value(spec["retry_after"])
            if ra is not None:
                p.set_header("Retry-After", ra)
        for k, v in (spec.get("headers") or {}).items():
            p.set_header(k, v)
        return p

    # ---- HTTP -------------------------------------------------------------------------

    async def handle(self, reader, writer):
        self.conn_seq += 1
        conn = Conn(self, self.conn_seq, reader, writer)
        self.conns.add(conn)
        conn.reader_task = asyncio.create_task(conn.read_loop())
        try:
            while True:
                req = await self.read_request(conn)
                if req is None:
                    break
                if not await self.dispatch(conn, req):
                    break
        except (ConnectionError, OSError, ssl.SSLError):
            pass
        except asyncio.CancelledError:
            pass
        finally:
            self.conns.discard(conn)
            conn.reader_task.cancel()
            conn.mark_eof()
            try:
                writer.close()
            except Exception:
                pass

    async def read_request(self, conn):
        idle = self.keepalive_timeout if conn.nreq else max(self.keepalive_timeout, 10.0)
        deadline = time.monotonic() + idle
        while True:
            end = conn.buf.find(b"\r\n\r\n")
            if end >= 0:
                break
            if len(conn.buf) > 256 * 1024:
                await self.simple_error(conn, 431)
                return None
            left = deadline - time.monotonic()
            if left <= 0 or not await conn.wait_data(left):
                if conn.buf.find(b"\r\n\r\n") >= 0:
                    continue
                return None
        head = bytes(conn.buf[:end]).decode("latin-1")
        del conn.buf[:end + 4]
        lines = head.split("\r\n")
        while lines and lines[0] == "":          # tolerate stray CRLF between requests
            lines.pop(0)
        if not lines:
            return await self.read_request(conn)
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            await self.simple_error(conn, 400)
            return None
        req = Request()
        req.method, req.target, req.version = parts
        req.conn = conn
        req.headers = {}
        for ln in lines[1:]:
            if ":" not in ln:
                await self.simple_error(conn, 400)
                return None
            k, v = ln.split(":", 1)
            k = k.strip().lower()
            v = v.strip()
            req.headers[k] = req.headers[k] + ", " + v if k in req.headers else v
        path, _, query = req.target.partition("?")
        if path.startswith("http://") or path.startswith("https://"):   # absolute-form
            path = "/" + path.split("/", 3)[3] if path.count("/") >= 3 else "/"
        req.path = path
        req.query = query
        # Body.
        body = b""
        te = req.headers.get("transfer-encoding", "").lower()
        if "chunked" in te:
            body = await self.read_chunked(conn)
            if body is None:
                return None
        else:
            try:
                n = int(req.headers.get("content-length", "0") or 0)
            except ValueError:
                await self.simple_error(conn, 400)
                return None
            if n > 4 * 1024 * 1024:
                await self.simple_error(conn, 413)
                return None
            if n and req.headers.get("expect", "").lower() == "100-continue" and len(conn.buf) < n:
                conn.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            while len(conn.buf) < n:
                if not await conn.wait_data(30):
                    return None
            body = bytes(conn.buf[:n])
            del conn.buf[:n]
        req.body = body
        req.t0 = time.monotonic()
        conn.nreq += 1
        if conn.nreq > self.max_requests_per_conn_seen:
            self.max_requests_per_conn_seen = conn.nreq
        return req

    async def read_chunked(self, conn):
        out = bytearray()
        while True:
            while b"\r\n" not in conn.buf:
                if not await conn.wait_data(30):
                    return None
            i = conn.buf.find(b"\r\n")
            try:
                size = int(bytes(conn.buf[:i]).split(b";")[0].strip(), 16)
            except ValueError:
                return None
            del conn.buf[:i + 2]
            if size == 0:
                while b"\r\n\r\n" not in conn.buf and not conn.buf.startswith(b"\r\n"):
                    if not await conn.wait_data(30):
                        return None
                if conn.buf.startswith(b"\r\n"):
                    del conn.buf[:2]
                else:
                    j = conn.buf.find(b"\r\n\r\n")
                    del conn.buf[:j + 4]
                return bytes(out)
            while len(conn.buf) < size + 2:
                if not await conn.wait_data(30):
                    return None
            out += conn.buf[:size]
            del conn.buf[:size + 2]
            if len(out) > 4 * 1024 * 1024:
                return None

    async def simple_error(self, conn, code):
        body = nginx_page(code).encode()
        try:
            conn.write(("HTTP/1.1 %d %s\r\nServer: nginx\r\nDate: %s\r\nContent-Type: text/html\r\n"
                        "Content-Length: %d\r\nConnection: close\r\n\r\n"
                        % (code, reason_phrase(code), http_date(), len(body))).encode() + body)
            await conn.writer.drain()
        except (ConnectionError, OSError):
            pass

    def wants_close(self, req):
        c = req.headers.get("connection", "").lower()
        if req.version == "HTTP/1.0":
            return "keep-alive" not in c
        return "close" in c

    async def dispatch(self, conn, req):
        if req.path.startswith("/_mock/"):
            return await self.control(conn, req)
        now = req.t0
        if not conn.api:
            conn.api = True
            self.connections_total += 1
            self.connections_since_reset += 1
        auth = req.headers.get(self.auth_header or "authorization")
        tok = "-"
        if self.auth_header:
            tok = auth if auth is not None else "-"
        elif auth is not None and " " in auth:
            scheme, t = auth.split(None, 1)
            if scheme.lower() == "bearer":
                tok = t
        req.app = tok
        req.ended = False
        route = self.route(req)
        req.route = route
        if route.kind == J.ANTHROPIC:
            tok = req.headers.get("x-api-key") or "-"      # the key of that API: in-flight accounting per key
            req.app = tok
        self.seq += 1
        entry = {
            "seq": self.seq, "t": now, "wall": time.time(), "t_end": None, "conn": conn.id,
            "conn_req": conn.nreq, "tls": conn.tls, "method": req.method, "target": req.target,
            "path": req.path, "query": req.query, "http_version": req.version, "kind": route.kind,
            "action": route.action, "job_id": route.job_id, "dataset_id": route.dataset_id,
            "authorization": auth, "app": tok,
            "status": None, "fault": None, "source": None, "job_status": None, "retry_after": None,
            "aborted": False,
            "in_flight": 0, "headers": req.headers,
        }
        if req.body:
            entry["body"] = req.body[:4096].decode("utf-8", "replace")
        req.entry = entry
        self.log.append(entry)
        self.begin_request(req)
        try:
            job = self.jobs.get((route.action, route.job_id)) if route.kind == "status" \
                else self.kind_target(route)
            if job is not None:
                job.requests += 1
            ov = self.match_override(req, route, now)
            if ov is not None:
                spec, entry["source"] = ov.response, "override:" + ov.name
            elif job is not None and job.responses:
                spec = job.next_response()
                entry["source"] = "script" if spec is not None else "lifecycle"
            else:
                spec, entry["source"] = None, "natural"
            try:
                plan = self.resolve(spec, req, route, now)
            except ScenarioError as e:
                plan = self.json_plan(500, {"code": "mock_error", "message": str(e), "status": 500})
            entry["status"] = plan.status if plan.fault != "reset" else None
            entry["fault"] = plan.fault
            entry["job_status"] = plan.job_status
            entry["retry_after"] = plan.get_header("Retry-After")
            keep = await self.send(conn, req, plan)
        finally:
            self.end_request(req)
            self.count(entry)
        return keep

    async def send(self, conn, req, plan):
        """Put the plan on the wire.  Returns whether the connection stays open."""
        if plan.delay and not await conn.sleep(plan.delay):
            return False
        if plan.reset_after == 0:
            conn.reset()
            return False
        close = plan.close or self.wants_close(req) or plan.truncate is not None \
            or (self.max_requests_per_conn and conn.nreq >= self.max_requests_per_conn)
        head_only = req.method == "HEAD"
        body = plan.body
        hdrs = [("Server", plan.get_header("Server") or "nginx"), ("Date", http_date())]
        own = [h for h in plan.headers if h[0].lower() != "server"]
        if plan.endless is not None or plan.chunked:
            hdrs += [h for h in own if h[0].lower() != "content-length"]
            hdrs.append(("Transfer-Encoding", "chunked"))
        else:
            hdrs += own
            if plan.get_header("Content-Length") is None:
                if "content-length" in plan.removed:
                    close = True         # body delimited by the end of the connection
                else:
                    hdrs.append(("Content-Length", str(len(body))))
        conn_hdr = plan.get_header("Connection")
        if conn_hdr is None:
            hdrs.append(("Connection", "close" if close else "keep-alive"))
        elif conn_hdr.lower() == "close":
            close = True
        head = ("HTTP/1.1 %d %s\r\n" % (plan.status, reason_phrase(plan.status))
                + "".join("%s: %s\r\n" % h for h in hdrs) + "\r\n").encode("latin-1")
        if head_only:
            body = b""
        try:
            if plan.endless is not None:
                return await self.send_endless(conn, req, head, plan, head_only)
            if plan.chunked and not head_only:
                cs = plan.chunk_size
                body = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + cs]), body[i:i + cs])
                                for i in range(0, len(body), cs)) + b"0\r\n\r\n"
            if plan.truncate is not None:
                body = body[:plan.truncate]
            data = head + body
            if plan.reset_after:
                data = data[:plan.reset_after]
            if plan.trickle:
                start = 0 if plan.trickle_headers else len(head)
                if start:
                    conn.write(data[:start])
                    await conn.writer.drain()
                step = plan.trickle_chunk
                for i in range(start, len(data), step):
                    if i > start and not await conn.sleep(plan.trickle):
                        return False
                    conn.write(data[i:i + step])
                    await conn.writer.drain()
            else:
                conn.write(data)
            if plan.reset_after:
                await conn.writer.drain()
                conn.reset()
                return False
            self.end_request(req)
            await conn.writer.drain()
        except (ConnectionError, OSError, ssl.SSLError):
            self.end_request(req, aborted=True)
            return False
        if close:
            try:
                if conn.writer.can_write_eof():
                    conn.writer.write_eof()
            except (OSError, RuntimeError):
                pass
            return False
        return True

    async def send_endless(self, conn, req, head, plan, head_only):
        prefix, chunk, interval = plan.endless
        conn.write(head)
        if head_only:
            self.end_request(req)
            return False
        conn.write(b"%x\r\n%s\r\n" % (len(prefix), prefix))
        await conn.writer.drain()
        piece = b"%x\r\n%s\r\n" % (len(chunk), chunk)
        while True:
            if not await conn.sleep(interval):
                return False
            conn.write(piece)
            await conn.writer.drain()

    # ---- control API ------------------------------------------------------------------

    async def control(self, conn, req):
        status, obj = 200, None
        try:
            obj = self.control_answer(req)
        except ScenarioError as e:
            status, obj = 400, {"error": str(e)}
        except (ValueError, TypeError, KeyError) as e:
            status, obj = 400, {"error": "%s: %s" % (type(e).__name__, e)}
        if obj is None:
            status, obj = 404, {"error": "no such control endpoint: %s %s" % (req.method, req.path)}
        body = (json.dumps(obj, separators=(",", ":")) + "\n").encode()
        close = self.wants_close(req)
        head = ("HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                "Connection: %s\r\n\r\n" % (status, reason_phrase(status), len(body),
                                            "close" if close else "keep-alive")).encode()
        try:
            conn.write(head + body)
            await conn.writer.drain()
        except (ConnectionError, OSError):
            return False
        return not close

    def control_answer(self, req):
        q = urllib.parse.parse_qs(req.query)
        path = req.path
        now = time.monotonic()

        def body():
            if not req.body:
                return {}
            return json.loads(req.body.decode("utf-8"))

        if req.method == "GET":
            if path == "/_mock/health":
                return {"ok": True, "port": self.port, "pid": os.getpid(), "tls": self.tls,
                        "prefix": self.prefix, "dify_version": self.version, "now": now}
            if path == "/_mock/requests":
                since = int(q.get("since", ["0"])[0])
                job = q.get("job_id", [None])[0]
                kind = q.get("kind", [None])[0]
                with_headers = q.get("headers", ["1"])[0] != "0"
                out = []
                # The log is in seq order; skip quickly to 'since'.
                lo = 0
                if since and self.log:
                    first = self.log[0]["seq"]
                    lo = max(0, since - first + 1)
                for e in self.log[lo:]:
                    if e["seq"] <= since:
                        continue
                    # Dify's ids are logged in lower case; other APIs' ids are case-sensitive
                    if job is not None and e["job_id"] != (job if e["kind"] in J.ROUTE_KINDS else job.lower()):
                        continue
                    if kind is not None and e["kind"] != kind:
                        continue
                    out.append(e if with_headers else {k: v for k, v in e.items() if k != "headers"})
                return out
            if path == "/_mock/stats":
                return self.stats()
            if path == "/_mock/jobs":
                job = q.get("job_id", [None])[0]
                return [j.describe(now, self) for j in self.jobs.values()
                        if job is None or j.job_id == job.lower()]
            if path == "/_mock/batches":
                want = q.get("batch", [None])[0]
                return [b.describe(now) for b in self.batches.values() if want is None or b.batch == want]
            if path == "/_mock/api-jobs":
                return J.describe(self, q.get("kind", [None])[0], q.get("id", [None])[0], now)
            if path == "/_mock/runs":
                want = q.get("run_id", [None])[0]
                return [r.describe(now) for r in self.runs.values() if want is None or r.run_id == want.lower()]
            if path == "/_mock/overrides":
                return [{"name": o.name, "match": {k: (sorted(v) if isinstance(v, set) else v)
                                                   for k, v in o.match.items()},
                         "response": o.response, "hits": o.hits, "count_left": o.count,
                         "seconds_left": None if o.expires is None else round(o.expires - now, 3)}
                        for o in self.overrides]
            if path == "/_mock/verify":
                return self.verify()
            if path == "/_mock/config":
                return {"dify_version": self.version, "result_ttl": self.result_ttl,
                        "pending_ttl": self.pending_ttl, "keys": self.keys,
                        "default_lifecycle": [list(s) for s in self.default_lifecycle],
                        "router_404": self.router_404, "keepalive_timeout": self.keepalive_timeout,
                        "max_requests_per_conn": self.max_requests_per_conn, "prefix": self.prefix,
                        "next_job_ids": self.next_job_ids, "apps": self.apps,
                        "not_dify_start": self.not_dify_start, "did_you_mean": self.did_you_mean,
                        "datasets": self.datasets,
                        "default_document_lifecycle": [list(s) for s in self.default_document_lifecycle],
                        "default_run_lifecycle": [list(s) for s in self.default_run_lifecycle],
                        "next_batch_ids": self.next_batch_ids, "next_run_ids": self.next_run_ids}
        elif req.method == "POST":
            if path == "/_mock/jobs":
                return {"added": self.load_scenario(body(), "jobs")}
            if path == "/_mock/set":
                return {"updated": self.set_jobs(body())}
            if path in ("/_mock/batches", "/_mock/runs"):
                b = body()
                return {"added": self.load_scenario({path[7:]: b} if isinstance(b, list) else b, path[7:])}
            if path == "/_mock/set-batch":
                return {"updated": self.set_batches(body())}
            if path == "/_mock/api-jobs":
                return {"added": self.load_scenario(body(), "api-jobs")}
            if path == "/_mock/set-api-job":
                return {"updated": J.set_jobs(self.api_jobs, body(), check_spec)}
            if path == "/_mock/set-run":
                return {"updated": self.set_runs(body())}
            if path == "/_mock/config":
                self.configure(body())
                return {"ok": True}
            if path == "/_mock/reset-log":
                self.reset_stats()
                return {"ok": True, "seq": self.seq}
        return None


def parse_args(argv):
    ap = argparse.ArgumentParser(description="Mock of Dify's asynchronous job APIs for jobwatch tests.")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="0: any free port (see --port-file)")
    ap.add_argument("--port-file", help="write the chosen port here once listening")
    ap.add_argument("--prefix", default="/v1", help="API prefix (default /v1)")
    ap.add_argument("--key", action="append",
                    help="a valid API key (dataset-...: a dataset key, else an app key); repeatable (default %s)"
                    % DEFAULT_KEY)
    ap.add_argument("--dify-version", choices=("old", "new"), default="old",
                    help="old (every release to 1.16.1): unknown job -> 400 invalid_param, jobs readable by any"
                         " app key; new (next major): 404 not_found, jobs scoped to their app, 404 'App not found'")
    ap.add_argument("--scenario", action="append", default=[], help="scenario JSON file; repeatable")
    ap.add_argument("--result-ttl", type=float, default=600.0, help="life of completed/error (s)")
    ap.add_argument("--pending-ttl", type=float, default=None,
                    help="NOT DIFY: a life for pending jobs (s); Dify has none (default: none)")
    ap.add_argument("--default-lifecycle", help="JSON lifecycle for jobs without one and for POSTed jobs")
    ap.add_argument("--tls-cert", help="serve HTTPS with this certificate (PEM)")
    ap.add_argument("--tls-key", help="private key for --tls-cert")
    ap.add_argument("--keepalive-timeout", type=float, default=65.0, help="idle keep-alive close (s)")
    ap.add_argument("--max-requests-per-conn", type=int, default=1000, help="like nginx keepalive_requests; 0: no limit")
    ap.add_argument("--router-404", choices=("html", "json"), default="html",
                    help="body of the router's 404 (bad path, non-UUID job id)")
    ap.add_argument("--auth-header", help="not Dify: the key is this header's whole value "
                    "(e.g. x-api-key), not 'Authorization: Bearer KEY'")
    ap.add_argument("--quiet", action="store_true")
    return ap.parse_args(argv)


async def amain(args):
    srv = MockDify(args)
    for path in args.scenario:
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
            srv.load_scenario(data, path)
        except (OSError, ValueError, ScenarioError) as e:
            print("mock_dify: %s" % e, file=sys.stderr)
            return 2
    ctx = None
    if args.tls_cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.tls_cert, args.tls_key)
        srv.tls = True
    loop = asyncio.get_running_loop()

    def exc_handler(lp, context):
        exc = context.get("exception")
        if isinstance(exc, (ConnectionError, ssl.SSLError, OSError)):
            return
        lp.default_exception_handler(context)
    loop.set_exception_handler(exc_handler)

    server = await asyncio.start_server(srv.handle, args.host, args.port, ssl=ctx, backlog=4096,
                                        reuse_address=True)
    srv.port = server.sockets[0].getsockname()[1]
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % srv.port)
        os.rename(tmp, args.port_file)
    if not args.quiet:
        print("mock_dify: listening on %s://%s:%d%s (%d jobs, dify %s)"
              % ("https" if ctx else "http", args.host, srv.port, srv.prefix, len(srv.jobs), srv.version),
              flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()
        server.close()
        for c in list(srv.conns):
            c.writer.transport.abort()
    return 0


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        return asyncio.run(amain(args))
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
