"""What waits: the queue interface, the in-memory queue, the durable spool (SQLite), held traces and their
codec.
"""

from __future__ import annotations

import os

from .memory_queue import MemoryQueue
from .queue import RecordQueue
from .spool import Spool


def open_queue(spool_path: str | None, *, max_records: int) -> RecordQueue:
    """The queue for a ``spool_path`` setting: None keeps at most ``max_records`` in memory; a
    directory holds its ``spool.sqlite3``; any other path is the spool file itself (its directory
    is created).

    Raises ``DamagedFile`` (a ValueError) for a damaged spool file, ValueError or OSError for one
    that cannot be opened; whether to go on in memory instead is the caller's choice.
    """
    if spool_path is None:
        return MemoryQueue(max_records)
    if os.path.isdir(spool_path):
        return Spool.in_directory(spool_path)
    os.makedirs(os.path.dirname(os.path.abspath(spool_path)), exist_ok=True)
    return Spool(spool_path)
