"""The review budget: what the rules keep competes for N tasks a day (or an hour), decided in
windows, with an explore share that is a uniform random sample of every call by trace id.

```yaml
budget: 200/day            # at most this many tasks a UTC day (or `/hour`), every rule together
budget_window: 5m          # decided in windows of this length (default 5m), spread over the day
explore: 10%               # this share of the budget is a uniform random sample (or 0.1)
priority: [disagreement, margin, rules]   # what the rules keep competes in this order
```

Pure: no I/O and no clock (the time of each offer is given). A ``Budget`` holds one open window:
every call is offered to it (``Candidate``; ``rule`` None for a call no rule kept), and when a
later offer (or ``close(now)``) finds the window over, the window is decided (``Pick``s):

- **the spread.** Window ``i`` of ``W`` in the period may bring the period's picks up to
  ``ceil(N * (i + 1) / W)``, and spend at most twice its even share ``2N / W``: what a quiet
  window leaves is carried to the next ones, spread over them, and the budget is never spent in
  the first hour (nor in the first hour of traffic after a quiet morning or a restart). Every
  pick is spent through a ``Ledger`` (memory here; the shared state for replicas) that refuses
  to go past that cap, so ``N`` holds per period.
- **explore first.** The window's explore share is ``x = e * N * window / period`` (fractional, the
  same for every window whatever came before, so no window's calls go unsampled: a share that
  depended on what earlier windows took would leave some windows' calls no chance, and the weights
  would lie). Of the ``n`` calls the window saw, the ``k`` whose keyed
  hash of the trace id is smallest are taken (a simple random sample of the window's calls: bottom-k
  of a hash), ``k`` being ``floor(x)`` or ``ceil(x)`` with probability the fraction of ``x`` (a second
  hash of the window's trace ids decides, independent of the first), so each call is taken with
  probability ``p = x / n`` exactly, and its ``weight`` is ``1/p = n / x`` (1 when ``x >= n``: all
  taken). The hash is keyed, not the trace id's low 64 bits that ``sample:`` reads, so a rule's
  sampling and the explore share are independent.
- **then priority.** What the rules kept and explore did not take is ranked by ``priority``:
  ``disagreement`` (the judges disagree), ``margin`` (a score near its threshold), a rule's name (what
  that rule kept), ``rules`` (what any rule kept); the first class a call falls in is its rank and
  its ``reason`` (``rules``: the rule's own name). Within a class the smallest margin first, then the
  trace hash. A call kept by a rule that no class of ``priority`` names is not reviewed but by
  explore. Its ``weight`` is its class's calls in the window over its class's picks (every one of a
  class taken: 1).

Memory: a window holds at most its explore share and twice its share of the budget (bounded
heaps); a call that cannot be among the picks is let go when it is offered (``offer`` says so).
"""

from __future__ import annotations

import hashlib
import heapq
import math
from dataclasses import dataclass, field
from typing import Any, Protocol

from .state import MemoryLedger, period_key  # the memory ledger lives beside the other states

DISAGREEMENT = "disagreement"
MARGIN = "margin"
RULES = "rules"
EXPLORE = "explore"
CLASSES = (DISAGREEMENT, MARGIN, RULES)
PRIORITY_UNSAID = (DISAGREEMENT, MARGIN, RULES)
WINDOW_UNSAID = 300.0
EXPLORE_UNSAID = 0.1
PERIODS = {"day": 86_400, "hour": 3_600}
_HASH_KEY = b"otel-label-studio explore"
_MIX_KEY = b"otel-label-studio explore count"
_SPACE = float(1 << 64)


