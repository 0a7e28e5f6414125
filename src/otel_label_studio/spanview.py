"""One neutral view of a span, whichever way it reached us.

The in-process exporter gets SDK ``ReadableSpan`` objects; the receiver gets OTLP protobuf.
Both become a ``SpanView`` so the dialect adapters are written once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from opentelemetry.sdk.trace import ReadableSpan

STATUS_UNSET = "UNSET"
STATUS_OK = "OK"
STATUS_ERROR = "ERROR"


@dataclass(frozen=True, slots=True)
class EventView:
    name: str
    time_unix_nano: int
    attributes: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class SpanView:
    """A span as plain data: ids in lowercase hex, attributes as a mapping."""

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


def from_readable_span(span: ReadableSpan) -> SpanView:
    """View an SDK span without copying its attributes."""
    context = span.context
    status = span.status
    resource = span.resource
    return SpanView(
        trace_id=format(context.trace_id, "032x") if context else "0" * 32,
        span_id=format(context.span_id, "016x") if context else "0" * 16,
        name=span.name,
        attributes=span.attributes or {},
        start_time_unix_nano=span.start_time or 0,
        end_time_unix_nano=span.end_time or 0,
        status_code=status.status_code.name if status is not None else STATUS_UNSET,
        status_message=(status.description or "") if status is not None else "",
        events=tuple(
            EventView(event.name, event.timestamp or 0, event.attributes or {}) for event in span.events
        ),
        resource=resource.attributes if resource is not None else {},
        dropped_attributes_count=span.dropped_attributes,
    )
