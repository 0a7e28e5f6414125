"""serve's own telemetry: OpenTelemetry instruments read by a Prometheus reader, on a MeterProvider
of its own, named as the metrics table of docs/operations.md says."""

from __future__ import annotations

import math
import re

import prometheus_client
from opentelemetry import metrics as otel_metrics

from otel_label_studio.delivery.worker import WorkerStats
from otel_label_studio.feedback.figures import JudgeFigures, ProjectFigures
from otel_label_studio.ingest import IngestStats
from otel_label_studio.judges.judge_join import JudgeStats
from otel_label_studio.modes.pair_hold import PairStats
from otel_label_studio.receiver.judge_intake import JudgeIntakeStats
from otel_label_studio.receiver.metrics import INSTRUMENTS, LATENCY, Readings, ServeMetrics
from otel_label_studio.rules.gate import ReviewCounts, RuleCounts
from otel_label_studio.store.assembly import RunStats
from tests.support.prerequisites import REPO_ROOT


def readings(**changes) -> Readings:
    values = dict(
        intake=IngestStats(requests=3, spans_received=10, llm_spans=4, records_spooled=4, duplicates=1),
        worker=WorkerStats(tasks_created=2, dead_lettered=1),
        queue_depth=5,
        dead_letters=1,
        delivery_paused=True,
        http_responses={200: 4, 503: 1},
        grpc_responses={"OK": 2, "UNAVAILABLE": 1},
        refused={"decode_slots": 1, "receive_budget": 2},
        feedback=(3, 2, 1),
        review=ReviewCounts({"failures": RuleCounts(matched=4, kept=3, sampled_out=1)}, no_rule=2),
        folded={"Slow-2026-11": 5},
        runs=(RunStats(runs_released=6, runs_incomplete=1, late_spans_dropped=3), 2),
        judges=(JudgeStats(received=5, added=3, expired=1), 1),
        judge=JudgeIntakeStats(requests=2, accepted=3, rejected=1, ignored=4),
        pairs=(PairStats(pairs_released=4, spans_unpaired=2, identical=1), RunStats(late_spans_dropped=1), 3),
        shared=(True, 7, 2),
        figures={
            12: ProjectFigures(
                judges={
                    "helpfulness": JudgeFigures(0.8, 0.9, 0.75, 0.62, 0.7),
                    "safety": JudgeFigures(math.nan, 1.0, math.nan, math.nan, 0.5),
                },
            ),
            14: ProjectFigures(ratings={"alpha": 1100.0, "beta": 1000.0, "gamma": 900.0}),
        },
        budget={
            "budget.picked.explore": 2,
            "budget.picked.disagreement": 5,
            "budget.offered": 40,
            "budget.let_go": 33,
            "budget.waiting": 0,
            "budget.used": 7,
            "budget.left": 713,
        },
    )
    values.update(changes)
    return Readings(**values)


def samples(text: str) -> dict[str, float]:
    found = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            found[name] = float(value)
    return found


def families(text: str) -> dict[str, str]:
    return dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.MULTILINE))


