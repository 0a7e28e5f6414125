"""Rules that wait for judges (issue 28, step 4, the pure part): ``await_judges`` and ``judge_wait`` read
from a rule with their line; ``JudgeWaits`` holds decisions until the judges answered (by span id or
response id) or the wait ran out, bounded, counting what it drops; ``with_results`` lets the rules
decide on the results as on the span's own events."""

from __future__ import annotations

import pytest

from otel_label_studio.reading.evaluations import JudgeEvent
from otel_label_studio.reading.spanview import SpanView
from otel_label_studio.rules import KEPT, ReviewGate, RulesError, parse
from otel_label_studio.rules.judge_wait import JudgeWaits, with_results

TRACE, SPAN = "a" * 32, "b" * 16


def result(name: str, score=None, label=None, span=SPAN, response=None) -> JudgeEvent:
    return JudgeEvent(
        TRACE if span else "", span, response, {"name": name, "score": score, "label": label}, 0
    )


def test_await_judges_and_judge_wait_read_from_a_rule():
    rules = parse(
        "rules:\n  - name: doubt\n    await_judges: [helpfulness, faithfulness]\n    judge_wait: 2m\n"
        "    match: {evaluation.disagreement: true}\n  - name: rest\n    await_judges: helpfulness\n"
    )
    first, second = rules.rules
    assert (first.await_judges, first.judge_wait) == (("helpfulness", "faithfulness"), 120.0)
    assert (second.await_judges, second.judge_wait) == (("helpfulness",), 600.0)
    assert parse("rules:\n  - name: r\n").rules[0].await_judges == ()


@pytest.mark.parametrize(
    "rule, line, words",
    [
        ("    judge_wait: 5m\n", 3, "needs `await_judges"),
        ("    await_judges: []\n", 3, "name the judges"),
        ("    await_judges: [a]\n    judge_wait: soon\n", 4, "duration"),
    ],
)
def test_a_wait_mistake_names_its_line(rule, line, words):
    with pytest.raises(RulesError) as caught:
        parse("rules:\n  - name: r\n" + rule, "rules.yaml")
    assert caught.value.line == line and words in str(caught.value), str(caught.value)


def test_a_decision_is_released_when_every_awaited_judge_answered():
    waits = JudgeWaits()
    assert waits.hold(TRACE, SPAN, None, ("a", "b"), 600, 100.0, "item") == []
    assert waits.arrived([result("a", 0.9, "good")], 110.0) == []
    assert waits.arrived([result("other", 0.1)], 111.0) == []
    (released,) = waits.arrived([result("b", 0.2, "bad")], 130.0)
    assert released.item == "item" and released.complete and released.waited == 30.0
    assert released.results == {"a": (0.9, "good"), "b": (0.2, "bad"), "other": (0.1, None)}
    counts = waits.counts()
    assert (counts.held, counts.released, counts.expired, counts.waited_seconds) == (0, 1, 0, 30.0)


def test_a_result_naming_the_response_id_joins_and_the_wait_runs_out_otherwise():
    waits = JudgeWaits()
    waits.hold(TRACE, SPAN, "resp-1", ("a",), 600, 0.0, "joined")
    waits.hold(TRACE, "c" * 16, None, ("a", "b"), 60, 0.0, "expires")
    (joined,) = waits.arrived([result("a", label="ok", span="", response="resp-1")], 5.0)
    assert joined.item == "joined"
    assert waits.expire(59.0) == []
    (expired,) = waits.expire(60.0)
    assert expired.item == "expires" and not expired.complete and expired.results == {}
    assert waits.counts().expired == 1


def test_results_that_came_before_their_span_are_kept_and_count():
    waits = JudgeWaits()
    assert waits.arrived([result("a", 1.0, "good"), result("b", 0.0, "bad")], 1.0) == []
    (released,) = waits.hold(TRACE, SPAN, None, ("a", "b"), 600, 2.0, "item")
    assert released.complete and released.waited == 0.0


def test_past_the_bound_a_decision_is_made_at_once_and_counted_as_dropped():
    waits = JudgeWaits(max_held=2)
    waits.hold(TRACE, "1" * 16, None, ("a",), 600, 0.0, 1)
    waits.hold(TRACE, "2" * 16, None, ("a",), 600, 0.0, 2)
    (dropped,) = waits.hold(TRACE, "3" * 16, None, ("a",), 600, 0.0, 3)
    assert dropped.item == 3 and not dropped.complete
    assert (waits.counts().held, waits.counts().dropped) == (2, 1)
    for number in range(3):
        waits.arrived([result("x", span=f"{number:016x}0"[:16])], 0.0)
    assert waits.counts().early_dropped == 1  # two kept early, the third past the bound


def test_the_rules_decide_on_the_results_that_came_as_on_the_spans_own_events():
    view = SpanView(TRACE, SPAN, "chat", {"gen_ai.operation.name": "chat", "gen_ai.request.model": "m"}, 1, 2)
    gate = ReviewGate(
        parse(
            "rules:\n  - name: doubt\n    await_judges: [a, b]\n    match: {evaluation.disagreement: true}\n"
        ),
        metadata_prefix="p",
        default_project="x",
    )
    assert gate.decide(view).reason != KEPT
    assert gate.decide(with_results(view, {"a": (0.9, "good"), "b": (0.1, "bad")})).reason == KEPT
    assert gate.decide(with_results(view, {"a": (0.9, "good"), "b": (0.8, "good")})).reason != KEPT


def test_serve_and_the_exporter_refuse_await_judges_they_do_not_apply_yet(tmp_path):
    from otel_label_studio.modes.units import check_rules_file

    path = tmp_path / "rules.yaml"
    path.write_text("rules:\n  - name: r\n    await_judges: [a]\n")
    with pytest.raises(RulesError) as caught:
        check_rules_file(str(path), "prompt")
    assert caught.value.line == 2 and "rules check" in str(caught.value)
