"""Review rules wired into the one ingest path, the exporter and the settings: a span the rules
drop is never mapped, a kept one goes to its rule's project with its rule's include_errors, limits
and folds are admitted before the queue and kept beside the spool, and a bad file is refused."""

from __future__ import annotations

import datetime as dt
import socket
import textwrap
import time

import pytest
import time_machine
from opentelemetry.sdk.trace.export import SpanExportResult

from otel_label_studio import LabelStudioSpanExporter
from otel_label_studio.bridge import build_bridge
from otel_label_studio.config import SettingsError, read_settings
from otel_label_studio.ingest import Ingest
from otel_label_studio.modes.layouts import layout_for
from otel_label_studio.reading.mapping import Mapper
from otel_label_studio.reading.redact import Redactor
from otel_label_studio.reading.spanview import from_readable_span
from otel_label_studio.rules import ReviewGate, SqliteReviewState, load_file
from otel_label_studio.store.memory_queue import MemoryQueue
from otel_label_studio.store.queue import QueueFull
from tests.support import fixtures

PREFIX = "traceloop.association.properties"


def rules_file(tmp_path, text: str, name: str = "rules.yaml") -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return str(path)


def views():
    """Three LLM spans (a chain's call, a failed call, a completion) among six."""
    spans = (
        fixtures.load("legacy", "chain")
        + fixtures.load("legacy", "error")
        + fixtures.load("legacy", "completion")
    )
    return [from_readable_span(span) for span in spans]


class CountingMapper(Mapper):
    def __init__(self) -> None:
        super().__init__(metadata_prefix=PREFIX, include_errors=False, redactor=Redactor([r"joke"]))
        self.mapped = 0

    def map_llm(self, view, dialect, result, include_errors):
        self.mapped += 1
        return super().map_llm(view, dialect, result, include_errors)


def ingest_with(path: str) -> tuple[Ingest, CountingMapper, MemoryQueue]:
    gate = ReviewGate(load_file(path), metadata_prefix=PREFIX, default_project="Default")
    mapper, queue = CountingMapper(), MemoryQueue(100)
    return Ingest(mapper, queue, gate=gate), mapper, queue


def test_a_span_no_rule_keeps_is_never_mapped(tmp_path):
    path = rules_file(
        tmp_path,
        """
        rules:
          - name: other-model
            match: {model: "no-such-model*"}
            sample: 1.0
          - name: nothing
            sample: 0.0
        """,
    )
    ingest, mapper, queue = ingest_with(path)
    result = ingest.map(views())
    ingest.enqueue(result)
    assert (result.spans, result.llm_spans, len(result.records), mapper.mapped) == (6, 3, 0, 0)
    assert queue.depth == 0
    assert ingest.gate is not None
    flat = ingest.gate.counts().flat()
    assert flat["review.nothing.matched"] == 3 and flat["review.nothing.sampled_out"] == 3


def test_a_failures_rule_keeps_the_error_and_a_rule_routes_to_its_project(tmp_path):
    path = rules_file(
        tmp_path,
        """
        rules:
          - name: failures
            match: {status: error}
            sample: 1.0
          - name: rest
            sample: 1.0
            project: "Routed-%Y"
        """,
    )
    ingest, mapper, queue = ingest_with(path)
    ingest.enqueue(ingest.map(views()))
    records = [item.record for item in queue.take(10)]
    assert len(records) == 3 and mapper.mapped == 3
    failed = [r for r in records if r.error]
    assert len(failed) == 1 and failed[0].project is None  # as without rules: the default project
    assert {r.project for r in records if not r.error} == {"Routed-%Y"}
    assert all("[REDACTED]" not in r.error for r in failed)
    assert ingest.stats.errors_skipped == 0


def test_without_a_failures_rule_failed_calls_are_skipped_as_today(tmp_path):
    ingest, _, queue = ingest_with(rules_file(tmp_path, "rules:\n  - name: all\n    sample: 1.0\n"))
    ingest.enqueue(ingest.map(views()))
    assert queue.depth == 2 and ingest.stats.errors_skipped == 1


def test_a_repeat_is_folded_before_the_queue(tmp_path):
    path = rules_file(tmp_path, "rules:\n  - name: all\n    sample: 1.0\nfold_duplicates: 24h\n")
    ingest, _, queue = ingest_with(path)
    ingest.enqueue(ingest.map(views()))
    again = ingest.map(views())  # the same calls again: the same input and response
    ingest.enqueue(again)
    assert again.records == [] and queue.depth == 2 and ingest.stats.duplicates == 0
    assert ingest.gate is not None
    counts = ingest.gate.counts().rules["all"]
    assert (counts.kept, counts.folded) == (2, 2)
    assert ingest.gate.state.folded_by_project() == {"Default": 2}


