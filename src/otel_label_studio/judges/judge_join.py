"""Judge results that arrive on their own, joined with their span's task.

A ``gen_ai.evaluation.result`` that comes as a log record (``serve``'s OTLP logs, the in-process
``label_studio`` logs exporter) names the span it evaluates (trace and span id) or the response
(``gen_ai.response.id``). ``JudgeJoin.accept`` keeps it (in the spool's SQLite file, committed
before it returns, where there is a spool; bounded in memory otherwise). The delivery worker's
thread then joins it:

- its span's record already became a task (the spool's delivered bookkeeping, or what this
  process remembers of its deliveries, bounded): the result is added to that task through the SDK:
  to its ``meta.evaluations``, to its data (the verdict a reviewer reads, ``data.judges``, and the
  judge's Data Manager columns, judge.py), and as a ``judge:<name>`` prediction shaped by the project's
  layout (``Layout.judge_predictions_of``);
- not yet: it waits; the delivery of the record makes it due at once, so it lands right after
  the task's import (the model's own prediction stays the project's ``model_version``);
- the span never becomes a task (not an LLM call, left out by the review rules, never sent):
  after ``judge_wait`` seconds it is dropped and counted (``judge_expired``).

Exactly once: before adding, the task is read, and a result already in its ``meta.evaluations`` (equal
in every field) is not added again, nor a prediction equal to one it has, so neither a crash between the
add and its bookkeeping nor a sender's retry makes a second one. Label Studio failures are
classified once (``labelstudio.ErrorKind``): an outage waits on the worker's backoff, a task
Label Studio refuses (deleted) drops the result and counts it.

``reveal_judges="after_answer"`` (serve only): a result goes into the task's ``meta.evaluations`` alone
(nothing a reviewer sees) until the task has its answers; serve tells the join of each task whose
annotation a webhook names once Label Studio confirms it (``answered``, from
``feedback/annotation_webhooks.py``), and the next cycle reads the task's answers from Label Studio and
shows its judges (data and predictions). A result that comes after the answers is shown at once. The
judges' score columns are typed as numbers in the project's Data Manager tabs
(``dm_view.with_judge_columns``) the first time this process shows them.

The in-process logs exporter is handed its span exporter (``judge_logs.py``; under
``opentelemetry-instrument`` the configurator pairs them, ``distro.py``) and gives it the results.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, replace
from functools import partial
from typing import Any, Callable, Iterable, Protocol, Sequence, cast

import orjson

from ..delivery.backoff import label_studio_backoff
from ..delivery.labelstudio import ErrorKind, LabelStudioClient, LabelStudioError, TaskState
from ..delivery.projects import Projects
from ..modes.dm_view import judges_tab, with_judge_columns
from ..modes.unit import AnyLayout
from ..modes.units import unit_of
from ..reading.evaluations import JudgeEvent
from ..reading.record import LLMRecord
from ..store.queue import QueueItem, RecordQueue
from ..store.run_codec import AnyRecord
from ..store.spool import Spool, SpoolJudgeResults
from .judge import VERDICT_KEY, score_columns, with_results, with_verdict

_logger = logging.getLogger(__name__)

RECHECK_SECONDS = 30.0  # a result whose task was not found looks again this often (a delivery wakes it)
BATCH = 200  # results looked at per cycle
PRUNE_EVERY_SECONDS = 3600.0
MEMORY_REMEMBERED = 10_000  # deliveries the in-memory join remembers (span -> task)


@dataclass
class JudgeStats:
    received: int = 0  # results accepted (a repeat of a waiting one included)
    added: int = 0  # judge predictions added to tasks
    already_present: int = 0  # found on the task already (a retry, or a crash after the add)
    expired: int = 0  # dropped: no task for their span within judge_wait
    rejected: int = 0  # dropped: Label Studio refused the prediction for good (task deleted)
    dropped: int = 0  # refused on arrival: the in-memory join was full, or no join to take them
    revealed: int = 0  # tasks whose judges were shown once answered (reveal_judges="after_answer")


@dataclass(frozen=True)
class Waiting:
    id: int
    event: JudgeEvent
    received_at: float


@dataclass(frozen=True)
class Delivery:
    trace_id: str
    span_id: str
    project_id: int
    task_id: int | None


class JudgeStore(Protocol):
    """Where results wait, and what is known about which span became which task."""

    durable: bool

    def add(self, events: Sequence[JudgeEvent], now: float) -> int: ...
    def due(self, now: float, limit: int) -> list[Waiting]: ...
    def waiting_for(self, trace_id: str, span_id: str, response_id: str) -> list[Waiting]: ...
    def recheck(self, ids: Sequence[int], at: float) -> None: ...
    def done(self, ids: Sequence[int]) -> None: ...
    def delivered(
        self, spans: Sequence[tuple[str, str, str]], project_id: int, task_ids: Sequence[int | None]
    ) -> None: ...
    def task(self, event: JudgeEvent) -> Delivery | None: ...
    def waiting(self) -> int: ...
    def prune(self) -> None: ...


class SpoolJudgeStore:
    """Results in the spool's file (``store.spool.SpoolJudgeResults``), as this module's types; span ->
    task from the spool's ``delivered`` table."""

    durable = True

    def __init__(self, spool: Spool):
        self._spool = spool  # the queue whose ``delivered`` table says which task a span became
        self._results = SpoolJudgeResults(spool)

    def add(self, events: Sequence[JudgeEvent], now: float) -> int:
        return self._results.add(
            [
                (
                    e.trace_id,
                    e.span_id,
                    e.response_id or "",
                    orjson.dumps(e.result, option=orjson.OPT_SORT_KEYS),
                    now,
                )
                for e in events
            ]
        )

    def due(self, now: float, limit: int) -> list[Waiting]:
        return [_waiting(*row) for row in self._results.due(now, limit)]

    def waiting_for(self, trace_id: str, span_id: str, response_id: str) -> list[Waiting]:
        return [_waiting(*row) for row in self._results.waiting_for(trace_id, span_id, response_id)]

    def recheck(self, ids: Sequence[int], at: float) -> None:
        self._results.recheck(ids, at)

    def done(self, ids: Sequence[int]) -> None:
        self._results.done(ids)

    def delivered(
        self, spans: Sequence[tuple[str, str, str]], project_id: int, task_ids: Sequence[int | None]
    ) -> None:
        self._results.delivered(spans)  # the spool's own ``delivered`` already holds the task ids

    def task(self, event: JudgeEvent) -> Delivery | None:
        found = self._results.task(event.trace_id, event.span_id, event.response_id or "")
        return None if found is None else Delivery(*found)

    def waiting(self) -> int:
        return self._results.waiting()

    def prune(self) -> None:
        self._results.forget_responses()


