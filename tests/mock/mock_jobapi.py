# SPDX-License-Identifier: MIT
"""mock_jobapi.py -- job-status APIs that are not Dify's, served by mock_dify.py's server, so that
user-defined kinds ([Kind:NAME], CONTRACT.md "Kinds") are tested against the shapes of real
public APIs:

* OpenAI Batch API: GET {prefix}/batches/{batch_id}, Authorization: Bearer KEY.  The Batch
  object of https://platform.openai.com/docs/api-reference/batch/object (status validating ->
  in_progress -> finalizing -> completed; failed, expired, cancelling -> cancelled).
* Anthropic Message Batches: GET {prefix}/messages/batches/{id}, x-api-key: KEY and
  anthropic-version: 2023-06-01.  The Message Batch object of
  https://docs.anthropic.com/en/api/retrieving-message-batches (processing_status in_progress,
  canceling, ended).
* A small generic API for path templates with more than {id}:
  GET {prefix}/projects/{project}/jobs/{id}, Authorization: Bearer KEY; each path segment is
  URL-decoded on its own, so a project "a/b c" must come as "a%2Fb%20c".

Each object walks a time-based lifecycle ([status, seconds|null] steps, as mock_kinds.py's) or
answers a scripted list of responses (one per status request), like a Dify job.  A lifecycle
step "gone" makes it unknown from then on (404).  Every request's headers are in the request
log (GET /_mock/requests, "headers", names in lower case), so tests can see which auth and extra
headers were sent.  Plain data here; the HTTP side stays in mock_dify.py.
"""

import json
import re
import time
import urllib.parse

import mock_kinds as K
from mock_kinds import ScenarioError, Scripted, check_lifecycle, walk

ANTHROPIC_VERSIONS = ("2023-01-01", "2023-06-01")

# route kinds (mock_dify.Route.kind) and the field that holds each API's status
OPENAI, ANTHROPIC, PROJECT = "openai_batch", "anthropic_batch", "project_job"
ROUTE_KINDS = (OPENAI, ANTHROPIC, PROJECT)
STATUS_KEYS = {OPENAI: "status", ANTHROPIC: "processing_status", PROJECT: "state"}
# scenario key -> route kind
SCENARIO_KEYS = {"openai_batches": OPENAI, "anthropic_batches": ANTHROPIC, "project_jobs": PROJECT}
KIND_NAMES = {"openai": OPENAI, "anthropic": ANTHROPIC, "project": PROJECT}

OPENAI_LIFECYCLE = [["validating", 0.3], ["in_progress", 0.6], ["finalizing", 0.3], ["completed", None]]
ANTHROPIC_LIFECYCLE = [["in_progress", 0.8], ["ended", None]]
PROJECT_LIFECYCLE = [["queued", 0.3], ["running", 0.5], ["done", None]]
DEFAULT_LIFECYCLES = {OPENAI: OPENAI_LIFECYCLE, ANTHROPIC: ANTHROPIC_LIFECYCLE, PROJECT: PROJECT_LIFECYCLE}

# The Batch object's timestamp set when a status is entered.
OPENAI_STAMPS = {"in_progress": "in_progress_at", "finalizing": "finalizing_at", "completed": "completed_at",
                 "failed": "failed_at", "expired": "expired_at", "cancelling": "cancelling_at",
                 "cancelled": "cancelled_at"}
OPENAI_ENDED = ("completed", "failed", "expired", "cancelled")
OPENAI_DEFAULT_ERROR = {"code": "invalid_json_line", "message": "This line is not parseable as valid JSON.",
                        "param": None, "line": 1}
# Error bodies.  OpenAI's shape {"error": {"message", "type", "param", "code"}} and its 401 texts
# ("You didn't provide an API key. ...", "Incorrect API key provided: ...", code
# invalid_api_key) are as users quote them in public issues; the exact text of the 404 for an
# unknown batch could not be confirmed from a public source: "No batch found with id '...'."
# is an assumption (jobwatch's kinds look only at the status code, GoneStatus=).  Anthropic's
# {"type": "error", "error": {"type", "message"}}, its types (authentication_error,
# invalid_request_error, not_found_error, api_error) and the example not-found message are
# from https://docs.anthropic.com/en/api/errors; "x-api-key header is required", "invalid
# x-api-key" and "anthropic-version: header is required" as quoted in public issues.
OPENAI_500 = "The server had an error while processing your request. Sorry about that!"
ANTHROPIC_NOT_FOUND = "The requested resource could not be found."