def test_a_limit_holds_within_a_batch_and_after_it(tmp_path):
    path = rules_file(tmp_path, "rules:\n  - name: all\n    sample: 1.0\n    limit: 1/day\n")
    ingest, mapper, queue = ingest_with(path)
    first = ingest.map(views())
    ingest.enqueue(first)
    assert len(first.records) == 1 and mapper.mapped == 1  # the rest of the batch: over it, not mapped
    again = ingest.map(views())
    assert again.records == [] and queue.depth == 1 and mapper.mapped == 1
    assert ingest.gate is not None
    counts = ingest.gate.counts().rules["all"]
    assert (counts.kept, counts.over_limit) == (1, 5)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


BAD = """\
rules:
  - name: typo
    mach: {model: "gpt-4o*"}
"""


def test_the_exporter_refuses_a_bad_rules_file_from_the_argument_and_the_variable(tmp_path, monkeypatch):
    path = rules_file(tmp_path, BAD, "bad.yaml")
    with pytest.raises(ValueError, match=r"review_rules: .*bad\.yaml, line 3: .*match"):
        LabelStudioSpanExporter(api_key="k", review_rules=path)
    monkeypatch.setenv("OTEL_LABEL_STUDIO_REVIEW_RULES", path)
    with pytest.raises(ValueError, match=r"OTEL_LABEL_STUDIO_REVIEW_RULES: .*bad\.yaml, line 3"):
        LabelStudioSpanExporter(api_key="k")


def test_serve_settings_refuse_a_bad_rules_file_with_file_and_line(tmp_path):
    path = rules_file(tmp_path, BAD, "bad.yaml")
    with pytest.raises(SettingsError, match=r"--review-rules: .*bad\.yaml, line 3"):
        read_settings(["review_rules"], flags={"review_rules": path})
    missing = str(tmp_path / "missing.yaml")
    with pytest.raises(SettingsError, match="missing.yaml"):
        read_settings(["review_rules"], flags={"review_rules": missing})


def test_exporter_counts_per_rule_and_limits_survive_a_restart_with_a_spool(tmp_path):
    path = rules_file(
        tmp_path,
        """
        rules:
          - name: capped
            sample: 1.0
            limit: 1/day
        """,
    )
    spool = str(tmp_path / "spool.sqlite3")

    def exporter() -> LabelStudioSpanExporter:
        return LabelStudioSpanExporter(
            url=f"http://127.0.0.1:{closed_port()}",
            api_key="k",
            timeout=0.2,
            spool_path=spool,
            review_rules=path,
        )

    first = exporter()
    first.export(fixtures.load("legacy", "completion"))
    counts = first.counts
    assert (counts["review.capped.kept"], counts["review.no_rule_matched"], counts["waiting"]) == (1, 0, 1)
    first.shutdown()
    second = exporter()  # a restart: the day's one task is used up
    second.export(fixtures.load("legacy", "n2"))
    counts = second.counts
    assert (counts["review.capped.matched"], counts["review.capped.over_limit"]) == (1, 1)
    assert counts["review.capped.kept"] == 0 and counts["waiting"] == 1  # the first run's record only
    second.shutdown()


def test_without_rules_the_exporter_counts_no_review_keys():
    exporter = LabelStudioSpanExporter(url=f"http://127.0.0.1:{closed_port()}", api_key="k", timeout=0.2)
    assert not [key for key in exporter.counts if key.startswith("review.")]
    exporter.shutdown()


class FullOnce(MemoryQueue):
    """A queue that refuses its first batch whole, as a full spool does (the sender retries)."""

    def __init__(self) -> None:
        super().__init__(100)
        self.refused = 0

    def add(self, records):
        if not self.refused:
            self.refused += 1
            raise QueueFull("the spool is full", retry_after=1.0)
        return super().add(records)


@pytest.mark.parametrize("durable", [False, True])
def test_a_batch_the_queue_refuses_is_neither_folded_nor_counted_against_the_limit_on_retry(
    tmp_path, durable
):
    path = rules_file(
        tmp_path, "rules:\n  - name: all\n    sample: 1.0\n    limit: 2/day\nfold_duplicates: 24h\n"
    )
    state = SqliteReviewState(str(tmp_path / "state.sqlite3")) if durable else None
    gate = ReviewGate(load_file(path), state, metadata_prefix=PREFIX, default_project="Default")
    queue = FullOnce()
    ingest = Ingest(CountingMapper(), queue, gate=gate)
    with pytest.raises(QueueFull):
        ingest.enqueue(ingest.map(views()))
    retry = ingest.map(views())  # the sender's retry of the same request
    ingest.enqueue(retry)
    assert len(retry.records) == 2 and queue.depth == 2
    counts = gate.counts().rules["all"]
    assert (counts.kept, counts.folded, counts.over_limit) == (2, 0, 0)
    gate.close()


