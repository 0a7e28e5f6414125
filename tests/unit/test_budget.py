"""The review budget (rules/budget.py): parsed from the rules file with the line of each mistake; spread
over the day in windows; explore a uniform sample by trace id with weight 1/p; the rest by priority."""

from __future__ import annotations

import random
import textwrap

import pytest

from otel_label_studio.rules import RulesError, parse
from otel_label_studio.rules.budget import (
    EXPLORE,
    Budget,
    BudgetSpec,
    Candidate,
    MemoryLedger,
    trace_hash,
)

DAY = 86_400.0
MIDNIGHT = 1_795_996_800.0  # 2026-11-30 00:00:00 UTC

RULES = """\
rules:
  - name: failures
    match: {status: error}
  - name: rest
"""


def spec_of(text: str) -> BudgetSpec:
    budget = parse(RULES + textwrap.dedent(text)).budget
    assert budget is not None
    return budget


def test_the_budget_keys_read_as_written():
    spec = spec_of(
        "budget: 200/day\nbudget_window: 10m\nexplore: 10%\npriority: [disagreement, failures, rules]\n"
    )
    assert spec == BudgetSpec(200, "day", 600.0, 0.1, ("disagreement", "failures", "rules"))
    assert spec.windows == 144
    assert spec_of("budget: 20/hour\nexplore: 0.05\n") == BudgetSpec(20, "hour", 300.0, 0.05)
    assert spec_of("budget: 20/hour\nexplore: 0\n").explore == 0.0
    assert spec_of("budget: 20/hour\nexplore: 0.5%\n").explore == pytest.approx(0.005)
    assert parse(RULES).budget is None


@pytest.mark.parametrize(
    "text, line, words",
    [
        ("budget: 200\n", 5, "200/day"),
        ("budget: 0/day\n", 5, "at least 1"),
        ("budget: 200/day\nbudget_window: 2d\nexplore: 10%\n", 6, "budget_window"),
        ("budget: 20/hour\nbudget_window: 2h\n", 6, "1h"),
        ("budget: 200/day\nexplore: 150%\n", 6, "explore"),
        ("budget: 200/day\nexplore: lots\n", 6, "10%"),
        ("budget: 200/day\npriority: [disagreement, failure]\n", 6, "did you mean 'failures'"),
        ("budget: 200/day\npriority: [margin, margin]\n", 6, "twice"),
        ("budget: 200/day\npriority: margin\n", 6, "list"),
        ("explore: 10%\n", 5, "needs a `budget:`"),
        ("budget_window: 5m\n", 5, "needs a `budget:`"),
        ("budgte: 200/day\n", 5, "did you mean 'budget'"),
    ],
)
def test_a_budget_mistake_names_the_line_and_what_to_fix(text, line, words):
    with pytest.raises(RulesError) as caught:
        parse(RULES + text, "rules.yaml")
    assert caught.value.line == line, str(caught.value)
    assert words in str(caught.value)
    assert str(caught.value).startswith(f"rules.yaml, line {line}: ")


def trace(rng: random.Random) -> str:
    return f"{rng.getrandbits(128):032x}"


def calls(rng: random.Random, n: int, start: float, length: float, **fields) -> list[tuple[float, Candidate]]:
    times = sorted(start + rng.random() * length for _ in range(n))
    return [(t, Candidate(trace(rng), f"{rng.getrandbits(64):016x}", payload=t, **fields)) for t in times]


def run(budget: Budget, offers) -> list:
    picks = []
    for at, candidate in offers:
        picks += budget.offer(candidate, at)[1]
    return picks + budget.flush()


