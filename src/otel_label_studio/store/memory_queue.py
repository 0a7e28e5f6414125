"""The in-process exporter's default queue: bounded, in memory, a ``RecordQueue`` like the spool.

``export()`` only appends here, so the app never waits on Label Studio. When the queue is full,
new records are dropped and counted (never blocking the app); what is left at shutdown is
counted and logged by the exporter. Give the exporter a ``spool_path`` to keep records on disk
instead.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from itertools import islice
from typing import Callable, Collection, Iterable, Sequence

from .queue import AddResult, DeadLetter, QueueItem, QueueStats
from .run_codec import AnyRecord

_REMEMBERED = 10_000  # delivered span ids kept against duplicates
_DEAD_KEPT = 1_000


MAX_RECORDS = 10_000  # the default of the max_queue_size setting (config.Settings)


@dataclass
class _Entry:
    seq: int
    record: AnyRecord
    enqueued_at: float
    attempts: int = 0
    in_flight: bool = False
    not_before: float = 0.0


class MemoryQueue:
    def __init__(self, max_records: int = MAX_RECORDS, *, clock: Callable[[], float] = time.time):
        self._max = max_records
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[str, str], _Entry] = OrderedDict()
        self._delivered: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._dead: OrderedDict[tuple[str, str], DeadLetter] = OrderedDict()
        self._seq = 0
        self.dropped = 0  # records refused because the queue was full

    @property
    def durable(self) -> bool:
        return False

    @property
    def location(self) -> None:
        return None

    @property
    def depth(self) -> int:
        return len(self._entries)

    def add(self, records: Sequence[AnyRecord]) -> AddResult:
        """Queue what fits; what does not is dropped, counted and returned (``AddResult.refused``:
        ingest gives back what review rules admitted them for), never waited for."""
        added = duplicates = 0
        refused = []
        now = self._clock()
        with self._lock:
            for record in records:
                key = (record.trace_id, record.span_id)
                if key in self._entries or key in self._delivered or key in self._dead:
                    duplicates += 1
                elif len(self._entries) >= self._max:
                    refused.append(record)
                else:
                    self._seq += 1
                    self._entries[key] = _Entry(self._seq, record, now)
                    added += 1
            self.dropped += len(refused)
        return AddResult(added, duplicates, len(refused), tuple(refused))

    def take(self, limit: int) -> list[QueueItem]:
        now = self._clock()
        with self._lock:
            due = islice((entry for entry in self._entries.values() if entry.not_before <= now), limit)
            return [QueueItem(e.seq, e.record, e.enqueued_at, e.attempts, e.in_flight) for e in due]

    def next_due(self) -> float | None:
        with self._lock:
            return min((entry.not_before for entry in self._entries.values()), default=None)

    def mark_in_flight(self, items: Iterable[QueueItem]) -> None:
        with self._lock:
            for entry in self._find(items):
                entry.in_flight = True
                entry.attempts += 1

    def delivered(self, items: Sequence[QueueItem], project_id: int, task_ids: Sequence[int] = ()) -> None:
        with self._lock:
            for item in items:
                key = (item.record.trace_id, item.record.span_id)
                self._entries.pop(key, None)
                self._delivered[key] = None
            while len(self._delivered) > _REMEMBERED:
                self._delivered.popitem(last=False)

    def defer(self, items: Iterable[QueueItem], until: float, reason: str, *, landed: bool = True) -> None:
        with self._lock:
            for entry in self._find(items):
                entry.not_before = until
                if not landed:
                    entry.in_flight = False

    def dead(self, item: QueueItem, reason: str) -> None:
        key = (item.record.trace_id, item.record.span_id)
        with self._lock:
            self._entries.pop(key, None)
            self._dead[key] = DeadLetter(key[0], key[1], reason, self._clock(), item.record)
            while len(self._dead) > _DEAD_KEPT:
                self._dead.popitem(last=False)

    def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        with self._lock:
            return list(self._dead.values())[:limit]

    def retry_dead_letters(self) -> int:
        with self._lock:
            letters = list(self._dead.values())
            self._dead.clear()
        return self.add([letter.record for letter in letters]).added

    def forget_delivered(self) -> int:
        return 0  # bounded by count already

    def holds(self, keys: Collection[tuple[str, str]]) -> set[tuple[str, str]]:
        with self._lock:
            return {key for key in keys if key in self._entries}

    def stats(self) -> QueueStats:
        now = self._clock()
        with self._lock:
            entries = list(self._entries.values())
            return QueueStats(
                depth=len(entries),
                oldest_age_seconds=max(0.0, now - entries[0].enqueued_at) if entries else None,
                in_flight=sum(entry.in_flight for entry in entries),
                dead_letters=len(self._dead),
                delivered_remembered=len(self._delivered),
                size_bytes=0,
            )

    def close(self) -> None:
        pass

    def _find(self, items: Iterable[QueueItem]) -> list[_Entry]:
        found = []
        for item in items:
            entry = self._entries.get((item.record.trace_id, item.record.span_id))
            if entry is not None:
                found.append(entry)
        return found
