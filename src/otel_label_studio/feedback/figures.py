"""Live calibration and arena figures: ``report``'s figures of each project reviewers are working on,
kept current as their annotations arrive, for serve's ``/metrics``.

serve takes Label Studio's annotation webhooks (``annotation_webhooks.py``); each annotation Label
Studio confirms tells ``LiveFigures.answered`` its project. The project is then read again from Label
Studio and its figures computed by the same code as ``report --calibration`` (``analysis.readings``:
per judge kappa, sensitivity, specificity, the corrected pass rate; on a pairwise project with three
or more variants, each variant's Bradley-Terry rating), on a thread of its own, never on the
webhook's: the webhook is answered at once. Debounced: a project is read at most once per
``interval`` seconds; annotations arriving meanwhile are taken by the read at the end of the
interval (so the last one is never left out). The figures last computed are kept in memory, replaced
whole, for the gauges' callbacks; a read that fails keeps the previous figures and logs a warning.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

_logger = logging.getLogger(__name__)

#: The default seconds between two readings of one project (``--figures-interval``).
INTERVAL = 60.0


@dataclass(frozen=True)
class JudgeFigures:
    kappa: float
    sensitivity: float
    specificity: float
    corrected_pass_rate: float
    raw_pass_rate: float


@dataclass(frozen=True)
class ProjectFigures:
    judges: dict[str, JudgeFigures] = field(default_factory=dict)
    ratings: dict[str, float] = field(default_factory=dict)  # variant -> Bradley-Terry rating (Elo scale)


Compute = Callable[[int], ProjectFigures]


def _number(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else math.nan


def figures_of(data: Mapping[str, Any]) -> ProjectFigures:
    """The live figures in a report's JSON (``report --calibration --json``'s data)."""
    judges = {
        c["name"]: JudgeFigures(
            kappa=_number(c.get("kappa_quadratic")),
            sensitivity=_number((c.get("sensitivity") or {}).get("value")),
            specificity=_number((c.get("specificity") or {}).get("value")),
            corrected_pass_rate=_number(c.get("corrected")),
            raw_pass_rate=_number((c.get("raw") or {}).get("value")),
        )
        for c in data.get("calibration") or ()
    }
    arena = data.get("arena") or {}
    ratings = {r["variant"]: _number(r.get("rating")) for r in arena.get("ratings") or ()}
    return ProjectFigures(judges, ratings)


def read_project(client: Any) -> Compute:
    """Reads a project from Label Studio through ``client`` (``LabelStudioClient``) and computes its
    figures as ``report --calibration`` does."""

    def compute(project_id: int) -> ProjectFigures:
        from ..analysis.readings import Asked  # numpy: loaded when a project is first read
        from ..modes.units import unit_of_project  # start-up time: the modes, loaded when first needed

        project = client.get_project(project_id)
        reading = unit_of_project(project.label_config).reading(project.label_config)
        pages = reading.report(
            client.iter_tasks(project_id),
            url=client.url,
            project_id=project.id,
            title=project.title,
            variant=None,
            asked=Asked(calibration=True),
        )
        return figures_of(pages.data)

    return compute


class LiveFigures:
    """``answered(task_id, project_id)`` marks a project to read (the webhooks' hook, returns at
    once); ``start()`` runs the reader thread, ``stop()`` ends it; ``snapshot()`` is the figures last
    computed by project. ``run_due(now)`` reads the projects due at ``now`` (the thread's step, and
    the tests')."""

    def __init__(
        self, compute: Compute, interval: float = INTERVAL, *, clock: Callable[[], float] = time.monotonic
    ):
        self._compute = compute
        self.interval = interval
        self._clock = clock
        self._lock = threading.Condition()
        self._dirty: set[int] = set()
        self._last: dict[int, float] = {}  # project -> when it was last read
        self._figures: dict[int, ProjectFigures] = {}
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.readings = 0  # projects read (each a recomputation)
        self.failures = 0

    def answered(self, task_id: int, project_id: int) -> None:
        with self._lock:
            self._dirty.add(project_id)
            self._lock.notify()

    def snapshot(self) -> dict[int, ProjectFigures]:
        with self._lock:
            return dict(self._figures)

    def next_due(self, now: float) -> float | None:
        """Seconds until the next project is due (0: now), None when none is waiting."""
        with self._lock:
            waits = [max(0.0, self._last.get(p, -math.inf) + self.interval - now) for p in self._dirty]
        return min(waits) if waits else None

    def run_due(self, now: float) -> list[int]:
        """Read every project due at ``now``: the ones read."""
        with self._lock:
            due = sorted(p for p in self._dirty if self._last.get(p, -math.inf) + self.interval <= now)
            for project in due:
                self._dirty.discard(project)
                self._last[project] = now
        for project in due:
            try:
                figures = self._compute(project)
            except Exception as exc:  # Label Studio down, a project gone: the previous figures stay
                self.failures += 1
                _logger.warning("Could not recompute the figures of project %d: %s", project, exc)
                continue
            with self._lock:
                self._figures[project] = figures
                self.readings += 1
        return due

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="live-figures", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._lock:
            self._stopping = True
            self._lock.notify()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while True:
            with self._lock:
                if self._stopping:
                    return
            wait = self.next_due(self._clock())
            if wait is None or wait > 0:
                with self._lock:
                    if not self._stopping:
                        self._lock.wait(timeout=wait)
                continue
            self.run_due(self._clock())
