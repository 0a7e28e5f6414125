"""What a child process that plays a user's app gets: an environment without the test run's
OpenTelemetry, Label Studio, Python or virtualenv settings, and the lock's versions as pip constraints."""

from __future__ import annotations

import os
from pathlib import Path

PREFIXES = ("OTEL_", "LABEL_STUDIO_", "TRACELOOP_", "VIRTUAL_ENV", "PYTHON")


def user_environment(**variables: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(PREFIXES)}
    return {**env, **variables}


def lock_constraints(lock: Path) -> str:
    """A lock file (requirements/*.txt) as a pip constraints file: its pins and markers, no hashes
    (pip takes hashes only for what it is asked to install, not for constraints)."""
    lines = []
    for line in lock.read_text().splitlines():
        requirement = line.strip().removesuffix("\\").strip()
        if requirement and not requirement.startswith(("#", "--hash")):
            lines.append(requirement)
    return "\n".join(lines) + "\n"