def test_records_the_memory_queue_drops_for_lack_of_room_are_neither_kept_nor_counted_against_a_limit(
    tmp_path,
):
    path = rules_file(
        tmp_path, "rules:\n  - name: all\n    sample: 1.0\n    limit: 2/day\nfold_duplicates: 24h\n"
    )
    gate = ReviewGate(load_file(path), metadata_prefix=PREFIX, default_project="Default")
    queue = MemoryQueue(1)  # room for one record: the batch's second call is dropped
    ingest = Ingest(CountingMapper(), queue, gate=gate)
    added = ingest.enqueue(ingest.map(views()))
    assert (added.added, added.dropped, ingest.stats.dropped) == (1, 1, 1)
    counts = gate.counts().rules["all"]
    assert (counts.kept, counts.over_limit, counts.folded) == (1, 0, 0)
    queue.delivered(queue.take(10), 1)  # delivery makes room
    again = ingest.map(views())  # the same calls again: the first is a repeat, the dropped one is not
    added = ingest.enqueue(again)
    assert added.added == 1 and len(again.records) == 1
    counts = gate.counts().rules["all"]
    assert (counts.kept, counts.over_limit, counts.folded) == (2, 0, 1)


def test_run_rules_are_taken_in_mode_agent_and_refused_elsewhere_with_their_line(tmp_path):
    path = rules_file(
        tmp_path,
        """\
        rules:
          - name: tools
            match: {run.tools: search_*}
          - name: rest
            sample: 0
        """,
    )
    assert read_settings(flags={"mode": "agent", "review_rules": path}, environ={}).review_rules == path
    LabelStudioSpanExporter(api_key="k", mode="agent", review_rules=path).shutdown()
    for mode in ("chat", "prompt"):
        with pytest.raises(SettingsError, match=r"--review-rules: .*rules.yaml, line 3: run.tools in rule "
                           r"'tools' is a run's field: it applies in mode agent only"):  # fmt: skip
            read_settings(flags={"mode": mode, "review_rules": path}, environ={})
    call_fields = rules_file(tmp_path, "rules:\n  - name: slow\n    match: {latency_ms: '>2000'}\n", "c.yaml")
    with pytest.raises(SettingsError, match=r"c.yaml, line 3: latency_ms in rule 'slow' is one LLM call's "
                       r"field and mode agent decides whole runs: match run.duration_ms"):  # fmt: skip
        read_settings(flags={"mode": "agent", "review_rules": call_fields}, environ={})
    with pytest.raises(ValueError, match="match run.duration_ms instead"):
        LabelStudioSpanExporter(api_key="k", mode="agent", review_rules=call_fields)


@pytest.fixture
def kiritimati(monkeypatch):
    """The process runs in UTC+14 (Pacific/Kiritimati), where the local date is the UTC date's next
    day from 10:00 UTC on."""
    monkeypatch.setenv("TZ", "Pacific/Kiritimati")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_the_daily_project_and_its_daily_limit_name_the_same_utc_day_in_any_time_zone(tmp_path, kiritimati):
    path = rules_file(tmp_path, "rules:\n  - name: all\n    limit: 5/day\n")
    settings = read_settings(
        arguments={"url": f"http://127.0.0.1:{closed_port()}", "api_key": "k", "review_rules": path},
        environ={},
    )
    [view] = [from_readable_span(span) for span in fixtures.load("legacy", "completion")]
    noon = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.timezone.utc).timestamp()  # 03-02 02:00 on Kiritimati
    with time_machine.travel(noon, tick=False):  # the wall clock pinned (a timestamp: TZ stays as set)
        bridge = build_bridge(settings, layout_for("prompt", None), MemoryQueue(10))
        assert bridge.gate is not None
        decision = bridge.gate.decide(view)
        delivered_to = bridge.projects.key()  # the project delivery resolves for the record, now
    assert decision.keep and decision.project_key == "LangChain-2026-03-01"
    assert delivered_to == decision.project_key
    bridge.gate.close()
    bridge.client.close()


def test_the_exporter_fails_closed_when_its_shared_state_cannot_be_reached(tmp_path, caplog):
    path = rules_file(tmp_path, "rules:\n  - name: capped\n    limit: 5/day\n")
    exporter = LabelStudioSpanExporter(
        url=f"http://127.0.0.1:{closed_port()}",
        api_key="k",
        timeout=0.2,
        review_rules=path,
        state_url=f"postgresql://ols:s3cret-pass@127.0.0.1:{closed_port()}/state",
    )
    spans = fixtures.load("legacy", "completion")
    assert exporter.export(spans) is SpanExportResult.FAILURE  # not admitted without the shared count
    assert exporter.export(spans) is SpanExportResult.FAILURE
    counts = exporter.counts
    assert counts["state_refused"] == 2 * len(spans) and counts["waiting"] == 0
    assert counts["review.capped.kept"] == 0
    outage = [r.getMessage() for r in caplog.records if r.name == "otel_label_studio.store.shared"]
    assert len(outage) == 1 and "fail closed" in outage[0]  # one line per outage
    assert "s3cret-pass" not in outage[0] and "ols:***@127.0.0.1" in outage[0]
    exporter.shutdown()
