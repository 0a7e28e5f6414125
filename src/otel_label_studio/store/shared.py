"""The shared state server: one PostgreSQL database that every ``serve`` replica and in-process exporter
feeding one Label Studio agrees through (``state_url``, ``--state-url``).

What is shared: the review rules' limit counters, the fingerprints folding looks up and the folded
repeats (``rules/shared_state.py``), and the right to create a project of a title (``delivery/projects.py``,
an advisory lock). Without a state URL each process keeps its own (``review-state.sqlite3`` beside the
spool), which is right for one replica.

PostgreSQL rather than Redis: a production Label Studio already runs on PostgreSQL, so there is no new
server to run, back up and secure; an admission is one transaction whose row locks make it atomic
across replicas (``INSERT ... ON CONFLICT DO UPDATE ... WHERE used < limit RETURNING``), and it is
durable when committed, where Redis would need Lua scripts for the same atomicity and AOF with fsync
for the same durability.

An outage: every operation that needs the server and cannot have it raises ``StateUnavailable`` (a
``QueueFull``: the receiver answers 503 / UNAVAILABLE with a retry delay, the exporter drops the
batch and counts it). That is failing closed: no replica admits a task it cannot count, so a budget
is never overrun, and with a sender that retries (the Collector) nothing is lost. An outage is logged
once when it starts (WARNING, the URL with its password masked) and once when it ends; ``failures``
and ``unavailable`` are on ``/metrics``. While it lasts a connection is tried again at most once a
second, so a dead server costs a refused request, not a connect timeout, per span.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Iterator
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from .queue import QueueFull

if TYPE_CHECKING:
    import psycopg

_logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5.0  # what a refused sender is told to wait
RECONNECT_SECONDS = 1.0  # while the server is unreachable, at most one connection attempt this often
CONNECT_TIMEOUT_SECONDS = 5
STATEMENT_TIMEOUT_MS = 5_000  # a statement (or a row lock) waited on longer than this fails
SCHEMES = ("postgresql://", "postgres://")


class StateUnavailable(QueueFull):
    """The shared state server cannot be reached now: what needs it is refused, to be retried."""

    def __init__(self, message: str):
        super().__init__(message, RETRY_AFTER_SECONDS)


def parse_state_url(raw: str) -> str:
    """A PostgreSQL connection URL (``postgresql://user:password@host:5432/database``); ValueError
    naming what is wrong, with the password masked."""
    if not raw.startswith(SCHEMES):
        raise ValueError(
            f"{masked_url(raw)!r} must be a postgresql:// URL (postgresql://user:password@host/db)"
        )
    if not urlsplit(raw).hostname and "host=" not in raw:
        raise ValueError(f"{masked_url(raw)!r} names no host")
    return raw


def url_password(url: str | None) -> str | None:
    """The password a state URL carries (for the log mask), if any."""
    if not url:
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    found = dict(parse_qsl(parts.query)).get("password")
    return parts.password or found


def masked_url(url: str) -> str:
    """The URL as it may be logged: its password (in the authority or a ``password=`` parameter)
    as ``***``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    netloc = parts.netloc
    if parts.password is not None:
        user, _, host = netloc.rpartition("@")
        netloc = f"{user.split(':', 1)[0]}:***@{host}"
    query = urlencode(
        [(key, "***" if key == "password" else value) for key, value in parse_qsl(parts.query)], safe="*"
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def lock_key(*parts: str) -> int:
    """A 64-bit advisory lock key (signed, as PostgreSQL's bigint) for the parts, the same in every
    process."""
    digest = hashlib.blake2b("\x1f".join(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class SharedState:
    """The server at ``url`` and whether it can be reached now; ``channel`` opens a connection of it
    for one user (the review rules, the project claims). Thread-safe."""

    def __init__(self, url: str, *, clock: Callable[[], float] = time.monotonic):
        try:
            import psycopg  # noqa: F401  (only with a state URL: the postgres extra)
        except ImportError:
            raise ValueError(
                "state_url needs the PostgreSQL driver: pip install 'otel-label-studio[postgres]'"
            ) from None
        self.url = url
        self.shown = masked_url(url)
        self._clock = clock
        self._lock = threading.Lock()
        self._down_since: float | None = None
        self.failures = 0  # operations refused because the server could not be reached
        self.outages = 0
        self._channels: list[Channel] = []

    @property
    def unavailable(self) -> bool:
        return self._down_since is not None

    def channel(self, setup: Callable[[psycopg.Connection[Any]], None] | None = None) -> Channel:
        """A connection of its own (opened when first used); ``setup`` runs in a transaction after
        each connect (creating tables: it must be idempotent)."""
        channel = Channel(self, setup)
        with self._lock:
            self._channels.append(channel)
        return channel

    def close(self) -> None:
        """Close every channel's connection (at shutdown)."""
        with self._lock:
            channels = list(self._channels)
        for channel in channels:
            channel.close()

    def connect(self) -> psycopg.Connection[Any]:
        import psycopg  # checked in __init__; imported here so the package never needs it otherwise

        return psycopg.connect(
            self.url,
            autocommit=True,  # transactions are explicit (Channel.transaction)
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            application_name="otel-label-studio",
            options=f"-c statement_timeout={STATEMENT_TIMEOUT_MS} -c lock_timeout={STATEMENT_TIMEOUT_MS}",
            keepalives=1,
            keepalives_idle=10,
            keepalives_interval=5,
            keepalives_count=3,
        )

    def failed(self, exc: BaseException) -> StateUnavailable:
        """Count a failure; the first of an outage is logged. The error to raise."""
        reason = " ".join(str(exc).split()) or type(exc).__name__
        reason = reason.replace(self.url, self.shown)
        with self._lock:
            self.failures += 1
            first = self._down_since is None
            if first:
                self._down_since = self._clock()
                self.outages += 1
        if first:
            _logger.warning(
                "The shared review state at %s cannot be reached (%s): spans the review rules would count, "
                "and new projects, are refused with a retry until it is back (fail closed)",
                self.shown,
                reason,
            )
        return StateUnavailable(f"the shared review state at {self.shown} cannot be reached")

    def succeeded(self) -> None:
        if self._down_since is None:
            return
        with self._lock:
            since, self._down_since = self._down_since, None
        if since is not None:
            _logger.warning(
                "The shared review state at %s is back after %.1fs", self.shown, self._clock() - since
            )


class Channel:
    """One connection to the server, one transaction at a time (its lock); reopened after a failure,
    at most once per ``RECONNECT_SECONDS`` while the server is unreachable."""

    def __init__(self, state: SharedState, setup: Callable[[psycopg.Connection[Any]], None] | None):
        self._state = state
        self._setup = setup
        self._lock = threading.Lock()
        self._connection: psycopg.Connection[Any] | None = None
        self._next_try = 0.0

    @contextlib.contextmanager
    def transaction(self) -> Iterator[psycopg.Connection[Any]]:
        """The connection, in a transaction committed when the block ends (``psycopg.Rollback`` raised
        in it rolls back quietly). Raises ``StateUnavailable`` when the server cannot be reached."""
        import psycopg  # checked by SharedState; the driver is only imported with a state URL

        with self._lock:
            connection = self._open()
            try:
                with connection.transaction():
                    yield connection
            except (psycopg.OperationalError, psycopg.InterfaceError) as exc:  # lost, timed out, shut down
                self._drop()
                raise self._state.failed(exc) from None
        self._state.succeeded()

    def _open(self) -> psycopg.Connection[Any]:
        import psycopg  # as in transaction

        connection = self._connection
        if connection is not None and not connection.closed:
            return connection
        now = self._state._clock()
        if now < self._next_try:
            raise self._state.failed(ConnectionError("not retried yet"))
        self._next_try = now + RECONNECT_SECONDS
        try:
            connection = self._state.connect()
            if self._setup is not None:
                with connection.transaction():
                    self._setup(connection)
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            raise self._state.failed(exc) from None
        self._connection = connection
        return connection

    def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                connection.close()

    def close(self) -> None:
        with self._lock:
            self._drop()
