"""How ``export`` and ``report`` read a project's tasks: as single answers (prompt, chat, agent, or a
user's own config) or as pairs. Which reading a project gets, its review unit says
(``ReviewUnit.reading``); the commands only ask it for lines and a report.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from ..modes.pair_layout import PairLayout
from .calibration import TARGET_WIDTH, CalibrationTally, default_pass_at
from .datasets import Binding, Filters, dataset_lines, pair_lines
from .report import (
    Scale,
    build_pair_report,
    build_report,
    nothing_told_apart,
    pair_report_json,
    render_pair_text,
    render_text,
    to_json,
)
from .report_html import render_html, render_pair_html
from .run_report import RunTally

Tasks = Iterable[Mapping[str, Any]]


@dataclass(frozen=True)
class Asked:
    """What ``report`` was asked for beyond the defaults (its options)."""

    calibration: bool = False
    pass_at: float | None = None  # None: the upper half of the scale (calibration.default_pass_at)
    target_width: float = TARGET_WIDTH


@dataclass(frozen=True)
class Pages:
    """A report three ways, or the usage problem that stops it (e.g. the ``--variant`` to give)."""

    html: str
    data: dict[str, Any]
    text: str
    problem: str | None = None


class AnswerReading:
    """Tasks of one answer each (an LLM call or a run): reviewers' ratings and edits; agreement, and for
    tasks that are runs, their first wrong steps and failure modes (``run_report.py``)."""

    variants = False  # ``report --variant`` compares the sides of pairs: not here

    def __init__(self, label_config: str):
        self._config = label_config
        self._binding = Binding.from_config(label_config)  # ValueError when nothing can be exported

    def lines(
        self, tasks: Tasks, fmt: str, filters: Filters, skipped: Counter[str]
    ) -> Iterator[dict[str, Any]]:
        return dataset_lines(tasks, self._binding, fmt, filters)

    def report(
        self,
        tasks: Tasks,
        *,
        url: str,
        project_id: int,
        title: str,
        variant: str | None,
        asked: Asked = Asked(),
    ) -> Pages:
        runs = RunTally()  # an agent project's tasks are runs: counted as they stream by
        scale = Scale.from_config(self._config)
        tally = None
        if asked.calibration:
            pass_at = asked.pass_at if asked.pass_at is not None else default_pass_at(scale.max_rating)
            tally = CalibrationTally(pass_at, asked.target_width)
        report = build_report(
            runs.watch(tasks), scale, url=url, project_id=project_id, title=title, calibration=tally
        )
        counts = runs.counts() if runs.runs else None
        data = to_json(report) | ({"runs": asdict(counts)} if counts is not None else {})
        return Pages(render_html(report, counts), data, render_text(report, counts))


class PairReading:
    """Tasks of two answers to one prompt: the reviewers' choices; win rates."""

    variants = True

    def __init__(self, label_config: str):
        self._layout = PairLayout.from_config(label_config)

    def lines(
        self, tasks: Tasks, fmt: str, filters: Filters, skipped: Counter[str]
    ) -> Iterator[dict[str, Any]]:
        return pair_lines(tasks, self._layout, fmt, filters, skipped)

    def report(
        self,
        tasks: Tasks,
        *,
        url: str,
        project_id: int,
        title: str,
        variant: str | None,
        asked: Asked = Asked(),
    ) -> Pages:
        pairs = build_pair_report(tasks, variant=variant, project_id=project_id, title=title)
        return Pages(
            render_pair_html(pairs),
            pair_report_json(pairs),
            render_pair_text(pairs),
            nothing_told_apart(pairs),
        )


Reading = AnswerReading | PairReading
