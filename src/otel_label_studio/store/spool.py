"""The durable spool: records the bridge acknowledged but has not yet delivered.

One SQLite file (WAL, ``synchronous=FULL``): a receiver answers 200 only after ``add`` has
committed, so a crash or a Label Studio outage loses nothing. Each span is spooled once per
(trace_id, span_id): a retried request, or one that arrives again after its task was made,
adds nothing. Tasks Label Studio refuses for good move to a dead-letter table with the reason,
where ``otel-label-studio spool dead-letters`` shows them and ``spool retry`` re-queues them.

An item is marked *in flight* just before its import request and cleared by the commit that
records it delivered. An item still in flight when the spool is opened again was being imported
when the process died: delivery asks Label Studio whether its task exists before importing it.

Limits: ``max_rows`` records waiting, and ``max_bytes`` of pages in use plus the WAL. Pages freed
by delivery are reused before the file grows, so they do not count: the limit recovers as soon as
delivery drains the spool, without a restart (the file keeps its size on disk). A full disk is a
refusal too (``DiskFull``, a ``QueueFull``): the failed transaction is rolled back, nothing
committed is touched, and the next write that fits succeeds.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from typing import Callable, Collection, Iterable, Mapping, Sequence

from ..modes.units import decode_record
from ..reading.record import LLMRecord  # noqa: F401 (kept for importers)
from .durable import (
    BUSY_TIMEOUT_MS,
    RETRY_AFTER_SECONDS,
    DiskFull,
    DiskFullEpisode,
    damaged,
    is_disk_full,
    open_durable,
    rollback,
)
from .queue import AddResult, DeadLetter, QueueFull, QueueItem, QueueStats
from .run_codec import FOREIGN, AnyRecord, HeldPiece, KeptTrace, OpenTrace

_logger = logging.getLogger(__name__)

SPOOL_FILE = "spool.sqlite3"
KEEP_DELIVERED_SECONDS = 7 * 24 * 3600.0
WAL_AUTOCHECKPOINT_PAGES = 10_000  # SQLite's default is 1,000 pages
WAL_TRUNCATE_RETRY_SECONDS = 1.0  # after a WAL truncation another process held back
TRUNCATE_BUSY_MS = 100  # how long that truncation waits for the other process (ingest waits meanwhile)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS pending (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    trace_id TEXT NOT NULL,
    span_id TEXT NOT NULL,
    record BLOB NOT NULL,
    enqueued_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    in_flight INTEGER NOT NULL DEFAULT 0,
    not_before REAL NOT NULL DEFAULT 0,
    last_error TEXT,
    UNIQUE (trace_id, span_id)
);
CREATE TABLE IF NOT EXISTS delivered (
    trace_id TEXT NOT NULL,
    span_id TEXT NOT NULL,
    project_id INTEGER,
    task_id INTEGER,
    delivered_at REAL NOT NULL,
    PRIMARY KEY (trace_id, span_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS delivered_at ON delivered (delivered_at);
CREATE TABLE IF NOT EXISTS dead_letters (
    trace_id TEXT NOT NULL,
    span_id TEXT NOT NULL,
    record BLOB NOT NULL,
    reason TEXT NOT NULL,
    enqueued_at REAL NOT NULL,
    failed_at REAL NOT NULL,
    PRIMARY KEY (trace_id, span_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS run_pieces (
    trace_id TEXT NOT NULL,
    span_id TEXT NOT NULL,
    parent_span_id TEXT NOT NULL,
    top_candidate INTEGER NOT NULL,
    received_at REAL NOT NULL,
    project TEXT,
    view BLOB NOT NULL,
    released_as TEXT,
    released_at REAL,
    PRIMARY KEY (trace_id, span_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS judge_results (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    trace_id TEXT NOT NULL,
    span_id TEXT NOT NULL,
    response_id TEXT NOT NULL,
    result BLOB NOT NULL,
    received_at REAL NOT NULL,
    next_check REAL NOT NULL DEFAULT 0,
    UNIQUE (trace_id, span_id, response_id, result)
);
CREATE INDEX IF NOT EXISTS judge_results_due ON judge_results (next_check);
CREATE INDEX IF NOT EXISTS judge_results_by_response ON judge_results (response_id);
CREATE TABLE IF NOT EXISTS judge_responses (
    response_id TEXT PRIMARY KEY,
    trace_id TEXT NOT NULL,
    span_id TEXT NOT NULL,
    delivered_at REAL NOT NULL
) WITHOUT ROWID;
"""


