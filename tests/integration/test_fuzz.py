"""Property tests: whatever a sender throws at the receiver or a span carries, no crash, no 5xx
other than a deliberate 503, and memory stays bounded."""

from __future__ import annotations

import gzip
import json
import zlib
from pathlib import Path

import httpx
import pytest
from google.protobuf.message import DecodeError
from google.rpc import status_pb2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from otel_label_studio.config import Settings
from otel_label_studio.reading.mapping import Mapper
from otel_label_studio.reading.spanview import EventView, SpanView, from_otlp
from otel_label_studio.receiver.serve import ServeOptions, Sidecar
from tests.support.labelstudio_server import free_port
from tests.support.otlp_requests import llm_json

MAX_BODY = 256 * 1024
ALLOWED = {200, 400, 413, 415, 503}
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
span_fields = st.sampled_from(
    [
        "traceId",
        "spanId",
        "parentSpanId",
        "name",
        "kind",
        "attributes",
        "events",
        "status",
        "startTimeUnixNano",
    ]
)
otlp_like_json = st.fixed_dictionaries(
    {
        "resourceSpans": st.lists(
            st.fixed_dictionaries(
                {
                    "resource": st.fixed_dictionaries({"attributes": json_values}),
                    "scopeSpans": st.lists(
                        st.fixed_dictionaries(
                            {"spans": st.lists(st.dictionaries(span_fields, json_values), max_size=3)}
                        ),
                        max_size=2,
                    ),
                }
            ),
            max_size=2,
        )
    }
)
VALID = json.dumps(llm_json("fuzz")).encode()


@st.composite
def bodies(draw) -> tuple[bytes, dict[str, str]]:
    kind = draw(st.sampled_from(["protobuf", "json", "other"]))
    if kind == "protobuf":
        base = draw(st.sampled_from([b"", _valid_protobuf()]))
        raw = draw(st.one_of(st.just(base), st.binary(max_size=3000), _mutated(base)))
        content_type = "application/x-protobuf"
    elif kind == "json":
        raw = draw(
            st.one_of(
                otlp_like_json.map(lambda d: json.dumps(d).encode()),
                json_values.map(lambda d: json.dumps(d).encode()),
                _mutated(VALID),
                st.just(VALID),
            )
        )
        content_type = draw(st.sampled_from(["application/json", "application/json; charset=utf-8"]))
    else:
        raw = draw(st.binary(max_size=200))
        content_type = draw(
            st.sampled_from(["text/plain", "", "application/grpc", "application/x-protobuf;x"])
        )
    encoding = draw(st.sampled_from([None, "gzip", "deflate", "identity", "br"]))
    compress = draw(st.booleans())
    if compress and encoding == "gzip":
        raw = gzip.compress(raw)
    elif compress and encoding == "deflate":
        raw = zlib.compress(raw)
    headers = {"Content-Type": content_type} if content_type else {}
    if encoding:
        headers["Content-Encoding"] = encoding
    return raw, headers


def _valid_protobuf() -> bytes:
    from otel_label_studio.receiver.otlp import JSON, parse_request

    return parse_request(VALID, JSON).SerializeToString()


def _mutated(base: bytes):
    return st.tuples(st.integers(0, max(0, len(base) - 1)), st.binary(min_size=1, max_size=8)).map(
        lambda cut: base[: cut[0]] + cut[1] + base[cut[0] + len(cut[1]) :]
    )


