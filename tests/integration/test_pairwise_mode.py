"""Mode pairwise end to end (issue 17): real LangChain calls become pair tasks in the real Label Studio,
in-process (the exporter, after the pair wait) and through a real `serve` process killed between the
two halves of a pair."""

from __future__ import annotations

import json
import time

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExportResult

from otel_label_studio import LabelStudioSpanExporter
from otel_label_studio.delivery.labelstudio import LabelStudioClient
from otel_label_studio.modes.pair_layout import is_pairwise
from otel_label_studio.reading.spanview import from_readable_span
from tests.support import scenarios, sidecar
from tests.support.label_studio_reads import project_by_title, tasks_of, wait_for_tasks
from tests.support.pair_spans import ANSWER_CANDIDATE, ANSWER_SERVED, records_of, served_and_candidate
from tests.support.serve_calls import metrics

pytestmark = pytest.mark.integration

MODELS = {"served-model": ANSWER_SERVED, "candidate-model": ANSWER_CANDIDATE}


def pairwise_exporter(label_studio, project_name: str) -> LabelStudioSpanExporter:
    return LabelStudioSpanExporter(
        url=label_studio.url,
        api_key=label_studio.pat,
        project_name=project_name,
        mode="pairwise",
        pair_wait=1,
    )


def run_app(routing, exporter, app) -> None:
    """The app's pipeline (a BatchSpanProcessor with the exporter), flushed: the spans are exported,
    their pairs not yet formed (the wait is not cut short)."""
    processor = BatchSpanProcessor(exporter, schedule_delay_millis=60_000, max_export_batch_size=512)
    routing.attach(processor)
    try:
        app()
        assert processor.force_flush(30_000)
    finally:
        routing.detach(processor)


