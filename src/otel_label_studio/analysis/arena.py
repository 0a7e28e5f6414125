"""Which of N variants is best? The arena of a pairwise project with more than two variants (pure).

From the reviewed pairs (``pairs.Outcome``: the variant on each side and the choice):

- **Bradley-Terry ratings**: each variant's strength ``p_i`` with ``P(i beats j) = p_i / (p_i + p_j)``,
  fitted by Hunter's (2004) MM algorithm (``p_i = W_i / sum_j n_ij / (p_i + p_j)``), on the Elo scale
  (``1000 + 400 log10 p_i``, the strengths' geometric mean at 1000). A tie and a "both bad" count half a
  win to each side (as LMSYS's Chatbot Arena counts them); every pair of variants that met gets one
  virtual tie as well, so a variant that never won still has a finite rating (a mild pull to the middle).
- their 95% intervals: ``BOOTSTRAP`` resamples of the reviewed pairs (with replacement, a fixed seed),
  refitted, the 2.5 and 97.5 percentiles of each variant's rating;
- the win-rate matrix (row's wins / (wins + losses) against the column) and, per pair of variants, the
  ties and "both bad", and the decided pairs it still needs for its 95% interval to leave 0.5 at its
  current win rate (``z^2 p (1 - p) / (p - 0.5)^2``, less those it has; None at exactly 0.5).

numpy only; the tests check the fit against scipy's optimiser on the same likelihood.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..modes.pairs import A, B, Outcome, WinRate, win_rates

BOOTSTRAP = 200
SEED = 29
Z95 = 1.959963984540054
#: Virtual ties given to every pair of variants that met (keeps a never-winning variant finite).
PRIOR_TIES = 1.0


@dataclass(frozen=True)
class Rating:
    variant: str
    rating: float
    low: float
    high: float
    pairs: int  # reviewed pairs it took part in


@dataclass(frozen=True)
class Comparison:
    rate: WinRate
    more_needed: int | None  # decided pairs still needed for the interval to leave 0.5


@dataclass
class Arena:
    variants: list[str]  # best first
    ratings: list[Rating]  # best first
    matrix: list[
        list[float | None]
    ]  # [row][column]: the row's win rate against the column, in ``variants`` order
    comparisons: list[Comparison]


def _scores(index: dict[str, int], outcomes: Sequence[Outcome]) -> tuple[np.ndarray, np.ndarray]:
    """``wins[i, j]``: i's wins over j, a tie or both bad half each, plus the virtual ties; ``games``."""
    k = len(index)
    wins = np.zeros((k, k))
    for o in outcomes:
        a, b = index[o.a], index[o.b]
        if o.choice == A:
            wins[a, b] += 1
        elif o.choice == B:
            wins[b, a] += 1
        else:
            wins[a, b] += 0.5
            wins[b, a] += 0.5
    met = (wins + wins.T) > 0
    wins += met * PRIOR_TIES / 2
    return wins, wins + wins.T


def bradley_terry(wins: np.ndarray, tolerance: float = 1e-10, iterations: int = 10_000) -> np.ndarray:
    """Strengths (geometric mean 1) from ``wins[i, j]`` by the MM algorithm; nan for a variant in no game."""
    games = wins + wins.T
    k = len(wins)
    strength: np.ndarray = np.ones(k)
    played = games.sum(axis=1) > 0
    total = wins.sum(axis=1)
    for _ in range(iterations):
        denominator = (games / (strength[:, None] + strength[None, :])).sum(axis=1)
        new = np.where(played, total / np.where(denominator > 0, denominator, 1.0), 1.0)
        new = new / math.exp(float(np.log(new[played]).mean())) if played.any() else new
        done = float(np.max(np.abs(new - strength))) < tolerance
        strength = new
        if done:
            break
    return np.where(played, strength, np.nan)


def elo(strength: np.ndarray) -> np.ndarray:
    return 1000 + 400 * np.log10(strength)


def pairs_needed(rate: WinRate, z: float = Z95) -> int | None:
    """Decided pairs still needed for the win rate's interval to leave 0.5, at its current rate."""
    if rate.win_rate is None or rate.win_rate == 0.5:
        return None
    p = rate.win_rate
    needed = math.ceil(z * z * max(p * (1 - p), 1 / (4 * (rate.decided + 1))) / (p - 0.5) ** 2)
    return max(0, needed - rate.decided)


def build_arena(outcomes: Sequence[Outcome], *, bootstrap: int = BOOTSTRAP, seed: int = SEED) -> Arena | None:
    """The arena of the pairs whose sides differ; None with fewer than three variants."""
    told = [o for o in outcomes if o.a != o.b]
    names = sorted({o.a for o in told} | {o.b for o in told})
    if len(names) < 3:
        return None
    index = {name: i for i, name in enumerate(names)}
    wins, _ = _scores(index, told)
    ratings = elo(bradley_terry(wins))
    rng = np.random.default_rng(seed)
    draws = np.full((bootstrap, len(names)), np.nan)
    for b in range(bootstrap):
        sample = [told[i] for i in rng.integers(0, len(told), len(told))]
        draws[b] = elo(bradley_terry(_scores(index, sample)[0]))
    low, high = (
        (np.nanquantile(draws, q, axis=0) for q in (0.025, 0.975)) if bootstrap else (ratings, ratings)
    )
    took_part = {name: sum(1 for o in told if name in (o.a, o.b)) for name in names}
    order = sorted(range(len(names)), key=lambda i: (-ratings[i], names[i]))
    rates = win_rates(told)
    by_pair = {(r.first, r.second): r for r in rates}
    matrix: list[list[float | None]] = []
    for i in order:
        row: list[float | None] = []
        for j in order:
            first, second = sorted((names[i], names[j]))
            rate = by_pair.get((first, second))
            if i == j or rate is None or rate.win_rate is None:
                row.append(None)
            else:
                row.append(rate.win_rate if names[i] == first else 1 - rate.win_rate)
        matrix.append(row)
    return Arena(
        variants=[names[i] for i in order],
        ratings=[
            Rating(names[i], float(ratings[i]), float(low[i]), float(high[i]), took_part[names[i]])
            for i in order
        ],
        matrix=matrix,
        comparisons=[Comparison(r, pairs_needed(r)) for r in rates],
    )


def arena_lines(arena: Arena) -> list[str]:
    """The arena section of the text report."""
    lines = [
        f"Arena ({len(arena.variants)} variants; Bradley-Terry ratings on the Elo scale, a tie or both bad "
        f"half a win each; 95% bootstrap intervals, {BOOTSTRAP} resamples)"
    ]
    for r in arena.ratings:
        lines.append(f"  {r.variant}: {r.rating:.0f} [{r.low:.0f}, {r.high:.0f}] ({r.pairs} pairs)")
    lines.append("  decided pairs each comparison still needs for its interval to leave 0.5:")
    for c in arena.comparisons:
        needed = "undefined (win rate 0.5 or none decided)" if c.more_needed is None else str(c.more_needed)
        lines.append(f"    {c.rate.first} vs {c.rate.second}: {needed}")
    return lines
