"""Seen in a browser: an agent run's task in Label Studio's labeling view shows its steps, the tool's
result and the final answer pre-filled (headless Chromium, as tests/test_browser.py)."""

from __future__ import annotations

import pytest

from otel_label_studio.modes.layouts import AGENT_CONFIG, Layout
from otel_label_studio.modes.run_tasks import run_task
from tests.support.agent_runs import captured_run
from tests.support.browser import logged_in_page, screenshot, visible, wait_for_texts

pytestmark = pytest.mark.integration


def test_a_reviewer_sees_the_run(captured, browser, label_studio, ls, project_name):  # noqa: F811
    run = captured_run(captured)
    project = ls.projects.create(title=project_name, label_config=AGENT_CONFIG)
    task = run_task(Layout.from_config(AGENT_CONFIG), run)
    [task_id] = ls.projects.import_tasks(id=project.id, request=[task], return_task_ids=True).task_ids
    page = logged_in_page(browser, label_studio)

    steps = ["What's the weather in Paris?", "2 · tool search_weather", "3 · retriever WeatherNotes"]
    tool_result = "result: Paris weather today: sunny, 22C."
    page.goto(f"{label_studio.url}/projects/{project.id}/data?task={task_id}")
    wait_for_texts(page, [*steps, tool_result])
    page.wait_for_load_state("networkidle")  # the editor may mount twice: let it settle
    text = wait_for_texts(page, [*steps, tool_result, "Final answer (edit to correct it):"])
    for expected in [*steps, "1 · assistant", '→ calls search_weather {"city": "Paris"}', "4 · assistant"]:
        assert expected in text, f"{expected!r} not on the page"
    assert "[1] Paris weather today: sunny, 22C. (source: today.txt)" in text  # a retrieved document
    assert "00:00:00" not in text  # no timing controls on the steps
    # the final answer, pre-filled from the prediction as the editable response
    answer = page.get_by_text("It is sunny and 22C in Paris.", exact=True)
    assert visible(answer) and answer.count() >= 2, "the answer shows as the last step and the response"
    assert 'arguments: {"city": "Paris"}\nresult:' in text  # a step's lines keep their breaks
    for choice in ("No step went wrong", "Ignored tool result", "Gave up"):  # shown with a hotkey
        assert visible(page.get_by_text(choice, exact=False)), f"no choice {choice!r}"
    assert visible(page.get_by_text("Wrong step", exact=True)), "no per-step label"
    screenshot(page, "labeling-agent-layout")
    page.close()
