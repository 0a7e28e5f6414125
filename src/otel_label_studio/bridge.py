"""The parts the exporter and the sidecar share, built one way from the settings.

Same ingest path (mapping, redaction, queueing), same projects, same delivery worker: what
differs is only how spans arrive (SDK spans in-process, OTLP in the sidecar) and which queue
sits in the middle.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .assembly import MemoryHold, RunAssembler, RunHold, SpoolHold
from .config import Settings
from .ingest import Ingest
from .labelstudio import LabelStudioClient
from .layouts import Layout
from .mapping import Mapper
from .projects import Projects
from .queue import RecordQueue
from .redact import Redactor
from .spool import Spool
from .worker import WAITING_IN_SPOOL, DeliveryWorker


@dataclass(frozen=True)
class Bridge:
    client: LabelStudioClient
    projects: Projects
    ingest: Ingest
    worker: DeliveryWorker


def projects_for(settings: Settings, client: LabelStudioClient, layout: Layout) -> Projects:
    """The projects the settings name: by id, or by the strftime'd title."""
    return Projects(
        client,
        layout,
        project_id=settings.project_id,
        project_name=settings.project_name,
        config_given=settings.project_config is not None,
        reviewers_per_task=settings.reviewers_per_task,
    )


def build_bridge(
    settings: Settings,
    layout: Layout,
    queue: RecordQueue,
    *,
    after_import: Callable[[], None] | None = None,
    waiting: str = WAITING_IN_SPOOL,
) -> Bridge:
    """``waiting`` says what becomes of records while Label Studio fails (the queue decides)."""
    client = LabelStudioClient(settings.url, settings.api_key, settings.timeout)
    projects = projects_for(settings, client, layout)
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
    runs = run_assembler(settings, queue, redactor) if settings.mode == "agent" else None
    return Bridge(client, projects, Ingest(mapper, queue, worker.wake, runs=runs), worker)


def run_assembler(settings: Settings, queue: RecordQueue, redactor: Redactor) -> RunAssembler:
    """Mode agent: runs wait in the spool's file when the queue is durable, else in memory (capped)."""
    hold: RunHold
    hold = SpoolHold(queue) if isinstance(queue, Spool) else MemoryHold(queue, settings.max_open_runs)
    return RunAssembler(
        hold,
        grace=settings.run_grace,
        idle_timeout=settings.run_idle_timeout,
        redact=redactor.text if redactor else None,
    )