_ADD = (
    "INSERT OR IGNORE INTO pending (trace_id, span_id, record, enqueued_at) "
    "SELECT ?1, ?2, ?3, ?4 WHERE NOT EXISTS "
    "(SELECT 1 FROM delivered WHERE trace_id = ?1 AND span_id = ?2) "
    "AND NOT EXISTS (SELECT 1 FROM dead_letters WHERE trace_id = ?1 AND span_id = ?2)"
)


# the defaults of the spool_max_rows and spool_max_bytes settings (config.Settings)
MAX_ROWS = 100_000
MAX_BYTES = 1 << 30


class Spool:
    """Thread-safe; one connection per process, serialized by a lock (SQLite writes one at a time anyway)."""

    def __init__(
        self,
        path: str,
        *,
        max_rows: int = MAX_ROWS,
        max_bytes: int = MAX_BYTES,
        keep_delivered_seconds: float = KEEP_DELIVERED_SECONDS,
        clock: Callable[[], float] = time.time,
    ):
        self.path = path
        self._max_rows = max_rows
        self._max_bytes = max_bytes
        self._keep_delivered = keep_delivered_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._group = threading.Condition()  # the callers of add() waiting for a group commit
        self._waiting: list[_Ticket] = []
        self._committing = False
        self._disk = DiskFullEpisode(
            path,
            "spool file",
            "new records are refused (serve answers 503 / UNAVAILABLE with Retry-After, which senders "
            "retry) and delivery waits",
        )
        self._next_truncate = 0.0
        self._db = open_durable(path)
        try:
            self._page_size = int(self._db.execute("PRAGMA page_size").fetchone()[0])
            # Checkpoint every ~40 MB of WAL rather than SQLite's 4 MB: a checkpoint stalls the commit
            # that runs it, and a longer WAL writes each index page once for more commits. A small
            # byte limit checkpoints sooner, so the WAL stays a fraction of it.
            pages = min(WAL_AUTOCHECKPOINT_PAGES, max(100, max_bytes // self._page_size // 8))
            self._db.execute(f"PRAGMA wal_autocheckpoint={pages}")
            self._db.executescript(_SCHEMA)
            _add_columns(self._db)
            self._depth = self._count("pending")
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise damaged(path, "spool file", exc) from None

    @classmethod
    def in_directory(cls, data_dir: str, **kwargs: object) -> Spool:
        """The spool file of a data directory, created with the directory when missing."""
        try:
            os.makedirs(data_dir, exist_ok=True)
        except OSError as exc:
            raise ValueError(f"cannot create data directory {data_dir!r}: {exc.strerror or exc}") from None
        if not os.access(data_dir, os.W_OK):
            raise ValueError(f"data directory {data_dir!r} is not writable by this user")
        return cls(os.path.join(data_dir, SPOOL_FILE), **kwargs)  # type: ignore[arg-type]

    @property
    def durable(self) -> bool:
        return True

    @property
    def location(self) -> str:
        return self.path

    @property
    def depth(self) -> int:
        """Records waiting for delivery, as this process counted them."""
        return self._depth

    def add(self, records: Sequence[AnyRecord]) -> AddResult:
        """Commit records durably; raise QueueFull (nothing added) when over a limit.

        Concurrent calls share one commit (group commit): the first caller commits the records of
        every caller waiting by then, so concurrent senders pay one fsync between them instead
        of one each. Each caller still returns only after the commit that holds its records.
        """
        if not records:
            return AddResult(0, 0)
        now = self._clock()
        ticket = _Ticket([(record.trace_id, record.span_id, record.to_bytes(), now) for record in records])
        with self._group:
            self._waiting.append(ticket)
            while self._committing and not ticket.done:
                self._group.wait()
            if ticket.done:  # an earlier caller committed it
                return ticket.outcome()
            self._committing = True
            tickets, self._waiting = self._waiting, []
        try:
            self._commit(tickets)
        except BaseException as error:  # nothing was committed: no caller may take it for success
            for each in tickets:
                if each.error is None:
                    each.error = error
            raise
        finally:
            with self._group:
                for each in tickets:
                    each.done = True
                self._committing = False
                self._group.notify_all()
        return ticket.outcome()

    def _commit(self, tickets: list[_Ticket]) -> None:
        """One transaction for the tickets that fit; the others get QueueFull. Sets each outcome."""
        with self._lock:
            accepted: list[_Ticket] = []
            room = self._max_rows - self._depth
            # The files' size bounds what is in use: only above the limit is it worth asking SQLite.
            over_size = _over_bytes(self)
            for ticket in tickets:
                if over_size:
                    ticket.error = QueueFull(
                        f"spool holds over {self._max_bytes} bytes", retry_after=RETRY_AFTER_SECONDS
                    )
                elif len(ticket.rows) > room:
                    ticket.error = QueueFull(
                        f"spool holds {self._max_rows - room} records (limit {self._max_rows})",
                        retry_after=RETRY_AFTER_SECONDS,
                    )
                else:
                    room -= len(ticket.rows)
                    accepted.append(ticket)
            if not accepted:
                return
            try:
                with self._transaction():
                    for ticket in accepted:
                        cursor = self._db.executemany(_ADD, ticket.rows)
                        ticket.added = max(0, cursor.rowcount)
            except Exception as error:  # nothing of the group was committed: each caller hears why
                for ticket in accepted:
                    ticket.error = error
                return
            self._depth += sum(ticket.added for ticket in accepted)
            self._disk.written()

    def take(self, limit: int) -> list[QueueItem]:
        """The oldest records that are due, in arrival order (not removed: see ``delivered``)."""
        now = self._clock()
        with self._lock:
            self._depth = self._count("pending")
            rows = self._db.execute(
                "SELECT seq, record, enqueued_at, attempts, in_flight FROM pending "
                "WHERE not_before <= ? ORDER BY seq LIMIT ?",
                (now, limit),
            ).fetchall()
        return [QueueItem(seq, decode_record(text), at, n, bool(flag)) for seq, text, at, n, flag in rows]

    def next_due(self) -> float | None:
        """When the earliest waiting record is due, or None when the spool is empty."""
        with self._lock:
            row = self._db.execute("SELECT min(not_before) FROM pending").fetchone()
        return row[0] if row and row[0] is not None else None

    def mark_in_flight(self, items: Iterable[QueueItem]) -> None:
        with self._lock, self._transaction():
            self._db.executemany(
                "UPDATE pending SET in_flight = 1, attempts = attempts + 1 WHERE seq = ?",
                [(item.seq,) for item in items],
            )

    def delivered(self, items: Sequence[QueueItem], project_id: int, task_ids: Sequence[int] = ()) -> None:
        """Remove delivered records, remembering their span ids so a late duplicate adds nothing."""
        now = self._clock()
        ids: list[int | None] = list(task_ids) if len(task_ids) == len(items) else [None] * len(items)
        with self._lock:
            with self._transaction():
                self._db.executemany(
                    "INSERT OR REPLACE INTO delivered (trace_id, span_id, project_id, task_id, delivered_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    [
                        (item.record.trace_id, item.record.span_id, project_id, task_id, now)
                        for item, task_id in zip(items, ids, strict=True)
                    ],
                )
                self._db.executemany("DELETE FROM pending WHERE seq = ?", [(item.seq,) for item in items])
                responses = [
                    (response, item.record.trace_id, item.record.span_id, now)
                    for item in items
                    for response in (_response_id(item.record),)
                    if response
                ]
                if responses:  # for judge results that name only the response (judge_join.py)
                    self._db.executemany(
                        "INSERT OR REPLACE INTO judge_responses "
                        "(response_id, trace_id, span_id, delivered_at) VALUES (?, ?, ?, ?)",
                        responses,
                    )
            self._depth = max(0, self._depth - len(items))

    def defer(self, items: Iterable[QueueItem], until: float, reason: str, *, landed: bool = True) -> None:
        """Keep records for a later attempt. ``landed=False`` says their last import surely did not
        land (Label Studio refused it whole), so no lookup is needed before the next one."""
        flag = "in_flight" if landed else "0"
        with self._lock, self._transaction():
            self._db.executemany(
                f"UPDATE pending SET not_before = ?, last_error = ?, in_flight = {flag} WHERE seq = ?",
                [(until, reason[:2000], item.seq) for item in items],
            )

    def dead(self, item: QueueItem, reason: str) -> None:
        """Move a record Label Studio will never accept to the dead letters, with the reason."""
        now = self._clock()
        record = item.record
        with self._lock:
            with self._transaction():
                self._db.execute(
                    "INSERT OR REPLACE INTO dead_letters "
                    "(trace_id, span_id, record, reason, enqueued_at, failed_at) VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        record.trace_id,
                        record.span_id,
                        record.to_bytes(),
                        reason[:2000],
                        item.enqueued_at,
                        now,
                    ),
                )
                self._db.execute("DELETE FROM pending WHERE seq = ?", (item.seq,))
            self._depth = max(0, self._depth - 1)

    def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        with self._lock:
            rows = self._db.execute(
                "SELECT trace_id, span_id, reason, failed_at, record FROM dead_letters "
                "ORDER BY failed_at LIMIT ?",
                (limit,),
            ).fetchall()
        return [DeadLetter(t, s, reason, at, decode_record(text)) for t, s, reason, at, text in rows]

    def retry_dead_letters(self) -> int:
        """Put every dead letter back in the queue; how many were moved."""
        now = self._clock()
        with self._lock:
            with self._transaction():
                cursor = self._db.execute(
                    "INSERT OR IGNORE INTO pending (trace_id, span_id, record, enqueued_at, not_before) "
                    "SELECT trace_id, span_id, record, ?, 0 FROM dead_letters",
                    (now,),
                )
                moved = cursor.rowcount
                self._db.execute("DELETE FROM dead_letters")
            self._depth += moved
        return moved

    def forget_delivered(self) -> int:
        """Drop remembered span ids older than the retention; how many (0 while the disk is full:
        they are dropped at the next prune)."""
        cutoff = self._clock() - self._keep_delivered
        try:
            with self._lock, self._transaction():
                return self._db.execute("DELETE FROM delivered WHERE delivered_at < ?", (cutoff,)).rowcount
        except DiskFull:
            return 0

    def dead_letter_count(self) -> int:
        """Records in the dead letters, without ``stats``' full scans of the pending and delivered
        tables: /metrics asks on every scrape, and the scan would hold up ingest meanwhile."""
        with self._lock:
            return self._count("dead_letters")

    def stats(self) -> QueueStats:
        now = self._clock()
        with self._lock:
            depth, oldest, in_flight = self._db.execute(
                "SELECT count(*), min(enqueued_at), coalesce(sum(in_flight), 0) FROM pending"
            ).fetchone()
            self._depth = depth
            dead = self._count("dead_letters")
            remembered = self._count("delivered")
            size = self._size()
            used = self._used_bytes(reclaim=False)
        return QueueStats(
            depth=depth,
            oldest_age_seconds=None if oldest is None else max(0.0, now - oldest),
            in_flight=in_flight,
            dead_letters=dead,
            delivered_remembered=remembered,
            size_bytes=size,
            used_bytes=used,
        )

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _count(self, table: str) -> int:
        return int(self._db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])

    def holds(self, keys: Collection[tuple[str, str]]) -> set[tuple[str, str]]:
        """Which of these (trace_id, span_id) still wait for delivery: due, deferred or in flight."""
        keys = list(keys)
        found: set[tuple[str, str]] = set()
        with self._lock:
            for start in range(0, len(keys), 400):
                chunk = keys[start : start + 400]
                found.update(
                    self._db.execute(
                        "SELECT trace_id, span_id FROM pending WHERE "
                        + " OR ".join(["(trace_id = ? AND span_id = ?)"] * len(chunk)),
                        [value for key in chunk for value in key],
                    ).fetchall()
                )
        return found

    def _size(self) -> int:
        return _file_size(self.path) + _file_size(self.path + "-wal")

    def _used_bytes(self, *, reclaim: bool) -> int:
        """What the byte limit counts: the pages in use plus the WAL file. With ``reclaim``, a WAL
        that is what stands over the limit is checkpointed and truncated first (its cost is that
        of the WAL, which the limit bounds; a reader in another process holding it back is waited
        for briefly, and after such a miss the next try waits a second)."""
        pages = self._db.execute("PRAGMA page_count").fetchone()[0]
        free = self._db.execute("PRAGMA freelist_count").fetchone()[0]
        in_use = (pages - free) * self._page_size
        wal = _file_size(self.path + "-wal")
        if reclaim and in_use <= self._max_bytes < in_use + wal and time.monotonic() >= self._next_truncate:
            self._db.execute(f"PRAGMA busy_timeout={TRUNCATE_BUSY_MS}")
            try:
                busy = self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
            except sqlite3.Error as exc:  # a full disk: measured as it is
                _logger.debug("Could not truncate the spool's WAL: %s", exc)
                busy = 1
            finally:
                self._db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            if busy:
                self._next_truncate = time.monotonic() + WAL_TRUNCATE_RETRY_SECONDS
            wal = _file_size(self.path + "-wal")
        return in_use + wal

    def _transaction(self) -> _Transaction:
        return _Transaction(self)

    def _write_error(self, error: BaseException) -> BaseException:
        """``DiskFull`` for an error that means the disk is full (said once per episode), else ``error``."""
        if not is_disk_full(error, self.path):
            return error
        self._disk.full(error)
        return DiskFull("no space left on the disk for the spool", retry_after=RETRY_AFTER_SECONDS)


