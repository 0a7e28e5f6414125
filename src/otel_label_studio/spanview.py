"""One neutral view of a span, whichever way it reached us.

The in-process exporter gets SDK ``ReadableSpan`` objects; a receiver gets OTLP protobuf.
Both become a ``SpanView`` so the dialect adapters are written once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Mapping, Sequence

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.sdk.trace import ReadableSpan

STATUS_UNSET = "UNSET"
STATUS_OK = "OK"
STATUS_ERROR = "ERROR"


@dataclass(frozen=True, slots=True)
class EventView:
    name: str
    time_unix_nano: int
    attributes: Mapping[str, Any]


@dataclass(slots=True)  # not frozen: a frozen dataclass's __init__ costs a setattr call per field
class SpanView:
    """A span as plain data: ids in lowercase hex, attributes as a mapping. Read, never changed."""

    trace_id: str
    span_id: str
    name: str
    attributes: Mapping[str, Any]
    start_time_unix_nano: int = 0
    end_time_unix_nano: int = 0
    status_code: str = STATUS_UNSET
    status_message: str = ""
    events: Sequence[EventView] = ()
    resource: Mapping[str, Any] = field(default_factory=dict)
    dropped_attributes_count: int = 0
    parent_span_id: str = ""  # lowercase hex; empty for a trace's root span


def from_readable_span(span: ReadableSpan) -> SpanView:
    """View an SDK span. Its attributes are copied into a plain dict once: the SDK's
    ``BoundedAttributes`` answers every read through Python-level ``Mapping`` methods, and a
    dialect reader makes a few dozen reads per span, so the copy pays for itself twice over."""
    context = span.context
    status = span.status
    resource = span.resource
    return SpanView(
        trace_id=format(context.trace_id, "032x") if context else "0" * 32,
        span_id=format(context.span_id, "016x") if context else "0" * 16,
        name=span.name,
        attributes=dict(span.attributes) if span.attributes else {},
        start_time_unix_nano=span.start_time or 0,
        end_time_unix_nano=span.end_time or 0,
        status_code=status.status_code.name if status is not None else STATUS_UNSET,
        status_message=(status.description or "") if status is not None else "",
        events=tuple(
            EventView(event.name, event.timestamp or 0, event.attributes or {}) for event in span.events
        ),
        resource=resource.attributes if resource is not None else {},
        dropped_attributes_count=span.dropped_attributes,
        parent_span_id=format(span.parent.span_id, "016x") if span.parent else "",
    )


def _any_value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return tuple(_any_value(v) for v in value.array_value.values)
    if kind == "kvlist_value":
        return {kv.key: _any_value(kv.value) for kv in value.kvlist_value.values}
    return getattr(value, kind)


def _attributes(pairs: Iterable[KeyValue]) -> dict[str, Any]:
    # The receiver's hot path: strings (nearly every LLM attribute) are read inline.
    attributes: dict[str, Any] = {}
    for kv in pairs:
        value = kv.value
        text = value.string_value
        if text:  # a non-empty string is set, whatever else could be
            attributes[kv.key] = text
            continue
        kind = value.WhichOneof("value")
        if kind == "string_value":
            attributes[kv.key] = text
        elif kind is None:
            attributes[kv.key] = None
        elif kind == "array_value" or kind == "kvlist_value":
            attributes[kv.key] = _any_value(value)
        else:
            attributes[kv.key] = getattr(value, kind)
    return attributes


_STATUS_NAMES = {0: STATUS_UNSET, 1: STATUS_OK, 2: STATUS_ERROR}


def from_otlp(request: ExportTraceServiceRequest) -> Iterator[SpanView]:
    """View every span of an OTLP export request, with its resource's attributes."""
    for resource_spans in request.resource_spans:
        resource = _attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                status = span.status
                events = span.events
                # Positional: the receiver's hot path, and keywords cost a third of the call.
                yield SpanView(
                    span.trace_id.hex(),
                    span.span_id.hex(),
                    span.name,
                    _attributes(span.attributes),
                    span.start_time_unix_nano,
                    span.end_time_unix_nano,
                    _STATUS_NAMES.get(status.code, STATUS_UNSET),
                    status.message,
                    tuple(EventView(e.name, e.time_unix_nano, _attributes(e.attributes)) for e in events)
                    if events
                    else (),
                    resource,
                    span.dropped_attributes_count,
                    span.parent_span_id.hex(),
                )
