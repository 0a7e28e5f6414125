"""One project per title: who may create the project of a new title, whatever asks for it at once.

Label Studio has no unique title constraint, so two processes that both look a new title up, find
nothing and create it make two projects, and tasks split between them. ``Projects.resolve`` looks a
title up, and only when it is missing claims it here, looks again, and creates it:

- ``SharedTitleClaims`` (a shared state server, ``state_url``): a PostgreSQL advisory lock per Label
  Studio URL and title, held in a transaction while the claimer looks up and creates; every replica
  and exporter on that server waits for it (and then finds the project). A process killed while
  holding it releases it with its connection. This holds across hosts.
- ``LocalTitleClaims`` (no shared state): an exclusive ``flock`` on a file per URL and title in the
  temporary directory, for every process of this user on this host, whatever thread asks.

Across hosts without a shared state nothing can stop two creations; ``Projects`` then converges: after
creating, it lists the title again and goes to the lowest id (the one every lookup picks); the process
that made the highest id deletes the higher ones with its label config that have no tasks (its own,
another process's, or one Label Studio on SQLite made itself by replaying a create that met a locked
database). A claim not had within its
timeout raises a transient ``LabelStudioError``: delivery retries, and by then finds the project.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
import time
from typing import Callable, Iterator, Protocol

from ..store.shared import SharedState, StateUnavailable, lock_key
from .labelstudio import ErrorKind, LabelStudioError

try:
    import fcntl
except ImportError:  # not on Windows: there a title is claimed within the process only
    fcntl = None  # type: ignore[assignment]

POLL_SECONDS = 0.05


class TitleClaims(Protocol):
    def claim(self, title: str, timeout: float) -> contextlib.AbstractContextManager[None]:
        """Held while ``title`` is looked up and created; ``LabelStudioError`` (transient) when not had
        within ``timeout`` seconds."""
        ...


def _busy(title: str, why: str) -> LabelStudioError:
    return LabelStudioError(ErrorKind.TRANSIENT, f"project {title!r} is not created now: {why}; retried")


class SharedTitleClaims:
    """An advisory lock on the shared state server, per Label Studio URL and title."""

    def __init__(self, shared: SharedState, url: str, *, sleep: Callable[[float], None] = time.sleep):
        self._channel = shared.channel()
        self._url = url
        self._sleep = sleep

    @contextlib.contextmanager
    def claim(self, title: str, timeout: float) -> Iterator[None]:
        key = lock_key("otel-label-studio", "project", self._url, title)
        deadline = time.monotonic() + timeout
        try:
            with self._channel.transaction() as db:
                while not db.execute("SELECT pg_try_advisory_xact_lock(%s)", (key,)).fetchone()[0]:  # type: ignore[index]
                    if time.monotonic() > deadline:
                        raise _busy(title, "another process is creating it")
                    self._sleep(POLL_SECONDS)
                yield  # the lock ends with the transaction
        except StateUnavailable as exc:  # fail closed: a project made without the claim may be a second one
            raise _busy(title, str(exc)) from None


class LocalTitleClaims:
    """A file lock per Label Studio URL and title, for the processes of this user on this host."""

    _threads = threading.Lock()  # flock is per open file: threads of one process take turns here first

    def __init__(
        self, url: str, directory: str | None = None, *, sleep: Callable[[float], None] = time.sleep
    ):
        self._url = url
        uid = os.getuid() if hasattr(os, "getuid") else 0
        self._directory = directory or os.path.join(tempfile.gettempdir(), f"otel-label-studio-{uid}")
        self._sleep = sleep

    @contextlib.contextmanager
    def claim(self, title: str, timeout: float) -> Iterator[None]:
        deadline = time.monotonic() + timeout
        if not self._threads.acquire(timeout=timeout):
            raise _busy(title, "another thread is creating it")
        try:
            if fcntl is None:
                yield
                return
            os.makedirs(self._directory, mode=0o700, exist_ok=True)
            name = f"project-{lock_key(self._url, title) & (2**64 - 1):016x}.lock"
            with open(os.path.join(self._directory, name), "a+b") as handle:
                while True:
                    try:
                        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        break
                    except BlockingIOError:
                        if time.monotonic() > deadline:
                            raise _busy(title, "another process is creating it") from None
                        self._sleep(POLL_SECONDS)
                try:
                    yield
                finally:
                    fcntl.flock(handle, fcntl.LOCK_UN)
        finally:
            self._threads.release()
