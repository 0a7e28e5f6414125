"""Live figures (feedback/figures.py): debounced per project, never on the webhook's thread, the
figures ``report --calibration --json`` gives, the previous figures kept when a read fails."""

from __future__ import annotations

import math
import threading

import pytest

from otel_label_studio import PROMPT_CONFIG
from otel_label_studio.analysis.readings import AnswerReading, Asked
from otel_label_studio.feedback.figures import LiveFigures, ProjectFigures, figures_of


def _reads(log: list[int], fail: set[int] | None = None):
    def compute(project: int) -> ProjectFigures:
        log.append(project)
        if fail and project in fail:
            raise RuntimeError("Label Studio is down")
        return ProjectFigures(ratings={"v": float(len(log))})

    return compute


def test_a_project_is_read_at_once_then_at_most_once_per_interval():
    log: list[int] = []
    live = LiveFigures(_reads(log), interval=30.0)
    assert live.next_due(0.0) is None and live.run_due(0.0) == []
    live.answered(1, 7)
    assert live.next_due(100.0) == 0.0 and live.run_due(100.0) == [7]  # the first: at once
    live.answered(2, 7)
    live.answered(3, 7)  # two more within the interval: one read at its end, taking both
    assert live.next_due(110.0) == pytest.approx(20.0) and live.run_due(110.0) == []
    live.answered(4, 8)  # another project is not held back by the first
    assert live.run_due(111.0) == [8]
    assert live.run_due(130.0) == [7] and log == [7, 8, 7]
    assert live.next_due(131.0) is None  # nothing left: the last annotation was taken
    assert live.snapshot()[7].ratings == {"v": 3.0} and live.readings == 3


def test_a_failed_read_keeps_the_previous_figures():
    log: list[int] = []
    fail: set[int] = set()
    live = LiveFigures(_reads(log, fail), interval=1.0)
    live.answered(1, 7)
    live.run_due(0.0)
    fail.add(7)
    live.answered(2, 7)
    live.run_due(5.0)
    assert live.snapshot()[7].ratings == {"v": 1.0} and live.failures == 1


def test_answered_returns_at_once_and_the_thread_reads():
    started, release = threading.Event(), threading.Event()

    def slow(project: int) -> ProjectFigures:
        started.set()
        release.wait(5)
        return ProjectFigures(ratings={"v": 1.0})

    live = LiveFigures(slow, interval=60.0)
    live.start()
    try:
        live.answered(1, 3)  # returns while the read is held
        assert started.wait(5)
        assert live.snapshot() == {}
        release.set()
        for _ in range(500):
            if live.snapshot():
                break
            threading.Event().wait(0.01)
        assert live.snapshot()[3].ratings == {"v": 1.0}
    finally:
        live.stop()


def test_the_figures_are_the_reports():
    def task(task_id: int, score: float, human: int | None) -> dict:
        annotations = []
        if human is not None:
            result = [{"type": "rating", "from_name": "rating", "value": {"rating": human}}]
            annotations.append(
                {"id": task_id, "completed_by": 1, "updated_at": "2026-01-01", "result": result}
            )
        meta = {"evaluations": [{"name": "quality", "score": score}]}
        return {"id": task_id, "meta": meta, "annotations": annotations, "predictions": []}

    tasks = [task(i, [1.0, 0.0, 1.0, 1.0, 0.0, 1.0][i % 6], [5, 1, 4, 2, 2, None][i % 6]) for i in range(30)]
    pages = AnswerReading(PROMPT_CONFIG).report(
        tasks, url="http://ls", project_id=1, title="t", variant=None, asked=Asked(calibration=True)
    )
    [c] = pages.data["calibration"]
    quality = figures_of(pages.data).judges["quality"]
    assert quality.corrected_pass_rate == c["corrected"]
    assert quality.sensitivity == c["sensitivity"]["value"] == 1.0
    assert quality.specificity == pytest.approx(2 / 3)
    assert quality.kappa == c["kappa_quadratic"] and quality.raw_pass_rate == c["raw"]["value"]
    assert math.isnan(
        figures_of({"calibration": [{"name": "x", "corrected": None}]}).judges["x"].corrected_pass_rate
    )
    assert math.isnan(figures_of({"calibration": [{"name": "x"}]}).judges["x"].kappa)
    assert figures_of({"arena": {"ratings": [{"variant": "a", "rating": 1010.5}]}}).ratings == {"a": 1010.5}
