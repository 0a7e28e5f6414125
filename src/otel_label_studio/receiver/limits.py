"""How much work the receiver takes on at once, so memory is bounded by settings, not by senders.

The body cap bounds the bytes of one request, but not how many requests are being read and
decoded at the same moment, nor how many objects one request decodes into. ``DecodeGate`` is
shared by both transports: a request holds a slot while its body is read, inflated, parsed and
mapped, and a request that finds no free slot within a short wait is answered "busy" (HTTP 503
with Retry-After, gRPC UNAVAILABLE with RetryInfo), which every OTLP sender retries.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Iterator

DEFAULT_MAX_CONCURRENT_DECODES = 2
"""Requests read, inflated, parsed and mapped at the same time (HTTP and gRPC together)."""

DEFAULT_DECODE_WAIT_SECONDS = 2.0
"""How long a request waits for a free decode slot before it is answered busy."""

DEFAULT_MAX_SPANS_PER_REQUEST = 100_000
"""Most spans one export request may hold; a request with more is refused whole (413 / RESOURCE_EXHAUSTED)."""

BUSY_RETRY_AFTER_SECONDS = 1.0


class Busy(Exception):
    """Every decode slot is taken: the sender should keep its data and retry shortly."""

    def __init__(self, message: str, retry_after: float = BUSY_RETRY_AFTER_SECONDS):
        super().__init__(message)
        self.retry_after = retry_after


class DecodeGate:
    """A counting gate over the requests being decoded; thread-safe, used from any transport."""

    def __init__(
        self, slots: int = DEFAULT_MAX_CONCURRENT_DECODES, wait_seconds: float = DEFAULT_DECODE_WAIT_SECONDS
    ):
        if slots < 1:
            raise ValueError("the receiver needs at least one decode slot")
        self.slots = slots
        self._wait = wait_seconds
        self._free = threading.BoundedSemaphore(slots)
        self.refused = 0  # requests answered busy, for /metrics

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one slot for the body of the ``with``; raise ``Busy`` when none frees up in time."""
        if not self._free.acquire(timeout=self._wait):
            self.refused += 1
            raise Busy(f"all {self.slots} decode slots are busy")
        try:
            yield
        finally:
            self._free.release()
