"""One neutral view of a span, whichever way it reached us.

The in-process exporter gets SDK ``ReadableSpan`` objects; a receiver gets OTLP protobuf.
Both become a ``SpanView`` so the dialect adapters are written once.

Where review rules decide before mapping (``from_otlp(..., lazy=True)``), an OTLP span's
attributes are decoded when first read (``attributes``), not when the view is made: a span the
rules drop is decided on ``attribute(key)``, which decodes only the values asked for. Decoding
every attribute of a span with 2 KB prompts costs more than the rest of its view and its
decision together. Without rules every LLM span is mapped, so its view decodes them at once.
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

    def attribute(self, key: str) -> Any:
        """One span attribute's value, None when absent: ``attributes.get(key)``, without
        decoding the others where the view has not decoded them yet (dialect checks, rules)."""
        return self.attributes.get(key)


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


def _values(index: Mapping[str, KeyValue]) -> dict[str, Any]:
    """``_attributes`` of a span whose keys are indexed already (the same order, the same values)."""
    attributes: dict[str, Any] = {}
    for key, pair in index.items():
        value = pair.value
        text = value.string_value
        if text:
            attributes[key] = text
            continue
        kind = value.WhichOneof("value")
        if kind == "string_value":
            attributes[key] = text
        elif kind is None:
            attributes[key] = None
        elif kind == "array_value" or kind == "kvlist_value":
            attributes[key] = _any_value(value)
        else:
            attributes[key] = getattr(value, kind)
    return attributes


def _value(value: AnyValue) -> Any:
    """One attribute's value, as ``_attributes`` reads it."""
    text = value.string_value
    if text:
        return text
    kind = value.WhichOneof("value")
    if kind == "string_value" or kind is None:
        return text if kind else None
    if kind == "array_value" or kind == "kvlist_value":
        return _any_value(value)
    return getattr(value, kind)


class _OtlpSpanView(SpanView):
    """An OTLP span's view: its attributes stay protobuf ``KeyValue``s until read.

    ``attribute(key)`` indexes the keys once (key -> ``KeyValue``: a value's own protobuf wrapper
    is made only for the values read) and decodes only the value asked for: dialect checks
    and review rules read two to five values of a span they may drop. ``attributes`` decodes them
    all, once, from that index when there is one (the mapping reads most of them): the keys are
    read from protobuf once either way, in the same order, and a repeated key's last value wins.
    """

    __slots__ = ("_pairs", "_decoded", "_index")

    def __init__(
        self,
        trace_id: str,
        span_id: str,
        name: str,
        pairs: Sequence[KeyValue],
        start_time_unix_nano: int,
        end_time_unix_nano: int,
        status_code: str,
        status_message: str,
        events: Sequence[EventView],
        resource: Mapping[str, Any],
        dropped_attributes_count: int,
        parent_span_id: str,
    ):
        # Every field set here, positionally: the receiver makes one view per span.
        self.trace_id = trace_id
        self.span_id = span_id
        self.name = name
        self._pairs = pairs
        self._decoded: dict[str, Any] | None = None
        self._index: dict[str, KeyValue] | None = None
        self.start_time_unix_nano = start_time_unix_nano
        self.end_time_unix_nano = end_time_unix_nano
        self.status_code = status_code
        self.status_message = status_message
        self.events = events
        self.resource = resource
        self.dropped_attributes_count = dropped_attributes_count
        self.parent_span_id = parent_span_id

    @property
    def attributes(self) -> Mapping[str, Any]:
        decoded = self._decoded
        if decoded is None:
            index = self._index
            decoded = self._decoded = _attributes(self._pairs) if index is None else _values(index)
            self._pairs, self._index = (), None  # a view kept (runs held) keeps no request alive
        return decoded

    @attributes.setter
    def attributes(self, value: Mapping[str, Any]) -> None:
        self._decoded = dict(value)

    def attribute(self, key: str) -> Any:
        decoded = self._decoded
        if decoded is not None:
            return decoded.get(key)
        index = self._index
        if index is None:  # last one wins, as in ``_attributes``; a value is read when asked for
            index = self._index = {kv.key: kv for kv in self._pairs}
        pair = index.get(key)
        return None if pair is None else _value(pair.value)


_STATUS_NAMES = {0: STATUS_UNSET, 1: STATUS_OK, 2: STATUS_ERROR}


def from_otlp(request: ExportTraceServiceRequest, *, lazy: bool = False) -> Iterator[SpanView]:
    """View every span of an OTLP export request, with its resource's attributes (decoded once
    per resource). ``lazy``: each span's own attributes are decoded when first read, for spans
    review rules decide before mapping (most are dropped on a few reads); otherwise at once, as
    a mapped span reads nearly all of them anyway."""
    view = _OtlpSpanView if lazy else _plain_view
    for resource_spans in request.resource_spans:
        resource = _attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                status = span.status
                events = span.events
                # Positional: the receiver's hot path, and keywords cost a third of the call.
                yield view(
                    span.trace_id.hex(),
                    span.span_id.hex(),
                    span.name,
                    span.attributes,
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


def _plain_view(
    trace_id: str,
    span_id: str,
    name: str,
    pairs: Sequence[KeyValue],
    start_time_unix_nano: int,
    end_time_unix_nano: int,
    status_code: str,
    status_message: str,
    events: Sequence[EventView],
    resource: Mapping[str, Any],
    dropped_attributes_count: int,
    parent_span_id: str,
) -> SpanView:
    """A span view with its attributes decoded now (``from_otlp`` without ``lazy``)."""
    return SpanView(
        trace_id,
        span_id,
        name,
        _attributes(pairs),
        start_time_unix_nano,
        end_time_unix_nano,
        status_code,
        status_message,
        events,
        resource,
        dropped_attributes_count,
        parent_span_id,
    )
