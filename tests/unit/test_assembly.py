"""Run assembly (mode agent) from real LangGraph spans: in memory and in a real spool file."""

from __future__ import annotations

import math
import pickle
from dataclasses import replace

import pytest

from otel_label_studio.modes.runs import RunRecord, build_run, looks_like_top, pieces, runs_of
from otel_label_studio.modes.units import decode_record
from otel_label_studio.reading.mapping import Mapper
from otel_label_studio.reading.spanview import EventView, SpanView, from_readable_span
from otel_label_studio.store.assembly import MemoryHold, RunAssembler
from otel_label_studio.store.memory_queue import MemoryQueue
from otel_label_studio.store.run_codec import VIEW_FORMAT, decode_view, encode_view
from otel_label_studio.store.spool import Spool, SpoolHold
from tests.support import scenarios


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def agent_views(captured, **kwargs) -> list[SpanView]:
    scenarios.agent_run(**kwargs)
    views = [from_readable_span(span) for span in captured.get_finished_spans()]
    captured.clear()
    [piece] = pieces(views)
    return piece.spans


def queued_runs(queue) -> list[RunRecord]:
    records = [item.record for item in queue.take(100)]
    assert all(isinstance(record, RunRecord) for record in records)
    return records  # type: ignore[return-value]


def test_a_view_and_a_run_survive_their_bytes(captured):
    views = agent_views(captured)
    assert [decode_view(encode_view(view)) for view in views] == views
    run = build_run(views)
    assert decode_record(run.to_bytes()) == run
    empty = replace(run, steps=[], prompt=[], tools=[], request="", final_answer="", name="")
    assert decode_record(empty.to_bytes()) == empty
    mapper = Mapper(metadata_prefix="traceloop.association.properties", include_errors=True)
    records = mapper.map(views).records
    assert records and all(decode_record(record.to_bytes()) == record for record in records)


def test_a_run_is_released_once_its_top_came_and_the_grace_passed(captured):
    views = agent_views(captured)
    top = next(view for view in views if not view.parent_span_id)
    queue, clock = MemoryQueue(100), Clock()
    assembler = RunAssembler(MemoryHold(queue, 10), grace=5, idle_timeout=300, clock=clock)
    rest = [view for view in views if view is not top]
    assembler.hold(assembler.pieces_of(reversed(rest)))
    clock.now += 400
    assembler.hold(assembler.pieces_of([top]))  # the top arrives: the wait starts again
    clock.now += 4.9
    assert assembler.release_ready() == 0
    clock.now += 0.2
    assert assembler.release_ready() == 1
    [run] = queued_runs(queue)
    assert run == build_run(views)
    assert run.span_id == top.span_id and not run.incomplete
    assert assembler.open_runs == 0
    # the same spans sent again (a retried request) are late: dropped and counted, no second run
    assembler.hold(assembler.pieces_of(views))
    assert assembler.stats.late_spans_dropped == len(views)
    assert assembler.release_ready(flush=True) == 0 and queue.depth == 1


def test_a_run_without_its_top_is_one_incomplete_run_after_the_idle_timeout(captured):
    views = agent_views(captured)  # its top: invoke_agent LangGraph, and LangGraph.workflow under it
    queue, clock = MemoryQueue(100), Clock()
    assembler = RunAssembler(MemoryHold(queue, 10), grace=5, idle_timeout=30, clock=clock)
    assembler.hold(assembler.pieces_of([view for view in views if not looks_like_top(view)]))
    clock.now += 29
    assert assembler.release_ready(flush=True) == 0  # no top: flush does not release it either
    clock.now += 1
    assert assembler.release_ready() == 1
    [run] = queued_runs(queue)
    assert run.incomplete
    assert [step.kind for step in run.steps] == ["llm", "tool", "retriever", "llm"]
    assert run.final_answer == "It is sunny and 22C in Paris."


def test_two_traces_are_two_runs_and_the_memory_hold_is_capped(captured):
    first, second, third = (agent_views(captured, city=city) for city in ("Paris", "Oslo", "Rome"))
    queue, clock = MemoryQueue(100), Clock()
    assembler = RunAssembler(MemoryHold(queue, 2), grace=5, idle_timeout=30, clock=clock)
    mixed = [view for pair in zip(first, second, strict=False) for view in pair]
    assembler.hold(assembler.pieces_of(mixed + first[len(second) :] + second[len(first) :]))
    assembler.hold(assembler.pieces_of(third))
    assert assembler.stats.spans_dropped_full == len(third)
    assert assembler.open_runs == 2
    clock.now += 5
    assert assembler.release_ready() == 2
    runs = sorted(queued_runs(queue), key=lambda run: run.request)
    assert [run.request for run in runs] == ["What's the weather in Oslo?", "What's the weather in Paris?"]
    assert runs[0] == build_run(second) and runs[1] == build_run(first)


def test_held_pieces_survive_a_restart_and_release_on_their_stored_times(captured, tmp_path):
    views = agent_views(captured)
    path = str(tmp_path / "spool.sqlite3")
    clock = Clock()
    spool = Spool(path, clock=clock)
    assembler = RunAssembler(SpoolHold(spool), grace=5, idle_timeout=300, clock=clock)
    half = len(views) // 2
    assembler.hold(assembler.pieces_of(views[:half]))
    spool.close()  # the process ends with half the run held

    clock.now += 100
    spool = Spool(path, clock=clock)
    assembler = RunAssembler(SpoolHold(spool), grace=5, idle_timeout=300, clock=clock)
    assert assembler.open_runs == 1  # found in the file
    assembler.hold(assembler.pieces_of(views[half:]))
    clock.now += 5
    assert assembler.release_ready() == 1
    [run] = queued_runs(spool)
    assert run == build_run(views)
    assert SpoolHold(spool).open_traces() == []  # the pieces went with the release, in its transaction
    spool.close()
    spool = Spool(path, clock=clock)
    assert RunAssembler(SpoolHold(spool), grace=5, idle_timeout=300).open_runs == 0
    assert [item.record for item in spool.take(10)] == [run]
    spool.close()


