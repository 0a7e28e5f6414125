"""The one ingest path (map, redact, queue, count, wake) and its two adapters: the exporter and
the receiver's intake count alike, and each decides only what a full queue means for its caller."""

from __future__ import annotations

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace.export import SpanExportResult

from otel_label_studio import LabelStudioSpanExporter
from otel_label_studio.ingest import Ingest, IngestStats
from otel_label_studio.modes import runs
from otel_label_studio.reading.mapping import Mapper
from otel_label_studio.reading.redact import Redactor
from otel_label_studio.reading.spanview import SpanView, from_readable_span
from otel_label_studio.receiver.intake import Intake
from otel_label_studio.store.assembly import MemoryHold, RunAssembler
from otel_label_studio.store.memory_queue import MemoryQueue
from otel_label_studio.store.queue import QueueFull
from otel_label_studio.store.spool import Spool
from tests.support import fixtures, scenarios


def spans():
    """A chain with its LLM call, a failed call, and a plain completion: 2 records out of 6 spans."""
    return (
        fixtures.load("legacy", "chain")
        + fixtures.load("legacy", "error")
        + fixtures.load("legacy", "completion")
    )


def mapper() -> Mapper:
    return Mapper(
        metadata_prefix="traceloop.association.properties",
        include_errors=False,
        redactor=Redactor([r"hello|joke"]),
    )


def views():
    return [from_readable_span(span) for span in spans()]


def test_a_batch_is_mapped_redacted_queued_counted_and_wakes_delivery_once():
    queue = MemoryQueue(100)
    woken = []
    ingest = Ingest(mapper(), queue, lambda: woken.append(1))
    added = ingest.enqueue(ingest.map(views()))
    assert added.added == 2 and queue.depth == 2 and woken == [1]
    assert all("[REDACTED]" in str(item.record.messages) for item in queue.take(10))
    assert ingest.stats == IngestStats(
        requests=1, spans_received=6, llm_spans=3, records_spooled=2, errors_skipped=1
    )
    ingest.enqueue(ingest.map(views()))  # a sender's retry: nothing new to deliver, nobody woken
    assert woken == [1] and ingest.stats.duplicates == 2 and ingest.stats.records_spooled == 2


def test_a_full_queue_counts_nothing_for_a_retrying_sender_and_a_drop_for_the_app(tmp_path):
    spool = Spool(str(tmp_path / "full.sqlite3"), max_rows=1)
    ingest = Ingest(mapper(), spool, lambda: pytest.fail("nothing was queued"))
    result = ingest.map(views())
    with pytest.raises(QueueFull):
        ingest.enqueue(result)
    assert ingest.stats == IngestStats()  # the receiver answers 503: the retry is what counts
    assert ingest.refused(result) == 2  # the exporter cannot ask the app to retry
    assert ingest.stats == IngestStats(requests=1, spans_received=6, llm_spans=3, dropped=2, errors_skipped=1)
    spool.close()


def test_a_stage_sees_the_views_before_mapping_and_may_hold_some_back():
    held: list[SpanView] = []
    calls = []

    def hold_the_first_batch(batch: list[SpanView]) -> list[SpanView]:
        calls.append(len(batch))
        if len(calls) == 1:
            held.extend(batch)
            return []
        released, held[:] = held + batch, []
        return released

    queue = MemoryQueue(100)
    ingest = Ingest(mapper(), queue, stages=[hold_the_first_batch])
    first = ingest.map(views())
    assert (first.spans, first.records) == (0, [])
    second = ingest.map(views()[-1:])  # the completion again: released with the held batch
    assert second.spans == 7 and len(second.records) == 3 and calls == [6, 1]


def test_mode_agent_counts_the_llm_spans_of_a_run_not_every_span_it_holds(captured):
    """A run's LangChain spans are all held, but only its chat spans are LLM spans (as in mode prompt)."""
    scenarios.agent_run()  # two chat calls among the run's spans (tools, retriever, graph nodes)
    batch = [from_readable_span(span) for span in captured.get_finished_spans()]
    run_spans = [view for piece in runs.pieces(batch) for view in piece.spans]
    assert len(run_spans) > 2
    queue = MemoryQueue(100)
    ingest = Ingest(mapper(), queue, runs=RunAssembler(MemoryHold(queue, 10), grace=5, idle_timeout=30))
    result = ingest.map(batch)
    assert len(result.held) == len(run_spans)  # every span of the run is held ...
    ingest.enqueue(result)
    assert (ingest.stats.spans_received, ingest.stats.llm_spans) == (len(batch), 2)  # ... two are LLM spans
    assert ingest.stats.llm_spans == mapper().map(batch).llm_spans  # what mode prompt counts


def test_the_exporter_and_the_receiver_count_the_same_spans_alike(monkeypatch, tmp_path):
    for name in ("LABEL_STUDIO_URL", "LABEL_STUDIO_PROJECT_ID", "OTEL_LABEL_STUDIO_SPOOL_PATH"):
        monkeypatch.delenv(name, raising=False)
    exporter = LabelStudioSpanExporter(url="http://127.0.0.1:9", api_key="k", timeout=1)
    assert exporter.export(spans()) == SpanExportResult.SUCCESS
    spool = Spool(str(tmp_path / "spool.sqlite3"))
    intake = Intake(Ingest(mapper(), spool))
    response = intake.accept(encode_spans(spans()))
    assert not response.HasField("partial_success") or response.partial_success.rejected_spans == 0
    counts = exporter.counts
    stats = intake.stats
    assert (
        (counts["spans"], counts["llm_spans"], counts["errors_skipped"], counts["waiting"])
        == (
            stats.spans_received,
            stats.llm_spans,
            stats.errors_skipped,
            stats.records_spooled,
        )
        == (6, 3, 1, 2)
    )
    exporter.shutdown()
    spool.close()