OBJ_KEYS = {"id", "key", "lifecycle", "poll_lifecycle", "created", "responses", "then", "comment",
            # OpenAI
            "endpoint", "input_file_id", "completion_window", "errors", "total", "failed", "metadata",
            # Anthropic
            "errored", "canceled", "expired",
            # project jobs
            "project", "error"}


def _iso(ts):
    """RFC 3339 with microseconds and Z, as Anthropic writes its timestamps."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + ".%06dZ" % int((ts % 1) * 1e6)


class ApiJob(Scripted):
    __slots__ = ("kind", "id", "key", "lifecycle", "poll_steps", "entered", "created", "wall0", "responses",
                 "then", "resp_idx", "requests", "fields")

    def clock(self, now):
        """Where the object is in its steps: seconds since created, or with poll_lifecycle the
        status requests before this one (the n-th request sees step clock n-1)."""
        if self.poll_steps is not None:
            return self.poll_steps, max(0, self.requests - 1)
        return self.lifecycle, now - self.created

    def steps(self, now):
        """(status, entered at wall time) entered so far; None: the object does not exist (not
        created yet, past a last step with a duration, or "gone")."""
        steps, t = self.clock(now)
        seen, past_end = walk(steps, t)
        if not seen or past_end or seen[-1][0] == "gone":
            return None
        if self.poll_steps is None:
            return [(st, self.wall0 + at) for st, at in seen]
        # a step scripted by polls was entered when it was first answered
        return [(st, self.entered.setdefault(i, time.time())) for i, (st, _) in enumerate(seen)]

    def status_now(self, now):
        s = self.steps(now)
        return s[-1][0] if s else None

    def view(self, now, base_url):
        s = self.steps(now)
        if s is None:
            return None
        return {OPENAI: self.openai_view, ANTHROPIC: self.anthropic_view, PROJECT: self.project_view}[self.kind](
            s, now, base_url)

    def progress(self, seen, now, running):
        """Requests done so far: evenly over the running step, all once it is left (or when
        the lifecycle went straight to an end that has results)."""
        total = self.fields["total"]
        steps, t = self.clock(now)
        raw, _ = walk(steps, t)
        for i, (st, start) in enumerate(raw):
            if st != running:
                continue
            if i + 1 < len(raw):
                return total
            dur = steps[i][1]                  # raw[i] is step i
            if not dur:
                return 0
            return min(total, int(total * (t - start) / dur))
        return total if seen[-1][0] in ("finalizing", "completed", "ended") else 0

    def openai_view(self, seen, now, base_url):
        f = self.fields
        status = seen[-1][0]
        stamps = dict.fromkeys(("in_progress_at", "finalizing_at", "completed_at", "failed_at", "expired_at",
                                "cancelling_at", "cancelled_at"))
        for st, at in seen:
            if st in OPENAI_STAMPS:
                stamps[OPENAI_STAMPS[st]] = int(at)
        failed_validation = status == "failed"
        done = 0 if failed_validation else self.progress(seen, now, "in_progress")
        bad = min(f["failed"], done)
        ended_with_files = status in ("completed", "expired", "cancelled")
        obj = {
            "id": self.id,
            "object": "batch",
            "endpoint": f["endpoint"],
            "errors": {"object": "list", "data": f["errors"]} if failed_validation else None,
            "input_file_id": f["input_file_id"],
            "completion_window": f["completion_window"],
            "status": status,
            "output_file_id": "file-out" + self.id[6:] if ended_with_files else None,
            "error_file_id": "file-err" + self.id[6:] if ended_with_files and bad else None,
            "created_at": int(self.wall0),
            "in_progress_at": stamps["in_progress_at"],
            "expires_at": int(self.wall0) + 24 * 3600,
            "finalizing_at": stamps["finalizing_at"],
            "completed_at": stamps["completed_at"],
            "failed_at": stamps["failed_at"],
            "expired_at": stamps["expired_at"],
            "cancelling_at": stamps["cancelling_at"],
            "cancelled_at": stamps["cancelled_at"],
            "request_counts": {"total": 0 if failed_validation else f["total"], "completed": done - bad,
                               "failed": bad},
            "metadata": f["metadata"],
        }
        return obj

    def anthropic_view(self, seen, now, base_url):
        f = self.fields
        status = seen[-1][0]
        ended = [at for st, at in seen if st == "ended"]
        cancel = [at for st, at in seen if st == "canceling"]
        counts = {"processing": f["total"], "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
        if ended:
            bad = f["errored"] + f["canceled"] + f["expired"]
            counts = {"processing": 0, "succeeded": max(0, f["total"] - bad), "errored": f["errored"],
                      "canceled": f["canceled"], "expired": f["expired"]}
        return {
            "id": self.id,
            "type": "message_batch",
            "processing_status": status,
            "request_counts": counts,
            "ended_at": _iso(ended[0]) if ended else None,
            "created_at": _iso(self.wall0),
            "expires_at": _iso(self.wall0 + 24 * 3600),
            "archived_at": None,
            "cancel_initiated_at": _iso(cancel[0]) if cancel else None,
            "results_url": "%s/messages/batches/%s/results" % (base_url, self.id) if ended else None,
        }

    def project_view(self, seen, now, base_url):
        status = seen[-1][0]
        err = self.fields["error"]
        return {"id": self.id, "project": self.fields["project"], "state": status,
                "error": {"message": err} if err is not None and status in ("failed", "error") else None}

    def describe(self, now):
        return {"kind": self.kind, "id": self.id, "status_now": self.status_now(now), "requests": self.requests,
                "responses_used": self.resp_idx}


def _count(d, k, where, default=0):
    v = d.get(k, default)
    if not isinstance(v, int) or isinstance(v, bool) or v < 0:
        raise ScenarioError("%s: %s must be a count" % (where, k))
    return v


def build(kind, d, where, check_spec):
    if not isinstance(d, dict):
        raise ScenarioError("%s: an object must be an object" % where)
    bad = set(d) - OBJ_KEYS
    if bad:
        raise ScenarioError("%s: unknown keys %s" % (where, sorted(bad)))
    j = ApiJob()
    j.kind = kind
    j.id = d.get("id")
    if not isinstance(j.id, str) or not j.id:
        raise ScenarioError("%s: id must be a non-empty string" % where)
    j.key = d.get("key")
    j.lifecycle = check_lifecycle(d["lifecycle"], where) if "lifecycle" in d \
        else check_lifecycle(DEFAULT_LIFECYCLES[kind], where)
    # poll_lifecycle: the same steps, counted in status requests instead of seconds
    j.poll_steps = None
    j.entered = {}
    if "poll_lifecycle" in d:
        if "lifecycle" in d:
            raise ScenarioError("%s: give lifecycle (seconds) or poll_lifecycle (requests), not both" % where)
        j.poll_steps = check_lifecycle(d["poll_lifecycle"], where)
        if any(n is not None and n != int(n) for _, n in j.poll_steps):
            raise ScenarioError("%s: poll_lifecycle counts requests: whole numbers" % where)
    created = d.get("created", 0)
    if not isinstance(created, (int, float)):
        raise ScenarioError("%s: created must be a number of seconds" % where)
    j.created = time.monotonic() + created
    j.wall0 = time.time() + created
    f = {"total": _count(d, "total", where, 10), "failed": _count(d, "failed", where),
         "errored": _count(d, "errored", where), "canceled": _count(d, "canceled", where),
         "expired": _count(d, "expired", where),
         "endpoint": d.get("endpoint", "/v1/chat/completions"),
         "input_file_id": d.get("input_file_id", "file-in" + j.id[6:]),
         "completion_window": d.get("completion_window", "24h"),
         "metadata": d.get("metadata"), "project": d.get("project"), "error": d.get("error")}
    errs = d.get("errors")
    if errs is None:
        errs = [dict(OPENAI_DEFAULT_ERROR)]
    elif isinstance(errs, str):
        errs = [dict(OPENAI_DEFAULT_ERROR, message=errs)]
    elif not isinstance(errs, list):
        raise ScenarioError("%s: errors must be a message or a list of error objects" % where)
    f["errors"] = errs
    if kind == PROJECT and (not isinstance(f["project"], str) or not f["project"]):
        raise ScenarioError("%s: a project job needs a project (a string)" % where)
    j.fields = f
    K.take_responses(j, d, where, check_spec)
    return j


def set_jobs(store, d, check_spec):
    """POST /_mock/set-api-job: {"kind": openai|anthropic|project, "ids": [...] | "all": true,
    "status" | "lifecycle" | "gone", "errors", "error", counts, "responses", "then"}."""
    if not isinstance(d, dict) or set(d) - {"kind", "ids", "all", "status", "lifecycle", "gone", "errors", "error",
                                             "total", "failed", "errored", "canceled", "expired", "responses",
                                             "then"}:
        raise ScenarioError("set-api-job: takes kind, ids|all, status, lifecycle, gone, errors, error, total, "
                            "failed, errored, canceled, expired, responses, then")
    kind = KIND_NAMES.get(d.get("kind"))
    if kind is None:
        raise ScenarioError("set-api-job: kind must be one of %s" % sorted(KIND_NAMES))
    ids = d.get("ids")
    if ids is None and not d.get("all"):
        raise ScenarioError("set-api-job: give ids or all: true")
    now = time.monotonic()
    n = 0
    for j in store[kind].values():
        if ids is not None and j.id not in ids:
            continue
        # from the next request on (poll_lifecycle) or from now (lifecycle)
        steps, t = (j.poll_steps, j.requests) if j.poll_steps is not None else (j.lifecycle, now - j.created)
        new = None
        if d.get("gone"):
            new = [("gone", None)]
        elif "lifecycle" in d:
            new = check_lifecycle(d["lifecycle"], "set-api-job")
        elif "status" in d:
            new = [(str(d["status"]), None)]
        if new is not None:
            steps = K.history_then(steps, t, new)
            if j.poll_steps is not None:
                j.poll_steps = steps
            else:
                j.lifecycle = steps
        if "errors" in d:
            j.fields["errors"] = [dict(OPENAI_DEFAULT_ERROR, message=d["errors"])] \
                if isinstance(d["errors"], str) else d["errors"]
        for k in ("error", "total", "failed", "errored", "canceled", "expired"):
            if k in d:
                j.fields[k] = d[k]
        if "responses" in d:
            K.take_responses(j, {"responses": d["responses"], "then": d.get("then", j.then)}, "set-api-job",
                             check_spec)
        n += 1
    return n


# --------------------------------------------------------------------------------------
# HTTP side: routing, auth, error bodies (the plans are built by mock_dify.py's json_plan)
# --------------------------------------------------------------------------------------

def route(prefix, raw_path):
    """(route kind, id, project) for a path of these APIs, else None.  Segments are decoded one
    by one (a %2F inside a project stays in the project)."""
    path = re.sub("/{2,}", "/", raw_path)
    if prefix and not path.startswith(prefix + "/"):
        return None
    parts = [urllib.parse.unquote(p) for p in path[len(prefix) + 1:].split("/")]
    if len(parts) == 2 and parts[0] == "batches" and parts[1]:
        return OPENAI, parts[1], None
    if len(parts) == 3 and parts[:2] == ["messages", "batches"] and parts[2]:
        return ANTHROPIC, parts[2], None
    if len(parts) == 4 and parts[0] == "projects" and parts[2] == "jobs" and parts[1] and parts[3]:
        return PROJECT, parts[3], parts[1]
    return None


def openai_error(message, etype="invalid_request_error", code=None, param=None):
    return {"error": {"message": message, "type": etype, "param": param, "code": code}}


def anthropic_error(etype, message):
    return {"type": "error", "error": {"type": etype, "message": message}}


def mask_key(k):
    """How OpenAI's 401 quotes a wrong key: a few characters of each end."""
    return k[:3] + "*" * max(0, len(k) - 7) + k[-4:] if len(k) > 8 else "*" * len(k)