def test_two_runs_in_one_trace_are_two_records(captured):
    first, second = agent_views(captured, city="Paris"), agent_views(captured, city="Oslo")
    moved = [replace(view, trace_id=first[0].trace_id) for view in second]  # two agent calls, one trace
    assert len(runs_of(first + moved)) == 2
    queue, clock = MemoryQueue(100), Clock()
    assembler = RunAssembler(MemoryHold(queue, 10), grace=5, idle_timeout=30, clock=clock)
    assembler.hold(assembler.pieces_of(first + moved))
    clock.now += 5
    assert assembler.release_ready() == 2
    assert {run.request for run in queued_runs(queue)} == {
        "What's the weather in Paris?",
        "What's the weather in Oslo?",
    }


def test_a_run_goes_to_its_resource_project_before_the_requests_project(captured, tmp_path):
    """The request's project (serve's x-label-studio-project header) is for runs whose spans name none,
    as for LLM calls; it survives the spool's hold."""
    paris, oslo = agent_views(captured, city="Paris"), agent_views(captured, city="Oslo")
    routed = [replace(view, resource={**view.resource, "label_studio.project": "Support"}) for view in paris]
    clock = Clock()
    spool = Spool(str(tmp_path / "spool.sqlite3"), clock=clock)
    assembler = RunAssembler(SpoolHold(spool), grace=5, idle_timeout=300, clock=clock)
    assembler.hold(assembler.pieces_of(routed + oslo, "From-Header"))
    clock.now += 5
    assert assembler.release_ready() == 2
    projects = {run.request: run.project for run in queued_runs(spool)}
    assert projects == {
        "What's the weather in Paris?": "Support",
        "What's the weather in Oslo?": "From-Header",
    }
    spool.close()


def test_the_spool_holds_spans_of_different_traces_apart_even_with_equal_span_ids(captured, tmp_path):
    views = agent_views(captured)
    copies = [[replace(view, trace_id=f"{n:032x}") for view in views] for n in (1, 2)]
    clock = Clock()
    spool = Spool(str(tmp_path / "spool.sqlite3"), clock=clock)
    assembler = RunAssembler(SpoolHold(spool), grace=5, idle_timeout=300, clock=clock)
    for trace in copies:
        assembler.hold(assembler.pieces_of(trace))
    clock.now += 5
    assert assembler.release_ready() == 2
    assert sorted(run.trace_id for run in queued_runs(spool)) == [f"{n:032x}" for n in (1, 2)]
    spool.close()


def test_a_held_view_is_plain_values_with_a_version_byte_and_keeps_every_attribute_type():
    values = {
        "text": "café 😀",
        "empty": "",
        "yes": True,
        "no": False,
        "int": 7,
        "big": -(2**63),
        "huge": 2**70,
        "float": 0.25,
        "whole_float": 2.0,
        "nan": float("nan"),
        "inf": float("-inf"),
        "bytes": b"\x00\xff",
        "texts": ("a", "b"),
        "bools": (True, False),
        "ints": (1, 2),
        "floats": (1.5, 2.0),
        "nested": ((1, "x"), ()),
        "kvlist": {"k": (1, b"v"), "inner": {"deep": None}},
    }
    view = SpanView(
        "0af7651916cd43dd8448eb211c80319c",
        "b7ad6b7169203331",
        "chat",
        values,
        1,
        2,
        "ERROR",
        "boom",
        (EventView("gen_ai.evaluation.result", 3, {"score": 0.5, "tags": ("x",)}),),
        {"service.name": "svc", "pid": 42},
        5,
        "00f067aa0ba902b7",
    )
    data = encode_view(view)
    assert data[:1] == VIEW_FORMAT and b"pickle" not in data and data[1:2] == b"["
    back = decode_view(data)
    assert math.isnan(back.attributes.pop("nan"))  # NaN != NaN: compared apart
    expected = {key: value for key, value in values.items() if key != "nan"}
    assert back.attributes == expected
    for key, value in expected.items():
        assert type(back.attributes[key]) is type(value), key
    assert (back.trace_id, back.span_id, back.parent_span_id, back.name) == (
        view.trace_id,
        view.span_id,
        view.parent_span_id,
        view.name,
    )
    assert (back.start_time_unix_nano, back.end_time_unix_nano, back.status_code, back.status_message) == (
        1,
        2,
        "ERROR",
        "boom",
    )
    assert back.events == view.events and back.resource == view.resource
    assert back.dropped_attributes_count == 5
    old = pickle.dumps(  # a piece held by a version before VIEW_FORMAT is still read
        (view.trace_id, view.span_id, "chat", {"a": 1}, 1, 2, "OK", "", [("e", 3, {})], {}, 0, ""),
        protocol=5,
    )
    assert decode_view(old).attributes == {"a": 1} and decode_view(old).events == (EventView("e", 3, {}),)
    with pytest.raises(ValueError, match="not a held span view"):
        decode_view(b"\x02[]")
