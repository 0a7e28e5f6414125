"""The report of an agent project (issue 25): how the runs ended, their first wrong steps by step kind and by
tool, and the failure modes the reviewers chose, in text, JSON and HTML; a project of other tasks has none."""

from __future__ import annotations

import re
from typing import Any

from otel_label_studio.analysis.readings import AnswerReading
from otel_label_studio.modes.layouts import AGENT_CONFIG, CHAT_CONFIG, Layout
from otel_label_studio.modes.run_tasks import run_task
from tests.support.agent_runs import captured_run, raising_run
from tests.support.builders import record
from tests.support.old_agent_config import FIRST_AGENT_CONFIG


def wrong(*items: int) -> list[dict[str, Any]]:
    return [
        {"from_name": "step_judgment", "to_name": "steps", "type": "paragraphlabels",
         "value": {"start": str(n), "end": str(n), "text": "x", "paragraphlabels": ["Wrong step"]}}
        for n in items
    ]  # fmt: skip


def chose(name: str, *choices: str) -> list[dict[str, Any]]:
    return [{"from_name": name, "to_name": "steps", "type": "choices", "value": {"choices": list(choices)}}]


def reviewed(task: dict[str, Any], task_id: int, result: list[dict[str, Any]], cancelled=False) -> dict:
    annotation = {"id": task_id, "completed_by": 1, "result": result, "was_cancelled": cancelled}
    return {**task, "id": task_id, "annotations": [annotation]}


def test_an_agent_projects_report_counts_first_wrong_steps_by_kind_and_tool_and_failure_modes(captured):
    run = captured_run(captured)
    answered = run_task(Layout.from_config(AGENT_CONFIG), run)
    old = run_task(Layout.from_config(FIRST_AGENT_CONFIG), run)
    old["data"].pop("status")  # a task made before issue 25 has no status field: read from its meta
    captured.clear()
    raised = run_task(Layout.from_config(AGENT_CONFIG), raising_run(captured))
    tasks = [
        reviewed(answered, 1, [*wrong(3, 2), *chose("failure_modes", "Ignored tool result")]),
        reviewed(raised, 2, [*wrong(1), *chose("failure_modes", "Wrong tool", "Gave up")]),
        reviewed(answered, 3, []),  # nothing marked wrong
        {**answered, "id": 4, "annotations": []},  # not reviewed
        reviewed(answered, 5, wrong(2), cancelled=True),  # skipped: not reviewed
        # the first agent layout's "first wrong step" row, where a project still has it
        reviewed(old, 6, [*wrong(2), *chose("first_wrong_step", "3 · retriever WeatherNotes")]),
    ]
    pages = AnswerReading(AGENT_CONFIG).report(
        iter(tasks), url="http://ls", project_id=9, title="runs", variant=None
    )
    assert pages.data["tasks"] == 6  # the agreement report read the same stream
    assert pages.data["runs"] == {
        "runs": 6,
        "statuses": {"succeeded": 5, "raised": 1},
        "reviewed": 4,
        "no_wrong_step": 1,
        "first_wrong_by_kind": {"model": 1, "retriever": 1, "tool": 1},
        "first_wrong_by_tool": {"retriever WeatherNotes": 1, "tool search_weather": 1},
        "failure_modes": {"Gave up": 1, "Ignored tool result": 1, "Wrong tool": 1},
    }
    assert "Agent runs: 6 runs (succeeded 5, raised 1), 4 reviewed" in pages.text
    assert "  First wrong step: 3 of 4 reviewed runs (1 with no step marked wrong)" in pages.text
    assert "    by step kind: model 1, retriever 1, tool 1" in pages.text
    assert "    by tool: retriever WeatherNotes 1, tool search_weather 1" in pages.text
    modes = "Gave up 1, Ignored tool result 1, Wrong tool 1"
    assert f"  Failure modes (reviewed runs that chose each): {modes}" in pages.text
    assert pages.text.index("Agent runs") < pages.text.index("Human vs judge")  # first
    html = pages.html
    assert '<section class="runs">' in html and html.index("Agent runs") < html.index("Human vs judge")
    rows = re.findall(r'<table class="first-wrong-tool">(.*?)</table>', html)[0]
    assert re.findall(r"<td>([^<]*)</td><td data-count=\"(\d+)\">", rows) == [
        ("retriever WeatherNotes", "1"),
        ("tool search_weather", "1"),
    ]
    assert re.search(r'<table class="failure-modes">.*<td>Wrong tool</td><td data-count="1">', html)


def test_a_project_of_other_tasks_has_no_agent_section():
    task = {"id": 1, **Layout.from_config(CHAT_CONFIG).task(record(1)), "annotations": []}
    pages = AnswerReading(CHAT_CONFIG).report([task], url="", project_id=1, title="chat", variant=None)
    assert "runs" not in pages.data and "Agent runs" not in pages.text and "Agent runs" not in pages.html
