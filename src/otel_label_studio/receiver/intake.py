"""One export request, whichever transport brought it, onto the ingest path.

Shared by OTLP/HTTP and OTLP/gRPC so both answer alike: a thin adapter over ``Ingest`` that
turns a request into span views and the mapping's outcome into the OTLP answer. The answer is
given only after the queue committed (or raised ``QueueFull``, which the transports turn into
503 / UNAVAILABLE; nothing is counted then, the sender's retry is). Spans that are not LLM
calls are accepted and ignored; LLM spans that cannot become tasks (unreadable, or carrying no
content) are reported as rejected in ``partial_success``, so the sender's operator learns that
content capture is off. Failed calls left out by choice (``include_errors`` off) are not
rejections.
"""

from __future__ import annotations

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from ..ingest import Ingest, IngestStats
from ..reading.mapping import MappingResult
from ..reading.spanview import from_otlp
from .otlp import response_for

PROJECT_HEADER = "x-label-studio-project"
MAX_PROJECT_TITLE = 50  # Label Studio's limit on a project title


class Intake:
    def __init__(self, ingest: Ingest):
        self._ingest = ingest

    @property
    def stats(self) -> IngestStats:
        return self._ingest.stats

    def accept(
        self, request: ExportTraceServiceRequest, project: str | None = None
    ) -> ExportTraceServiceResponse:
        """Queue the request's LLM records; ``project`` names the project of records whose
        resource did not name one. Raises QueueFull when the queue cannot take them."""
        return self.spool(self.map(request, project))

    def map(self, request: ExportTraceServiceRequest, project: str | None = None) -> MappingResult:
        """The request's records, ready to queue: the caller may drop the request afterwards."""
        lazy = self._ingest.gate is not None  # rules decide first: views decode what they read
        return self._ingest.map(from_otlp(request, lazy=lazy), project)

    def spool(self, result: MappingResult) -> ExportTraceServiceResponse:
        """Commit mapped records and count them; raises QueueFull (nothing counted then)."""
        self._ingest.enqueue(result)
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
