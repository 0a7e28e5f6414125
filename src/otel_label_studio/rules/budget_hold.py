"""The review budget on live traffic: what the rules kept (and, for explore, every other readable
LLM call) waits for its window; when the window is over its picks are queued, each with
``review = {"reason": ..., "weight": 1/p}`` (the task's ``meta.review``), and the rest are let go
and counted.

    hold = BudgetHold(spec, waiting, rules=lambda: gate.rules, clock=clock, wake=worker.wake)
    hold.offer([(rule name or None, record), ...])   # ingest, before the batch is acknowledged
    hold.tick()                                      # the timer (start()), or a test with its clock

A record waits at most one ``budget_window`` (plus the timer's tick, at most a second). Where it
waits: in the spool's file with a spool (``store/budget_waiting.py``: kill -9 and restart, the
waiting records are offered again, nothing lost and nothing queued twice), else in memory, where
the open window holds at most its room (its explore share plus twice its even share of the
budget): an offer that cannot be among the picks is let go at once (``let_go``). Spending goes
through a ``Ledger``: with a spool or a shared state, the review state's (``state.py``), so a
restart never spends more than the period's budget.

After a restart mid-window the window's weights count the calls it still holds, not those it had
already let go: the weights of that one window are too small (the picks are not).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from typing import Any, Callable, Sequence

from ..delivery import threads
from ..store.budget_waiting import BudgetWaiting, Waiting
from .budget import Budget, BudgetSpec, Candidate, Ledger, Pick
from .doubt import disagree, margin_of, split
from .language import RuleSet
from .state import period_key

_logger = logging.getLogger(__name__)

TICK_SECONDS = 1.0


class BudgetHold:
    """Thread-safe: offers from ingest, ticks from the timer."""

    def __init__(
        self,
        spec: BudgetSpec,
        waiting: BudgetWaiting,
        *,
        rules: Callable[[], RuleSet],
        ledger: Ledger | None = None,
        clock: Callable[[], float] = time.time,
        wake: Callable[[], None] | None = None,
    ):
        self.spec = spec
        self._waiting = waiting
        self._rules = rules
        self._budget = Budget(spec, ledger)
        self._clock = clock
        self._wake = wake
        self._lock = threading.Lock()
        self._window: list[tuple[str, str]] = []  # keys written for the open window (spool)
        self.picked: Counter[str] = Counter()  # picks queued, by reason
        self.let_go = 0  # offers not picked
        self.offered = 0
        self._window_offered = 0  # offers the open window held (let go when not picked)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._restore()

    @property
    def explores(self) -> bool:
        """Whether calls no rule kept are worth offering (an explore share)."""
        return self.spec.explore > 0

    @property
    def durable(self) -> bool:
        return self._waiting.durable

    def offer(self, offers: Sequence[tuple[str | None, Any]]) -> None:
        """Offer a batch's records (the rule that kept each, None: explore only), at the clock's
        time. With a spool the records the window holds are committed before this returns (raises
        ``QueueFull`` when the spool is over its limit: the batch is refused, the sender retries)."""
        if not offers:
            return
        now = self._clock()
        rules = self._rules()
        keep: list[Waiting] = []
        with self._lock:
            self._close(now)
            for rule, record in offers:
                waiting = _waiting(record, now, rule, rules)
                self.offered += 1
                held, picks = self._budget.offer(_candidate(waiting), now)
                assert not picks  # the window was closed above
                if held:
                    keep.append(waiting)
                    self._window_offered += 1
                else:
                    self.let_go += 1
            if self._waiting.durable and keep:
                self._waiting.add(keep)
                self._window.extend((w.record.trace_id, w.record.span_id) for w in keep)

    def tick(self) -> int:
        """Decide the window when it is over: picks queued; how many."""
        with self._lock:
            return self._close(self._clock())

    def flush(self) -> int:
        """Decide the open window now, over or not (an exporter without a spool, at shutdown)."""
        with self._lock:
            return self._release(self._budget.flush())

    def _close(self, now: float) -> int:
        until = self._budget.open_until
        if until is None or now < until:
            return 0
        try:
            picks = self._budget.close(now)
        except Exception:  # the ledger (a shared state) out of reach: the window's calls are let go
            _logger.exception("Review budget: a window could not spend its picks; its calls are let go")
            picks = []
        return self._release(picks)

    def _release(self, picks: list[Pick]) -> int:
        """Queue the picks of a decided window, stamped, and forget its records (one step)."""
        records = []
        for pick in picks:
            record = pick.candidate.payload
            record.review = {"reason": pick.reason, "weight": round(pick.weight, 6)}
            records.append(record)
        window, self._window = self._window, []
        offered = self._window_offered
        self._window_offered = 0
        added = self._waiting.release(records, window)
        for pick in picks:
            self.picked[pick.reason] += 1
        self.let_go += max(0, offered - len(picks))
        if records and self._wake is not None:
            self._wake()
        return added.added

    def _restore(self) -> None:
        """Offer again what waited from before a restart, in the order it came."""
        rows = self._waiting.waiting()
        with self._lock:
            for waiting in rows:
                self._close(waiting.offered_at)
                held, _ = self._budget.offer(_candidate(waiting), waiting.offered_at)
                self._window.append((waiting.record.trace_id, waiting.record.span_id))
                if held:
                    self._window_offered += 1
        if rows:
            _logger.info("%d records wait for their review-budget window from before the restart", len(rows))

    def counts(self) -> dict[str, int]:
        """``budget.picked.<reason>``, ``budget.offered``, ``budget.let_go``, ``budget.waiting``,
        ``budget.used`` and ``budget.left`` (this period's)."""
        with self._lock:
            period = period_key(self.spec.period, self._clock())
            _, used = self._budget.ledger.used(period)
            values = {f"budget.picked.{reason}": n for reason, n in sorted(self.picked.items())}
            values.update(
                {
                    "budget.offered": self.offered,
                    "budget.let_go": self.let_go,
                    "budget.waiting": self._budget.held,
                    "budget.used": used,
                    "budget.left": max(0, self.spec.count - used),
                }
            )
        return values

    def start(self) -> None:
        """The timer that decides windows when they are over."""
        if self._thread is None:
            thread = threading.Thread(target=self._run, name="otel-label-studio-budget", daemon=True)
            self._thread = thread if threads.start(thread) else None

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5.0)
            self._thread = None

    def _run(self) -> None:
        every = max(0.05, min(TICK_SECONDS, self.spec.window / 4))
        while not self._stop.wait(every):
            try:
                self.tick()
            except Exception:  # the window stays; the next tick tries again
                _logger.exception("Review budget: deciding a window failed; retried at the next tick")


