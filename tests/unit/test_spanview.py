"""An OTLP-encoded span and the SDK span it came from give the same view and the same record."""

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

from otel_label_studio.mapping import Mapper
from otel_label_studio.spanview import from_otlp, from_readable_span
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
    assert all(v.resource["service.name"] == "otel-ls-tests" for v in decoded)


@pytest.mark.parametrize("dialect", ["legacy", "openinference"])
def test_recorded_error_spans_survive_otlp_encoding(dialect):
    spans = fixtures.load(dialect, "error")
    (record,) = _records(from_otlp(encode_spans(spans)))
    assert record.error == "ValueError: boom"
    assert _records(from_readable_span(s) for s in spans) == [record]
