"""Judge results a span carries as ``gen_ai.evaluation.result`` events (pure).

Some libraries write an evaluation of an LLM call as a span event on that call's span, with the
attributes ``gen_ai.evaluation.name``, ``gen_ai.evaluation.score.value``,
``gen_ai.evaluation.score.label`` and ``gen_ai.evaluation.explanation``. Each becomes a plain
dict (``name``, ``score``, ``label``, ``explanation``) on the record, so it survives the spool, and
a ``judge:<name>`` prediction on the task built at delivery (``layouts.Layout.task``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Protocol, Sequence

from .spanview import EventView

EVENT_NAME = "gen_ai.evaluation.result"
NAME = "gen_ai.evaluation.name"
SCORE = "gen_ai.evaluation.score.value"
LABEL = "gen_ai.evaluation.score.label"
EXPLANATION = "gen_ai.evaluation.explanation"


def score_value(raw: Any) -> float | None:
    """A finite number from a score attribute (a number or its text); None otherwise."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, str):
        try:
            raw = float(raw)
        except ValueError:
            return None
    if isinstance(raw, (int, float)) and math.isfinite(raw):
        return float(raw)
    return None


def _text(raw: Any) -> str | None:
    if raw is None or raw == "":
        return None
    return raw if isinstance(raw, str) else str(raw)


def read_evaluations(events: Iterable[EventView]) -> list[dict[str, Any]]:
    """One dict per ``gen_ai.evaluation.result`` event that names its evaluation, in event order.
    An event with neither a score nor a label nor an explanation says nothing and is left out."""
    found: list[dict[str, Any]] = []
    for event in events:
        if event.name != EVENT_NAME:
            continue
        attributes = event.attributes
        name = _text(attributes.get(NAME))
        if not name:
            continue
        score = score_value(attributes.get(SCORE))
        label = _text(attributes.get(LABEL))
        explanation = _text(attributes.get(EXPLANATION))
        if score is None and label is None and explanation is None:
            continue
        found.append({"name": name, "score": score, "label": label, "explanation": explanation})
    return found


@dataclass(frozen=True)
class JudgeEvent:
    """One judge result that arrived on its own (an OTLP log record, the SDK's log exporter), not as
    an event on the span it evaluates: it names that span, or the response, and waits to be joined
    with the span's task."""

    trace_id: str  # 32 lowercase hex digits; "" when the record carries none
    span_id: str  # 16 lowercase hex digits; "" when the record names gen_ai.response.id instead
    response_id: str | None  # gen_ai.response.id, where the record carries it
    result: dict[str, Any]  # as ``read_evaluations`` gives: name, score, label, explanation
    observed_ns: int  # when it arrived (time.time_ns())


class JudgeSink(Protocol):
    """Where judge results that arrive on their own go (the join with their span's task)."""

    def accept(self, events: Sequence[JudgeEvent]) -> None:
        """Take the events (durably where the bridge has a spool, before returning); raises
        ``queue.QueueFull`` when it cannot take them now, so a receiver can ask its sender to retry."""
        ...
