"""What a reviewer sees of an LLM judge (issue 25), in the real Label Studio and headless Chromium: the
judge's verdict as read-only text beside the answer it judged (its name in full, its label, its score in
its own scale, its explanation), never in the reviewer's own rating; the judged answer shown with the
judge's prediction; nothing of a judge on a task no judge spoke about; the judge's score as a Data Manager
column that sorts and filters as a number; and, with ``--reveal-judges after_answer``, the judge shown only
once the task is answered. One result is sent before the task exists, one after (the judge join)."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.sdk.trace.export import SpanExportResult

from otel_label_studio import LabelStudioSpanExporter
from otel_label_studio.modes.runs import build_run, pieces, runs_of
from otel_label_studio.reading.spanview import from_readable_span
from tests.support import scenarios, sidecar
from tests.support.browser import logged_in_page, screenshot, task_table, visible, wait_for_texts
from tests.support.judge_emit import (
    emit,
    evaluation,
    judge_logger,
    logs_exporter,
    otlp_logger,
    wait_for_judges,
)
from tests.support.judge_spans import judged_chat_span
from tests.support.label_studio_reads import project_by_title, tasks_of, wait_for_tasks
from tests.support.old_configs import BEFORE_ISSUE_25
from tests.support.pipelines import deliver
from tests.support.serve_calls import register_webhook

pytestmark = pytest.mark.integration

EARLY = evaluation("helpfulness", 0.75, label="helpful", explanation="answers the question")
LATE = evaluation("correctness", 0.25, label="wrong", explanation="misses the unit")
SAID = [
    "helpfulness: helpful · score 0.75",  # the name in full (the tab cuts it: "judge:he...ulness")
    "answers the question",
    "correctness: wrong · score 0.25",  # its own scale: 0.25, not 25.00%
    "misses the unit",
]
HEADING = "Judge's verdict"
FILLED_STAR = ".ant-rate-star-full"
PAGE = ".lsf-main-view__annotation"  # the labeling page itself (not the task list beside it)
ANSWER_BOX = '[data-testid="htx-textbox-content"]'  # a TextArea's entry: the response the reviewer edits


def ids(trace_id: int | str, span_id: int | str) -> dict[str, str]:
    as_hex = [
        value if isinstance(value, str) else format(value, width)
        for value, width in ((trace_id, "032x"), (span_id, "016x"))
    ]
    return {"trace_id": as_hex[0], "span_id": as_hex[1]}


def span_ids(span: Any) -> dict[str, str]:
    context = span.get_span_context()
    return ids(context.trace_id, context.span_id)


def judged_calls(label_studio, ls, project_name: str, mode: str) -> tuple[int, int, int, str]:
    """A prompt or chat project with a judged call (helpfulness before its task, correctness after) and a
    call no judge spoke about: (project id, judged task id, plain task id, the judged answer)."""
    exporter = LabelStudioSpanExporter(
        url=label_studio.url, api_key=label_studio.pat, project_name=project_name, mode=mode
    )
    provider, logger = judge_logger(logs_exporter(exporter))
    answer = f"The answer is 4 ({mode})."
    judged = judged_chat_span(f"What is 2+2? ({mode})", answer, evaluations=[])
    plain = judged_chat_span(f"What is 3+3? ({mode})", "The answer is 6.", evaluations=[])
    emit(logger, EARLY, **span_ids(judged))  # before its task exists: rides in the import
    deliver(exporter, [judged, plain])
    tasks = {task.data["span_id"]: task.id for task in tasks_of(ls, project_name)}
    emit(logger, LATE, **span_ids(judged))  # after: added to the task
    judged_id, plain_id = tasks[span_ids(judged)["span_id"]], tasks[span_ids(plain)["span_id"]]
    wait_for_judges(ls, judged_id, {"judge:helpfulness", "judge:correctness"})
    exporter.shutdown()
    provider.shutdown()
    return project_by_title(ls, project_name).id, judged_id, plain_id, answer


def judged_runs(captured, label_studio, ls, project_name: str) -> tuple[int, int, int, str]:
    """An agent project with a judged run (a result before its task, one after) and a run no judge spoke
    about, made by the exporter in mode agent from two real LangChain agent runs."""
    answer = "It is sunny and 22C in Paris."
    scenarios.agent_run()
    scenarios.agent_run(city="Oslo", answer="It is cold in Oslo.")
    spans = list(captured.get_finished_spans())
    runs = [
        build_run(run) for piece in pieces(map(from_readable_span, spans)) for run in runs_of(piece.spans)
    ]
    (judged,) = [run for run in runs if run.final_answer == answer]
    (plain,) = [run for run in runs if run.final_answer != answer]
    exporter = LabelStudioSpanExporter(
        url=label_studio.url, api_key=label_studio.pat, project_name=project_name, mode="agent", run_grace=0.5
    )
    provider, logger = judge_logger(logs_exporter(exporter))
    emit(logger, EARLY, **ids(judged.trace_id, judged.span_id))  # before the run's task exists
    deliver(exporter, spans)
    tasks = {task.data["span_id"]: task.id for task in wait_for_tasks(ls, project_name, 2)}
    emit(logger, LATE, **ids(judged.trace_id, judged.span_id))
    wait_for_judges(ls, tasks[judged.span_id], {"judge:helpfulness", "judge:correctness"})
    exporter.shutdown()
    provider.shutdown()
    return project_by_title(ls, project_name).id, tasks[judged.span_id], tasks[plain.span_id], answer


def open_task(page, label_studio, project_id: int, task_id: int, waits_for: list[str]) -> str:
    page.goto(f"{label_studio.url}/projects/{project_id}/data?task={task_id}")
    wait_for_texts(page, waits_for)
    page.wait_for_load_state("networkidle")  # the editor may mount twice: let it settle
    return wait_for_texts(page, waits_for)


def answer_box(page, answer: str, timeout: float = 15.0):
    """The box holding the answer a reviewer edits: an always-open textarea whose value is the answer (the
    prompt and chat configs since issue 25's pages: ``transcription="true"``), else a TextArea's entry
    holding it (the agent config); looked for until ``timeout`` (s), as the editor renders it."""
    deadline = time.monotonic() + timeout
    while True:
        values = page.locator("textarea").evaluate_all("boxes => boxes.map(b => b.value)")
        if answer in values:
            return page.locator("textarea").nth(values.index(answer))
        entry = page.locator(ANSWER_BOX, has_text=answer)
        if entry.count() or time.monotonic() > deadline:
            return entry
        time.sleep(0.2)


def assert_the_verdict_is_beside_the_answer(page, answer: str) -> None:
    verdict = page.locator(PAGE).get_by_text(SAID[0], exact=False).first.bounding_box()
    judged = answer_box(page, answer).first.bounding_box()
    assert verdict is not None and judged is not None
    gap = verdict["y"] - (judged["y"] + judged["height"])
    assert 0 <= gap < 250, f"the verdict is {gap:.0f} px away from the answer it judged"


@pytest.mark.parametrize("mode", ["prompt", "chat", "agent"])
def test_a_reviewer_reads_the_judges_beside_the_answer_and_rates_it_alone(
    mode, routing, captured, browser, label_studio, ls, project_name
):
    if mode == "agent":
        project_id, judged_id, plain_id, answer = judged_runs(captured, label_studio, ls, project_name)
    else:
        project_id, judged_id, plain_id, answer = judged_calls(label_studio, ls, project_name, mode)
    page = logged_in_page(browser, label_studio)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    text = open_task(page, label_studio, project_id, judged_id, [answer, *SAID])
    assert f"{HEADING} (an LLM judge's, not yours; read-only):" in text
    body = page.inner_text("body")
    assert "25.00%" not in body and "75.00%" not in body, "a judge's score shown as a percentage"
    assert visible(answer_box(page, answer)), "the reviewer's annotation does not show the answer"
    assert_the_verdict_is_beside_the_answer(page, answer)
    assert page.locator(FILLED_STAR).count() == 0, "the reviewer's rating is not empty"
    page.locator(PAGE).get_by_text(HEADING, exact=False).first.scroll_into_view_if_needed()
    screenshot(page, f"labeling-{mode}-judged")
    for tab in ("judge:he", "judge:co"):  # each judge's prediction, as Label Studio names it
        page.get_by_text(tab, exact=False).first.click()
        assert visible(answer_box(page, answer)), f"with {tab}... selected the judged answer is blank"
        assert page.locator(FILLED_STAR).count() == 0, f"{tab}... fills the reviewer's rating"
        for said in SAID:
            assert visible(page.get_by_text(said, exact=False)), f"{said!r} not shown with {tab}..."

    text = open_task(page, label_studio, project_id, plain_id, ["Rate the"])
    assert HEADING not in text and "judge:" not in text, "a task no judge spoke about shows a judge"
    assert not errors, errors
    page.close()


def test_a_judge_s_score_is_a_data_manager_column_that_sorts_and_filters_as_a_number(
    browser, label_studio, ls, project_name
):
    exporter = LabelStudioSpanExporter(
        url=label_studio.url, api_key=label_studio.pat, project_name=project_name
    )
    scores = {"ten": 10.0, "half": 0.5, "nine": 9.0}  # sorted as text: 0.5, 10, 9
    spans = [
        judged_chat_span(
            f"question {name}", f"answer {name}", evaluations=[evaluation("quality", score, label=name)]
        )
        for name, score in scores.items()
    ]
    deliver(exporter, spans)
    project_id = project_by_title(ls, project_name).id
    column = "tasks:data.judge_quality_score"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # the join types the column once the tasks are in
        views = list(ls.views.list(project=project_id))
        if views and all(
            (view.data or {}).get("columnsDisplayType", {}).get(column) == "Number" for view in views
        ):
            break
        time.sleep(0.3)
    exporter.shutdown()
    (view,) = views
    assert view.data["columnsDisplayType"][column] == "Number", view.data
    # the order a reviewer picks in the Data Manager ("Order by"), as the Data Manager saves it
    ls.views.update(str(view.id), project=project_id, data={**view.data, "ordering": [column]})

    page = logged_in_page(browser, label_studio)
    page.goto(f"{label_studio.url}/projects/{project_id}/data")
    page.get_by_text("judge_quality_score", exact=True).first.wait_for(state="visible", timeout=90_000)
    page.get_by_text("question ten", exact=False).first.wait_for(state="visible", timeout=90_000)
    page.wait_for_load_state("networkidle")
    table = task_table(page)
    assert "judge_quality_label" in table and "Judge's verdict" not in table  # the text: on the page
    order = sorted(scores, key=lambda name: table.index(f"question {name}"))
    assert order == ["half", "nine", "ten"], f"sorted {order}, not as numbers: {table!r}"
    screenshot(page, "data-manager-judge-columns")
    page.close()
    over = {"filter": f"filter:{column}", "operator": "greater", "type": "Number", "value": 5}
    query = json.dumps({"filters": {"conjunction": "and", "items": [over]}})
    found = ls.tasks.list(project=project_id, query=query, fields="all")
    assert sorted(task.data["judge_quality_label"] for task in found) == ["nine", "ten"]


def test_after_answer_serve_shows_the_judges_only_once_the_task_is_answered(
    browser, label_studio, ls, project_name, tmp_path
):
    side = sidecar.start(
        label_studio, tmp_path / "data", project_name, args=["--reveal-judges", "after_answer"]
    )
    try:
        span = judged_chat_span(f"What is 2+2? {uuid.uuid4().hex[:6]}", "4 (after answer)", evaluations=[])
        early, early_logger = otlp_logger(side, "http")
        emit(early_logger, EARLY, **span_ids(span))
        early.shutdown()
        otlp = HttpExporter(endpoint=side.traces_url, headers=side.auth())
        assert otlp.export([span]) == SpanExportResult.SUCCESS
        otlp.shutdown()
        (task,) = wait_for_tasks(ls, project_name, 1)
        late, late_logger = otlp_logger(side, "http")
        emit(late_logger, LATE, **span_ids(span))
        late.shutdown()
        deadline = time.monotonic() + 30
        while len((task.meta or {}).get("evaluations") or ()) < 2 and time.monotonic() < deadline:
            time.sleep(0.3)
            task = ls.tasks.get(str(task.id))
        # both kept in the task's meta, nothing of them where a reviewer looks
        assert [e["name"] for e in task.meta["evaluations"]] == ["helpfulness", "correctness"]
        assert task.data["judges"] == "" and not any(key.startswith("judge_") for key in task.data)
        assert [p.model_version for p in task.predictions] == ["gpt-4o-mini"]
        project_id = project_by_title(ls, project_name).id
        page = logged_in_page(browser, label_studio)
        text = open_task(page, label_studio, project_id, task.id, ["4 (after answer)"])
        assert HEADING not in text and "judge:" not in text
        registered = register_webhook(side, label_studio, project_id)
        assert registered.returncode == 0, registered.stderr
        stars = {"from_name": "rating", "to_name": "prompt", "type": "rating", "value": {"rating": 4}}
        ls.annotations.create(id=task.id, result=[stars])  # the reviewer answers: the webhook goes to serve
        wait_for_judges(ls, task.id, {"judge:helpfulness", "judge:correctness"})
    finally:
        assert side.terminate() == 0
    task = ls.tasks.get(str(task.id))
    assert all(said in task.data["judges"] for said in SAID)
    assert (task.data["judge_helpfulness_score"], task.data["judge_correctness_label"]) == (0.75, "wrong")
    text = open_task(page, label_studio, project_id, task.id, SAID)
    assert HEADING in text
    page.close()


def test_a_project_made_with_a_default_config_of_before_issue_25_keeps_taking_tasks_and_judges(
    label_studio, ls, project_name
):
    exporter = LabelStudioSpanExporter(
        url=label_studio.url,
        api_key=label_studio.pat,
        project_name=project_name,
        project_config=BEFORE_ISSUE_25["prompt"],
    )
    provider, logger = judge_logger(logs_exporter(exporter))
    span = judged_chat_span("What is 2+2? (old project)", "4 (old project)", evaluations=[])
    emit(logger, EARLY, **span_ids(span))
    deliver(exporter, [span])
    (task,) = tasks_of(ls, project_name)
    emit(logger, LATE, **span_ids(span))
    judges = wait_for_judges(ls, task.id, {"judge:helpfulness", "judge:correctness"})
    exporter.shutdown()
    provider.shutdown()
    assert (judges["judge:correctness"].score, judges["judge:correctness"].rating) == (0.25, 2.0)
    predictions = {p.model_version: p.model_dump() for p in ls.tasks.get(str(task.id)).predictions}
    # its judge TextArea shows what each judge said; no judge fills the reviewer's stars
    for name, lines in (
        (
            "helpfulness",
            ["judge: helpfulness", "label: helpful", "score: 0.75", "explanation: answers the question"],
        ),
        (
            "correctness",
            ["judge: correctness", "label: wrong", "score: 0.25", "explanation: misses the unit"],
        ),
    ):
        items = {item["from_name"]: item for item in predictions[f"judge:{name}"]["result"]}
        assert set(items) == {"response", "judge"}
        assert items["judge"]["value"]["text"] == lines
        assert items["response"]["value"]["text"] == ["4 (old project)"]
    task = ls.tasks.get(str(task.id))
    assert "judges" not in task.data  # its config has no place for the verdict text
    assert task.data["judge_correctness_score"] == 0.25  # the Data Manager's columns all the same
