"""``/metrics`` in the Prometheus text format (0.0.4), by hand: a dozen series need no library."""

from __future__ import annotations

from typing import Iterable

from ..assembly import RunStats
from ..ingest import IngestStats
from ..worker import LATENCY_BUCKETS, WorkerStats

PREFIX = "otel_label_studio_"


def render(
    intake: IngestStats,
    worker: WorkerStats,
    *,
    queue_depth: int,
    dead_letters: int,
    delivery_paused: bool,
    http_responses: dict[int, int],
    grpc_responses: dict[str, int],
    busy_refusals: int = 0,
    receive_refusals: int = 0,
    feedback: tuple[int, int] | None = None,
    runs: tuple[RunStats, int] | None = None,
) -> str:
    """``feedback`` is (events sent, events waiting in the outbox) when serve takes webhooks; ``runs``
    the run assembler's counts and its open runs (mode agent)."""
    lines: list[str] = []

    def metric(name: str, kind: str, help_text: str, samples: Iterable[tuple[str, float]]) -> None:
        lines.append(f"# HELP {PREFIX}{name} {help_text}")
        lines.append(f"# TYPE {PREFIX}{name} {kind}")
        for labels, value in samples:
            lines.append(f"{PREFIX}{name}{labels} {_number(value)}")

    def counter(name: str, help_text: str, value: float) -> None:
        metric(name, "counter", help_text, [("", value)])

    def gauge(name: str, help_text: str, value: float) -> None:
        metric(name, "gauge", help_text, [("", value)])

    counter("export_requests_total", "OTLP export requests accepted.", intake.requests)
    counter("spans_received_total", "Spans in accepted requests, LLM or not.", intake.spans_received)
    counter("llm_spans_total", "LLM and chat spans among them.", intake.llm_spans)
    counter("records_spooled_total", "LLM records committed to the spool.", intake.records_spooled)
    counter(
        "duplicate_spans_total", "LLM spans already spooled or delivered (sender retries).", intake.duplicates
    )
    counter(
        "rejected_spans_total",
        "LLM spans that cannot become tasks (partial_success).",
        intake.rejected_spans,
    )
    counter("no_content_spans_total", "LLM spans with nothing to label.", intake.no_content)
    counter("error_spans_skipped_total", "Failed LLM calls not wanted as tasks.", intake.errors_skipped)
    counter("tasks_created_total", "Tasks imported into Label Studio.", worker.tasks_created)
    counter("dead_lettered_total", "Tasks Label Studio refused for good.", worker.dead_lettered)
    counter("import_requests_total", "Import requests sent to Label Studio.", worker.import_requests)
    counter(
        "requests_busy_total",
        "Export requests refused busy (HTTP 503, gRPC UNAVAILABLE): every decode slot was taken.",
        busy_refusals,
    )
    counter(
        "requests_receive_busy_total",
        "Export requests refused busy (HTTP 503, gRPC UNAVAILABLE): the receive budget was full "
        "(HTTP: bytes of bodies being received; gRPC: every receive slot was taken).",
        receive_refusals,
    )
    counter(
        "predictions_repaired_total",
        "Tasks Label Studio saved without their prediction, given it again.",
        worker.predictions_repaired,
    )
    counter("delivery_failures_total", "Delivery attempts that failed and were retried.", worker.failures)
    gauge("queue_depth", "Records in the spool waiting for delivery.", queue_depth)
    gauge("dead_letters", "Records in the dead-letter table.", dead_letters)
    gauge("delivery_paused", "1 while delivery waits on Label Studio or a bad key.", int(delivery_paused))
    if feedback is not None:
        counter("feedback_events_sent_total", "Evaluation events the feedback endpoint took.", feedback[0])
        gauge("feedback_events_waiting", "Evaluation events kept until the endpoint takes them.", feedback[1])
    if runs is not None:
        stats, open_runs = runs
        gauge("runs_open", "Traces whose agent runs wait for their grace period or idle timeout.", open_runs)
        counter("runs_released_total", "Agent runs queued as records (mode agent).", stats.runs_released)
        counter("runs_incomplete_total", "Agent runs queued without their top span.", stats.runs_incomplete)
        counter("run_late_spans_total", "Spans dropped: they came after their run.", stats.late_spans_dropped)

    name = "delivery_latency_seconds"
    lines.append(f"# HELP {PREFIX}{name} Seconds from spooling a record to its task existing.")
    lines.append(f"# TYPE {PREFIX}{name} histogram")
    for bound, count in zip(LATENCY_BUCKETS, worker.latency_buckets, strict=True):  # already cumulative
        lines.append(f'{PREFIX}{name}_bucket{{le="{_number(bound)}"}} {count}')
    lines.append(f'{PREFIX}{name}_bucket{{le="+Inf"}} {worker.latency_count}')
    lines.append(f"{PREFIX}{name}_sum {_number(worker.latency_sum)}")
    lines.append(f"{PREFIX}{name}_count {worker.latency_count}")

    metric(
        "http_responses_total",
        "counter",
        "OTLP/HTTP and operations responses by status code.",
        [(f'{{code="{code}"}}', count) for code, count in sorted(http_responses.items())],
    )
    metric(
        "grpc_responses_total",
        "counter",
        "OTLP/gRPC Export results by status.",
        [(f'{{code="{code}"}}', count) for code, count in sorted(grpc_responses.items())],
    )
    return "\n".join(lines) + "\n"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))
