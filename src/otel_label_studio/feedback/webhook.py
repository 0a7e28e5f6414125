"""A Label Studio webhook body -> what it claims: which annotations, on which tasks (pure, no I/O).

A webhook is a claim, not the truth: the feedback loop confirms each claim in Label Studio
(``confirm.py``) and builds its events from Label Studio's own copy of the task and annotation.
So only what names them is kept from the body: the action, the annotation ids, their task ids,
the project id and the span the task says it carries (its trace and span ids), to be compared
with Label Studio's copy. Everything else (the task's text, the annotation's result) is dropped
with the parsed document.

The body is parsed once, from the buffer it was received into, and what a parse would copy is
taken out first: orjson (yyjson) copies its input and then makes each string a Python object, so a
body of 60 MB of task text would be held three times. In a body over ``SMALL_BODY_BYTES`` the
content of every string longer than ``LONG_STRING_BYTES`` is cut out in place (``"..."`` becomes
``""``; nothing the claims need is that long), after a count of its quotes (more than
``MAX_STRINGS`` strings is a 413). Then what it would decode into is counted: ``{`` and ``[`` (a dict
or list each) and ``,`` (a value each), at C speed; a body that would decode into more than
``DECODE_BUDGET_BYTES`` of objects is refused (413) before it is parsed, and malformed JSON,
nesting deeper than orjson's 1024 levels included, is a 400.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping

import orjson

from .events import ANNOTATION_ACTIONS, is_hex_id

MAX_ANNOTATIONS = 100
"""Most annotations one webhook may name: each is confirmed in Label Studio, one request each."""

DECODE_BUDGET_BYTES = 64 * 1024 * 1024
"""Most memory the objects parsed from one webhook body may take, as estimated before parsing."""

SMALL_BODY_BYTES = 1024 * 1024
"""Bodies up to this size are parsed as they are (three copies of 1 MiB are nothing to bound)."""

LONG_STRING_BYTES = 4096
"""Strings longer than this (task text, a reviewer's answer) are cut out of a larger body before
it is parsed: ids, actions and names are far shorter."""

MAX_STRINGS = 200_000
"""Most strings a body over ``SMALL_BODY_BYTES`` may hold (an annotation webhook holds hundreds)."""

_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+"')  # a JSON string literal, escapes included

CONTAINER_COST_BYTES = 320  # a dict or list orjson makes, with what it holds (measured: 64-232 B)
VALUE_COST_BYTES = 64  # one ``,``-separated value (a small str is 50 B and up)
MAX_DEPTH = 1024  # orjson's own limit on nesting
DEPTH_PROBE_BYTES = 64 * 1024  # a body over the budget is parsed this far to tell deep nesting apart


class WebhookRefused(Exception):
    """A webhook the feedback loop will not act on: ``status`` is the HTTP answer (400 malformed,
    413 too large, 422 not confirmed by Label Studio, 503 Label Studio could not be asked, with
    ``retry_after``)."""

    def __init__(self, status: int, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after = retry_after


@dataclass(frozen=True)
class Claim:
    """One annotation a webhook names, and what it says about its task."""

    annotation_id: int
    task_id: int | None  # the annotation's task, as the body says
    project_id: int | None  # the project, as the body says
    span: tuple[tuple[str, str], ...] = ()  # (field, value): the ids the body's task carries


@dataclass(frozen=True)
class Claims:
    action: str
    items: tuple[Claim, ...] = ()


def read_claims(body: bytes | bytearray) -> Claims:
    """The claims of one webhook body; ``WebhookRefused`` (400, 413) when it cannot be read.
    An action other than an annotation's created or updated claims nothing. A ``bytearray`` is
    changed in place (its long strings cut out)."""
    if len(body) > SMALL_BODY_BYTES:
        if not isinstance(body, bytearray):
            body = bytearray(body)
        _cut_long_strings(body)
    _check_size(body)
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise WebhookRefused(400, f"malformed JSON: {exc}") from None
    if not isinstance(document, dict):
        raise WebhookRefused(400, "a webhook payload is a JSON object")
    action = document.get("action")
    if action not in ANNOTATION_ACTIONS:
        return Claims(str(action)[:100])
    return Claims(action, _claims(document))


def _cut_long_strings(body: bytearray) -> None:
    """Empty, in place, every string literal of ``body`` longer than ``LONG_STRING_BYTES``."""
    if body.count(b'"') - body.count(b'\\"') > 2 * MAX_STRINGS:  # escaped quotes are in strings
        raise WebhookRefused(
            413, f"more than {MAX_STRINGS} strings in the webhook; an annotation webhook holds hundreds"
        )
    long = [
        (found.start() + 1, found.end() - 1)
        for found in _STRING.finditer(body)
        if found.end() - found.start() > LONG_STRING_BYTES + 2
    ]
    for start, end in reversed(long):
        del body[start:end]  # the rest moves down in place; the buffer shrinks


def _check_size(body: bytes | bytearray) -> None:
    containers = body.count(b"{") + body.count(b"[")
    estimate = containers * CONTAINER_COST_BYTES + body.count(b",") * VALUE_COST_BYTES
    if estimate <= DECODE_BUDGET_BYTES:
        return  # orjson refuses deeper nesting itself
    if _nested_too_deeply(bytes(body[:DEPTH_PROBE_BYTES])):
        raise WebhookRefused(400, f"malformed JSON: nested deeper than {MAX_DEPTH} levels")
    raise WebhookRefused(
        413,
        f"the webhook would decode into more than {DECODE_BUDGET_BYTES >> 20} MiB of JSON values; "
        "a Label Studio annotation webhook holds one annotation and its task",
    )


def _nested_too_deeply(head: bytes) -> bool:
    """Whether the body's first bytes already nest past orjson's limit (``[[[[…``: malformed, a
    400, rather than too large; nesting that starts later is refused as too large)."""
    try:
        orjson.loads(head)
    except orjson.JSONDecodeError as exc:
        return str(exc).startswith("depth limit exceeded")
    return False


def _claims(document: Mapping[str, Any]) -> tuple[Claim, ...]:
    annotations = document.get("annotation")
    if annotations is None:
        annotations = document.get("annotations")
    if isinstance(annotations, Mapping):
        annotations = [annotations]
    if not isinstance(annotations, list) or not annotations:
        raise WebhookRefused(400, "an annotation webhook names its annotation ('annotation': {id, task})")
    if len(annotations) > MAX_ANNOTATIONS:
        raise WebhookRefused(413, f"more than {MAX_ANNOTATIONS} annotations in one webhook")
    tasks = document.get("task")
    by_id = {
        task.get("id"): task
        for task in (tasks if isinstance(tasks, list) else [tasks])
        if isinstance(task, Mapping) and _int(task.get("id")) is not None
    }
    single = next(iter(by_id.values())) if len(by_id) == 1 else None
    project = document.get("project")
    project_id = _int(project.get("id")) if isinstance(project, Mapping) else None
    found = []
    for annotation in annotations:
        annotation_id = _int(annotation.get("id")) if isinstance(annotation, Mapping) else None
        if annotation_id is None:
            raise WebhookRefused(400, "an annotation in the webhook has no id")
        task_id = _int(annotation.get("task"))
        task = by_id.get(task_id) if task_id is not None else single
        if task_id is None and task is not None:
            task_id = _int(task.get("id"))
        found.append(Claim(annotation_id, task_id, project_id, span_of(task) if task else ()))
    return tuple(found)


def span_of(task: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    """The span a task says it carries: its trace and span ids (data), the pair's two spans
    (meta.pair) and a run's step spans (meta.steps), as (field, value) pairs; only what it has."""
    data = task.get("data")
    data = data if isinstance(data, Mapping) else {}
    meta = task.get("meta")
    meta = meta if isinstance(meta, Mapping) else {}
    found = [
        (name, str(data[name])) for name in ("trace_id", "span_id", "pair_id") if data.get(name) is not None
    ]
    pair = meta.get("pair")
    if isinstance(pair, Mapping):
        for side in ("a", "b"):
            value = pair.get(side)
            if isinstance(value, Mapping) and value.get("span_id") is not None:
                found.append((f"pair.{side}", str(value["span_id"])))
    steps = meta.get("steps")
    if isinstance(steps, list):
        found.extend(
            (f"steps.{n}", str(step.get("span_id")))
            for n, step in enumerate(steps)
            if isinstance(step, Mapping) and step.get("span_id") is not None
        )
    return tuple(found)


def carries_a_span(task: Mapping[str, Any]) -> bool:
    """Whether a task names the span of a trace (a task the bridge made)."""
    span = dict(span_of(task))
    if not is_hex_id(span.get("trace_id", ""), 32):
        return False
    return is_hex_id(span.get("span_id", ""), 16) or is_hex_id(span.get("pair.a", ""), 16)


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit() and len(value) < 20:
        return int(value)
    return None
