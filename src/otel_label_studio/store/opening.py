"""Where records and held spans wait, from the settings: in memory, or in the spool's file."""

from __future__ import annotations

import os

from .assembly import MemoryHold, RunHold
from .memory_queue import MemoryQueue
from .queue import RecordQueue
from .spool import Spool, SpoolHold


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


def hold_for(queue: RecordQueue, max_open_runs: int) -> RunHold:
    """Where held spans wait: in the spool's file when the queue is the spool, else in memory (at most
    ``max_open_runs`` traces)."""
    return SpoolHold(queue) if isinstance(queue, Spool) else MemoryHold(queue, max_open_runs)
