"""Judge results as OTLP log records, the way the GenAI conventions define them and a real
OpenTelemetry SDK writes them: a ``gen_ai.evaluation.result`` event whose trace and span ids are
the evaluated span's (or with ``gen_ai.response.id`` where there is no span)."""

from __future__ import annotations

from typing import Any, Sequence

from opentelemetry._logs import LogRecord
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.sdk._logs import LoggerProvider, ReadableLogRecord
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, set_span_in_context

EVENT = "gen_ai.evaluation.result"
HELPFUL = {
    "gen_ai.evaluation.name": "helpfulness",
    "gen_ai.evaluation.score.value": 0.75,
    "gen_ai.evaluation.score.label": "helpful",
    "gen_ai.evaluation.explanation": "answers the question",
}


def span_context(trace_id: int, span_id: int) -> SpanContext:
    return SpanContext(trace_id, span_id, is_remote=False, trace_flags=TraceFlags(1))


def log_records(
    entries: Sequence[tuple[SpanContext | None, dict[str, Any]]],
    *,
    event_name: str | None = EVENT,
    body: Any = None,
) -> list[ReadableLogRecord]:
    """One log record per (evaluated span or None, attributes), emitted through the SDK's Logs
    API. ``event_name=None`` writes no event_name field (older senders, plain logs)."""
    memory = InMemoryLogRecordExporter()
    provider = LoggerProvider(resource=Resource.create({"service.name": "judge"}))
    provider.add_log_record_processor(SimpleLogRecordProcessor(memory))
    logger = provider.get_logger("judge-tests")
    for context, attributes in entries:
        parent = set_span_in_context(NonRecordingSpan(context)) if context is not None else None
        logger.emit(LogRecord(event_name=event_name, context=parent, attributes=attributes, body=body))
    provider.shutdown()
    return list(memory.get_finished_logs())


def logs_request(
    entries: Sequence[tuple[SpanContext | None, dict[str, Any]]], **options: Any
) -> ExportLogsServiceRequest:
    """The ``ExportLogsServiceRequest`` the OTLP log exporters would send for these records."""
    return encode_logs(log_records(entries, **options))
