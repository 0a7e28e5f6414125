"""Agent run assembly (mode agent): its cost per span, and memory with 10,000 runs open at once.

The spans are those of one real LangGraph ReAct agent run (the test suite's scenario: LangChain,
LangGraph and the real OpenLLMetry instrumentation), copied under fresh trace ids, so each copy is
a run of its own. Per span: the assembler's arrival work (which spans belong to runs, the pieces
to hold), the hold (memory: a dict; spool: one committed transaction per trace's batch, as one OTLP
request each) and the release (runs built, redacted off, queued, pieces deleted). Memory: the
Python heap (tracemalloc) the assembler and its hold keep with ``OPEN`` runs open, in memory (the
exporter's default) and in the spool (``serve``: only trace id -> (last arrival, has top) in memory).
"""

from __future__ import annotations

import time
import tracemalloc
from dataclasses import replace
from pathlib import Path

from otel_label_studio.modes.runs import pieces
from otel_label_studio.reading.spanview import SpanView, from_readable_span
from otel_label_studio.store.assembly import MemoryHold, RunAssembler
from otel_label_studio.store.memory_queue import MemoryQueue
from otel_label_studio.store.run_codec import decode_view, encode_view
from otel_label_studio.store.spool import Spool, SpoolHold

OPEN = 10_000


class _Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def _agent_spans() -> list[SpanView]:
    """A real agent run's spans, through the process's one LangChain instrumentation (instrumenting
    again after ``uninstrument`` makes no spans: the e2e and overhead scenarios that follow need it)."""
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from bench.common import app_switch
    from tests.support import scenarios

    memory = InMemorySpanExporter()
    switch = app_switch()
    switch.target = SimpleSpanProcessor(memory)
    try:
        scenarios.agent_run()
    finally:
        switch.target = None
    [piece] = pieces(from_readable_span(span) for span in memory.get_finished_spans())
    return piece.spans


def _copies(spans: list[SpanView], count: int) -> list[list[SpanView]]:
    return [[replace(view, trace_id=f"{n:032x}") for view in spans] for n in range(1, count + 1)]


def _assembly(hold_of, traces: list[list[SpanView]]) -> dict:
    clock = _Clock()
    assembler = RunAssembler(hold_of(), grace=5, idle_timeout=300, clock=clock)
    t0 = time.perf_counter()
    for trace in traces:
        assembler.hold(assembler.pieces_of(trace))
    t1 = time.perf_counter()
    clock.now += 5
    released = assembler.release_ready()
    t2 = time.perf_counter()
    spans = sum(len(trace) for trace in traces)
    assert released == len(traces), (released, len(traces))
    return {
        "arrive_us_per_span": round((t1 - t0) / spans * 1e6, 1),
        "release_us_per_span": round((t2 - t1) / spans * 1e6, 1),
        "total_us_per_span": round((t2 - t0) / spans * 1e6, 1),
    }


def _memory(hold_of, spans: list[SpanView], count: int) -> float:
    """MB of Python heap kept with ``count`` runs open: the assembler, its hold and the spans it keeps
    alive (each copy has its own attribute dicts, as spans decoded from requests do)."""
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    assembler = RunAssembler(hold_of(), grace=5, idle_timeout=300, clock=_Clock())
    for n in range(1, count + 1):
        trace = [replace(decode_view(encode_view(view)), trace_id=f"{n:032x}") for view in spans]
        assembler.hold(assembler.pieces_of(trace))
    del trace
    kept = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert assembler.open_runs == count
    return round(kept / 1e6, 1)


def run(workdir: Path, quick: bool) -> dict:
    spans = _agent_spans()
    timed = _copies(spans, 300 if quick else 2000)
    opened = 1000 if quick else OPEN
    paths = iter(range(10**6))

    def in_spool() -> SpoolHold:
        path = workdir / f"runs-{next(paths)}.sqlite3"
        return SpoolHold(Spool(str(path), max_rows=10**9, max_bytes=1 << 40))

    rows = []
    for name, hold_of in (
        ("memory (exporter)", lambda: MemoryHold(MemoryQueue(10**7), 10**7)),
        ("spool (serve)", in_spool),
    ):
        costs = _assembly(hold_of, timed)
        rows.append(
            {
                "hold": name,
                **costs,
                f"heap_mb_{opened}_open": _memory(hold_of, spans, opened),
            }
        )
    return {"spans_per_run": len(spans), "runs_timed": len(timed), "open_runs": opened, "rows": rows}
