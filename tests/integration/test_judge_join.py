"""Judge results that arrive on their own (log records), joined with their span's task, against the
real Label Studio: before the task exists they ride in its import, after it they are added to it."""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any, ClassVar

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import HumanMessage
from opentelemetry.sdk.trace import SpanProcessor
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from otel_label_studio import LabelStudioSpanExporter
from tests.support.judge_emit import emit, evaluation, judge_logger, wait_for_judges
from tests.support.label_studio_reads import project_by_title, tasks_of

pytestmark = pytest.mark.integration


class Started(SpanProcessor):
    """Keeps the spans that started, so the app can name the LLM call it is in."""

    def __init__(self) -> None:
        self.spans: list[Any] = []

    def on_start(self, span, parent_context=None):  # type: ignore[no-untyped-def]
        self.spans.append(span)


class JudgedChat(FakeListChatModel):
    """A fake chat model whose call runs ``during`` while its LLM span is open."""

    during: ClassVar[Any] = None

    def _generate(self, *args: Any, **kwargs: Any) -> Any:
        if JudgedChat.during is not None:
            JudgedChat.during()
        return super()._generate(*args, **kwargs)


def logs_exporter() -> Any:
    """The ``label_studio`` logs exporter as OTEL_LOGS_EXPORTER=label_studio loads it."""
    (point,) = entry_points(group="opentelemetry_logs_exporter", name="label_studio")
    return point.load()()


def test_in_process_results_before_and_after_the_task_become_its_judge_predictions(
    routing, label_studio, ls, project_name
):
    exporter = LabelStudioSpanExporter(
        url=label_studio.url, api_key=label_studio.pat, project_name=project_name
    )
    provider, logger = judge_logger(logs_exporter())
    started = Started()
    spans = BatchSpanProcessor(exporter, schedule_delay_millis=60_000)
    routing.attach(started)
    routing.attach(spans)
    early = evaluation("helpfulness", 0.75, label="helpful", explanation="answers the question")
    JudgedChat.during = lambda: emit(logger, early, span=started.spans[-1])  # before the span ends
    try:
        JudgedChat(responses=["4"]).invoke([HumanMessage(content="What is 2+2? (joined)")])
        assert spans.force_flush(30_000) and exporter.force_flush(30_000)
    finally:
        JudgedChat.during = None
        routing.detach(started)
        routing.detach(spans)
    (task,) = tasks_of(ls, project_name)
    llm = started.spans[-1].get_span_context()
    assert task.data["span_id"] == format(llm.span_id, "016x")
    emit(logger, evaluation("correctness", 0.25), span=started.spans[-1])  # after the task exists
    judges = wait_for_judges(ls, task.id, {"judge:helpfulness", "judge:correctness"})
    assert (judges["judge:helpfulness"].score, judges["judge:helpfulness"].rating) == (0.75, 4.0)
    assert (judges["judge:correctness"].score, judges["judge:correctness"].rating) == (0.25, 2.0)
    predictions = ls.tasks.get(str(task.id)).predictions
    assert len(predictions) == 3
    # the result that came first rode in the import, before the model's prediction, which stays the
    # project's model_version: the label stream pre-fills the response, not a judge's stars
    model_version = predictions[1].model_version
    assert [p.model_version for p in predictions] == ["judge:helpfulness", model_version, "judge:correctness"]
    assert project_by_title(ls, project_name).model_version == model_version
    counts = exporter.counts
    spans.shutdown()  # shuts the exporter down
    provider.shutdown()
    assert (counts["judge_results"], counts["judge_added"], counts["judge_waiting"]) == (2, 2, 0)