class SpoolHold:
    """The hold's table in the spool's file (``run_pieces``): spans of traces not yet released, on
    the spool's connection, so a release queues its records and drops its pieces in one transaction;
    and the pieces of runs released without their top, kept (``released_at`` set) until the top
    comes or the assembler forgets them."""

    encode = True  # pieces are kept as bytes (``run_codec.encode_view``)

    def __init__(self, spool: Spool):
        self._spool = spool

    def hold(self, pieces: Sequence[HeldPiece], revive: Collection[str] = ()) -> set[str]:
        """Commit run pieces (a span seen again replaces itself) and hold the kept pieces of the
        traces in ``revive`` again; raises ``QueueFull`` when the spool is over its byte limit or
        the disk is full: the sender retries, nothing was acknowledged. No span is refused (the
        in-memory hold refuses spans past its cap)."""
        spool = self._spool
        if not pieces and not revive:
            return set()
        with spool._lock:
            _refuse_over_bytes(spool)
            with spool._transaction():
                spool._db.executemany(
                    "UPDATE run_pieces SET released_at = NULL WHERE trace_id = ? AND released_at IS NOT NULL",
                    [(trace_id,) for trace_id in revive],
                )
                spool._db.executemany(
                    "INSERT OR REPLACE INTO run_pieces (span_id, trace_id, parent_span_id, top_candidate, "
                    "received_at, project, view) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [
                        (p.span_id, p.trace_id, p.parent_span_id, int(p.top), at, p.project, p.view)
                        for p in pieces
                        for at in (p.received_at,)
                    ],
                )
            spool._disk.written()
        return set()

    def open_traces(self) -> list[OpenTrace]:
        """Every trace with held pieces, as ``states`` tells them."""
        return self.states(None, waiting=True)

    def states(self, trace_ids: Collection[str] | None, *, waiting: bool) -> list[OpenTrace]:
        """Each trace (None: every one) with held pieces: its last arrival, whether a top candidate
        came and, with ``waiting``, the parents its pieces hang under that are not held."""
        where, values = "", list(trace_ids or ())
        if trace_ids is not None:
            if not values:
                return []
            where = f" AND p.trace_id IN ({', '.join('?' * len(values))})"
        with self._spool._lock:
            db = self._spool._db
            rows = db.execute(
                "SELECT p.trace_id, max(p.received_at), max(p.top_candidate) FROM run_pieces p "
                f"WHERE p.released_at IS NULL{where} GROUP BY p.trace_id",
                values,
            ).fetchall()
            parents = (
                db.execute(
                    "SELECT p.trace_id, p.parent_span_id FROM run_pieces p WHERE p.released_at IS NULL "
                    f"AND p.parent_span_id != ''{where} AND NOT EXISTS (SELECT 1 FROM run_pieces q WHERE "
                    "q.trace_id = p.trace_id AND q.span_id = p.parent_span_id AND q.released_at IS NULL)",
                    values,
                ).fetchall()
                if waiting
                else []
            )
        awaited: dict[str, set[str]] = {}
        for trace_id, parent in parents:
            awaited.setdefault(trace_id, set()).add(parent)
        return [  # an empty frozenset is 216 bytes each: the traces waiting for nothing share the default
            OpenTrace(trace_id, last, bool(top), frozenset(awaited[trace_id]))
            if trace_id in awaited
            else OpenTrace(trace_id, last, bool(top))
            for trace_id, last, top in rows
        ]

    def pieces(self, trace_id: str) -> list[HeldPiece]:
        with self._spool._lock:
            rows = self._spool._db.execute(
                "SELECT span_id, trace_id, parent_span_id, top_candidate, received_at, project, view, "
                "released_as FROM run_pieces WHERE trace_id = ? AND released_at IS NULL",
                (trace_id,),
            ).fetchall()
        return [
            HeldPiece(s, t, parent, bool(top), at, project, view or FOREIGN, released_as)
            for s, t, parent, top, at, project, view, released_as in rows
        ]

    def release(
        self,
        trace_id: str,
        span_ids: Sequence[str],
        records: Sequence[AnyRecord],
        kept: Mapping[str, str] | None = None,
        at: float = 0.0,
    ) -> AddResult:
        """Queue a trace's run records, delete the pieces they were built from and keep those in
        ``kept`` (span id -> the span id of the record they went out in), in one transaction: a
        crash leaves either the pieces or the queued runs, never both, never neither. Not refused
        for the row limit (the pieces were acknowledged already); what the queue did."""
        spool = self._spool
        now = spool._clock()
        rows = [(record.trace_id, record.span_id, record.to_bytes(), now) for record in records]
        with spool._lock:
            with spool._transaction():
                added = max(0, spool._db.executemany(_ADD, rows).rowcount) if rows else 0
                spool._db.executemany(
                    "DELETE FROM run_pieces WHERE trace_id = ? AND span_id = ?",
                    [(trace_id, span_id) for span_id in span_ids],
                )
                spool._db.executemany(
                    "UPDATE run_pieces SET released_as = ?, released_at = ? "
                    "WHERE trace_id = ? AND span_id = ?",
                    [(released_as, at, trace_id, span_id) for span_id, released_as in (kept or {}).items()],
                )
            spool._depth += added
            spool._disk.written()
        return AddResult(added, len(rows) - added)

    def kept(self) -> list[KeptTrace]:
        """The traces with kept pieces (read once, at start): when, which spans, the parents missing."""
        with self._spool._lock:
            rows = self._spool._db.execute(
                "SELECT trace_id, span_id, parent_span_id, released_at FROM run_pieces "
                "WHERE released_at IS NOT NULL"
            ).fetchall()
        traces: dict[str, tuple[float, dict[str, str]]] = {}
        for trace_id, span_id, parent, at in rows:
            last, spans = traces.setdefault(trace_id, (at, {}))
            spans[span_id] = parent
            traces[trace_id] = (max(last, at), spans)
        return [
            KeptTrace(trace_id, at, frozenset(spans), frozenset(spans.values()) - spans.keys() - {""})
            for trace_id, (at, spans) in traces.items()
        ]

    def forget(self, trace_ids: Collection[str]) -> None:
        spool = self._spool
        try:
            with spool._lock, spool._transaction():
                spool._db.executemany(
                    "DELETE FROM run_pieces WHERE trace_id = ? AND released_at IS NOT NULL",
                    [(trace_id,) for trace_id in trace_ids],
                )
        except DiskFull:  # dropped at the next restart's first forget
            pass


