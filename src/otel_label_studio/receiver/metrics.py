"""serve's own telemetry, through the OpenTelemetry metrics API, read by Prometheus on ``/metrics``.

``ServeMetrics`` owns a ``MeterProvider`` of its own (never the global one, so an application that
embeds the bridge keeps its own metrics setup) whose only reader is
``opentelemetry-exporter-prometheus``'s, registered in a private ``prometheus_client`` registry.
Counts that the intake, the worker, the spool and the feedback loop already keep are observed
at scrape time (observable instruments: nothing is added to the ingest path); delivery latency
is a histogram recorded as each task is created. Every instrument is declared once in
``INSTRUMENTS`` / ``LATENCY``; the metrics table of docs/operations.md lists the same names.

OpenTelemetry names are dotted and carry their unit separately; the Prometheus reader turns
``otel_label_studio.receiver.spans`` with unit ``{span}`` into ``otel_label_studio_receiver_spans_total``
and ``otel_label_studio.delivery.latency`` in ``s`` into ``otel_label_studio_delivery_latency_seconds``.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from typing import Callable, Iterable

from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource
from prometheus_client import CollectorRegistry, generate_latest

from ..delivery.worker import LATENCY_BUCKETS, WorkerStats
from ..feedback.figures import ProjectFigures
from ..ingest import IngestStats
from ..judges.judge_join import JudgeStats
from ..modes.pair_hold import PairStats
from ..rules.gate import ReviewCounts
from ..store.assembly import RunStats
from .judge_intake import JudgeIntakeStats

SCOPE = "otel_label_studio.serve"
COUNTER, GAUGE = "counter", "gauge"

Attributes = dict[str, str | int]
Value = int | float | Iterable[tuple[int | float, Attributes]]


@dataclass
class Readings:
    """One scrape's figures, read once from the objects that keep them (``Sidecar.readings``)."""

    intake: IngestStats
    worker: WorkerStats
    queue_depth: int
    dead_letters: int
    delivery_paused: bool
    http_responses: dict[int, int]
    grpc_responses: dict[str, int]
    refused: dict[str, int] = field(default_factory=dict)  # busy refusals by the bound that was full
    feedback: tuple[int, int, int] | None = None  # events received, sent, waiting (when webhooks are taken)
    review: ReviewCounts | None = None  # the review rules' decisions (when serve has a rules file)
    folded: dict[str, int] | None = None  # folded repeats per project (when serve has a rules file)
    runs: tuple[RunStats, int] | None = None  # the run assembler's counts and open runs (mode agent)
    judge: JudgeIntakeStats | None = None  # judge results sent as OTLP logs (when logs are taken)
    judges: tuple[JudgeStats, int] | None = None  # the join's counts and how many results wait for a task
    pairs: tuple[PairStats, RunStats, int] | None = None  # mode pairwise: pairs, the hold, traces waiting
    shared: tuple[bool, int, int] | None = None  # the shared state server: unreachable, failures, outages
    figures: dict[int, ProjectFigures] | None = None  # live calibration and arena figures by project
    budget: dict[str, int] | None = None  # the review budget's counts (``BudgetHold.counts``), with a budget


@dataclass(frozen=True)
class Instrument:
    name: str  # OpenTelemetry name; Prometheus: dots -> underscores, unit and _total appended
    kind: str  # COUNTER (monotonic) or GAUGE (a level)
    unit: str
    description: str
    read: Callable[[Readings], Value | None]  # None: not observed (the feedback loop is off)


#: A rule's counters, as the ``outcome`` attribute names them.
REVIEW_OUTCOMES = ("matched", "kept", "sampled_out", "over_limit", "folded")


def _review(r: Readings) -> Value | None:
    if r.review is None:
        return None
    points: list[tuple[int, Attributes]] = [
        (getattr(counts, outcome), {"rule": rule, "outcome": outcome})
        for rule, counts in r.review.rules.items()
        for outcome in REVIEW_OUTCOMES
    ]
    points.append((r.review.no_rule, {"rule": "", "outcome": "no_rule_matched"}))
    return points


def _picked(r: Readings) -> Value | None:
    if r.budget is None:
        return None
    prefix = "budget.picked."
    return [(n, {"reason": key[len(prefix) :]}) for key, n in r.budget.items() if key.startswith(prefix)]


