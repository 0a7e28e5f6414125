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
"""

from __future__ import annotations

import numpy as np

from otel_label_studio.analysis.calibration import CalibrationTally

TRAFFIC = 50_000
PASS_RATE = 0.75
SENSITIVITY = 0.88
SPECIFICITY = 0.80
SIZES = (50, 200, 1000)
COVERAGE_TARGET = (0.93, 0.97)


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


def run(quick: bool) -> dict:
    seeds = 50 if quick else 200
    rows = calibration_rows(seeds)
    return {
        "rows": rows,
        "coverage_target": list(COVERAGE_TARGET),
        "truth": {"pass_rate": PASS_RATE, "sensitivity": SENSITIVITY, "specificity": SPECIFICITY},
        "traffic": TRAFFIC,
        "met": all(row["met"] for row in rows),
    }
