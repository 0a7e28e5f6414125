"""A pair as the queue holds it (mode pairwise): keyed by its pair id, stored as plain JSON (pure).

The queue keys records by ``(trace_id, span_id)``; a pair's ``span_id`` there is its pair id
(``<span_id>#<generation>|<span_id>#<generation>``, sorted), so a pair is queued and delivered
once whichever side arrived first or whichever process formed it. The bytes start with
``MAGIC``, which no pickle starts with, so ``run_codec.decode_record`` tells them apart from the
other record kinds without trying to decode them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from ..reading.record import Message
from .pairs import Pair, Side

MAGIC = b"\x00pair1\n"


@dataclass(slots=True)
class PairRecord:
    """One pair waiting for delivery; the task is made from ``pair`` at delivery (``PairLayout.task``)."""

    pair: Pair
    project: str | None = None

    @property
    def trace_id(self) -> str:
        return self.pair.trace_id

    @property
    def span_id(self) -> str:
        """The queue's key: the pair id (see the module's docstring)."""
        return self.pair.pair_id

    @property
    def model(self) -> str | None:
        """Both sides' models, A first (for ``spool dead-letters``; never shown to a reviewer)."""
        models = (self.pair.a.model, self.pair.b.model)
        return " vs ".join(m or "unknown model" for m in models) if any(models) else None

    def to_bytes(self) -> bytes:
        pair = self.pair
        return MAGIC + orjson.dumps(
            {
                "trace_id": pair.trace_id,
                "kind": pair.kind,
                "operation": pair.operation,
                "messages": [[m.role, m.content] for m in pair.messages],
                "a": _side(pair.a),
                "b": _side(pair.b),
                "service_name": pair.service_name,
                "project": self.project,
            }
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> PairRecord:
        if not data.startswith(MAGIC):
            raise ValueError("not a queued pair")
        values = orjson.loads(data[len(MAGIC) :])
        pair = Pair(
            trace_id=str(values["trace_id"]),
            kind=str(values["kind"]),
            operation=str(values["operation"]),
            messages=tuple(Message(str(role), str(content)) for role, content in values["messages"]),
            a=Side(**values["a"]),
            b=Side(**values["b"]),
            service_name=values.get("service_name"),
            project=values.get("project"),
        )
        return cls(pair, values.get("project"))


def is_pair_bytes(data: bytes) -> bool:
    return data.startswith(MAGIC)


def _side(side: Side) -> dict[str, Any]:
    return {
        "span_id": side.span_id,
        "generation": side.generation,
        "answer": side.answer,
        "model": side.model,
        "provider": side.provider,
        "latency_ms": side.latency_ms,
        "start_time_unix_nano": side.start_time_unix_nano,
        "metadata": dict(side.metadata),
        "model_class": side.model_class,
    }
