"""Decisions that wait for judges (a rule's ``await_judges`` and ``judge_wait``), in memory, bounded.

A rule that names judges to await holds the decision for a span until a result of each has come
(joined as the judge join joins: by trace and span id, or by ``gen_ai.response.id``) or its wait ran
out; then the rules decide on the span with those results as if they had been its own events
(``with_results``). Pure: the time is given; nothing is written.

    waits = JudgeWaits(max_held=10_000)
    if not waits.hold(view.trace_id, view.span_id, response_id, ("a", "b"), 600.0, now, item):
        ...                                   # full: dropped, counted
    for released in waits.arrived(events, now) + waits.expire(now):
        decide(with_results(released.item, released.results))

Bounds: at most ``max_held`` decisions held, and as many results that came before their span (a
judge's log can overtake the span's batch); past either bound the newcomer is dropped and counted
(``counts``). The durable holder (serve, ``spool_path``) is not built yet.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple, Sequence

from ..reading.evaluations import EVENT_NAME, LABEL, NAME, SCORE, JudgeEvent
from ..reading.spanview import EventView, SpanView

Result = tuple[float | None, str | None]


class Released(NamedTuple):
    item: Any
    results: dict[str, Result]  # the awaited judges' results that came (all of them, unless expired)
    waited: float  # seconds held
    complete: bool  # every awaited judge answered (False: the wait ran out)


@dataclass
class _Held:
    item: Any
    key: tuple[str, str]
    response_id: str | None
    awaited: tuple[str, ...]
    since: float
    deadline: float
    results: dict[str, Result] = field(default_factory=dict)


@dataclass
class WaitCounts:
    held: int = 0  # decisions held now
    released: int = 0  # decided once every awaited judge answered
    expired: int = 0  # decided when the wait ran out
    dropped: int = 0  # not held: the bound was reached (decided at once, without the judges)
    early_dropped: int = 0  # results that came before their span, past the bound
    waited_seconds: float = 0.0  # total time the released and expired decisions waited


class JudgeWaits:
    """Held decisions by span, bounded. Not thread-safe: its owner locks."""

    def __init__(self, max_held: int = 10_000):
        self.max_held = max_held
        self._held: dict[tuple[str, str], _Held] = {}
        self._by_response: dict[str, tuple[str, str]] = {}
        self._early: dict[tuple[str, str] | str, dict[str, Result]] = {}
        self._counts = WaitCounts()

    def counts(self) -> WaitCounts:
        return replace(self._counts, held=len(self._held))

    def hold(
        self,
        trace_id: str,
        span_id: str,
        response_id: str | None,
        awaited: Sequence[str],
        wait: float,
        now: float,
        item: Any,
    ) -> list[Released]:
        """Hold the decision for a span; released at once (a list of one) when its results all came
        before it, or when the bound is reached (dropped: counted, decided without waiting)."""
        key = (trace_id, span_id)
        held = _Held(item, key, response_id, tuple(awaited), now, now + wait)
        for early in (key, response_id):
            if early is not None and early in self._early:
                held.results.update(self._early.pop(early))
        if self._complete(held):
            return [self._release(held, now, complete=True)]
        if len(self._held) >= self.max_held:
            self._counts.dropped += 1
            return [Released(item, dict(held.results), 0.0, False)]
        self._held[key] = held
        if response_id:
            self._by_response[response_id] = key
        return []

    def arrived(self, events: Sequence[JudgeEvent], now: float) -> list[Released]:
        """Judge results in: the decisions they complete."""
        released = []
        for event in events:
            key = (event.trace_id, event.span_id)
            if key not in self._held and event.response_id:
                key = self._by_response.get(event.response_id, key)
            name = str(event.result.get("name"))
            result = (_number(event.result.get("score")), _text(event.result.get("label")))
            held = self._held.get(key)
            if held is None:
                self._keep_early(event, name, result)
                continue
            held.results[name] = result
            if self._complete(held):
                self._forget(held)
                released.append(self._release(held, now, complete=True))
        return released

    def expire(self, now: float) -> list[Released]:
        """The decisions whose wait ran out by ``now``, with whatever results came."""
        due = [held for held in self._held.values() if held.deadline <= now]
        for held in due:
            self._forget(held)
        return [self._release(held, now, complete=False) for held in due]

    def _complete(self, held: _Held) -> bool:
        return all(name in held.results for name in held.awaited)

    def _forget(self, held: _Held) -> None:
        del self._held[held.key]
        if held.response_id:
            self._by_response.pop(held.response_id, None)

    def _release(self, held: _Held, now: float, *, complete: bool) -> Released:
        waited = max(0.0, now - held.since)
        if complete:
            self._counts.released += 1
        else:
            self._counts.expired += 1
        self._counts.waited_seconds += waited
        return Released(held.item, dict(held.results), waited, complete)

    def _keep_early(self, event: JudgeEvent, name: str, result: Result) -> None:
        early_key: tuple[str, str] | str = (
            (event.trace_id, event.span_id) if event.span_id else (event.response_id or "")
        )
        if early_key not in self._early and len(self._early) >= self.max_held:
            self._counts.early_dropped += 1
            return
        self._early.setdefault(early_key, {})[name] = result


def with_results(view: SpanView, results: dict[str, Result]) -> SpanView:
    """The span as the rules see it once its judges answered: their results as its own events
    (after any it carried, so a result that came later wins, as on a span)."""
    events = [
        EventView(
            EVENT_NAME,
            view.end_time_unix_nano,
            {k: v for k, v in ((NAME, name), (SCORE, score), (LABEL, label)) if v is not None},
        )
        for name, (score, label) in results.items()
    ]
    return replace(view, events=(*view.events, *events))


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
