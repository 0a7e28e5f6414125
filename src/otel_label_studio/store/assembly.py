"""Agent runs assembled from their spans, whichever batches and requests brought them (``mode`` agent).

A run's spans arrive in any order, over many export batches or OTLP requests. Ingest hands each
batch's LangChain spans (``runs.pieces``) to ``RunAssembler.hold``, which keeps them in a hold:

- ``SpoolHold`` (``serve``, or the exporter with ``spool_path``): the spool's ``run_pieces`` table,
  committed before the request is acknowledged, so an acknowledged span is never lost;
- ``MemoryHold`` (the exporter's default): at most ``max_open_runs`` traces open at once; the spans
  of a trace beyond that are dropped and counted.

A trace is *whole* when one of its spans can be a run's top (``runs.looks_like_top``) and every
held span's parent came: it has none (a root), it is held, or it came as a span that is no run
span (a web request's span: kept as a ``FOREIGN`` piece, its id only). A whole trace is *ready*
once nothing arrived for ``run_grace`` seconds (each new span restarts the wait). Any other trace
is ready after ``run_idle_timeout`` seconds without a new span: a span whose parent has not come
waits for it that long, however much of the run looks like a run of its own (an OpenInference
LangGraph run without its root is three subtrees that each could be a run). So a run's pieces
make one run whatever their order and whatever the delay of its top, up to the idle timeout.

Releasing a trace builds its runs (``runs.runs_of``, ``runs.build_run``; the subtrees under one
parent that never came are one run, marked ``incomplete`` when it is more than one subtree or its
top-most span cannot be a top), redacts them, lets the review rules pick the runs to keep (``gate``:
``rules.run_fields``), queues one record per kept run and deletes the pieces, in one transaction
for the spool: after a kill -9 either the pieces wait or the runs are queued, once (the queue is
keyed by the run's top span). Timers use each span's stored arrival time, so they resume after a
restart. Memory holds only trace id -> (last arrival, has a top, the parents it waits for).

The pieces of a run released while its parent had not come are *kept* (``released_as``: the span
id of its record) for twice the idle timeout. When that parent arrives (a run span), the kept
pieces are held again with it and the trace waits as any other; its run is then queued as a record
that *replaces* the first one (``RunRecord.replaces``): delivery updates that task in place
(``delivery/completions.py``), keeping its annotations, instead of making a second task. The rules
do not decide it again (its run was counted once), unless they kept the first one out.

Any other span arriving after its run was released (its own id, or its parent, among the run's
spans) is dropped and counted for twice the idle timeout; later it would start a run of its own.

What a released trace becomes is the assembler's ``Build``: ``RunBuild`` (mode agent, above) or
``pair_hold.PairBuild`` (mode pairwise: a trace's LLM spans, none of them a top, released
``pair_wait`` seconds after the last one arrived, become pairs; nothing waits for parents). The
hold, its timers, the release transaction and the late-span rule are the same for both.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Callable, Collection, Iterable, Mapping, Protocol, Sequence

from ..delivery import threads
from ..modes.runs import RunRecord, build_run, is_run_span, looks_like_top, runs_of
from ..reading.spanview import SpanView
from ..rules.gate import select_runs
from .queue import AddResult, RecordQueue
from .run_codec import FOREIGN, AnyRecord, HeldPiece, KeptTrace, OpenTrace, decode_view, encode_view
from .shared import StateUnavailable

if TYPE_CHECKING:
    from ..rules import Decision, ReviewGate

_logger = logging.getLogger(__name__)

TICK_SECONDS = 0.5  # how often the assembler looks for ready traces, at most


class RunHold(Protocol):
    """Where the pieces of runs not yet whole wait, and the kept pieces of runs released without
    their top."""

    def hold(self, pieces: Sequence[HeldPiece], revive: Collection[str] = ()) -> set[str]:
        """Keep pieces, and hold the kept pieces of the traces in ``revive`` again; the traces whose
        pieces were dropped for lack of room (the spool raises ``QueueFull`` instead)."""
        ...

    def states(self, trace_ids: Collection[str] | None, *, waiting: bool) -> list[OpenTrace]:
        """The traces (None: all) with held pieces: last arrival, whether a top came and, with
        ``waiting``, the parents their pieces hang under that have not come."""
        ...

    def pieces(self, trace_id: str) -> list[HeldPiece]:
        """A trace's held pieces (not the kept ones)."""
        ...

    def release(
        self,
        trace_id: str,
        span_ids: Sequence[str],
        records: Sequence[AnyRecord],
        kept: Mapping[str, str] | None = None,
        at: float = 0.0,
    ) -> AddResult:
        """Queue the records and forget the pieces ``span_ids`` (atomically where durable); keep the
        pieces in ``kept`` (span id -> the span id of the record they went out in) as released at
        ``at``. What the queue did."""
        ...

    def kept(self) -> list[KeptTrace]: ...
    def forget(self, trace_ids: Collection[str]) -> None:
        """Drop the kept pieces of these traces (their top can no longer complete them)."""
        ...


