"""OTLP/HTTP bodies in, export requests out; responses and error bodies back. Pure: no sockets.

What the spec asks of a receiver and senders rely on: gzip (the Collector's default) and
deflate, a size cap measured *after* decompression and enforced while inflating (a gzip bomb
never grows past it in memory), hex ids in JSON (``json_format`` alone would read them as
base64), unknown JSON fields ignored, and answers in the request's own content type.
"""

from __future__ import annotations

import base64
import json
import zlib
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from google.rpc import code_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from .limits import DEFAULT_MAX_SPANS_PER_REQUEST

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
CONTENT_TYPES = (PROTOBUF, JSON)
DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024  # the spec's recommended cap

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
    body: bytes, kind: str, *, max_spans: int = DEFAULT_MAX_SPANS_PER_REQUEST
) -> ExportTraceServiceRequest:
    """An ``ExportTraceServiceRequest`` from protobuf or OTLP/JSON bytes; malformed input is a 400,
    more than ``max_spans`` spans a 413 (not enforced yet)."""
    request = ExportTraceServiceRequest()
    if kind == PROTOBUF:
        try:
            request.ParseFromString(body)
        except (DecodeError, RecursionError, ValueError) as exc:
            raise OtlpError(400, f"malformed protobuf: {exc}") from None
        return request
    try:
        document = json.loads(body) if body.strip() else {}
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise OtlpError(400, f"malformed JSON: {exc}") from None
    if not isinstance(document, dict):
        raise OtlpError(400, "malformed OTLP/JSON: the body must be a JSON object")
    _hex_ids_to_base64(document)
    try:
        json_format.ParseDict(document, request, ignore_unknown_fields=True)
    except (json_format.ParseError, ValueError, TypeError, RecursionError) as exc:
        raise OtlpError(400, f"malformed OTLP/JSON: {exc}") from None
    return request


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
