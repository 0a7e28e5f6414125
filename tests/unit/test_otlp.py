"""OTLP/HTTP decoding without sockets: encodings, size caps, OTLP/JSON, answers."""

from __future__ import annotations

import gzip
import json
import tracemalloc
import zlib

import pytest
from google.rpc import code_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from otel_label_studio.reading.spanview import from_otlp
from otel_label_studio.receiver import otlp
from otel_label_studio.receiver.otlp import JSON, PROTOBUF, OtlpError
from tests.support.otlp_requests import spec_example


def test_json_hex_ids_in_any_case_become_the_right_bytes():
    request = otlp.parse_request(json.dumps(spec_example()).encode(), JSON)
    span = request.resource_spans[0].scope_spans[0].spans[0]
    assert span.trace_id == bytes.fromhex("5b8efff798038103d269b633813fc60c")
    assert span.span_id == bytes.fromhex("eee19b7ec3c1b174")
    assert span.parent_span_id == bytes.fromhex("eee19b7ec3c1b173")
    assert span.end_time_unix_nano == 1544712661000000000  # int64 given as a string
    view = next(from_otlp(request))
    assert (view.trace_id, view.span_id) == ("5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174")


def test_json_unknown_fields_are_ignored():
    document = spec_example()
    document["somethingNew"] = {"x": 1}
    document["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["futureField"] = [1, 2]
    request = otlp.parse_request(json.dumps(document).encode(), JSON)
    assert request.resource_spans[0].scope_spans[0].spans[0].name == "I'm a server span"


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[1, 2]",
        json.dumps(spec_example(trace_id="XYZ")).encode(),  # not hex
        json.dumps(spec_example(trace_id="ABCD")).encode(),  # hex, wrong length
        json.dumps(spec_example(span_id=12)).encode(),  # not a string
        json.dumps({"resourceSpans": "nope"}).encode(),
        b"\xff\xfe\x00",
    ],
)
def test_malformed_json_is_a_400(body):
    with pytest.raises(OtlpError) as error:
        otlp.parse_request(body, JSON)
    assert error.value.status == 400
    assert error.value.code == code_pb2.INVALID_ARGUMENT


def test_malformed_protobuf_is_a_400():
    with pytest.raises(OtlpError) as error:
        otlp.parse_request(b"\x0a\xff\xff\xff\xff\x0f", PROTOBUF)
    assert error.value.status == 400


def test_empty_bodies_are_empty_requests():
    assert otlp.parse_request(b"", PROTOBUF).ByteSize() == 0
    assert otlp.parse_request(b"", JSON).ByteSize() == 0
    assert otlp.parse_request(b"{}", JSON).ByteSize() == 0


@pytest.mark.parametrize(
    "header, expected",
    [
        ("application/x-protobuf", PROTOBUF),
        ("application/json; charset=utf-8", JSON),
        ("Application/JSON", JSON),
    ],
)
def test_content_type_is_read_without_parameters(header, expected):
    assert otlp.check_content_type(header) == expected


@pytest.mark.parametrize("header", [None, "", "text/plain", "application/protobuf", "application/grpc"])
def test_other_content_types_are_415(header):
    with pytest.raises(OtlpError) as error:
        otlp.check_content_type(header)
    assert error.value.status == 415


def test_encodings():
    payload = b"x" * 1000
    assert otlp.inflate(gzip.compress(payload), otlp.check_encoding("gzip"), 2000) == payload
    assert otlp.inflate(zlib.compress(payload), otlp.check_encoding("deflate"), 2000) == payload
    assert otlp.inflate(payload, otlp.check_encoding(None), 2000) == payload
    assert otlp.inflate(payload, otlp.check_encoding("identity"), 2000) == payload
    two_members = gzip.compress(b"a" * 10) + gzip.compress(b"b" * 10)
    assert otlp.inflate(two_members, "gzip", 100) == b"a" * 10 + b"b" * 10


@pytest.mark.parametrize("encoding", ["br", "zstd", "gzip, deflate", "x"])
def test_unknown_encoding_is_a_400(encoding):
    with pytest.raises(OtlpError) as error:
        otlp.check_encoding(encoding)
    assert error.value.status == 400


@pytest.mark.parametrize(
    "body, encoding",
    [
        (b"plain bytes, not gzip", "gzip"),  # no magic-byte sniffing: declared gzip must be gzip
        (gzip.compress(b"x" * 100)[:-10], "gzip"),  # truncated
        (b"\x00\x01", "deflate"),
    ],
)
def test_bad_compressed_bodies_are_400(body, encoding):
    with pytest.raises(OtlpError) as error:
        otlp.inflate(body, encoding, 10_000)
    assert error.value.status == 400


