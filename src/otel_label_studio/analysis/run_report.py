"""What the reviewers of an agent project found (pure): over the tasks that are runs (``meta["unit"]`` is
``run``), how the runs ended, and per run's newest submitted annotation its first wrong step counted by
step kind (model, tool, retriever) and by tool (or retriever), and the failure modes chosen.

The first wrong step is read as ``modes/run_answers.py`` reads it: chosen in the first agent layout's row,
else the earliest step marked "Wrong step". Its kind and name come from the task's step provenance
(``meta["steps"]``). ``RunTally.watch`` counts the tasks as they stream past the agreement report, so a
project is read once, in constant memory.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Mapping

from ..modes.annotations import newest_annotation
from ..modes.run_answers import read_run_answer, step_of
from ..modes.run_tasks import CUT_OFF, KIND_WORDS, RAISED, SUCCEEDED

STATUSES = (SUCCEEDED, RAISED, CUT_OFF)


@dataclass
class RunCounts:
    runs: int = 0  # tasks that are runs
    statuses: dict[str, int] = field(default_factory=dict)  # how the runs ended: succeeded, raised, cut off
    reviewed: int = 0  # runs with a submitted annotation
    no_wrong_step: int = 0  # reviewed runs with no step marked wrong (or "No step went wrong" chosen)
    first_wrong_by_kind: dict[str, int] = field(default_factory=dict)  # model, tool, retriever
    first_wrong_by_tool: dict[str, int] = field(default_factory=dict)  # "tool search_weather", ...
    failure_modes: dict[str, int] = field(default_factory=dict)  # reviewed runs that chose each

    @property
    def with_wrong_step(self) -> int:
        return self.reviewed - self.no_wrong_step


class RunTally:
    """Counts run tasks (``add``, or ``watch`` as they stream by); ``counts`` when done."""

    def __init__(self) -> None:
        self.runs = 0
        self.reviewed = 0
        self.no_wrong_step = 0
        self.statuses: Counter[str] = Counter()
        self.by_kind: Counter[str] = Counter()
        self.by_tool: Counter[str] = Counter()
        self.failure_modes: Counter[str] = Counter()

    def watch(self, tasks: Iterable[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
        for task in tasks:
            self.add(task)
            yield task

    def add(self, task: Mapping[str, Any]) -> None:
        meta = task.get("meta")
        if not isinstance(meta, Mapping) or meta.get("unit") != "run":
            return
        self.runs += 1
        self.statuses[_status(task.get("data"), meta)] += 1
        annotation = newest_annotation(task.get("annotations") or ())
        if annotation is None:
            return
        self.reviewed += 1
        answer = read_run_answer(annotation.get("result"))
        self.failure_modes.update(dict.fromkeys(answer.failure_modes, 1))
        if answer.first_wrong_step is None:
            self.no_wrong_step += 1
            return
        step = step_of(meta, answer.first_wrong_step)
        kind = str(step.get("kind")) if step is not None else "unknown"
        word = KIND_WORDS.get(kind, kind)
        self.by_kind[word] += 1
        if step is not None and kind in ("tool", "retriever"):
            self.by_tool[f"{word} {step.get('name')}"] += 1

    def counts(self) -> RunCounts:
        return RunCounts(
            runs=self.runs,
            statuses={status: self.statuses[status] for status in STATUSES if self.statuses[status]},
            reviewed=self.reviewed,
            no_wrong_step=self.no_wrong_step,
            first_wrong_by_kind=_most_first(self.by_kind),
            first_wrong_by_tool=_most_first(self.by_tool),
            failure_modes=_most_first(self.failure_modes),
        )


def _status(data: Any, meta: Mapping[str, Any]) -> str:
    """The task's ``status`` field; a task made before it had one: from its meta."""
    status = data.get("status") if isinstance(data, Mapping) else None
    if status in STATUSES:
        return str(status)
    if meta.get("incomplete"):
        return CUT_OFF
    return RAISED if meta.get("error") else SUCCEEDED


def _most_first(counter: Counter[str]) -> dict[str, int]:
    return dict(sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])))


def _listed(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{name} {count}" for name, count in counts.items()) or "none"


def run_lines(counts: RunCounts) -> list[str]:
    """The agent section of the text report."""
    ended = ", ".join(f"{status} {count}" for status, count in counts.statuses.items())
    return [
        f"Agent runs: {counts.runs} run{'' if counts.runs == 1 else 's'} ({ended or 'none'}), "
        f"{counts.reviewed} reviewed",
        f"  First wrong step: {counts.with_wrong_step} of {counts.reviewed} reviewed runs "
        f"({counts.no_wrong_step} with no step marked wrong)",
        f"    by step kind: {_listed(counts.first_wrong_by_kind)}",
        f"    by tool: {_listed(counts.first_wrong_by_tool)}",
        f"  Failure modes (reviewed runs that chose each): {_listed(counts.failure_modes)}",
    ]


__all__ = ["RunCounts", "RunTally", "run_lines"]
