"""The queue between ingest and delivery: its interface, its value types, and how one is opened.

Two implementations: the durable ``Spool`` (SQLite; the sidecar, or the exporter with
``spool_path``) and the bounded in-process ``MemoryQueue`` (the exporter's default). Ingest adds
records; the delivery worker takes, marks, settles and removes them. Code outside the two
implementations sees only ``RecordQueue``: what differs between them that a caller must know
(whether records survive a restart, where they are kept) is a property of the interface.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Collection, Iterable, Protocol, Sequence

from .run_codec import AnyRecord


class QueueFull(Exception):
    """The queue cannot take the records now (a limit, a full disk): nothing of the call was added;
    the sender should keep its data and retry after ``retry_after`` seconds."""

    def __init__(self, message: str, retry_after: float):
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class QueueItem:
    seq: int
    record: AnyRecord
    enqueued_at: float
    attempts: int
    in_flight: bool


@dataclass(frozen=True, slots=True)
class AddResult:
    added: int
    duplicates: int
    dropped: int = 0  # refused for lack of room (the in-memory queue; the spool raises QueueFull)
    refused: tuple[AnyRecord, ...] = ()  # the records dropped (review rules give back their admission)


@dataclass(frozen=True, slots=True)
class QueueStats:
    depth: int
    oldest_age_seconds: float | None
    in_flight: int
    dead_letters: int
    delivered_remembered: int
    size_bytes: int  # the files on disk (the main file keeps its size when records are removed)
    used_bytes: int = 0  # what the byte limit counts: pages in use plus the WAL


@dataclass(frozen=True, slots=True)
class DeadLetter:
    trace_id: str
    span_id: str
    reason: str
    failed_at: float
    record: AnyRecord


class RecordQueue(Protocol):
    """What ingest and delivery need of a queue. Each span is queued once per (trace_id, span_id)."""

    @property
    def durable(self) -> bool:
        """Whether records survive the process (they wait on disk), which decides what an outage
        or a shutdown means for them."""
        ...

    @property
    def location(self) -> str | None:
        """Where records are kept (a file), or None in memory."""
        ...

    @property
    def depth(self) -> int:
        """Records waiting for delivery, as this process counted them."""
        ...

    def add(self, records: Sequence[AnyRecord]) -> AddResult:
        """Queue records; raises ``QueueFull`` (nothing added) or drops and counts what does not fit."""
        ...

    def take(self, limit: int) -> list[QueueItem]: ...
    def next_due(self) -> float | None: ...
    def mark_in_flight(self, items: Iterable[QueueItem]) -> None: ...
    def delivered(
        self, items: Sequence[QueueItem], project_id: int, task_ids: Sequence[int] = ()
    ) -> None: ...
    def defer(
        self, items: Iterable[QueueItem], until: float, reason: str, *, landed: bool = True
    ) -> None: ...
    def dead(self, item: QueueItem, reason: str) -> None: ...
    def dead_letters(self, limit: int = 100) -> list[DeadLetter]: ...
    def retry_dead_letters(self) -> int: ...
    def forget_delivered(self) -> int: ...
    def holds(self, keys: Collection[tuple[str, str]]) -> set[tuple[str, str]]:
        """Which of these records (trace_id, span_id) still wait for delivery: due, deferred or in
        flight (not delivered, not dead)."""
        ...

    def stats(self) -> QueueStats: ...
    def close(self) -> None: ...
