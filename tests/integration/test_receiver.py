"""The serve process for real: real OTLP senders in, a real Label Studio out."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import time
import uuid
import zlib
from pathlib import Path

import grpc
import httpx
import pytest
from google.rpc import code_pb2, status_pb2
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceResponse,
)

from otel_label_studio import LabelStudioSpanExporter
from tests.support import rotel_agent, scenarios, sidecar
from tests.support.label_studio_reads import tasks_of, wait_for_tasks
from tests.support.otlp_requests import PROTOBUF, llm_json, llm_request, spec_example
from tests.support.pipelines import pipeline
from tests.support.prerequisites import REPO_ROOT
from tests.support.serve_calls import grpc_export, metrics, wait_until_drained

pytestmark = pytest.mark.integration

JSON_TYPE = {"Content-Type": "application/json"}
SCENARIO_NAMES = ("completion", "chat_system_human", "multi_turn", "tool_call", "n2")


@pytest.fixture(scope="module")
def side(label_studio, tmp_path_factory):
    """One sidecar for the module: default project of its own, bearer token required."""
    process = sidecar.start(
        label_studio, tmp_path_factory.mktemp("sidecar") / "data", f"otel-ls-side-{uuid.uuid4().hex[:8]}"
    )
    yield process
    process.terminate()


@pytest.fixture(scope="module")
def small(label_studio, tmp_path_factory):
    """A sidecar with a 1 MiB body cap, for the size limits."""
    process = sidecar.start(
        label_studio,
        tmp_path_factory.mktemp("small") / "data",
        f"otel-ls-small-{uuid.uuid4().hex[:8]}",
        args=["--max-body-bytes", "1MiB"],
    )
    yield process
    process.terminate()


def by_span(tasks) -> dict[str, tuple[dict, dict]]:
    return {task.data["span_id"]: (task.data, task.meta) for task in tasks}


# --- the same tasks as the in-process exporter ---------------------------------------------------


@pytest.mark.parametrize("transport", ["http", "http-gzip", "grpc"])
def test_sidecar_tasks_equal_in_process_tasks(routing, label_studio, ls, side, project_name, transport):
    direct, via = f"{project_name}-direct", f"{project_name}-via-{transport}"
    in_process = LabelStudioSpanExporter(url=label_studio.url, api_key=label_studio.pat, project_name=direct)
    headers = {**side.auth(), "x-label-studio-project": via}
    if transport == "grpc":
        otlp = GrpcExporter(endpoint=side.grpc_target, insecure=True, headers=headers)
    else:
        compression = Compression.Gzip if transport == "http-gzip" else Compression.NoCompression
        otlp = HttpExporter(endpoint=side.traces_url, headers=headers, compression=compression)
    with pipeline(routing, in_process), pipeline(routing, otlp):
        for name in SCENARIO_NAMES:
            scenarios.SCENARIOS[name]()
    expected = by_span(tasks_of(ls, direct))
    assert len(expected) == len(SCENARIO_NAMES)
    received = by_span(wait_for_tasks(ls, via, len(expected)))
    assert received == expected  # field by field: data and meta of every task


# --- OTLP/JSON -------------------------------------------------------------------------------------


def test_the_spec_example_is_accepted_and_makes_no_task(side):
    before = metrics(side)
    response = httpx.post(
        side.traces_url, content=json.dumps(spec_example()), headers={**JSON_TYPE, **side.auth()}
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {}  # not rejected: a server span is simply not an LLM span
    after = metrics(side)
    assert (
        after["otel_label_studio_receiver_spans_total"]
        == before["otel_label_studio_receiver_spans_total"] + 1
    )
    assert (
        after["otel_label_studio_receiver_llm_spans_total"]
        == before["otel_label_studio_receiver_llm_spans_total"]
    )
    assert (
        after["otel_label_studio_receiver_spooled_records_total"]
        == before["otel_label_studio_receiver_spooled_records_total"]
    )


def test_an_llm_span_in_json_with_upper_case_ids_becomes_a_task(ls, side, project_name):
    trace_id, span_id = uuid.uuid4().hex.upper(), "ABCDEF0123456789"
    document = llm_json(project_name, trace_id=trace_id, span_id=span_id, question="Ça va?", answer="Oui 😀")
    response = httpx.post(side.traces_url, content=json.dumps(document), headers={**JSON_TYPE, **side.auth()})
    assert response.status_code == 200, response.text
    (task,) = wait_for_tasks(ls, project_name, 1)
    assert task.data["trace_id"] == trace_id.lower()
    assert task.data["span_id"] == span_id.lower()
    assert task.data["prompt"] == "user: Ça va?"  # a chat call: roles shown
    assert task.data["service_name"] == "json-sender"
    assert task.predictions[0].result[0]["value"] == {"text": ["Oui 😀"]}


# --- routing ------------------------------------------------------------------------------------------


def test_resource_attribute_wins_over_header_and_header_over_default(ls, side, project_name):
    by_resource, by_header = f"{project_name}-res", f"{project_name}-hdr"
    headers = {**PROTOBUF, **side.auth(), "x-label-studio-project": by_header}
    for request in (
        llm_request(by_resource, question="routed by resource"),
        llm_request(question="by header"),
    ):
        response = httpx.post(side.traces_url, content=request.SerializeToString(), headers=headers)
        assert response.status_code == 200
    (resource_task,) = wait_for_tasks(ls, by_resource, 1)
    (header_task,) = wait_for_tasks(ls, by_header, 1)
    assert resource_task.data["prompt"] == "user: routed by resource"
    assert header_task.data["prompt"] == "user: by header"


def test_an_over_long_project_header_is_a_400(side):
    headers = {**PROTOBUF, **side.auth(), "x-label-studio-project": "x" * 51}
    response = httpx.post(side.traces_url, content=llm_request().SerializeToString(), headers=headers)
    assert response.status_code == 400
    assert "50-character" in status_pb2.Status.FromString(response.content).message


# --- exactly one task per span -------------------------------------------------------------------------


def test_the_same_request_twice_gives_one_task(ls, side, project_name):
    body = llm_request(project_name).SerializeToString()
    headers = {**PROTOBUF, **side.auth()}
    before = metrics(side)
    for _ in range(2):  # a sender retry, while the first copy may still be in the spool
        assert httpx.post(side.traces_url, content=body, headers=headers).status_code == 200
    wait_for_tasks(ls, project_name, 1)
    wait_until_drained(side)
    assert httpx.post(side.traces_url, content=body, headers=headers).status_code == 200  # after delivery
    after = wait_until_drained(side)
    assert len(tasks_of(ls, project_name)) == 1
    spooled = (
        after["otel_label_studio_receiver_spooled_records_total"]
        - before["otel_label_studio_receiver_spooled_records_total"]
    )
    duplicates = (
        after["otel_label_studio_receiver_duplicate_spans_total"]
        - before["otel_label_studio_receiver_duplicate_spans_total"]
    )
    assert (spooled, duplicates) == (1, 2)


# --- the error matrix ---------------------------------------------------------------------------------------


def status_of(response: httpx.Response) -> status_pb2.Status:
    if response.headers["content-type"] == "application/json":
        document = response.json()
        return status_pb2.Status(code=document["code"], message=document["message"])
    assert response.headers["content-type"] == "application/x-protobuf"
    return status_pb2.Status.FromString(response.content)


def test_empty_requests_are_200_in_their_own_content_type(side):
    response = httpx.post(side.traces_url, content=b"", headers={**PROTOBUF, **side.auth()})
    assert (response.status_code, response.content) == (200, b"")
    assert response.headers["content-type"] == "application/x-protobuf"
    response = httpx.post(side.traces_url, content=b"{}", headers={**JSON_TYPE, **side.auth()})
    assert (response.status_code, response.json()) == (200, {})


def test_llm_spans_without_content_are_reported_in_partial_success(side, project_name):
    headers = {**PROTOBUF, **side.auth()}
    request = llm_json(project_name)
    request["resourceSpans"][0]["scopeSpans"][0]["spans"].append(
        llm_json(project_name, content=False)["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    )
    from otel_label_studio.receiver.otlp import JSON, parse_request

    body = parse_request(json.dumps(request).encode(), JSON).SerializeToString()
    response = httpx.post(side.traces_url, content=body, headers=headers)
    assert response.status_code == 200
    partial = ExportTraceServiceResponse.FromString(response.content).partial_success
    assert partial.rejected_spans == 1
    assert "no prompt or response" in partial.error_message
    json_response = httpx.post(
        side.traces_url, content=json.dumps(llm_json(content=False)), headers={**JSON_TYPE, **side.auth()}
    )
    assert int(json_response.json()["partialSuccess"]["rejectedSpans"]) == 1


@pytest.mark.parametrize(
    "method, path, status",
    [
        ("GET", "/v1/traces", 405),
        ("PUT", "/v1/traces", 405),
        ("DELETE", "/v1/traces", 405),
        ("GET", "/v1/logs", 405),
        ("POST", "/v1/metrics", 404),  # logs are taken (judge results), metrics are not
    ],
)
def test_wrong_method_or_path(side, method, path, status):
    response = httpx.request(method, side.http_url + path, headers={**PROTOBUF, **side.auth()})
    assert response.status_code == status
    if status == 405:
        assert response.headers["allow"] == "POST"
    assert status_of(response).message


@pytest.mark.parametrize("authorization", [None, "Bearer wrong-token", "Basic c2lkZWNhcg==", "Bearer"])
def test_missing_or_wrong_token_is_401(side, authorization):
    headers = dict(PROTOBUF)
    if authorization:
        headers["authorization"] = authorization
    response = httpx.post(side.traces_url, content=llm_request().SerializeToString(), headers=headers)
    assert response.status_code == 401
    assert status_of(response).code == code_pb2.UNAUTHENTICATED
    assert side.token not in response.text


@pytest.mark.parametrize("content_type", ["text/plain", "application/protobuf", "multipart/form-data"])
def test_wrong_content_type_is_415(side, content_type):
    response = httpx.post(
        side.traces_url, content=b"x", headers={"Content-Type": content_type, **side.auth()}
    )
    assert response.status_code == 415


@pytest.mark.parametrize(
    "headers, body",
    [
        (PROTOBUF, b"\x0a\xff\xff\xff\xff\x0f"),
        (JSON_TYPE, b"{not json"),
        (JSON_TYPE, json.dumps(spec_example(trace_id="not-hex")).encode()),
        ({**PROTOBUF, "Content-Encoding": "br"}, b"x"),
        ({**PROTOBUF, "Content-Encoding": "gzip"}, b"not gzip at all"),
        ({**PROTOBUF, "Content-Encoding": "gzip"}, gzip.compress(b"\x0a" * 100)[:-8]),
        ({**PROTOBUF, "Content-Encoding": "deflate"}, b"\x00\x01\x02"),
    ],
)
def test_malformed_requests_are_400_with_a_status_body(side, headers, body):
    response = httpx.post(side.traces_url, content=body, headers={**headers, **side.auth()})
    assert response.status_code == 400
    assert status_of(response).code == code_pb2.INVALID_ARGUMENT
    assert response.headers["content-type"] == headers["Content-Type"]


@pytest.mark.parametrize("field, size", [("trace_id", 16), ("span_id", 8)])
def test_all_zero_ids_are_refused_over_http_and_grpc_naming_the_field(side, field, size):
    """OTLP calls an all-zero trace or span id invalid, as the logs path already treats it: a 400 /
    INVALID_ARGUMENT naming the field and the span, never a task (and never a second, different
    span dropped as a "duplicate" of the first)."""
    request = llm_request(question="zero ids")
    spans = request.resource_spans[0].scope_spans[0].spans
    spans.add().CopyFrom(spans[0])
    spans[1].span_id = bytes.fromhex("1234567890abcdef")
    setattr(spans[1], field, bytes(size))
    where = "resource_spans[0].scope_spans[0].spans[1] (span 'ChatFake.chat')"
    said = f"{where} has an all-zero {field}, which OTLP defines as invalid"
    before = metrics(side)["otel_label_studio_receiver_requests_total"]
    response = httpx.post(
        side.traces_url, content=request.SerializeToString(), headers={**PROTOBUF, **side.auth()}
    )
    assert response.status_code == 400
    assert status_of(response) == status_pb2.Status(code=code_pb2.INVALID_ARGUMENT, message=said)
    document = llm_json(question="zero ids", **{field: "0" * (2 * size)})
    response = httpx.post(side.traces_url, json=document, headers=side.auth())
    assert response.status_code == 400
    assert f"has an all-zero {field}" in status_of(response).message
    with pytest.raises(grpc.RpcError) as error:
        grpc_export(side, request.SerializeToString(), tuple(side.auth().items()))
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.value.details() == said
    assert metrics(side)["otel_label_studio_receiver_requests_total"] == before  # none was taken


def test_deflate_and_chunked_bodies_are_accepted(ls, side, project_name):
    body = llm_request(project_name, question="deflated").SerializeToString()
    headers = {**PROTOBUF, **side.auth(), "Content-Encoding": "deflate"}
    assert httpx.post(side.traces_url, content=zlib.compress(body), headers=headers).status_code == 200
    chunked = llm_request(project_name, question="chunked").SerializeToString()

    def pieces():
        yield chunked[:10]
        yield chunked[10:]

    response = httpx.post(side.traces_url, content=pieces(), headers={**PROTOBUF, **side.auth()})
    assert response.status_code == 200
    prompts = sorted(task.data["prompt"] for task in wait_for_tasks(ls, project_name, 2))
    assert prompts == ["user: chunked", "user: deflated"]


def test_over_the_cap_is_413(small):
    body = b"\x0a" * (1024 * 1024 + 1)
    response = httpx.post(small.traces_url, content=body, headers={**PROTOBUF, **small.auth()})
    assert response.status_code == 413
    assert status_of(response).code == code_pb2.RESOURCE_EXHAUSTED


def peak_rss_kib(pid: int) -> int:
    """The process's high-water mark of resident memory (a freed peak still shows)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def test_a_gzip_bomb_is_413_and_memory_stays_bounded(small):
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = b"\0" * (1 << 20)
    bomb = b"".join(compressor.compress(zeros) for _ in range(512)) + compressor.flush()  # 512 MiB inflated
    assert len(bomb) < 1024 * 1024  # under the cap as sent: only inflating shows the size
    before = peak_rss_kib(small.process.pid)
    headers = {**PROTOBUF, **small.auth(), "Content-Encoding": "gzip"}
    for _ in range(3):
        response = httpx.post(small.traces_url, content=bomb, headers=headers, timeout=60)
        assert response.status_code == 413
    grown_mib = (peak_rss_kib(small.process.pid) - before) / 1024
    assert grown_mib < 64, f"serve grew by {grown_mib:.0f} MiB inflating a 512 MiB bomb with a 1 MiB cap"
    assert httpx.get(f"{small.http_url}/healthz").status_code == 200


