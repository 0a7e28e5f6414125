"""The feedback outbox: evaluation events kept until the feedback endpoint takes them.

Label Studio sends each webhook once and never again, so an event the endpoint cannot take
right now (a Collector restarting, a network blip) would be a reviewer's score lost for good.
serve writes each webhook's events here first (SQLite in the data directory, committed before
the webhook is answered), and ``OutboxForwarder`` sends them in order, retrying with the shared
``Backoff`` (exponential, jittered, up to a minute) until they land. What is still waiting at
shutdown is sent after the next start. A damaged outbox file stops serve at start (exit 2, with
the ``mv`` that moves it aside); on a full disk a webhook is answered 503 with Retry-After and
what was already kept stays until space is free.

The outbox also remembers each annotation version whose events it took (the annotation's id and
its ``updated_at`` in Label Studio, table ``taken``), in the same transaction as the events: a
webhook replayed, repeated by a proxy, or sent again after a restart finds it there and sends
nothing twice. An annotation updated in Label Studio is a new version and is sent again.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from typing import Callable

from ..delivery.backoff import Backoff, feedback_backoff
from ..delivery.retry import RetryLoop
from ..store.durable import (
    RETRY_AFTER_SECONDS,
    DiskFull,
    DiskFullEpisode,
    damaged,
    is_disk_full,
    open_durable,
    rollback,
)

_logger = logging.getLogger(__name__)

OUTBOX_FILE = "feedback-outbox.sqlite3"
BATCH = 50

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    body BLOB NOT NULL,
    events INTEGER NOT NULL,
    queued_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT
);
CREATE TABLE IF NOT EXISTS taken (
    annotation_id INTEGER NOT NULL,
    updated_at TEXT NOT NULL,
    taken_at REAL NOT NULL,
    PRIMARY KEY (annotation_id, updated_at)
) WITHOUT ROWID;
"""


@dataclass(frozen=True, slots=True)
class OutboxItem:
    seq: int
    body: bytes  # an OTLP ExportLogsServiceRequest, serialized
    events: int


