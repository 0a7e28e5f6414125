"""The one ingest path: span views in, records queued, delivery woken.

Whichever way spans arrive (SDK spans in the exporter, OTLP requests in ``serve``), they take
the same steps, in this order::

    views -> stages -> [review rules: decide] -> map (dialects, filters, redaction)
          -> [review rules: admit] -> queue.add -> [review rules: commit] -> count -> wake the worker

The two entry points are thin adapters (``exporter.py``, ``receiver/intake.py``): they turn
their input into ``SpanView``s and decide only what a full queue means for their caller. The
receiver lets ``QueueFull`` through, so the sender is told to retry and nothing is counted (its
retry is counted when it lands); the exporter cannot ask the app to retry, so it gives the
batch up and counts it as dropped (``refused``).

Stages: a later capability that must see spans before they are mapped (review rules deciding on
cheap attribute reads; holding a run's or a trace's spans until it ends) is a ``Stage`` in the
list given to ``Ingest``. Each stage gets the batch of views and returns those to map now: it
may drop views, or keep some back and return them with a later batch. With no stages (today)
the views go to the mapper as they come.

Review rules (``gate``, a ``rules.ReviewGate``, given when a rules file is): each LLM span is
decided before it is mapped, on the few attribute reads its rules need; a span no rule keeps is
not mapped, redacted or queued. A kept span is mapped with its rule's ``include_errors`` (a rule
naming ``status: error`` keeps failed calls as tasks showing the error), goes to its rule's
project, and is admitted (limits, folding) after redaction; the gate's state is written once per
batch. A shared review state (``state_url``) that cannot be reached raises ``StateUnavailable`` (a
``QueueFull``) from ``map``: the batch is refused whole, what it had admitted given back. Without a
gate the batch takes the mapper's own loop: no per-span work is added.

Calls described twice (two LangChain instrumentations in one app, ``doubles.py``): in modes prompt
and chat, of two records of a batch that describe one call, the OpenInference one is dropped and counted
in ``described_twice``; review rules give back what its admission took (its place under a limit,
its fingerprint), though within its batch a limit it filled may have refused a later call;
modes agent and pairwise build tasks from whole traces, and each instrumentation has its own, so
there both stay. Either way the first batch found with one logs a WARNING naming the fix, once.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterable, Protocol, Sequence

from .reading import dialects, doubles
from .reading.mapping import Mapper, MappingResult
from .reading.spanview import SpanView
from .store.assembly import RunAssembler
from .store.queue import AddResult, QueueFull, RecordQueue

if TYPE_CHECKING:
    from .reading.record import LLMRecord
    from .rules import ReviewGate
    from .rules.budget_hold import BudgetHold

_logger = logging.getLogger(__name__)


class Stage(Protocol):
    """A step before mapping: the views to map now, out of a batch (see the module's docstring)."""

    def __call__(self, views: list[SpanView]) -> list[SpanView]: ...


@dataclass
class IngestStats:
    """What ingest did, for ``/metrics``, ``spool stats`` and the exporter's ``counts``.

    A batch refused with ``QueueFull`` and left to its sender to retry is not counted."""

    requests: int = 0  # batches taken: OTLP export requests, ``export()`` calls
    spans_received: int = 0  # spans in them, LLM or not
    llm_spans: int = 0
    records_spooled: int = 0  # records the queue took
    duplicates: int = 0  # records the queue already held or had delivered (sender retries)
    dropped: int = 0  # records given up for lack of room in the queue
    rejected_spans: int = 0  # LLM spans that cannot become tasks: unreadable or without content
    unreadable: int = 0
    no_content: int = 0
    errors_skipped: int = 0  # failed calls, not wanted as tasks
    described_twice: int = 0  # LLM spans of a call another instrumentation's span described too
    state_refused: int = 0  # spans of batches given up because the shared review state was out of reach


class Ingest:
    """Thread-safe: counts under a lock; mapping and the queue's own locking do the rest."""

    def __init__(
        self,
        mapper: Mapper,
        queue: RecordQueue,
        wake: Callable[[], None] | None = None,
        *,
        stages: Sequence[Stage] = (),
        gate: ReviewGate | None = None,
        runs: RunAssembler | None = None,
        budget: BudgetHold | None = None,
    ):
        self._mapper = mapper
        self._queue = queue
        self._wake = wake
        self._stages = tuple(stages)
        self.gate = gate
        self.budget = budget  # review budget: kept records wait for their window (rules/budget_hold.py)
        self._lock = threading.Lock()
        self.stats = IngestStats()
        self._warned_doubles = False
        self.runs = runs  # mode agent: runs, not calls, become records
        if runs is not None:
            runs.on_release = self._released

    def map(self, views: Iterable[SpanView], project: str | None = None) -> MappingResult:
        """The batch's records, redacted, ready to queue (the caller may drop its input afterwards);
        ``project`` names the project of records whose span did not name one."""
        if self._stages:
            batch = list(views)
            for stage in self._stages:
                batch = stage(batch)
            views = batch
        if self.runs is not None:  # mode agent: review rules decide when a run is released
            batch = list(views)
            if not self._warned_doubles:
                self._look_for_doubles(batch)
            held = self.runs.pieces_of(batch, project)
            llm_spans = sum(dialects.dialect_for(view) is not None for view in batch)  # not every held span
            return MappingResult(spans=len(batch), llm_spans=llm_spans, held=held)
        if self.gate is None:
            result = self._mapper.map(views)
            twice = doubles.find_doubles(result.records)
            if twice:
                result.records = _without(result.records, twice)
                result.described_twice = len(twice)
                self._warn_of_doubles(one_task_kept=True)
        else:
            result = self._map_with_rules(views, project)
        if project:
            for record in [*result.records, *(record for _, record in result.offers)]:
                if not record.project:
                    record.project = project
        return result

    def _map_with_rules(self, views: Iterable[SpanView], project: str | None) -> MappingResult:
        """``Mapper.map`` with the review gate deciding each LLM span before it is mapped."""
        gate, mapper = self.gate, self._mapper
        assert gate is not None
        include_errors = mapper.include_errors
        result = MappingResult()
        records = result.records
        dialect_for, decide = dialects.dialect_for, gate.decide
        spans = llm_spans = 0  # counted here, added once: a dropped span costs only its decision
        budget = self.budget
        explore = budget is not None and budget.explores
        try:
            for view in views:
                spans += 1
                dialect = dialect_for(view)
                if dialect is None:
                    continue
                llm_spans += 1
                decision = decide(view, dialect.name, project)
                if not decision.keep:
                    if explore:  # the explore share samples every call, kept by a rule or not
                        record = mapper.map_llm(view, dialect, result, include_errors)
                        if record is not None:
                            result.offers.append((None, record))
                    continue
                record = mapper.map_llm(view, dialect, result, decision.keep_errors or include_errors)
                if record is None:
                    continue
                if decision.project:
                    record.project = decision.project
                if gate.admit(decision, record):
                    if budget is not None:  # to the budget, not the queue: picked when its window closes
                        result.offers.append((decision.rule, record))
                    else:
                        records.append(record)
                    result.admitted.append((decision, record))
        except QueueFull:  # a shared review state out of reach: the batch is refused whole, to be retried
            gate.revoke(result.admitted)
            raise
        if result.offers:  # with a budget the kept records are offers: the same doubles, found there
            twice = doubles.find_doubles([record for _, record in result.offers])
            if twice:
                gone = {id(record) for record in twice}
                result.offers = [offer for offer in result.offers if id(offer[1]) not in gone]
                gate.revoke([pair for pair in result.admitted if id(pair[1]) in gone])
                result.admitted = [pair for pair in result.admitted if id(pair[1]) not in gone]
                result.described_twice = len(twice)
                self._warn_of_doubles(one_task_kept=True)
        twice = doubles.find_doubles(records)
        if twice:  # admitted one by one (a span over its limit is not even mapped): given back now
            gone = {id(record) for record in twice}
            gate.revoke([pair for pair in result.admitted if id(pair[1]) in gone])
            result.admitted = [pair for pair in result.admitted if id(pair[1]) not in gone]
            result.records = _without(records, twice)
            result.described_twice = len(twice)
            self._warn_of_doubles(one_task_kept=True)
        result.spans += spans
        result.llm_spans += llm_spans
        return result

    def _look_for_doubles(self, views: list[SpanView]) -> None:
        """Modes agent and pairwise: calls described twice are only warned of (the module's docstring).
        Each LLM span is read for it only while the batch holds both instrumentations' spans."""
        found = [(view, dialect) for view in views if (dialect := dialects.dialect_for(view)) is not None]
        if len({dialect.name in doubles.OPENLLMETRY for _, dialect in found}) < 2:
            return
        records = []
        for view, dialect in found:
            try:
                records.append(dialect.to_record(view, self._mapper.metadata_prefix))
            except Exception:  # read for real when its run is released, and counted then
                continue
        if doubles.find_doubles(records):
            self._warn_of_doubles(one_task_kept=False)

    def _warn_of_doubles(self, *, one_task_kept: bool) -> None:
        """Once per ingest path: per exporter, per serve."""
        with self._lock:
            if self._warned_doubles:
                return
            self._warned_doubles = True
        _logger.warning(doubles.warning(one_task_kept))

    def enqueue(self, result: MappingResult) -> AddResult:
        """Queue mapped records, count the batch and wake delivery when something was added.
        Raises ``QueueFull`` when the queue refuses them whole: nothing is counted then."""
        if result.held and self.runs is not None:  # mode agent: hold them until their run is whole
            self.runs.hold(result.held)
        try:
            if result.offers and self.budget is not None:  # kept records wait for their budget window
                self.budget.offer(result.offers)
            added = self._queue.add(result.records)
        except QueueFull:
            if self.gate is not None:  # not queued: neither a task against the limit nor one to fold into
                self.gate.revoke(result.admitted)
            raise
        else:
            if added.refused and self.gate is not None:  # dropped for lack of room (memory): the same
                self.gate.revoke(_admissions_of(result.admitted, added.refused))
        finally:
            if self.gate is not None:
                self.gate.commit()  # limits and folds of the batch, once
        with self._lock:
            self._count(result)
            stats = self.stats
            stats.records_spooled += added.added
            stats.duplicates += added.duplicates
            stats.dropped += added.dropped
        if added.added and self._wake is not None:
            self._wake()
        return added

    def _released(self, added: int) -> None:
        """Runs the assembler queued: counted as records, delivery woken."""
        with self._lock:
            self.stats.records_spooled += added
        if added and self._wake is not None:
            self._wake()

    def refused(self, result: MappingResult) -> int:
        """Count a batch the queue refused and no one will retry: its records are dropped; how many."""
        with self._lock:
            self._count(result)
            self.stats.dropped += len(result.records)
        return len(result.records)

    def refused_batch(self, spans: int) -> None:
        """Count a batch given up before mapping (the shared review state was out of reach; the
        exporter's app cannot retry): its spans, as ``state_refused``."""
        with self._lock:
            self.stats.state_refused += spans

    def close(self) -> None:
        """Write and release the review gate's state (at shutdown, after the last batch)."""
        if self.gate is not None:
            self.gate.close()

    def _count(self, result: MappingResult) -> None:
        stats = self.stats
        stats.requests += 1
        stats.spans_received += result.spans
        stats.llm_spans += result.llm_spans
        stats.rejected_spans += result.unreadable + result.no_content
        stats.unreadable += result.unreadable
        stats.no_content += result.no_content
        stats.errors_skipped += result.errors_skipped
        stats.described_twice += result.described_twice


def _admissions_of(admitted: list[Any], records: Sequence[Any]) -> list[Any]:
    """The review rules' admissions (``(Decision, record)``) of these very records."""
    gone = {id(record) for record in records}
    return [pair for pair in admitted if id(pair[1]) in gone]


def _without(records: list[LLMRecord], dropped: list[LLMRecord]) -> list[LLMRecord]:
    gone = {id(record) for record in dropped}
    return [record for record in records if id(record) not in gone]
