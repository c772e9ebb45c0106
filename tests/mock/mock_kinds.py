# SPDX-License-Identifier: MIT
"""mock_kinds.py -- the models behind mock_dify.py's answers: lifecycles, document-indexing
batches and workflow runs (the annotation-reply jobs live in mock_dify.py itself).

Everything here is plain data and arithmetic on time: what a batch's documents or a run look like
at a given moment, as Dify's database would hold them (shared/DIFY.md, "Kind 2" and "Kind 3").
The HTTP side (routes, auth, error bodies, faults) is mock_dify.py's.
"""

import random
import re
import time
import uuid

UUID_RE = re.compile(r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$")

# A document moves through these (api/models/enums.py IndexingStatus); "paused" is set by a
# person and may be resumed; "completed" and "error" end it.
DOC_LIFECYCLE = [["waiting", 0.3], ["parsing", 0.2], ["cleaning", 0.2], ["splitting", 0.2],
                 ["indexing", 0.6], ["completed", None]]
DOC_DONE = ("completed", "error")
# A workflow run: running/paused are not terminal; the four others are.
RUN_LIFECYCLE = [["running", 1.0], ["succeeded", None]]
RUN_TERMINAL = ("succeeded", "failed", "stopped", "partial-succeeded")
RUN_ERROR_SHOWN = ("failed", "stopped", "partial-succeeded")


class ScenarioError(Exception):
    pass


def check_lifecycle(lc, where):
    if not isinstance(lc, list) or not lc:
        raise ScenarioError("%s: lifecycle must be a non-empty list of [status, seconds|null]" % where)
    out = []
    for i, step in enumerate(lc):
        if not (isinstance(step, list) and len(step) == 2 and isinstance(step[0], str)
                and (step[1] is None or (isinstance(step[1], (int, float)) and step[1] >= 0))):
            raise ScenarioError("%s: lifecycle step %d must be [status, seconds|null], got %r" % (where, i, step))
        if step[1] is None and i != len(lc) - 1:
            raise ScenarioError("%s: only the last lifecycle step may last forever (null)" % where)
        out.append((step[0], None if step[1] is None else float(step[1])))
    return out


def walk(lifecycle, t):
    """The steps entered by time t (seconds since created): [(status, entered_at), ...], and
    whether t is past a last step that had a duration.  Empty list: not created yet."""
    if t < 0:
        return [], False
    seen = []
    start = 0.0
    for status, dur in lifecycle:
        seen.append((status, start))
        if dur is None or t < start + dur:
            return seen, False
        start += dur
    return seen, True


def history_then(lifecycle, t, new_steps):
    """The lifecycle so far (the current step cut at t), then new_steps: a change made now keeps
    the timestamps of what already happened."""
    seen, _ = walk(lifecycle, t)
    out = []
    for i, (status, at) in enumerate(seen):
        end = seen[i + 1][1] if i + 1 < len(seen) else max(at, t)
        out.append((status, end - at))
    return out + list(new_steps)


PYDANTIC_DOCS = "https://errors.pydantic.dev/2.11/v/"


def pydantic_repr(v):
    r = repr(v)
    return r if len(r) <= 50 else r[:25] + "..." + r[-24:]      # pydantic-core truncate_input_value


def pydantic_errors(model, data, fields):
    """str(ValidationError) of pydantic v2 for a model of required fields of type float, str
    or dict (lax mode), as Dify's 400 invalid_param carries it; "" when data is valid."""
    if not isinstance(data, dict):
        lines = ["  Input should be a valid dictionary or instance of %s [type=model_type, input_value=%s, "
                 "input_type=%s]" % (model, pydantic_repr(data), type(data).__name__),
                 "    For further information visit %smodel_type" % PYDANTIC_DOCS]
        return "1 validation error for %s\n%s" % (model, "\n".join(lines))
    out = []
    for name, typ in fields:
        if name not in data:
            err = ("Field required", "missing", data)
        else:
            v = data[name]
            err = None
            if typ is float:
                if isinstance(v, str):
                    try:
                        float(v)
                    except ValueError:
                        err = ("Input should be a valid number, unable to parse string as a number",
                               "float_parsing", v)
                elif not isinstance(v, (int, float)):
                    err = ("Input should be a valid number", "float_type", v)
            elif typ is str and not isinstance(v, str):
                err = ("Input should be a valid string", "string_type", v)
            elif typ is dict and not isinstance(v, dict):
                err = ("Input should be a valid dictionary", "dict_type", v)
        if err is not None:
            out.append("%s\n  %s [type=%s, input_value=%s, input_type=%s]\n    For further information visit %s%s"
                       % (name, err[0], err[1], pydantic_repr(err[2]), type(err[2]).__name__, PYDANTIC_DOCS, err[1]))
    if not out:
        return ""
    return "%d validation error%s for %s\n%s" % (len(out), "" if len(out) == 1 else "s", model, "\n".join(out))


def new_batch_id(now=None):
    """Dify's batch: 14 digits of UTC time (%Y%m%d%H%M%S) and 6 random digits."""
    return time.strftime("%Y%m%d%H%M%S", time.gmtime(now)) + "%06d" % random.randrange(10 ** 6)


def check_uuid(v, what, where):
    if not isinstance(v, str) or not UUID_RE.match(v):
        raise ScenarioError("%s: %s must be a UUID, got %r" % (where, what, v))
    return v.lower()


def take_responses(obj, d, where, check_spec):
    resp = d.get("responses", [])
    if not isinstance(resp, list):
        raise ScenarioError("%s: responses must be a list" % where)
    for i, r in enumerate(resp):
        check_spec(r, "%s: response %d" % (where, i))
    obj.responses = resp
    obj.then = d.get("then", "repeat")
    if obj.then not in ("repeat", "lifecycle"):
        raise ScenarioError("%s: then must be repeat or lifecycle" % where)
    obj.resp_idx = 0
    obj.requests = 0


class Scripted:
    """Per-object scripted answers, consumed one per status request (like a job's)."""
    __slots__ = ()

    def next_response(self):
        if not self.responses:
            return None
        if self.resp_idx < len(self.responses):
            spec = self.responses[self.resp_idx]
            self.resp_idx += 1
            return spec
        if self.then == "lifecycle":
            return None
        return self.responses[-1]


# --------------------------------------------------------------------------------------
# Document-indexing batches
# --------------------------------------------------------------------------------------

DATASET_KEYS = {"id", "api_enabled", "gone", "comment"}
DOC_KEYS = {"id", "lifecycle", "error", "error_code", "total_segments", "completed_segments",
            "estimated_vector_space_mb", "vector_space_limit_mb", "created", "comment"}
BATCH_KEYS = {"dataset_id", "batch", "documents", "count", "document", "stagger", "created",
              "responses", "then", "comment"}
# The stamp a step sets when it is left ("_done") or entered.
LEFT_STAMP = {"parsing": "parsing_completed_at", "cleaning": "cleaning_completed_at",
              "splitting": "splitting_completed_at"}
SEGMENTS_KNOWN = ("indexing", "completed")     # segments exist once splitting is done


class Document:
    __slots__ = ("id", "lifecycle", "error", "error_code", "total", "cap", "est", "limit",
                 "created", "wall0")

    def view(self, now):
        """The document as DocumentIndexingStatusApi answers it at monotonic time now."""
        t = now - self.created
        seen, _ = walk(self.lifecycle, t)          # no TTL: the last status stays
        stamps = dict.fromkeys(("processing_started_at", "parsing_completed_at", "cleaning_completed_at",
                                "splitting_completed_at", "completed_at", "paused_at", "stopped_at"))
        status = seen[-1][0] if seen else "waiting"
        split_done = False
        done = 0
        ramped = False
        for i, (st, at) in enumerate(seen):
            wall = int(self.wall0 + at)
            if st not in ("waiting", "paused") and stamps["processing_started_at"] is None:
                stamps["processing_started_at"] = wall
            if i > 0 and seen[i - 1][0] in LEFT_STAMP:
                stamps[LEFT_STAMP[seen[i - 1][0]]] = wall
            if st == "completed":
                stamps["completed_at"] = wall
            elif st == "error":
                stamps["stopped_at"] = wall
            if st in SEGMENTS_KNOWN or (i > 0 and seen[i - 1][0] in ("splitting", "indexing")):
                split_done = True
            if st == "indexing":
                # segments complete evenly over the step; a step without end makes no progress
                dur = self.lifecycle[i][1]
                span = (seen[i + 1][1] if i + 1 < len(seen) else t) - at
                ramped = dur is not None
                done = 0 if dur is None else self.total if span >= dur else int(self.total * span / dur)
            elif st == "completed":
                done = self.total
        if status == "paused":
            stamps["paused_at"] = int(self.wall0 + seen[-1][1])
        if self.cap is not None and status != "completed":
            done = min(done, self.cap) if ramped else self.cap
        total = self.total if split_done else 0
        return {
            "id": self.id,
            "indexing_status": status,
            "processing_started_at": stamps["processing_started_at"],
            "parsing_completed_at": stamps["parsing_completed_at"],
            "cleaning_completed_at": stamps["cleaning_completed_at"],
            "splitting_completed_at": stamps["splitting_completed_at"],
            "completed_at": stamps["completed_at"],
            "paused_at": stamps["paused_at"],
            "stopped_at": stamps["stopped_at"],
            "error": self.error if status == "error" else None,
            "error_code": self.error_code if status == "error" else None,
            "completed_segments": done if split_done else 0,
            "total_segments": total,
            "estimated_vector_space_mb": self.est,
            "vector_space_limit_mb": self.limit,
        }


def build_document(d, where, now, wall, default_lifecycle, offset=0.0):
    if not isinstance(d, dict):
        raise ScenarioError("%s: a document must be an object" % where)
    bad = set(d) - DOC_KEYS
    if bad:
        raise ScenarioError("%s: unknown document keys %s" % (where, sorted(bad)))
    doc = Document()
    doc.id = check_uuid(d["id"], "id", where) if "id" in d else str(uuid.uuid4())
    doc.lifecycle = check_lifecycle(d["lifecycle"], where) if "lifecycle" in d else list(default_lifecycle)
    doc.error = d.get("error")
    doc.error_code = d.get("error_code")
    for k in ("total_segments", "completed_segments"):
        if k in d and not (isinstance(d[k], int) and d[k] >= 0):
            raise ScenarioError("%s: %s must be a count" % (where, k))
    doc.total = d.get("total_segments", 10)
    doc.cap = d.get("completed_segments")
    doc.est = d.get("estimated_vector_space_mb")
    doc.limit = d.get("vector_space_limit_mb")
    created = d.get("created", 0)
    if not isinstance(created, (int, float)):
        raise ScenarioError("%s: created must be a number of seconds" % where)
    doc.created = now + offset + created
    doc.wall0 = wall + offset + created
    return doc


class Batch(Scripted):
    __slots__ = ("dataset_id", "batch", "docs", "responses", "then", "resp_idx", "requests", "gone")

    def body(self, now):
        return {"data": [d.view(now) for d in self.docs]}

    def describe(self, now):
        counts = {}
        for d in self.docs:
            st = d.view(now)["indexing_status"]
            counts[st] = counts.get(st, 0) + 1
        return {"dataset_id": self.dataset_id, "batch": self.batch, "documents": len(self.docs),
                "statuses": counts, "gone": self.gone, "requests": self.requests,
                "responses_used": self.resp_idx, "document_ids": [d.id for d in self.docs]}


def build_batch(d, where, default_lifecycle, check_spec, batch_id=None):
    """A batch: {"dataset_id", "batch"?, "documents": [doc...]} or {"count": N, "document": doc,
    "stagger": S} (document i starts i*S later), "created", "responses", "then"."""
    if not isinstance(d, dict):
        raise ScenarioError("%s: a batch must be an object" % where)
    bad = set(d) - BATCH_KEYS
    if bad:
        raise ScenarioError("%s: unknown batch keys %s" % (where, sorted(bad)))
    now, wall = time.monotonic(), time.time()
    b = Batch()
    b.dataset_id = check_uuid(d.get("dataset_id"), "dataset_id", where)
    b.batch = d.get("batch") or batch_id or new_batch_id()
    if not isinstance(b.batch, str) or "/" in b.batch:
        raise ScenarioError("%s: batch must be a string without '/'" % where)
    created = d.get("created", 0)
    if not isinstance(created, (int, float)):
        raise ScenarioError("%s: created must be a number of seconds" % where)
    if "documents" in d:
        docs = d["documents"]
        if not isinstance(docs, list) or not docs:
            raise ScenarioError("%s: documents must be a non-empty list" % where)
        b.docs = [build_document(x, "%s: document %d" % (where, i), now, wall, default_lifecycle, created)
                  for i, x in enumerate(docs)]
    else:
        n = d.get("count", 1)
        if not isinstance(n, int) or not 1 <= n <= 1000:
            raise ScenarioError("%s: count must be 1 to 1000 (Dify's batch limit)" % where)
        tmpl = d.get("document", {})
        if isinstance(tmpl, dict) and "id" in tmpl:
            raise ScenarioError("%s: a document template has no id" % where)
        stagger = float(d.get("stagger", 0))
        b.docs = [build_document(tmpl, "%s: document" % where, now, wall, default_lifecycle, created + i * stagger)
                  for i in range(n)]
    take_responses(b, d, where, check_spec)
    b.gone = False
    return b


def set_batch_docs(b, d, now):
    """POST /_mock/set-batch on one batch: gone, or documents (all, or document_ids) changed now."""
    ids = d.get("document_ids")
    if ids is not None:
        ids = {str(i).lower() for i in ids}
    if "gone" in d:
        b.gone = bool(d["gone"])
    for doc in b.docs:
        if ids is not None and doc.id not in ids:
            continue
        if "lifecycle" in d:
            steps = check_lifecycle(d["lifecycle"], "set-batch")
        elif "status" in d:
            steps = [(str(d["status"]), None)]
        else:
            steps = None
        if steps is not None:
            doc.lifecycle = history_then(doc.lifecycle, now - doc.created, steps)
        for k, attr in (("error", "error"), ("error_code", "error_code"), ("total_segments", "total"),
                        ("completed_segments", "cap")):
            if k in d:
                setattr(doc, attr, d[k])


# --------------------------------------------------------------------------------------
# Workflow runs
# --------------------------------------------------------------------------------------

RUN_KEYS = {"run_id", "app", "workflow_id", "lifecycle", "inputs", "outputs", "error", "total_steps",
            "total_tokens", "created", "responses", "then", "comment"}


class Run(Scripted):
    __slots__ = ("run_id", "app", "workflow_id", "lifecycle", "inputs", "outputs", "error", "steps",
                 "tokens", "created", "wall0", "responses", "then", "resp_idx", "requests")

    def view(self, now):
        """The run as WorkflowRunDetailApi answers it, or None: "Workflow run not found."."""
        t = now - self.created
        seen, past_end = walk(self.lifecycle, t)
        if not seen or past_end or seen[-1][0] == "gone":
            return None
        status, at = seen[-1]
        done = status in RUN_TERMINAL
        return {
            "id": self.run_id,
            "workflow_id": self.workflow_id,
            "status": status,
            "inputs": self.inputs,
            "outputs": self.outputs if done else {},
            "error": self.error if status in RUN_ERROR_SHOWN and self.error is not None else None,
            "total_steps": self.steps if done else 0,
            "total_tokens": self.tokens if done else 0,
            "created_at": int(self.wall0),
            "finished_at": int(self.wall0 + at) if done else None,
            "elapsed_time": round(at, 6) if done else 0.0,
        }

    def terminal_at(self):
        """Monotonic time at which the run reaches a terminal status, or None: never."""
        start = 0.0
        for status, dur in self.lifecycle:
            if status in RUN_TERMINAL:
                return self.created + start
            if dur is None:
                return None
            start += dur
        return None

    def describe(self, now):
        v = self.view(now)
        return {"run_id": self.run_id, "app": self.app, "status_now": v["status"] if v else None,
                "requests": self.requests, "responses_used": self.resp_idx}


def build_run(d, where, default_lifecycle, check_spec, app_default, run_id=None):
    if not isinstance(d, dict):
        raise ScenarioError("%s: a run must be an object" % where)
    bad = set(d) - RUN_KEYS
    if bad:
        raise ScenarioError("%s: unknown run keys %s" % (where, sorted(bad)))
    r = Run()
    r.run_id = check_uuid(d["run_id"], "run_id", where) if "run_id" in d else (run_id or str(uuid.uuid4()))
    r.app = d.get("app", app_default)
    r.workflow_id = check_uuid(d["workflow_id"], "workflow_id", where) if "workflow_id" in d \
        else str(uuid.uuid5(uuid.NAMESPACE_URL, "mock-workflow:" + r.app))
    r.lifecycle = check_lifecycle(d["lifecycle"], where) if "lifecycle" in d else list(default_lifecycle)
    r.inputs = d.get("inputs", {})
    r.outputs = d.get("outputs", {})
    r.error = d.get("error")
    if r.error is not None and not isinstance(r.error, str):
        raise ScenarioError("%s: error must be a string or null" % where)
    r.steps = int(d.get("total_steps", 3))
    r.tokens = int(d.get("total_tokens", 0))
    created = d.get("created", 0)
    if not isinstance(created, (int, float)):
        raise ScenarioError("%s: created must be a number of seconds" % where)
    r.created = time.monotonic() + created
    r.wall0 = time.time() + created
    take_responses(r, d, where, check_spec)
    return r


def set_run(r, d, now):
    if d.get("gone"):
        r.lifecycle = history_then(r.lifecycle, now - r.created, [("gone", None)])
    elif "lifecycle" in d:
        r.lifecycle = history_then(r.lifecycle, now - r.created, check_lifecycle(d["lifecycle"], "set-run"))
    elif "status" in d:
        r.lifecycle = history_then(r.lifecycle, now - r.created, [(str(d["status"]), None)])
    for k, attr in (("outputs", "outputs"), ("error", "error"), ("inputs", "inputs"),
                    ("total_steps", "steps"), ("total_tokens", "tokens")):
        if k in d:
            setattr(r, attr, d[k])


# ---- things: a tiny non-Dify job API for jobs of a [Kind:NAME] -----------------------------
# GET {prefix}/things/{id} answers {"id": ..., "status": WORD} (plus {"error": {"message": ...}}
# when the thing has an error), the word being the one its lifecycle has reached; an unknown
# id, or one whose lifecycle has reached "gone", is a 404 {"error": "no such thing"}.  The broad
# OpenAI-batch-shaped API is mock_jobapi.py's.

THING_KEYS = {"id", "lifecycle", "error", "created", "body"}


class Thing:
    __slots__ = ("thing_id", "lifecycle", "error", "created", "body")

    def view(self, now):
        """The answer's body, or None: no such thing (404).  A thing given a "body" answers it
        as it is, always (a status that is a number, an object, ...)."""
        if self.body is not None:
            return self.body
        seen, _ = walk(self.lifecycle, now - self.created)
        if not seen or seen[-1][0] == "gone":
            return None
        body = {"id": self.thing_id, "status": seen[-1][0]}
        if self.error is not None:
            body["error"] = {"message": self.error}
        return body


def build_thing(d, where):
    if not isinstance(d, dict) or set(d) - THING_KEYS or not isinstance(d.get("id"), str) or not d["id"]:
        raise ScenarioError("%s: a thing is an object with id (a string) and %s" % (where, sorted(THING_KEYS - {"id"})))
    t = Thing()
    t.thing_id = d["id"]
    t.lifecycle = check_lifecycle(d.get("lifecycle", [["queued", 0.3], ["running", 0.6], ["done", None]]), where)
    t.error = d.get("error")
    if t.error is not None and not isinstance(t.error, str):
        raise ScenarioError("%s: error must be a string or null" % where)
    t.created = time.monotonic() + float(d.get("created", 0))
    t.body = d.get("body")
    return t