# --- gRPC statuses -----------------------------------------------------------------------------------------


def test_grpc_statuses(side, small):
    body = llm_request().SerializeToString()
    with pytest.raises(grpc.RpcError) as error:
        grpc_export(side, body)
    assert error.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.RpcError) as error:
        grpc_export(side, body, (("authorization", "Bearer nope"),))
    assert error.value.code() == grpc.StatusCode.UNAUTHENTICATED
    auth = tuple(side.auth().items())
    with pytest.raises(grpc.RpcError) as error:
        grpc_export(side, b"\x0a\xff\xff\xff\xff\x0f", auth)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert isinstance(grpc_export(side, b"", auth), ExportTraceServiceResponse)  # empty request: OK
    with pytest.raises(grpc.RpcError) as error:
        grpc_export(small, b"\x0a" * (2 * 1024 * 1024), tuple(small.auth().items()))
    assert error.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_grpc_accepts_64_mib_by_default(side):
    """gRPC's own default (4 MiB) would refuse this 6 MiB request."""
    request = llm_request(question="x" * (6 * 1024 * 1024))
    response = grpc_export(side, request.SerializeToString(), tuple(side.auth().items()))
    assert isinstance(response, ExportTraceServiceResponse)


# --- operations -----------------------------------------------------------------------------------


