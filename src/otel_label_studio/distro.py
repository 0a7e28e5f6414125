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

import logging
import os
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Iterable, NamedTuple

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

_logger = logging.getLogger(__name__)

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


class LeftOff(NamedTuple):
    """A LangChain instrumentor ``opentelemetry-instrument`` leaves off here: its distribution
    declares a package it instruments (``langchain``, not ``langchain-core``) that is not installed
    (or not in the versions it takes)."""

    distribution: str
    package: str  # what to install
    found: str | None  # the version installed, when it is one the instrumentor does not take

    def what(self) -> str:
        have = f"{self.found} is installed" if self.found else "it is not installed"
        return (
            f"{self.distribution} is installed, but opentelemetry-instrument leaves it off: it instruments "
            f"the {self.package} package and {have} (langchain-core alone does not count), so LangChain "
            "makes no spans"
        )

    def fix(self) -> str:
        return f"pip install {self.package} (or instrument in code: LangchainInstrumentor().instrument())"


def langchain_left_off(instrumentors: Iterable[EntryPoint] | None = None) -> list[LeftOff]:
    """The LangChain instrumentors ``opentelemetry-instrument`` would not switch on here: it checks
    each distribution's declared instruments (``get_dist_dependency_conflicts``) and, when the
    package is missing, says so only at DEBUG."""
    from opentelemetry.instrumentation.dependencies import get_dist_dependency_conflicts  # start-up time
    from packaging.requirements import InvalidRequirement, Requirement  # with it: only when asked

    found, seen = [], set()
    for entry in entry_points(group="opentelemetry_instrumentor") if instrumentors is None else instrumentors:
        if entry.name != "langchain" or entry.dist is None or entry.dist.name in seen:
            continue
        seen.add(entry.dist.name)
        conflict = get_dist_dependency_conflicts(entry.dist)
        if conflict is None:
            continue
        required = conflict.required or next(iter(conflict.required_any or ()), "langchain")
        try:  # a Requirement or its text, by the version of opentelemetry-instrumentation
            package = required.name if isinstance(required, Requirement) else Requirement(required).name
        except InvalidRequirement:
            package = str(required)
        found.append(LeftOff(entry.dist.name, package, str(conflict.found) if conflict.found else None))
    return found


class LabelStudioDistro(BaseDistro):
    def _configure(self, **kwargs: Any) -> None:
        for name, value in DEFAULTS.items():
            if not os.environ.get(name):  # an empty variable counts as unset
                os.environ[name] = value
        try:
            left_off = langchain_left_off()
        except Exception:  # noqa: BLE001  (a check must never stop the app's start)
            _logger.debug("Could not check the LangChain instrumentors", exc_info=True)
            return
        for item in left_off:  # said once, at start, instead of opentelemetry-instrument's DEBUG line
            _logger.warning("%s -> %s", item.what(), item.fix())
