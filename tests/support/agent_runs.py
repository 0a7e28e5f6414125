"""Real LangGraph agent runs, read as run records (for the agent layout and browser tests)."""

from __future__ import annotations

from typing import Any, Callable

from otel_label_studio.modes import runs
from otel_label_studio.reading.spanview import from_readable_span
from tests.support import scenarios


def captured_run(captured, scenario: Callable[[], Any] = scenarios.agent_run) -> runs.RunRecord:
    """The run ``scenario`` makes (the weather agent that answers, by default), as the agent mode reads it."""
    scenario()
    views = [from_readable_span(span) for span in captured.get_finished_spans()]
    [piece] = runs.pieces(views)
    [spans] = runs.runs_of(piece.spans)
    return runs.build_run(spans)


def raising_run(captured) -> runs.RunRecord:
    """The agent told to answer in Fahrenheit whose tool raises, and the run with it."""
    return captured_run(captured, scenarios.agent_run_that_raises)