class FeedbackOutbox:
    """Thread-safe; one connection, serialized by a lock."""

    def __init__(self, path: str, *, clock: Callable[[], float] = time.time):
        self.path = path
        self._clock = clock  # when an event was kept (queued_at)
        self._lock = threading.Lock()
        self._disk = DiskFullEpisode(
            path, "feedback outbox", "webhooks are answered 503 and events already kept wait"
        )
        self._db = open_durable(path, what="feedback outbox")
        try:
            self._db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise damaged(path, "feedback outbox", exc) from None

    @classmethod
    def in_directory(cls, data_dir: str) -> FeedbackOutbox:
        os.makedirs(data_dir, exist_ok=True)
        return cls(os.path.join(data_dir, OUTBOX_FILE))

    def put(self, body: bytes, events: int) -> None:
        """Keep one request's events; durable when this returns."""
        self._write(
            "INSERT INTO outbox (body, events, queued_at) VALUES (?, ?, ?)", (body, events, self._clock())
        )

    def put_once(self, annotation: tuple[int, str], body: bytes | None, events: int) -> bool:
        """Keep the events of one annotation version (its id and ``updated_at``) unless they were
        taken before; whether they are new. ``body`` None: the version had no events, it is only
        remembered. Durable when this returns; ``DiskFull`` when the disk is full (nothing kept)."""
        now = self._clock()
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                taken = self._db.execute(
                    "INSERT OR IGNORE INTO taken (annotation_id, updated_at, taken_at) VALUES (?, ?, ?)",
                    (*annotation, now),
                )
                new = taken.rowcount == 1
                if new and body is not None:
                    self._db.execute(
                        "INSERT INTO outbox (body, events, queued_at) VALUES (?, ?, ?)", (body, events, now)
                    )
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                rollback(self._db)
                self._full(exc)
                raise
            self._disk.written()
        return new

    def oldest(self, limit: int = BATCH) -> list[OutboxItem]:
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, body, events FROM outbox ORDER BY seq LIMIT ?", (limit,)
            ).fetchall()
        return [OutboxItem(seq, body, events) for seq, body, events in rows]

    def sent(self, item: OutboxItem) -> None:
        self._write("DELETE FROM outbox WHERE seq = ?", (item.seq,))

    def failed(self, item: OutboxItem, error: str) -> None:
        self._write(
            "UPDATE outbox SET attempts = attempts + 1, last_error = ? WHERE seq = ?",
            (error[:2000], item.seq),
        )

    def _write(self, statement: str, values: tuple[object, ...]) -> None:
        """One statement, committed; ``DiskFull`` (warned once per episode) when the disk is full."""
        with self._lock:
            try:
                self._db.execute(statement, values)
            except sqlite3.Error as exc:
                rollback(self._db)
                self._full(exc)
                raise
            self._disk.written()

    def _full(self, exc: sqlite3.Error) -> None:
        """Raise ``DiskFull`` (warned once per episode) when ``exc`` says the disk is full."""
        if is_disk_full(exc, self.path):
            self._disk.full(exc)
            raise DiskFull("no space left on the disk for the feedback outbox", RETRY_AFTER_SECONDS) from exc

    def waiting(self) -> int:
        """Evaluation events not yet sent."""
        with self._lock:
            return int(self._db.execute("SELECT coalesce(sum(events), 0) FROM outbox").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()


class OutboxForwarder:
    """Sends the outbox's requests in order through ``send`` (which raises when the endpoint
    does not take one), on the retry loop (``delivery/retry.py``: a thread of its own, its HTTP
    calls never spans); backs off (``backoff``, up to a minute) while it fails, and tries at once
    when woken by a new webhook."""

    def __init__(
        self,
        outbox: FeedbackOutbox,
        send: Callable[[bytes], None],
        *,
        endpoint: str,
        backoff: Backoff | None = None,
    ):
        self._outbox = outbox
        self._send = send
        self._endpoint = endpoint
        self.backoff = backoff or feedback_backoff()
        self._loop = RetryLoop("feedback-outbox", self.step)
        self._failing_since: float | None = None
        self.events_sent = 0

    def start(self) -> None:
        self._loop.start()

    def wake(self) -> None:
        self._loop.wake()

    def stop(self, timeout: float = 5.0) -> None:
        self._loop.stop(timeout)
        waiting = self._outbox.waiting()
        if waiting:
            _logger.warning(
                "%d evaluation events stay in the feedback outbox and are sent after the next start",
                waiting,
            )

    def step(self) -> float | None:
        """One round: send what waits; None when the outbox is empty (wait for a wake), else the
        pause before the next round."""
        try:
            emptied = self.send_waiting()
        except DiskFull:  # the outbox warned once; a sent event not yet removed is sent again
            emptied = False
        except Exception:  # the outbox itself failed: say so, keep the thread alive
            if self._loop.ended:
                return None  # a send outlived stop() and the outbox closed: re-sent after the next start
            _logger.exception("Unexpected error in the feedback outbox")
            emptied = False
        if emptied:
            self.backoff.succeeded()
            return None
        return self.backoff.failed()

    def send_waiting(self) -> bool:
        """Send what waits, oldest first; False when the endpoint refused one (it stays)."""
        while not self._loop.ended:
            items = self._outbox.oldest()
            if not items:
                return True
            for item in items:
                try:
                    self._send(item.body)
                except Exception as exc:  # any failure keeps the events for a retry
                    self._outbox.failed(item, str(exc))
                    if self._failing_since is None:
                        self._failing_since = time.monotonic()
                        _logger.warning(
                            "The feedback endpoint %s did not take evaluation events (%s); they are "
                            "kept and re-sent until it does",
                            self._endpoint,
                            exc,
                        )
                    return False
                self._outbox.sent(item)
                self.events_sent += item.events
                if self._failing_since is not None:
                    _logger.info(
                        "The feedback endpoint %s takes events again (after %.0f s)",
                        self._endpoint,
                        time.monotonic() - self._failing_since,
                    )
                    self._failing_since = None
        return False
