"""Judge results as ``gen_ai.evaluation.result`` log records, emitted through a real OpenTelemetry
LoggerProvider (to the in-process ``label_studio`` logs exporter, or the OTLP logs exporter to
serve), and reading the judge predictions they become."""

from __future__ import annotations

import time
from importlib.metadata import entry_points
from typing import Any

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcLogExporter
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpLogExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import LogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from otel_label_studio import LabelStudioSpanExporter
from otel_label_studio.judges.judge import judge_results
from tests.support import sidecar

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
    """The judge results on a task that has a ``judge:<name>`` prediction, by its model_version: what the
    task says of each judge (``judge.judge_results``: its ``meta.evaluations``, else the predictions)."""
    task = ls.tasks.get(str(task_id))
    predictions = [p.model_dump() for p in task.predictions or []]
    found = judge_results(predictions, (task.meta or {}).get("evaluations") or ())
    versions = {str(p.get("model_version")) for p in predictions}
    return {f"judge:{name}": result for name, result in found.items() if f"judge:{name}" in versions}


def wait_for_judges(ls: Any, task_id: int, names: set[str], timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    found: dict[str, Any] = {}
    while time.monotonic() < deadline:
        found = judges_on(ls, task_id)
        if names <= set(found):
            return found
        time.sleep(0.2)
    raise AssertionError(f"task {task_id} has judge predictions {sorted(found)}, expected {sorted(names)}")


def logs_exporter(span_exporter: LabelStudioSpanExporter) -> Any:
    """The ``label_studio`` logs exporter as OTEL_LOGS_EXPORTER=label_studio loads it, given its span
    exporter (as the configurator gives it, distro.py)."""
    (point,) = entry_points(group="opentelemetry_logs_exporter", name="label_studio")
    return point.load()(span_exporter=span_exporter)


def otlp_logger(side: sidecar.Sidecar, transport: str) -> tuple[Any, Any]:
    """A LoggerProvider with the real OTLP log exporter to serve."""
    exporter = (
        GrpcLogExporter(endpoint=side.grpc_target, insecure=True, headers=tuple(side.auth().items()))
        if transport == "grpc"
        else HttpLogExporter(endpoint=f"{side.http_url}/v1/logs", headers=side.auth())
    )
    return judge_logger(exporter)
