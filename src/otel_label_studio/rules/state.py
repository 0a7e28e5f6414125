"""What review rules remember between spans: limit counters and the fingerprints of recent tasks.

A ``ReviewState`` admits a record atomically (``admit``: folded, over its limit, or kept and counted)
and gives an admission back (``revoke``). ``MemoryReviewState`` keeps its state for the life of the
process (the exporter without a spool, the dry run). ``SqliteReviewState`` keeps it in a small SQLite
file beside the spool, so a restart resets neither a daily limit nor the folding window: one process's
own truth, right for one replica. ``shared_state.PostgresReviewState`` keeps it in the shared state
server (``state_url``), one truth for every replica and exporter. Its changes are written by ``commit()``,
once per batch, in one transaction; the file is opened by ``durable.open_durable`` (damage is
found at start) but written with ``synchronous=NORMAL``: a killed process loses nothing, a power
cut may lose the last batch's counts, which costs at most one batch over a limit.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from typing import TYPE_CHECKING, Callable, Protocol

from ..store.durable import open_durable

if TYPE_CHECKING:
    from .budget import Ledger

STATE_FILE = "review-state.sqlite3"
_PRUNE_EVERY = 4096  # fingerprints remembered between two sweeps of expired ones (in memory)
_KEEP_PERIODS_SECONDS = 2 * 86_400  # limit counters older than this are deleted when the file is opened


KEPT = "kept"
OVER_LIMIT = "over limit"
FOLDED = "folded"

Limited = tuple[str, str, int]
"""What a record is counted against: its rule, the period (``period_key``) and the rule's limit."""


class ReviewState(Protocol):
    """What the review gate needs of a state. Thread-safe."""

    def count(self, rule: str, project: str, period: str) -> int:
        """Tasks counted against a rule's limit for a project and period (decide's early answer; it
        may lag behind other replicas: ``admit`` is what holds the limit)."""
        ...

    def admit(
        self,
        key: tuple[str, str],
        project: str,
        fingerprint: bytes | None,
        at: float,
        window: float,
        limit: Limited | None,
    ) -> str:
        """In one step: FOLDED (a task with this ``fingerprint`` was made less than ``window``
        seconds before ``at``; counted per project), OVER_LIMIT (``limit`` reached; nothing
        counted), or KEPT: counted against ``limit`` and the fingerprint remembered. ``key`` is the
        record's (trace_id, span_id)."""
        ...

    def revoke(
        self, key: tuple[str, str], project: str, fingerprint: bytes | None, limit: Limited | None
    ) -> None:
        """Undo a KEPT ``admit``: the record was not queued after all. Never raises."""
        ...

    def folded_by_project(self) -> dict[str, int]: ...

    def ledger(self) -> Ledger:
        """Where the review budget's spend is kept (``budget.Ledger``), as limits are."""
        ...

    def commit(self) -> None:
        """Write what this batch changed (once per batch)."""
        ...

    def close(self) -> None: ...


def period_key(period: str, now: float) -> str:
    """The UTC day (``2026-11-29``) or hour (``2026-11-29T13``) a limit counts in."""
    return time.strftime("%Y-%m-%d" if period == "day" else "%Y-%m-%dT%H", time.gmtime(now))


def state_path_for(spool_path: str) -> str:
    """Where the review state of a spool lives: in its directory, or beside its file."""
    if os.path.isdir(spool_path):
        return os.path.join(spool_path, STATE_FILE)
    root, _ = os.path.splitext(spool_path)
    return f"{root}.{STATE_FILE}"


def read_folded(path: str) -> dict[str, int]:
    """Folded repeats per project in a state file, read-only (for ``spool stats`` while serve runs);
    empty when there is no such file yet."""
    if not os.path.exists(path):
        return {}
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return dict(db.execute("SELECT project, repeats FROM folded ORDER BY project"))
    except sqlite3.OperationalError:  # a file from before the table existed
        return {}
    finally:
        db.close()


class MemoryLedger:
    """The ledger of one process, in memory; remembers the last few periods."""

    KEEP = 4

    def __init__(self) -> None:
        self._spent: dict[str, list[int]] = {}

    def spend(self, period: str, explore: int, exploit: int, cap: int) -> tuple[int, int]:
        spent = self._spent.setdefault(period, [0, 0])
        room = max(0, cap - spent[1])
        took_explore = min(explore, room)
        took_exploit = min(exploit, room - took_explore)
        spent[0] += took_explore
        spent[1] += took_explore + took_exploit
        while len(self._spent) > self.KEEP:
            del self._spent[min(self._spent)]
        return took_explore, took_exploit

    def used(self, period: str) -> tuple[int, int]:
        explore, total = self._spent.get(period, (0, 0))
        return explore, total


