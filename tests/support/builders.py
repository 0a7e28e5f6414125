"""LLM records as the mapping makes them, for tests of the spool, the worker and redaction."""

from __future__ import annotations

from otel_label_studio.reading.record import LLMRecord, Message


def record(n: int, trace: str = "a" * 32) -> LLMRecord:
    return LLMRecord(
        trace_id=trace,
        span_id=f"{n:016x}",
        operation="chat",
        dialect="genai",
        messages=[Message("system", "Be brief"), Message("user", f"question {n} café 😀")],
        outputs=[f"answer {n}"],
        request_model="gpt-x",
        usage={"input_tokens": 3},
        request_params={"temperature": 0.5},
        metadata={"user": "u1"},
        project="Other-%Y",
        truncated=True,
    )


def plain(n: int):
    item = record(n)
    item.project = None
    return item
