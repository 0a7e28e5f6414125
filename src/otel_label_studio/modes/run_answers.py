"""Agent: what a reviewer's annotation of a run's task says (pure): the steps they marked, the first step
that went wrong, the failure modes.

Item n (n >= 1) of a run task's ``steps`` is step n (item 0 is the request: not a step), and
``meta["steps"][n - 1]`` is its provenance. The first wrong step is the one chosen in the
``first_wrong_step`` row of the first agent layout (its projects still have it), else the earliest step
marked "Wrong step" (``step_judgment`` regions): the agent layout has no separate row for it (Label Studio
has no tag that sets one control from another), so marking a step wrong says both. The report
(``analysis/run_report.py``) and the feedback events (``feedback/events.py``) both read it here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

WRONG_STEP = "Wrong step"
STEP_MARKS = "step_judgment"  # the ParagraphLabels over the steps
FIRST_WRONG_STEP = "first_wrong_step"  # the first agent layout's Choices
FAILURE_MODES = "failure_modes"  # Choices


@dataclass(frozen=True)
class RunAnswer:
    """One annotation of a run's task."""

    marks: dict[int, tuple[list[str], list[str]]] = field(default_factory=dict)  # step -> labels, texts
    first_wrong_step: int | None = None  # None: no step went wrong, or none was marked
    chosen: str | None = None  # the first_wrong_step choice as the reviewer picked it (old layout)
    failure_modes: list[str] = field(default_factory=list)


def step_number(name: Any) -> int | None:
    """The number a step's name (``"2 · tool search_weather"``) or a step item index starts with."""
    try:
        return int(str(name).split(" · ", 1)[0])
    except ValueError:
        return None


def read_run_answer(result: Any) -> RunAnswer:
    """What an annotation's ``result`` says about the run's steps (unknown parts are left out)."""
    items = [item for item in result if isinstance(item, Mapping)] if isinstance(result, list) else []
    marks: dict[int, tuple[list[str], list[str]]] = {}
    chosen: str | None = None
    failure_modes: list[str] = []
    for item in items:
        raw = item.get("value")
        value: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
        if item.get("type") == "paragraphlabels":
            first, last = step_number(value.get("start")), step_number(value.get("end"))
            if first is None:
                continue
            text = str(value.get("text") or "")
            for number in range(first, max(first, last if last is not None else first) + 1):
                if number < 1:
                    continue  # item 0 is the request
                labels, texts = marks.setdefault(number, ([], []))
                for label in value.get("paragraphlabels") or ():
                    if str(label) not in labels:
                        labels.append(str(label))
                if text and text not in texts:
                    texts.append(text)
        elif item.get("type") == "choices" and item.get("from_name") == FIRST_WRONG_STEP:
            chosen = next((str(choice) for choice in value.get("choices") or ()), None)
        elif item.get("type") == "choices" and item.get("from_name") == FAILURE_MODES:
            failure_modes.extend(str(choice) for choice in value.get("choices") or ())
    if chosen is not None:
        first_wrong = step_number(chosen)  # "No step went wrong": None
    else:
        first_wrong = min((n for n, (labels, _) in marks.items() if WRONG_STEP in labels), default=None)
    return RunAnswer(
        marks=dict(sorted(marks.items())),
        first_wrong_step=first_wrong,
        chosen=chosen,
        failure_modes=failure_modes,
    )


def step_of(meta: Any, number: int) -> Mapping[str, Any] | None:
    """Step ``number``'s provenance in a run task's meta (``kind``, ``name``, ``span_id``, ``error``)."""
    steps = meta.get("steps") if isinstance(meta, Mapping) else None
    if not isinstance(steps, list):
        return None
    return next(
        (step for step in steps if isinstance(step, Mapping) and step.get("number") == number),
        None,
    )


def step_heading(data: Any, number: int) -> str:
    """Step ``number``'s name as the task showed it (item n of ``data["steps"]``), else ``step n``."""
    raw = data.get("steps") if isinstance(data, Mapping) else None
    items: list[Any] = raw if isinstance(raw, list) else []
    if 0 < number < len(items) and isinstance(items[number], Mapping) and items[number].get("role"):
        return str(items[number]["role"])
    return f"step {number}"


__all__ = ["RunAnswer", "WRONG_STEP", "read_run_answer", "step_heading", "step_number", "step_of"]