def _waiting(record: Any, now: float, rule: str | None, rules: RuleSet) -> Waiting:
    """What the budget ranks a record by: whether its judges disagree (labels), and the smallest
    distance of a judge's score from a threshold its rule names (``evaluation.<name>.margin``)."""
    results = {
        str(result.get("name")): (_score(result.get("score")), _label(result.get("label")))
        for result in getattr(record, "evaluations", None) or ()
        if result.get("name") is not None
    }
    margins = []
    for candidate in rules.rules:
        if candidate.name != rule:
            continue
        for condition in candidate.conditions:
            name, suffix = split(condition.key) if condition.key.startswith("evaluation.") else ("", "")
            if suffix == "margin" and isinstance(condition.pattern, dict):
                margins.append(margin_of(results.get(name), condition.pattern["threshold"]))
    known = [margin for margin in margins if margin is not None]
    return Waiting(record, now, rule, disagree(results), min(known) if known else None)


def _candidate(waiting: Waiting) -> Candidate:
    record = waiting.record
    return Candidate(
        record.trace_id, record.span_id, waiting.rule, waiting.disagreement, waiting.margin, payload=record
    )


def _score(value: Any) -> float | None:
    try:
        return None if value is None or isinstance(value, bool) else float(value)
    except (TypeError, ValueError):
        return None


def _label(value: Any) -> str | None:
    return None if value is None else str(value)