class SpoolJudgeResults:
    """The judge store's tables in the spool's file (``judge_results``, ``judge_responses``): judge
    results waiting for their span's task, on the spool's connection and within its limits."""

    def __init__(self, spool: Spool):
        self._spool = spool

    def add(self, rows: Sequence[tuple[str, str, str, bytes, float]]) -> int:
        """Commit judge results (trace id, span id, response id or "", result, received at); one seen
        before adds nothing. Raises ``QueueFull`` over the spool's row or byte limit, or on a full
        disk: nothing was taken, the sender retries. How many were added."""
        spool = self._spool
        if not rows:
            return 0
        with spool._lock:
            if spool._count("judge_results") + len(rows) > spool._max_rows:
                raise QueueFull(
                    f"spool holds {spool._max_rows} judge results waiting for their tasks (the row limit)",
                    retry_after=RETRY_AFTER_SECONDS,
                )
            _refuse_over_bytes(spool)
            with spool._transaction():
                cursor = spool._db.executemany(
                    "INSERT OR IGNORE INTO judge_results "
                    "(trace_id, span_id, response_id, result, received_at) VALUES (?, ?, ?, ?, ?)",
                    rows,
                )
            spool._disk.written()
        return max(0, cursor.rowcount)

    def due(self, now: float, limit: int) -> list[tuple[int, str, str, str, bytes, float]]:
        """Judge results due for a look at their task: (id, trace, span, response id, result, received)."""
        with self._spool._lock:
            return self._spool._db.execute(
                "SELECT id, trace_id, span_id, response_id, result, received_at FROM judge_results "
                "WHERE next_check <= ? ORDER BY id LIMIT ?",
                (now, limit),
            ).fetchall()

    def waiting_for(
        self, trace_id: str, span_id: str, response_id: str
    ) -> list[tuple[int, str, str, str, bytes, float]]:
        """The judge results waiting for one span (by span id, or by its response id)."""
        spool = self._spool
        with spool._lock:
            rows = spool._db.execute(
                "SELECT id, trace_id, span_id, response_id, result, received_at FROM judge_results "
                "WHERE trace_id = ? AND span_id = ? ORDER BY id",
                (trace_id, span_id),
            ).fetchall()
            if response_id:
                rows += spool._db.execute(
                    "SELECT id, trace_id, span_id, response_id, result, received_at FROM judge_results "
                    "WHERE response_id = ? AND span_id = '' ORDER BY id",
                    (response_id,),
                ).fetchall()
        return rows

    def recheck(self, ids: Sequence[int], at: float) -> None:
        spool = self._spool
        with spool._lock, spool._transaction():
            spool._db.executemany(
                "UPDATE judge_results SET next_check = ? WHERE id = ?", [(at, i) for i in ids]
            )

    def done(self, ids: Sequence[int]) -> None:
        """Forget judge results that are on their task now, or dropped."""
        spool = self._spool
        with spool._lock, spool._transaction():
            spool._db.executemany("DELETE FROM judge_results WHERE id = ?", [(i,) for i in ids])

    def delivered(self, spans: Sequence[tuple[str, str, str]]) -> None:
        """Records just delivered (trace id, span id, response id or ""): results waiting for them
        are due at once (``delivered`` remembered their response ids)."""
        spool = self._spool
        if not spans:
            return
        with spool._lock:
            if not spool._count("judge_results"):
                return
            with spool._transaction():
                spool._db.executemany(
                    "UPDATE judge_results SET next_check = 0 WHERE trace_id = ? AND span_id = ?",
                    [(trace, span) for trace, span, _ in spans],
                )
                spool._db.executemany(
                    "UPDATE judge_results SET next_check = 0 WHERE response_id = ? AND span_id = ''",
                    [(response,) for _, _, response in spans if response],
                )

    def task(self, trace_id: str, span_id: str, response_id: str) -> tuple[str, str, int, int | None] | None:
        """The span's delivery (trace id, span id, project id, task id) by span id, else by response id;
        None when it was not delivered (or so long ago that it is forgotten)."""
        spool = self._spool
        with spool._lock:
            row = None
            if span_id:
                row = spool._db.execute(
                    "SELECT trace_id, span_id, project_id, task_id FROM delivered "
                    "WHERE trace_id = ? AND span_id = ?",
                    (trace_id, span_id),
                ).fetchone()
            if row is None and response_id:
                row = spool._db.execute(
                    "SELECT d.trace_id, d.span_id, d.project_id, d.task_id FROM judge_responses r "
                    "JOIN delivered d ON d.trace_id = r.trace_id AND d.span_id = r.span_id "
                    "WHERE r.response_id = ?",
                    (response_id,),
                ).fetchone()
        if row is None or row[2] is None:
            return None
        return row[0], row[1], int(row[2]), None if row[3] is None else int(row[3])

    def waiting(self) -> int:
        """Judge results kept until their span's task exists."""
        with self._spool._lock:
            return self._spool._count("judge_results")

    def forget_responses(self) -> int:
        """Drop remembered response ids past the delivered retention."""
        spool = self._spool
        cutoff = spool._clock() - spool._keep_delivered
        try:
            with spool._lock, spool._transaction():
                return spool._db.execute(
                    "DELETE FROM judge_responses WHERE delivered_at < ?", (cutoff,)
                ).rowcount
        except DiskFull:
            return 0


