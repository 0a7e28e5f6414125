"""The environment of a child process that plays a user's app: the caller's, without any
OpenTelemetry, Label Studio, Python or virtualenv settings of the test run, plus the given ones."""

from __future__ import annotations

import os

PREFIXES = ("OTEL_", "LABEL_STUDIO_", "TRACELOOP_", "VIRTUAL_ENV", "PYTHON")


def user_environment(**variables: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(PREFIXES)}
    return {**env, **variables}
