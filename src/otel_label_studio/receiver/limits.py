"""How much work the receiver takes on at once, so memory is bounded by settings, not by senders.

The body cap bounds the bytes of one request, but not how many requests are being read and
decoded at the same moment, nor how many objects one request decodes into. ``DecodeGate`` is
shared by both transports: a request holds a slot while its body is read, inflated, parsed and
mapped, and a request that finds no free slot within a short wait is answered "busy" (HTTP 503
with Retry-After, gRPC UNAVAILABLE with RetryInfo), which every OTLP sender retries.

Threads (gRPC) wait with ``slot()``; the HTTP server's event loop waits with ``async_slot()``,
which never blocks the loop. Both queue in one line: a freed slot goes to the longest waiter.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import threading
from typing import AsyncIterator, Callable, Iterator

DEFAULT_MAX_CONCURRENT_DECODES = 2
"""Requests read, inflated, parsed and mapped at the same time (HTTP and gRPC together)."""

DEFAULT_DECODE_WAIT_SECONDS = 2.0
"""How long a request waits for a free decode slot before it is answered busy."""

DEFAULT_MAX_SPANS_PER_REQUEST = 100_000
"""Most spans one export request may hold; a request with more is refused whole (413 / RESOURCE_EXHAUSTED)."""

DEFAULT_READ_TIMEOUT_SECONDS = 30.0
"""Most seconds an OTLP/HTTP request body may take to arrive (it holds a decode slot meanwhile)."""

BUSY_RETRY_AFTER_SECONDS = 1.0


class Busy(Exception):
    """Every decode slot is taken: the sender should keep its data and retry shortly."""

    def __init__(self, message: str, retry_after: float = BUSY_RETRY_AFTER_SECONDS):
        super().__init__(message)
        self.retry_after = retry_after


class _Waiter:
    __slots__ = ("granted", "wake")

    def __init__(self, wake: Callable[[], None]):
        self.granted = False
        self.wake = wake


class DecodeGate:
    """A counting gate over the requests being decoded; thread-safe, used from any transport."""

    def __init__(
        self, slots: int = DEFAULT_MAX_CONCURRENT_DECODES, wait_seconds: float = DEFAULT_DECODE_WAIT_SECONDS
    ):
        if slots < 1:
            raise ValueError("the receiver needs at least one decode slot")
        self.slots = slots
        self._wait = wait_seconds
        self._lock = threading.Lock()
        self._taken = 0
        self._waiters: collections.deque[_Waiter] = collections.deque()
        self.refused = 0  # requests answered busy, for /metrics

    @property
    def in_use(self) -> int:
        with self._lock:
            return self._taken

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one slot for the body of the ``with``; raise ``Busy`` when none frees up in time."""
        self.acquire()
        try:
            yield
        finally:
            self.release()

    @contextlib.asynccontextmanager
    async def async_slot(self) -> AsyncIterator[None]:
        """``slot()`` for a coroutine: waits without blocking the event loop."""
        await self.acquire_async()
        try:
            yield
        finally:
            self.release()

    def acquire(self) -> None:
        """Take a slot, waiting up to the gate's wait in this thread; ``Busy`` when none frees."""
        event = threading.Event()
        waiter = self._enter(event.set)
        if waiter is None:
            return
        event.wait(self._wait)
        self._leave(waiter)

    async def acquire_async(self) -> None:
        """Take a slot, waiting up to the gate's wait on the running loop; ``Busy`` when none frees."""
        loop = asyncio.get_running_loop()
        woken = loop.create_future()

        def settle() -> None:
            if not woken.done():
                woken.set_result(None)

        def wake() -> None:  # called by release(), from any thread
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
                loop.call_soon_threadsafe(settle)

        waiter = self._enter(wake)
        if waiter is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(woken), self._wait)
        except asyncio.TimeoutError:
            pass
        except BaseException:  # cancelled: give back a slot handed over meanwhile
            with self._lock:
                if not waiter.granted:
                    self._waiters.remove(waiter)
                    raise
            self.release()
            raise
        self._leave(waiter)

    def release(self) -> None:
        """Give a slot back: to the longest waiter if there is one, else to the pool."""
        with self._lock:
            if self._waiters:
                waiter = self._waiters.popleft()
                waiter.granted = True  # the slot passes on: ``_taken`` stays
                waiter.wake()
                return
            self._taken -= 1

    def _enter(self, wake: Callable[[], None]) -> _Waiter | None:
        """Take a free slot now (None), or queue a waiter."""
        with self._lock:
            if self._taken < self.slots and not self._waiters:
                self._taken += 1
                return None
            waiter = _Waiter(wake)
            self._waiters.append(waiter)
            return waiter

    def _leave(self, waiter: _Waiter) -> None:
        """After the wait: keep the slot handed over, or leave the line and raise ``Busy``."""
        with self._lock:
            if waiter.granted:
                return
            self._waiters.remove(waiter)
            self.refused += 1
        raise Busy(f"all {self.slots} decode slots are busy")
