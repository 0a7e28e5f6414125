"""One export request, whichever transport brought it: map its LLM spans and spool the records.

Shared by OTLP/HTTP and OTLP/gRPC so both answer alike. The answer is given only after the
spool committed (or raised ``SpoolFull``, which the transports turn into 503 / UNAVAILABLE).
Spans that are not LLM calls are accepted and ignored; LLM spans that cannot become tasks
(unreadable, or carrying no content) are reported as rejected in ``partial_success``, so the
sender's operator learns that content capture is off. Failed calls left out by choice
(``include_errors`` off) are not rejections.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from ..mapping import Mapper, MappingResult
from ..spanview import from_otlp
from ..spool import Spool
from .otlp import response_for

PROJECT_HEADER = "x-label-studio-project"
MAX_PROJECT_TITLE = 50  # Label Studio's limit on a project title


@dataclass
class IntakeStats:
    requests: int = 0
    spans_received: int = 0
    llm_spans: int = 0
    records_spooled: int = 0
    duplicates: int = 0
    rejected_spans: int = 0
    no_content: int = 0
    errors_skipped: int = 0


class Intake:
    def __init__(self, mapper: Mapper, spool: Spool, on_spooled: Callable[[], None] | None = None):
        self._mapper = mapper
        self._spool = spool
        self._on_spooled = on_spooled
        self._lock = threading.Lock()
        self.stats = IntakeStats()

    def accept(
        self, request: ExportTraceServiceRequest, project: str | None = None
    ) -> ExportTraceServiceResponse:
        """Spool the request's LLM records; ``project`` names the project of records whose
        resource did not name one. Raises SpoolFull when the spool cannot take them."""
        return self.spool(self.map(request, project))

    def map(self, request: ExportTraceServiceRequest, project: str | None = None) -> MappingResult:
        """The request's records, ready to spool: the caller may drop the request afterwards."""
        result = self._mapper.map(from_otlp(request))
        if project:
            for record in result.records:
                if not record.project:
                    record.project = project
        return result

    def spool(self, result: MappingResult) -> ExportTraceServiceResponse:
        """Commit mapped records and count them; raises SpoolFull (nothing counted then)."""
        added = self._spool.add(result.records)  # may raise SpoolFull: nothing counted then
        with self._lock:
            stats = self.stats
            stats.requests += 1
            stats.spans_received += result.spans
            stats.llm_spans += result.llm_spans
            stats.records_spooled += added.added
            stats.duplicates += added.duplicates
            stats.rejected_spans += result.unreadable + result.no_content
            stats.no_content += result.no_content
            stats.errors_skipped += result.errors_skipped
        if added.added and self._on_spooled is not None:
            self._on_spooled()
        return response_for(*rejection(result))


def rejection(result: MappingResult) -> tuple[int, str]:
    """How many LLM spans could not become tasks, and why, for ``partial_success``."""
    reasons = []
    if result.unreadable:
        shown = "; ".join(result.problems[:3])
        more = f" (and {result.unreadable - 3} more)" if result.unreadable > 3 else ""
        reasons.append(f"{result.unreadable} LLM spans could not be read: {shown}{more}")
    if result.no_content:
        reasons.append(
            f"{result.no_content} LLM spans carry no prompt or response to label "
            "(is content capture off, e.g. TRACELOOP_TRACE_CONTENT=false?)"
        )
    return result.unreadable + result.no_content, "; ".join(reasons)


def project_from_header(value: str | None) -> str | None:
    """The project a request names in ``x-label-studio-project``; ValueError when unusable."""
    if value is None:
        return None
    title = value.strip()
    if not title:
        return None
    if len(title) > MAX_PROJECT_TITLE:
        raise ValueError(
            f"{PROJECT_HEADER} is longer than Label Studio's {MAX_PROJECT_TITLE}-character title limit"
        )
    return title
