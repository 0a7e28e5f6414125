"""Do the judge statistics tell the truth? A simulation with known truth (not a timing).

**Calibration.** Per seed: a project of ``TRAFFIC`` tasks, each truly a pass with probability
``PASS_RATE``; a judge that passes a true pass with probability ``SENSITIVITY`` and fails a true
fail with ``SPECIFICITY`` judges them all. Reviewers label ``n`` of them (50, 200, 1000):

- **uniform**: ``n`` tasks at random, no weights;
- **weighted**: a budget split half and half between the tasks the judge passed and those it failed
  (a judge-failures-first review: the failed, a third of the tasks, are oversampled), each reviewed
  task carrying ``meta.review.weight`` = its stratum's size / the reviews it got (1 / p).

The report's code (``analysis/calibration.py``) computes the corrected pass rate and its 95% interval;
the figure is the share of seeds whose interval covers the project's true pass rate (target 93-97%).

**Arena.** Per seed: ``ARENA_PAIRS`` reviewed pairs of 5 variants of known Bradley-Terry strength
(Elo ``GAP`` apart), each pair of two variants at random, 10% ties and 5% both bad; the figure is the
share of seeds whose ratings (``analysis/arena.py``, no bootstrap needed for the order) put all five in
their true order (target >= 90% at a gap of 100, adjacent win rate 0.64; smaller gaps shown beside it).
"""

from __future__ import annotations

import numpy as np

from otel_label_studio.analysis.arena import build_arena
from otel_label_studio.analysis.calibration import CalibrationTally
from otel_label_studio.modes.pairs import BOTH_BAD, TIE, A, B, Outcome

TRAFFIC = 50_000
PASS_RATE = 0.75
SENSITIVITY = 0.88
SPECIFICITY = 0.80
SIZES = (50, 200, 1000)
COVERAGE_TARGET = (0.93, 0.97)
ARENA_PAIRS = 500
GAPS = (100, 80, 60)
ORDER_TARGET = 0.9


def _reviewed(
    rng: np.random.Generator, judge: np.ndarray, n: int, weighted: bool
) -> list[tuple[int, float | None]]:
    if not weighted:
        return [(int(i), None) for i in rng.choice(len(judge), n, replace=False)]
    picked: list[tuple[int, float | None]] = []
    for stratum in (judge, ~judge):
        members = np.flatnonzero(stratum)
        k = min(n // 2, len(members))
        picked += [(int(i), len(members) / k) for i in rng.choice(members, k, replace=False)]
    return picked


def calibration_seed(seed: int, n: int, weighted: bool) -> tuple[bool, float, float]:
    """(covered, corrected - truth, interval width) of one simulated project."""
    rng = np.random.default_rng(seed)
    truth = rng.random(TRAFFIC) < PASS_RATE
    judge = np.where(truth, rng.random(TRAFFIC) < SENSITIVITY, rng.random(TRAFFIC) >= SPECIFICITY)
    stars = np.where(judge, 5.0, 1.0)
    tally = CalibrationTally(pass_at=3.0)
    tally.judged["judge"] = [bool(v) for v in judge]  # what add() keeps of every judged task, in bulk
    for i, weight in _reviewed(rng, judge, n, weighted):
        tally.reviewed.setdefault("judge", []).append((5.0 if truth[i] else 1.0, float(stars[i]), weight))
    [result] = tally.judges({})
    true_rate = float(truth.mean())
    covered = result.corrected_low <= true_rate <= result.corrected_high
    return covered, result.corrected - true_rate, result.corrected_high - result.corrected_low


def calibration_rows(seeds: int) -> list[dict]:
    rows = []
    for n in SIZES:
        for weighted in (False, True):
            runs = [calibration_seed(seed, n, weighted) for seed in range(seeds)]
            coverage = sum(covered for covered, _, _ in runs) / seeds
            rows.append(
                {
                    "reviewed": n,
                    "sample": "weighted" if weighted else "uniform",
                    "seeds": seeds,
                    "coverage": round(coverage, 3),
                    "mean_width": round(float(np.mean([w for _, _, w in runs])), 4),
                    "bias": round(float(np.mean([e for _, e, _ in runs])), 4),
                    "met": COVERAGE_TARGET[0] <= coverage <= COVERAGE_TARGET[1],
                }
            )
    return rows


def arena_seed(seed: int, gap: float) -> bool:
    """Whether the ratings of one simulated arena put the five variants in their true order."""
    rng = np.random.default_rng(seed)
    names = [f"v{i}" for i in range(5)]
    outcomes = []
    for _ in range(ARENA_PAIRS):
        i, j = rng.choice(5, 2, replace=False)
        u = rng.random()
        if u < 0.10:
            choice = TIE
        elif u < 0.15:
            choice = BOTH_BAD
        else:
            p = 1 / (1 + 10 ** ((j - i) * gap / 400))
            choice = A if rng.random() < p else B
        outcomes.append(Outcome(names[i], names[j], choice, "model"))
    arena = build_arena(outcomes, bootstrap=0)
    return arena is not None and arena.variants == names[::-1]


def arena_rows(seeds: int) -> list[dict]:
    rows = []
    for gap in GAPS:
        share = sum(arena_seed(seed, gap) for seed in range(seeds)) / seeds
        rows.append({"elo_gap": gap, "pairs": ARENA_PAIRS, "seeds": seeds, "correct_order": round(share, 3)})
    return rows


def run(quick: bool) -> dict:
    seeds = 50 if quick else 200
    rows = calibration_rows(seeds)
    arena = arena_rows(seeds)
    return {
        "rows": rows,
        "arena": arena,
        "arena_met": arena[0]["correct_order"] >= ORDER_TARGET,
        "coverage_target": list(COVERAGE_TARGET),
        "truth": {"pass_rate": PASS_RATE, "sensitivity": SENSITIVITY, "specificity": SPECIFICITY},
        "traffic": TRAFFIC,
        "met": all(row["met"] for row in rows) and arena[0]["correct_order"] >= ORDER_TARGET,
    }