class MemoryJudgeStore:
    """Results in memory, at most ``max_waiting`` (more are refused and counted); the last
    ``MEMORY_REMEMBERED`` deliveries remembered for results that come after their task."""

    durable = False

    def __init__(self, max_waiting: int):
        self._max = max_waiting
        self._lock = threading.Lock()
        self._waiting: dict[int, tuple[Waiting, float]] = {}  # id -> (result, next check)
        self._seen: set[tuple[str, str, str, bytes]] = set()
        self._next_id = 0
        self._tasks: OrderedDict[tuple[str, str], tuple[int, int | None]] = OrderedDict()
        self._responses: OrderedDict[str, tuple[str, str]] = OrderedDict()
        self._by_span: dict[tuple[str, str], set[int]] = {}  # _span_key -> ids waiting

    def add(self, events: Sequence[JudgeEvent], now: float) -> int:
        added = 0
        with self._lock:
            for event in events:
                key = _identity(event)
                if key in self._seen:
                    continue
                if len(self._waiting) >= self._max:
                    raise_full = len(events) - added
                    raise MemoryFull(raise_full, added)
                self._next_id += 1
                self._waiting[self._next_id] = (Waiting(self._next_id, event, now), 0.0)
                self._by_span.setdefault(_span_key(event), set()).add(self._next_id)
                self._seen.add(key)
                added += 1
        return added

    def due(self, now: float, limit: int) -> list[Waiting]:
        with self._lock:
            found = [waiting for waiting, at in self._waiting.values() if at <= now]
        return found[:limit]

    def waiting_for(self, trace_id: str, span_id: str, response_id: str) -> list[Waiting]:
        with self._lock:
            ids = sorted(self._ids_for(trace_id, span_id, response_id))
            return [self._waiting[row_id][0] for row_id in ids]

    def _ids_for(self, trace_id: str, span_id: str, response_id: str) -> set[int]:
        ids = set(self._by_span.get((trace_id, span_id), ()))
        if response_id:
            ids |= self._by_span.get(("", response_id), set())
        return ids

    def recheck(self, ids: Sequence[int], at: float) -> None:
        with self._lock:
            for row_id in ids:
                if row_id in self._waiting:
                    self._waiting[row_id] = (self._waiting[row_id][0], at)

    def done(self, ids: Sequence[int]) -> None:
        with self._lock:
            for row_id in ids:
                entry = self._waiting.pop(row_id, None)
                if entry is not None:
                    event = entry[0].event
                    self._seen.discard(_identity(event))
                    waiting = self._by_span.get(_span_key(event))
                    if waiting is not None:
                        waiting.discard(row_id)
                        if not waiting:
                            del self._by_span[_span_key(event)]

    def delivered(
        self, spans: Sequence[tuple[str, str, str]], project_id: int, task_ids: Sequence[int | None]
    ) -> None:
        with self._lock:
            for (trace, span, response), task_id in zip(spans, task_ids, strict=True):
                self._tasks[(trace, span)] = (project_id, task_id)
                if response:
                    self._responses[response] = (trace, span)
                for row_id in self._ids_for(trace, span, response):
                    self._waiting[row_id] = (self._waiting[row_id][0], 0.0)
            for store in (self._tasks, self._responses):
                while len(store) > MEMORY_REMEMBERED:
                    store.popitem(last=False)

    def task(self, event: JudgeEvent) -> Delivery | None:
        with self._lock:
            key = (event.trace_id, event.span_id)
            if key not in self._tasks and event.response_id:
                key = self._responses.get(event.response_id, key)
            found = self._tasks.get(key)
        return None if found is None else Delivery(key[0], key[1], found[0], found[1])

    def waiting(self) -> int:
        return len(self._waiting)

    def prune(self) -> None:
        pass


