"""Judge results that arrive on their own (log records), joined with their span's task, against the
real Label Studio: before the task exists they ride in its import, after it they are added to it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any, ClassVar

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import HumanMessage
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.sdk.trace import SpanProcessor
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExportResult

from otel_label_studio import LabelStudioSpanExporter
from tests.support import sidecar
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
from tests.support.pipelines import deliver
from tests.support.serve_calls import metrics

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


def test_in_process_results_before_and_after_the_task_become_its_judge_predictions(
    routing, label_studio, ls, project_name
):
    exporter = LabelStudioSpanExporter(
        url=label_studio.url, api_key=label_studio.pat, project_name=project_name
    )
    provider, logger = judge_logger(logs_exporter(exporter))
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
    late = evaluation("correctness", 0.25, label="wrong", explanation="2+2 is not 4 here")
    emit(logger, late, span=started.spans[-1])  # after the task exists
    judges = wait_for_judges(ls, task.id, {"judge:helpfulness", "judge:correctness"})
    assert (judges["judge:helpfulness"].score, judges["judge:helpfulness"].rating) == (0.75, 4.0)
    assert (judges["judge:correctness"].score, judges["judge:correctness"].rating) == (0.25, 2.0)
    # the default layout's judge area shows what each judge said, in the import or added later
    said = {name: (judge.label, judge.explanation) for name, judge in judges.items()}
    assert said == {
        "judge:helpfulness": ("helpful", "answers the question"),
        "judge:correctness": ("wrong", "2+2 is not 4 here"),
    }
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


def test_export_judge_gives_the_label_and_explanation_of_a_result_sent_after_the_import(
    label_studio, ls, project_name, tmp_path
):
    exporter = LabelStudioSpanExporter(
        url=label_studio.url, api_key=label_studio.pat, project_name=project_name
    )
    provider, logger = judge_logger(logs_exporter(exporter))
    span = judged_chat_span("Capital of France? (exported)", "Lyon.", evaluations=[])
    deliver(exporter, [span])
    (task,) = tasks_of(ls, project_name)
    said = evaluation("correctness", 0.25, label="wrong", explanation="Lyon is not the capital")
    emit(logger, said, **ids(span))  # a log record, after the import: nothing of it in the task's meta
    wait_for_judges(ls, task.id, {"judge:correctness"})
    exporter.shutdown()
    provider.shutdown()
    stars = {"from_name": "rating", "to_name": "prompt", "type": "rating", "value": {"rating": 1}}
    ls.annotations.create(id=task.id, result=[stars])
    out = tmp_path / "judge.jsonl"
    env = {**os.environ, "LABEL_STUDIO_API_KEY": label_studio.legacy_token}
    env["LABEL_STUDIO_URL"] = label_studio.url
    project_id = str(project_by_title(ls, project_name).id)
    command = ["export", "--project-id", project_id, "--format", "judge", "--output", str(out)]
    answer = subprocess.run(
        [str(Path(sys.executable).parent / "otel-label-studio"), *command, "--no-progress"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert answer.returncode == 0, answer.stderr
    (line,) = map(json.loads, out.read_text().splitlines())
    assert line["judge"] == {
        "name": "correctness",
        "score": 0.25,
        "rating": 2.0,
        "label": "wrong",
        "explanation": "Lyon is not the capital",
    }
    assert line["human"] == {"rating": 1, "correction": None}


def send_span(side: sidecar.Sidecar, span: Any) -> None:
    otlp = HttpExporter(endpoint=side.traces_url, headers=side.auth())
    assert otlp.export([span]) == SpanExportResult.SUCCESS
    otlp.shutdown()


def ids(span: Any) -> dict[str, str]:
    context = span.get_span_context()
    return {"trace_id": format(context.trace_id, "032x"), "span_id": format(context.span_id, "016x")}


def wait_for_metric(side: sidecar.Sidecar, name: str, value: float, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    values: dict = {}
    while time.monotonic() < deadline:
        values = metrics(side)
        if values.get(name) == value:
            return values
        time.sleep(0.3)
    raise AssertionError(f"{name} = {values.get(name)}, expected {value}")


def test_serve_joins_results_sent_before_and_after_the_span_and_drops_unknown_ones_after_judge_wait(
    label_studio, ls, project_name, tmp_path
):
    side = sidecar.start(label_studio, tmp_path / "data", project_name, args=["--judge-wait", "3"])
    try:
        span = judged_chat_span(f"What is 2+2? {uuid.uuid4().hex[:6]}", "4", evaluations=[])
        early, early_logger = otlp_logger(side, "http")
        emit(early_logger, evaluation("helpfulness", 0.75, label="helpful"), **ids(span))
        early.shutdown()
        send_span(side, span)
        (task,) = wait_for_tasks(ls, project_name, 1)
        late, late_logger = otlp_logger(side, "grpc")
        emit(late_logger, evaluation("correctness", 0.25), **ids(span))
        unknown = {"trace_id": "ab" * 16, "span_id": "cd" * 8}  # no such span
        emit(late_logger, evaluation("helpfulness", 1.0), **unknown)
        late.shutdown()
        judges = wait_for_judges(ls, task.id, {"judge:helpfulness", "judge:correctness"})
        values = wait_for_metric(side, 'otel_label_studio_judge_results_total{outcome="expired"}', 1.0)
    finally:
        assert side.terminate() == 0
    assert (judges["judge:helpfulness"].score, judges["judge:helpfulness"].rating) == (0.75, 4.0)
    assert (judges["judge:correctness"].score, judges["judge:correctness"].rating) == (0.25, 2.0)
    versions = [p.model_version for p in ls.tasks.get(str(task.id)).predictions]
    assert versions == ["judge:helpfulness", "gpt-4o-mini", "judge:correctness"]
    assert project_by_title(ls, project_name).model_version == "gpt-4o-mini"
    assert values['otel_label_studio_judge_results_total{outcome="received"}'] == 3.0
    assert values['otel_label_studio_judge_results_total{outcome="added"}'] == 2.0
    assert values["otel_label_studio_judge_waiting"] == 0.0
    assert "1 judge results dropped: no task for their span within judge_wait (3 s)" in side.logs()


def test_a_result_serve_accepted_before_a_kill_9_reaches_the_span_s_task_after_a_restart(
    label_studio, ls, project_name, tmp_path
):
    side = sidecar.start(label_studio, tmp_path / "data", project_name)
    span = judged_chat_span(f"What is 3+3? {uuid.uuid4().hex[:6]}", "6", evaluations=[])
    try:
        provider, logger = otlp_logger(side, "http")
        emit(logger, evaluation("helpfulness", 0.5), **ids(span))
        provider.shutdown()  # answered 200: the result is in the spool's file
        side.kill()
        side.respawn()
        send_span(side, span)
        (task,) = wait_for_tasks(ls, project_name, 1)
        judges = wait_for_judges(ls, task.id, {"judge:helpfulness"})
    finally:
        assert side.terminate() == 0
    assert (judges["judge:helpfulness"].score, judges["judge:helpfulness"].rating) == (0.5, 3.0)
    assert len(ls.tasks.get(str(task.id)).predictions) == 2


APP = """
from opentelemetry import _logs, trace
from opentelemetry.instrumentation.langchain import LangchainInstrumentor
from opentelemetry.sdk.trace import SpanProcessor