class MemoryReviewState:
    """Limit counters and recent task fingerprints, in memory. Safe to share between threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str, str], int] = {}
        self._seen: dict[bytes, float] = {}
        self._folded: dict[str, int] = {}
        self._since_prune = 0

    def count(self, rule: str, project: str, period: str) -> int:
        return self._counts.get((rule, project, period), 0)  # a dict read: no lock needed

    def take(self, rule: str, project: str, period: str, limit: int) -> bool:
        """Count one task against the limit; False (nothing counted) when it is reached."""
        key = (rule, project, period)
        with self._lock:
            used = self._counts.get(key, 0)
            if used >= limit:
                return False
            self._counts[key] = used + 1
            self._changed_count(key)
            return True

    def give_back(self, rule: str, project: str, period: str) -> None:
        """Undo one ``take``: the task it counted was not queued after all."""
        key = (rule, project, period)
        with self._lock:
            used = self._counts.get(key, 0)
            if used > 0:
                self._counts[key] = used - 1
                self._changed_count(key)

    def seen_recently(self, fingerprint: bytes, now: float, window: float) -> bool:
        """Whether a task with this fingerprint was made less than ``window`` seconds before ``now``."""
        with self._lock:
            seen_at = self._seen_at(fingerprint)
            return seen_at is not None and now - seen_at < window

    def remember(self, fingerprint: bytes, now: float, window: float) -> None:
        """A task with this fingerprint was made at ``now``; forget it ``window`` seconds later."""
        with self._lock:
            self._remember(fingerprint, now, window)

    def forget(self, fingerprint: bytes) -> None:
        """Undo a ``remember`` of this batch (its task was not queued after all)."""
        with self._lock:
            self._forget(fingerprint)

    def count_folded(self, project: str) -> None:
        """One repeat folded for ``project`` (``spool stats`` and ``/metrics`` show these)."""
        with self._lock:
            self._folded[project] = self._folded.get(project, 0) + 1
            self._changed_folded(project)

    def admit(
        self,
        key: tuple[str, str],
        project: str,
        fingerprint: bytes | None,
        at: float,
        window: float,
        limit: Limited | None,
    ) -> str:
        """See ``ReviewState.admit``: the fold check, the limit and remembering the fingerprint, under
        one lock (``key`` is not needed in one process)."""
        with self._lock:
            if fingerprint is not None:
                seen_at = self._seen_at(fingerprint)
                if seen_at is not None and at - seen_at < window:
                    self._folded[project] = self._folded.get(project, 0) + 1
                    self._changed_folded(project)
                    return FOLDED
            if limit is not None:
                counted = (limit[0], project, limit[1])
                used = self._counts.get(counted, 0)
                if used >= limit[2]:
                    return OVER_LIMIT
                self._counts[counted] = used + 1
                self._changed_count(counted)
            if fingerprint is not None:
                self._remember(fingerprint, at, window)
            return KEPT

    def revoke(
        self, key: tuple[str, str], project: str, fingerprint: bytes | None, limit: Limited | None
    ) -> None:
        if limit is not None:
            self.give_back(limit[0], project, limit[1])
        if fingerprint is not None:
            self.forget(fingerprint)

    def ledger(self) -> Ledger:
        """The review budget's spend (``budget.Ledger``): in memory, for this process's life."""
        return MemoryLedger()

    def folded_by_project(self) -> dict[str, int]:
        with self._lock:
            return dict(self._folded)

    def commit(self) -> None:
        """Nothing to write in memory."""

    def close(self) -> None:
        """Nothing to release in memory."""

    # --- what the durable state changes ---------------------------------------------------------

    def _seen_at(self, fingerprint: bytes) -> float | None:
        return self._seen.get(fingerprint)

    def _remember(self, fingerprint: bytes, now: float, window: float) -> None:
        self._seen[fingerprint] = now
        self._since_prune += 1
        if self._since_prune >= _PRUNE_EVERY:
            self._since_prune = 0
            self._seen = {key: at for key, at in self._seen.items() if now - at < window}

    def _forget(self, fingerprint: bytes) -> None:
        self._seen.pop(fingerprint, None)

    def _changed_count(self, key: tuple[str, str, str]) -> None:
        pass

    def _changed_folded(self, project: str) -> None:
        pass


class SqliteReviewState(MemoryReviewState):
    """The same, kept in an SQLite file: limits and folding survive a restart."""

    def __init__(self, path: str, *, clock: Callable[[], float] = time.time):
        super().__init__()
        self.path = path
        self._db = open_durable(path, what="review state file")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(
            """
            CREATE TABLE IF NOT EXISTS limit_counts (
                rule TEXT NOT NULL, project TEXT NOT NULL, period TEXT NOT NULL, used INTEGER NOT NULL,
                updated_at REAL NOT NULL, PRIMARY KEY (rule, project, period)) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS fingerprints (
                fingerprint BLOB PRIMARY KEY, seen_at REAL NOT NULL) WITHOUT ROWID;
            CREATE INDEX IF NOT EXISTS fingerprints_seen_at ON fingerprints (seen_at);
            CREATE TABLE IF NOT EXISTS folded (
                project TEXT PRIMARY KEY, repeats INTEGER NOT NULL) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS budget_spent (
                period TEXT PRIMARY KEY, explore INTEGER NOT NULL, total INTEGER NOT NULL,
                updated_at REAL NOT NULL) WITHOUT ROWID;
            """
        )
        self._clock = clock
        self._db.execute("DELETE FROM limit_counts WHERE updated_at < ?", (clock() - _KEEP_PERIODS_SECONDS,))
        for rule, project, period, used in self._db.execute(
            "SELECT rule, project, period, used FROM limit_counts"
        ):
            self._counts[(rule, project, period)] = used
        self._folded.update(self._db.execute("SELECT project, repeats FROM folded"))
        self._dirty_counts: set[tuple[str, str, str]] = set()
        self._dirty_folded: set[str] = set()
        self._new_seen: dict[bytes, float] = {}
        self._window = 0.0

    def _seen_at(self, fingerprint: bytes) -> float | None:
        pending = self._new_seen.get(fingerprint)
        if pending is not None:
            return pending
        row = self._db.execute(
            "SELECT seen_at FROM fingerprints WHERE fingerprint = ?", (fingerprint,)
        ).fetchone()
        return None if row is None else float(row[0])

    def _remember(self, fingerprint: bytes, now: float, window: float) -> None:
        self._new_seen[fingerprint] = now
        self._window = max(self._window, window)

    def _forget(self, fingerprint: bytes) -> None:
        self._new_seen.pop(fingerprint, None)  # remembered in this batch, not yet written

    def _changed_count(self, key: tuple[str, str, str]) -> None:
        self._dirty_counts.add(key)

    def _changed_folded(self, project: str) -> None:
        self._dirty_folded.add(project)

    def commit(self) -> None:
        """Write what changed since the last commit, in one transaction."""
        with self._lock:
            if not (self._dirty_counts or self._dirty_folded or self._new_seen):
                return
            now = self._clock()
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                db.executemany(
                    "INSERT OR REPLACE INTO limit_counts (rule, project, period, used, updated_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    [(*key, self._counts[key], now) for key in self._dirty_counts],
                )
                db.executemany(
                    "INSERT OR REPLACE INTO folded (project, repeats) VALUES (?, ?)",
                    [(project, self._folded[project]) for project in self._dirty_folded],
                )
                if self._new_seen:
                    db.executemany(
                        "INSERT OR REPLACE INTO fingerprints (fingerprint, seen_at) VALUES (?, ?)",
                        self._new_seen.items(),
                    )
                    db.execute("DELETE FROM fingerprints WHERE seen_at < ?", (now - self._window,))
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
            self._dirty_counts.clear()
            self._dirty_folded.clear()
            self._new_seen.clear()

    def ledger(self) -> Ledger:
        """The review budget's spend in this file, committed as it is spent: a restart reads it back."""
        return SqliteLedger(self._db, self._lock, self._clock)

    def close(self) -> None:
        self.commit()
        self._db.close()


