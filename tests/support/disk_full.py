"""``otel-label-studio`` whose spool finds its disk full while a flag file exists.

The fallback of the full-disk test where mounting a small tmpfs is not permitted: each spool
transaction that would commit while ``OTEL_LABEL_STUDIO_TEST_DISK_FULL_FLAG`` names an existing
file fails instead with SQLite's own error for a full disk ("database or disk is full"), rolled
back by the spool's own code. The variable is read here only, never by the package.
"""

from __future__ import annotations

import os
import sqlite3
import sys

from otel_label_studio.cli import main
from otel_label_studio.store import spool

FLAG_VARIABLE = "OTEL_LABEL_STUDIO_TEST_DISK_FULL_FLAG"


def _inject(flag: str) -> None:
    original = spool._Transaction.__exit__

    def exit_on_a_full_disk(self, exc_type, exc, tb):  # type: ignore[no-untyped-def]
        if exc is None and os.path.exists(flag):
            error = sqlite3.OperationalError("database or disk is full")
            return original(self, type(error), error, None)
        return original(self, exc_type, exc, tb)

    spool._Transaction.__exit__ = exit_on_a_full_disk  # type: ignore[method-assign]


if __name__ == "__main__":
    _inject(os.environ[FLAG_VARIABLE])
    sys.exit(main(sys.argv[1:]))
