"""The review state on the shared state server (``state_url``, PostgreSQL): limits, folding and the
folded repeats, one truth for every ``serve`` replica and in-process exporter feeding one Label Studio.

An admission is one transaction (``admit``), atomic across replicas by PostgreSQL's row locks:

1. the record's (trace_id, span_id) is claimed in ``ols_review_admissions``; when it was admitted
   before (a sender's retry after a replica died between admitting and acknowledging) it is admitted
   again without counting twice, so a record the limit admitted is never lost to its own count;
2. folding: the fingerprint is claimed in ``ols_review_fingerprints`` only when no other record
   claimed it within the window (``ON CONFLICT DO UPDATE ... WHERE seen_at <= at - window``): no row
   back means a recent task has it: folded, rolled back;
3. the limit: ``INSERT ... ON CONFLICT DO UPDATE SET used = used + 1 WHERE used < limit RETURNING``;
   no row back: over the limit, rolled back. The counter's row lock serializes replicas, so two
   replicas at ``limit: 30/day`` never admit 31.

``revoke`` deletes the admission and gives its count and fingerprint back, in one transaction.
``count`` (``decide``'s early answer) reads a copy refreshed every ``COUNT_FRESH_SECONDS``; only
``admit`` holds the limit. Folded repeats are added up in memory and written by ``commit`` (once per
batch). Rows of days gone are deleted once an hour. A server that cannot be reached raises
``StateUnavailable`` from ``admit`` (``store/shared.py``: fail closed); ``revoke`` then leaves the
admission in place, and a retry of the record finds it admitted.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any, Callable

from ..store.shared import SharedState, StateUnavailable, lock_key
from .state import FOLDED, KEPT, OVER_LIMIT, Limited

if TYPE_CHECKING:
    import psycopg

_logger = logging.getLogger(__name__)

COUNT_FRESH_SECONDS = 2.0  # how old decide's copy of a limit counter may be
_KEEP_SECONDS = 2 * 86_400  # admissions and counters older than this (and past their window) go
_SWEEP_SECONDS = 3_600.0

_TABLES = """
CREATE TABLE IF NOT EXISTS ols_review_counts (
    rule TEXT NOT NULL, project TEXT NOT NULL, period TEXT NOT NULL, used INTEGER NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL, PRIMARY KEY (rule, project, period));
CREATE TABLE IF NOT EXISTS ols_review_admissions (
    trace_id TEXT NOT NULL, span_id TEXT NOT NULL, admitted_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (trace_id, span_id));
