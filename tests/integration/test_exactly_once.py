"""Exactly once whatever Label Studio's latency, and no task without its prediction: a real Label
Studio behind a proxy that holds, drops or spoils imports, a real `serve` process and the real
in-process exporter."""

from __future__ import annotations

import json
import random
import threading
import time
import uuid

import httpx
import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_label_studio import LabelStudioSpanExporter
from otel_label_studio.delivery.labelstudio import ErrorKind, ImportUnsettled
from otel_label_studio.delivery.projects import Projects
from otel_label_studio.delivery.worker import ORPHAN_SETTLE_SECONDS, DeliveryWorker
from otel_label_studio.modes.layouts import layout_for
from otel_label_studio.store.spool import Spool
from tests.support import sidecar
from tests.support.builders import plain
from tests.support.clock import Clock
from tests.support.fake_label_studio import FakeLabelStudio
from tests.support.label_studio_reads import tasks_of, wait_for_tasks
from tests.support.otlp_requests import PROTOBUF, llm_spans, span_ids
from tests.support.proxy import LabelStudioProxy
from tests.support.serve_calls import metrics, wait_until_drained

HELD_SECONDS = 13.0  # the first import's answer comes this late: past --timeout 5


def sdk_spans(count: int, label: str) -> list:
    """Finished GenAI chat spans from a real SDK pipeline, as an app hands them to an exporter."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "exactly-once-tests"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("exactly-once-tests")
    for n in range(count):
        question = [{"role": "user", "parts": [{"type": "text", "content": f"{label} {n}"}]}]
        answer = [{"role": "assistant", "parts": [{"type": "text", "content": f"answer {n}"}]}]
        attributes = {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.input.messages": json.dumps(question),
            "gen_ai.output.messages": json.dumps(answer),
        }
        with tracer.start_as_current_span("ChatOpenAI.chat", attributes=attributes):
            pass
    provider.shutdown()
    return list(memory.get_finished_spans())


def wait_settled(proxy: LabelStudioProxy, timeout: float = 90.0) -> None:
    """Until every import the proxy took (the held one too) has been answered by Label Studio."""
    deadline = time.monotonic() + timeout
    while not proxy.settled():
        assert time.monotonic() < deadline, "an import held by the proxy never finished"
        time.sleep(0.2)


def assert_once_each_with_prediction(ls, project_name: str, expected: set[str]) -> None:
    tasks = tasks_of(ls, project_name)
    landed = [task.data["span_id"] for task in tasks]
    duplicates = len(landed) - len(set(landed))
    assert duplicates == 0, f"{len(landed)} tasks for {len(expected)} spans: {duplicates} duplicates"
    assert set(landed) == expected
    bare = [task.id for task in tasks if not [p for p in task.predictions or [] if p.result]]
    assert not bare, f"tasks without their prediction: {bare}"


def serve_behind(proxy: LabelStudioProxy, label_studio, tmp_path, project_name: str) -> sidecar.Sidecar:
    return sidecar.start(
        label_studio, tmp_path / "data", project_name, url=proxy.url, args=["--timeout", "5"]
    )


def send(side: sidecar.Sidecar, questions: list[str]) -> set[str]:
    request = llm_spans(questions)
    response = httpx.post(
        side.traces_url, content=request.SerializeToString(), headers={**PROTOBUF, **side.auth()}
    )
    assert response.status_code == 200
    return span_ids(request)


# --- an import that outlives --timeout -------------------------------------------------------------------


@pytest.mark.integration
def test_an_import_answered_after_the_timeout_makes_no_duplicate_in_serve(
    label_studio, ls, tmp_path, project_name
):
    proxy = LabelStudioProxy(label_studio.url)
    proxy.up()
    proxy.hold = [HELD_SECONDS]
    side = serve_behind(proxy, label_studio, tmp_path, project_name)
    try:
        expected = send(side, [f"slow import {n}" for n in range(20)])
        wait_for_tasks(ls, project_name, 20, timeout=90)
        wait_settled(proxy)
        wait_until_drained(side)
        assert_once_each_with_prediction(ls, project_name, expected)
    finally:
        side.terminate()
        proxy.close()


@pytest.mark.integration
def test_an_import_answered_after_the_timeout_makes_no_duplicate_in_process(label_studio, ls, project_name):
    proxy = LabelStudioProxy(label_studio.url)
    proxy.up()
    proxy.hold = [HELD_SECONDS]
    spans = sdk_spans(20, "slow import in process")
    exporter = LabelStudioSpanExporter(
        url=proxy.url, api_key=label_studio.pat, project_name=project_name, timeout=5
    )
    try:
        exporter.export(spans)
        assert exporter.force_flush(90_000)
        wait_settled(proxy)
        assert_once_each_with_prediction(ls, project_name, {f"{span.context.span_id:016x}" for span in spans})
    finally:
        exporter.shutdown()
        proxy.close()


@pytest.mark.integration
def test_an_import_whose_answer_was_lost_is_found_before_anything_is_imported_again(
    label_studio, ls, tmp_path, project_name
):
    """A gateway answers 502 at once while Label Studio goes on to import 8 s later."""
    proxy = LabelStudioProxy(label_studio.url)
    proxy.up()
    proxy.gateway_error = 1
    proxy.hold = [8.0]
    side = serve_behind(proxy, label_studio, tmp_path, project_name)
    try:
        expected = send(side, [f"lost answer {n}" for n in range(10)])
        wait_for_tasks(ls, project_name, 10, timeout=90)
        wait_settled(proxy)
        wait_until_drained(side)
        assert_once_each_with_prediction(ls, project_name, expected)
        assert "10 records already had tasks" in side.logs()
    finally:
        side.terminate()
        proxy.close()


# --- predictions Label Studio did not keep -----------------------------------------------------------------


@pytest.mark.integration
def test_tasks_saved_without_their_predictions_get_them_again(label_studio, ls, tmp_path, project_name):
    """Label Studio answers 201 having saved the tasks and not their predictions (prediction_count 0)."""
    proxy = LabelStudioProxy(label_studio.url)
    proxy.up()
    proxy.strip_predictions = 1
    side = serve_behind(proxy, label_studio, tmp_path, project_name)
    try:
        expected = send(side, [f"stripped {n}" for n in range(6)])
        wait_for_tasks(ls, project_name, 6)
        wait_until_drained(side)
        assert_once_each_with_prediction(ls, project_name, expected)
        assert metrics(side)["otel_label_studio_delivery_repaired_predictions_total"] == 6
        assert "without their prediction (the import saved 0 of 6 predictions)" in side.logs()
    finally:
        side.terminate()
        proxy.close()


@pytest.mark.integration
def test_a_500_that_saved_the_batch_without_predictions_is_repaired_not_reimported(
    label_studio, ls, tmp_path, project_name
):
    """One malformed prediction: Label Studio answers 500 and commits every task with no prediction."""
    proxy = LabelStudioProxy(label_studio.url)
    proxy.up()
    proxy.malform = 1
    side = serve_behind(proxy, label_studio, tmp_path, project_name)
    try:
        expected = send(side, [f"malformed {n}" for n in range(5)])
        wait_for_tasks(ls, project_name, 5)
        wait_until_drained(side)
        assert_once_each_with_prediction(ls, project_name, expected)
        assert metrics(side)["otel_label_studio_delivery_repaired_predictions_total"] == 5
    finally:
        side.terminate()
        proxy.close()


# --- the rule, step by step, against a scripted stand-in -------------------------------------------------


class LateLabelStudio(FakeLabelStudio):
    """Takes the import, then no answer says how it ended; it lands when the test says so."""

    def __init__(self) -> None:
        super().__init__()
        self.held: list[dict] = []
        self.lose_answers = 0

    def import_tasks(self, project_id, tasks, timeout=None, import_timeout=None):
        if self.lose_answers:
            self.lose_answers -= 1
            self.held.extend(json.loads(task) for task in tasks)
            raise ImportUnsettled(
                ErrorKind.UNREACHABLE, "no answer to the import (ReadTimeout); it may still land"
            )
        return super().import_tasks(project_id, tasks, timeout, import_timeout)

    def land(self) -> None:
        self.tasks.extend(self.held)
        self.held = []


@pytest.fixture
def late(tmp_path):
    clock = Clock()
    spool = Spool(str(tmp_path / "spool.db"), clock=clock)
    client = LateLabelStudio()
    projects = Projects(
        client,  # type: ignore[arg-type]
        layout_for("prompt", None),
        project_id=None,
        project_name="P",
        config_given=False,
    )
    worker = DeliveryWorker(
        spool,
        client,  # type: ignore[arg-type]
        projects,
        batch_size=100,
        timeout=5,
        import_timeout=60,
        clock=clock,
        rng=random.Random(7),
    )
    yield spool, client, worker, clock
    spool.close()


def test_records_of_an_unanswered_import_are_not_imported_again_while_it_may_land(late):
    spool, client, worker, clock = late
    spool.add([plain(1), plain(2)])
    client.lose_answers = 1
    assert not worker.run_once()  # sent at t=1000, no answer: may land until t=1060
    for step in range(5):  # looked up again and again; never imported again
        clock.now = max(clock.now + 10, worker.paused_until)
        worker.run_once()
        assert client.tasks == [] and len(client.import_sizes) == 0, f"re-imported at step {step}"
    client.land()  # Label Studio finally commits it at t≈1050
    clock.now = max(clock.now + 10, worker.paused_until)
    assert worker.run_once()
    assert len(client.tasks) == 2 and worker.stats.already_present == 2 and spool.stats().depth == 0


def test_records_of_an_unanswered_import_are_imported_again_once_it_can_no_longer_land(late):
    spool, client, worker, clock = late
    spool.add([plain(1)])
    client.lose_answers = 1
    assert not worker.run_once()
    client.held = []  # it never landed (Label Studio died with it)
    clock.now = 1000 + 60  # import_timeout after it was sent
    assert worker.run_once()
    assert len(client.tasks) == 1 and client.import_sizes == [1] and spool.stats().depth == 0


def test_after_a_restart_records_left_in_flight_wait_for_the_earlier_process_import(late, tmp_path):
    spool, client, worker, clock = late
    spool.add([plain(1)])
    spool.mark_in_flight(spool.take(10))  # an earlier process sent them, then died; this one starts now
    assert not worker.run_once()
    assert client.import_sizes == [] and spool.stats().in_flight == 1
    clock.now += ORPHAN_SETTLE_SECONDS - 1  # its import may still land: looked up, not imported again
    worker.run_once()
    assert client.import_sizes == []
    clock.now += 2  # seconds after the restart, not a whole import timeout (60 s here)
    assert worker.run_once()
    assert client.import_sizes == [1]


def test_a_found_task_without_its_prediction_gets_it(late):
    spool, client, worker, clock = late
    spool.add([plain(1), plain(2)])
    client.lose_answers = 1
    assert not worker.run_once()
    for task in client.held:  # Label Studio saved the batch without predictions (a 500, a lock retry)
        task["predictions"] = []
    client.land()
    clock.now = worker.paused_until
    assert worker.run_once()
    assert all(task["predictions"] for task in client.tasks)
    assert worker.stats.predictions_repaired == 2


@pytest.mark.integration
def test_four_exporters_creating_projects_and_importing_at_once_keep_every_prediction(label_studio, ls):
    """Three exporters and one with a wrong key start at the same moment against one SQLite Label
    Studio: a lock retry inside an import re-runs it without the predictions (it popped them from
    the tasks on the first try) and still answers 201. Not deterministic: it reproduced in the
    first run on the code before the repair."""
    names = [f"otel-ls-race-{uuid.uuid4().hex[:8]}" for _ in range(3)]
    keys = [label_studio.pat, label_studio.pat, label_studio.legacy_token, "wrong-key-0123456789"]
    exporters = [
        LabelStudioSpanExporter(url=label_studio.url, api_key=key, project_name=name)
        for key, name in zip(keys, [*names, f"otel-ls-race-{uuid.uuid4().hex[:8]}"], strict=True)
    ]
    batches = [sdk_spans(3, f"race {n}") for n in range(4)]
    start = threading.Barrier(4)

    def run(exporter: LabelStudioSpanExporter, spans: list) -> None:
        start.wait()
        exporter.export(spans)

    threads = [threading.Thread(target=run, args=pair) for pair in zip(exporters, batches, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        for exporter in exporters[:3]:
            assert exporter.force_flush(120_000)
        for name, spans in zip(names, batches, strict=False):
            assert_once_each_with_prediction(ls, name, {f"{span.context.span_id:016x}" for span in spans})
    finally:
        for exporter in exporters:
            exporter.shutdown()
