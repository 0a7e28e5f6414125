"""The one retry loop: a thread that runs a sender's rounds until it is stopped.

Everything that sends (records to Label Studio, with the judge results whose task exists now, in the
delivery worker; reviewers' scores to the feedback endpoint, in the feedback outbox) runs on it. A
round tries what is due and says how long to wait before the next one (its ``Backoff`` decides while
the far side fails); ``wake()`` cuts a wait short when new work arrives. The loop suppresses
instrumentation, so the bridge's own HTTP calls never become spans, and survives any bug in a round.
Each sender has its own loop, so a slow feedback endpoint never holds up Label Studio, nor the other
way round.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from opentelemetry.instrumentation.utils import suppress_instrumentation

from . import threads

_logger = logging.getLogger(__name__)

WAIT_FOR_WAKE = None  # a round's answer when nothing is due: sleep until ``wake()``
ERROR_PAUSE_SECONDS = 1.0  # after a round raised: the loop keeps going, but not in a tight spin


class RetryLoop:
    """``start()`` runs ``attempt`` on a daemon thread named ``name``: again at once when it returns
    0, after the seconds it returns, or when woken (``WAIT_FOR_WAKE``). ``end()`` (from a round or
    anywhere) or ``stop()`` (which also joins) finishes it; ``finished`` runs once it ended."""

    def __init__(
        self,
        name: str,
        attempt: Callable[[], float | None],
        *,
        finished: Callable[[], None] | None = None,
    ):
        self._name = name
        self._attempt = attempt
        self._finished = finished
        self._wake = threading.Event()
        self._ended = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> bool:
        """Start the thread; False when the interpreter refuses one (at its shutdown): the owner
        then does its work in the calling thread (``threads.py``)."""
        thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread = thread if threads.start(thread) else None
        return self._thread is not None

    @property
    def running(self) -> bool:
        """Whether the thread was started (False before ``start`` or when none could be had)."""
        return self._thread is not None

    @property
    def ended(self) -> bool:
        return self._ended.is_set()

    def wake(self) -> None:
        self._wake.set()

    def pause(self, seconds: float | None) -> None:
        """Wait up to ``seconds`` (None: until woken), cut short by ``wake()`` or ``end()``."""
        self._wake.wait(seconds)
        self._wake.clear()

    def end(self) -> None:
        self._ended.set()
        self._wake.set()

    def stop(self, timeout: float) -> None:
        """End the loop and wait up to ``timeout`` seconds for the round in progress."""
        self.end()
        self.join(timeout)

    def join(self, timeout: float) -> None:
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _run(self) -> None:
        try:
            with suppress_instrumentation():  # what the loop sends must not make spans of its own
                while not self._ended.is_set():
                    try:
                        wait = self._attempt()
                    except Exception:  # the loop must outlive any bug in one round
                        _logger.exception("Unexpected error in %s; retrying", self._name)
                        wait = ERROR_PAUSE_SECONDS
                    if self._ended.is_set():
                        return
                    if wait is None or wait > 0:
                        self.pause(wait)
        finally:
            if self._finished is not None:
                self._finished()
