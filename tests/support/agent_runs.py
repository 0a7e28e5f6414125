"""A real LangGraph agent run, read as a run record (for the agent layout and browser tests)."""

from __future__ import annotations

from otel_label_studio.modes import runs
from otel_label_studio.reading.spanview import from_readable_span
from tests.support import scenarios


def captured_run(captured) -> runs.RunRecord:
    scenarios.agent_run()
    views = [from_readable_span(span) for span in captured.get_finished_spans()]
    [piece] = runs.pieces(views)
    [spans] = runs.runs_of(piece.spans)
    return runs.build_run(spans)
