"""An OTLP-encoded span and the SDK span it came from give the same view and the same record."""

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from otel_label_studio.reading.mapping import Mapper
from otel_label_studio.reading.spanview import from_otlp, from_readable_span
from tests.support import fixtures, scenarios

PREFIX = "traceloop.association.properties"


def _records(views):
    return Mapper(metadata_prefix=PREFIX, include_errors=True).map(views).records


@pytest.mark.parametrize("name", ["tool_call", "chain", "n2"])
def test_live_spans_survive_otlp_encoding(captured, name):
    scenarios.SCENARIOS[name]()
    spans = captured.get_finished_spans()
    decoded = list(from_otlp(encode_spans(spans)))
    direct = [from_readable_span(s) for s in spans]
    assert sorted(v.span_id for v in decoded) == sorted(v.span_id for v in direct)
    assert _records(decoded) == _records(direct)
    assert _records(from_otlp(encode_spans(spans), lazy=True)) == _records(direct)
    assert all(v.resource["service.name"] == "otel-ls-tests" for v in decoded)


@pytest.mark.parametrize("dialect", ["legacy", "openinference"])
def test_recorded_error_spans_survive_otlp_encoding(dialect):
    spans = fixtures.load(dialect, "error")
    (record,) = _records(from_otlp(encode_spans(spans)))
    assert record.error == "ValueError: boom"
    assert _records(from_readable_span(s) for s in spans) == [record]


def _every_kind_of_value() -> ExportTraceServiceRequest:
    values = {
        "text": AnyValue(string_value="chat"),
        "empty": AnyValue(string_value=""),
        "unset": AnyValue(),
        "count": AnyValue(int_value=42),
        "ratio": AnyValue(double_value=0.5),
        "flag": AnyValue(bool_value=False),
        "raw": AnyValue(bytes_value=b"\x00\x01"),
        "list": AnyValue(array_value=ArrayValue(values=[AnyValue(string_value="a"), AnyValue(int_value=1)])),
        "map": AnyValue(kvlist_value=KeyValueList(values=[KeyValue(key="k", value=AnyValue(int_value=2))])),
    }
    pairs = [KeyValue(key=key, value=value) for key, value in values.items()]
    pairs.append(KeyValue(key="count", value=AnyValue(int_value=43)))  # a repeated key: the last one wins
    span = Span(trace_id=b"\x01" * 16, span_id=b"\x02" * 8, name="s", attributes=pairs)
    return ExportTraceServiceRequest(resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=[span])])])


def test_an_otlp_views_single_reads_agree_with_its_attributes_decoded_whole():
    keys = ["text", "empty", "unset", "count", "ratio", "flag", "raw", "list", "map", "absent"]
    (lazy,) = from_otlp(_every_kind_of_value(), lazy=True)
    read_one_by_one = {key: lazy.attribute(key) for key in keys}  # before anything decodes them all
    (whole,) = from_otlp(_every_kind_of_value(), lazy=True)
    decoded = dict(whole.attributes)
    assert read_one_by_one == {key: decoded.get(key) for key in keys}
    assert read_one_by_one["count"] == 43 and read_one_by_one["list"] == ("a", 1)
    assert read_one_by_one["map"] == {"k": 2} and read_one_by_one["empty"] == ""
    assert lazy.attributes == decoded  # decoding after single reads gives the same mapping
    assert {key: lazy.attribute(key) for key in keys} == read_one_by_one
    assert lazy == whole
    (eager,) = from_otlp(_every_kind_of_value())
    assert eager.attributes == decoded and {key: eager.attribute(key) for key in keys} == read_one_by_one
