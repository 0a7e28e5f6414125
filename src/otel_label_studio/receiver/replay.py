"""Spans saved to files, read back as export requests: what ``otel-label-studio replay`` backfills from.

Two formats, as the Collector's ``file`` exporter writes them:

- OTLP/JSON lines (``format: json``, the default): one ``TracesData`` object per line; a file
  holding a single pretty-printed object is read too;
- protobuf (``format: proto``): each message preceded by its length, 4 bytes big-endian; a file
  holding one bare ``ExportTraceServiceRequest`` (a captured request body) is read too.

Pure: bytes in, requests out (``read_files`` reads each file as ``userfiles`` does: a regular file
of at most 256 MiB). Errors name the file and the line or offset.
"""

from __future__ import annotations

import struct
from typing import Iterable, Iterator

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from ..userfiles import CAPTURE_LIMIT, read_bytes
from .otlp import JSON, OtlpError, parse_request

_LENGTH = struct.Struct(">I")


def read_requests(name: str, data: bytes) -> Iterator[ExportTraceServiceRequest]:
    """Every export request in one file's bytes; ValueError says where a file is not OTLP."""
    if data.lstrip()[:1] in (b"{", b""):
        yield from _json_requests(name, data)
    else:
        yield from _proto_requests(name, data)


def _json_requests(name: str, data: bytes) -> Iterator[ExportTraceServiceRequest]:
    lines = [line for line in data.splitlines() if line.strip()]
    if not lines:
        return
    try:
        first = parse_request(lines[0], JSON)
    except OtlpError:
        try:  # one pretty-printed object rather than JSON lines
            yield parse_request(data, JSON)
            return
        except OtlpError as exc:
            raise ValueError(f"{name}: not OTLP/JSON: {exc.message}") from None
    yield first
    for number, line in enumerate(lines[1:], start=2):
        try:
            yield parse_request(line, JSON)
        except OtlpError as exc:
            raise ValueError(f"{name}, line {number}: not OTLP/JSON: {exc.message}") from None


def _proto_requests(name: str, data: bytes) -> Iterator[ExportTraceServiceRequest]:
    framed = _framed(data)
    if framed is not None:
        for offset, chunk in framed:
            try:
                yield ExportTraceServiceRequest.FromString(chunk)
            except DecodeError as exc:
                raise ValueError(f"{name}, message at byte {offset}: not OTLP protobuf: {exc}") from None
        return
    try:
        yield ExportTraceServiceRequest.FromString(data)
    except DecodeError as exc:
        raise ValueError(f"{name}: neither OTLP/JSON nor OTLP protobuf: {exc}") from None


def _framed(data: bytes) -> list[tuple[int, bytes]] | None:
    """The length-prefixed messages, or None when the bytes are not framed that way."""
    chunks = []
    offset = 0
    while offset < len(data):
        if offset + _LENGTH.size > len(data):
            return None
        (length,) = _LENGTH.unpack_from(data, offset)
        start = offset + _LENGTH.size
        if length == 0 or start + length > len(data):
            return None
        chunks.append((start, data[start : start + length]))
        offset = start + length
    return chunks or None


def frame(requests: list[ExportTraceServiceRequest]) -> bytes:
    """The ``format: proto`` file for these requests (tests and tools write fixtures with it)."""
    return b"".join(_LENGTH.pack(len(body)) + body for body in (r.SerializeToString() for r in requests))


def read_files(names: Iterable[str]) -> list[ExportTraceServiceRequest]:
    """Every export request in the named capture files; ValueError says which file cannot be read
    or is not OTLP (``replay`` and ``rules check`` stop with it)."""
    requests: list[ExportTraceServiceRequest] = []
    for name in names:
        requests.extend(read_requests(name, read_bytes(name, what="capture file", limit=CAPTURE_LIMIT)))
    return requests
