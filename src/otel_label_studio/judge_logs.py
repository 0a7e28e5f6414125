"""``LabelStudioLogExporter``: judge results emitted in-process as log records, to their tasks.

The companion of ``LabelStudioSpanExporter`` for ``OTEL_LOGS_EXPORTER=label_studio`` (the
``opentelemetry_logs_exporter`` entry point): it reads the ``gen_ai.evaluation.result`` log
records (``event_name``, or the attribute ``event.name``) and hands each to its span exporter's
judge join, which adds a ``judge:<name>`` prediction to the evaluated span's task, now or once the
task exists. Every other log record is ignored.

Its span exporter is given, never looked up: in code, ``LabelStudioLogExporter(span_exporter=...)``;
under ``opentelemetry-instrument`` the configurator pairs the two it made (``distro.py``). With no
span exporter (only the logs exporter configured), or one shut down, the results are dropped and
counted, and a WARNING says so once.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult

from .reading.evaluations import EVENT_NAME, JudgeEvent, read_evaluations
from .reading.spanview import EventView
from .store.queue import QueueFull

if TYPE_CHECKING:
    from .exporter import LabelStudioSpanExporter

_logger = logging.getLogger(__name__)

RESPONSE_ID = "gen_ai.response.id"


def judge_event(
    event_name: str | None,
    attributes: Mapping[str, Any],
    trace_id: int,
    span_id: int,
    observed_ns: int,
) -> JudgeEvent | None:
    """The judge result a log record carries; None for any other record, or one that names no
    evaluation, no span and no response (pure)."""
    if (event_name or attributes.get("event.name")) != EVENT_NAME:
        return None
    found = read_evaluations([EventView(EVENT_NAME, 0, attributes)])
    if not found:
        return None
    raw_response = attributes.get(RESPONSE_ID)
    response_id = str(raw_response) if raw_response else None
    span = f"{span_id:016x}" if span_id else ""
    if not span and not response_id:
        return None
    trace = f"{trace_id:032x}" if trace_id else ""
    return JudgeEvent(trace, span, response_id, found[0], observed_ns)


class LabelStudioLogExporter(LogRecordExporter):
    """Judge results to the tasks of ``span_exporter``; ``export`` never raises into the app."""

    def __init__(self, span_exporter: LabelStudioSpanExporter | None = None, **_ignored: Any):
        self._partner = span_exporter
        self._warned = False
        self.dropped = 0  # results with no join to take them, or refused by a full spool

    def pair(self, span_exporter: LabelStudioSpanExporter) -> None:
        """From now on results go to ``span_exporter``'s tasks (the configurator's wire)."""
        self._partner = span_exporter

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        try:
            return self._export(batch)
        except Exception:  # never into the app
            _logger.exception("Unexpected error while exporting judge results to Label Studio")
            return LogRecordExportResult.FAILURE

    def _export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        now = time.time_ns()
        events = []
        for readable in batch:
            record = readable.log_record
            event = judge_event(
                getattr(record, "event_name", None),
                dict(record.attributes or {}),
                record.trace_id or 0,
                record.span_id or 0,
                now,
            )
            if event is not None:
                events.append(event)
        if not events:
            return LogRecordExportResult.SUCCESS
        join = self._partner.judge_sink() if self._partner is not None else None
        if join is None:
            self.dropped += len(events)
            if not self._warned:
                self._warned = True
                _logger.warning(
                    "OTEL_LOGS_EXPORTER=label_studio: no Label Studio span exporter in this process was "
                    "paired with it (or it was shut down), so judge results have no tasks to join and "
                    "are dropped (%d so far). Set "
                    "OTEL_TRACES_EXPORTER=label_studio too (and OTEL_PYTHON_CONFIGURATOR=label_studio when "
                    "another distro is installed), or in code pass "
                    "LabelStudioLogExporter(span_exporter=<your LabelStudioSpanExporter>).",
                    self.dropped,
                )
            return LogRecordExportResult.FAILURE
        try:
            join.accept(events)
        except QueueFull as full:  # the app cannot retry: dropped, and counted
            join.refused(len(events))
            self.dropped += len(events)
            _logger.warning("Label Studio spool is full (%s): %d judge results dropped", full, len(events))
            return LogRecordExportResult.FAILURE
        return LogRecordExportResult.SUCCESS

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True

    def shutdown(self) -> None:
        pass