class MemoryFull(Exception):
    def __init__(self, refused: int, added: int):
        super().__init__(f"{refused} judge results refused: the in-memory join is full")
        self.refused = refused
        self.added = added


class JudgeJoin:
    """A ``evaluations.JudgeSink``: ``accept`` from any thread; ``pump`` and ``delivered`` from the
    delivery worker's thread (``DeliveryWorker.judges``)."""

    def __init__(
        self,
        store: JudgeStore,
        client: LabelStudioClient,
        projects: Projects,
        *,
        wait: float,
        timeout: float,
        clock: Callable[[], float] = time.time,
        wake: Callable[[], None] | None = None,
        reveal: str = "now",
        answers_to_reveal: int = 1,
    ):
        self._store = store
        self._reveal = reveal  # judge.REVEALS: "now", or "after_answer" (the task's answers first)
        self._answers_to_reveal = answers_to_reveal  # reviewers_per_task: every reviewer answers first
        self._client = client
        self._projects = projects
        self.wait = wait
        self._timeout = timeout
        self._clock = clock
        self._wake = wake
        self._backoff = label_studio_backoff(clock)
        self._pruned_at = 0.0
        self._waiting_hint = store.waiting()  # 0: no record needs a look (recounted each cycle)
        self._attached: dict[tuple[str, str], list[Waiting]] = {}  # span -> results in its task's import
        self._lock = threading.Lock()  # the counters and reveals: accept and answered run on other threads
        self._reveals: dict[int, int] = {}  # task id -> project id: answered, its judges to be shown
        self._untyped: dict[int, set[str]] = {}  # project id -> score columns to type as numbers
        self._typed: set[tuple[int, str]] = set()  # (project id, column) typed by this process
        self._typing_warned = False  # a tab Label Studio refused was said once already
        self.stats = JudgeStats()

    # --- evaluations.JudgeSink -----------------------------------------------------------------

    def accept(self, events: Sequence[JudgeEvent]) -> None:
        """Keep the results until their task exists. Durable stores commit before returning and raise
        ``queue.QueueFull`` when full; the in-memory store drops what does not fit and counts it."""
        events = [event for event in events if event.span_id or event.response_id]
        if not events:
            return
        try:
            self._store.add(events, self._clock())
        except MemoryFull as full:
            with self._lock:
                self.stats.received += full.added
                self.stats.dropped += full.refused
            _logger.warning("%s (at most %d wait for their tasks)", full, self.waiting)
        else:
            with self._lock:
                self.stats.received += len(events)
        self._waiting_hint += len(events)
        if self._wake is not None:
            self._wake()

    def refused(self, count: int) -> None:
        """Results that could not be handed to a join (the logs exporter without a span exporter)."""
        with self._lock:
            self.stats.dropped += count

    @property
    def waiting(self) -> int:
        return self._store.waiting()

    @property
    def counts(self) -> dict[str, int]:
        stats = self.stats
        return {
            "judge_results": stats.received,
            "judge_added": stats.added,
            "judge_waiting": self.waiting,
            "judge_expired": stats.expired,
            "judge_rejected": stats.rejected,
            "judge_dropped": stats.dropped,
        }

    # --- the worker's side ----------------------------------------------------------------------

    def attach(self, record: AnyRecord) -> AnyRecord:
        """The record with the results waiting for its span among its evaluations, so its task is
        imported with their ``judge:<name>`` predictions (before the model's, which stays last)."""
        if not self._waiting_hint or not unit_of(record).judged:
            return record
        record = cast(LLMRecord, record)  # a call: the one record that carries evaluations
        key = (record.trace_id, record.span_id)
        found = self._store.waiting_for(record.trace_id, record.span_id, _response_id(record))
        if not found:
            self._attached.pop(key, None)
            return record
        self._attached[key] = found
        return replace(record, evaluations=[*record.evaluations, *(w.event.result for w in found)])

    def delivered(self, items: Sequence[QueueItem], project_id: int, task_ids: Sequence[int] = ()) -> None:
        """Records just became tasks: the results imported with them are done, the others waiting
        for them are due now."""
        imported: list[int] = []
        for item in items:
            attached = self._attached.pop((item.record.trace_id, item.record.span_id), [])
            imported += [waiting.id for waiting in attached]
            if self._reveal == "now":  # the task shows its judges' columns: typed as numbers
                results = [*getattr(item.record, "evaluations", ()), *(w.event.result for w in attached)]
                self._to_type(project_id, results)
        if imported:
            self._store.done(imported)
            with self._lock:
                self.stats.added += len(imported)
        ids: list[int | None] = list(task_ids) if len(task_ids) == len(items) else [None] * len(items)
        spans = [(item.record.trace_id, item.record.span_id, _response_id(item.record)) for item in items]
        self._store.delivered(spans, project_id, ids)

    def pump(self) -> bool:
        """Add the due results whose task exists, drop the expired ones; True when any was settled."""
        now = self._clock()
        if now - self._pruned_at >= PRUNE_EVERY_SECONDS:
            self._pruned_at = now
            self._store.prune()
        self._waiting_hint = self._store.waiting()
        if now < self._backoff.until:
            return False
        try:
            settled = self._show_answered()
            settled = self._add_due(now) or settled
            self._type_columns()  # presentation: never raises, no reason to run another cycle at once
            return settled
        except LabelStudioError as error:
            self._backoff.failed(error.retry_after)
            _logger.warning(
                "Could not show judge results (%s); retrying in %.0f s",
                error.detail,
                self._backoff.remaining(),
            )
            return False

    def _add_due(self, now: float) -> bool:
        """Add the due results whose task exists, drop the expired ones; True when any was settled.
        Raises LabelStudioError when Label Studio cannot be asked (the caller backs off)."""
        if not self._waiting_hint:
            return False
        due = self._store.due(now, BATCH)
        if not due:
            return False
        by_task: dict[int, list[tuple[Waiting, Delivery]]] = {}
        unknown: list[Waiting] = []
        for waiting in due:
            delivery = self._find(waiting.event)
            if delivery is None or delivery.task_id is None:
                unknown.append(waiting)
            else:
                by_task.setdefault(delivery.task_id, []).append((waiting, delivery))
        settled = self._expire(unknown, now)
        for task_id, pairs in by_task.items():
            try:
                settled += self._add(task_id, pairs)
            except LabelStudioError as error:
                if error.kind in (ErrorKind.REJECTED, ErrorKind.PROJECT_GONE):
                    self._rejected(task_id, pairs, error)
                    settled += len(pairs)
                    continue
                raise  # an outage: the caller backs off; what was settled stays settled
        if by_task:
            self._backoff.succeeded()
        return settled > 0

    # --- showing the judges -----------------------------------------------------------------------

    def answered(self, task_id: int, project_id: int) -> None:
        """A reviewer answered a task (serve's annotation webhook, confirmed in Label Studio): with
        ``reveal_judges="after_answer"``, its judges are shown on the next cycle, once it has
        ``answers_to_reveal`` answers."""
        if self._reveal != "after_answer":
            return
        with self._lock:
            self._reveals[task_id] = project_id
        if self._wake is not None:
            self._wake()

    def _show_answered(self) -> bool:
        """Show the judges of the tasks answered since the last cycle; True when any was looked at."""
        with self._lock:
            answered = list(self._reveals.items())
        for task_id, project_id in answered:
            try:
                layout = self._projects.layout_of(project_id, self._timeout)
                if layout.shows_judges:
                    self._settle(task_id, project_id, layout, [])
            except LabelStudioError as error:
                if error.kind not in (ErrorKind.REJECTED, ErrorKind.PROJECT_GONE):
                    raise
                _logger.warning("Could not show the judges of task %d: %s", task_id, error.detail)
            with self._lock:
                if self._reveals.get(task_id) == project_id:
                    del self._reveals[task_id]
        return bool(answered)

    def _settle(self, task_id: int, project_id: int, layout: AnyLayout, results: list[dict[str, Any]]) -> int:
        """Add ``results`` to the task's ``meta.evaluations`` and, when its judges are shown (now, or it has
        its answers), show them all: the verdict and columns in its data, a prediction per judge. How many
        of ``results`` were new to it."""
        found = TaskState.of(self._client.get_task(task_id, self._timeout))
        meta, fresh = with_results(found.meta, results)
        evaluations = list(meta.get("evaluations") or ())
        shown = self._reveal == "now" or found.answers >= self._answers_to_reveal
        data = (
            with_verdict(found.data, evaluations, text=VERDICT_KEY in layout.variables)
            if shown
            else found.data
        )
        if data != found.data or meta != found.meta:
            self._client.update_task(task_id, data, meta, self._timeout)
        if shown and evaluations:
            present = list(found.predictions)
            for prediction in layout.judge_predictions_of(evaluations, present):
                if not any(_same(prediction, other) for other in present):
                    self._client.create_prediction(task_id, prediction, self._timeout)
                    present.append(prediction)
            self._to_type(project_id, evaluations)
            if self._reveal == "after_answer" and not results:
                self.stats.revealed += 1
        return len(fresh)

    def _to_type(self, project_id: int, evaluations: Iterable[dict[str, Any]]) -> None:
        """Remember the score columns these results show, to be typed as numbers (``_type_columns``)."""
        keys = {key for key in score_columns(evaluations) if (project_id, key) not in self._typed}
        if keys:
            with self._lock:
                self._untyped.setdefault(project_id, set()).update(keys)

    def _type_columns(self) -> None:
        """Type the judges' new score columns as numbers in their projects' Data Manager tabs (a project
        with no tab yet gets Label Studio's default one, so typed). Presentation only: it never holds up
        a judge result; Label Studio out of reach, it is tried again next cycle, refusing it, said once."""
        with self._lock:
            untyped, self._untyped = self._untyped, {}
        for project_id, keys in untyped.items():
            try:
                ordered = sorted(keys)
                typed = self._client.update_views(
                    project_id, partial(with_judge_columns, keys=ordered), self._timeout
                )
                if not typed:  # no tab yet: Label Studio's default one, typed
                    columns = self._client.data_manager_columns(project_id, self._timeout)
                    self._client.create_view(project_id, judges_tab(ordered, columns), self._timeout)
            except LabelStudioError as error:
                if error.kind == ErrorKind.UNREACHABLE:
                    with self._lock:  # again on the next cycle
                        self._untyped.setdefault(project_id, set()).update(keys)
                    continue
                log = _logger.debug if self._typing_warned else _logger.warning
                self._typing_warned = True
                log(
                    "Could not show the judge score columns of project %d as numbers in its Data Manager "
                    "tabs (%s): they sort and filter as text; set the column's type in the Data Manager",
                    project_id,
                    error.detail,
                )
            self._typed.update((project_id, key) for key in keys)

    def _find(self, event: JudgeEvent) -> Delivery | None:
        delivery = self._store.task(event)
        if delivery is None or delivery.task_id is not None:
            return delivery
        # delivered, but the import did not name task ids (an asynchronous import): look it up
        found = self._client.find_tasks(delivery.project_id, [delivery.span_id], self._timeout)
        task = found.get((delivery.trace_id, delivery.span_id))
        return (
            None
            if task is None
            else Delivery(delivery.trace_id, delivery.span_id, delivery.project_id, task.id)
        )

    def _expire(self, unknown: list[Waiting], now: float) -> int:
        expired = [w for w in unknown if now - w.received_at >= self.wait]
        if expired:
            self._store.done([w.id for w in expired])
            self.stats.expired += len(expired)
            _logger.warning(
                "%d judge results dropped: no task for their span within judge_wait (%g s); the span was "
                "not an LLM call, was left out by the review rules, or never arrived "
                "(first: trace %s span %s)",
                len(expired),
                self.wait,
                expired[0].event.trace_id,
                expired[0].event.span_id or expired[0].event.response_id,
            )
        rest = [w for w in unknown if w not in expired]
        if rest:
            soonest = min(w.received_at + self.wait for w in rest)
            self._store.recheck([w.id for w in rest], min(now + RECHECK_SECONDS, soonest))
        return len(expired)

    def _add(self, task_id: int, pairs: list[tuple[Waiting, Delivery]]) -> int:
        layout = self._projects.layout_of(pairs[0][1].project_id, self._timeout)
        if not layout.shows_judges:  # a pair task shows no judge predictions
            self._store.done([waiting.id for waiting, _ in pairs])
            self.stats.rejected += len(pairs)
            _logger.warning(
                "%d judge results name a span of a pair task, which shows none; dropped", len(pairs)
            )
            return len(pairs)
        results = [waiting.event.result for waiting, _ in pairs]
        fresh = self._settle(task_id, pairs[0][1].project_id, layout, results)
        self.stats.added += fresh
        self.stats.already_present += len(results) - fresh
        self._store.done([waiting.id for waiting, _ in pairs])
        return len(pairs)

    def _rejected(self, task_id: int, pairs: list[tuple[Waiting, Delivery]], error: LabelStudioError) -> None:
        self._store.done([waiting.id for waiting, _ in pairs])
        self.stats.rejected += len(pairs)
        _logger.error(
            "Label Studio refused %d judge results for task %d for good (%s); dropped",
            len(pairs),
            task_id,
            error.detail,
        )