def test_the_days_budget_is_spread_over_its_windows_and_never_exceeded():
    rng = random.Random(1)
    spec = BudgetSpec(100, "day", 3600.0, 0.1)
    picks = run(Budget(spec), calls(rng, 5000, MIDNIGHT, DAY, rule="rest"))
    assert len(picks) == 100
    per_hour = [0] * 24
    for pick in picks:
        per_hour[int((_time_of(pick) - MIDNIGHT) // 3600)] += 1
    assert all(3 <= count <= 6 for count in per_hour), per_hour  # ceil(100 * (i + 1) / 24) - the hours before
    assert 4 <= sum(1 for p in picks if p.reason == EXPLORE) <= 16  # 10 expected: 24 hours of 0.42 each


def _time_of(pick) -> float:
    return pick.candidate.payload


def test_a_quiet_window_carries_its_share_to_the_next():
    rng = random.Random(2)
    spec = BudgetSpec(24, "day", 3600.0, 0.0)
    offers = calls(rng, 200, MIDNIGHT + 10 * 3600, 3600, rule="rest")  # nothing before 10:00
    picks = run(Budget(spec), offers)
    assert len(picks) == 2  # eleven hours' share carried, but a window spends at most twice its own


def test_a_ledger_shared_by_two_budgets_never_spends_past_the_cap():
    rng = random.Random(3)
    spec = BudgetSpec(50, "day", 600.0, 0.2)
    ledger = MemoryLedger()
    first, second = Budget(spec, ledger), Budget(spec, ledger)
    offers = calls(rng, 4000, MIDNIGHT, DAY, rule="rest")
    picks = run(first, offers[::2]) + run(second, offers[1::2])
    assert len(picks) <= 50
    assert ledger.used("2026-11-30")[1] == len(picks)


def test_explore_is_by_a_keyed_hash_of_the_trace_id_and_the_same_on_replay():
    rng = random.Random(4)
    spec = BudgetSpec(200, "day", 300.0, 1.0)
    offers = calls(rng, 3000, MIDNIGHT, DAY, rule=None)
    once = [p.candidate.trace_id for p in run(Budget(spec), offers)]
    again = [p.candidate.trace_id for p in run(Budget(spec), offers)]
    assert once == again and 150 <= len(once) <= 200
    assert trace_hash("0" * 31 + "1") != int("0" * 31 + "1", 16)  # not the low bits `sample` reads


def test_explore_weights_are_one_over_the_inclusion_probability():
    """Over many days, each call is taken with p = 1/weight: the weighted count estimates the calls."""
    spec = BudgetSpec(40, "day", 1800.0, 0.5)
    estimates = []
    for seed in range(60):
        rng = random.Random(seed)
        offers = calls(rng, 1500, MIDNIGHT, DAY, rule=None)
        picks = run(Budget(spec), offers)
        assert {p.reason for p in picks} <= {EXPLORE}
        estimates.append(sum(p.weight for p in picks))
    assert sum(estimates) / len(estimates) == pytest.approx(1500, rel=0.05)


def test_priority_takes_disagreement_then_the_smallest_margin_then_the_rest():
    rng = random.Random(5)
    spec = BudgetSpec(24 * 4, "day", 3600.0, 0.0)  # 4 an hour, no explore
    hour = MIDNIGHT
    offers = (
        calls(rng, 10, hour, 3600, rule="rest")
        + calls(rng, 2, hour, 3600, rule="rest", disagreement=True)
        + [(hour + 5, Candidate(trace(rng), "1" * 16, "rest", margin=m)) for m in (0.3, 0.01, 0.2)]
        + calls(rng, 5, hour, 3600, rule=None)
    )
    offers.sort(key=lambda item: item[0])
    picks = run(Budget(spec), offers)
    assert [p.reason for p in picks] == ["disagreement", "disagreement", "margin", "margin"]
    assert [p.candidate.margin for p in picks[2:]] == [0.01, 0.2]
    assert [p.weight for p in picks] == [1.0, 1.0, 1.5, 1.5]  # 3 near a threshold, 2 reviewed


def test_the_rules_class_reasons_with_the_rule_name_and_unnamed_rules_wait_for_explore():
    rng = random.Random(6)
    spec = BudgetSpec(24 * 3, "day", 3600.0, 0.0, ("failures",))
    offers = calls(rng, 2, MIDNIGHT, 3600, rule="failures") + calls(rng, 5, MIDNIGHT, 3600, rule="rest")
    offers.sort(key=lambda item: item[0])
    picks = run(Budget(spec), offers)
    assert [p.reason for p in picks] == ["failures", "failures"]
    rules_spec = BudgetSpec(24 * 3, "day", 3600.0, 0.0)
    assert {p.reason for p in run(Budget(rules_spec), offers)} == {"failures", "rest"}


def test_a_window_holds_at_most_its_share_and_says_what_it_lets_go():
    rng = random.Random(7)
    budget = Budget(BudgetSpec(24 * 5, "day", 3600.0, 0.2))
    held = [budget.offer(candidate, at)[0] for at, candidate in calls(rng, 1000, MIDNIGHT, 3000, rule="rest")]
    assert budget.held <= 5 + 2 * 1
    assert held.count(False) >= 900


def test_serve_and_the_exporter_apply_a_budget_to_calls_and_refuse_it_where_they_do_not_yet(tmp_path):
    from otel_label_studio.modes.units import check_rules_file

    path = tmp_path / "rules.yaml"
    path.write_text(RULES + "budget: 200/day\n")
    check_rules_file(str(path), "prompt")
    check_rules_file(str(path), "chat")
    with pytest.raises(RulesError) as caught:
        check_rules_file(str(path), "agent")
    assert caught.value.line == 5 and "rules check" in str(caught.value) and "agent" in str(caught.value)