def test_figures_are_read_once_per_scrape_and_rendered_under_their_prometheus_names():
    reads = []

    def read() -> Readings:
        reads.append(1)
        return readings()

    telemetry = ServeMetrics(read)
    telemetry.observe_latency(0.3)
    telemetry.observe_latency(7.0)
    text = telemetry.render().decode()
    assert len(reads) == 1  # one reading shared by every instrument's callback
    values = samples(text)
    assert values["otel_label_studio_receiver_requests_total"] == 3
    assert values["otel_label_studio_receiver_spans_total"] == 10
    assert values["otel_label_studio_receiver_spooled_records_total"] == 4
    assert values["otel_label_studio_receiver_duplicate_spans_total"] == 1
    assert values["otel_label_studio_delivery_tasks_created_total"] == 2
    assert values["otel_label_studio_delivery_dead_lettered_total"] == 1
    assert values["otel_label_studio_spool_records"] == 5
    assert values["otel_label_studio_spool_dead_letters"] == 1
    assert values["otel_label_studio_delivery_paused"] == 1
    assert values['otel_label_studio_receiver_refused_requests_total{error_type="decode_slots"}'] == 1
    assert values['otel_label_studio_receiver_refused_requests_total{error_type="receive_budget"}'] == 2
    assert values['otel_label_studio_receiver_http_responses_total{http_response_status_code="503"}'] == 1
    assert values['otel_label_studio_receiver_grpc_responses_total{rpc_response_status_code="OK"}'] == 2
    assert values["otel_label_studio_feedback_received_events_total"] == 3
    assert values["otel_label_studio_feedback_sent_events_total"] == 2
    assert values["otel_label_studio_feedback_waiting_events"] == 1
    assert values['otel_label_studio_delivery_latency_seconds_bucket{le="0.5"}'] == 1
    assert values['otel_label_studio_delivery_latency_seconds_bucket{le="10.0"}'] == 2
    assert values['otel_label_studio_delivery_latency_seconds_bucket{le="+Inf"}'] == 2
    assert values["otel_label_studio_delivery_latency_seconds_count"] == 2
    assert values["otel_label_studio_delivery_latency_seconds_sum"] == 7.3
    assert not any("otel_scope" in name or name.startswith("target_info") for name in values)

    later = ServeMetrics(lambda: readings(queue_depth=0, feedback=None)).render().decode()
    assert samples(later)["otel_label_studio_spool_records"] == 0
    assert "otel_label_studio_feedback_waiting_events 0" not in later  # no feedback loop: no series
    assert not any(name.startswith("otel_label_studio_feedback") for name in samples(later))


def test_serve_owns_its_meter_provider_and_registry():
    """An application that embeds the bridge keeps its own metrics: nothing global is touched."""
    telemetry = ServeMetrics(readings)
    assert otel_metrics.get_meter_provider() is not telemetry.provider
    global_text = prometheus_client.generate_latest(prometheus_client.REGISTRY).decode()
    assert "otel_label_studio" not in global_text
    telemetry.shutdown()


def readme_table() -> list[tuple[str, str, str, str]]:
    """(Prometheus name, OpenTelemetry name, type, unit) of each row of docs/operations.md's metrics table."""
    text = (REPO_ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    start = text.index("<!-- metrics table -->")
    end = text.index("<!-- end of metrics table -->")
    rows = []
    for line in text[start:end].splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) >= 5 and cells[0].startswith("`otel_label_studio_"):
            rows.append((cells[0].strip("`"), cells[1].strip("`"), cells[2], cells[3].strip("`")))
    return rows


def test_the_readme_table_lists_every_instrument_as_prometheus_shows_it():
    table = readme_table()
    declared = {(i.name, i.kind, i.unit or "-") for i in (*INSTRUMENTS, LATENCY)}
    assert {(otel, kind, unit) for _, otel, kind, unit in table} == declared
    telemetry = ServeMetrics(readings)
    telemetry.observe_latency(1.0)  # a histogram shows once it has a value
    shown = families(telemetry.render().decode())
    assert {prometheus: kind for prometheus, _, kind, _ in table} == shown


def test_review_counts_show_per_rule_and_outcome_and_folds_per_project():
    values = samples(ServeMetrics(readings).render().decode())
    assert values['otel_label_studio_review_spans_total{outcome="kept",rule="failures"}'] == 3.0
    assert values['otel_label_studio_review_spans_total{outcome="sampled_out",rule="failures"}'] == 1.0
    assert values['otel_label_studio_review_spans_total{outcome="no_rule_matched",rule=""}'] == 2.0
    assert values['otel_label_studio_review_folded_repeats_total{project="Slow-2026-11"}'] == 5.0
    without_rules = samples(
        ServeMetrics(lambda: readings(review=None, folded=None, budget=None)).render().decode()
    )
    assert not [name for name in without_rules if "review" in name]


