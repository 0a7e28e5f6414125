"""Review rules: the cost of a span in the pure path, dropped by sampling vs kept, 2 KB prompts.

OTLP requests are parsed from their wire bytes first (not timed, as in ``mapping``); then each
request's spans are viewed and decided. A span dropped by sampling costs the view and the
decision only; a kept one is also mapped, admitted (folding, limit) and made into a task. The
rules are the issue's example (failures, a slow-model rule with a limit, a catch-all), with the
catch-all sampling 0 (every span dropped), 1 (every span kept), or 0.01.

Times are the measuring thread's CPU time (``time.thread_time``), best of five: on a machine
shared with other work, wall-clock time would charge a span for the time others ran.
"""

from __future__ import annotations

import json
import time
from typing import Sequence

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from bench.common import otlp_request
from otel_label_studio.modes.layouts import layout_for
from otel_label_studio.reading import dialects
from otel_label_studio.reading.mapping import Mapper
from otel_label_studio.reading.spanview import from_otlp
from otel_label_studio.rules import MemoryReviewState, ReviewGate, parse

PROMPT_BYTES = 2048
ROUNDS = 5  # best of five
PREFIX = "traceloop.association.properties"
RULES = """\
rules:
  - name: failures
    match: {{status: error}}
  - name: slow-gpt4o
    match: {{model: "gpt-4o*", latency_ms: ">2000", service.name: [checkout, search]}}
    sample: 0.5
    limit: 200/day
    project: "Slow-%Y-%m"
  - name: everything-else
    sample: {sample}
fold_duplicates: 24h
"""


def _distinct(request: ExportTraceServiceRequest) -> bytes:
    """Each span its own response, so folding does not fold the kept path away."""
    for number, span in enumerate(request.resource_spans[0].scope_spans[0].spans):
        for attribute in span.attributes:
            if attribute.key == "gen_ai.output.messages":
                messages = json.loads(attribute.value.string_value)
                messages[0]["parts"][0]["content"] += f" #{number}"
                attribute.value.string_value = json.dumps(messages)
    return request.SerializeToString()


def _requests(bodies: Sequence[bytes]) -> list[ExportTraceServiceRequest]:
    return [ExportTraceServiceRequest.FromString(body) for body in bodies]


def _without_rules(requests: Sequence[ExportTraceServiceRequest]) -> tuple[float, int]:
    layout = layout_for("prompt", None)
    mapper = Mapper(metadata_prefix=PREFIX, include_errors=False)
    started = time.thread_time()
    made = 0
    for request in requests:
        made += len([layout.task(record) for record in mapper.map(from_otlp(request)).records])
    return time.thread_time() - started, made


def _with_rules(requests: Sequence[ExportTraceServiceRequest], sample: float) -> tuple[float, int]:
    """View, decide; for a kept span map, admit and build the task, as the wiring will."""
    layout = layout_for("prompt", None)
    mapper = Mapper(metadata_prefix=PREFIX, include_errors=False)
    gate = ReviewGate(
        parse(RULES.format(sample=sample)),
        MemoryReviewState(),
        metadata_prefix=PREFIX,
        default_project="LangChain-%Y-%m-%d",
    )
    dialect_for = dialects.dialect_for
    started = time.thread_time()
    made = 0
    for request in requests:
        for view in from_otlp(request, lazy=True):  # as serve views spans when rules decide
            dialect = dialect_for(view)
            if dialect is None:
                continue
            decision = gate.decide(view, dialect.name)
            if not decision.keep:
                continue
            for record in mapper.map([view]).records:
                if gate.admit(decision, record):
                    layout.task(record)
                    made += 1
        gate.commit()
    return time.thread_time() - started, made


def _views_only(requests: Sequence[ExportTraceServiceRequest]) -> float:
    started = time.thread_time()
    for request in requests:
        for _ in from_otlp(request):
            pass
    return time.thread_time() - started


def _best_us(measure, count: int, bodies: Sequence[bytes]) -> tuple[float, int]:  # type: ignore[no-untyped-def]
    best = float("inf")
    made = 0
    for _ in range(ROUNDS):
        requests = _requests(bodies)
        elapsed, made = measure(requests)
        best = min(best, elapsed)
    return round(best / count * 1e6, 1), made


def run(quick: bool) -> dict:
    count = 2_000 if quick else 10_000
    per_request = 100
    seeds = range(count // per_request)
    bodies = [_distinct(otlp_request(per_request, PROMPT_BYTES, seed=seed)) for seed in seeds]
    count = per_request * len(bodies)
    rows = []
    view_best = min(_views_only(_requests(bodies)) for _ in range(ROUNDS))
    rows.append({"path": "span view only", "us_per_span": round(view_best / count * 1e6, 1), "tasks": "-"})
    us, made = _best_us(_without_rules, count, bodies)
    rows.append({"path": "no rules file (today): map + task", "us_per_span": us, "tasks": made})
    dropped, made_dropped = _best_us(lambda r: _with_rules(r, 0.0), count, bodies)
    assert made_dropped == 0, made_dropped
    rows.append({"path": "rules: dropped by sampling", "us_per_span": dropped, "tasks": 0})
    kept, made_kept = _best_us(lambda r: _with_rules(r, 1.0), count, bodies)
    rows.append({"path": "rules: kept (decide, map, admit, task)", "us_per_span": kept, "tasks": made_kept})
    one_percent, made_one = _best_us(lambda r: _with_rules(r, 0.01), count, bodies)
    rows.append({"path": "rules: catch-all sampling 1%", "us_per_span": one_percent, "tasks": made_one})
    return {
        "rows": rows,
        "spans": count,
        "prompt_bytes": PROMPT_BYTES,
        "dropped_us_per_span": dropped,
        "kept_us_per_span": kept,
    }
