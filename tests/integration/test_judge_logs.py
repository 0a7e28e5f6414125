"""Judge results in as OTLP logs, against a real ``serve`` process and the real OTLP log
exporters: ``POST /v1/logs`` and ``LogsService/Export`` take ``gen_ai.evaluation.result`` records
under the same rules as traces (auth, content types, size limits, malformed bodies, partial
success), and /metrics counts what became of each record. Whether a result reaches its task is
the join's test; here Label Studio is left unreachable: the receiver is what is tested."""

from __future__ import annotations

import base64
import json
import time

import grpc
import httpx
import pytest
from google.protobuf import json_format
from google.rpc import code_pb2, status_pb2
from google.rpc.error_details_pb2 import RetryInfo
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcLogExporter
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpLogExporter
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.sdk._logs.export import LogRecordExportResult

from otel_label_studio.ingest import Ingest
from otel_label_studio.reading.mapping import Mapper
from otel_label_studio.receiver.grpc import RETRY_INFO_KEY, make_grpc_server
from otel_label_studio.receiver.http import OtlpHttpServer
from otel_label_studio.receiver.intake import Intake
from otel_label_studio.receiver.judge_intake import JudgeIntake
from otel_label_studio.receiver.limits import DecodeGate
from otel_label_studio.receiver.policy import ReceiverPolicy
from otel_label_studio.store.queue import QueueFull
from otel_label_studio.store.spool import Spool
from tests.support import sidecar
from tests.support.judge_logs import HELPFUL, log_records, logs_request, span_context
from tests.support.labelstudio_server import nowhere
from tests.support.serve_calls import metrics

pytestmark = pytest.mark.integration

PROTOBUF = {"Content-Type": "application/x-protobuf"}
JSON_TYPE = {"Content-Type": "application/json"}
LOGS_EXPORT = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"
KEY = "judge-logs-key-0123"
TRACE, SPAN = 0x0AF7651916CD43DD8448EB211C80319C, 0xB7AD6B7169203331


@pytest.fixture(scope="module")
def serve(tmp_path_factory):
    """A sidecar with a bearer token and a 1 MiB body cap."""
    process = sidecar.start(
        nowhere(),
        tmp_path_factory.mktemp("judge-logs") / "data",
        "judge-logs",
        api_key=KEY,
        args=["--max-body-bytes", "1MiB"],
    )
    yield process
    assert process.terminate() == 0


def logs_url(process: sidecar.Sidecar) -> str:
    return f"{process.http_url}/v1/logs"


def counts(process: sidecar.Sidecar) -> tuple[float, float, float, float]:
    values = metrics(process)
    return (
        values["otel_label_studio_receiver_logs_requests_total"],
        *(
            values[f'otel_label_studio_receiver_log_records_total{{outcome="{outcome}"}}']
            for outcome in ("accepted", "rejected", "ignored")
        ),
    )


def mixed_records():
    """One result on its span, one naming no span (rejected), one plain log (ignored)."""
    return [
        *log_records([(span_context(TRACE, SPAN), HELPFUL), (None, HELPFUL)]),
        *log_records([(span_context(TRACE, SPAN), {"http.route": "/chat"})], event_name=None, body="a log"),
    ]


def grpc_logs_export(process: sidecar.Sidecar, body: bytes, metadata=()):
    with grpc.insecure_channel(process.grpc_target) as channel:
        call = channel.unary_unary(
            LOGS_EXPORT, request_serializer=None, response_deserializer=ExportLogsServiceResponse.FromString
        )
        return call.with_call(body, metadata=metadata, timeout=30)


@pytest.mark.parametrize("transport", ["http", "http-gzip", "grpc"])
def test_the_otlp_log_exporters_deliver_judge_results_and_each_record_is_counted(serve, transport):
    token = {"authorization": f"Bearer {serve.token}"}
    if transport == "grpc":
        exporter = GrpcLogExporter(endpoint=serve.grpc_target, insecure=True, headers=token, timeout=10)
    else:
        compression = Compression.Gzip if transport == "http-gzip" else Compression.NoCompression
        exporter = HttpLogExporter(
            endpoint=logs_url(serve), headers=token, compression=compression, timeout=10
        )
    before = counts(serve)
    try:
        assert exporter.export(mixed_records()) == LogRecordExportResult.SUCCESS
    finally:
        exporter.shutdown()
    after = counts(serve)
    # one more request; one record accepted, one rejected, one ignored
    assert [a - b for a, b in zip(after, before, strict=True)] == [1, 1, 1, 1]


