"""Agent runs assembled from their spans, whichever batches and requests brought them (``mode`` agent).

A run's spans arrive in any order, over many export batches or OTLP requests. Ingest hands each
batch's LangChain spans (``runs.pieces``) to ``RunAssembler.hold``, which keeps them in a hold:

- ``SpoolHold`` (``serve``, or the exporter with ``spool_path``): the spool's ``run_pieces`` table,
  committed before the request is acknowledged, so an acknowledged span is never lost;
- ``MemoryHold`` (the exporter's default): at most ``max_open_runs`` traces open at once; the spans
  of a trace beyond that are dropped and counted.

A trace is *ready* when one of its spans can be a run's top (``runs.looks_like_top``) and nothing
arrived for ``run_grace`` seconds (each new span restarts the wait). A trace whose top never came is
ready after ``run_idle_timeout`` seconds without a new span; its runs are marked ``incomplete``.
Releasing a trace builds its runs (``runs.runs_of``, ``runs.build_run``; the spans under one missing
top are one incomplete run), redacts them, lets the review rules pick the runs to keep (``gate``:
``rules.run_fields``), queues one record per kept run and deletes the pieces, in one
transaction for the spool: after a kill -9 either the pieces wait or the runs are queued, once (the
queue is keyed by the run's top span). Timers use each span's stored arrival time, so they resume
after a restart. Memory holds only trace id -> (last arrival, has a top).

A span arriving after its run was released (its own id, or its parent, among the run's spans) is
dropped and counted for twice the idle timeout; later it would start a run of its own.

What a released trace becomes is the assembler's ``Build``: ``RunBuild`` (mode agent, above) or
``pair_hold.PairBuild`` (mode pairwise: a trace's LLM spans, none of them a top, released
``pair_wait`` seconds after the last one arrived, become pairs). The hold, its timers, the
release transaction and the late-span rule are the same for both.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterable, Protocol, Sequence

from ..delivery import threads
from ..modes.runs import RunRecord, build_run, is_run_span, looks_like_top, runs_of
from ..reading.spanview import SpanView
from ..rules.gate import select_runs
from .queue import AddResult, RecordQueue
from .run_codec import AnyRecord, HeldPiece, OpenTrace, decode_view, encode_view
from .shared import StateUnavailable

if TYPE_CHECKING:
    from ..rules import Decision, ReviewGate

_logger = logging.getLogger(__name__)

TICK_SECONDS = 0.5  # how often the assembler looks for ready traces, at most


class RunHold(Protocol):
    """Where the pieces of runs not yet whole wait."""

    def hold(self, pieces: Sequence[HeldPiece]) -> set[str]:
        """Keep pieces; the traces whose pieces were dropped for lack of room (the spool raises
        ``QueueFull`` instead)."""
        ...

    def open_traces(self) -> list[OpenTrace]: ...
    def pieces(self, trace_id: str) -> list[HeldPiece]: ...
    def release(self, trace_id: str, span_ids: Sequence[str], records: Sequence[AnyRecord]) -> AddResult:
        """Queue the records and forget the pieces (atomically where durable); what the queue did."""
        ...


class MemoryHold:
    """Pieces in memory, at most ``max_open`` traces; released runs go to ``queue``."""

    encode = False

    def __init__(self, queue: RecordQueue, max_open: int):
        self._queue = queue
        self._max_open = max_open
        self._lock = threading.Lock()
        self._traces: dict[str, dict[str, HeldPiece]] = {}

    def hold(self, pieces: Sequence[HeldPiece]) -> set[str]:
        dropped = set()
        with self._lock:
            for piece in pieces:
                trace = self._traces.get(piece.trace_id)
                if trace is None:
                    if len(self._traces) >= self._max_open:
                        dropped.add(piece.trace_id)
                        continue
                    trace = self._traces[piece.trace_id] = {}
                trace[piece.span_id] = piece
        return dropped

    def open_traces(self) -> list[OpenTrace]:
        return []  # nothing survives the process

    def pieces(self, trace_id: str) -> list[HeldPiece]:
        with self._lock:
            return list(self._traces.get(trace_id, {}).values())

    def release(self, trace_id: str, span_ids: Sequence[str], records: Sequence[AnyRecord]) -> AddResult:
        added = self._queue.add(records)
        with self._lock:
            trace = self._traces.get(trace_id, {})
            for span_id in span_ids:
                trace.pop(span_id, None)
            if not trace:
                self._traces.pop(trace_id, None)
        return added


@dataclass
class RunStats:
    """The hold's counts (both builds) and the runs' (``RunBuild``)."""

    spans_held: int = 0
    runs_released: int = 0
    runs_incomplete: int = 0
    late_spans_dropped: int = 0  # arrived after their run became a task
    spans_dropped_full: int = 0  # the in-memory hold had max_open_runs traces open


class Build(Protocol):
    """What the assembler holds and what a released trace becomes."""

    noun: str  # what is waiting, for log lines: "agent runs", "pairs"

    def takes(self, view: SpanView) -> bool:
        """Whether the span is held (the others are not this mode's business)."""
        ...

    def top(self, view: SpanView) -> bool:
        """Whether the span can end the wait early (``grace`` instead of ``idle_timeout``)."""
        ...

    def build(
        self, views: list[SpanView], project: str | None
    ) -> tuple[Sequence[AnyRecord], Callable[[], None]]:
        """A released trace's records, and what counts them once they are queued."""
        ...

    def settle(self, *, queued: bool, refused: Sequence[AnyRecord] = ()) -> None:
        """After the records of the last ``build`` were queued (or not; ``refused``: those the
        in-memory queue dropped for lack of room): what the build decided is kept or given back.
        Releases are one at a time, so the last build is the one meant."""
        ...


class RunBuild:
    """Mode agent: a trace's LangChain spans become one record per run."""

    noun = "agent runs"

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
        self, views: list[SpanView], project: str | None
    ) -> tuple[Sequence[AnyRecord], Callable[[], None]]:
        runs = [(self._record(run, project), run) for run in _runs(views)]
        records = [record for record, _ in runs]
        self._admitted = []
        if self._gate is not None:
            records, self._admitted = select_runs(self._gate, runs, project)

        def count() -> None:
            self._stats.runs_released += len(records)
            self._stats.runs_incomplete += sum(record.incomplete for record in records)

        return records, count

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

    def _record(self, run: list[SpanView], project: str | None) -> RunRecord:
        """``project`` (the request's header) only for a run whose resource names none."""
        record = build_run(run)
        record.project = record.project or project
        if self._redact is not None:
            record.redact(self._redact)
        return record


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
        self._release_lock = threading.Lock()
        self._open: dict[str, tuple[float, bool]] = {
            trace.trace_id: (trace.last_arrival, trace.has_top) for trace in hold.open_traces()
        }
        self._released: OrderedDict[str, tuple[float, set[str]]] = OrderedDict()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.stats = RunStats()
        self.build: Build = build if build is not None else RunBuild(self.stats, redact, gate)

    @property
    def open_runs(self) -> int:
        """Traces with pieces waiting."""
        return len(self._open)

    # --- arrival --------------------------------------------------------------------------------

    def pieces_of(self, views: Iterable[SpanView], project: str | None = None) -> list[HeldPiece]:
        """The batch's run spans as pieces to hold; spans of runs already released are dropped and
        counted here."""
        now = self._clock()
        held = []
        late = 0
        with self._lock:
            self._forget_released(now)
            for view in views:
                if not self.build.takes(view):
                    continue
                released = self._released.get(view.trace_id)
                if released is not None and (
                    view.span_id in released[1] or view.parent_span_id in released[1]
                ):
                    released[1].add(view.span_id)
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
                    )
                )
            self.stats.late_spans_dropped += late
        if late:
            _logger.warning("%d spans arrived after their %s became tasks: dropped", late, self.build.noun)
        return held

    def hold(self, pieces: Sequence[HeldPiece]) -> None:
        """Keep pieces until their run is ready; raises ``QueueFull`` from a durable hold."""
        if not pieces:
            return
        refused = self._hold.hold(pieces)
        dropped = 0
        with self._lock:
            for piece in pieces:
                if piece.trace_id in refused:
                    dropped += 1
                    continue
                last, top = self._open.get(piece.trace_id, (0.0, False))
                self._open[piece.trace_id] = (max(last, piece.received_at), top or piece.top)
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
        """Traces ready now; ``flush``: every trace with a top, at once; ``everything``: all."""
        now = self._clock() if now is None else now
        with self._lock:
            return [
                trace_id
                for trace_id, (last, top) in self._open.items()
                if everything
                or (top and (flush or now - last >= self.grace))
                or (not top and now - last >= self.idle_timeout)
            ]

    def release_ready(
        self, now: float | None = None, *, flush: bool = False, everything: bool = False
    ) -> int:
        """Release the ready traces: one queued record per run; how many records were added."""
        added = 0
        with self._release_lock:
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
        views = [decode_view(p.view) if isinstance(p.view, bytes) else p.view for p in held]
        project = next((p.project for p in held if p.project), None)
        records, count = self.build.build(views, project)
        try:
            released = self._hold.release(trace_id, [p.span_id for p in held], records)
        except Exception:
            self.build.settle(queued=False)
            raise
        self.build.settle(queued=True, refused=released.refused)
        added = released.added
        now = self._clock()
        with self._lock:
            arrived = max(p.received_at for p in held)
            last, _ = self._open.get(trace_id, (0.0, False))
            if last > arrived:  # more came while releasing: it waits for its own turn
                self._open[trace_id] = (last, any(p.top for p in self._hold.pieces(trace_id)))
            else:
                self._open.pop(trace_id, None)
            remembered = self._released.setdefault(trace_id, (now, set()))[1]
            remembered.update(view.span_id for view in views)
            self._released[trace_id] = (now, remembered)
            self._released.move_to_end(trace_id)
            count()
        return added

    def _forget_released(self, now: float) -> None:
        cutoff = now - 2 * self.idle_timeout
        while self._released:
            trace_id, (at, _) = next(iter(self._released.items()))
            if at >= cutoff:
                break
            del self._released[trace_id]

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


def _runs(views: list[SpanView]) -> list[list[SpanView]]:
    """A trace's runs; the runs whose top is missing and which hang under the same missing span are
    one (incomplete) run, not one per orphaned branch."""
    runs: list[list[SpanView]] = []
    orphans: dict[str, list[SpanView]] = {}
    for run in runs_of(views):
        ids = {view.span_id for view in run}
        top = next(view for view in run if view.parent_span_id not in ids)
        if looks_like_top(top):
            runs.append(run)
        else:
            orphans.setdefault(top.parent_span_id, []).extend(run)
    return runs + list(orphans.values())