def _waiting(row_id: int, trace: str, span: str, response: str, result: bytes, at: float) -> Waiting:
    return Waiting(row_id, JudgeEvent(trace, span, response or None, orjson.loads(result), int(at * 1e9)), at)


def _span_key(event: JudgeEvent) -> tuple[str, str]:
    """What a result names: its span, else ("", its response id)."""
    return (event.trace_id, event.span_id) if event.span_id else ("", event.response_id or "")


def _identity(event: JudgeEvent) -> tuple[str, str, str, bytes]:
    return (
        event.trace_id,
        event.span_id,
        event.response_id or "",
        orjson.dumps(event.result, option=orjson.OPT_SORT_KEYS),
    )


def _response_id(record: AnyRecord) -> str:
    """A call's ``gen_ai.response.id``, or "" (an agent run has none)."""
    return getattr(record, "response_id", "")


def _same(wanted: dict[str, Any], present: dict[str, Any]) -> bool:
    """The same judge prediction: model version, score and result items (ids and extras aside)."""
    if present.get("model_version") != wanted.get("model_version"):
        return False
    score, other = wanted.get("score"), present.get("score")
    if score is None or other is None:
        if score is not None or other is not None:
            return False
    elif abs(float(score) - float(other)) > 1e-9:
        return False
    return _items(wanted.get("result")) == _items(present.get("result"))


def _items(result: Iterable[dict[str, Any]] | None) -> list[tuple[Any, Any, bytes]]:
    return sorted(
        (
            item.get("from_name"),
            item.get("type"),
            orjson.dumps(item.get("value"), option=orjson.OPT_SORT_KEYS),
        )
        for item in result or ()
    )


def judge_store_for(queue: RecordQueue, max_results: int) -> JudgeStore:
    """Where judge results wait for their task: the spool's file when the queue is durable, else memory
    (at most ``max_results``)."""
    return SpoolJudgeStore(cast(Spool, queue)) if queue.durable else MemoryJudgeStore(max_results)