def wait_for_count(exporter: LabelStudioSpanExporter, name: str, value: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while exporter.counts[name] < value:
        assert time.monotonic() < deadline, exporter.counts
        time.sleep(0.1)


def llm_span_ids(captured) -> dict[str, str]:
    """model -> span id of the LLM calls the app made."""
    return {
        record.model: record.span_id for record in records_of(captured.get_finished_spans()) if record.model
    }


def assert_blind_pair_task(task, span_ids: dict[str, str]) -> None:
    pair = task.meta["pair"]
    by_side = {"a": pair["a"], "b": pair["b"]}
    assert {side["model"] for side in by_side.values()} == set(MODELS)
    for letter, side in by_side.items():
        assert side["span_id"] == span_ids[side["model"]]
        assert side["latency_ms"] is not None and side["latency_ms"] >= 0
        assert task.data[f"answer_{letter}"] == MODELS[side["model"]]  # the side's own answer
    assert pair["kind"] == "same_input" and task.data["pair_id"] == pair["pair_id"]
    assert [(m["role"], m["content"]) for m in task.data["prompt"]] == [
        ("system", "Answer in one line."),
        ("user", "What is the capital of France?"),
    ]
    shown = json.dumps(task.data)
    for model in MODELS:
        assert model not in shown  # the labeling view cannot tell the sides apart but by their answers
    for span_id in span_ids.values():
        assert span_id not in shown.replace(task.data["pair_id"], "")
    assert not task.predictions  # nothing pre-selects a side


def test_two_models_on_the_same_messages_in_one_request_are_one_blind_pair_task(
    routing, captured, label_studio, ls, project_name
):
    exporter = pairwise_exporter(label_studio, project_name)
    try:
        run_app(routing, exporter, served_and_candidate)
        assert exporter.counts["tasks_created"] == 0  # the partner wait is not over at the flush
        [task] = wait_for_tasks(ls, project_name, 1)
        wait_for_count(exporter, "tasks_created", 1)
        counts = exporter.counts
    finally:
        exporter.shutdown()
    assert_blind_pair_task(task, llm_span_ids(captured))
    project = project_by_title(ls, project_name)
    assert is_pairwise(project.label_config)  # the pairwise layout by default
    # What delivery asks after a crash between an import and its commit: the pair task is found by pair id.
    client = LabelStudioClient(label_studio.url, label_studio.pat, 10)
    found = client.find_tasks(project.id, [task.data["pair_id"]])
    client.close()
    assert list(found) == [(task.data["trace_id"], task.data["pair_id"])]
    assert (counts["pairs_released"], counts["pair_spans_unpaired"], counts["pair_traces_waiting"]) == (
        1,
        0,
        0,
    )
    assert len(tasks_of(ls, project_name)) == 1


def test_an_n2_call_is_one_pair_task_of_its_two_generations(
    routing, captured, label_studio, ls, project_name
):
    exporter = pairwise_exporter(label_studio, project_name)
    try:
        run_app(routing, exporter, scenarios.n2)
        [task] = wait_for_tasks(ls, project_name, 1)
    finally:
        exporter.shutdown()
    pair = task.meta["pair"]
    assert pair["kind"] == "generations" and pair["a"]["span_id"] == pair["b"]["span_id"]
    assert {pair["a"]["generation"], pair["b"]["generation"]} == {0, 1}
    assert {task.data["answer_a"], task.data["answer_b"]} == {"First answer", "Second answer"}
    assert task.data["prompt"] == [{"role": "user", "content": "Say something twice"}]
    assert exporter.counts["pairs_released"] == 1 and len(tasks_of(ls, project_name)) == 1


def test_a_lone_call_makes_no_task_and_is_counted(routing, captured, label_studio, ls, project_name):
    exporter = pairwise_exporter(label_studio, project_name)
    try:
        run_app(routing, exporter, scenarios.chat_system_human)
        wait_for_count(exporter, "pair_spans_unpaired", 1)
        counts = exporter.counts
    finally:
        exporter.shutdown()
    assert (counts["llm_spans"], counts["pairs_released"], counts["tasks_created"]) == (1, 0, 0)
    assert counts["pair_spans_unpaired"] == exporter.counts["pair_spans_unpaired"] == 1
    project = project_by_title(ls, project_name)
    assert project is None or tasks_of(ls, project_name) == []


def test_serve_killed_between_the_two_halves_of_a_pair_makes_one_pair_task_after_a_restart(
    tmp_path, captured, label_studio, ls, project_name
):
    served_and_candidate()
    span_ids = llm_span_ids(captured)
    spans = captured.get_finished_spans()
    candidate = [s for s in spans if from_readable_span(s).span_id == span_ids["candidate-model"]]
    first_half = [s for s in spans if s not in candidate]  # the served model's call and the chain
    side = sidecar.start(
        label_studio, tmp_path / "serve", project_name, args=["--mode", "pairwise", "--pair-wait", "30"]
    )
    try:
        headers = side.auth()
        otlp = HttpExporter(endpoint=side.traces_url, headers=headers)
        assert otlp.export(first_half) == SpanExportResult.SUCCESS  # acknowledged: held in the spool
        otlp.shutdown()
        side.kill()
        # Restarted with a wait that is still running for the held half when the other half comes.
        side.command[side.command.index("30")] = "8"
        side.respawn()
        otlp = HttpExporter(endpoint=side.traces_url, headers=headers)
        assert otlp.export(candidate) == SpanExportResult.SUCCESS
        otlp.shutdown()
        [task] = wait_for_tasks(ls, project_name, 1, timeout=60)
        time.sleep(2)  # a second task, if one were coming, would be imported by now
        counts = metrics(side)
    finally:
        side.terminate()
    assert_blind_pair_task(task, span_ids)
    assert len(tasks_of(ls, project_name)) == 1
    assert counts["otel_label_studio_pairs_released_total"] == 1
    assert counts["otel_label_studio_pairs_unpaired_spans_total"] == 0
    assert counts["otel_label_studio_pairs_waiting"] == 0
