"""What the queue and the run hold store as bytes: either kind of record, and held span views (pure).

A queued record is an ``LLMRecord`` (one call; ``mode`` prompt or chat) or a ``RunRecord`` (one
agent run; ``mode`` agent). Both pickle plain values only (a tuple, a dict): ``decode_record`` tells
them apart by that shape and refuses anything but plain values, so a spool file never runs code.
A held span view (a piece of a run not yet whole) is pickled the same way.
"""

from __future__ import annotations

import io
import pickle
from dataclasses import dataclass

from .pair_record import PairRecord, is_pair_bytes
from .record import LLMRecord, _PlainUnpickler
from .runs import RunRecord
from .spanview import EventView, SpanView

AnyRecord = LLMRecord | RunRecord | PairRecord  # a pair: mode pairwise (``pair_record.py``)


def decode_record(data: bytes) -> AnyRecord:
    """A queued record, of either kind, from its bytes: told apart by the pickle's first opcode after
    its header (and frame), ``}`` (an empty dict, filled) for a run; no second unpickling."""
    if is_pair_bytes(data):  # mode pairwise: not a pickle (``pair_record.MAGIC``)
        return PairRecord.from_bytes(data)
    first = 11 if data[2:3] == _FRAME else 2
    if data[first : first + 1] == _EMPTY_DICT:
        return RunRecord.from_bytes(data)
    return LLMRecord.from_bytes(data)


_FRAME = pickle.FRAME
_EMPTY_DICT = pickle.EMPTY_DICT


def encode_view(view: SpanView) -> bytes:
    return pickle.dumps(
        (
            view.trace_id,
            view.span_id,
            view.name,
            dict(view.attributes),
            view.start_time_unix_nano,
            view.end_time_unix_nano,
            view.status_code,
            view.status_message,
            [(e.name, e.time_unix_nano, dict(e.attributes)) for e in view.events],
            dict(view.resource),
            view.dropped_attributes_count,
            view.parent_span_id,
        ),
        protocol=5,
    )


def decode_view(data: bytes) -> SpanView:
    values = list(_PlainUnpickler(io.BytesIO(data)).load())
    values[8] = tuple(EventView(*event) for event in values[8])
    return SpanView(*values)


@dataclass(frozen=True, slots=True)
class HeldPiece:
    """One span of a run not yet whole, as the hold keeps it."""

    span_id: str
    trace_id: str
    parent_span_id: str
    top: bool  # it can be the run's top span (``runs.looks_like_top``)
    received_at: float  # wall clock: timers resume after a restart
    project: str | None
    view: bytes | SpanView  # ``encode_view`` in the spool; the view itself in memory


@dataclass(frozen=True, slots=True)
class OpenTrace:
    trace_id: str
    last_arrival: float
    has_top: bool
