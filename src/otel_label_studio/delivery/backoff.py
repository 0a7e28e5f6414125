"""One waiting policy for everything that retries (delivery, the judge join, the feedback sender), built
here: ``label_studio_backoff`` for what sends to Label Studio, ``feedback_backoff`` for the feedback
endpoint.

Exponential from ``start`` to ``cap`` with "equal jitter" (a random half to whole of the step), so
sidecars that failed together do not retry together. The clock and the randomness are injected:
tests step them instead of sleeping.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable


class Backoff:
    """``failed()`` returns how long to wait before the next try; ``succeeded()`` starts over."""

    def __init__(
        self,
        *,
        start: float = 1.0,
        cap: float = 30.0,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        if start <= 0 or cap < start:
            raise ValueError(f"backoff needs 0 < start <= cap, got start={start} cap={cap}")
        self.start = start
        self.cap = cap
        self.clock = clock
        self._rng = rng or random.Random()
        self.failures = 0
        self.until = 0.0  # the clock's time before which no try is made

    def failed(self, retry_after: float | None = None) -> float:
        """Count a failure and return the pause; a server's ``Retry-After`` is honoured up to 5 caps."""
        self.failures += 1
        step = min(self.cap, self.start * 2 ** min(self.failures - 1, 62))
        delay = step * self._rng.uniform(0.5, 1.0)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.cap * 5))
        self.until = self.clock() + delay
        return delay

    def succeeded(self) -> None:
        self.failures = 0
        self.until = 0.0

    def remaining(self) -> float:
        """Seconds left in the current pause (0 when a try may be made now)."""
        return max(0.0, self.until - self.clock())

    def shorten(self, seconds: float) -> None:
        """Cut the current pause to at most ``seconds`` from now (a shutdown drain)."""
        self.until = min(self.until, self.clock() + seconds)


LABEL_STUDIO_START_SECONDS = 1.0
LABEL_STUDIO_CAP_SECONDS = 30.0
FEEDBACK_START_SECONDS = 1.0
FEEDBACK_CAP_SECONDS = 60.0  # a tracing backend is not waited on by a user: a longer pause is fine


def label_studio_backoff(
    clock: Callable[[], float] = time.monotonic, rng: random.Random | None = None
) -> Backoff:
    """The pause between tries of what sends to Label Studio (delivery, judge results)."""
    return Backoff(start=LABEL_STUDIO_START_SECONDS, cap=LABEL_STUDIO_CAP_SECONDS, rng=rng, clock=clock)


def feedback_backoff(clock: Callable[[], float] = time.monotonic) -> Backoff:
    """The pause between tries of the feedback sender (reviewers' scores to the feedback endpoint)."""
    return Backoff(start=FEEDBACK_START_SECONDS, cap=FEEDBACK_CAP_SECONDS, clock=clock)
