"""What ``opentelemetry-instrument`` loads from this package: a distro with the right defaults.

``opentelemetry-distro`` defaults the traces, metrics and logs exporters to ``otlp``: with no
OTLP exporter installed, the SDK raises at start and the app runs untraced; with one installed,
metrics go to ``localhost:4317`` whether a Collector listens there or not. Here traces go to
Label Studio unless ``OTEL_TRACES_EXPORTER`` says otherwise, and metrics and logs go nowhere
unless ``OTEL_METRICS_EXPORTER`` / ``OTEL_LOGS_EXPORTER`` ask for them. The configurator is the
SDK's own, exactly as ``opentelemetry-distro`` registers it.
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

DEFAULTS = {
    OTEL_TRACES_EXPORTER: "label_studio",
    OTEL_METRICS_EXPORTER: "none",
    OTEL_LOGS_EXPORTER: "none",
}


class LabelStudioConfigurator(_OTelSDKConfigurator):
    pass


class LabelStudioDistro(BaseDistro):
    def _configure(self, **kwargs: Any) -> None:
        for name, value in DEFAULTS.items():
            if not os.environ.get(name):  # an empty variable counts as unset
                os.environ[name] = value