CREATE INDEX IF NOT EXISTS ols_review_admissions_at ON ols_review_admissions (admitted_at);
CREATE TABLE IF NOT EXISTS ols_review_fingerprints (
    fingerprint BYTEA PRIMARY KEY, seen_at DOUBLE PRECISION NOT NULL, trace_id TEXT NOT NULL,
    span_id TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS ols_review_fingerprints_seen_at ON ols_review_fingerprints (seen_at);
CREATE TABLE IF NOT EXISTS ols_review_folded (project TEXT PRIMARY KEY, repeats BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS ols_review_budget (
    period TEXT PRIMARY KEY, explore BIGINT NOT NULL, total BIGINT NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL);
"""

_CLAIM_SPAN = (
    "INSERT INTO ols_review_admissions (trace_id, span_id, admitted_at) VALUES (%s, %s, %s) "
    "ON CONFLICT DO NOTHING RETURNING 1"
)
_CLAIM_FINGERPRINT = (
    "INSERT INTO ols_review_fingerprints AS f (fingerprint, seen_at, trace_id, span_id) "
    "VALUES (%(fingerprint)s, %(at)s, %(trace_id)s, %(span_id)s) "
    "ON CONFLICT (fingerprint) DO UPDATE SET seen_at = EXCLUDED.seen_at, trace_id = EXCLUDED.trace_id, "
    "span_id = EXCLUDED.span_id WHERE f.seen_at <= %(at)s - %(window)s RETURNING 1"
)
_TAKE = (
    "INSERT INTO ols_review_counts AS c (rule, project, period, used, updated_at) "
    "VALUES (%(rule)s, %(project)s, %(period)s, 1, %(at)s) "
    "ON CONFLICT (rule, project, period) DO UPDATE SET used = c.used + 1, updated_at = EXCLUDED.updated_at "
    "WHERE c.used < %(limit)s RETURNING used"
)
_USED = "SELECT used FROM ols_review_counts WHERE rule = %s AND project = %s AND period = %s"


def create_tables(connection: psycopg.Connection[Any]) -> None:
    """The review state's tables, if missing; one replica at a time (concurrent ``CREATE TABLE IF NOT
    EXISTS`` of one table can fail in PostgreSQL), under a transaction-scoped advisory lock."""
    connection.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key("otel-label-studio", "schema"),))
    for statement in _TABLES.split(";"):
        if statement.strip():
            connection.execute(statement)


class PostgresReviewState:
    """A ``ReviewState`` (``state.py``) on the shared state server. Thread-safe."""

    def __init__(self, shared: SharedState, *, clock: Callable[[], float] = time.time):
        self.shared = shared
        self._clock = clock
        self._channel = shared.channel(setup=create_tables)
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str, str], tuple[int, float]] = {}  # -> (used, read at)
        self._folded: dict[str, int] = {}  # last read from the server, plus this process's since
        self._folded_pending: dict[str, int] = {}
        self._swept = 0.0
        self._window = 0.0  # the longest fold window asked for: fingerprints are kept that long

    def count(self, rule: str, project: str, period: str) -> int:
        key = (rule, project, period)
        known = self._counts.get(key)
        now = self._clock()
        if known is not None and now - known[1] < COUNT_FRESH_SECONDS:
            return known[0]
        try:
            with self._channel.transaction() as db:
                row = db.execute(_USED, key).fetchone()
        except StateUnavailable:  # admit refuses then; decide lets the span through to it
            return known[0] if known is not None else 0
        used = int(row[0]) if row else 0
        self._counts[key] = (used, now)
        return used

    def admit(
        self,
        key: tuple[str, str],
        project: str,
        fingerprint: bytes | None,
        at: float,
        window: float,
        limit: Limited | None,
    ) -> str:
        import psycopg  # the shared state exists only with the driver (store/shared.py checked it)

        outcome, used = KEPT, None
        self._window = max(self._window, window)
        with self._channel.transaction() as db:
            if db.execute(_CLAIM_SPAN, (key[0], key[1], at)).fetchone() is None:
                return KEPT  # admitted before (a retry): counted then
            if fingerprint is not None:
                claim = {"fingerprint": fingerprint, "at": at, "window": window, "trace_id": key[0]}
                if db.execute(_CLAIM_FINGERPRINT, {**claim, "span_id": key[1]}).fetchone() is None:
                    outcome = FOLDED
                    raise psycopg.Rollback()
            if limit is not None:
                take = {"rule": limit[0], "project": project, "period": limit[1], "limit": limit[2], "at": at}
                row = db.execute(_TAKE, take).fetchone()
                if row is None:
                    outcome, used = OVER_LIMIT, limit[2]
                    raise psycopg.Rollback()
                used = int(row[0])
        if limit is not None and used is not None:
            self._counts[(limit[0], project, limit[1])] = (used, self._clock())
        if outcome == FOLDED:
            with self._lock:
                self._folded_pending[project] = self._folded_pending.get(project, 0) + 1
        return outcome

    def ledger(self) -> PostgresLedger:
        """The review budget's spend on the server: every replica spends from one row per period."""
        return PostgresLedger(self._channel, self._clock)

    def revoke(
        self, key: tuple[str, str], project: str, fingerprint: bytes | None, limit: Limited | None
    ) -> None:
        try:
            with self._channel.transaction() as db:
                gone = db.execute(
                    "DELETE FROM ols_review_admissions WHERE trace_id = %s AND span_id = %s RETURNING 1", key
                ).fetchone()
                if gone is None:
                    return
                if fingerprint is not None:  # admit's order (admission, fingerprint, counter): no deadlock
                    db.execute(
                        "DELETE FROM ols_review_fingerprints WHERE fingerprint = %s AND trace_id = %s "
                        "AND span_id = %s",
                        (fingerprint, *key),
                    )
                if limit is not None:
                    db.execute(
                        "UPDATE ols_review_counts SET used = used - 1 "
                        "WHERE rule = %s AND project = %s AND period = %s AND used > 0",
                        (limit[0], project, limit[1]),
                    )
        except StateUnavailable:  # the admission stays: a retry of the record is admitted as it was
            _logger.debug(
                "An admission of span %s could not be given back: the shared state is out of reach", key
            )

    def folded_by_project(self) -> dict[str, int]:
        """Folded repeats per project, all replicas' (as last read; read again when it can be)."""
        try:
            with self._channel.transaction() as db:
                rows = db.execute(
                    "SELECT project, repeats FROM ols_review_folded ORDER BY project"
                ).fetchall()
        except StateUnavailable:
            rows = None
        with self._lock:
            if rows is not None:
                self._folded = {str(project): int(repeats) for project, repeats in rows}
            folded = dict(self._folded)
            for project, repeats in self._folded_pending.items():
                folded[project] = folded.get(project, 0) + repeats
            return folded

    def commit(self) -> None:
        """Add this batch's folded repeats; once an hour, delete what no limit or window needs."""
        with self._lock:
            pending, self._folded_pending = self._folded_pending, {}
        now = self._clock()
        try:
            with self._channel.transaction() as db:
                for project, repeats in sorted(pending.items()):
                    db.execute(
                        "INSERT INTO ols_review_folded AS f (project, repeats) VALUES (%s, %s) "
                        "ON CONFLICT (project) DO UPDATE SET repeats = f.repeats + EXCLUDED.repeats",
                        (project, repeats),
                    )
                if now - self._swept >= _SWEEP_SECONDS:
                    self._swept = now
                    self._sweep(db, now, self._window)
        except StateUnavailable:  # counted again with the next batch
            with self._lock:
                for project, repeats in pending.items():
                    self._folded_pending[project] = self._folded_pending.get(project, 0) + repeats

    @staticmethod
    def _sweep(db: psycopg.Connection[Any], now: float, window: float) -> None:
        cutoff = now - _KEEP_SECONDS
        db.execute("DELETE FROM ols_review_counts WHERE updated_at < %s", (cutoff,))
        db.execute("DELETE FROM ols_review_admissions WHERE admitted_at < %s", (cutoff,))
        db.execute(
            "DELETE FROM ols_review_fingerprints WHERE seen_at < %s", (now - max(window, _KEEP_SECONDS),)
        )

    def close(self) -> None:
        self.commit()
        self._channel.close()


_SPENT = "SELECT explore, total FROM ols_review_budget WHERE period = %s"


class PostgresLedger:
    """A ``budget.Ledger`` on the shared state server: a spend locks its period's row (``SELECT ... FOR
    UPDATE``), so replicas deciding windows at once grant from one total, never past the cap."""

    def __init__(self, channel: Any, clock: Callable[[], float]):
        self._channel = channel
        self._clock = clock

    def spend(self, period: str, explore: int, exploit: int, cap: int) -> tuple[int, int]:
        now = self._clock()
        with self._channel.transaction() as db:
            db.execute(
                "INSERT INTO ols_review_budget (period, explore, total, updated_at) VALUES (%s, 0, 0, %s) "
                "ON CONFLICT DO NOTHING",
                (period, now),
            )
            row = db.execute(_SPENT + " FOR UPDATE", (period,)).fetchone()
            spent_explore, total = int(row[0]), int(row[1])
            room = max(0, cap - total)
            took_explore = min(explore, room)
            took_exploit = min(exploit, room - took_explore)
            db.execute(
                "UPDATE ols_review_budget SET explore = %s, total = %s, updated_at = %s WHERE period = %s",
                (spent_explore + took_explore, total + took_explore + took_exploit, now, period),
            )
        return took_explore, took_exploit

    def used(self, period: str) -> tuple[int, int]:
        try:
            with self._channel.transaction() as db:
                row = db.execute(_SPENT, (period,)).fetchone()
        except StateUnavailable:  # the window opens with the room it reads; spend holds the cap
            return 0, 0
        return (int(row[0]), int(row[1])) if row else (0, 0)