def _file_size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def _add_columns(db: sqlite3.Connection) -> None:
    """Columns a file made by an earlier version lacks: ``run_pieces`` keeps the pieces of runs
    released without their top (``released_as``, ``released_at``) since issue 26."""
    have = {row[1] for row in db.execute("PRAGMA table_info(run_pieces)")}
    for column, kind in (("released_as", "TEXT"), ("released_at", "REAL")):
        if column not in have:
            db.execute(f"ALTER TABLE run_pieces ADD COLUMN {column} {kind}")


def _over_bytes(spool: Spool) -> bool:
    """The spool's pages in use (plus its WAL) over its byte limit; the files' size bounds what is in
    use, so SQLite is asked only when they are over it. Called with the spool's lock held."""
    return spool._size() > spool._max_bytes and spool._used_bytes(reclaim=True) > spool._max_bytes


def _refuse_over_bytes(spool: Spool) -> None:
    """``QueueFull`` (retry later) when the spool is over its byte limit: the sender retries."""
    if _over_bytes(spool):
        raise QueueFull(f"spool holds over {spool._max_bytes} bytes", retry_after=RETRY_AFTER_SECONDS)


def _response_id(record: AnyRecord) -> str:
    """A call's ``gen_ai.response.id``, or "" (an agent run has none)."""
    return getattr(record, "response_id", "")


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any error (the connection is in autocommit mode);
    a full disk, at any statement or at the commit, comes out as ``DiskFull``."""

    __slots__ = ("_spool",)

    def __init__(self, spool: Spool):
        self._spool = spool

    def __enter__(self) -> None:
        self._spool._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        db = self._spool._db
        if exc is None:
            try:
                db.execute("COMMIT")
            except sqlite3.Error as error:
                rollback(db)  # a failed COMMIT may leave the transaction open
                converted = self._spool._write_error(error)
                if converted is error:
                    raise
                raise converted from error
            return
        rollback(db)
        if isinstance(exc, (sqlite3.Error, OSError)):
            converted = self._spool._write_error(exc)
            if converted is not exc:
                raise converted from exc


class _Ticket:
    """One ``add`` call's rows and, once its group committed, what became of them."""

    __slots__ = ("rows", "done", "added", "error")

    def __init__(self, rows: list[tuple[str, str, bytes, float]]):
        self.rows = rows
        self.done = False
        self.added = 0
        self.error: BaseException | None = None

    def outcome(self) -> AddResult:
        if self.error is not None:
            raise self.error
        return AddResult(self.added, len(self.rows) - self.added)
