"""What the queue and the run hold store as bytes: either kind of record, and held span views (pure).

A queued record is one of the review units' records (``AnyRecord``): an ``LLMRecord`` (one call;
``mode`` prompt or chat), a ``RunRecord`` (one agent run) or a ``PairRecord``. Which unit's bytes
they are, the units say (``modes.units.decode_record``).

A held span view (a piece of a run not yet whole) is no pickle: ``encode_view`` writes a version
byte (``VIEW_FORMAT``) and then JSON (orjson) of the view's fields: ids, name, times, status,
attributes, events, resource. Attribute values keep their type: text, bools, integers and finite
floats as JSON has them, sequences as lists (read back as tuples, as the SDK and OTLP give them),
and what JSON cannot hold as a one-key object: ``{"b": base64}`` bytes, ``{"d": {...}}`` a mapping
(an OTLP ``kvlist``), ``{"f": "nan" | "inf" | "-inf"}`` a float that is not finite, ``{"i": "…"}``
an integer beyond 64 bits; a mapping holding any of those is written ``[{...}]`` with every value so
tagged, one of plain values (nearly every span) as the object itself, for orjson to write in C.
Pieces held by a version before this format (a pickle, first byte ``0x80``) are still read, with
the same plain-values unpickler as records. On the test suite's 17-span ReAct run: 21 us to encode
and 24 us to decode a span (pickle: 13 and 20), 71 KB for the run (pickle: 43 KB; JSON escapes the
quotes of the JSON text LangChain's attributes hold).
"""

from __future__ import annotations

import base64
import io
import math
from dataclasses import dataclass
from typing import Any, Mapping

import orjson

from ..modes.pair_record import PairRecord
from ..modes.runs import RunRecord
from ..reading.record import LLMRecord, _PlainUnpickler
from ..reading.spanview import EventView, SpanView

AnyRecord = LLMRecord | RunRecord | PairRecord  # a pair: mode pairwise (``pair_record.py``)


VIEW_FORMAT = b"\x01"  # the first byte of a held view: its format's version
_PICKLE = 0x80  # a held view written before VIEW_FORMAT (pickle protocol 2+)
_INT64 = 1 << 63


def encode_view(view: SpanView) -> bytes:
    return VIEW_FORMAT + orjson.dumps(
        [
            view.trace_id,
            view.span_id,
            view.parent_span_id,
            view.name,
            view.start_time_unix_nano,
            view.end_time_unix_nano,
            view.status_code,
            view.status_message,
            _encode_map(view.attributes),
            [[e.name, e.time_unix_nano, _encode_map(e.attributes)] for e in view.events],
            _encode_map(view.resource),
            view.dropped_attributes_count,
        ]
    )


def decode_view(data: bytes) -> SpanView:
    """A held view from ``encode_view``'s bytes (or an older pickle); ValueError for anything else."""
    if data[:1] == VIEW_FORMAT:
        (trace_id, span_id, parent, name, start, end, code, message, attributes, events, resource,
         dropped) = orjson.loads(data[1:])  # fmt: skip
        return SpanView(
            trace_id,
            span_id,
            name,
            _decode_map(attributes),
            start,
            end,
            code,
            message,
            tuple(EventView(n, t, _decode_map(a)) for n, t, a in events),
            _decode_map(resource),
            dropped,
            parent,
        )
    if data[:1] and data[0] == _PICKLE:
        values = list(_PlainUnpickler(io.BytesIO(data)).load())
        values[8] = tuple(EventView(*event) for event in values[8])
        return SpanView(*values)
    raise ValueError(f"not a held span view (format byte {data[:1]!r})")


def _encode_map(values: Mapping[str, Any]) -> Any:
    """A mapping of plain scalars (and flat sequences of them: nearly every span) as a JSON object,
    for orjson to write as it is; any other as ``[{key: tagged value}]`` (``_encode``)."""
    for value in values.values():
        kind = type(value)
        if kind is str or kind is bool:
            continue
        if (kind is tuple or kind is list) and all(map(_is_plain, value)):
            continue
        if not _is_plain(value):
            return [{str(key): _encode(item) for key, item in values.items()}]
    return values if type(values) is dict else dict(values)


def _is_plain(value: Any) -> bool:
    kind = type(value)
    if kind is str or kind is bool:
        return True
    if kind is int:
        return -_INT64 <= value < _INT64
    return kind is float and math.isfinite(value)


def _encode(value: Any) -> Any:
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, int):
        return value if -_INT64 <= value < _INT64 else {"i": str(value)}
    if isinstance(value, float):
        return value if math.isfinite(value) else {"f": str(value)}
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"b": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, Mapping):
        return {"d": _encode_map(value)}
    if isinstance(value, (list, tuple)):
        return [_encode(item) for item in value]
    return str(value)  # not an OpenTelemetry attribute value: kept as its text


def _decode_map(values: dict[str, Any] | list[dict[str, Any]]) -> dict[str, Any]:
    if type(values) is list:  # tagged values (``_encode_map``)
        return {key: _decode(value) for key, value in values[0].items()}
    return {key: tuple(value) if type(value) is list else value for key, value in values.items()}  # type: ignore[union-attr]


def _decode(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_decode(item) for item in value)
    if isinstance(value, dict):
        ((tag, inner),) = value.items()
        if tag == "b":
            return base64.b64decode(inner)
        if tag == "d":
            return _decode_map(inner)
        if tag == "f":
            return float(inner)
        return int(inner)
    return value


FOREIGN = b""
"""The ``view`` of a held span that is no run span but the parent a run span hangs under (a web
request's span, say): only its id is kept, to say that parent came."""


@dataclass(frozen=True, slots=True)
class HeldPiece:
    """One span of a run not yet whole, as the hold keeps it."""

    span_id: str
    trace_id: str
    parent_span_id: str  # "" for a root, and for a ``FOREIGN`` span (nothing waits for its parent)
    top: bool  # it can be the run's top span (``runs.looks_like_top``)
    received_at: float  # wall clock: timers resume after a restart
    project: str | None
    view: bytes | SpanView  # ``encode_view`` in the spool; the view itself in memory; ``FOREIGN``
    # The span id of the record the piece went out in before, when its run was queued without its
    # top and taken back when the top came ("" when the review rules kept that run out).
    released_as: str | None = None
    completes: bool = False  # it is that top: its trace's released pieces are held again with it

    @property
    def foreign(self) -> bool:
        return self.view == FOREIGN


@dataclass(frozen=True, slots=True)
class OpenTrace:
    trace_id: str
    last_arrival: float
    has_top: bool
    waiting: frozenset[str] = frozenset()  # parents its pieces hang under that have not come


@dataclass(frozen=True, slots=True)
class KeptTrace:
    """Pieces of a trace queued as a run without its top and kept, so the top can still complete it."""

    trace_id: str
    released_at: float
    span_ids: frozenset[str]
    missing: frozenset[str]  # the parents they wait for: any of them coming completes the run