class MemoryHold:
    """Pieces in memory, at most ``max_open`` traces (and as many kept); released runs go to ``queue``."""

    encode = False

    def __init__(self, queue: RecordQueue, max_open: int):
        self._queue = queue
        self._max_open = max_open
        self._lock = threading.Lock()
        self._traces: dict[str, dict[str, HeldPiece]] = {}
        self._kept: OrderedDict[str, tuple[float, dict[str, HeldPiece]]] = OrderedDict()

    def hold(self, pieces: Sequence[HeldPiece], revive: Collection[str] = ()) -> set[str]:
        dropped = set()
        with self._lock:
            for trace_id in revive:
                _, kept = self._kept.pop(trace_id, (0.0, {}))
                self._traces.setdefault(trace_id, {}).update(kept)
            for piece in pieces:
                trace = self._traces.get(piece.trace_id)
                if trace is None:
                    if len(self._traces) >= self._max_open:
                        dropped.add(piece.trace_id)
                        continue
                    trace = self._traces[piece.trace_id] = {}
                trace[piece.span_id] = piece
        return dropped

    def states(self, trace_ids: Collection[str] | None, *, waiting: bool) -> list[OpenTrace]:
        if trace_ids is None:
            return []  # nothing survives the process
        with self._lock:
            traces = [(t, list(self._traces[t].values())) for t in trace_ids if self._traces.get(t)]
        return [_state(trace_id, held, waiting) for trace_id, held in traces]

    def pieces(self, trace_id: str) -> list[HeldPiece]:
        with self._lock:
            return list(self._traces.get(trace_id, {}).values())

    def release(
        self,
        trace_id: str,
        span_ids: Sequence[str],
        records: Sequence[AnyRecord],
        kept: Mapping[str, str] | None = None,
        at: float = 0.0,
    ) -> AddResult:
        added = self._queue.add(records)
        with self._lock:
            trace = self._traces.get(trace_id, {})
            for span_id in span_ids:
                trace.pop(span_id, None)
            if kept:
                _, keeping = self._kept.pop(trace_id, (at, {}))
                for span_id, released_as in kept.items():
                    piece = trace.pop(span_id, None)
                    if piece is not None:
                        keeping[span_id] = replace(piece, released_as=released_as)
                self._kept[trace_id] = (at, keeping)
                while len(self._kept) > self._max_open:
                    self._kept.popitem(last=False)
            if not trace:
                self._traces.pop(trace_id, None)
        return added

    def kept(self) -> list[KeptTrace]:
        return []  # nothing survives the process

    def forget(self, trace_ids: Collection[str]) -> None:
        with self._lock:
            for trace_id in trace_ids:
                self._kept.pop(trace_id, None)


def _state(trace_id: str, held: Sequence[HeldPiece], waiting: bool) -> OpenTrace:
    """A trace's timers and what it waits for, from its held pieces."""
    ids = {piece.span_id for piece in held}
    last, top = max(piece.received_at for piece in held), any(piece.top for piece in held)
    missing = {p.parent_span_id for p in held if p.parent_span_id and p.parent_span_id not in ids}
    if waiting and missing:
        return OpenTrace(trace_id, last, top, frozenset(missing))
    return OpenTrace(trace_id, last, top)  # the default's one empty frozenset