def test_the_review_budget_shows_picks_by_reason_and_what_is_used_and_left():
    values = samples(ServeMetrics(readings).render().decode())
    assert values['otel_label_studio_review_budget_picked_total{reason="disagreement"}'] == 5.0
    assert values['otel_label_studio_review_budget_picked_total{reason="explore"}'] == 2.0
    assert values["otel_label_studio_review_budget_let_go_total"] == 33.0
    assert (
        values["otel_label_studio_review_budget_used"],
        values["otel_label_studio_review_budget_left"],
    ) == (
        7.0,
        713.0,
    )
    without = samples(ServeMetrics(lambda: readings(budget=None)).render().decode())
    assert not [name for name in without if "review_budget" in name]


def test_the_shared_state_shows_when_serve_has_one():
    values = samples(ServeMetrics(readings).render().decode())
    assert values["otel_label_studio_state_unavailable"] == 1.0
    assert values["otel_label_studio_state_failures_total"] == 7.0
    assert values["otel_label_studio_state_outages_total"] == 2.0
    without = samples(ServeMetrics(lambda: readings(shared=None)).render().decode())
    assert not [name for name in without if "_state_" in name]


def test_run_counts_show_in_mode_agent_only():
    values = samples(ServeMetrics(readings).render().decode())
    assert values["otel_label_studio_runs_open"] == 2.0
    assert values["otel_label_studio_runs_released_total"] == 6.0
    assert values["otel_label_studio_runs_incomplete_total"] == 1.0
    assert values["otel_label_studio_runs_late_spans_total"] == 3.0
    without_runs = samples(ServeMetrics(lambda: readings(runs=None)).render().decode())
    assert not [name for name in without_runs if "_runs_" in name]


def test_logs_counts_show_each_outcome_of_the_log_records():
    values = samples(ServeMetrics(readings).render().decode())
    assert values["otel_label_studio_receiver_logs_requests_total"] == 2.0
    assert values['otel_label_studio_receiver_log_records_total{outcome="accepted"}'] == 3.0
    assert values['otel_label_studio_receiver_log_records_total{outcome="rejected"}'] == 1.0
    assert values['otel_label_studio_receiver_log_records_total{outcome="ignored"}'] == 4.0
    without_logs = samples(ServeMetrics(lambda: readings(judge=None)).render().decode())
    assert not [name for name in without_logs if "log" in name]


def test_pair_counts_show_in_mode_pairwise_only():
    values = samples(ServeMetrics(readings).render().decode())
    assert values["otel_label_studio_pairs_waiting"] == 3.0
    assert values["otel_label_studio_pairs_released_total"] == 4.0
    assert values["otel_label_studio_pairs_unpaired_spans_total"] == 2.0
    assert values["otel_label_studio_pairs_identical_total"] == 1.0
    assert values["otel_label_studio_pairs_late_spans_total"] == 1.0
    without_pairs = samples(ServeMetrics(lambda: readings(pairs=None)).render().decode())
    assert not [name for name in without_pairs if "_pairs_" in name]


def test_live_figures_are_gauges_per_judge_and_per_variant_with_the_project():
    telemetry = ServeMetrics(readings)
    shown = samples(telemetry.render().decode())
    assert shown['otel_label_studio_judge_corrected_pass_rate{judge="helpfulness",project="12"}'] == 0.62
    assert shown['otel_label_studio_judge_kappa{judge="helpfulness",project="12"}'] == 0.8
    assert shown['otel_label_studio_judge_sensitivity{judge="safety",project="12"}'] == 1.0
    assert shown['otel_label_studio_judge_raw_pass_rate{judge="safety",project="12"}'] == 0.5
    assert not any("safety" in key and "kappa" in key for key in shown)  # undefined: not observed
    assert shown['otel_label_studio_arena_rating{project="14",variant="gamma"}'] == 900.0
    off = samples(ServeMetrics(lambda: readings(figures=None)).render().decode())
    assert not any(
        key.startswith(("otel_label_studio_judge_kappa", "otel_label_studio_arena")) for key in off
    )
    telemetry.shutdown()
