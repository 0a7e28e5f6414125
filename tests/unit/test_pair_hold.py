"""Mode pairwise's hold (the agent mode's RunAssembler with PairBuild): the wait, the release into
pair records keyed by pair id, a restart in between, and what is counted."""

from __future__ import annotations

import pytest

from otel_label_studio import LabelStudioSpanExporter
from otel_label_studio.config import SettingsError, resolve_settings
from otel_label_studio.modes.layouts import PROMPT_CONFIG
from otel_label_studio.modes.pair_hold import PairBuild
from otel_label_studio.modes.pair_layout import PAIRWISE_CONFIG, PairLayout
from otel_label_studio.modes.pair_record import PairRecord
from otel_label_studio.modes.units import decode_record
from otel_label_studio.reading.mapping import Mapper
from otel_label_studio.reading.spanview import SpanView, from_readable_span
from otel_label_studio.store.assembly import MemoryHold, RunAssembler
from otel_label_studio.store.memory_queue import MemoryQueue
from otel_label_studio.store.spool import Spool, SpoolHold
from tests.support import scenarios
from tests.support.pair_spans import ANSWER_CANDIDATE, ANSWER_SERVED, served_and_candidate

WAIT = 60.0


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def pair_assembler(hold, clock: Clock) -> RunAssembler:
    mapper = Mapper(metadata_prefix="traceloop.association.properties", include_errors=False)
    return RunAssembler(hold, grace=WAIT, idle_timeout=WAIT, clock=clock, build=PairBuild(mapper))


def app_views(captured, app) -> list[SpanView]:
    app()
    views = [from_readable_span(span) for span in captured.get_finished_spans()]
    captured.clear()
    return views


def queued_pairs(queue) -> list[PairRecord]:
    records = [item.record for item in queue.take(100)]
    assert all(isinstance(record, PairRecord) for record in records)
    return records  # type: ignore[return-value]


def test_a_pair_survives_its_bytes_and_is_queued_once_by_its_pair_id(captured, tmp_path):
    views = app_views(captured, served_and_candidate)
    queue, clock = MemoryQueue(100), Clock()
    assembler = pair_assembler(MemoryHold(queue, 10), clock)
    assembler.hold(assembler.pieces_of(views))
    clock.now += WAIT
    assert assembler.release_ready() == 1
    [record] = queued_pairs(queue)
    assert decode_record(record.to_bytes()) == record
    assert record.span_id == record.pair.pair_id and "|" in record.span_id
    spool = Spool(str(tmp_path / "spool.sqlite3"))
    assert spool.add([record]).added == 1 and spool.add([record]).duplicates == 1
    [item] = spool.take(10)
    assert item.record == record
    spool.close()


def test_llm_spans_wait_for_the_pair_wait_after_the_last_one_and_only_llm_spans_are_held(captured):
    views = app_views(captured, served_and_candidate)
    queue, clock = MemoryQueue(100), Clock()
    assembler = pair_assembler(MemoryHold(queue, 10), clock)
    assert len(views) == 3 and len(assembler.pieces_of(views)) == 2  # the chain span is not held
    first, second = (view for view in views if assembler.build.takes(view))
    assembler.hold(assembler.pieces_of([first]))
    clock.now += WAIT - 1
    assembler.hold(assembler.pieces_of([second]))  # the partner comes: the wait starts again
    clock.now += WAIT - 1
    assert assembler.release_ready() == 0
    clock.now += 1
    assert assembler.release_ready() == 1
    [record] = queued_pairs(queue)
    assert {record.pair.a.answer, record.pair.b.answer} == {ANSWER_SERVED, ANSWER_CANDIDATE}
    stats = assembler.build.stats  # type: ignore[attr-defined]
    assert (stats.pairs_released, stats.spans_unpaired, assembler.open_runs) == (1, 0, 0)


def test_a_restart_between_the_halves_keeps_the_first_and_pairs_it_with_the_second(captured, tmp_path):
    views = app_views(captured, served_and_candidate)
    path = str(tmp_path / "spool.sqlite3")
    clock = Clock()
    spool = Spool(path, clock=clock)
    assembler = pair_assembler(SpoolHold(spool), clock)
    first, second = assembler.pieces_of(views)
    assembler.hold([first])
    spool.close()  # the process dies: nothing but the file is left

    clock.now += 10
    spool = Spool(path, clock=clock)
    assembler = pair_assembler(SpoolHold(spool), clock)
    assert assembler.open_runs == 1  # the held half, on its stored arrival time
    assembler.hold(assembler.pieces_of([view for view in views if view.span_id == second.span_id]))
    clock.now += WAIT
    assert assembler.release_ready() == 1
    [record] = queued_pairs(spool)
    assert {record.pair.a.span_id, record.pair.b.span_id} == {first.span_id, second.span_id}
    assert SpoolHold(spool).open_traces() == []  # the held spans went in the same transaction
    spool.close()


def test_a_lone_call_is_counted_unpaired_and_a_retry_after_the_release_adds_nothing(captured):
    views = app_views(captured, scenarios.chat_system_human)
    queue, clock = MemoryQueue(100), Clock()
    assembler = pair_assembler(MemoryHold(queue, 10), clock)
    assembler.hold(assembler.pieces_of(views))
    clock.now += WAIT
    assert assembler.release_ready() == 0
    assembler.hold(assembler.pieces_of(views))  # a sender's retry
    clock.now += WAIT
    assert assembler.release_ready() == 0
    stats = assembler.build.stats  # type: ignore[attr-defined]
    assert (stats.pairs_released, stats.spans_unpaired) == (0, 1)
    assert assembler.stats.late_spans_dropped == 1 and queue.depth == 0


def test_review_rules_with_mode_pairwise_are_refused_at_start(tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - name: all\n    sample: 1.0\n")
    with pytest.raises(SettingsError, match="review rules do not apply to mode pairwise"):
        resolve_settings(mode="pairwise", review_rules=str(rules))
    with pytest.raises(ValueError, match="review rules do not apply to mode pairwise"):
        LabelStudioSpanExporter(api_key="k", mode="pairwise", review_rules=str(rules))
    assert resolve_settings(mode="pairwise", pair_wait=2).pair_wait == 2.0
    assert resolve_settings().pair_wait == 60.0


OWN_CONFIG = (
    "<View><Text name='question' value='$question'/>"
    "<Pairwise name='pick' toName='left,right'/>"
    "<Text name='left' value='$left'/><Text name='right' value='$right'/></View>"
)


def test_mode_pairwise_gets_the_pairwise_layout_and_a_users_own_pairwise_config_binds():
    default = LabelStudioSpanExporter(api_key="k", mode="pairwise")
    own = LabelStudioSpanExporter(api_key="k", mode="pairwise", project_config=OWN_CONFIG)
    try:
        assert isinstance(default.layout, PairLayout) and default.layout.label_config == PAIRWISE_CONFIG
        assert isinstance(own.layout, PairLayout)
        assert (own.layout.answer_keys, own.layout.prompt_key, own.layout.dialogue) == (
            ("left", "right"),
            "question",
            False,
        )
    finally:
        default.shutdown()
        own.shutdown()
    with pytest.raises(ValueError, match="project_config: a pairwise label config needs <Pairwise"):
        LabelStudioSpanExporter(api_key="k", mode="pairwise", project_config=PROMPT_CONFIG)