@pytest.fixture(scope="module")
def receiver(tmp_path_factory):
    """serve in this process, with Label Studio unreachable: every accepted record waits in the spool."""
    options = ServeOptions(
        settings=Settings(url=f"http://127.0.0.1:{free_port()}", api_key="fuzz-key"),
        data_dir=str(tmp_path_factory.mktemp("fuzz")),
        http_port=0,
        grpc_port=0,
        max_body_bytes=MAX_BODY,
    )
    sidecar = Sidecar(options)
    sidecar.start()
    yield sidecar
    sidecar.stop()


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_the_http_endpoint_never_fails_on_what_senders_send(receiver):
    url = f"http://127.0.0.1:{receiver.http_port}/v1/traces"
    client = httpx.Client(timeout=30)
    seen: set[int] = set()
    before = rss_kib()

    @FUZZ
    @given(bodies())
    def post(case):
        body, headers = case
        response = client.post(url, content=body, headers=headers)
        seen.add(response.status_code)
        assert response.status_code in ALLOWED, (response.status_code, response.text[:300])
        kind = response.headers["content-type"]
        if response.status_code == 200:
            if kind == "application/json":
                json.loads(response.content)
            else:
                ExportTraceServiceResponse.FromString(response.content)
        elif kind == "application/json":
            assert {"code", "message"} <= response.json().keys()
        else:
            assert status_pb2.Status.FromString(response.content).message

    try:
        post()
    finally:
        client.close()
    assert {200, 400} <= seen  # the strategy reaches both sides
    grown_mib = (rss_kib() - before) / 1024
    assert grown_mib < 150, f"the process grew by {grown_mib:.0f} MiB over the fuzz run"
    assert httpx.get(f"http://127.0.0.1:{receiver.http_port}/healthz").status_code == 200


def test_huge_attributes_are_capped_or_taken(receiver):
    url = f"http://127.0.0.1:{receiver.http_port}/v1/traces"
    big = json.dumps(llm_json("fuzz", question="x" * (MAX_BODY // 2))).encode()
    assert httpx.post(url, content=big, headers={"Content-Type": "application/json"}).status_code == 200
    bigger = json.dumps(llm_json("fuzz", question="x" * MAX_BODY)).encode()
    assert httpx.post(url, content=bigger, headers={"Content-Type": "application/json"}).status_code == 413


# --- the mapping, directly ---------------------------------------------------------------------------------

attribute_values = st.one_of(
    st.text(max_size=200),
    st.integers(),
    st.floats(allow_nan=True),
    st.booleans(),
    st.lists(st.text(max_size=20), max_size=4).map(tuple),
    json_values.map(json.dumps),
    st.lists(json_values, max_size=4).map(json.dumps),
)
attribute_keys = st.sampled_from(
    [
        "gen_ai.input.messages",
        "gen_ai.output.messages",
        "gen_ai.system_instructions",
        "gen_ai.request.model",
        "gen_ai.response.model",
        "gen_ai.usage.input_tokens",
        "gen_ai.response.finish_reasons",
        "gen_ai.prompt.0.content",
        "gen_ai.prompt.0.role",
        "gen_ai.completion.0.content",
        "gen_ai.completion.0.tool_calls.0.name",
        "llm.input_messages.0.message.content",
        "llm.input_messages.0.message.role",
        "llm.output_messages.0.message.contents.0.message_content.text",
        "llm.invocation_parameters",
        "input.value",
        "output.value",
        "traceloop.association.properties.user",
    ]
)
claims = st.sampled_from(
    [
        {"gen_ai.operation.name": "chat"},
        {"gen_ai.operation.name": "text_completion"},
        {"llm.request.type": "chat"},
        {"llm.request.type": "completion"},
        {"openinference.span.kind": "LLM"},
    ]
)


@FUZZ
@given(claims, st.dictionaries(attribute_keys, attribute_values, max_size=8), st.booleans())
def test_the_mapping_never_raises_and_makes_text(claim, attributes, with_event):
    events = ()
    if with_event:
        events = (EventView("gen_ai.client.inference.operation.details", 1, dict(attributes)),)
    view = SpanView("a" * 32, "b" * 16, "Model.chat", {**attributes, **claim}, events=events)
    for include_errors in (False, True):
        result = Mapper(
            metadata_prefix="traceloop.association.properties", include_errors=include_errors
        ).map([view])
        assert result.spans == 1 and result.llm_spans == 1
        for record in result.records:
            assert all(isinstance(m.content, str) and isinstance(m.role, str) for m in record.messages)
            assert all(isinstance(output, str) for output in record.outputs)


@FUZZ
@given(st.binary(max_size=2000))
def test_any_protobuf_that_parses_maps_without_raising(raw):
    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(raw)
    except DecodeError:
        return
    views = list(from_otlp(request))
    Mapper(metadata_prefix="x", include_errors=True).map(views)