def check_auth(srv, req, kind):
    """(status, body, headers) of the API's answer to bad credentials, or None."""
    h = req.headers
    if kind == ANTHROPIC:
        key = h.get("x-api-key")
        if key is None:
            return 401, anthropic_error("authentication_error", "x-api-key header is required"), []
        if key not in srv.keyset:
            return 401, anthropic_error("authentication_error", "invalid x-api-key"), []
        ver = h.get("anthropic-version")
        if ver is None:
            return 400, anthropic_error("invalid_request_error", "anthropic-version: header is required"), []
        if ver not in ANTHROPIC_VERSIONS:
            return 400, anthropic_error("invalid_request_error",
                                        "anthropic-version: \"%s\" is not a valid version" % ver), []
        return None
    auth = h.get("authorization")
    if auth is None or not auth.lower().startswith("bearer ") or not auth[7:].strip():
        if kind == OPENAI:
            return 401, openai_error(
                "You didn't provide an API key. You need to provide your API key in an Authorization header "
                "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank "
                "username) if you're accessing the API from your browser and are prompted for a username and "
                "password. You can obtain an API key from https://platform.openai.com/account/api-keys."), []
        return 401, {"error": "unauthenticated"}, [("WWW-Authenticate", "Bearer")]
    key = auth[7:].strip()
    if key not in srv.keyset:
        if kind == OPENAI:
            return 401, openai_error("Incorrect API key provided: %s. You can find your API key at "
                                     "https://platform.openai.com/account/api-keys." % mask_key(key),
                                     code="invalid_api_key"), []
        return 401, {"error": "unauthenticated"}, [("WWW-Authenticate", "Bearer")]
    return None