def _budget(key: str) -> Callable[[Readings], Value | None]:
    return lambda r: None if r.budget is None else r.budget[key]


def _folded(r: Readings) -> Value | None:
    if r.folded is None:
        return None
    return [(count, {"project": project}) for project, count in sorted(r.folded.items())]


#: What became of the log records in accepted logs requests, as the ``outcome`` attribute names it.
LOG_OUTCOMES = ("accepted", "rejected", "ignored")


def _log_records(r: Readings) -> Value | None:
    if r.judge is None:
        return None
    return [(getattr(r.judge, outcome), {"outcome": outcome}) for outcome in LOG_OUTCOMES]


def _feedback(index: int) -> Callable[[Readings], int | None]:
    return lambda r: r.feedback[index] if r.feedback is not None else None


#: What became of judge results that arrived as OTLP logs, as the ``outcome`` attribute names it.
JUDGE_OUTCOMES = ("received", "added", "already_present", "expired", "rejected")


def _judges(r: Readings) -> Value | None:
    if r.judges is None:
        return None
    return [(getattr(r.judges[0], outcome), {"outcome": outcome}) for outcome in JUDGE_OUTCOMES]


def _judge_figure(name: str) -> Callable[[Readings], Value | None]:
    """One live calibration figure per judge and project; an undefined one (nan) is not observed."""

    def read(r: Readings) -> Value | None:
        if r.figures is None:
            return None
        return [
            (value, {"judge": judge, "project": project})
            for project, figures in sorted(r.figures.items())
            for judge, figure in sorted(figures.judges.items())
            if not math.isnan(value := getattr(figure, name))
        ]

    return read


def _ratings(r: Readings) -> Value | None:
    if r.figures is None:
        return None
    return [
        (rating, {"variant": variant, "project": project})
        for project, figures in sorted(r.figures.items())
        for variant, rating in sorted(figures.ratings.items())
        if not math.isnan(rating)
    ]


#: Live figures (serve --figures-interval): what ``report --calibration`` says, kept current.
FIGURES: tuple[Instrument, ...] = (
    Instrument(
        "otel_label_studio.judge.kappa",
        GAUGE,
        "",
        "Per judge and project: Cohen's kappa (quadratic-weighted) of the judge's ratings against the "
        "reviewers' (newest annotation), recomputed as reviewers submit.",
        _judge_figure("kappa"),
    ),
    Instrument(
        "otel_label_studio.judge.sensitivity",
        GAUGE,
        "",
        "Per judge and project: the share of reviewers' passes the judge passes (weighted by "
        "meta.review.weight where tasks carry it).",
        _judge_figure("sensitivity"),
    ),
    Instrument(
        "otel_label_studio.judge.specificity",
        GAUGE,
        "",
        "Per judge and project: the share of reviewers' fails the judge fails.",
        _judge_figure("specificity"),
    ),
    Instrument(
        "otel_label_studio.judge.corrected_pass_rate",
        GAUGE,
        "",
        "Per judge and project: the judge's pass rate on all its tasks corrected for its measured "
        "sensitivity and specificity (Rogan-Gladen).",
        _judge_figure("corrected_pass_rate"),
    ),
    Instrument(
        "otel_label_studio.judge.raw_pass_rate",
        GAUGE,
        "",
        "Per judge and project: the judge's own pass rate on all the tasks it judged.",
        _judge_figure("raw_pass_rate"),
    ),
    Instrument(
        "otel_label_studio.arena.rating",
        GAUGE,
        "",
        "Per variant and project (a pairwise project with 3+ variants): its Bradley-Terry rating on the Elo "
        "scale, from the reviewers' choices.",
        _ratings,
    ),
)

