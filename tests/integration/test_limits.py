"""Memory bounded by settings on the decode side, wrong-length ids, and gRPC admission (issue 12).

The pre-scan's unit tests use crafted wire bytes; the refusals are then checked against a real
``serve`` process with real clients (httpx, a gRPC channel, the OTLP gRPC exporter). Label
Studio is left unreachable: what is tested is what the receiver answers, before delivery.
Memory figures come from ``bench/attack_memory.py``, not from here.
"""

from __future__ import annotations

import gzip
import json
import os
import socket
import subprocess
import threading
import time
from typing import Iterator

import grpc
import httpx
import pytest
from google.protobuf.message import DecodeError
from google.rpc import code_pb2, status_pb2
from google.rpc.error_details_pb2 import RetryInfo
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_label_studio.config import default
from otel_label_studio.ingest import Ingest
from otel_label_studio.reading.mapping import Mapper
from otel_label_studio.receiver import otlp
from otel_label_studio.receiver.grpc import make_grpc_server, receive_slots
from otel_label_studio.receiver.intake import Intake
from otel_label_studio.receiver.limits import (
    RECEIVE_BUDGET,
    Busy,
    ReceiveBudget,
)
from otel_label_studio.receiver.otlp import JSON, PROTOBUF, OtlpError, parse_request
from otel_label_studio.receiver.policy import ReceiverPolicy
from otel_label_studio.store.spool import Spool
from tests.support import sidecar
from tests.support.labelstudio_server import free_port, nowhere
from tests.support.otlp_requests import llm_json
from tests.support.stalled_grpc import StalledCall

EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
TOKEN = "limits-test-token-0123456789"


# --- crafted wire bytes -----------------------------------------------------------------------------------


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        if not value:
            return bytes(out + bytes([low]))
        out.append(low | 0x80)


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _request(spans: bytes) -> bytes:
    return _field(1, _field(2, spans))  # resource_spans { scope_spans { spans... } }


def empty_spans(count: int) -> bytes:
    return _request(b"\x12\x00" * count)


def empty_attributes(count: int) -> bytes:
    span = _field(1, os.urandom(16)) + _field(2, os.urandom(8)) + b"\x4a\x00" * count
    return _request(_field(2, span))


def one_span(**fields: bytes) -> ExportTraceServiceRequest:
    values = {"trace_id": os.urandom(16), "span_id": os.urandom(8), **fields}
    request = ExportTraceServiceRequest()
    request.resource_spans.add().scope_spans.add().spans.append(Span(name="ChatFake.chat", **values))
    return request


def json_bomb(count: int) -> bytes:
    return b'{"resourceSpans":[' + b"{}," * count + b"{}]}"


# --- the pre-scan, directly -------------------------------------------------------------------------------


def test_the_walk_counts_the_spans_and_objects_of_a_real_request():
    request = one_span()
    span = request.resource_spans[0].scope_spans[0].spans[0]
    span.attributes.add(key="a").value.string_value = "x" * 300
    span.attributes.add(key="b").value.array_value.values.add().int_value = 3
    span.events.add(name="e").attributes.add(key="c").value.bool_value = True
    request.resource_spans[0].scope_spans[0].spans.add(trace_id=os.urandom(16), span_id=os.urandom(8))
    spans, cost = otlp.prescan(request.SerializeToString(), max_spans=10)
    # resource_spans, scope_spans: 2 messages; attributes a, b, c with their values: 6; b's array and
    # its one value: 2; so 10 plain messages, 2 spans and 1 event.
    assert spans == 2
    assert cost == 10 * otlp.MESSAGE_COST_BYTES + 2 * otlp.SPAN_COST_BYTES + otlp.EVENT_COST_BYTES


def test_a_protobuf_body_over_the_span_limit_is_refused_413_before_the_walk_reaches_its_end():
    body = empty_spans(1_000_000) + b"\x0a\xff\xff\xff\xff\x0f"  # and a field that runs past the end
    assert len(body) > otlp.PROTOBUF_SCAN_ABOVE_BYTES
    with pytest.raises(OtlpError) as refused:
        parse_request(body, PROTOBUF)
    assert refused.value.status == 413 and "100000 spans" in refused.value.message