def not_found(kind, route_):
    if kind == OPENAI:
        return 404, openai_error("No batch found with id '%s'." % route_.job_id)
    if kind == ANTHROPIC:
        return 404, anthropic_error("not_found_error", ANTHROPIC_NOT_FOUND)
    return 404, {"error": "no such job"}


def server_error(kind):
    if kind == OPENAI:
        return 500, openai_error(OPENAI_500, etype="server_error")
    if kind == ANTHROPIC:
        return 500, anthropic_error("api_error", "Internal server error")
    return 500, {"error": "internal"}


def find(store, route_, key):
    j = store[route_.kind].get(route_.job_id)
    if j is None or (route_.kind == PROJECT and j.fields["project"] != route_.project):
        return None
    if j.key is not None and j.key != key:
        return None        # an object is only seen with the key (project, workspace) it belongs to
    return j


def request_key(req, kind):
    if kind == ANTHROPIC:
        return req.headers.get("x-api-key")
    auth = req.headers.get("authorization") or ""
    return auth[7:].strip() if auth.lower().startswith("bearer ") else None


def natural(srv, req, route_, now):
    """(status, body object, extra headers): the API's own answer now."""
    kind = route_.kind
    if req.method not in ("GET", "HEAD"):
        if kind == OPENAI:
            return 404, openai_error("Invalid URL (%s %s)" % (req.method, req.path)), []
        if kind == ANTHROPIC:
            return 405, anthropic_error("invalid_request_error", "Method Not Allowed"), []
        return 405, {"error": "method not allowed"}, [("Allow", "GET, HEAD")]
    bad = check_auth(srv, req, kind)
    if bad is not None:
        return bad
    j = find(srv.api_jobs, route_, request_key(req, kind))
    v = j.view(now, srv.base_url()) if j is not None else None
    if v is None:
        return not_found(kind, route_) + ([],)
    return 200, v, []