LangchainInstrumentor().instrument()
started = []


class Keep(SpanProcessor):
    def on_start(self, span, parent_context=None):
        started.append(span)


trace.get_tracer_provider().add_span_processor(Keep())
from langchain_core.language_models.fake import FakeListLLM

print(FakeListLLM(responses=["judged answer"]).invoke("Judge me"))
_logs.get_logger_provider().get_logger("judge").emit(
    event_name="gen_ai.evaluation.result",
    attributes={"gen_ai.evaluation.name": "helpfulness", "gen_ai.evaluation.score.value": 0.75},
    context=trace.set_span_in_context(started[-1]),
)
"""


def test_otel_logs_exporter_label_studio_beside_the_traces_exporter_under_opentelemetry_instrument(
    label_studio, ls, project_name, tmp_path
):
    app = tmp_path / "app.py"
    app.write_text(APP)
    instrument = os.path.join(os.path.dirname(sys.executable), "opentelemetry-instrument")
    env = {
        **os.environ,
        "OTEL_TRACES_EXPORTER": "label_studio",
        "OTEL_LOGS_EXPORTER": "label_studio",
        "OTEL_METRICS_EXPORTER": "none",
        # the app instruments LangChain itself; OpenInference's instrumentor (installed for the
        # double-instrumentation tests) stays off, so the judged span is the one that becomes the task
        "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "langchain",
        "LABEL_STUDIO_URL": label_studio.url,
        "LABEL_STUDIO_API_KEY": label_studio.pat,
        "OTEL_LABEL_STUDIO_PROJECT_NAME": project_name,
    }
    done = subprocess.run(
        [instrument, sys.executable, str(app)], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "no Label Studio span exporter" not in done.stderr
    (task,) = tasks_of(ls, project_name)
    judges = wait_for_judges(ls, task.id, {"judge:helpfulness"}, timeout=5.0)
    assert judges["judge:helpfulness"].score == 0.75
