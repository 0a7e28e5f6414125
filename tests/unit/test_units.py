"""The review units behind the seam (``modes.unit.ReviewUnit``): one per mode, each taking its own
records, shaping them only in a layout that can show them, holding what it must, and refusing the
review rules that do not fit it."""

from __future__ import annotations

import pytest

from otel_label_studio import config
from otel_label_studio.modes.layouts import Layout
from otel_label_studio.modes.pair_layout import PairLayout
from otel_label_studio.modes.pair_record import PairRecord
from otel_label_studio.modes.pairs import form_pairs
from otel_label_studio.modes.runs import RunRecord
from otel_label_studio.modes.unit import HoldSettings
from otel_label_studio.modes.units import UNITS, check_rules_file, task_layout, unit_for, unit_of
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
