"""Nothing lost, nothing duplicated: real processes, a real Label Studio, and things going wrong."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import grpc
import httpx
import pytest
from google.rpc import code_pb2, status_pb2
from google.rpc.error_details_pb2 import RetryInfo
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from tests.support import sidecar
from tests.support.label_studio_reads import assert_exactly_once, tasks_of, wait_for_tasks
from tests.support.otlp_requests import PROTOBUF, llm_spans, span_ids
from tests.support.prerequisites import REPO_ROOT
from tests.support.proxy import LabelStudioProxy
from tests.support.serve_calls import grpc_export, metrics, wait_until_drained

pytestmark = pytest.mark.integration

CRASHING = [sys.executable, str(REPO_ROOT / "tests" / "support" / "crash_after_import.py")]


# --- a poisoned task -----------------------------------------------------------------------------------


def test_a_poisoned_task_is_dead_lettered_and_its_batch_mates_land(label_studio, ls, tmp_path, project_name):
    proxy = LabelStudioProxy(label_studio.url, poison="POISON")
    proxy.up()
    side = sidecar.start(label_studio, tmp_path / "data", project_name, url=proxy.url)
    try:
        questions = [f"question {n}" for n in range(10)]
        questions[6] = "a POISON pill"
        request = llm_spans(questions)
        body = request.SerializeToString()
        assert (
            httpx.post(side.traces_url, content=body, headers={**PROTOBUF, **side.auth()}).status_code == 200
        )
        wait_for_tasks(ls, project_name, 9)
        values = wait_until_drained(side)
        assert values["otel_label_studio_spool_dead_letters"] == 1
        assert values["otel_label_studio_delivery_tasks_created_total"] == 9
        poisoned = next(s.span_id.hex() for s in request.resource_spans[0].scope_spans[0].spans[6:7])
        assert_exactly_once(ls, project_name, span_ids(request) - {poisoned})
        letters = subprocess.run(
            [str(sidecar.SCRIPT), "spool", "dead-letters", "--data-dir", str(side.data_dir), "--json"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        (letter,) = [json.loads(line) for line in letters.stdout.splitlines()]
        assert letter["span_id"] == poisoned
        assert "HTTP 400" in letter["reason"] and "poisoned task" in letter["reason"]
    finally:
        side.terminate()
        proxy.close()


# --- the spool is full ------------------------------------------------------------------------------------


def test_a_full_spool_answers_503_with_retry_after_then_recovers(label_studio, ls, tmp_path, project_name):
    proxy = LabelStudioProxy(label_studio.url)  # down: nothing listens yet
    side = sidecar.start(
        label_studio, tmp_path / "data", project_name, url=proxy.url, args=["--spool-max-rows", "5"]
    )
    try:
        headers = {**PROTOBUF, **side.auth()}
        first = llm_spans([f"early {n}" for n in range(5)])
        assert (
            httpx.post(side.traces_url, content=first.SerializeToString(), headers=headers).status_code == 200
        )
        late = llm_spans(["late"])
        refused = httpx.post(side.traces_url, content=late.SerializeToString(), headers=headers)
        assert refused.status_code == 503
        assert int(refused.headers["retry-after"]) >= 1
        assert status_pb2.Status.FromString(refused.content).code == code_pb2.UNAVAILABLE
        with pytest.raises(grpc.RpcError) as error:
            grpc_export(side, late.SerializeToString(), tuple(side.auth().items()))
        assert error.value.code() == grpc.StatusCode.UNAVAILABLE
        trailers = dict(error.value.trailing_metadata())
        assert RetryInfo.FromString(trailers["google.rpc.retryinfo-bin"]).retry_delay.seconds >= 1
        proxy.up()  # Label Studio is back: the spool drains and requests are taken again
        wait_until_drained(side, timeout=90)
        assert (
            httpx.post(side.traces_url, content=late.SerializeToString(), headers=headers).status_code == 200
        )
        wait_for_tasks(ls, project_name, 6)
        wait_until_drained(side)
        assert_exactly_once(ls, project_name, span_ids(first) | span_ids(late))
    finally:
        side.terminate()
        proxy.close()


# --- a crash between an import and its commit --------------------------------------------------------------


def test_a_crash_after_an_import_and_before_its_commit_makes_no_duplicate(
    label_studio, ls, tmp_path, project_name
):
    side = sidecar.start(label_studio, tmp_path / "data", project_name, command=CRASHING)
    request = llm_spans(["before the crash 1", "before the crash 2", "before the crash 3"])
    body = request.SerializeToString()
    assert httpx.post(side.traces_url, content=body, headers={**PROTOBUF, **side.auth()}).status_code == 200
    assert side.process.wait(timeout=60) == 86  # died right after Label Studio took the import
    assert len(tasks_of(ls, project_name)) == 3
    stats = subprocess.run(
        [str(sidecar.SCRIPT), "spool", "stats", "--data-dir", str(side.data_dir), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert json.loads(stats.stdout)["in_flight"] == 3  # the spool never heard they landed
    side.respawn(command=[str(sidecar.SCRIPT)])
    try:
        more = llm_spans(["after the restart"])
        response = httpx.post(
            side.traces_url, content=more.SerializeToString(), headers={**PROTOBUF, **side.auth()}
        )
        assert response.status_code == 200
        wait_for_tasks(ls, project_name, 4)
        wait_until_drained(side)
        assert_exactly_once(ls, project_name, span_ids(request) | span_ids(more))
        assert "3 records already had tasks" in side.logs()
    finally:
        side.terminate()


# --- the sidecar killed while a retrying client streams --------------------------------------------------


def test_sigkill_three_times_while_a_retrying_client_streams(label_studio, ls, tmp_path, project_name):
    side = sidecar.start(label_studio, tmp_path / "data", project_name)
    requests = [llm_spans([f"request {r} span {n}" for n in range(5)]) for r in range(40)]
    expected = set().union(*(span_ids(request) for request in requests))
    headers = {**PROTOBUF, **side.auth()}
    sent = threading.Event()
    acknowledged = [0]

    def send_until_acknowledged(body: bytes) -> None:
        while True:
            try:
                if httpx.post(side.traces_url, content=body, headers=headers, timeout=10).status_code == 200:
                    acknowledged[0] += 1
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)

    def client() -> None:
        for request in requests:
            body = request.SerializeToString()
            send_until_acknowledged(body)
            send_until_acknowledged(body)  # every request twice, as a sender that lost the answer does
            time.sleep(0.02)
        sent.set()

    thread = threading.Thread(target=client, daemon=True)
    thread.start()
    try:
        for round_ in range(3):
            target = (round_ + 1) * 20
            deadline = time.monotonic() + 60
            while acknowledged[0] < target and time.monotonic() < deadline:
                time.sleep(0.01)
            side.kill()
            time.sleep(0.3)
            side.respawn()
        assert sent.wait(120), "the client did not get every request acknowledged"
        wait_for_tasks(ls, project_name, len(expected), timeout=120)
        wait_until_drained(side)
        assert_exactly_once(ls, project_name, expected)
        assert acknowledged[0] == 2 * len(requests)
    finally:
        side.terminate()


# --- Label Studio stopped while spans stream in -------------------------------------------------------------


def test_label_studio_down_for_30_seconds_while_1000_spans_stream_in(
    label_studio, ls, tmp_path, project_name
):
    if label_studio.process is None:
        pytest.skip("needs a Label Studio this session started (it is stopped and started again)")
    side = sidecar.start(label_studio, tmp_path / "data", project_name, api_key=label_studio.legacy_token)
    provider = TracerProvider(resource=Resource.create({"service.name": "streaming-app"}))
    processor = BatchSpanProcessor(
        HttpExporter(endpoint=side.traces_url, headers=side.auth()), max_export_batch_size=100
    )
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("fault-tests")
    label_studio.stop()
    stopped = time.monotonic()
    try:
        for n in range(1000):
            with tracer.start_as_current_span("ChatFake.chat") as span:
                span.set_attribute("gen_ai.operation.name", "chat")
                span.set_attribute(
                    "gen_ai.input.messages",
                    json.dumps([{"role": "user", "parts": [{"type": "text", "content": f"q{n}"}]}]),
                )
                span.set_attribute(
                    "gen_ai.output.messages",
                    json.dumps([{"role": "assistant", "parts": [{"type": "text", "content": f"a{n}"}]}]),
                )
            time.sleep(0.005)
        assert processor.force_flush(60_000)
        assert metrics(side)["otel_label_studio_receiver_spooled_records_total"] == 1000
        time.sleep(max(0.0, 30 - (time.monotonic() - stopped)))
    finally:
        label_studio.restart()
        provider.shutdown()
    try:
        tasks = wait_for_tasks(ls, project_name, 1000, timeout=240)
        wait_until_drained(side)
        tasks = tasks_of(ls, project_name)
        assert len(tasks) == 1000
        assert len({task.data["span_id"] for task in tasks}) == 1000
        assert sorted(int(task.data["prompt"].removeprefix("user: q")) for task in tasks) == list(range(1000))
    finally:
        side.terminate()
