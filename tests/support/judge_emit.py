"""Judge results as ``gen_ai.evaluation.result`` log records, emitted through a real OpenTelemetry
LoggerProvider (to the in-process ``label_studio`` logs exporter, or the OTLP logs exporter to
serve), and reading the judge predictions they become."""

from __future__ import annotations

import time
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import LogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from otel_label_studio.judges.judge import read_judge

EVENT = "gen_ai.evaluation.result"


def judge_logger(exporter: LogRecordExporter) -> tuple[LoggerProvider, Any]:
    """A LoggerProvider sending each record at once to ``exporter``, and a logger of it."""
    provider = LoggerProvider(resource=Resource.create({"service.name": "judge"}))
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    return provider, provider.get_logger("judge-tests")


def evaluation(name: str, score: float, *, label: str | None = None, explanation: str | None = None) -> dict:
    attributes: dict[str, Any] = {"gen_ai.evaluation.name": name, "gen_ai.evaluation.score.value": score}
    if label:
        attributes["gen_ai.evaluation.score.label"] = label
    if explanation:
        attributes["gen_ai.evaluation.explanation"] = explanation
    return attributes


def emit(logger: Any, attributes: dict, *, span: Any = None, trace_id: str = "", span_id: str = "") -> None:
    """One evaluation record about ``span`` (a live span) or the span with these hex ids."""
    if span is None and trace_id:
        span = NonRecordingSpan(
            SpanContext(int(trace_id, 16), int(span_id, 16), is_remote=True, trace_flags=TraceFlags(1))
        )
    context = trace.set_span_in_context(span) if span is not None else None
    logger.emit(event_name=EVENT, attributes=attributes, context=context)


def judges_on(ls: Any, task_id: int) -> dict[str, Any]:
    """The judge results on a task, by prediction model_version."""
    predictions = ls.tasks.get(str(task_id)).predictions or []
    return {
        p.model_version: read_judge(p.model_dump())
        for p in predictions
        if str(p.model_version).startswith("judge:")
    }


def wait_for_judges(ls: Any, task_id: int, names: set[str], timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    found: dict[str, Any] = {}
    while time.monotonic() < deadline:
        found = judges_on(ls, task_id)
        if names <= set(found):
            return found
        time.sleep(0.2)
    raise AssertionError(f"task {task_id} has judge predictions {sorted(found)}, expected {sorted(names)}")