def test_partial_success_names_the_rejected_records_in_the_request_s_content_type(serve):
    request = logs_request([(span_context(TRACE, SPAN), HELPFUL), (None, HELPFUL)])
    answer = httpx.post(
        logs_url(serve), content=request.SerializeToString(), headers={**PROTOBUF, **serve.auth()}
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/x-protobuf"
    partial = ExportLogsServiceResponse.FromString(answer.content).partial_success
    assert partial.rejected_log_records == 1
    assert "names no evaluated span" in partial.error_message

    document = json_format.MessageToDict(request)
    for record in document["resourceLogs"][0]["scopeLogs"][0]["logRecords"]:
        for key in ("traceId", "spanId"):
            if key in record:  # OTLP/JSON ids are hex (upper case too); json_format wrote base64
                record[key] = base64.b64decode(record[key]).hex().upper()
    before = counts(serve)
    answer = httpx.post(logs_url(serve), content=json.dumps(document), headers={**JSON_TYPE, **serve.auth()})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/json"
    assert answer.json()["partialSuccess"]["rejectedLogRecords"] == "1"
    assert [a - b for a, b in zip(counts(serve), before, strict=True)] == [1, 1, 1, 0]


def test_an_empty_logs_request_is_200(serve):
    answer = httpx.post(logs_url(serve), content=b"", headers={**PROTOBUF, **serve.auth()})
    assert (answer.status_code, answer.content) == (200, b"")


def test_a_sender_without_the_token_is_refused_on_both_transports(serve):
    before = counts(serve)
    for exporter in (
        HttpLogExporter(endpoint=logs_url(serve), timeout=5),
        GrpcLogExporter(endpoint=serve.grpc_target, insecure=True, timeout=5),
        HttpLogExporter(endpoint=logs_url(serve), headers={"authorization": "Bearer wrong"}, timeout=5),
    ):
        try:
            assert exporter.export(mixed_records()) == LogRecordExportResult.FAILURE
        finally:
            exporter.shutdown()
    body = logs_request([(span_context(TRACE, SPAN), HELPFUL)]).SerializeToString()
    answer = httpx.post(logs_url(serve), content=body, headers=PROTOBUF)
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"].startswith("Bearer")
    with pytest.raises(grpc.RpcError) as refused:
        grpc_logs_export(serve, body)
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert counts(serve) == before  # nothing taken


def big_request(size: int) -> bytes:
    padded = {**HELPFUL, "gen_ai.evaluation.explanation": "x" * size}
    return logs_request([(span_context(TRACE, SPAN), padded)]).SerializeToString()


def test_over_the_body_cap_is_413_and_resource_exhausted(serve):
    body = big_request(2 << 20)  # 2 MiB over the 1 MiB cap
    answer = httpx.post(logs_url(serve), content=body, headers={**PROTOBUF, **serve.auth()})
    assert answer.status_code == 413
    assert status_pb2.Status.FromString(answer.content).code == code_pb2.RESOURCE_EXHAUSTED
    exporter = HttpLogExporter(endpoint=logs_url(serve), headers=serve.auth(), timeout=5)
    padded = {**HELPFUL, "gen_ai.evaluation.explanation": "x" * (2 << 20)}
    try:
        assert (
            exporter.export(log_records([(span_context(TRACE, SPAN), padded)]))
            == LogRecordExportResult.FAILURE
        )
    finally:
        exporter.shutdown()
    with pytest.raises(grpc.RpcError) as refused:
        grpc_logs_export(serve, body, tuple(serve.auth().items()))
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


@pytest.mark.parametrize(
    ("content", "headers"),
    [
        (b"\x0a\xff\xff", PROTOBUF),
        (b"{not json", JSON_TYPE),
        (b'{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"traceId":"not hex"}]}]}]}', JSON_TYPE),
    ],
    ids=["protobuf", "json", "json-bad-hex"],
)
def test_a_malformed_body_is_400_with_a_status(serve, content, headers):
    answer = httpx.post(logs_url(serve), content=content, headers={**headers, **serve.auth()})
    assert answer.status_code == 400, answer.text
    assert answer.headers["content-type"] == headers["Content-Type"]
    if headers is PROTOBUF:
        assert status_pb2.Status.FromString(answer.content).code == code_pb2.INVALID_ARGUMENT
    else:
        assert answer.json()["code"] == code_pb2.INVALID_ARGUMENT


def test_a_malformed_grpc_message_is_invalid_argument(serve):
    with pytest.raises(grpc.RpcError) as refused:
        grpc_logs_export(serve, b"\x0a\xff\xff", tuple(serve.auth().items()))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT


@pytest.mark.parametrize(
    ("method", "content_type", "status"), [("GET", None, 405), ("POST", "text/plain", 415)]
)
def test_wrong_method_or_content_type(serve, method, content_type, status):
    headers = {**serve.auth(), **({"Content-Type": content_type} if content_type else {})}
    answer = httpx.request(
        method, logs_url(serve), content=b"x" if method == "POST" else None, headers=headers
    )
    assert answer.status_code == status


# --- a sink that cannot take results now: retry later ----------------------------------------------


class FullSink:
    """A judge sink whose store is full (the join's spool at its limit)."""

    def accept(self, events):
        raise QueueFull("the judge results store is full", 3.0)


class TakingSink:
    """A judge sink that keeps what it is given (the join's part is tested in test_judge_join)."""

    def __init__(self):
        self.taken = []

    def accept(self, events):
        self.taken.extend(events)


def test_a_full_judge_sink_is_503_with_retry_after_and_unavailable_with_retry_info(tmp_path):
    spool = Spool.in_directory(str(tmp_path))
    intake = Intake(Ingest(Mapper(metadata_prefix="x", include_errors=False), spool))
    judge = JudgeIntake(FullSink())
    policy = ReceiverPolicy(None)
    http = OtlpHttpServer(
        ("127.0.0.1", 0),
        intake,
        max_body_bytes=1 << 20,
        readiness=lambda: (True, "ready"),
        metrics=lambda: b"",
        policy=policy,
        judge=judge,
    )
    grpc_server, _, grpc_port = make_grpc_server(
        intake, host="127.0.0.1", port=0, policy=policy, max_body_bytes=1 << 20, judge=judge
    )
    http.start()
    grpc_server.start()
    body = logs_request([(span_context(TRACE, SPAN), HELPFUL)]).SerializeToString()
    try:
        busy = httpx.post(
            f"http://127.0.0.1:{http.server_address[1]}/v1/logs", content=body, headers=PROTOBUF
        )
        assert busy.status_code == 503, busy.text
        assert busy.headers["retry-after"] == "3"
        status = status_pb2.Status.FromString(busy.content)
        assert status.code == code_pb2.UNAVAILABLE
        assert "judge results store is full" in status.message
        with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            call = channel.unary_unary(LOGS_EXPORT, request_serializer=None, response_deserializer=None)
            with pytest.raises(grpc.RpcError) as refused:
                call(body, timeout=10)
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
        (retry,) = [value for key, value in refused.value.trailing_metadata() if key == RETRY_INFO_KEY]
        assert RetryInfo.FromString(retry).retry_delay.seconds == 3
        assert judge.stats.requests == 0  # nothing counted: the sender's retry will be
    finally:
        http.stop()
        grpc_server.stop(0).wait(5)
        spool.close()


def test_without_a_judge_intake_the_logs_path_says_so(tmp_path):
    spool = Spool.in_directory(str(tmp_path))
    intake = Intake(Ingest(Mapper(metadata_prefix="x", include_errors=False), spool))
    http = OtlpHttpServer(
        ("127.0.0.1", 0), intake, max_body_bytes=1 << 20, readiness=lambda: (True, ""), metrics=lambda: b""
    )
    http.start()
    try:
        started = time.monotonic()
        answer = httpx.post(
            f"http://127.0.0.1:{http.server_address[1]}/v1/logs", content=b"", headers=PROTOBUF
        )
        assert answer.status_code == 404
        assert "no judge results" in status_pb2.Status.FromString(answer.content).message
        assert time.monotonic() - started < 5
    finally:
        http.stop()
        spool.close()


def test_logs_share_the_decode_slots_with_traces(tmp_path):
    """A logs request waits for the same decode slots as traces, and is told to come back."""
    spool = Spool.in_directory(str(tmp_path))
    intake = Intake(Ingest(Mapper(metadata_prefix="x", include_errors=False), spool))
    gate = DecodeGate(1)
    http = OtlpHttpServer(
        ("127.0.0.1", 0),
        intake,
        max_body_bytes=1 << 20,
        readiness=lambda: (True, ""),
        metrics=lambda: b"",
        gate=gate,
        judge=JudgeIntake(sink := TakingSink()),
    )
    http.start()
    url = f"http://127.0.0.1:{http.server_address[1]}/v1/logs"
    body = logs_request([(span_context(TRACE, SPAN), HELPFUL)]).SerializeToString()
    try:
        gate.acquire()  # taken, as by a traces request being decoded
        busy = httpx.post(url, content=body, headers=PROTOBUF, timeout=10)
        assert busy.status_code == 503, busy.text
        assert busy.headers["retry-after"] == "1"
        assert "decode slots are busy" in status_pb2.Status.FromString(busy.content).message
        assert sink.taken == []
        gate.release()
        assert httpx.post(url, content=body, headers=PROTOBUF, timeout=10).status_code == 200
        assert [(event.trace_id, event.span_id) for event in sink.taken] == [
            (f"{TRACE:032x}", f"{SPAN:016x}")
        ]
    finally:
        http.stop()
        spool.close()
