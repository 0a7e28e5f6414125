"""OTLP/HTTP bodies in, export requests out; responses and error bodies back. Pure: no sockets.

What the spec asks of a receiver and senders rely on: gzip (the Collector's default) and
deflate, a size cap measured *after* decompression and enforced while inflating (a gzip bomb
never grows past it in memory), hex ids in JSON (``json_format`` alone would read them as
base64), unknown JSON fields ignored, and answers in the request's own content type.

The size cap counts bytes, not objects: a few bytes on the wire can decode into hundreds in
memory. Before decoding, the objects a body would make are counted (a walk of the protobuf wire
format, a count of JSON's ``{ [ ,``) and a request over ``DECODE_BUDGET_BYTES`` or the span limit
is refused whole with 413, so memory is bounded by settings whatever the sender sends.
"""

from __future__ import annotations

import base64
import json
import zlib
from typing import Any, Callable, TypeVar

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor
from google.protobuf.message import DecodeError, Message
from google.rpc import code_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from ..config import default

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
CONTENT_TYPES = (PROTOBUF, JSON)

_ENCODINGS = {"gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}
_ID_LENGTHS = {"traceId": 16, "spanId": 8, "parentSpanId": 8}
_STEP = 1 << 20  # inflate at most this much per step


class OtlpError(Exception):
    """A request the receiver will not take: ``status`` is the HTTP code, ``code`` the google.rpc one."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message

    @property
    def code(self) -> int:
        return _RPC_CODES.get(self.status, code_pb2.UNKNOWN)


_RPC_CODES = {
    400: code_pb2.INVALID_ARGUMENT,
    401: code_pb2.UNAUTHENTICATED,
    404: code_pb2.NOT_FOUND,
    405: code_pb2.UNIMPLEMENTED,
    411: code_pb2.INVALID_ARGUMENT,
    413: code_pb2.RESOURCE_EXHAUSTED,
    415: code_pb2.INVALID_ARGUMENT,
    503: code_pb2.UNAVAILABLE,
}


def media_type(content_type: str | None) -> str:
    """``application/json; charset=utf-8`` -> ``application/json``."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def check_content_type(content_type: str | None) -> str:
    kind = media_type(content_type)
    if kind not in CONTENT_TYPES:
        raise OtlpError(415, f"unsupported content type {kind or '(none)'!r}: use {PROTOBUF} or {JSON}")
    return kind


def check_encoding(encoding: str | None) -> str | None:
    """The ``Content-Encoding`` to undo, or None for identity; unknown encodings are a 400."""
    value = (encoding or "").strip().lower()
    if value in ("", "identity"):
        return None
    if value not in _ENCODINGS:
        raise OtlpError(400, f"unsupported content encoding {value!r}: use gzip, deflate or none")
    return value


def inflate(body: bytes, encoding: str | None, max_bytes: int) -> bytes:
    """Undo the content encoding without ever holding more than ``max_bytes`` of output."""
    if encoding is None:
        if len(body) > max_bytes:
            raise _too_large(max_bytes)
        return body
    out = bytearray()
    data = body
    try:
        while True:
            inflater = zlib.decompressobj(_ENCODINGS[encoding])
            while data:
                budget = max_bytes + 1 - len(out)
                out += inflater.decompress(data, min(budget, _STEP))
                if len(out) > max_bytes:
                    raise _too_large(max_bytes)
                data = inflater.unconsumed_tail
                if inflater.eof:
                    break
            if not inflater.eof:
                raise OtlpError(400, f"truncated {encoding} body")
            data = inflater.unused_data
            if encoding != "gzip" or not data:  # gzip bodies may hold several members
                return bytes(out)
    except zlib.error as exc:
        raise OtlpError(400, f"body is not valid {encoding}: {exc}") from None


def _too_large(max_bytes: int) -> OtlpError:
    return OtlpError(413, f"request body is larger than {max_bytes} bytes after decompression")


def parse_request(
    body: bytes, kind: str, *, max_spans: int = default("max_spans_per_request")
) -> ExportTraceServiceRequest:
    """An ``ExportTraceServiceRequest`` from protobuf or OTLP/JSON bytes.

    Malformed input, and span or trace ids of the wrong length, are a 400. A request holding more
    than ``max_spans`` spans, or decoding into more objects than ``DECODE_BUDGET_BYTES`` allows,
    is a 413, found before the full parse allocates them.
    """
    request = parse_into(
        ExportTraceServiceRequest(),
        body,
        kind,
        prescan=lambda data: prescan(data, max_spans=max_spans),
        hex_ids=_hex_ids_to_base64,
    )
    _check_spans(request, max_spans)
    return request


_Request = TypeVar("_Request", bound=Message)


def parse_into(
    request: _Request,
    body: bytes,
    kind: str,
    *,
    prescan: Callable[[bytes], object],
    hex_ids: Callable[[dict[str, Any]], None],
) -> _Request:
    """Protobuf or OTLP/JSON bytes into an export request of either signal: 400 when malformed.
    ``prescan`` looks at a large protobuf body first (a 413 before the parse allocates it);
    ``hex_ids`` turns the signal's OTLP/JSON hex ids into what protobuf's JSON reader takes."""
    if kind == PROTOBUF:
        if len(body) > PROTOBUF_SCAN_ABOVE_BYTES:
            prescan(body)
        try:
            request.ParseFromString(body)
        except (DecodeError, RecursionError, ValueError) as exc:
            raise OtlpError(400, f"malformed protobuf: {exc}") from None
        return request
    _check_json_size(body)
    try:
        document = json.loads(body) if body.strip() else {}
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise OtlpError(400, f"malformed JSON: {exc}") from None
    if not isinstance(document, dict):
        raise OtlpError(400, "malformed OTLP/JSON: the body must be a JSON object")
    hex_ids(document)
    try:
        json_format.ParseDict(document, request, ignore_unknown_fields=True)
    except (json_format.ParseError, ValueError, TypeError, RecursionError) as exc:
        raise OtlpError(400, f"malformed OTLP/JSON: {exc}") from None
    return request


def _check_spans(request: ExportTraceServiceRequest, max_spans: int) -> None:
    """At most ``max_spans`` spans, with ids OTLP calls valid: 16-byte trace ids and 8-byte span
    ids, neither all zeros (an empty parent marks a root; a link names a span, so it needs both
    lengths, though all zeros there is allowed: the API records such a link when it carries
    attributes). Without this, two spans with empty or zero ids would be one span to deduplication.

    One span with an invalid id refuses the whole request (400 / INVALID_ARGUMENT naming the
    field and where it is), as a malformed body does: the SDKs never export such a span, so it
    comes from a broken sender, which a 400 shows in its own log; a partial success would drop
    the span in an answer the SDK exporters never read."""
    count = sum(len(scope_spans.spans) for rs in request.resource_spans for scope_spans in rs.scope_spans)
    if count > max_spans:
        raise _too_many_spans(max_spans)
    for r, resource_spans in enumerate(request.resource_spans):
        for s, scope_spans in enumerate(resource_spans.scope_spans):
            for i, span in enumerate(scope_spans.spans):
                trace_id, span_id = span.trace_id, span.span_id
                if (
                    len(trace_id) != 16
                    or len(span_id) != 8
                    or len(span.parent_span_id) not in (0, 8)
                    or trace_id == _ZERO_TRACE_ID
                    or span_id == _ZERO_SPAN_ID
                ):
                    where = f"resource_spans[{r}].scope_spans[{s}].spans[{i}] (span {span.name[:100]!r})"
                    _refuse_ids(where, trace_id, span_id, span.parent_span_id)
                if span.links:
                    for k, link in enumerate(span.links):
                        if len(link.trace_id) != 16 or len(link.span_id) != 8:
                            where = f"resource_spans[{r}].scope_spans[{s}].spans[{i}].links[{k}]"
                            _refuse_ids(where, link.trace_id, link.span_id)


_ZERO_TRACE_ID, _ZERO_SPAN_ID = bytes(16), bytes(8)


def _refuse_ids(where: str, trace_id: bytes, span_id: bytes, parent: bytes = b"") -> None:
    for field, value, sizes in (
        ("trace_id", trace_id, (16,)),
        ("span_id", span_id, (8,)),
        ("parent_span_id", parent, (0, 8)),
    ):
        if len(value) not in sizes:
            raise OtlpError(
                400, f"{where} has a {field} of {len(value)} bytes; OTLP ids are {sizes[-1]} bytes"
            )
    for field, value in (("trace_id", trace_id), ("span_id", span_id)):
        if not any(value):
            raise OtlpError(400, f"{where} has an all-zero {field}, which OTLP defines as invalid")


def _too_many_spans(max_spans: int) -> OtlpError:
    return OtlpError(
        413,
        f"the request holds more than {max_spans} spans: send smaller batches (e.g. the "
        "Collector's batch processor send_batch_max_size)",
    )


def _hex_ids_to_base64(document: dict[str, Any]) -> None:
    """OTLP/JSON writes ids as hex; protobuf's JSON reader expects base64. Rewrite them in place."""
    for resource_spans in _dicts(document.get("resourceSpans")):
        for scope_spans in _dicts(resource_spans.get("scopeSpans")):
            for span in _dicts(scope_spans.get("spans")):
                _fix_ids(span, "span")
                for link in _dicts(span.get("links")):
                    _fix_ids(link, "link")


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _fix_ids(holder: dict[str, Any], what: str) -> None:
    for key, size in _ID_LENGTHS.items():
        value = holder.get(key)
        if value is None or value == "":
            continue
        if not isinstance(value, str):
            raise OtlpError(400, f"{what} {key} must be a hex string, not {type(value).__name__}")
        try:
            raw = bytes.fromhex(value)
        except ValueError:
            raise OtlpError(400, f"{what} {key} {value[:40]!r} is not hex") from None
        if len(raw) != size:
            raise OtlpError(400, f"{what} {key} must be {size * 2} hex digits, not {len(value)}")
        holder[key] = base64.b64encode(raw).decode("ascii")


# --- what a request would decode into, counted before it is decoded ---------------------------------------

DECODE_BUDGET_BYTES = 256 * 1024 * 1024
"""Most memory the objects decoded from one request may take, as estimated before decoding.

The body cap counts bytes, not objects: an empty span is 2 bytes on the wire and about 180 bytes
once parsed, so 64 MiB of them (61 KB gzipped) would decode into gigabytes. With the default two
decode slots (``--max-concurrent-decodes``) two such requests stay well under 1 GiB,
bodies included. A request over it is a 413: the sender should send smaller batches."""

SPAN_COST_BYTES = 320
"""Estimated memory of one span once parsed and viewed (measured: about 180 B parsed in upb, and
the mapping's view of it), whatever it holds; its attributes are counted on their own."""

EVENT_COST_BYTES = 320
"""Estimated memory of one span event or link, parsed and viewed (events are materialised per span)."""

MESSAGE_COST_BYTES = 96
"""Estimated memory of any other nested message: a KeyValue, an AnyValue, an array, a list of
key-values, a resource, a scope (measured: 50 to 90 B parsed in upb, plus what reading it costs)."""

_WORST_COST_PER_WIRE_BYTE = max(SPAN_COST_BYTES, EVENT_COST_BYTES, MESSAGE_COST_BYTES) // 2

PROTOBUF_SCAN_ABOVE_BYTES = DECODE_BUDGET_BYTES // _WORST_COST_PER_WIRE_BYTE
"""Protobuf bodies up to this size (1.6 MiB) are parsed without the pre-scan: even if every 2 bytes
were an empty message of the costliest kind they could not pass ``DECODE_BUDGET_BYTES``. Their
span count is checked after the parse. Larger bodies are walked first (``prescan``), which
costs about 13 us per 2 KB LLM span on one core, against about 73 us per span for serve's whole
ingest (13,700 spans/s in bench/RESULTS.md); a request of 100 such spans (330 KB) is not walked."""

JSON_CONTAINER_COST_BYTES = 320
"""Estimated memory of one ``{`` or ``[`` in an OTLP/JSON body: the dict or list ``json.loads``
makes and the protobuf message ``ParseDict`` builds from it while both are held (measured: 141 B
for an empty ``{}``; an attribute's two-key dict alone is 184 B)."""

JSON_VALUE_COST_BYTES = 64
"""Estimated memory of one ``,``-separated JSON value (a string object is 50 B and up)."""

_MAX_DEPTH = 100  # protobuf's own recursion limit for Python: deeper is malformed either way


class _Kind:
    """One message type of the trace request, as the pre-scan sees it: its cost and its
    message-typed fields, by field number."""

    __slots__ = ("cost", "children", "is_span")

    def __init__(self, cost: int, is_span: bool):
        self.cost = cost
        self.is_span = is_span
        self.children: dict[int, _Kind] = {}


def _kinds(descriptor: Descriptor, made: dict[str, _Kind]) -> _Kind:
    """The pre-scan's view of ``descriptor`` and every message type it nests (read from the
    generated descriptors, so a new field in the OTLP protos is counted without a change here)."""
    known = made.get(descriptor.full_name)
    if known is not None:
        return known
    name = descriptor.full_name
    cost = {
        _SPAN: SPAN_COST_BYTES,
        f"{_SPAN}.Event": EVENT_COST_BYTES,
        f"{_SPAN}.Link": EVENT_COST_BYTES,
    }.get(name, MESSAGE_COST_BYTES)
    kind = made[name] = _Kind(cost, name == _SPAN)
    for field in descriptor.fields:
        if field.message_type is not None:
            kind.children[field.number] = _kinds(field.message_type, made)
    return kind


_SPAN = "opentelemetry.proto.trace.v1.Span"
_REQUEST_KIND = _kinds(ExportTraceServiceRequest.DESCRIPTOR, {})


class _Tally:
    __slots__ = ("budget", "max_spans", "cost", "spans")

    def __init__(self, budget: int, max_spans: int):
        self.budget = budget
        self.max_spans = max_spans
        self.cost = 0
        self.spans = 0


def prescan(body: bytes, *, max_spans: int, budget: int = DECODE_BUDGET_BYTES) -> tuple[int, int]:
    """Walk a protobuf ``ExportTraceServiceRequest`` without decoding it: (spans, estimated bytes).

    Reads only tags and lengths, skipping every scalar and string, and stops with a 413 as soon
    as the spans pass ``max_spans`` or the estimated memory passes ``budget``, so an amplifying
    body costs a bounded walk. Wire-format errors are a 400, as the parse would make them."""
    tally = _Tally(budget, max_spans)
    try:
        _walk(body, 0, len(body), _REQUEST_KIND, tally, 0, 0)
    except IndexError:
        raise OtlpError(400, "malformed protobuf: truncated message") from None
    return tally.spans, tally.cost


def _walk(data: bytes, pos: int, end: int, kind: _Kind, tally: _Tally, depth: int, group: int) -> int:
    """Walk one message between ``pos`` and ``end`` (or until the end of ``group``); where it ended."""
    if depth > _MAX_DEPTH:
        raise OtlpError(400, "malformed protobuf: messages nested too deeply")
    children = kind.children
    while pos < end:
        tag = data[pos]
        pos += 1
        if tag >= 0x80:
            tag, pos = _varint(data, pos, tag)
        wire = tag & 7
        if wire == 2:
            length = data[pos]
            pos += 1
            if length >= 0x80:
                length, pos = _varint(data, pos, length)
            stop = pos + length
            if stop > end:
                raise OtlpError(400, "malformed protobuf: a length runs past its message")
            child = children.get(tag >> 3)
            if child is not None:
                tally.cost += child.cost
                if child.is_span:
                    tally.spans += 1
                    if tally.spans > tally.max_spans:
                        raise _too_many_spans(tally.max_spans)
                if tally.cost > tally.budget:
                    raise _too_many_objects(tally.budget)
                if child.children and length and not _one_plain_field(data, pos, stop, child):
                    _walk(data, pos, stop, child, tally, depth + 1, 0)
            pos = stop
        elif wire == 0:
            while data[pos] >= 0x80:
                pos += 1
            pos += 1
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        elif wire == 3:
            pos = _walk(data, pos, end, _UNKNOWN, tally, depth + 1, tag >> 3)
        elif wire == 4 and group and tag >> 3 == group:
            return pos
        else:
            raise OtlpError(400, f"malformed protobuf: wire type {wire} at byte {pos}")
    if pos != end or group:
        raise OtlpError(400, "malformed protobuf: a field runs past its message")
    return pos


_UNKNOWN = _Kind(0, False)


def _one_plain_field(data: bytes, pos: int, stop: int, kind: _Kind) -> bool:
    """Whether the message between ``pos`` and ``stop`` is one length-delimited field that is not
    a message (an attribute's string value, the most common case): nothing nested to count."""
    tag = data[pos]
    if tag >= 0x80 or tag & 7 != 2 or tag >> 3 in kind.children:
        return False
    length = data[pos + 1]
    pos += 2
    if length >= 0x80:
        length, pos = _varint(data, pos, length)
    return pos + length == stop


def _varint(data: bytes, pos: int, first: int) -> tuple[int, int]:
    """The rest of a varint whose first byte (``first`` >= 0x80) was read before ``pos``."""
    value = first & 0x7F
    shift = 7
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise OtlpError(400, "malformed protobuf: a varint longer than 10 bytes")


def _too_many_objects(budget: int) -> OtlpError:
    return OtlpError(
        413,
        f"the request would decode into more than {budget // (1024 * 1024)} MiB of objects "
        "(too many spans, attributes, events or links): send smaller batches",
    )


def _check_json_size(body: bytes) -> None:
    """Refuse, before ``json.loads``, a body whose objects would pass ``DECODE_BUDGET_BYTES``.

    Counts ``{``, ``[`` and ``,`` at C speed (in strings too, so it overestimates text full of
    commas and braces; a 64 MiB body of prose has about 3 M commas, under the budget)."""
    containers = body.count(b"{") + body.count(b"[")
    estimate = containers * JSON_CONTAINER_COST_BYTES + body.count(b",") * JSON_VALUE_COST_BYTES
    if estimate > DECODE_BUDGET_BYTES:
        raise _too_many_objects(DECODE_BUDGET_BYTES)


def encode(message: Message, kind: str) -> bytes:
    """A message in the request's content type (an empty success is zero bytes in protobuf)."""
    if kind == JSON:
        return json.dumps(json_format.MessageToDict(message), separators=(",", ":")).encode()
    return message.SerializeToString()


def response_for(rejected: int, error_message: str) -> ExportTraceServiceResponse:
    response = ExportTraceServiceResponse()
    if rejected or error_message:
        response.partial_success.rejected_spans = rejected
        response.partial_success.error_message = error_message
    return response


def status_body(error: OtlpError, kind: str) -> bytes:
    """A ``google.rpc.Status`` error body, in protobuf or JSON as the request was."""
    return encode(status_pb2.Status(code=error.code, message=error.message), kind)