def test_size_cap_applies_after_decompression():
    with pytest.raises(OtlpError) as error:
        otlp.inflate(gzip.compress(b"x" * 1001), "gzip", 1000)
    assert error.value.status == 413
    assert otlp.inflate(gzip.compress(b"x" * 1000), "gzip", 1000) == b"x" * 1000
    with pytest.raises(OtlpError) as error:
        otlp.inflate(b"x" * 1001, None, 1000)
    assert error.value.status == 413


def test_a_gzip_bomb_never_inflates_past_the_cap_in_memory():
    bomb = gzip.compress(b"\0" * (512 * 1024 * 1024), compresslevel=9)  # 512 MiB in ~500 KiB
    cap = 4 * 1024 * 1024
    tracemalloc.start()
    try:
        with pytest.raises(OtlpError) as error:
            otlp.inflate(bomb, "gzip", cap)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert error.value.status == 413
    assert peak < 4 * cap, f"peak {peak} bytes while inflating a bomb with a {cap}-byte cap"


def test_answers_are_in_the_requests_content_type():
    empty = otlp.response_for(0, "")
    assert otlp.encode(empty, PROTOBUF) == b""  # an empty protobuf success is zero bytes
    assert json.loads(otlp.encode(empty, JSON)) == {}
    partial = otlp.response_for(2, "2 LLM spans carry no prompt")
    decoded = ExportTraceServiceResponse.FromString(otlp.encode(partial, PROTOBUF))
    assert decoded.partial_success.rejected_spans == 2
    as_json = json.loads(otlp.encode(partial, JSON))
    assert as_json["partialSuccess"]["errorMessage"] == "2 LLM spans carry no prompt"
    assert int(as_json["partialSuccess"]["rejectedSpans"]) == 2


def test_error_bodies_are_google_rpc_status():
    error = OtlpError(413, "too big")
    status = status_pb2.Status.FromString(otlp.status_body(error, PROTOBUF))
    assert (status.code, status.message) == (code_pb2.RESOURCE_EXHAUSTED, "too big")
    assert json.loads(otlp.status_body(error, JSON)) == {
        "code": code_pb2.RESOURCE_EXHAUSTED,
        "message": "too big",
    }


def test_protobuf_round_trip_of_a_real_request():
    request = otlp.parse_request(json.dumps(spec_example()).encode(), JSON)
    again = otlp.parse_request(request.SerializeToString(), PROTOBUF)
    assert again == request
    assert isinstance(again, ExportTraceServiceRequest)


def _two_spans() -> ExportTraceServiceRequest:
    """A request whose second span is the one tests spoil (spans[1]: indexes in the message)."""
    document = spec_example()
    spans = document["resourceSpans"][0]["scopeSpans"][0]["spans"]
    spans.append({**spans[0], "spanId": "eee19b7ec3c1b175", "name": "second"})
    return otlp.parse_request(json.dumps(document).encode(), JSON)


@pytest.mark.parametrize("field, size", [("trace_id", 16), ("span_id", 8)])
def test_an_all_zero_trace_or_span_id_is_a_400_naming_the_field_and_the_span(field, size):
    """OTLP: an all-zero trace or span id is invalid (the logs path refuses them too). One such span
    refuses the request, as a wrong length does; the message says which field of which span."""
    request = _two_spans()
    setattr(request.resource_spans[0].scope_spans[0].spans[1], field, bytes(size))
    with pytest.raises(OtlpError) as error:
        otlp.parse_request(request.SerializeToString(), PROTOBUF)
    assert error.value.status == 400 and error.value.code == code_pb2.INVALID_ARGUMENT
    assert error.value.message == (
        "resource_spans[0].scope_spans[0].spans[1] (span 'second') has an all-zero "
        f"{field}, which OTLP defines as invalid"
    )
    document = spec_example(**{field: "0" * (2 * size)})  # OTLP/JSON: hex zeros
    with pytest.raises(OtlpError, match=f"spans\\[0\\] .* has an all-zero {field}"):
        otlp.parse_request(json.dumps(document).encode(), JSON)


def test_a_link_may_name_an_all_zero_span_context():
    """The trace API records a link to an invalid span context when it carries attributes: OTLP
    senders may send one, and it does not refuse the span."""
    request = _two_spans()
    link = request.resource_spans[0].scope_spans[0].spans[1].links.add()
    link.trace_id, link.span_id = bytes(16), bytes(8)
    link.attributes.add(key="why", value={"string_value": "a link with attributes"})
    parsed = otlp.parse_request(request.SerializeToString(), PROTOBUF)
    assert len(parsed.resource_spans[0].scope_spans[0].spans[1].links) == 1