class SqliteLedger:
    """A ``budget.Ledger`` in the review state's file: each spend is its own transaction, under the
    cap, committed before the picks are queued (a crash between costs picks, never extra ones)."""

    def __init__(self, db: sqlite3.Connection, lock: threading.Lock, clock: Callable[[], float]):
        self._db = db
        self._lock = lock
        self._clock = clock

    def spend(self, period: str, explore: int, exploit: int, cap: int) -> tuple[int, int]:
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                spent_explore, total = self._read(period)
                room = max(0, cap - total)
                took_explore = min(explore, room)
                took_exploit = min(exploit, room - took_explore)
                now = self._clock()
                db.execute(
                    "INSERT OR REPLACE INTO budget_spent (period, explore, total, updated_at) "
                    "VALUES (?, ?, ?, ?)",
                    (period, spent_explore + took_explore, total + took_explore + took_exploit, now),
                )
                db.execute("DELETE FROM budget_spent WHERE updated_at < ?", (now - _KEEP_PERIODS_SECONDS,))
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
        return took_explore, took_exploit

    def used(self, period: str) -> tuple[int, int]:
        with self._lock:
            return self._read(period)

    def _read(self, period: str) -> tuple[int, int]:
        row = self._db.execute(
            "SELECT explore, total FROM budget_spent WHERE period = ?", (period,)
        ).fetchone()
        return (int(row[0]), int(row[1])) if row else (0, 0)