INSTRUMENTS: tuple[Instrument, ...] = (
    Instrument(
        "otel_label_studio.state.unavailable",
        GAUGE,
        "",
        "1 while the shared state server (--state-url) cannot be reached: spans the review rules would "
        "count, and new projects, are refused with a retry (fail closed); 0 otherwise.",
        lambda r: int(r.shared[0]) if r.shared is not None else None,
    ),
    Instrument(
        "otel_label_studio.state.failures",
        COUNTER,
        "{operation}",
        "Operations on the shared state server that failed because it could not be reached.",
        lambda r: r.shared[1] if r.shared is not None else None,
    ),
    Instrument(
        "otel_label_studio.state.outages",
        COUNTER,
        "{outage}",
        "Times the shared state server became unreachable (each logged once, its URL's password masked).",
        lambda r: r.shared[2] if r.shared is not None else None,
    ),
    Instrument(
        "otel_label_studio.judge.results",
        COUNTER,
        "{result}",
        "Judge results sent as OTLP logs, by outcome: received, added (a judge prediction on the span's "
        "task), already_present, expired (no task within judge_wait), rejected (Label Studio refused it).",
        _judges,
    ),
    Instrument(
        "otel_label_studio.judge.waiting",
        GAUGE,
        "{result}",
        "Judge results kept until their span's task exists.",
        lambda r: r.judges[1] if r.judges is not None else None,
    ),
    Instrument(
        "otel_label_studio.runs.open",
        GAUGE,
        "{trace}",
        "Mode agent: traces whose runs wait for their grace period or idle timeout.",
        lambda r: r.runs[1] if r.runs is not None else None,
    ),
    Instrument(
        "otel_label_studio.runs.released",
        COUNTER,
        "{run}",
        "Mode agent: runs queued as records.",
        lambda r: r.runs[0].runs_released if r.runs is not None else None,
    ),
    Instrument(
        "otel_label_studio.runs.incomplete",
        COUNTER,
        "{run}",
        "Mode agent: runs queued without their top span (several subtrees under a span that never came, or a "
        "top-most span that cannot be a top), after the idle timeout.",
        lambda r: r.runs[0].runs_incomplete if r.runs is not None else None,
    ),
    Instrument(
        "otel_label_studio.runs.completed",
        COUNTER,
        "{run}",
        "Mode agent: runs queued again, whole, when their top span came after they were queued without it.",
        lambda r: r.runs[0].runs_completed if r.runs is not None else None,
    ),
    Instrument(
        "otel_label_studio.runs.late_spans",
        COUNTER,
        "{span}",
        "Mode agent: spans dropped because they came after their run became a task.",
        lambda r: r.runs[0].late_spans_dropped if r.runs is not None else None,
    ),
    Instrument(
        "otel_label_studio.pairs.waiting",
        GAUGE,
        "{trace}",
        "Mode pairwise: traces whose LLM spans wait for the pair wait to end.",
        lambda r: r.pairs[2] if r.pairs is not None else None,
    ),
    Instrument(
        "otel_label_studio.pairs.released",
        COUNTER,
        "{pair}",
        "Mode pairwise: pairs queued as records.",
        lambda r: r.pairs[0].pairs_released if r.pairs is not None else None,
    ),
    Instrument(
        "otel_label_studio.pairs.unpaired_spans",
        COUNTER,
        "{span}",
        "Mode pairwise: LLM spans with no partner when their trace's wait ended; not imported.",
        lambda r: r.pairs[0].spans_unpaired if r.pairs is not None else None,
    ),
    Instrument(
        "otel_label_studio.pairs.identical",
        COUNTER,
        "{pair}",
        "Mode pairwise: candidate pairs whose two answers were the same; not imported.",
        lambda r: r.pairs[0].identical if r.pairs is not None else None,
    ),
    Instrument(
        "otel_label_studio.pairs.late_spans",
        COUNTER,
        "{span}",
        "Mode pairwise: spans dropped because they came after their trace was paired.",
        lambda r: r.pairs[1].late_spans_dropped if r.pairs is not None else None,
    ),
    Instrument(
        "otel_label_studio.receiver.requests",
        COUNTER,
        "{request}",
        "OTLP export requests accepted.",
        lambda r: r.intake.requests,
    ),
    Instrument(
        "otel_label_studio.receiver.spans",
        COUNTER,
        "{span}",
        "Spans in accepted requests, LLM or not.",
        lambda r: r.intake.spans_received,
    ),
    Instrument(
        "otel_label_studio.receiver.llm_spans",
        COUNTER,
        "{span}",
        "LLM and chat spans among them.",
        lambda r: r.intake.llm_spans,
    ),
    Instrument(
        "otel_label_studio.receiver.spooled_records",
        COUNTER,
        "{record}",
        "LLM records committed to the spool.",
        lambda r: r.intake.records_spooled,
    ),
    Instrument(
        "otel_label_studio.receiver.duplicate_spans",
        COUNTER,
        "{span}",
        "LLM spans already spooled or delivered (sender retries).",
        lambda r: r.intake.duplicates,
    ),
    Instrument(
        "otel_label_studio.receiver.rejected_spans",
        COUNTER,
        "{span}",
        "LLM spans that cannot become tasks (reported in partial_success).",
        lambda r: r.intake.rejected_spans,
    ),
    Instrument(
        "otel_label_studio.receiver.no_content_spans",
        COUNTER,
        "{span}",
        "LLM spans with nothing to label.",
        lambda r: r.intake.no_content,
    ),
    Instrument(
        "otel_label_studio.receiver.skipped_error_spans",
        COUNTER,
        "{span}",
        "Failed LLM calls not wanted as tasks.",
        lambda r: r.intake.errors_skipped,
    ),
    Instrument(
        "otel_label_studio.receiver.refused_requests",
        COUNTER,
        "{request}",
        "Export requests refused busy (HTTP 503, gRPC UNAVAILABLE) by the bound that was full: "
        "error.type decode_slots (every decode slot taken) or receive_budget (HTTP: bytes of bodies "
        "being received; gRPC: every receive slot taken).",
        lambda r: [(count, {"error.type": bound}) for bound, count in sorted(r.refused.items())],
    ),
    Instrument(
        "otel_label_studio.receiver.logs.requests",
        COUNTER,
        "{request}",
        "OTLP logs export requests accepted (judge results in).",
        lambda r: r.judge.requests if r.judge is not None else None,
    ),
    Instrument(
        "otel_label_studio.receiver.log_records",
        COUNTER,
        "{record}",
        "Log records in accepted logs requests, by outcome: accepted (gen_ai.evaluation.result records "
        "handed on as judge results), rejected (evaluation records naming no span nor response, or "
        "saying nothing; reported in partial_success), ignored (other log records).",
        _log_records,
    ),
    Instrument(
        "otel_label_studio.receiver.http.responses",
        COUNTER,
        "{response}",
        "OTLP/HTTP and operations responses by status code.",
        lambda r: [
            (count, {"http.response.status_code": code}) for code, count in sorted(r.http_responses.items())
        ],
    ),
    Instrument(
        "otel_label_studio.receiver.grpc.responses",
        COUNTER,
        "{response}",
        "OTLP/gRPC Export results by status.",
        lambda r: [
            (count, {"rpc.response.status_code": code}) for code, count in sorted(r.grpc_responses.items())
        ],
    ),
    Instrument(
        "otel_label_studio.spool.records",
        GAUGE,
        "{record}",
        "Records in the spool waiting for delivery.",
        lambda r: r.queue_depth,
    ),
    Instrument(
        "otel_label_studio.spool.dead_letters",
        GAUGE,
        "{record}",
        "Records in the dead-letter table.",
        lambda r: r.dead_letters,
    ),
    Instrument(
        "otel_label_studio.delivery.tasks_created",
        COUNTER,
        "{task}",
        "Tasks imported into Label Studio.",
        lambda r: r.worker.tasks_created,
    ),
    Instrument(
        "otel_label_studio.delivery.dead_lettered",
        COUNTER,
        "{record}",
        "Records Label Studio refused for good.",
        lambda r: r.worker.dead_lettered,
    ),
    Instrument(
        "otel_label_studio.delivery.import_requests",
        COUNTER,
        "{request}",
        "Import requests sent to Label Studio.",
        lambda r: r.worker.import_requests,
    ),
    Instrument(
        "otel_label_studio.delivery.updated_tasks",
        COUNTER,
        "{task}",
        "Tasks updated in place, their annotations kept: a run completed after its task was made.",
        lambda r: r.worker.tasks_updated,
    ),
    Instrument(
        "otel_label_studio.delivery.repaired_predictions",
        COUNTER,
        "{task}",
        "Tasks Label Studio saved without their prediction, given it again.",
        lambda r: r.worker.predictions_repaired,
    ),
    Instrument(
        "otel_label_studio.delivery.failures",
        COUNTER,
        "{attempt}",
        "Delivery attempts that failed and were retried.",
        lambda r: r.worker.failures,
    ),
    Instrument(
        "otel_label_studio.delivery.paused",
        GAUGE,
        "",
        "1 while delivery waits on Label Studio or a bad key.",
        lambda r: int(r.delivery_paused),
    ),
    Instrument(
        "otel_label_studio.review.spans",
        COUNTER,
        "{span}",
        "LLM spans decided by the review rules, per rule and outcome (matched, kept, sampled_out, "
        'over_limit, folded); rule "" with outcome no_rule_matched: spans no rule matched (no task).',
        _review,
    ),
    Instrument(
        "otel_label_studio.review.folded_repeats",
        COUNTER,
        "{span}",
        "Repeats of a recent task (same input and response) folded, per project; kept with the review "
        "state, so it survives a restart.",
        _folded,
    ),
    Instrument(
        "otel_label_studio.review.budget.picked",
        COUNTER,
        "{task}",
        "Tasks the review budget picked, per reason (explore, disagreement, margin, or the rule's name).",
        _picked,
    ),
    Instrument(
        "otel_label_studio.review.budget.let_go",
        COUNTER,
        "{span}",
        "Calls offered to the review budget and not picked (no task).",
        _budget("budget.let_go"),
    ),
    Instrument(
        "otel_label_studio.review.budget.waiting",
        GAUGE,
        "{span}",
        "Calls the open budget window holds, waiting for it to be decided.",
        _budget("budget.waiting"),
    ),
    Instrument(
        "otel_label_studio.review.budget.used",
        GAUGE,
        "{task}",
        "Tasks the review budget spent in this period (UTC day or hour), as its ledger says.",
        _budget("budget.used"),
    ),
    Instrument(
        "otel_label_studio.review.budget.left",
        GAUGE,
        "{task}",
        "Tasks the review budget has left in this period.",
        _budget("budget.left"),
    ),
    Instrument(
        "otel_label_studio.feedback.received_events",
        COUNTER,
        "{event}",
        "Evaluation events taken from Label Studio's webhooks and kept in the outbox.",
        _feedback(0),
    ),
    Instrument(
        "otel_label_studio.feedback.sent_events",
        COUNTER,
        "{event}",
        "Evaluation events the feedback endpoint took.",
        _feedback(1),
    ),
    Instrument(
        "otel_label_studio.feedback.waiting_events",
        GAUGE,
        "{event}",
        "Evaluation events kept until the feedback endpoint takes them.",
        _feedback(2),
    ),
) + FIGURES  # the live figures last (serve --figures-interval)