@dataclass
class RunStats:
    """The hold's counts (both builds) and the runs' (``RunBuild``)."""

    spans_held: int = 0
    runs_released: int = 0
    runs_incomplete: int = 0
    runs_completed: int = 0  # queued again, whole, after being queued without their top
    late_spans_dropped: int = 0  # arrived after their run became a task
    spans_dropped_full: int = 0  # the in-memory hold had max_open_runs traces open


@dataclass(frozen=True)
class Built:
    """What a released trace became: its records, what counts them once queued, and the pieces to keep
    (span id -> the span id of the record they went out in; "" when no record was queued)."""

    records: Sequence[AnyRecord]
    count: Callable[[], None]
    keep: Mapping[str, str] = field(default_factory=dict)


class Build(Protocol):
    """What the assembler holds and what a released trace becomes."""

    noun: str  # what is waiting, for log lines: "agent runs", "pairs"
    waits_for_parents: bool  # a trace whose spans' parents have not come waits for them

    def takes(self, view: SpanView) -> bool:
        """Whether the span is held (the others are not this mode's business)."""
        ...

    def top(self, view: SpanView) -> bool:
        """Whether the span can end the wait early (``grace`` instead of ``idle_timeout``)."""
        ...

    def build(
        self,
        views: list[SpanView],
        project: str | None,
        *,
        missing: Collection[str] = (),
        released_as: Mapping[str, str] | None = None,
    ) -> Built:
        """A released trace's records. ``missing``: the parents its spans hang under that never
        came; ``released_as``: the span ids of the records held-again pieces went out in before."""
        ...

    def settle(self, *, queued: bool, refused: Sequence[AnyRecord] = ()) -> None:
        """After the records of the last ``build`` were queued (or not; ``refused``: those the
        in-memory queue dropped for lack of room): what the build decided is kept or given back.
        Releases are one at a time, so the last build is the one meant."""
        ...


class RunBuild:
    """Mode agent: a trace's LangChain spans become one record per run."""

    noun = "agent runs"
    waits_for_parents = True

    def __init__(
        self,
        stats: RunStats,
        redact: Callable[[str], str] | None = None,
        gate: ReviewGate | None = None,
    ):
        self._stats = stats
        self._redact = redact
        self._gate = gate  # review rules pick the runs that become tasks
        self._admitted: list[tuple[Decision, RunRecord]] = []

    def takes(self, view: SpanView) -> bool:
        return is_run_span(view)

    def top(self, view: SpanView) -> bool:
        return looks_like_top(view)

    def build(
        self,
        views: list[SpanView],
        project: str | None,
        *,
        missing: Collection[str] = (),
        released_as: Mapping[str, str] | None = None,
    ) -> Built:
        before = released_as or {}
        fresh: list[tuple[RunRecord, list[SpanView]]] = []
        again: list[RunRecord] = []  # complete a record queued before: not decided again
        open_runs: list[tuple[RunRecord, list[SpanView], str]] = []  # their parent never came: kept
        for run, hanging, incomplete in _runs(views, missing):
            record = self._record(run, project, incomplete)
            earlier = next((before[view.span_id] for view in run if before.get(view.span_id)), "")
            if not earlier:
                fresh.append((record, run))
            elif earlier != record.span_id:
                record.replaces = earlier
                again.append(record)
            if hanging:
                open_runs.append((record, run, earlier))
        records = [record for record, _ in fresh]
        self._admitted = []
        if self._gate is not None:
            records, self._admitted = select_runs(self._gate, fresh, project)
        queued = {id(record) for record in (*records, *again)}
        records = [*records, *again]
        keep = {  # the span id its task will be found by, once queued
            view.span_id: record.span_id if id(record) in queued else earlier
            for record, run, earlier in open_runs
            for view in run
        }

        def count() -> None:
            self._stats.runs_released += len(records) - len(again)
            self._stats.runs_completed += len(again)
            self._stats.runs_incomplete += sum(record.incomplete for record in records)

        return Built(records, count, keep)

    def settle(self, *, queued: bool, refused: Sequence[AnyRecord] = ()) -> None:
        gate, admitted, self._admitted = self._gate, self._admitted, []
        if gate is None:
            return
        if not queued:  # not queued: neither counted against a limit nor one to fold into
            gate.revoke(admitted)
        elif refused:  # dropped for lack of room: the same
            gone = {id(record) for record in refused}
            gate.revoke([pair for pair in admitted if id(pair[1]) in gone])
        gate.commit()

    def _record(self, run: list[SpanView], project: str | None, incomplete: bool | None) -> RunRecord:
        """``project`` (the request's header) only for a run whose resource names none."""
        record = build_run(run, incomplete=incomplete)
        record.project = record.project or project
        if self._redact is not None:
            record.redact(self._redact)
        return record


