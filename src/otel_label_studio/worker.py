"""The delivery worker: drains the spool into Label Studio, one import in flight at a time.

- Batches: up to ``batch_size`` tasks per import request (Label Studio is ~50x faster in bulk).
- Exactly once: records are marked in flight before their import and removed by the commit
  after it; records found in flight (the process died, or the import timed out) are looked up in
  Label Studio by span id first, and only the missing ones are imported.
- Failures: an unreachable or overloaded Label Studio pauses delivery with exponential backoff
  and jitter, honouring ``Retry-After``; a refused key pauses it until the key works (nothing is
  dropped, ``/readyz`` says why); a request Label Studio refuses for good is split until the
  task at fault is found, which goes to the dead letters with the reason while its batch-mates land.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Protocol, Sequence

from opentelemetry.instrumentation.utils import suppress_instrumentation

from .delivery import OutageLog
from .labelstudio import AUTH, REJECTED, LabelStudioClient, LabelStudioError
from .projects import MISFIT, RECHECK_SECONDS, Projects, Target
from .record import LLMRecord
from .spool import AddResult, DeadLetter, SpoolFull, SpoolItem, SpoolStats

_logger = logging.getLogger(__name__)

BACKOFF_START_SECONDS = 1.0
BACKOFF_MAX_SECONDS = 30.0
IDLE_POLL_SECONDS = 1.0
PRUNE_EVERY_SECONDS = 3600.0  # how often remembered deliveries past their retention are dropped
LATENCY_BUCKETS = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
WAITING_IN_SPOOL = "wait to be delivered; nothing is dropped"  # what an outage means for spooled records
DEAD_LETTERS_LOGGED_PER_BATCH = 3  # each with its span and reason; the rest of a batch in one line


class RecordQueue(Protocol):
    """What delivery needs of a queue: the durable ``Spool`` or the in-process ``MemoryQueue``."""

    def add(self, records: Sequence[LLMRecord]) -> AddResult: ...
    def take(self, limit: int) -> list[SpoolItem]: ...
    def next_due(self) -> float | None: ...
    def mark_in_flight(self, items: Iterable[SpoolItem]) -> None: ...
    def delivered(
        self, items: Sequence[SpoolItem], project_id: int, task_ids: Sequence[int] = ()
    ) -> None: ...
    def defer(
        self, items: Iterable[SpoolItem], until: float, reason: str, *, landed: bool = True
    ) -> None: ...
    def dead(self, item: SpoolItem, reason: str) -> None: ...
    def dead_letters(self, limit: int = 100) -> list[DeadLetter]: ...
    def forget_delivered(self) -> int: ...
    def stats(self) -> SpoolStats: ...
    def close(self) -> None: ...

    @property
    def depth(self) -> int: ...


@dataclass
class WorkerStats:
    tasks_created: int = 0
    dead_lettered: int = 0
    already_present: int = 0  # found in Label Studio after a crash; not imported again
    import_requests: int = 0
    failures: int = 0
    latency_buckets: list[int] = field(default_factory=lambda: [0] * len(LATENCY_BUCKETS))
    latency_count: int = 0
    latency_sum: float = 0.0

    def observe_latency(self, seconds: float) -> None:
        self.latency_count += 1
        self.latency_sum += seconds
        for index, bound in enumerate(LATENCY_BUCKETS):
            if seconds <= bound:
                self.latency_buckets[index] += 1


class DeliveryWorker:
    """A daemon thread; ``wake()`` after adding to the spool, ``stop(drain)`` to finish."""

    def __init__(
        self,
        spool: RecordQueue,
        client: LabelStudioClient,
        projects: Projects,
        *,
        batch_size: int,
        timeout: float,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        after_import: Callable[[], None] | None = None,
        waiting: str = WAITING_IN_SPOOL,
    ):
        self._spool = spool
        self._waiting = waiting  # what becomes of records during an outage, as the queue keeps them
        self._client = client
        self._projects = projects
        self._batch_size = batch_size
        self._timeout = timeout
        self._clock = clock
        self._rng = rng or random.Random()
        self._after_import = after_import  # a test hook: runs between an import and its commit
        self._dead_in_batch = 0
        self._outages = OutageLog(client)
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._drain_deadline = 0.0
        self._thread: threading.Thread | None = None
        self._failures = 0
        self._paused_until = 0.0
        self.paused_reason: str | None = None  # set while delivery waits on an outage or a bad key
        self.key_refused = False  # the last attempt failed on the API key: /readyz says so
        self.stats = WorkerStats()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="otel-label-studio-delivery", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def retry_within(self, seconds: float) -> None:
        """Cut a backoff pause short to at most ``seconds`` from now (the exporter's shutdown drain)."""
        self._paused_until = min(self._paused_until, self._clock() + seconds)
        self._wake.set()

    def stop(self, drain_seconds: float) -> bool:
        """Deliver what is due for up to ``drain_seconds``, then stop; True when the spool was emptied."""
        self._drain_deadline = self._clock() + drain_seconds
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(drain_seconds + self._timeout + 1.0)
        return self._spool.stats().depth == 0

    def _run(self) -> None:
        with suppress_instrumentation():  # the bridge's own HTTP calls must not become spans
            self._loop()

    def _loop(self) -> None:
        pruned_at = -PRUNE_EVERY_SECONDS
        while True:
            if self._clock() - pruned_at >= PRUNE_EVERY_SECONDS:
                pruned_at = self._clock()
                self._spool.forget_delivered()
            if self._stopping.is_set() and self._clock() >= self._drain_deadline:
                return
            try:
                worked = self.run_once()
            except SpoolFull as full:  # a full disk: the spool warned once; what was in flight is looked up
                worked = False
                self._pause(None, str(full))
            except Exception:  # the worker must outlive any bug in one cycle
                _logger.exception("Delivery cycle failed; retrying")
                worked = False
                self._pause(None, "internal error")
            if self._stopping.is_set() and not worked:
                return
            if not worked:
                self._wait()

    def _wait(self) -> None:
        now = self._clock()
        wait = IDLE_POLL_SECONDS
        if self._paused_until > now:
            wait = self._paused_until - now
        else:
            due = self._spool.next_due()
            if due is not None and due > now:
                wait = min(wait, due - now)
        if self._stopping.is_set():
            wait = min(wait, max(0.0, self._drain_deadline - now))
        self._wake.wait(wait)
        self._wake.clear()

    def run_once(self) -> bool:
        """One cycle: deliver the due records of one take. False when there was nothing to do."""
        if self._clock() < self._paused_until:
            return False
        items = self._spool.take(self._batch_size)
        if not items:
            return False
        groups: dict[str, list[SpoolItem]] = {}
        for item in items:
            groups.setdefault(self._projects.key(item.record.project), []).append(item)
        progressed = False
        for key, group in groups.items():
            try:
                progressed |= self._deliver_group(key, group)
            except LabelStudioError as error:
                self._failed(key, group, error)
                if error.kind != MISFIT:  # Label Studio itself is failing: pause everything
                    return False
        if progressed:
            self._failures = 0
            self._paused_until = 0.0
            if self.paused_reason is not None:
                _logger.warning("Delivery resumed")
            self.paused_reason = None
            self.key_refused = False
            self._outages.recovered("tasks waited in the spool")
        return progressed

    def _deliver_group(self, key: str, group: list[SpoolItem]) -> bool:
        target = self._projects.resolve(key, self._timeout)
        project_id = target.project.id
        maybe_landed = [item for item in group if item.in_flight]
        if maybe_landed:
            present = self._client.existing_spans(
                project_id, [item.record.span_id for item in maybe_landed], self._timeout
            )
            landed = [item for item in maybe_landed if (item.record.trace_id, item.record.span_id) in present]
            if landed:
                self._spool.delivered(landed, project_id)
                self.stats.already_present += len(landed)
                _logger.info(
                    "%d records already had tasks in project %d (imported before a crash), skipped",
                    len(landed),
                    project_id,
                )
                group = [item for item in group if item not in landed]
        if group:
            self._dead_in_batch = 0
            self._import(key, target, group)
            unlogged = self._dead_in_batch - DEAD_LETTERS_LOGGED_PER_BATCH
            if unlogged > 0:
                _logger.error(
                    "... and %d more tasks of the same batch for project %d went to the dead letters; "
                    "see `otel-label-studio spool dead-letters` for each one and its reason",
                    unlogged,
                    project_id,
                )
        return True

    def _import(self, key: str, target: Target, items: Sequence[SpoolItem]) -> None:
        tasks = []
        ready: list[SpoolItem] = []
        for item in items:
            try:
                tasks.append(target.layout.task(item.record))
                ready.append(item)
            except Exception as exc:  # a record this project's config cannot show
                self._dead(item, f"cannot shape a task for project {target.project.id}: {exc}")
        if not ready:
            return
        self._spool.mark_in_flight(ready)
        try:
            self.stats.import_requests += 1
            task_ids = self._client.import_tasks(target.project.id, tasks, self._timeout)
        except LabelStudioError as error:
            if error.kind == REJECTED and error.status != 404:
                self._spool.defer(ready, 0.0, error.detail, landed=False)
                self._split(key, target, ready, error)
                return
            raise
        if self._after_import is not None:
            self._after_import()
        self._spool.delivered(ready, target.project.id, task_ids)
        now = self._clock()
        self.stats.tasks_created += len(ready)
        for item in ready:
            self.stats.observe_latency(max(0.0, now - item.enqueued_at))

    def _split(self, key: str, target: Target, items: Sequence[SpoolItem], error: LabelStudioError) -> None:
        """Label Studio refused the whole request: find the tasks at fault by halving it."""
        if len(items) == 1:
            self._dead(items[0], error.detail)
            return
        middle = len(items) // 2
        for half in (items[:middle], items[middle:]):
            self._import(key, target, half)

    def _dead(self, item: SpoolItem, reason: str) -> None:
        self._spool.dead(item, reason)
        self.stats.dead_lettered += 1
        self._dead_in_batch += 1
        if self._dead_in_batch > DEAD_LETTERS_LOGGED_PER_BATCH:
            return  # a batch refused whole (a config changed by hand) would log a line per task
        _logger.error(
            "Label Studio refused the task for span %s (trace %s) for good; moved to the dead letters: %s. "
            "See `otel-label-studio spool dead-letters`, fix the cause, then `spool retry`.",
            item.record.span_id,
            item.record.trace_id,
            reason,
        )

    def _failed(self, key: str, group: list[SpoolItem], error: LabelStudioError) -> None:
        self.stats.failures += 1
        if error.kind == REJECTED and error.status == 404:
            self._projects.forget(key)  # the project was deleted: look it up (or create it) again
        if error.kind == MISFIT:
            # Only this project's records wait; others keep flowing.
            self._spool.defer(group, self._clock() + RECHECK_SECONDS, error.detail)
            self._outages.failed(error, key, len(group), "wait to be delivered")
            return
        self._spool.defer(group, 0.0, error.detail)  # in flight stays set where an import was sent
        self.key_refused = error.kind == AUTH
        self._outages.failed(error, key, len(group), self._waiting)
        self._pause(error, "Label Studio refused the API key" if error.kind == AUTH else error.detail)

    def _pause(self, error: LabelStudioError | None, reason: str) -> None:
        self._failures += 1
        backoff = min(BACKOFF_MAX_SECONDS, BACKOFF_START_SECONDS * 2 ** (self._failures - 1))
        delay = backoff * self._rng.uniform(0.5, 1.0)
        if error is not None and error.retry_after is not None:
            delay = max(delay, min(error.retry_after, BACKOFF_MAX_SECONDS * 5))
        self._paused_until = self._clock() + delay
        self.paused_reason = f"delivery paused: {reason}"
