"""Dialect adapters: each reads one wire format of LLM spans into an ``LLMRecord``.

The registry asks each adapter in turn whether it claims a span; the first that does maps it.
``claims`` looks at one or two attributes, so the chain, tool, HTTP and database spans that share
the pipeline are passed over cheaply. An adapter that fails on one span costs that span only.
"""

from __future__ import annotations

import logging
from typing import Callable, NamedTuple

from ..record import LLMRecord
from ..spanview import SpanView
from . import genai, legacy, openinference

_logger = logging.getLogger(__name__)


class Dialect(NamedTuple):
    name: str
    claims: Callable[[SpanView], bool]
    to_record: Callable[[SpanView, str], LLMRecord]


DIALECTS: tuple[Dialect, ...] = (
    Dialect(legacy.NAME, legacy.claims, legacy.to_record),
    Dialect(genai.NAME, genai.claims, genai.to_record),
    Dialect(openinference.NAME, openinference.claims, openinference.to_record),
)


def dialect_for(view: SpanView) -> Dialect | None:
    for dialect in DIALECTS:
        if dialect.claims(view):
            return dialect
    return None


def to_record(view: SpanView, metadata_prefix: str) -> LLMRecord | None:
    """The span's record, or None when no dialect claims it. Raises what the adapter raised."""
    dialect = dialect_for(view)
    if dialect is None:
        return None
    return dialect.to_record(view, metadata_prefix)
