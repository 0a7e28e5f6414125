"""Span views to LLM records: the pure middle of the bridge (no I/O).

Decides which spans become tasks: LLM and chat spans with something to label. A span whose
content was not recorded (``TRACELOOP_TRACE_CONTENT=false``), a failed call (unless errors are
wanted as tasks) and a span an adapter cannot read are counted and skipped; none of them fails
the batch.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Iterable

from . import dialects
from .record import LLMRecord
from .redact import Redactor
from .spanview import SpanView

_logger = logging.getLogger(__name__)


@dataclass
class MappingResult:
    records: list[LLMRecord] = field(default_factory=list)
    spans: int = 0
    llm_spans: int = 0
    no_content: int = 0  # LLM spans with nothing to label
    errors_skipped: int = 0  # failed calls, not wanted as tasks
    unreadable: int = 0  # an adapter failed on the span
    described_twice: int = 0  # LLM spans dropped: another instrumentation's span described the call
    problems: list[str] = field(default_factory=list)  # one line per unreadable span
    admitted: list[Any] = field(default_factory=list)  # review rules: (Decision, record) of each record
    held: list[Any] = field(default_factory=list)  # mode agent: run pieces to hold (``assembly.py``)
    offers: list[Any] = field(default_factory=list)  # review budget: (rule or None, record) to offer


class Mapper:
    """Holds the options and the warn-once state; ``map`` itself is pure data in, data out."""

    def __init__(self, *, metadata_prefix: str, include_errors: bool, redactor: Redactor | None = None):
        self._metadata_prefix = metadata_prefix
        self._include_errors = include_errors
        self._redactor = redactor or Redactor()
        self._warned_inputs_missing = False

    def map(self, views: Iterable[SpanView]) -> MappingResult:
        result = MappingResult()
        for view in views:
            result.spans += 1
            dialect = dialects.dialect_for(view)
            if dialect is None:
                continue
            result.llm_spans += 1
            record = self.map_llm(view, dialect, result, self._include_errors)
            if record is not None:
                result.records.append(record)
        return result

    def map_llm(
        self, view: SpanView, dialect: dialects.Dialect, result: MappingResult, include_errors: bool
    ) -> LLMRecord | None:
        """One LLM span's record, redacted, or None (counted in ``result``); ``include_errors``
        for this span (review rules decide it per span)."""
        try:
            record = dialect.to_record(view, self._metadata_prefix)
        except Exception as exc:  # one bad span costs that span only
            result.unreadable += 1
            problem = f"span {view.span_id} ({dialect.name}): {type(exc).__name__}: {exc}"
            result.problems.append(problem)
            _logger.warning("Skipping an LLM span the %s reader could not read: %s", dialect.name, problem)
            return None
        if self._keep(record, result, include_errors):
            return self._redactor.record(record)
        return None

    @property
    def include_errors(self) -> bool:
        return self._include_errors

    @property
    def metadata_prefix(self) -> str:
        return self._metadata_prefix

    def _keep(self, record: LLMRecord, result: MappingResult, include_errors: bool) -> bool:
        if record.error and not record.outputs:
            if include_errors:
                return True
            result.errors_skipped += 1
            return False
        if not record.has_content:
            result.no_content += 1
            return False
        if record.outputs and not record.messages:
            result.no_content += 1
            if not self._warned_inputs_missing:
                self._warned_inputs_missing = True
                _logger.warning(
                    "LLM spans carry output but no input messages; no task is made from them. "
                    "If the instrumentation runs with use_attributes=False, inputs go to log events, "
                    "which span export does not see: keep use_attributes=True."
                )
            return False
        return True
