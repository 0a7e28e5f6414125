"""Spool files for the tests that fill or damage them: records big enough to need pages of their own,
a real spool with records in it, and a file overwritten with noise."""

from __future__ import annotations

import os

from otel_label_studio.reading.record import LLMRecord, Message
from otel_label_studio.store.spool import Spool


def big_record(n: int) -> LLMRecord:
    """A record that needs pages of its own (its output spills to overflow pages)."""
    return LLMRecord(
        trace_id="b" * 32,
        span_id=f"{n:016x}",
        operation="chat",
        dialect="genai",
        messages=[Message("user", f"question {n}")],
        outputs=[f"{n} " + "x" * 20_000],
    )


def overwrite(path: str) -> None:
    with open(path, "wb") as file:
        file.write(os.urandom(50_000))


def real_spool(directory) -> str:
    spool = Spool.in_directory(str(directory))
    spool.add([big_record(n) for n in range(30)])
    spool.close()
    return spool.path
