"""Where records wait for their review-budget window to be decided (``rules/budget_hold.py``).

In the spool's file (``SpoolBudgetWaiting``, table ``budget_waiting``): a record the budget holds is
committed before its batch is acknowledged; when its window is decided, the picks are queued and
the window's records deleted in one transaction, so a crash (kill -9) leaves either the waiting
records or the queued picks, never both, never neither. At the next start the waiting records are
offered again, in the order they came (``waiting``). In memory (``MemoryBudgetWaiting``) nothing
is written: the budget's open window itself holds them, bounded by its room.

Not ``SpoolHold``'s ``run_pieces``: those are span views per trace, released when a trace is whole;
these are mapped records per call, released when a window closes (a row per record, with what
the budget ranks it by).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Collection, Protocol, Sequence

from ..modes.units import decode_record
from .queue import AddResult, RecordQueue
from .spool import _ADD, Spool, _refuse_over_bytes

_SCHEMA = """
CREATE TABLE IF NOT EXISTS budget_waiting (
    trace_id TEXT NOT NULL,
    span_id TEXT NOT NULL,
    record BLOB NOT NULL,
    offered_at REAL NOT NULL,
    rule TEXT,
    disagreement INTEGER NOT NULL DEFAULT 0,
    margin REAL,
    PRIMARY KEY (trace_id, span_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS budget_waiting_at ON budget_waiting (offered_at);
"""


@dataclass(frozen=True)
class Waiting:
    """A record waiting for its window, with what the budget ranks it by."""

    record: Any
    offered_at: float
    rule: str | None
    disagreement: bool = False
    margin: float | None = None


class BudgetWaiting(Protocol):
    durable: bool

    def add(self, waiting: Sequence[Waiting]) -> None:
        """Keep these (raises ``QueueFull`` when the spool is over its limit: the sender retries)."""
        ...

    def release(self, picks: Sequence[Any], window: Collection[tuple[str, str]]) -> AddResult:
        """Queue the picks and forget the window's records, in one step."""
        ...

    def waiting(self) -> list[Waiting]:
        """What waits from before a restart, oldest first."""
        ...


class MemoryBudgetWaiting:
    """Nothing kept beyond the budget's own window (bounded by its room); picks go to the queue."""

    durable = False

    def __init__(self, queue: RecordQueue):
        self._queue = queue

    def add(self, waiting: Sequence[Waiting]) -> None:
        return None

    def release(self, picks: Sequence[Any], window: Collection[tuple[str, str]]) -> AddResult:
        return self._queue.add(picks) if picks else AddResult(0, 0)

    def waiting(self) -> list[Waiting]:
        return []


class SpoolBudgetWaiting:
    """The ``budget_waiting`` table on the spool's connection."""

    durable = True

    def __init__(self, spool: Spool):
        self._spool = spool
        with spool._lock:
            spool._db.executescript(_SCHEMA)

    def add(self, waiting: Sequence[Waiting]) -> None:
        spool = self._spool
        if not waiting:
            return
        with spool._lock:
            _refuse_over_bytes(spool)
            with spool._transaction():
                spool._db.executemany(
                    "INSERT OR IGNORE INTO budget_waiting (trace_id, span_id, record, offered_at, rule, "
                    "disagreement, margin) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [
                        (w.record.trace_id, w.record.span_id, w.record.to_bytes(), w.offered_at, w.rule)
                        + (int(w.disagreement), w.margin)
                        for w in waiting
                    ],
                )
            spool._disk.written()

    def release(self, picks: Sequence[Any], window: Collection[tuple[str, str]]) -> AddResult:
        spool = self._spool
        now = spool._clock()
        rows = [(record.trace_id, record.span_id, record.to_bytes(), now) for record in picks]
        with spool._lock:
            with spool._transaction():
                added = max(0, spool._db.executemany(_ADD, rows).rowcount) if rows else 0
                spool._db.executemany(
                    "DELETE FROM budget_waiting WHERE trace_id = ? AND span_id = ?", list(window)
                )
            spool._depth += added
            spool._disk.written()
        return AddResult(added, len(rows) - added)

    def waiting(self) -> list[Waiting]:
        with self._spool._lock:
            rows = self._spool._db.execute(
                "SELECT record, offered_at, rule, disagreement, margin FROM budget_waiting "
                "ORDER BY offered_at, trace_id, span_id"
            ).fetchall()
        found = []
        for data, at, rule, disagreement, margin in rows:
            found.append(Waiting(decode_record(data), at, rule, bool(disagreement), margin))
        return found


def budget_waiting_for(queue: RecordQueue) -> BudgetWaiting:
    """In the spool's file when the queue is the spool, else in memory."""
    return SpoolBudgetWaiting(queue) if isinstance(queue, Spool) else MemoryBudgetWaiting(queue)
