"""What a test needs from the machine, and the one rule for when it is missing.

In CI (``CI=true``) nothing is skipped: a missing prerequisite is a failure there, a skip elsewhere.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NoReturn

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def missing(message: str) -> NoReturn:
    """A prerequisite is missing: a failure in CI, where nothing is skipped; a skip elsewhere."""
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)
