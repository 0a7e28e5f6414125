"""Seen in a browser: an agent run's task in Label Studio's labeling view and Data Manager, as a reviewer
meets it (headless Chromium, as tests/integration/test_browser.py): the run's status and final answer at the
top, step 0 (the system prompt and the tools offered), each step named by its kind with a failed one marked,
the step marks beside the steps, and the Data Manager's run columns (issue 25)."""

from __future__ import annotations

import re

import pytest

from otel_label_studio import LabelStudioSpanExporter
from otel_label_studio.modes.layouts import AGENT_CONFIG, Layout
from otel_label_studio.modes.run_tasks import run_task
from tests.support import scenarios
from tests.support.agent_runs import captured_run
from tests.support.browser import logged_in_page, screenshot, task_table, visible, wait_for_texts
from tests.support.label_studio_reads import project_by_title, tasks_of
from tests.support.pipelines import pipeline

pytestmark = pytest.mark.integration

RAISED = "✗ Raised ConnectionError: weather service unreachable for Rome"
FAILED_STEP = "2 · tool get_weather · ✗ failed"
RAW_JSON = '[{"'  # how Label Studio shows a list-valued field


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
    model_steps = ["1 · model ToolCallingFake.chat", "4 · model ToolCallingFake.chat"]
    for expected in [*steps, *model_steps, '→ calls search_weather {"city": "Paris"}']:
        assert expected in text, f"{expected!r} not on the page"
    assert "[1] Paris weather today: sunny, 22C. (source: today.txt)" in text  # a retrieved document
    assert "00:00:00" not in text  # no timing controls on the steps
    # the final answer: beside the status, as the last step, and pre-filled as the editable response
    answer = page.get_by_text("It is sunny and 22C in Paris.", exact=True)
    assert visible(answer) and answer.count() >= 3, "not at the top, as the last step and the response"
    assert 'arguments: {"city": "Paris"}\nresult:' in text  # a step's lines keep their breaks
    for choice in ("Ignored tool result", "Gave up"):  # shown with a hotkey
        assert visible(page.get_by_text(choice, exact=False)), f"no choice {choice!r}"
    assert visible(page.get_by_text("Wrong step", exact=True)), "no per-step label"
    page.close()


@pytest.fixture
def agent_project(routing, captured, label_studio, ls, project_name):
    """A project the agent mode made (its Data Manager tab too) holding two runs: one that answered,
    one whose tool raised (the agent told to answer in Fahrenheit, offered two tools)."""
    exporter = LabelStudioSpanExporter(
        url=label_studio.url, api_key=label_studio.pat, project_name=project_name, mode="agent", run_grace=0.5
    )
    with pipeline(routing, exporter):
        scenarios.agent_run()
        scenarios.agent_run_that_raises()
    assert exporter.force_flush(30_000)
    exporter.shutdown()
    tasks = {("raised" if "Rome" in str(t.data) else "answered"): t for t in tasks_of(ls, project_name)}
    assert set(tasks) == {"raised", "answered"}
    return project_by_title(ls, project_name).id, tasks


def open_task(browser, label_studio, project_id: int, task_id: int, texts: list[str]):
    page = logged_in_page(browser, label_studio)
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(f"{label_studio.url}/projects/{project_id}/data?task={task_id}")
    wait_for_texts(page, texts)
    page.wait_for_load_state("networkidle")  # the editor may mount twice: let it settle
    return page, wait_for_texts(page, texts)


def box(page, text: str, exact: bool = True) -> dict:
    found = page.get_by_text(text, exact=exact).first
    found.wait_for(state="visible", timeout=30_000)
    where = found.bounding_box()
    assert where is not None, f"{text!r} has no box"
    return where


def headings(page) -> list[str]:
    """The step headings (the dialogue turns' names), in page order."""
    return page.locator("[class^=dialoguename--]").all_inner_texts()