def with_status(answer, kind, value, error=None):
    """A response spec's "job_status" on these APIs: the natural answer with its status field
    set to value (any JSON: a word, a number, an object, null), and "error_msg" as the API's
    error; an answer that is not a 200 (unknown id, bad key) stays as it is."""
    status, obj, headers = answer
    if status != 200 or not isinstance(obj, dict):
        return answer
    obj[STATUS_KEYS[kind]] = value
    if error is not None:
        if kind == OPENAI:
            obj["errors"] = {"object": "list", "data": [dict(OPENAI_DEFAULT_ERROR, message=error)]}
        elif kind == PROJECT:
            obj["error"] = {"message": error}
    return status, obj, headers


def fault(srv, fault_name, spec, req, route_):
    """The API's own shape of a few faults: gone (404), 401, 500; None for the others."""
    kind = route_.kind
    if fault_name == "gone":
        return not_found(kind, route_) + ([],)
    if fault_name in ("401", "unauthorized"):
        if kind == ANTHROPIC:
            return 401, anthropic_error("authentication_error", "invalid x-api-key"), []
        if kind == OPENAI:
            return 401, openai_error("Incorrect API key provided: %s. You can find your API key at "
                                     "https://platform.openai.com/account/api-keys."
                                     % mask_key(request_key(req, kind) or ""), code="invalid_api_key"), []
        return 401, {"error": "unauthenticated"}, [("WWW-Authenticate", "Bearer")]
    if fault_name in ("500", "server_error"):
        return server_error(kind) + ([],)
    return None


def load(srv, data, where, check_spec):
    """The API objects of a scenario; their number."""
    n = 0
    built = []
    for skey, kind in SCENARIO_KEYS.items():
        lst = data.get(skey, [])
        if not isinstance(lst, list):
            raise ScenarioError("%s: %s must be a list" % (where, skey))
        built += [build(kind, d, "%s: %s %d" % (where, skey, i), check_spec) for i, d in enumerate(lst)]
    for j in built:
        srv.api_jobs[j.kind][j.id] = j
        n += 1
    return n


def describe(srv, kind_name, want_id, now):
    kinds = [KIND_NAMES[kind_name]] if kind_name else list(ROUTE_KINDS)
    return [j.describe(now) for k in kinds for j in srv.api_jobs[k].values() if want_id is None or j.id == want_id]


def dumps(kind, obj):
    """The bytes of an answer: OpenAI pretty-prints its JSON (two spaces), Anthropic writes it
    compact."""
    if kind == OPENAI:
        return json.dumps(obj, indent=2).encode()
    if kind == ANTHROPIC:
        return json.dumps(obj, separators=(",", ":")).encode()
    return (json.dumps(obj) + "\n").encode()