@dataclass(frozen=True)
class BudgetSpec:
    """The rules file's ``budget``, ``budget_window``, ``explore`` and ``priority``."""

    count: int
    period: str  # "day" or "hour", UTC
    window: float = WINDOW_UNSAID  # seconds, at most the period
    explore: float = EXPLORE_UNSAID  # share of the budget, 0..1
    priority: tuple[str, ...] = PRIORITY_UNSAID
    line: int = field(default=0, compare=False)  # where `budget:` is written

    @property
    def period_seconds(self) -> int:
        return PERIODS[self.period]

    @property
    def windows(self) -> int:
        """Windows in a period (the last one shorter when the window does not divide it)."""
        return math.ceil(self.period_seconds / self.window)

    def cap(self, index: int) -> int:
        """The most picks the period may hold at the end of its window ``index``."""
        return min(self.count, -(-self.count * (index + 1) // self.windows))

    def most(self) -> int:
        """The most one window may spend: twice its even share, at least 1 (so a share carried from
        quiet windows spreads over the next ones instead of going in one)."""
        return max(1, math.ceil(2 * self.count / self.windows))

    def explore_share(self, seconds: float) -> float:
        """The explore picks a window of ``seconds`` expects (fractional): its share of the period's."""
        return self.explore * self.count * seconds / self.period_seconds

    def __str__(self) -> str:
        return f"{self.count}/{self.period}"


@dataclass(frozen=True)
class Candidate:
    """One reviewable unit (an LLM call, a run) offered to the budget."""

    trace_id: str  # 32 hex digits
    span_id: str
    rule: str | None  # the rule that kept it; None: no rule did (explore may still take it)
    disagreement: bool = False
    margin: float | None = None  # the smallest distance of a judge's score from its threshold
    payload: Any = None  # what the caller makes a task of (a record)


@dataclass(frozen=True)
class Pick:
    candidate: Candidate
    reason: str  # explore, disagreement, margin, or the rule's name
    weight: float  # 1 / the probability it was picked with


class Ledger(Protocol):
    """Picks spent per period, one truth for whoever shares it (``MemoryLedger``; the shared state)."""

    def spend(self, period: str, explore: int, exploit: int, cap: int) -> tuple[int, int]:
        """In one step: grant ``explore`` then ``exploit`` picks, never bringing the period's total
        past ``cap``; returns what was granted (explore, exploit) and counts it."""
        ...

    def used(self, period: str) -> tuple[int, int]:
        """(explore picks, all picks) spent in the period."""
        ...


def trace_hash(trace_id: str, key: bytes = _HASH_KEY) -> int:
    """A keyed 64-bit hash of a trace id: uniform, the same in every process."""
    digest = hashlib.blake2b(trace_id.lower().encode(), digest_size=8, key=key).digest()
    return int.from_bytes(digest, "big")


@dataclass
class _Window:
    start: float
    end: float
    period: str
    index: int
    explore_room: int  # the most explore may take (the reservoir's size)
    exploit_room: int  # the most the rest may take
    seen: int = 0
    mix: int = 0
    sample: list[tuple[Any, ...]] = field(default_factory=list)  # the smallest hashes: a max-heap, negated
    ranked: list[tuple[Any, ...]] = field(default_factory=list)  # max-heap of the best, negated
    classes: dict[str, int] = field(default_factory=dict)  # calls per class


class Budget:
    """Decides, window by window, which offered calls become tasks (see the module's doc)."""

    def __init__(self, spec: BudgetSpec, ledger: Ledger | None = None):
        self.spec = spec
        self.ledger: Ledger = ledger if ledger is not None else MemoryLedger()
        self._window: _Window | None = None

    @property
    def held(self) -> int:
        """Calls the open window holds (the most it may pick, at most)."""
        window = self._window
        if window is None:
            return 0
        return len(window.sample) + len(window.ranked)

    @property
    def open_until(self) -> float | None:
        """When the open window ends (None: no window is open)."""
        return self._window.end if self._window is not None else None

    def offer(self, candidate: Candidate, now: float) -> tuple[bool, list[Pick]]:
        """Offer a call seen at ``now``: whether the open window holds it (False: it will not be
        picked, let it go) and the picks of a window that ended before ``now``."""
        picks = self.close(now)
        window = self._window
        if window is None:
            window = self._window = self._open(now)
        return self._add(window, candidate), picks

    def close(self, now: float) -> list[Pick]:
        """The picks of the open window when it is over at ``now`` (else none)."""
        window = self._window
        if window is None or now < window.end:
            return []
        self._window = None
        return self._decide(window)

    def flush(self) -> list[Pick]:
        """Decide the open window now, over or not (at the end of a replay)."""
        window, self._window = self._window, None
        return self._decide(window) if window is not None else []

    def rank(self, candidate: Candidate) -> tuple[int, str] | None:
        """(rank, reason) of a call the rules kept by ``priority``; None: only explore takes it."""
        if candidate.rule is None:
            return None
        for rank, name in enumerate(self.spec.priority):
            if (
                (name == DISAGREEMENT and candidate.disagreement)
                or (name == MARGIN and candidate.margin is not None)
                or name == candidate.rule
            ):
                return rank, name
            if name == RULES:
                return rank, candidate.rule
        return None

    def _open(self, now: float) -> _Window:
        spec = self.spec
        period_start = now - now % spec.period_seconds
        index = min(int((now - period_start) // spec.window), spec.windows - 1)
        start = period_start + index * spec.window
        end = min(start + spec.window, period_start + spec.period_seconds)
        period = period_key(spec.period, now)
        _, used = self.ledger.used(period)
        room = min(max(0, spec.cap(index) - used), spec.most())
        explore_room = min(room, math.ceil(spec.explore_share(end - start)))
        return _Window(start, end, period, index, explore_room, room)

    def _add(self, window: _Window, candidate: Candidate) -> bool:
        window.seen += 1
        window.mix = (window.mix + trace_hash(candidate.trace_id, _MIX_KEY)) % (1 << 64)
        hashed = trace_hash(candidate.trace_id)
        order = -_span_order(candidate.span_id)
        held = False
        if window.explore_room:
            entry = (-hashed, order, window.seen, candidate)
            if len(window.sample) < window.explore_room:
                heapq.heappush(window.sample, entry)
                held = True
            elif entry[:3] > window.sample[0][:3]:
                heapq.heapreplace(window.sample, entry)
                held = True
        ranked = self.rank(candidate)
        if ranked is None or not window.exploit_room:
            return held
        rank, reason = ranked
        window.classes[reason] = window.classes.get(reason, 0) + 1
        margin = candidate.margin if candidate.margin is not None else math.inf
        key = (-rank, -margin, -hashed, order, window.seen)
        entry2 = (*key, reason, candidate)
        room = window.exploit_room + window.explore_room  # explore may take some of the best
        if len(window.ranked) < room:
            heapq.heappush(window.ranked, entry2)
            return True
        if key > tuple(window.ranked[0][:5]):
            heapq.heapreplace(window.ranked, entry2)
            return True
        return held

    def _decide(self, window: _Window) -> list[Pick]:
        spec = self.spec
        wanted = min(spec.explore_share(window.end - window.start), float(window.explore_room))
        sample = [entry[-1] for entry in sorted(window.sample, reverse=True)]  # smallest hash first
        if wanted >= window.seen:
            take, weight = window.seen, 1.0
        else:
            whole = math.floor(wanted)
            take = whole + (1 if window.mix / _SPACE < wanted - whole else 0)
            weight = window.seen / wanted if wanted > 0 else 0.0
        take = min(take, len(sample))
        explored = {_key(candidate) for candidate in sample[:take]}
        rest = [entry for entry in sorted(window.ranked, reverse=True) if _key(entry[-1]) not in explored]
        if window.exploit_room:
            for candidate in sample[:take]:
                ranked = self.rank(candidate)
                if ranked is not None:
                    window.classes[ranked[1]] -= 1  # counted as explore, not in its class
        granted_explore, granted_rest = self.ledger.spend(
            window.period, take, min(len(rest), max(0, window.exploit_room - take)), spec.cap(window.index)
        )
        if granted_explore < take:  # the ledger was spent by someone else meanwhile
            weight = window.seen / granted_explore if granted_explore else 0.0
        picks = [Pick(candidate, EXPLORE, weight) for candidate in sample[:granted_explore]]
        chosen = rest[:granted_rest]
        per_class: dict[str, int] = {}
        for entry in chosen:
            per_class[entry[-2]] = per_class.get(entry[-2], 0) + 1
        for entry in chosen:
            reason = entry[-2]
            picks.append(Pick(entry[-1], reason, window.classes[reason] / per_class[reason]))
        return picks


def _key(candidate: Candidate) -> tuple[str, str]:
    return candidate.trace_id, candidate.span_id


def _span_order(span_id: str) -> int:
    """A span id as a number, to order the calls of one trace (hex, else its hash)."""
    try:
        return int(span_id, 16)
    except ValueError:
        return trace_hash(span_id)