def test_health_readiness_and_metrics(ls, side, project_name):
    assert httpx.get(f"{side.http_url}/healthz").status_code == 200
    ready = httpx.get(f"{side.http_url}/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.text.startswith("ready: Label Studio at")
    body = llm_request(project_name).SerializeToString()
    assert httpx.post(side.traces_url, content=body, headers={**PROTOBUF, **side.auth()}).status_code == 200
    wait_for_tasks(ls, project_name, 1)
    values = wait_until_drained(side)  # the latency histogram has its first value once a task exists
    for name in (
        "receiver_spans_total",
        "receiver_llm_spans_total",
        "delivery_tasks_created_total",
        "receiver_rejected_spans_total",
        "spool_records",
        "delivery_latency_seconds_count",
    ):
        assert f"otel_label_studio_{name}" in values
    assert values["otel_label_studio_delivery_latency_seconds_count"] >= 1


def test_readyz_says_why_when_the_key_is_wrong(label_studio, tmp_path, project_name):
    wrong = sidecar.start(label_studio, tmp_path / "data", project_name, api_key="0" * 40)
    try:
        ready = httpx.get(f"{wrong.http_url}/readyz")
        assert ready.status_code == 503
        assert "HTTP 401" in ready.text and "legacy token" in ready.text
        assert "0" * 40 not in ready.text
    finally:
        assert wrong.terminate() == 0
    assert "0" * 40 not in wrong.logs()


def test_sigterm_drains_and_stops_within_the_bound(label_studio, ls, tmp_path, project_name):
    process = sidecar.start(label_studio, tmp_path / "data", project_name, args=["--drain-seconds", "5"])
    body = llm_request(question="sent just before SIGTERM").SerializeToString()
    assert (
        httpx.post(process.traces_url, content=body, headers={**PROTOBUF, **process.auth()}).status_code
        == 200
    )
    started = time.monotonic()
    assert process.terminate(timeout=30) == 0
    assert time.monotonic() - started < 20
    (task,) = tasks_of(ls, project_name)  # drained before exit
    assert task.data["prompt"] == "user: sent just before SIGTERM"
    log = process.logs()
    assert "Received SIGTERM" in log and "every record was delivered" in log
    assert process.token not in log


def test_logs_are_json_lines(side):
    lines = [line for line in side.logs().splitlines() if line.strip()]
    assert lines
    for line in lines:
        entry = json.loads(line)
        assert {"time", "level", "logger", "message"} <= entry.keys()


# --- a real forwarding hop ---------------------------------------------------------------------------------


def test_app_to_rotel_to_serve(routing, ls, side, project_name, tmp_path):
    """app -> rotel (OTLP/HTTP in, gzip OTLP/HTTP out) -> serve -> tasks."""
    agent = rotel_agent.binary()
    assert agent is not None, "rotel is in the test extra: pip install -e .[test]"
    headers = f"authorization=Bearer {side.token},x-label-studio-project={project_name}"
    forward = [
        "--exporter",
        "otlp",
        "--otlp-exporter-endpoint",
        side.http_url,
        "--otlp-exporter-protocol",
        "http",
        "--otlp-exporter-compression",
        "gzip",
        "--otlp-exporter-custom-headers",
        headers,
    ]
    process, http_port = rotel_agent.start(agent, tmp_path, forward)
    try:
        exporter = HttpExporter(endpoint=f"http://127.0.0.1:{http_port}/v1/traces")
        with pipeline(routing, exporter):
            for name in ("completion", "chat_system_human"):
                scenarios.SCENARIOS[name]()
        tasks = wait_for_tasks(ls, project_name, 2)
        prompts = sorted(str(task.data["prompt"]) for task in tasks)
        assert prompts == ["Tell me a joke", "system: Always use emojis\n\nuser: Tell me a joke"]
        assert {task.data["service_name"] for task in tasks} == {"otel-ls-tests"}
    finally:
        process.terminate()
        process.wait(timeout=10)
    gzipped = [line for line in side.logs().splitlines() if "gzip" in line.lower()]
    assert not [line for line in gzipped if '"level": "ERROR"' in line]


# --- the demo app of the compose file ---------------------------------------------------------------------


def test_the_demo_app_sends_through_serve(ls, side, project_name):
    """What the compose file's demo-app runs: OTLP configured only by the standard variables."""
    env = {
        **os.environ,
        "OTEL_EXPORTER_OTLP_ENDPOINT": side.http_url,
        "OTEL_EXPORTER_OTLP_HEADERS": (
            f"authorization=Bearer%20{side.token},x-label-studio-project={project_name}"
        ),
    }
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "devtools" / "demo.py"), "--calls", "3", "--provider", "fake"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OTLP exporter (through the sidecar): made 3 LLM calls" in result.stdout
    tasks = wait_for_tasks(ls, project_name, 3)
    assert {task.data["service_name"] for task in tasks} == {"otel-label-studio-demo"}
    assert len({task.data["span_id"] for task in tasks}) == 3


def test_redaction_masks_prompts_and_responses_before_they_leave(label_studio, ls, tmp_path, project_name):
    process = sidecar.start(
        label_studio,
        tmp_path / "data",
        project_name,
        args=["--redact", r"ACME-\d+", "--redact", "Falcon", "--redact-builtin", "true"],
    )
    try:
        request = llm_request(
            question="Mail jane@example.com about ACME-42 and Falcon",
            answer="Use key sk-abcdefghijklmnopqrstuvwxyz012",
        )
        body = request.SerializeToString()
        assert (
            httpx.post(process.traces_url, content=body, headers={**PROTOBUF, **process.auth()}).status_code
            == 200
        )
        (task,) = wait_for_tasks(ls, project_name, 1)
        assert task.data["prompt"] == "user: Mail [REDACTED] about [REDACTED] and [REDACTED]"
        assert task.predictions[0].result[0]["value"] == {"text": ["Use key [REDACTED]"]}
        on_disk = b"".join(path.read_bytes() for path in process.data_dir.glob("spool.sqlite3*"))
        assert on_disk  # the spool's files exist: the records passed through them, masked
        assert b"jane@example.com" not in on_disk and b"ACME-42" not in on_disk
    finally:
        process.terminate()
