"""The parts the exporter and the sidecar share, built one way from the settings.

Same ingest path (mapping, redaction, queueing), same projects, same delivery worker: what
differs is only how spans arrive (SDK spans in-process, OTLP in the sidecar) and which queue
sits in the middle.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from .config import Settings
from .delivery.labelstudio import LabelStudioClient
from .delivery.projects import Projects
from .delivery.worker import WAITING_IN_SPOOL, DeliveryWorker
from .ingest import Ingest
from .judges.judge_join import JudgeJoin, judge_store_for
from .modes.layouts import Layout
from .modes.pair_layout import PairLayout
from .modes.unit import HoldSettings
from .modes.units import unit_for
from .reading.mapping import Mapper
from .reading.redact import Redactor
from .store.opening import hold_for
from .store.queue import RecordQueue
from .store.shared import SharedState

if TYPE_CHECKING:
    from .rules import ReviewGate
    from .rules.budget_hold import BudgetHold


@dataclass(frozen=True)
class Bridge:
    client: LabelStudioClient
    projects: Projects
    ingest: Ingest
    worker: DeliveryWorker
    judges: JudgeJoin  # judge results that arrive on their own, joined with their span's task
    gate: ReviewGate | None = None  # the review rules, when a rules file is given
    shared: SharedState | None = None  # the shared state server, when a state URL is given

    def close_shared(self) -> None:
        """Close the shared state's connections (after the gate's state was written: ``ingest.close``)."""
        if self.shared is not None:
            self.shared.close()


def review_gate(
    settings: Settings,
    state_beside: str | None,
    clock: Callable[[], float] = time.time,
    shared: SharedState | None = None,
) -> ReviewGate | None:
    """The review gate of ``settings.review_rules`` (None without a file); its limits and folds
    are kept on the ``shared`` state server, else beside the spool ``state_beside`` (a file or
    directory), else in memory. Raises ValueError (file and line) for a bad rules file or a state
    file that cannot be opened."""
    if not settings.review_rules:
        return None
    from .rules import open_gate  # start-up time: the rule language (YAML) only when rules are given

    return open_gate(
        settings.review_rules,
        metadata_prefix=settings.metadata_prefix,
        project_id=settings.project_id,
        project_name=settings.project_name,
        spool_path=state_beside,
        clock=clock,
        shared=shared,
    )


def projects_for(
    settings: Settings,
    client: LabelStudioClient,
    layout: Layout | PairLayout,
    clock: Callable[[], float] = time.time,
    shared: SharedState | None = None,
) -> Projects:
    """The projects the settings name: by id, or by the title strftime'd in UTC at ``clock``'s time."""
    return Projects(
        client,
        layout,
        project_id=settings.project_id,
        project_name=settings.project_name,
        config_given=settings.project_config is not None,
        reviewers_per_task=settings.reviewers_per_task,
        now=clock,
        shared=shared,
    )


def build_bridge(
    settings: Settings,
    layout: Layout | PairLayout,
    queue: RecordQueue,
    *,
    after_import: Callable[[], None] | None = None,
    waiting: str = WAITING_IN_SPOOL,
    review_state: str | None = None,
    wake_for_judges: Callable[[], None] | None = None,
    clock: Callable[[], float] = time.time,
) -> Bridge:
    """The one composition root of the exporter and serve. ``waiting`` says what becomes of records
    while Label Studio fails (the queue decides); ``review_state`` is the spool (file or directory)
    the review rules' state is kept beside; ``wake_for_judges`` is called when a judge result arrives
    (default: wake delivery, which joins it). ``clock`` (the wall clock) names daily projects and the
    days review limits count in, both in UTC: one clock, one time zone."""
    # The shared state server (state_url): its review state and its project claims; connected on first use.
    shared = SharedState(settings.state_url) if settings.state_url else None
    gate = review_gate(settings, review_state, clock, shared)  # first: a bad file leaves nothing open
    layout = layout.revealing(settings.reveal_judges)  # when a task shows its judges (judges/judge.py)
    client = LabelStudioClient(settings.url, settings.api_key, settings.timeout)
    projects = projects_for(settings, client, layout, clock, shared)
    redactor = Redactor(settings.redact, builtin=settings.redact_builtin)
    mapper = Mapper(
        metadata_prefix=settings.metadata_prefix,
        include_errors=settings.include_errors,
        redactor=redactor,
    )
    worker = DeliveryWorker(
        queue,
        client,
        projects,
        batch_size=settings.batch_size,
        timeout=settings.timeout,
        import_timeout=settings.import_timeout,
        after_import=after_import,
        waiting=waiting,
    )
    runs = unit_for(settings.mode).hold(
        lambda: hold_for(queue, settings.max_open_runs),
        HoldSettings(settings.run_grace, settings.run_idle_timeout, settings.pair_wait),
        mapper=mapper,
        redact=redactor.text if redactor else None,
        gate=gate,
    )
    # Judge results (OTLP logs, the logs exporter) wait in the spool's file, or in memory, until
    # their span's task exists (judge_join.py), then become its judge predictions.
    judges = JudgeJoin(
        judge_store_for(queue, settings.max_queue_size),
        client,
        projects,
        wait=settings.judge_wait,
        timeout=settings.timeout,
        wake=wake_for_judges or worker.wake,
        reveal=settings.reveal_judges,
        answers_to_reveal=settings.reviewers_per_task,
    )
    worker.judges = judges
    budget = budget_hold(gate, queue, clock, worker.wake)
    ingest = Ingest(mapper, queue, worker.wake, gate=gate, runs=runs, budget=budget)
    return Bridge(client, projects, ingest, worker, judges, gate, shared)


def budget_hold(
    gate: ReviewGate | None, queue: RecordQueue, clock: Callable[[], float], wake: Callable[[], None]
) -> BudgetHold | None:
    """The review budget of the rules file (None without ``budget:``): records wait for their window
    in the spool's file, else in memory; spent through the review state's ledger."""
    if gate is None or gate.rules.budget is None:
        return None
    from .rules.budget_hold import BudgetHold  # start-up time: only with a budget
    from .store.budget_waiting import budget_waiting_for  # start-up time: as above

    return BudgetHold(
        gate.rules.budget,
        budget_waiting_for(queue),
        rules=lambda: gate.rules,
        ledger=gate.state.ledger(),
        clock=clock,
        wake=wake,
    )
