"""Rebuild SDK spans from the recorded fixtures (``tests/fixtures/<dialect>/<scenario>.json``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def _attrs(raw: dict[str, Any]) -> dict[str, Any]:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()}


def load(dialect: str, scenario: str) -> list[ReadableSpan]:
    document = json.loads((FIXTURES / dialect / f"{scenario}.json").read_text(encoding="utf-8"))
    spans = []
    for raw in document["spans"]:
        context = SpanContext(
            int(raw["trace_id"], 16), int(raw["span_id"], 16), False, TraceFlags(TraceFlags.SAMPLED)
        )
        parent = (
            SpanContext(int(raw["trace_id"], 16), int(raw["parent_span_id"], 16), False)
            if raw.get("parent_span_id")
            else None
        )
        spans.append(
            ReadableSpan(
                name=raw["name"],
                context=context,
                parent=parent,
                resource=Resource.create(raw.get("resource") or {}),
                attributes=_attrs(raw["attributes"]),
                events=[
                    Event(e["name"], _attrs(e.get("attributes") or {}), e.get("time_unix_nano"))
                    for e in raw.get("events", [])
                ],
                kind=SpanKind[raw.get("kind", "INTERNAL")],
                status=Status(StatusCode[raw["status"]["code"]], raw["status"].get("description")),
                start_time=raw["start_time_unix_nano"],
                end_time=raw["end_time_unix_nano"],
            )
        )
    return spans
