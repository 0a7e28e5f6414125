"""Review rules over agent runs (mode agent): run fields read from real LangGraph runs, the first rule
that matches decides when the run is released, sampling by trace id, limits and folding per run."""

from __future__ import annotations

import textwrap
from dataclasses import replace

import pytest

from otel_label_studio.modes.runs import build_run, pieces, runs_of
from otel_label_studio.reading.spanview import SpanView, from_readable_span
from otel_label_studio.rules import ReviewGate, RulesError, parse
from otel_label_studio.rules.fields import FieldReader
from otel_label_studio.rules.run_fields import check_mode, run_reader, run_view
from otel_label_studio.store.assembly import MemoryHold, RunAssembler
from otel_label_studio.store.memory_queue import MemoryQueue
from tests.support import scenarios

PREFIX = "traceloop.association.properties"


def run_views(captured, scenario) -> list[list[SpanView]]:
    scenario()
    views = [from_readable_span(span) for span in captured.get_finished_spans()]
    captured.clear()
    return [run for piece in pieces(views) for run in runs_of(piece.spans)]


def gate_of(text: str) -> ReviewGate:
    return ReviewGate(parse(textwrap.dedent(text)), metadata_prefix=PREFIX, default_project="p")


def test_run_fields_read_from_a_real_agent_run_and_a_failed_call(captured):
    [agent] = run_views(captured, scenarios.agent_run)
    [failed] = run_views(captured, scenarios.failing)
    fields = FieldReader(PREFIX)

    def read(key, spans):
        return run_reader(key, fields)(run_view(build_run(spans), spans))

    assert [read(key, agent) for key in ("run.steps", "run.llm_steps", "run.tool_steps")] == [4, 2, 1]
    assert read("run.retriever_steps", agent) == 1
    assert read("run.tools", agent) == ["search_weather"]
    assert (read("run.failed", agent), read("run.incomplete", agent), read("status", agent)) == (
        False,
        False,
        "ok",
    )
    assert read("run.duration_ms", agent) > 0
    assert read("service.name", agent) == agent[0].resource["service.name"]
    failed_fields = [read(key, failed) for key in ("run.tools", "run.failed", "run.steps")]
    assert failed_fields == [None, True, 1]


def test_the_first_matching_rule_decides_each_released_run_and_counts_it(captured):
    agent = run_views(captured, scenarios.agent_run)[0]
    failed = run_views(captured, scenarios.failing)[0]
    plain = run_views(captured, scenarios.chat_system_human)[0]
    gate = gate_of(
        """\
        rules:
          - name: tools
            match: {run.tools: "search_*", run.steps: ">=2"}
          - name: failed
            match: {run.failed: true}
          - name: rest
            sample: 0
        """
    )
    queue = MemoryQueue(100)
    assembler = RunAssembler(MemoryHold(queue, 10), grace=0, idle_timeout=300, gate=gate)
    for spans in (agent, failed, plain):
        assembler.hold(assembler.pieces_of(spans))
    assert assembler.release_ready(flush=True) == 2
    queued = sorted(item.record.trace_id for item in queue.take(10))
    assert queued == sorted([agent[0].trace_id, failed[0].trace_id])
    counts = gate.counts()
    assert (counts.rules["tools"].kept, counts.rules["failed"].kept) == (1, 1)
    assert (counts.rules["rest"].matched, counts.rules["rest"].sampled_out, counts.no_rule) == (1, 1, 0)
    assert assembler.open_runs == 0  # the dropped run's pieces are gone too


def test_runs_are_sampled_by_trace_id_limited_and_folded_per_run(captured):
    agent = run_views(captured, scenarios.agent_run)[0]
    trace = agent[0].trace_id
    low = int(trace[16:], 16) / 2**64
    fields = {"tools": "run.tools: search_weather"}
    above, below = min(1.0, low + 1e-6), max(0.0, low - 1e-6)
    for rate, kept in ((above, True), (below, False)):
        gate = gate_of(f"rules:\n  - name: tools\n    match: {{{fields['tools']}}}\n    sample: {rate!r}\n")
        decision = gate.decide_run(run_view(build_run(agent), agent))
        assert decision.keep is kept, (rate, low)
    other_trace = [replace(view, trace_id="f" * 32) for view in agent]  # the same run again
    third = run_views(captured, lambda: scenarios.agent_run(city="Oslo", answer="Rain."))[0]
    for rules, expected in (
        ("rules:\n  - name: all\nfold_duplicates: 1h\n", (2, 1, 0)),
        ("rules:\n  - name: all\n    limit: 1/day\n", (1, 0, 2)),
    ):
        gate = gate_of(rules)
        queue = MemoryQueue(100)
        assembler = RunAssembler(MemoryHold(queue, 10), grace=0, idle_timeout=300, gate=gate)
        for spans in (agent, other_trace, third):
            assembler.hold(assembler.pieces_of(spans))
            assembler.release_ready(flush=True)
        assert len(queue.take(10)) == expected[0]
        counts = gate.counts().rules["all"]
        assert (counts.kept, counts.folded, counts.over_limit) == expected, rules


def test_a_run_the_memory_queue_drops_for_lack_of_room_is_neither_kept_nor_counted_against_its_limit(
    captured,
):
    agent = run_views(captured, scenarios.agent_run)[0]
    failed = run_views(captured, scenarios.failing)[0]
    gate = gate_of("rules:\n  - name: all\n    limit: 1/day\n")
    queue = MemoryQueue(1)
    assembler = RunAssembler(MemoryHold(queue, 10), grace=0, idle_timeout=300, gate=gate)
    queue.add([build_run(failed)])  # the queue is full when the run is released
    assembler.hold(assembler.pieces_of(agent))
    assert assembler.release_ready(flush=True) == 0 and queue.depth == 1
    assert gate.counts().rules["all"].kept == 0
    queue.delivered(queue.take(10), 1)  # delivery makes room; the day's one task is still free
    assert gate.decide_run(run_view(build_run(failed), failed)).keep


def test_keys_that_do_not_fit_the_mode_are_refused_with_their_line():
    text = "rules:\n  - name: a\n    match:\n      model: gpt-*\n      run.steps: '>3'\n"
    check_mode(parse(text, "r.yaml"), "agent")
    with pytest.raises(RulesError, match=r"r.yaml, line 5: run.steps in rule 'a' is a run's field"):
        check_mode(parse(text, "r.yaml"), "chat")
    with pytest.raises(RulesError, match=r"line 4: evaluation.helpful in rule 'b' is one LLM call's field"):
        check_mode(parse("rules:\n  - name: b\n    match:\n      evaluation.helpful: 1\n"), "agent")
    with pytest.raises(RulesError, match=r"line 3: unknown run field 'run.tool' .*did you mean 'run.tools'"):
        parse("rules:\n  - name: c\n    match: {run.tool: x}\n")
