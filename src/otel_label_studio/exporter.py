"""``LabelStudioSpanExporter``: LLM and chat spans in, Label Studio tasks out.

A thin adapter onto the ingest path (``ingest.py``), shared with the receiver. It sits in an
app's whole trace pipeline: spans that are not LLM calls pass through untouched. ``export()``
maps and queues, nothing more: a delivery thread (started on the first record) imports into
Label Studio, so the app never waits on it. A full queue drops the batch and counts it: the app
is never asked to wait or retry. ``export()`` never raises into the app; the constructor does no
network I/O. The queue is bounded and in memory by default; with ``spool_path`` it is the
durable spool the sidecar uses, and what was not delivered survives a restart.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from typing import Sequence

from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from .bridge import build_bridge
from .config import Settings, resolve_settings
from .delivery.worker import DRAIN_RETRY_SECONDS, WAITING_IN_SPOOL
from .judges.judge_join import JudgeJoin
from .modes.layouts import Layout
from .modes.pair_layout import PairLayout
from .modes.units import task_layout, unit_for
from .reading.spanview import from_readable_span
from .store.durable import DamagedFile
from .store.opening import open_queue
from .store.queue import QueueFull, RecordQueue
from .store.shared import StateUnavailable

_logger = logging.getLogger(__name__)

MEMORY_WAITING = (
    "wait in memory and are retried; those still waiting when the app exits are lost "
    "(give spool_path= to keep them on disk)"
)


class LabelStudioSpanExporter(SpanExporter):
    """Export LLM and chat spans to Label Studio as tasks.

    Arguments mean what they mean for LangChain's ``LabelStudioCallbackHandler``; each one
    not given is read from the environment (see ``otel_label_studio.config``), then defaulted.

    Args:
        url: Label Studio URL (``LABEL_STUDIO_URL``, default ``http://localhost:8080``).
        api_key: Personal Access Token or legacy token (``LABEL_STUDIO_API_KEY``).
        project_id: existing project to fill (``LABEL_STUDIO_PROJECT_ID``).
        project_name: project title, strftime'd with the UTC date (default ``LangChain-%Y-%m-%d``).
        project_config: label config XML for a new project (replaces the layout's default).
        mode: ``"prompt"`` (default) or ``"chat"``: one task per LLM call; ``"agent"``: one task
            per LangChain run (see ``assembly.py``: runs wait ``run_grace`` seconds after their top
            span, at most ``max_open_runs`` traces in memory, or in the spool with ``spool_path``);
            ``"pairwise"``: one task per pair of answers to one prompt (see ``pair_hold.py``: a
            trace's LLM spans wait ``pair_wait`` seconds after its last span; a span with no
            partner is counted in ``counts["pair_spans_unpaired"]``, not imported).
        batch_size: most tasks per import request (default 500).
        timeout: seconds one request to Label Studio may take, and how long ``shutdown()``
            lets delivery drain (default 10).
        include_errors: make tasks of failed LLM calls, showing the error (default False).
        metadata_prefix: attribute prefix of run metadata (default
            ``traceloop.association.properties``).
        redact: regular expressions masked in prompts and responses (``OTEL_LABEL_STUDIO_REDACT``).
        redact_builtin: also mask e-mail addresses and common API-key shapes (default False).
        spool_path: keep undelivered records in this SQLite file (or directory) instead of
            memory (``OTEL_LABEL_STUDIO_SPOOL_PATH``); they are delivered after a restart. A
            damaged spool file is logged as an ERROR (which file, and the ``mv`` that moves it
            aside) and records are kept in memory instead, so the app starts all the same.
        max_queue_size: most records waiting in memory; more are dropped and counted
            (``OTEL_LABEL_STUDIO_MAX_QUEUE_SIZE``, default 10000).
        judge_wait: seconds a judge result from the ``label_studio`` logs exporter waits for its span's
            task before it is dropped and counted (``OTEL_LABEL_STUDIO_JUDGE_WAIT``, default 3600).
        review_rules: path of a review-rules file (``OTEL_LABEL_STUDIO_REVIEW_RULES``): which LLM
            spans become tasks; its limits and folds are kept beside ``spool_path`` when given.
        state_url: a shared state server (``OTEL_LABEL_STUDIO_STATE_URL``,
            ``postgresql://user:password@host/db``; the ``postgres`` extra): review limits and folding
            count with every other exporter and ``serve`` replica on it, and a new project title is
            created once among them. While it cannot be reached, a batch with spans the rules would
            count is dropped and counted (fail closed).

    Raises:
        ValueError: a bad argument, an unusable ``project_config`` or a bad review-rules file
            (from the argument or the variable: the message names the file, line and what to fix),
            before anything is created.
    """

    def __init__(
        self,
        url: str | None = None,
        api_key: str | None = None,
        project_id: int | str | None = None,
        project_name: str | None = None,
        project_config: str | None = None,
        mode: str | None = None,
        *,
        batch_size: int | None = None,
        timeout: float | None = None,
        include_errors: bool | None = None,
        metadata_prefix: str | None = None,
        redact: Sequence[str] | None = None,
        redact_builtin: bool | None = None,
        spool_path: str | None = None,
        max_queue_size: int | None = None,
        reviewers_per_task: int | None = None,
        review_rules: str | None = None,
        state_url: str | None = None,
        run_grace: float | None = None,
        run_idle_timeout: float | None = None,
        max_open_runs: int | None = None,
        pair_wait: float | None = None,
        judge_wait: float | None = None,
    ):
        arguments = {name: value for name, value in locals().items() if name != "self" and name[0] != "_"}
        self._settings: Settings = resolve_settings(**arguments)  # the one settings model checks them
        settings = self._settings
        try:
            self.layout: Layout | PairLayout = task_layout(settings.mode, settings.project_config)
        except ValueError as exc:
            raise ValueError(f"project_config: {exc}") from None
        if not settings.api_key:
            _logger.warning(
                "No Label Studio API key: set LABEL_STUDIO_API_KEY or pass api_key=; "
                "exports will fail until one is given"
            )
        self._queue: RecordQueue = _open_queue(settings.spool_path, settings.max_queue_size)
        waiting = WAITING_IN_SPOOL if self._queue.durable else MEMORY_WAITING
        try:
            bridge = build_bridge(
                settings,
                self.layout,
                self._queue,
                waiting=waiting,
                review_state=settings.spool_path if self._queue.durable else None,
                wake_for_judges=self._wake_for_judges,
            )
        except ValueError:
            self._queue.close()
            raise
        self._client, self._ingest, self._worker = bridge.client, bridge.ingest, bridge.worker
        self._bridge = bridge
        self._runs = bridge.ingest.runs  # mode agent or pairwise: spans held until their trace is released
        self._unit = unit_for(settings.mode)
        self._lock = threading.Lock()
        self._started = False
        self._shutdown = False
        # Judge results from the companion logs exporter (judge_logs.py) join this exporter's tasks.
        self.judges = bridge.judges

    def judge_sink(self) -> JudgeJoin | None:
        """Where the paired logs exporter (``judge_logs.py``) hands judge results; None once this
        exporter is shut down (they would have no delivery to reach their tasks)."""
        return None if self._shutdown else self.judges

    @property
    def counts(self) -> dict[str, int]:
        """What happened so far: spans seen, records queued, tasks created, records waiting or dropped,
        LLM spans not made tasks because another instrumentation described the same call
        (``described_twice``, see ``doubles.py``);
        mode agent: ``runs_*``; mode pairwise: ``pairs_released``, ``pair_spans_unpaired`` (spans with
        no partner when their trace's wait ended: not imported), ``pairs_identical``,
        ``pair_traces_waiting``; with review rules, per rule
        ``review.<rule>.<matched|kept|sampled_out|over_limit|folded>`` and ``review.no_rule_matched``;
        with a review budget ``budget.picked.<reason>``, ``budget.offered``, ``budget.let_go``,
        ``budget.waiting``, ``budget.used`` and ``budget.left`` (this period's)."""
        ingest, delivery = self._ingest.stats, self._worker.stats
        review = self._ingest.gate.counts().flat() if self._ingest.gate is not None else {}
        budget = self._ingest.budget.counts() if self._ingest.budget is not None else {}
        return {
            **self._mode_counts(),
            "spans": ingest.spans_received,
            "llm_spans": ingest.llm_spans,
            "no_content": ingest.no_content,
            "errors_skipped": ingest.errors_skipped,
            "unreadable": ingest.unreadable,
            "duplicates": ingest.duplicates,
            "described_twice": ingest.described_twice,
            "dropped": ingest.dropped,
            "tasks_created": delivery.tasks_created,
            "tasks_updated": delivery.tasks_updated,  # mode agent: a run completed after its task
            "dead_lettered": delivery.dead_lettered,
            "waiting": self._queue.depth,
            **self.judges.counts,
            **review,
            **budget,
            **({"state_refused": ingest.state_refused} if self._bridge.shared is not None else {}),
        }

    def _mode_counts(self) -> dict[str, int]:
        return self._unit.counts(self._runs) if self._runs is not None else {}

    @property
    def settings(self) -> Settings:
        return self._settings

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self._shutdown:
            _logger.warning("Exporter already shutdown, ignoring batch")
            return SpanExportResult.FAILURE
        try:
            with suppress_instrumentation():
                return self._export(spans)
        except Exception:  # never into the app
            _logger.exception("Unexpected error while exporting spans to Label Studio")
            return SpanExportResult.FAILURE

    def _export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        try:
            mapped = self._ingest.map(from_readable_span(span) for span in spans)
        except StateUnavailable:  # fail closed (logged once per outage): the app cannot retry
            self._ingest.refused_batch(len(spans))
            return SpanExportResult.FAILURE
        with self._lock:
            waiting = mapped.records or mapped.held or mapped.offers or self._queue.depth or self._open_runs()
            if not self._started and waiting:
                self._start()  # on the first export, so leftovers in a spool get delivered too
        try:
            added = self._ingest.enqueue(mapped)
        except QueueFull as full:  # the app cannot retry: the batch is dropped, and counted
            dropped = self._ingest.refused(mapped)
            _logger.warning("Label Studio spool is full (%s): %d records dropped", full, dropped)
            return SpanExportResult.FAILURE
        if added.dropped:
            _logger.warning(
                "The Label Studio queue is full (%d records waiting): %d records dropped. Label Studio "
                "is slow or unreachable; give spool_path= to keep records on disk instead.",
                self._queue.depth,
                added.dropped,
            )
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Wait until every queued record is delivered; False when the time ran out first. Mode agent:
        runs whose top span came are released at once, without waiting for the grace period. Mode
        pairwise: the pair wait is not cut short (a partner may still come); ``shutdown`` without a
        spool pairs what has arrived. Never raises."""
        try:
            return self._flush(timeout_millis / 1000)
        except Exception:  # never into the app
            _logger.exception("Unexpected error while flushing spans to Label Studio")
            return False

    def _flush(self, seconds: float) -> bool:
        if self._runs is not None:
            self._runs.release_ready(flush=True)
        with self._lock:
            if not self._started:
                if not self._queue.depth:
                    return True
                self._start()
        if not self._worker.threaded:  # none could be started (interpreter shutdown): deliver here
            return self._worker.deliver_here(seconds)
        self._worker.wake()
        return self._worker.wait_until_empty(seconds)

    def _drain(self, seconds: float) -> None:
        """Until the queue is empty or ``seconds`` passed, delivery keeps trying, at least once a second;
        not with a refused key, which no retry fixes."""
        deadline = time.monotonic() + seconds
        if self._worker.threaded:
            self._worker.cap_pauses(DRAIN_RETRY_SECONDS)  # a backoff pause must not outlast the drain
            self._worker.wait_until_empty(seconds, or_key_refused=True)
        self._worker.stop(max(0.0, deadline - time.monotonic()))  # without a thread: delivers here

    def _open_runs(self) -> int:
        """Runs a spool holds from before a restart (mode agent): the timer must run for them."""
        return self._runs.open_runs if self._runs is not None else 0

    def _wake_for_judges(self) -> None:
        """A judge result arrived: delivery (which joins it) runs, started if need be."""
        with self._lock:
            if self._shutdown:
                return
            if not self._started:
                self._start()
        self._worker.wake()

    def _start(self) -> None:
        """Delivery (and mode agent's run timer) starts; at interpreter shutdown no thread can, and
        ``force_flush``/``shutdown`` then deliver in their caller's thread."""
        self._started = True
        self._worker.start()
        if self._runs is not None:
            self._runs.start()
        if self._ingest.budget is not None:
            self._ingest.budget.start()

    def shutdown(self) -> None:
        """Keep delivering for up to ``timeout`` seconds, then say what was left undelivered. Never raises."""
        try:
            self._shut_down()
        except Exception:  # never into the app, which may be exiting
            _logger.exception("Unexpected error while shutting down the Label Studio exporter")

    def _shut_down(self) -> None:
        with self._lock:
            if self._shutdown:
                return
            self._shutdown = True
        if self._runs is not None:
            self._runs.stop()
            if not self._queue.durable:  # what waits in memory would be lost: released as it is
                self._runs.release_ready(everything=True)
            elif self._runs.open_runs:
                _logger.warning(
                    "%d traces whose %s are not yet formed wait in the spool %s and are completed after "
                    "the next start",
                    self._runs.open_runs,
                    self._runs.build.noun,
                    self._queue.location,
                )
        budget = self._ingest.budget
        if budget is not None:
            budget.stop()
            if not budget.durable:  # what waits in memory would be lost: its window is decided now
                budget.flush()
        if self._started:
            self._drain(self._settings.timeout)
        left = self._queue.depth
        if left:
            if self._queue.durable:
                _logger.warning(
                    "%d %s not yet delivered to Label Studio %s in the spool %s, delivered after the next "
                    "start",
                    left,
                    "record" if left == 1 else "records",
                    "stays" if left == 1 else "stay",
                    self._queue.location,
                )
            else:
                _logger.error(
                    "%d %s not delivered to Label Studio before shutdown (it kept trying for up "
                    "to %gs, the timeout) and %s lost: without spool_path records wait in memory only. "
                    "Give spool_path= to keep them on disk across restarts.",
                    left,
                    "record was" if left == 1 else "records were",
                    self._settings.timeout,
                    "is" if left == 1 else "are",
                )
        judges = self.judges.waiting
        if judges:
            if self._queue.durable:
                _logger.warning(
                    "%d judge results wait in the spool %s for their spans' tasks (up to judge_wait)",
                    judges,
                    self._queue.location,
                )
            else:
                _logger.error(
                    "%d judge results still waiting for their spans' tasks are lost: without spool_path they "
                    "wait in memory only",
                    judges,
                )
        dropped = self._ingest.stats.dropped
        if dropped:
            _logger.error("%d records were dropped while the queue was full", dropped)
        self._ingest.close()
        self._bridge.close_shared()
        self._queue.close()
        self._client.close()


def _open_queue(spool_path: str | None, max_queue_size: int) -> RecordQueue:
    try:
        return open_queue(spool_path, max_records=max_queue_size)
    except DamagedFile as exc:  # not the app's fault, nor a reason to stop it: say so, keep records in memory
        _logger.error(
            "%s. Until then records wait in memory (at most %d) and are lost if the app stops first",
            exc,
            max_queue_size,
        )
        return open_queue(None, max_records=max_queue_size)
    except (OSError, sqlite3.Error) as exc:
        raise ValueError(f"spool_path {spool_path!r} cannot be opened: {exc}") from None
