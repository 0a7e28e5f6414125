"""OTLP trace requests as senders make them: protobuf messages and OTLP/JSON documents."""

from __future__ import annotations

import json
import uuid

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource as ResourceProto
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from otel_label_studio.receiver.otlp import JSON, parse_request

PROTOBUF = {"Content-Type": "application/x-protobuf"}


def attribute(key: str, value: str) -> KeyValue:
    return KeyValue(key=key, value=AnyValue(string_value=value))


def llm_spans(questions: list[str]) -> ExportTraceServiceRequest:
    """GenAI chat spans, one per question, each with fresh ids."""
    spans = []
    for question in questions:
        spans.append(
            Span(
                trace_id=uuid.uuid4().bytes,
                span_id=uuid.uuid4().bytes[:8],
                name="ChatFake.chat",
                start_time_unix_nano=1_700_000_000_000_000_000,
                end_time_unix_nano=1_700_000_000_100_000_000,
                attributes=[
                    attribute("gen_ai.operation.name", "chat"),
                    attribute(
                        "gen_ai.input.messages",
                        json.dumps([{"role": "user", "parts": [{"type": "text", "content": question}]}]),
                    ),
                    attribute(
                        "gen_ai.output.messages",
                        json.dumps([{"role": "assistant", "parts": [{"type": "text", "content": "ok"}]}]),
                    ),
                ],
            )
        )
    resource = ResourceProto(attributes=[attribute("service.name", "fault-tests")])
    return ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(resource=resource, scope_spans=[ScopeSpans(spans=spans)])]
    )


def span_ids(request: ExportTraceServiceRequest) -> set[str]:
    return {s.span_id.hex() for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans}


def llm_request(
    title: str | None = None,
    *,
    trace_id: str | None = None,
    span_id: str | None = None,
    question: str = "What is OTLP?",
    answer: str = "A protocol.",
) -> ExportTraceServiceRequest:
    """One GenAI chat span as OTLP protobuf, routed by resource attribute when ``title`` is given."""
    document = llm_json(title, trace_id=trace_id, span_id=span_id, question=question, answer=answer)
    return parse_request(json.dumps(document).encode(), JSON)


def llm_json(
    title: str | None = None,
    *,
    trace_id: str | None = None,
    span_id: str | None = None,
    question: str = "What is OTLP?",
    answer: str = "A protocol.",
    content: bool = True,
) -> dict:
    def attr(key: str, value: str) -> dict:
        return {"key": key, "value": {"stringValue": value}}

    attributes = [attr("gen_ai.operation.name", "chat"), attr("gen_ai.request.model", "fake-model")]
    if content:
        attributes += [
            attr(
                "gen_ai.input.messages",
                json.dumps([{"role": "user", "parts": [{"type": "text", "content": question}]}]),
            ),
            attr(
                "gen_ai.output.messages",
                json.dumps([{"role": "assistant", "parts": [{"type": "text", "content": answer}]}]),
            ),
        ]
    resource = [attr("service.name", "json-sender")]
    if title:
        resource.append(attr("label_studio.project", title))
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": resource},
                "scopeSpans": [
                    {
                        "scope": {"name": "test"},
                        "spans": [
                            {
                                "traceId": trace_id or uuid.uuid4().hex.upper(),
                                "spanId": span_id or uuid.uuid4().hex[:16].upper(),
                                "name": "ChatFake.chat",
                                "kind": 3,
                                "startTimeUnixNano": "1700000000000000000",
                                "endTimeUnixNano": 1700000000250000000,
                                "attributes": attributes,
                            }
                        ],
                    }
                ],
            }
        ]
    }


def spec_example(
    trace_id: str = "5B8EFFF798038103D269B633813FC60C", span_id: str = "EEE19B7EC3C1B174"
) -> dict:
    """An OTLP/JSON request shaped like opentelemetry-proto's examples/trace.json: upper-case hex ids,
    int64 times as numbers, the span kind as an integer, scope attributes."""
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "my.service"}}]},
                "scopeSpans": [
                    {
                        "scope": {
                            "name": "my.library",
                            "version": "1.0.0",
                            "attributes": [{"key": "my.scope.attribute", "value": {"stringValue": "scope"}}],
                        },
                        "spans": [
                            {
                                "traceId": trace_id,
                                "spanId": span_id,
                                "parentSpanId": "EEE19B7EC3C1B173",
                                "name": "I'm a server span",
                                "startTimeUnixNano": 1544712660000000000,
                                "endTimeUnixNano": "1544712661000000000",
                                "kind": 2,
                                "attributes": [
                                    {"key": "my.span.attr", "value": {"stringValue": "some value"}}
                                ],
                            }
                        ],
                    }
                ],
            }
        ]
    }
