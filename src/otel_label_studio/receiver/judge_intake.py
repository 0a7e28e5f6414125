"""Judge results from OTLP logs, whichever transport brought them, into the judge sink.

The logs counterpart of ``intake.py``: a thin adapter that decodes a logs request into judge
events (``otlp_logs``), hands them to the ``evaluations.JudgeSink`` (the join with their span's
task) and turns the outcome into the OTLP answer. The answer is given only after the sink took
the events; a sink that cannot take them now raises ``QueueFull``, which the transports turn into
503 / UNAVAILABLE with a retry delay (nothing is counted then: the sender's retry is).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, replace
from typing import Callable

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)

from ..reading.evaluations import JudgeSink
from .otlp_logs import JudgeResults, judge_results, parse_logs_request, response_for


@dataclass
class JudgeIntakeStats:
    """Counts of accepted logs requests (``/metrics``)."""

    requests: int = 0
    accepted: int = 0  # evaluation results the sink took
    rejected: int = 0  # evaluation records that could not be used (partial_success)
    ignored: int = 0  # log records that are not evaluation results


class JudgeIntake:
    """Thread-safe: both transports share one."""

    def __init__(self, sink: JudgeSink, clock: Callable[[], int] = time.time_ns):
        self._sink = sink
        self._clock = clock
        self._lock = threading.Lock()
        self._stats = JudgeIntakeStats()

    @property
    def stats(self) -> JudgeIntakeStats:
        with self._lock:
            return replace(self._stats)

    def decode(self, body: bytes, kind: str, *, max_records: int) -> JudgeResults:
        """A whole (inflated) body -> the judge results it holds; OtlpError when it is refused."""
        return self.read(parse_logs_request(body, kind, max_records=max_records))

    def read(self, request: ExportLogsServiceRequest) -> JudgeResults:
        return judge_results(request, self._clock())

    def commit(self, found: JudgeResults) -> ExportLogsServiceResponse:
        """Hand the results to the sink and count them; QueueFull (nothing counted) when it is full."""
        if found.events:
            self._sink.accept(found.events)
        with self._lock:
            self._stats.requests += 1
            self._stats.accepted += len(found.events)
            self._stats.rejected += found.rejected
            self._stats.ignored += found.ignored
        return response_for(found)
