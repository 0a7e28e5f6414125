"""A fake clock for code that takes an injected ``clock`` callable: tests move ``now`` by hand."""

from __future__ import annotations


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now
