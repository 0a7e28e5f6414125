"""Judge results in, against the real Label Studio: an LLM span with ``gen_ai.evaluation.result``
events becomes a task with a ``judge:<name>`` prediction per evaluation, and the labeling view of
that task still loads with the model's response in it."""

from __future__ import annotations

import uuid

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.sdk.trace.export import SpanExportResult

from otel_label_studio import LabelStudioSpanExporter
from otel_label_studio.judges.judge import judge_results
from tests.support import sidecar
from tests.support.browser import logged_in_page, wait_for_texts
from tests.support.judge_spans import judged_chat_span
from tests.support.label_studio_reads import project_by_title, tasks_of, wait_for_tasks
from tests.support.old_configs import BEFORE_ISSUE_25, without_judge_area
from tests.support.pipelines import deliver

pytestmark = pytest.mark.integration

QUESTION = "What is 2+2? (judged)"
ANSWER = "The answer is 4 (judged)."


def judged_task(label_studio, ls, project_name, mode):
    exporter = LabelStudioSpanExporter(
        url=label_studio.url, api_key=label_studio.pat, project_name=project_name, mode=mode
    )
    deliver(exporter, [judged_chat_span(QUESTION, ANSWER)])
    exporter.shutdown()
    (task,) = tasks_of(ls, project_name)
    return task


@pytest.mark.parametrize("mode", ["prompt", "chat"])
def test_a_judged_span_gives_its_task_a_judge_prediction_per_evaluation(label_studio, ls, project_name, mode):
    task = judged_task(label_studio, ls, project_name, mode)
    predictions = {p.model_version: p.model_dump() for p in task.predictions}
    assert set(predictions) == {"gpt-4o-mini", "judge:helpfulness", "judge:toxicity"}
    # what the task says of each judge: its meta.evaluations (issue 25: the prediction holds no score)
    found = judge_results(predictions.values(), task.meta["evaluations"])
    helpfulness, toxicity = found["helpfulness"], found["toxicity"]
    assert (helpfulness.score, helpfulness.rating) == (0.75, 4.0)
    assert (toxicity.score, toxicity.rating) == (0.0, 1.0)
    target = "dialogue" if mode == "chat" else "prompt"
    assert predictions["judge:helpfulness"]["result"][0]["to_name"] == target
    assert (helpfulness.label, helpfulness.explanation) == ("helpful", "answers the question")
    assert (toxicity.label, toxicity.explanation) == (None, None)  # the event carried neither
    assert task.meta["evaluations"][0]["explanation"] == "answers the question"
    # the model's prediction set the project's model_version: the label stream pre-fills the response
    assert project_by_title(ls, project_name).model_version == "gpt-4o-mini"


def test_a_project_made_with_the_old_default_config_keeps_working(label_studio, ls, project_name):
    exporter = LabelStudioSpanExporter(
        url=label_studio.url,
        api_key=label_studio.pat,
        project_name=project_name,
        project_config=without_judge_area(BEFORE_ISSUE_25["prompt"]),
    )
    deliver(exporter, [judged_chat_span(QUESTION, ANSWER)])
    exporter.shutdown()
    (task,) = tasks_of(ls, project_name)
    predictions = {p.model_version: p.model_dump() for p in task.predictions}
    assert set(predictions) == {"gpt-4o-mini", "judge:helpfulness", "judge:toxicity"}
    # issue 25: no stars (the reviewer's Rating) and no raw score (shown as a percentage): the judged
    # answer; the label and explanation stay in the task's meta, the score and label in its data
    assert [item["from_name"] for item in predictions["judge:helpfulness"]["result"]] == ["response"]
    assert predictions["judge:helpfulness"].get("score") is None
    assert task.meta["evaluations"][0]["label"] == "helpful"
    assert (task.data["judge_helpfulness_score"], task.data["judge_helpfulness_label"]) == (0.75, "helpful")


