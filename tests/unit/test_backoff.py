"""The one backoff: exponential with equal jitter, capped, Retry-After honoured, clock injected."""

import random

import pytest

from otel_label_studio.delivery.backoff import Backoff


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_steps_double_up_to_the_cap_with_jitter_between_half_and_whole() -> None:
    clock = _Clock()
    backoff = Backoff(start=1.0, cap=8.0, rng=random.Random(7), clock=clock)
    steps = [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    for step in steps:
        delay = backoff.failed()
        assert step * 0.5 <= delay <= step
        assert backoff.remaining() == pytest.approx(delay)
    assert backoff.failures == len(steps)


def test_retry_after_is_honoured_up_to_five_caps() -> None:
    backoff = Backoff(start=1.0, cap=10.0, rng=random.Random(1), clock=_Clock())
    assert backoff.failed(retry_after=30.0) == 30.0
    assert backoff.failed(retry_after=500.0) == 50.0


def test_success_starts_over_and_shorten_cuts_the_pause() -> None:
    clock = _Clock()
    backoff = Backoff(start=2.0, cap=60.0, rng=random.Random(3), clock=clock)
    for _ in range(5):
        backoff.failed()
    backoff.shorten(0.5)
    assert backoff.remaining() == pytest.approx(0.5)
    clock.now += 1.0
    assert backoff.remaining() == 0.0
    backoff.succeeded()
    assert backoff.failures == 0
    assert backoff.failed() <= 2.0


def test_a_nonsense_policy_is_refused() -> None:
    with pytest.raises(ValueError, match="start <= cap"):
        Backoff(start=5.0, cap=1.0)