def test_empty_attributes_past_the_decode_budget_are_refused_413():
    count = otlp.DECODE_BUDGET_BYTES // otlp.MESSAGE_COST_BYTES + 1000
    with pytest.raises(OtlpError) as refused:
        parse_request(empty_attributes(count), PROTOBUF)
    assert refused.value.status == 413 and "MiB of objects" in refused.value.message


def test_a_small_body_over_the_span_limit_is_refused_413_after_the_parse():
    request = one_span()
    for _ in range(10):
        request.resource_spans[0].scope_spans[0].spans.add(trace_id=os.urandom(16), span_id=os.urandom(8))
    body = request.SerializeToString()
    assert len(body) < otlp.PROTOBUF_SCAN_ABOVE_BYTES
    with pytest.raises(OtlpError) as refused:
        parse_request(body, PROTOBUF, max_spans=10)
    assert refused.value.status == 413
    assert len(parse_request(body, PROTOBUF, max_spans=11).resource_spans[0].scope_spans[0].spans) == 11


def test_json_of_empty_objects_is_refused_413_before_it_is_loaded():
    with pytest.raises(OtlpError) as refused:
        parse_request(json_bomb(1_000_000), JSON)
    assert refused.value.status == 413
    assert parse_request(json.dumps(llm_json("limits")).encode(), JSON).resource_spans


@pytest.mark.parametrize(
    "fields",
    [
        {"trace_id": b"abc"},
        {"trace_id": b""},
        {"span_id": b""},
        {"span_id": b"abc"},
        {"parent_span_id": b"abc"},
    ],
    ids=["trace-3-bytes", "trace-empty", "span-empty", "span-3-bytes", "parent-3-bytes"],
)
def test_wrong_length_ids_in_protobuf_are_refused_400(fields):
    with pytest.raises(OtlpError) as refused:
        parse_request(one_span(**fields).SerializeToString(), PROTOBUF)
    assert refused.value.status == 400 and "bytes" in refused.value.message


def test_a_root_span_has_no_parent_and_a_link_needs_both_ids():
    assert parse_request(one_span(parent_span_id=b"").SerializeToString(), PROTOBUF).resource_spans
    request = one_span()
    request.resource_spans[0].scope_spans[0].spans[0].links.add(trace_id=os.urandom(16), span_id=b"")
    with pytest.raises(OtlpError) as refused:
        parse_request(request.SerializeToString(), PROTOBUF)
    assert refused.value.status == 400 and "link" in refused.value.message