@pytest.mark.parametrize("mode", ["prompt", "chat"])
def test_the_labeling_view_of_a_judged_task_shows_what_the_judge_said(
    browser, label_studio, ls, project_name, mode
):
    task = judged_task(label_studio, ls, project_name, mode)
    project_id = project_by_title(ls, project_name).id
    page = logged_in_page(browser, label_studio)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{label_studio.url}/projects/{project_id}/data?task={task.id}")
    wait_for_texts(page, [QUESTION, ANSWER])  # the model's prediction opens first
    page.wait_for_load_state("networkidle")
    text = wait_for_texts(page, [QUESTION])
    assert "Rate the response:" in text
    # issue 25: the judge's words are on the page as read-only text beside the answer, whichever
    # annotation or prediction is selected (they were in the judge's prediction only, as "label: ...")
    assert "helpfulness: helpful · score 0.75\nanswers the question" in text
    # no box to type in: no judge area any more, not the filled response
    assert page.locator('[data-testid="textarea-form"]').count() == 0
    # the prediction list names each by its model_version, cut in the middle ("judge:he...ulness")
    page.get_by_text("judge:he", exact=False).first.click()
    text = wait_for_texts(page, [ANSWER, "answers the question"])
    assert "Judge's verdict" in text
    assert not errors, errors


@pytest.mark.parametrize("transport", ["http", "grpc"])
def test_serve_gives_a_judged_span_its_judge_predictions(label_studio, ls, project_name, tmp_path, transport):
    side = sidecar.start(label_studio, tmp_path / "data", project_name)
    try:
        headers = side.auth()
        otlp = (
            GrpcExporter(endpoint=side.grpc_target, insecure=True, headers=headers)
            if transport == "grpc"
            else HttpExporter(endpoint=side.traces_url, headers=headers)
        )
        assert (
            otlp.export([judged_chat_span(f"{QUESTION} {uuid.uuid4().hex[:6]}")]) == SpanExportResult.SUCCESS
        )
        otlp.shutdown()
        (task,) = wait_for_tasks(ls, project_name, 1)
    finally:
        assert side.terminate() == 0
    assert {"judge:helpfulness", "judge:toxicity"} <= {p.model_version for p in task.predictions}
    ratings = judge_results([p.model_dump() for p in task.predictions], task.meta["evaluations"])
    assert ratings["helpfulness"].rating == 4.0 and ratings["toxicity"].rating == 1.0
    assert task.predictions[-1].model_version == "gpt-4o-mini"


def judge_note_config() -> str:
    """A user's own config (the old default) with a judge TextArea of its own."""
    return without_judge_area(BEFORE_ISSUE_25["prompt"]).replace(
        '<Rating name="rating" toName="prompt"/>',
        '<Rating name="rating" toName="prompt"/>\n<Header value="Judge said:"/>\n'
        '<TextArea name="judge" toName="prompt" rows="2"/>',
    )


def test_a_config_with_a_judge_textarea_shows_what_the_judge_said(browser, label_studio, ls, project_name):
    exporter = LabelStudioSpanExporter(
        url=label_studio.url,
        api_key=label_studio.pat,
        project_name=project_name,
        project_config=judge_note_config(),
    )
    deliver(exporter, [judged_chat_span(QUESTION, ANSWER)])
    exporter.shutdown()
    (task,) = tasks_of(ls, project_name)
    project_id = project_by_title(ls, project_name).id
    page = logged_in_page(browser, label_studio)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{label_studio.url}/projects/{project_id}/data?task={task.id}")
    wait_for_texts(page, [QUESTION, ANSWER])  # the model's prediction opens first
    page.wait_for_load_state("networkidle")
    # the prediction list names each by its model_version, cut in the middle ("judge:he...ulness");
    # issue 25: without its score as a percentage (it was "75.00%")
    assert "75.00%" not in page.inner_text("body")
    page.get_by_text("judge:he", exact=False).first.click()
    text = wait_for_texts(page, ["explanation: answers the question", "label: helpful", "score: 0.75"])
    assert "Judge said:" in text
    assert not errors, errors