@dataclass
class _Released:
    """A released trace, remembered for twice the idle timeout."""

    at: float
    span_ids: set[str] = field(default_factory=set)  # the spans of its runs: a span of theirs is late
    missing: set[str] = field(default_factory=set)  # parents of kept pieces: any of them completes a run


class RunAssembler:
    """Thread-safe. ``start`` runs the timer thread; ``release_ready`` is what it calls."""

    def __init__(
        self,
        hold: RunHold,
        *,
        grace: float,
        idle_timeout: float,
        redact: Callable[[str], str] | None = None,
        on_release: Callable[[int], None] | None = None,
        clock: Callable[[], float] = time.time,
        build: Build | None = None,
        gate: ReviewGate | None = None,
    ):
        self._hold = hold
        self.gate = gate  # review rules: which released runs are queued (mode agent)
        self._encode = bool(getattr(hold, "encode", True))
        self.grace = grace
        self.idle_timeout = idle_timeout
        self.on_release = on_release
        self._clock = clock
        self._lock = threading.Lock()
        self._hold_lock = threading.Lock()  # a hold and the states read after it, one at a time
        self._release_lock = threading.Lock()
        self.stats = RunStats()
        self.build: Build = build if build is not None else RunBuild(self.stats, redact, gate)
        self._waits = self.build.waits_for_parents
        # trace id -> (last arrival, a top came, the parents it waits for): a tuple, not the OpenTrace,
        # so each open trace keeps its id once (the dict's key)
        self._open: dict[str, tuple[float, bool, frozenset[str]]] = {
            trace.trace_id: (trace.last_arrival, trace.has_top, trace.waiting)
            for trace in hold.states(None, waiting=self._waits)
        }
        self._released: OrderedDict[str, _Released] = OrderedDict()
        for kept in sorted(hold.kept(), key=lambda kept: kept.released_at):
            self._released[kept.trace_id] = _Released(kept.released_at, set(kept.span_ids), set(kept.missing))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def open_runs(self) -> int:
        """Traces with pieces waiting."""
        return len(self._open)

    # --- arrival --------------------------------------------------------------------------------

    def pieces_of(self, views: Iterable[SpanView], project: str | None = None) -> list[HeldPiece]:
        """The batch's run spans as pieces to hold (and, mode agent, the other spans they hang
        under); spans of runs already released are dropped and counted here."""
        now = self._clock()
        batch = list(views)
        taken = [self.build.takes(view) for view in batch]
        held = []
        late = 0
        with self._lock:
            parents = self._awaited(batch, taken)
            for view, takes in zip(batch, taken, strict=True):
                if not takes:
                    if view.span_id in parents.get(view.trace_id, ()):
                        held.append(HeldPiece(view.span_id, view.trace_id, "", False, now, None, FOREIGN))
                    continue
                released = self._released.get(view.trace_id)
                completes = released is not None and view.span_id in released.missing
                if (
                    released is not None
                    and not completes
                    and (view.span_id in released.span_ids or view.parent_span_id in released.span_ids)
                ):
                    released.span_ids.add(view.span_id)
                    late += 1
                    continue
                held.append(
                    HeldPiece(
                        view.span_id,
                        view.trace_id,
                        view.parent_span_id,
                        self.build.top(view),
                        now,
                        project or None,
                        encode_view(view) if self._encode else view,
                        completes=completes,
                    )
                )
            self.stats.late_spans_dropped += late
        if late:
            _logger.warning("%d spans arrived after their %s became tasks: dropped", late, self.build.noun)
        return held

    def _awaited(self, batch: list[SpanView], taken: list[bool]) -> dict[str, set[str]]:
        """By trace, the parents run spans wait for (held ones, or of this batch): a span that is no
        run span is held, by its id, when it is one of them. Called holding the lock."""
        if not self._waits or all(taken):
            return {}
        parents: dict[str, set[str]] = {}
        for view, takes in zip(batch, taken, strict=True):
            if takes and view.parent_span_id:
                parents.setdefault(view.trace_id, set()).add(view.parent_span_id)
        for trace_id in {view.trace_id for view in batch}:
            trace = self._open.get(trace_id)
            if trace is not None and trace[2]:
                parents.setdefault(trace_id, set()).update(trace[2])
        return parents

    def hold(self, pieces: Sequence[HeldPiece]) -> None:
        """Keep pieces until their run is ready; raises ``QueueFull`` from a durable hold."""
        if not pieces:
            return
        revive = {piece.trace_id for piece in pieces if piece.completes}
        with self._hold_lock:
            refused = self._hold.hold(pieces, revive)
            traces = {piece.trace_id for piece in pieces} - refused
            states = self._hold.states(traces, waiting=self._waits)
        dropped = sum(piece.trace_id in refused for piece in pieces)
        with self._lock:
            for trace_id in revive - refused:
                self._released.pop(trace_id, None)  # its kept pieces wait again, with their top
            self._opened(states)
            self.stats.spans_held += len(pieces) - dropped
            self.stats.spans_dropped_full += dropped
        if dropped:
            _logger.warning(
                "%d spans dropped: too many traces wait for their %s at once (max_open_runs); give "
                "spool_path= to hold them on disk",
                dropped,
                self.build.noun,
            )

    # --- release --------------------------------------------------------------------------------

    def ready(self, now: float | None = None, *, flush: bool = False, everything: bool = False) -> list[str]:
        """Traces ready now; ``flush``: every trace a top came for, at once, whole or not (a parent
        that comes later completes its run's task); ``everything``: all."""
        now = self._clock() if now is None else now
        with self._lock:
            return [
                trace_id
                for trace_id, (last, top, waiting) in self._open.items()
                if everything
                or (top and flush)
                or now - last >= (self.grace if top and not waiting else self.idle_timeout)
            ]

    def release_ready(
        self, now: float | None = None, *, flush: bool = False, everything: bool = False
    ) -> int:
        """Release the ready traces: one queued record per run; how many records were added."""
        added = 0
        with self._release_lock:
            self._forget_released(self._clock())
            for trace_id in self.ready(now, flush=flush, everything=everything):
                try:
                    added += self._release(trace_id)
                except StateUnavailable:  # logged once per outage by the shared state; the pieces stay
                    continue
                except Exception:  # the pieces stay held; the next tick tries again
                    _logger.exception(
                        "Could not release the %s of trace %s; retrying", self.build.noun, trace_id
                    )
        if added and self.on_release is not None:
            self.on_release(added)
        return added

    def _release(self, trace_id: str) -> int:
        held = self._hold.pieces(trace_id)
        if not held:
            with self._lock:
                self._open.pop(trace_id, None)
            return 0
        came = {piece.span_id for piece in held}
        pieces = [piece for piece in held if not piece.foreign]
        views = [decode_view(p.view) if isinstance(p.view, bytes) else p.view for p in pieces]
        missing = {p.parent_span_id for p in pieces if p.parent_span_id and p.parent_span_id not in came}
        project = next((p.project for p in pieces if p.project), None)
        built = self.build.build(
            views,
            project,
            missing=missing if self._waits else (),
            released_as={p.span_id: p.released_as for p in pieces if p.released_as is not None},
        )
        now = self._clock()
        gone = [piece.span_id for piece in held if piece.span_id not in built.keep]
        try:
            released = self._hold.release(trace_id, gone, built.records, built.keep, now)
        except Exception:
            self.build.settle(queued=False)
            raise
        self.build.settle(queued=True, refused=released.refused)
        added = released.added
        with self._hold_lock:  # more may have come while releasing: it waits for its own turn
            states = self._hold.states([trace_id], waiting=self._waits)
        with self._lock:
            self._open.pop(trace_id, None)
            self._opened(states)
            remembered = self._released.pop(trace_id, None) or _Released(now)
            remembered.at = now
            remembered.span_ids.update(view.span_id for view in views)
            remembered.missing |= {p.parent_span_id for p in pieces if p.span_id in built.keep} & missing
            self._released[trace_id] = remembered
            built.count()
        if built.keep and states:
            try:
                self._take_back(trace_id)
            except Exception:  # a full spool: the top is held, its run's pieces stay kept
                _logger.warning("Could not hold the kept pieces of trace %s again", trace_id, exc_info=True)
        return added

    def _take_back(self, trace_id: str) -> None:
        """A run was kept for its missing top while that top arrived (held as a new span, since the
        release was not over): its kept pieces are held again with it now."""
        with self._lock:
            missing = set(self._released[trace_id].missing)
        if not any(piece.span_id in missing for piece in self._hold.pieces(trace_id)):
            return
        with self._hold_lock:
            self._hold.hold([], {trace_id})
            states = self._hold.states([trace_id], waiting=self._waits)
        with self._lock:
            self._released.pop(trace_id, None)
            self._opened(states)

    def _opened(self, states: list[OpenTrace]) -> None:
        """Traces with held pieces, as the hold tells them; called holding the lock."""
        for state in states:
            self._open[state.trace_id] = (state.last_arrival, state.has_top, state.waiting)

    def _forget_released(self, now: float) -> None:
        """Released traces past twice the idle timeout are forgotten, and their kept pieces dropped."""
        cutoff = now - 2 * self.idle_timeout
        expired = []
        with self._lock:
            while self._released:
                trace_id, released = next(iter(self._released.items()))
                if released.at >= cutoff:
                    break
                del self._released[trace_id]
                if released.missing:
                    expired.append(trace_id)
        if expired:
            self._hold.forget(expired)

    # --- the timer thread -----------------------------------------------------------------------

    def start(self) -> None:
        """The timer that releases runs; none at interpreter shutdown, where ``release_ready`` is called
        by whoever drains (``shutdown``, ``force_flush``)."""
        if self._thread is None:
            thread = threading.Thread(target=self._run, name="otel-label-studio-runs", daemon=True)
            self._thread = thread if threads.start(thread) else None

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5.0)
            self._thread = None

    def _run(self) -> None:
        tick = max(0.05, min(TICK_SECONDS, self.grace / 2))
        while not self._stop.wait(tick):
            self.release_ready()


def _runs(views: list[SpanView], missing: Collection[str]) -> list[tuple[list[SpanView], bool, bool | None]]:
    """A trace's runs: (spans, hanging under a parent that never came, incomplete or None to let
    ``build_run`` tell). The subtrees under one such parent are one run, whatever their top-most spans
    look like, as are those whose top is missing and which hang under the same span."""
    runs: list[tuple[list[SpanView], bool, bool | None]] = []
    orphans: dict[str, list[list[SpanView]]] = {}
    for run in runs_of(views):
        ids = {view.span_id for view in run}
        top = next(view for view in run if view.parent_span_id not in ids)
        if top.parent_span_id in missing or not looks_like_top(top):
            orphans.setdefault(top.parent_span_id, []).append(run)
        else:
            runs.append((run, False, None))
    for parent, subtrees in orphans.items():
        spans = [view for run in subtrees for view in run]
        runs.append((spans, parent in missing, True if len(subtrees) > 1 else None))
    return runs
