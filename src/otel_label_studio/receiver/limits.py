"""How much work the receiver takes on at once, so memory is bounded by settings, not by senders.

The body cap bounds the bytes of one request, but not how many requests are being read and
decoded at the same moment, nor how many objects one request decodes into. Two bounds do:

- ``ReceiveBudget`` counts the bytes of bodies being received (charged as they arrive, not by
  what a sender declares) until their request ends. Receiving costs time, not slots, so a slow
  or stalled sender holds only the few bytes it has sent, never what a real sender needs.
- ``DecodeGate`` is shared by both transports: a request takes a slot once its body is whole and
  keeps it while the body is inflated, parsed, mapped and spooled.

A request that does not fit (no slot free within a short wait, or a body that would pass the
budget) is answered "busy" (HTTP 503 with Retry-After, gRPC UNAVAILABLE with RetryInfo), which
every OTLP sender retries; the answer says which bound was full.

Threads (gRPC) wait with ``slot()``; the HTTP server's event loop waits with ``async_slot()``,
which never blocks the loop. Both queue in one line: a freed slot goes to the longest waiter.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import threading
import time
from typing import AsyncIterator, Callable, Iterator

from ..config import default

_logger = logging.getLogger(__name__)

# The user's bounds (decode slots, spans per request, read timeout, receive budget) are settings:
# their defaults and documentation are in config.Settings.

DECODE_WAIT_SECONDS = 2.0
"""How long a request waits for a free decode slot before it is answered busy."""

DECODE_SLOTS = "decode slots"
RECEIVE_BUDGET = "receive budget"

BUSY_RETRY_AFTER_SECONDS = 1.0


class Busy(Exception):
    """A bound is full (``bound``: ``DECODE_SLOTS`` or ``RECEIVE_BUDGET``): the sender should keep
    its data and retry shortly."""

    def __init__(
        self, message: str, retry_after: float = BUSY_RETRY_AFTER_SECONDS, bound: str = DECODE_SLOTS
    ):
        super().__init__(message)
        self.retry_after = retry_after
        self.bound = bound


class _Waiter:
    __slots__ = ("granted", "wake")

    def __init__(self, wake: Callable[[], None]):
        self.granted = False
        self.wake = wake


class DecodeGate:
    """A counting gate over the requests being decoded; thread-safe, used from any transport."""

    def __init__(
        self,
        slots: int = default("max_concurrent_decodes"),
        wait_seconds: float = DECODE_WAIT_SECONDS,
        *,
        name: str = "decode slots",
        bound: str = DECODE_SLOTS,
    ):
        """``name`` says what a slot is in the busy message; ``bound`` is what ``Busy`` names."""
        if slots < 1:
            raise ValueError(f"the receiver needs at least one of its {name}")
        self.slots = slots
        self.name = name
        self.bound = bound
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
        raise Busy(f"all {self.slots} {self.name} are busy", bound=self.bound)


RECEIVE_FAIR_SECONDS = 0.5
"""How long a gRPC call keeps its receive slot, once it has one, whatever else happens. gRPC's
Python API hands over a request message only once it is whole, so a call that has sent nothing
and one that is halfway through a large body look the same; past this, while every receive slot
is taken and another call waits, the call that has held its slot longest without its message is
cancelled (CANCELLED, which OTLP senders retry) and the slot goes on. 64 MiB arrive in about half
a second at 1 Gbit/s."""


class _Holder:
    """A call holding a receive slot while its message arrives."""

    __slots__ = ("cancel", "since")

    def __init__(self, since: float, cancel: Callable[[], None]):
        self.since = since
        self.cancel = cancel


class ReceiveSlots(DecodeGate):
    """gRPC's receive slots: a ``DecodeGate`` whose slot a waiting call takes from a call that holds
    one without its message past ``fair_seconds`` (``RECEIVE_FAIR_SECONDS``): stalled senders hold
    slots only while nobody else needs them, so they cannot keep other senders waiting. What a slot
    bounds (how many whole messages are held at once) is unchanged."""

    def __init__(
        self,
        slots: int,
        wait_seconds: float = DECODE_WAIT_SECONDS,
        *,
        fair_seconds: float = RECEIVE_FAIR_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        name: str = "gRPC receive slots",
        bound: str = RECEIVE_BUDGET,
    ):
        super().__init__(slots, wait_seconds, name=name, bound=bound)
        self.fair_seconds = fair_seconds
        self._clock = clock
        self._receiving: list[_Holder] = []  # oldest first
        self.preempted = 0  # calls cancelled to give their slot to a waiting call

    @contextlib.contextmanager
    def receiving(self, cancel: Callable[[], None]) -> Iterator[Callable[[], None]]:
        """Hold a slot for the body of the ``with`` (``Busy`` when none frees up in time); until the
        function it gives is called (the message is whole), ``cancel`` may be called to take the
        slot back for a waiting call."""
        self.acquire()
        holder = _Holder(self._clock(), cancel)
        with self._lock:
            self._receiving.append(holder)

        def received() -> None:
            with self._lock:
                if holder in self._receiving:
                    self._receiving.remove(holder)

        try:
            yield received
        finally:
            received()
            self.release()

    def acquire(self) -> None:
        """Take a slot, waiting up to the gate's wait; meanwhile, take one from a call that has held
        it past ``fair_seconds`` without its message. ``Busy`` when none frees."""
        event = threading.Event()
        waiter = self._enter(event.set)
        if waiter is None:
            return
        deadline = self._clock() + self._wait
        while not event.is_set():
            left = deadline - self._clock()
            if left <= 0:
                break
            event.wait(min(left, self._preempt()))
        self._leave(waiter)

    def _preempt(self) -> float:
        """Cancel the call that has held its slot longest without its message, once it has held it
        for ``fair_seconds``; how long to wait before looking again."""
        now = self._clock()
        with self._lock:
            if not self._receiving:
                return self.fair_seconds
            oldest = self._receiving[0]
            due = oldest.since + self.fair_seconds - now
            if due > 0:
                return due
            self._receiving.pop(0)
            self.preempted += 1
        _logger.info(
            "A gRPC call held a receive slot %.1f s without its message while another call waited: "
            "cancelled (its sender retries)",
            now - oldest.since,
        )
        oldest.cancel()  # its call ends, its slot goes to the longest waiter
        return self.fair_seconds


class ReceiveBudget:
    """The bytes of request bodies being received, charged as they arrive; thread-safe.

    Nothing waits on it: a charge that does not fit is refused at once (``Busy``), because the
    bytes are already on their way and holding them while waiting is what the budget prevents."""

    def __init__(self, limit: int = default("max_receive_bytes")):
        if limit < 1:
            raise ValueError("the receive budget needs at least one byte")
        self.limit = limit
        self._lock = threading.Lock()
        self._used = 0
        self.refused = 0  # requests answered busy, for /metrics

    @property
    def in_use(self) -> int:
        with self._lock:
            return self._used

    def account(self) -> Charge:
        """A request's account: charge its bytes as they arrive, ``release()`` when it ends."""
        return Charge(self)

    def _take(self, size: int, declared: bool) -> None:
        with self._lock:
            if self._used + size <= self.limit:
                if not declared:
                    self._used += size
                return
            self.refused += 1
            used = self._used
        what = f"its declared {size} bytes" if declared else "the rest of its body"
        raise Busy(
            f"the {_size(self.limit)} receive budget is taken by request bodies being received "
            f"({_size(used)} in use): {what} would not fit",
            bound=RECEIVE_BUDGET,
        )

    def _give_back(self, size: int) -> None:
        with self._lock:
            self._used -= size


class Charge:
    """One request's bytes against a ``ReceiveBudget``; a context manager that releases them."""

    __slots__ = ("_budget", "charged")

    def __init__(self, budget: ReceiveBudget):
        self._budget = budget
        self.charged = 0

    def check(self, declared: int) -> None:
        """``Busy`` when a declared length cannot fit in what is left of the budget (nothing charged)."""
        self._budget._take(declared, declared=True)

    def add(self, size: int) -> None:
        """Charge bytes that arrived; ``Busy`` (nothing charged) when they pass the budget."""
        if size:
            self._budget._take(size, declared=False)
            self.charged += size

    def release(self) -> None:
        if self.charged:
            self._budget._give_back(self.charged)
            self.charged = 0

    def __enter__(self) -> Charge:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()


def _size(value: int) -> str:
    return f"{value / (1 << 20):g} MiB" if value >= 1 << 20 else f"{value} bytes"