LATENCY = Instrument(
    "otel_label_studio.delivery.latency",
    "histogram",
    "s",
    "Seconds from spooling a record to its task existing.",
    lambda r: None,
)


class ServeMetrics:
    """``render()`` is the ``/metrics`` body; ``observe_latency`` records one delivered record.

    ``read`` gathers one ``Readings`` per scrape: it is the only place that knows where the
    figures are kept."""

    def __init__(self, read: Callable[[], Readings]):
        self._read = read
        self._readings: Readings | None = None
        self._lock = threading.Lock()
        self._registry = CollectorRegistry(auto_describe=False)
        reader = PrometheusMetricReader(
            disable_target_info=True, scope_info_enabled=False, registry=self._registry
        )
        self.provider = MeterProvider(
            metric_readers=[reader],
            resource=Resource.create({"service.name": "otel-label-studio"}),
            shutdown_on_exit=False,
        )
        meter = self.provider.get_meter(SCOPE)
        for instrument in INSTRUMENTS:
            create = (
                meter.create_observable_counter
                if instrument.kind == COUNTER
                else meter.create_observable_gauge
            )
            create(instrument.name, [self._callback(instrument)], instrument.unit, instrument.description)
        self._latency = meter.create_histogram(
            LATENCY.name,
            LATENCY.unit,
            LATENCY.description,
            explicit_bucket_boundaries_advisory=LATENCY_BUCKETS,
        )

    def observe_latency(self, seconds: float) -> None:
        self._latency.record(seconds)

    def render(self) -> bytes:
        """The Prometheus text format (0.0.4) of every instrument, read now."""
        with self._lock:  # one reading per scrape, shared by every callback
            self._readings = self._read()
            try:
                return generate_latest(self._registry)
            finally:
                self._readings = None

    def shutdown(self) -> None:
        self.provider.shutdown()

    def _callback(self, instrument: Instrument) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def observe(options: CallbackOptions) -> Iterable[Observation]:
            if self._readings is None:  # collected outside render(): nothing read
                return []
            value = instrument.read(self._readings)
            if value is None:
                return []
            if isinstance(value, (int, float)):
                return [Observation(value)]
            return [Observation(amount, attributes) for amount, attributes in value]

        return observe