def test_the_page_says_how_the_run_ended_what_it_was_given_and_which_step_failed(
    agent_project, browser, label_studio
):
    project_id, tasks = agent_project
    page, text = open_task(browser, label_studio, project_id, tasks["raised"].id, ["Rome", "get_time"])
    # the run's status at the top, the final answer (here: none) beside it, both above the steps
    assert RAISED in text, "no status line saying the run raised, with its error"
    status, answer = box(page, RAISED, exact=False), box(page, "No final answer", exact=False)
    request = box(page, "What's the weather in Rome?")
    beside = abs(status["y"] - answer["y"]) < 60 and answer["x"] > status["x"] + status["width"] / 2
    assert beside, "the final answer is not beside the status"
    assert status["y"] < request["y"] and answer["y"] < request["y"], "the status is not at the top"
    # step 0: the system prompt and the tools offered, above the request and step 1
    first = ["0 · system prompt and tools offered", "user", "1 · model ToolCallingFake.chat"]
    assert headings(page)[:3] == first, headings(page)
    for said in (
        "You are a weather assistant. Answer in Fahrenheit.",
        "Tools offered (2):",
        "• get_weather(city): Today's weather in a city.",
        "• get_time(zone): The local time in a time zone.",
    ):
        assert said in text, f"{said!r} not on the page"
        assert box(page, said, exact=False)["y"] < request["y"], f"{said!r} is not above the request"
    # the failed step says so in its heading; every step is named by its kind, in one colour
    assert FAILED_STEP in headings(page), headings(page)
    colours = page.evaluate(
        """() => [...document.querySelectorAll('[class^=dialoguename--]')]
            .map(e => getComputedStyle(e).color)"""
    )
    bars = page.evaluate(
        """() => [...document.querySelectorAll('[class^=phrase--]')]
            .map(e => getComputedStyle(e).borderLeftColor)"""
    )
    assert len(colours) == 4 and len(set(colours)) == 1, f"step headings in {set(colours)}"
    assert len(set(bars)) == 1, f"step bars in {set(bars)}"
    # no final answer: the response box is empty with its placeholder, not an empty pre-filled answer
    assert visible(page.get_by_placeholder("The right final answer, if you know it (optional)"))
    screenshot(page, "labeling-agent-layout")
    page.close()

    answered = tasks["answered"].id
    page, text = open_task(browser, label_studio, project_id, answered, ["Paris", "search_weather"])
    assert "✓ Succeeded · 4 steps, none failed" in text
    assert box(page, "It is sunny and 22C in Paris.")["y"] < box(page, "What's the weather in Paris?")["y"]
    assert "• search_weather(city): Look up today's weather for a city." in text
    assert "Answer in Fahrenheit" not in text and "✗ failed" not in text
    page.close()


def test_marking_a_step_wrong_from_the_step_makes_it_the_first_wrong_step(
    agent_project, browser, label_studio, ls
):
    project_id, tasks = agent_project
    task = tasks["raised"]
    asked = "What's the weather in Rome?"
    page, _ = open_task(browser, label_studio, project_id, task.id, [asked, "get_weather"])
    wrong = page.get_by_text("Wrong step", exact=True).first
    request = box(page, asked)
    assert box(page, "Wrong step")["y"] < request["y"], "the step marks are not beside the steps"
    # one control beside the steps: pick "Wrong step", then the step's own button
    wrong.click()
    step = page.locator("[data-testid^='phrase:']", has_text="2 · tool get_weather")
    step.get_by_role("button", name="Label whole utterance").click()
    page.get_by_text("Rate the run:", exact=True).scroll_into_view_if_needed()
    marks = wrong.bounding_box()
    assert marks is not None and 0 <= marks["y"] < 900, "the step marks scrolled out of view"
    page.get_by_role("button", name="Submit").click()
    page.wait_for_load_state("networkidle")
    page.close()

    from otel_label_studio.modes.run_answers import read_run_answer  # issue 25: the earliest step marked

    [annotation] = [a for a in ls.tasks.get(id=task.id).annotations if not a["was_cancelled"]]
    [region] = [item for item in annotation["result"] if item["type"] == "paragraphlabels"]
    assert (region["value"]["start"], region["value"]["paragraphlabels"]) == ("2", ["Wrong step"])
    assert read_run_answer(annotation["result"]).first_wrong_step == 2


def test_the_data_manager_shows_the_run_fields_a_reviewer_sorts_by(agent_project, browser, label_studio):
    project_id, tasks = agent_project
    page = logged_in_page(browser, label_studio)
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(f"{label_studio.url}/projects/{project_id}/data")
    page.get_by_text("get_weather", exact=True).first.wait_for(state="visible", timeout=90_000)  # rows in
    page.wait_for_load_state("networkidle")
    table = task_table(page)
    screenshot(page, "data-manager-agent-layout")
    assert RAW_JSON not in table, f"the Data Manager shows a list as JSON: {table!r}"
    columns = ["status", "errors", "tools_called", "steps_count", "duration_ms", "total_tokens"]
    boxes = [box(page, column) for column in columns]
    assert [b["x"] for b in boxes] == sorted(b["x"] for b in boxes), "not in the order reviewers sort by"
    assert all(b["x"] + b["width"] <= 1440 for b in boxes), f"a run column is off-screen at 1440 px: {boxes}"
    for column, kind in zip(columns, ["str", "num", "str", "num", "num", "num"], strict=True):
        assert f"{column}\n{kind}" in table, f"{column} is not typed {kind}"
    assert re.search(r"\b\d+\.\d+\b", table) is None, f"a duration with decimals: {table!r}"
    assert "raised" in table and "succeeded" in table

    page.goto(f"{label_studio.url}/projects/{project_id}/data?task={tasks['raised'].id}")
    wait_for_texts(page, ["Rome"])
    task_list = task_table(page)
    assert RAW_JSON not in task_list and "raised" in task_list, task_list
    page.close()