def test_json_spans_without_ids_are_refused_400():
    document = llm_json("limits")
    document["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["traceId"] = ""
    with pytest.raises(OtlpError) as refused:
        parse_request(json.dumps(document).encode(), JSON)
    assert refused.value.status == 400


def _big_valid_body() -> bytes:
    request = one_span()
    spans = request.resource_spans[0].scope_spans[0].spans
    spans[0].attributes.add(key="k").value.array_value.values.add().kvlist_value.values.add(key="x")
    spans[0].events.add(name="e")
    return request.SerializeToString()


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_the_walk_never_refuses_what_the_parser_takes(data):
    base = _big_valid_body()
    cut = data.draw(st.integers(0, len(base)))
    patch = data.draw(st.binary(max_size=6))
    body = data.draw(st.sampled_from([base, base[:cut] + patch + base[cut + len(patch) :], patch + base]))
    try:
        ExportTraceServiceRequest.FromString(body)
        parses = True
    except DecodeError:
        parses = False
    try:
        otlp.prescan(body, max_spans=100)
    except OtlpError as error:
        assert error.status == 400 and not parses, (body, error.message)


# --- the receive budget, directly --------------------------------------------------------------------------


def test_the_receive_budget_charges_what_arrives_and_refuses_what_would_pass_it():
    budget = ReceiveBudget(1000)
    with budget.account() as slow:
        slow.check(10_000 - 9_100)  # a declared length that fits charges nothing
        slow.add(600)
        assert budget.in_use == 600
        other = budget.account()
        with pytest.raises(Busy) as declared:
            other.check(500)
        assert declared.value.bound == RECEIVE_BUDGET and "receive budget" in str(declared.value)
        other.add(300)
        with pytest.raises(Busy):
            other.add(200)  # the piece that would pass it is not charged
        assert (budget.in_use, other.charged) == (900, 300)
        other.release()
    assert (budget.in_use, budget.refused) == (0, 2)
    with budget.account() as whole:
        whole.add(1000)  # the whole budget, once it is free
    assert budget.in_use == 0


def test_grpc_receive_slots_are_the_messages_of_the_body_cap_in_the_receive_budget():
    assert (
        receive_slots(
            default("max_concurrent_decodes"), default("max_body_bytes"), default("max_receive_bytes")
        )
        == 4
    )
    assert receive_slots(2, 64 << 20, 64 << 20) == 2  # never fewer than the decode slots
    assert receive_slots(2, 1 << 20, 8 << 20) == 8


# --- a real serve process ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def side(tmp_path_factory) -> Iterator[sidecar.Sidecar]:
    """serve with default limits and Label Studio unreachable: accepted spans wait in the spool."""
    unreachable = nowhere()
    process = sidecar.start(
        unreachable, tmp_path_factory.mktemp("limits") / "data", "limits", token=TOKEN, api_key="limits-key"
    )
    yield process
    process.terminate()


def _post(side, body: bytes, kind: str, gzipped: bool = False) -> httpx.Response:
    headers = {"Content-Type": kind, **side.auth()}
    if gzipped:
        body = gzip.compress(body)
        headers["Content-Encoding"] = "gzip"
    return httpx.post(side.traces_url, content=body, headers=headers, timeout=60)


def _export(side, body: bytes) -> grpc.RpcError | None:
    with grpc.insecure_channel(side.grpc_target, options=[("grpc.max_send_message_length", 64 << 20)]) as ch:
        try:
            ch.unary_unary(EXPORT)(body, metadata=tuple(side.auth().items()), timeout=60)
        except grpc.RpcError as error:
            return error
    return None


def test_http_refuses_amplifying_bodies_with_413_and_wrong_ids_with_400(side):
    for body, kind in (
        (empty_spans(3_000_000), PROTOBUF),
        (empty_attributes(3_000_000), PROTOBUF),
        (json_bomb(2_000_000), JSON),
    ):
        refused = _post(side, body, kind, gzipped=True)
        assert refused.status_code == 413, refused.text[:200]
        assert refused.headers["content-type"] == kind
    bad = _post(side, one_span(trace_id=b"abc").SerializeToString(), PROTOBUF)
    assert bad.status_code == 400
    assert status_pb2.Status.FromString(bad.content).code == code_pb2.INVALID_ARGUMENT
    assert _post(side, one_span().SerializeToString(), PROTOBUF).status_code == 200


def test_grpc_refuses_amplifying_requests_with_resource_exhausted_and_wrong_ids_with_invalid_argument(side):
    for body in (empty_spans(3_000_000), empty_attributes(3_000_000)):
        error = _export(side, body)
        assert error is not None and error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, error
    for fields in ({"trace_id": b""}, {"span_id": b"abc"}):
        error = _export(side, one_span(**fields).SerializeToString())
        assert error is not None and error.code() == grpc.StatusCode.INVALID_ARGUMENT, error
    assert _export(side, one_span().SerializeToString()) is None


def _grpc_exporter_and_spans(side) -> tuple[GrpcExporter, list]:
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "limits"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    with provider.get_tracer("limits").start_as_current_span("work"):
        pass
    exporter = GrpcExporter(endpoint=side.grpc_target, insecure=True, headers=side.auth(), timeout=20)
    return exporter, list(memory.get_finished_spans())


def test_two_stalled_grpc_calls_do_not_stop_a_real_grpc_exporter(side):
    """Two senders that stall mid-request used to hold both receive slots (as many as the decode
    slots) for 60 s: every other gRPC call was answered UNAVAILABLE meanwhile."""
    release = threading.Event()

    def stalled() -> Iterator[bytes]:
        release.wait(30)
        yield one_span().SerializeToString()

    metadata = tuple(side.auth().items())
    with grpc.insecure_channel(side.grpc_target) as channel:
        holders = [
            channel.stream_unary(EXPORT).future(stalled(), metadata=metadata, timeout=60) for _ in range(2)
        ]
        try:
            time.sleep(1.0)  # both calls reach the handler and take their slots
            exporter, spans = _grpc_exporter_and_spans(side)
            started = time.monotonic()
            result = exporter.export(spans)
            took = time.monotonic() - started
            exporter.shutdown()
            assert result is SpanExportResult.SUCCESS
            assert took < 3, f"the export took {took:.1f}s beside two stalled gRPC calls"
        finally:
            release.set()
            for holder in holders:
                holder.result(timeout=30)


def test_eight_stalled_grpc_calls_do_not_delay_a_live_grpc_sender(side):
    """Senders that open a gRPC call and go silent (HTTP/2 HEADERS, then never a DATA frame) used to
    hold every receive slot (4 by default: the 256 MiB receive budget holds four 64 MiB messages)
    until the 60 s cancel, and every other gRPC call waited, answered UNAVAILABLE meanwhile (issue
    26). Now a stalled call keeps its slot only while nobody waits for one: eight of them cost a live
    sender, the real OTLP gRPC exporter, less than a second per export; the stalled calls are
    cancelled (a real sender would retry)."""
    stalled = [StalledCall("127.0.0.1", side.grpc_port, side.auth()) for _ in range(8)]
    try:
        time.sleep(1.0)  # every call reached the handler: four hold the receive slots, four wait
        exporter, spans = _grpc_exporter_and_spans(side)
        took = []
        for _ in range(3):
            started = time.monotonic()
            result = exporter.export(spans)
            took.append(time.monotonic() - started)
            assert result is SpanExportResult.SUCCESS
        exporter.shutdown()
        assert max(took) < 1.0, f"exports took {took} beside eight stalled gRPC calls"
        assert sum(call.ended.wait(5) for call in stalled) >= 4  # cancelled: their slots went on
    finally:
        for call in stalled:
            call.close()


def test_eight_stalled_http_senders_do_not_delay_a_live_http_sender(side):
    """OTLP/HTTP's side of the same: a body is read holding no slot, its bytes charged as they
    arrive, so senders that declare a body and go silent hold only the bytes they sent (a guard: this
    held before issue 26 too)."""
    stalled = []
    try:
        for _ in range(8):
            sock = socket.create_connection(("127.0.0.1", side.http_port), timeout=10)
            headers = "".join(f"{key}: {value}\r\n" for key, value in side.auth().items())
            sock.sendall(
                f"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: {PROTOBUF}\r\n{headers}"
                "Content-Length: 1000000\r\n\r\n".encode()
                + b"\x0a"
            )
            stalled.append(sock)
        time.sleep(1.0)
        body = one_span().SerializeToString()
        for _ in range(3):
            started = time.monotonic()
            assert _post(side, body, PROTOBUF).status_code == 200
            assert time.monotonic() - started < 1.0
    finally:
        for sock in stalled:
            sock.close()


def test_grpc_calls_past_the_receive_slots_get_unavailable_with_retry_info_and_the_exporter_retries(
    tmp_path,
):
    """Calls that hold every receive slot and may not have them taken back (a long fair time, as
    when every holder is still within it): a further call is answered UNAVAILABLE with RetryInfo,
    its body unread; the real OTLP gRPC exporter, refused the same way, waits as told and succeeds
    once the slots are free."""
    spool = Spool.in_directory(str(tmp_path))
    intake = Intake(Ingest(Mapper(metadata_prefix="x", include_errors=False), spool))
    server, service, port = make_grpc_server(  # two receive slots: the 2 MiB budget holds two 1 MiB messages
        intake,
        host="127.0.0.1",
        port=0,
        policy=ReceiverPolicy(auth_token=None),
        max_body_bytes=1 << 20,
        receive_budget_bytes=2 << 20,
        receive_fair_seconds=60.0,
    )
    server.start()
    release = threading.Event()

    def stalled() -> Iterator[bytes]:
        release.wait(30)
        yield one_span().SerializeToString()

    target = f"127.0.0.1:{port}"
    try:
        with grpc.insecure_channel(target) as channel:
            holders = [channel.stream_unary(EXPORT).future(stalled(), timeout=60) for _ in range(2)]
            time.sleep(1.0)  # every call reaches the handler and takes its slot
            try:
                channel.unary_unary(EXPORT)(one_span().SerializeToString(), timeout=10)
                raise AssertionError("a call past the receive slots was taken")
            except grpc.RpcError as error:
                assert error.code() == grpc.StatusCode.UNAVAILABLE, error
                assert "gRPC receive slots are busy" in (error.details() or ""), error.details()
                trailers = dict(error.trailing_metadata() or ())
                assert RetryInfo.FromString(trailers["google.rpc.retryinfo-bin"]).retry_delay.seconds >= 1
            assert service.receiving.refused >= 1

            memory = InMemorySpanExporter()
            provider = TracerProvider(resource=Resource.create({"service.name": "limits"}))
            provider.add_span_processor(SimpleSpanProcessor(memory))
            with provider.get_tracer("limits").start_as_current_span("work"):
                pass
            exporter = GrpcExporter(endpoint=target, insecure=True, timeout=20)
            outcome: list[SpanExportResult] = []
            spans = memory.get_finished_spans()
            sender = threading.Thread(target=lambda: outcome.append(exporter.export(spans)))
            sender.start()
            time.sleep(3.0)  # the exporter is refused at least once while the slots are held
            release.set()
            for holder in holders:
                holder.result(timeout=30)
            sender.join(30)
            exporter.shutdown()
        assert outcome == [SpanExportResult.SUCCESS]
    finally:
        release.set()
        server.stop(None)
        spool.close()


def test_a_grpc_sender_that_stalls_mid_request_is_cancelled_and_gives_its_slot_back(tmp_path):
    spool = Spool.in_directory(str(tmp_path))
    intake = Intake(Ingest(Mapper(metadata_prefix="x", include_errors=False), spool))
    server, _, port = make_grpc_server(  # two receive slots: the 2 MiB budget holds two 1 MiB messages
        intake,
        host="127.0.0.1",
        port=0,
        policy=ReceiverPolicy(auth_token=None),
        max_body_bytes=1 << 20,
        receive_seconds=1.0,
        receive_budget_bytes=2 << 20,
    )
    server.start()
    release = threading.Event()

    def stalled() -> Iterator[bytes]:
        release.wait(30)
        yield one_span().SerializeToString()

    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            held = [channel.stream_unary(EXPORT).future(stalled(), timeout=20) for _ in range(2)]
            for call in held:
                with pytest.raises(grpc.RpcError) as ended:
                    call.result(timeout=15)
                assert ended.value.code() == grpc.StatusCode.CANCELLED
            channel.unary_unary(EXPORT)(one_span().SerializeToString(), timeout=10)  # the slots are free
    finally:
        release.set()
        server.stop(None)
        spool.close()


def test_a_grpc_port_in_use_prints_only_our_message(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {
            **os.environ,
            "LABEL_STUDIO_URL": f"http://127.0.0.1:{free_port()}",
            "LABEL_STUDIO_API_KEY": "k",
        }
        done = subprocess.run(
            [
                str(sidecar.SCRIPT),
                "serve",
                "--http-port",
                str(free_port()),
                "--grpc-port",
                str(port),
                "--data-dir",
                str(tmp_path / "data"),
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 2
    assert "add_port.cc" not in done.stderr and "GRPC_VERBOSITY" not in done.stderr, done.stderr
    assert "usage:" not in done.stderr, done.stderr  # a port in use is not a command-line mistake
    assert f"cannot listen for OTLP/gRPC on 127.0.0.1:{port}: address already in use" in done.stderr
    assert "--grpc-port" in done.stderr.splitlines()[-1]
