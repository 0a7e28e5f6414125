"""The review units behind the seam (``modes.unit.ReviewUnit``): one per mode, each taking its own
records, shaping them only in a layout that can show them, holding what it must, and refusing the
review rules that do not fit it."""

from __future__ import annotations

import pytest

from otel_label_studio import config
from otel_label_studio.analysis.readings import AnswerReading, PairReading
from otel_label_studio.modes.layouts import CHAT_CONFIG, PROMPT_CONFIG, Layout
from otel_label_studio.modes.pair_layout import PAIRWISE_CONFIG, PairLayout
from otel_label_studio.modes.pair_record import PairRecord
from otel_label_studio.modes.pairs import form_pairs
from otel_label_studio.modes.runs import RunRecord
from otel_label_studio.modes.unit import HoldSettings
from otel_label_studio.modes.units import (
    UNITS,
    check_rules_file,
    decode_record,
    task_layout,
    unit_for,
    unit_of,
    unit_of_project,
)
from otel_label_studio.reading.mapping import Mapper
from otel_label_studio.store.assembly import MemoryHold
from otel_label_studio.store.memory_queue import MemoryQueue
from tests.support.builders import record

HOLD = HoldSettings(run_grace=5, run_idle_timeout=30, pair_wait=10)


def test_one_unit_for_every_mode_the_settings_accept():
    assert tuple(UNITS) == config.MODES
    assert all(unit_for(mode).mode == mode for mode in config.MODES)


def test_each_mode_gets_its_layout():
    assert isinstance(task_layout("prompt", None), Layout) and not task_layout("prompt", None).dialogue
    assert isinstance(task_layout("chat", None), Layout) and task_layout("chat", None).dialogue
    assert isinstance(task_layout("agent", None), Layout)
    assert isinstance(task_layout("pairwise", None), PairLayout)


def a_pair() -> PairRecord:
    call = record(1)
    call.outputs = ["Paris.", "Lyon."]  # two generations (n=2): a pair of their own
    (pair,) = form_pairs([call]).pairs
    return PairRecord(pair, None)


def test_a_record_finds_its_unit_and_only_a_fitting_layout_shows_it():
    call, pair = record(2), a_pair()
    assert unit_of(call).mode == "prompt"  # prompt and chat shape a call alike: the first of them
    assert unit_of(pair).mode == "pairwise"
    assert unit_of(call).task(task_layout("chat", None), call)["data"]
    assert unit_of(pair).task(task_layout("pairwise", None), pair)["data"]
    with pytest.raises(ValueError, match="takes pairs, not single LLM calls"):
        unit_of(call).task(task_layout("pairwise", None), call)
    with pytest.raises(ValueError, match="a pair needs a pairwise label config"):
        unit_of(pair).task(task_layout("prompt", None), pair)
    assert unit_for("agent").takes(RunRecord.__new__(RunRecord)) and not unit_for("agent").takes(call)


def test_only_agent_and_pairwise_hold_spans_and_count_what_they_hold():
    queue = MemoryQueue(100)
    mapper = Mapper(metadata_prefix="ls", include_errors=False)
    holds = {
        mode: unit.hold(
            lambda: MemoryHold(queue, 10),
            HOLD,
            mapper=mapper,
            redact=None,
            gate=None,
        )
        for mode, unit in UNITS.items()
    }
    assert holds["prompt"] is None and holds["chat"] is None
    assert set(unit_for("agent").counts(holds["agent"])) >= {"runs_released", "runs_open"}
    assert set(unit_for("pairwise").counts(holds["pairwise"])) >= {"pairs_released", "pair_traces_waiting"}
    assert set(unit_for("agent").readings(holds["agent"])) == {"runs"}
    assert set(unit_for("pairwise").readings(holds["pairwise"])) == {"pairs"}


def test_each_unit_refuses_the_rules_that_do_not_fit_it(tmp_path):
    runs = tmp_path / "runs.yaml"
    runs.write_text("rules:\n  - name: long\n    match: {run.steps: '>3'}\n")
    calls = tmp_path / "calls.yaml"
    calls.write_text("rules:\n  - name: slow\n    match: {latency_ms: '>2000'}\n")
    check_rules_file(str(runs), "agent")
    check_rules_file(str(calls), "chat")
    with pytest.raises(ValueError, match="run.steps .* applies in mode agent only"):
        check_rules_file(str(runs), "prompt")
    with pytest.raises(ValueError, match="latency_ms .* mode agent decides whole runs"):
        check_rules_file(str(calls), "agent")
    with pytest.raises(ValueError, match="review rules do not apply to mode pairwise"):
        check_rules_file(str(calls), "pairwise")


def test_a_queued_record_is_decoded_by_the_unit_that_claims_its_bytes():
    call, pair = record(1), a_pair()
    run = RunRecord(trace_id="t", span_id="s", name="r", request="2+2?", final_answer="4")
    claims = {}
    for kind, expected in (("call", call), ("run", run), ("pair", pair)):
        data = expected.to_bytes()
        decoded = decode_record(data)
        assert type(decoded) is type(expected) and decoded.to_bytes() == data
        claims[kind] = [unit.mode for unit in UNITS.values() if not unit.claims_rest and unit.decode(data)]
    assert claims == {"call": [], "run": ["agent"], "pair": ["pairwise"]}  # a call: the bytes no unit claims
    assert [unit.mode for unit in UNITS.values() if unit.claims_rest] == ["prompt", "chat"]


def test_a_project_is_read_by_the_unit_its_label_config_needs():
    pairwise = unit_of_project(PAIRWISE_CONFIG)
    assert pairwise.mode == "pairwise" and isinstance(pairwise.reading(PAIRWISE_CONFIG), PairReading)
    for config_text in (CHAT_CONFIG, PROMPT_CONFIG, task_layout("agent", None).label_config):
        unit = unit_of_project(config_text)
        assert unit.mode == "prompt" and isinstance(unit.reading(config_text), AnswerReading)
    assert AnswerReading(PROMPT_CONFIG).variants is False and PairReading(PAIRWISE_CONFIG).variants is True


def test_only_agent_has_a_note_for_rules_check():
    notes = {mode: unit.rules_note for mode, unit in UNITS.items()}
    assert notes.pop("agent").startswith("mode agent: the rules decide whole runs")
    assert set(notes.values()) == {None}


@pytest.mark.parametrize(("mode", "every"), [("chat", "every LLM span"), ("agent", "every run")])
def test_rules_check_lists_a_catch_all_rule_in_the_units_words(mode, every, tmp_path, capsys):
    from otel_label_studio.cli import main  # the command line, in this process

    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "rules:\n  - name: failures\n    match: {status: error}\n  - name: rest\n    sample: 0.5\n"
    )
    assert main(["rules", "check", "--review-rules", str(rules), "--mode", mode]) == 0
    out = capsys.readouterr().out
    assert f"rest (line 4): {every}; sample 0.5" in out, out
    assert ("LLM span" in out) is (mode != "agent"), out  # agent speaks of runs only
