"""What ``opentelemetry-instrument`` loads from this package: a distro with the right defaults.

``opentelemetry-distro`` defaults the traces, metrics and logs exporters to ``otlp``: with no
OTLP exporter installed, the SDK raises at start and the app runs untraced; with one installed,
metrics go to ``localhost:4317`` whether a Collector listens there or not. Here traces go to
Label Studio unless ``OTEL_TRACES_EXPORTER`` says otherwise, and metrics and logs go nowhere
unless ``OTEL_METRICS_EXPORTER`` / ``OTEL_LOGS_EXPORTER`` ask for them. The configurator is the
SDK's own, exactly as ``opentelemetry-distro`` registers it, plus one wire: with
``OTEL_LOGS_EXPORTER=label_studio`` the logs exporter it makes is handed the ``label_studio`` span
exporter made in the same configuration, whose tasks its judge results join (``judge_logs.py``).
"""

from __future__ import annotations

import os
from typing import Any

from opentelemetry.environment_variables import (
    OTEL_LOGS_EXPORTER,
    OTEL_METRICS_EXPORTER,
    OTEL_TRACES_EXPORTER,
)
from opentelemetry.instrumentation.distro import BaseDistro  # type: ignore[attr-defined]  # an untyped module
from opentelemetry.sdk._configuration import _OTelSDKConfigurator
from opentelemetry.sdk._logs import LogRecordProcessor
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogRecordExporter
from opentelemetry.sdk.trace import SpanProcessor
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

DEFAULTS = {
    OTEL_TRACES_EXPORTER: "label_studio",
    OTEL_METRICS_EXPORTER: "none",
    OTEL_LOGS_EXPORTER: "none",
}


class Pairing:
    """Sees each exporter as the SDK wraps it in its processor (the SDK makes traces before logs):
    the ``label_studio`` logs exporters are paired with the ``label_studio`` span exporter. Told apart
    by what they offer (``judge_sink``, ``pair``), not by class: this module is loaded by every
    ``opentelemetry-instrument`` run, and importing the exporters here would slow each one."""

    def __init__(self, span_processor: Any = None, log_record_processor: Any = None):
        self._span_processor = span_processor or BatchSpanProcessor
        self._log_record_processor = log_record_processor or BatchLogRecordProcessor
        self.span_exporter: SpanExporter | None = None

    def span(self, exporter: SpanExporter) -> SpanProcessor:
        if callable(getattr(exporter, "judge_sink", None)):
            self.span_exporter = exporter
        return self._span_processor(exporter)

    def log_record(self, exporter: LogRecordExporter) -> LogRecordProcessor:
        pair = getattr(exporter, "pair", None)
        if callable(pair) and self.span_exporter is not None:
            pair(self.span_exporter)
        return self._log_record_processor(exporter)


class LabelStudioConfigurator(_OTelSDKConfigurator):
    def _configure(self, **kwargs: Any) -> None:
        pairing = Pairing(kwargs.get("export_span_processor"), kwargs.get("export_log_record_processor"))
        kwargs["export_span_processor"] = pairing.span
        kwargs["export_log_record_processor"] = pairing.log_record
        super()._configure(**kwargs)


class LabelStudioDistro(BaseDistro):
    def _configure(self, **kwargs: Any) -> None:
        for name, value in DEFAULTS.items():
            if not os.environ.get(name):  # an empty variable counts as unset
                os.environ[name] = value
