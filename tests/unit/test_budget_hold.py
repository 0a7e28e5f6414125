"""The review budget on live traffic (rules/budget_hold.py): kept records wait for their window, the
picks are queued with meta.review, the rest let go; in the spool they survive a crash and are queued
once; the spend is kept in the review state, so a restart never spends past the budget."""

from __future__ import annotations

from otel_label_studio.exporter import LabelStudioSpanExporter
from otel_label_studio.modes.layouts import task_meta
from otel_label_studio.reading.record import LLMRecord, Message
from otel_label_studio.rules import parse
from otel_label_studio.rules.budget import BudgetSpec
from otel_label_studio.rules.budget_hold import BudgetHold
from otel_label_studio.rules.state import SqliteReviewState, period_key
from otel_label_studio.store.budget_waiting import MemoryBudgetWaiting, SpoolBudgetWaiting
from otel_label_studio.store.memory_queue import MemoryQueue
from otel_label_studio.store.spool import Spool

MIDNIGHT = 1_795_996_800.0  # 2026-11-30 00:00:00 UTC
RULES = parse("rules:\n  - name: rest\n")
SPEC = BudgetSpec(24 * 4, "day", 3600.0, 0.25)  # 4 a window of an hour, 1 of them explore


class Clock:
    def __init__(self, now: float):
        self.now = now

    def __call__(self) -> float:
        return self.now


def record(n: int, evaluations: list | None = None) -> LLMRecord:
    return LLMRecord(
        f"{n:032x}",
        f"{n:016x}",
        "chat",
        "openai",
        messages=[Message("user", f"question {n}")],
        outputs=[f"answer {n}"],
        evaluations=evaluations or [],
    )


def taken(queue) -> list[LLMRecord]:
    return [item.record for item in queue.take(1000)]


def test_kept_calls_wait_for_their_window_and_the_picks_say_why_and_with_what_weight():
    clock, queue = Clock(MIDNIGHT + 10), MemoryQueue(1000, clock=lambda: 0.0)
    hold = BudgetHold(SPEC, MemoryBudgetWaiting(queue), rules=lambda: RULES, clock=clock)
    disagreed = [{"name": "a", "label": "good"}, {"name": "b", "label": "bad"}]
    hold.offer([("rest", record(n, disagreed if n == 7 else None)) for n in range(50)])
    hold.offer([(None, record(n)) for n in range(50, 100)])  # no rule kept these: explore only
    assert queue.depth == 0 and hold.tick() == 0  # the window is not over
    clock.now = MIDNIGHT + 3600
    assert hold.tick() == 4
    picks = taken(queue)
    assert len(picks) == 4 and all(p.review is not None for p in picks)
    reasons = sorted(p.review["reason"] for p in picks if p.review)
    assert "disagreement" in reasons and "explore" in reasons
    explore = next(p for p in picks if p.review and p.review["reason"] == "explore")
    assert explore.review == {"reason": "explore", "weight": 100.0}  # 1 of the window's 100 calls
    assert task_meta(picks[0])["review"] == picks[0].review
    counts = hold.counts()
    assert counts["budget.used"] == 4 and counts["budget.left"] == 92 and counts["budget.offered"] == 100
    assert counts["budget.let_go"] == 96 and counts["budget.waiting"] == 0
    assert sum(v for k, v in counts.items() if k.startswith("budget.picked.")) == 4


def spool_hold(spool: Spool, state: SqliteReviewState, clock: Clock) -> BudgetHold:
    waiting = SpoolBudgetWaiting(spool)
    return BudgetHold(SPEC, waiting, rules=lambda: RULES, ledger=state.ledger(), clock=clock)


def test_in_the_spool_waiting_records_survive_a_crash_and_are_queued_once(tmp_path):
    clock = Clock(MIDNIGHT + 10)
    spool = Spool(str(tmp_path / "spool.sqlite3"), clock=clock)
    state = SqliteReviewState(str(tmp_path / "state.sqlite3"), clock=clock)
    hold = spool_hold(spool, state, clock)
    hold.offer([("rest", record(n)) for n in range(30)])
    waiting = len(SpoolBudgetWaiting(spool).waiting())
    assert 4 <= waiting <= 30 and spool.depth == 0
    spool.close()  # killed before the window was decided: nothing queued, the records in the file
    state.close()

    clock.now = MIDNIGHT + 3700  # restarted after the window's end
    spool = Spool(str(tmp_path / "spool.sqlite3"), clock=clock)
    state = SqliteReviewState(str(tmp_path / "state.sqlite3"), clock=clock)
    hold = spool_hold(spool, state, clock)
    assert hold.tick() == 4
    assert len({r.span_id for r in taken(spool)}) == 4 and SpoolBudgetWaiting(spool).waiting() == []
    spool.close()
    state.close()

    spool = Spool(str(tmp_path / "spool.sqlite3"), clock=clock)  # and again: nothing waits, nothing twice
    hold = BudgetHold(SPEC, SpoolBudgetWaiting(spool), rules=lambda: RULES, clock=clock)
    assert hold.tick() == 0 and spool.depth == 4
    spool.close()


def test_a_restart_never_spends_more_than_the_budget_it_reports(tmp_path):
    clock = Clock(MIDNIGHT + 10)
    state = SqliteReviewState(str(tmp_path / "state.sqlite3"), clock=clock)
    period = period_key("day", clock.now)
    assert state.ledger().spend(period, 2, 10, cap=8) == (2, 6)
    state.close()
    state = SqliteReviewState(str(tmp_path / "state.sqlite3"), clock=clock)
    ledger = state.ledger()
    assert ledger.used(period) == (2, 8)
    assert ledger.spend(period, 1, 5, cap=8) == (0, 0)  # the cap was reached before the restart
    assert ledger.spend(period, 1, 5, cap=10) == (1, 1)
    state.close()


def test_the_exporter_applies_the_budget_and_counts_it(tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - name: rest\nbudget: 96/day\nbudget_window: 1h\nexplore: 25%\n")
    exporter = LabelStudioSpanExporter(
        url="http://127.0.0.1:9", api_key="k", project_name="p", review_rules=str(rules)
    )
    try:
        assert exporter._ingest.budget is not None and not exporter._ingest.budget.durable
        counts = exporter.counts
        assert counts["budget.left"] == 96 and counts["budget.waiting"] == 0
    finally:
        exporter._shutdown = True  # nothing started, nothing to drain


class Unreachable:
    def spend(self, period, explore, exploit, cap):
        raise ConnectionError("the shared state is out of reach")

    def used(self, period):
        return 0, 0


def test_a_window_that_cannot_spend_lets_its_calls_go_and_counts_them():
    clock, queue = Clock(MIDNIGHT + 10), MemoryQueue(1000, clock=lambda: 0.0)
    hold = BudgetHold(
        SPEC, MemoryBudgetWaiting(queue), rules=lambda: RULES, ledger=Unreachable(), clock=clock
    )
    hold.offer([("rest", record(n)) for n in range(20)])
    clock.now = MIDNIGHT + 3600
    assert hold.tick() == 0 and queue.depth == 0
    counts = hold.counts()
    assert counts["budget.let_go"] == 20 and counts["budget.waiting"] == 0 and counts["budget.used"] == 0
