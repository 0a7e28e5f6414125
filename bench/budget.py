"""The review budget, simulated (issue 28): does a budget spent by doubt catch more judge errors per
review than uniform sampling, and does its explore share still estimate the production pass rate?

Not a timed test: a simulation through the budget itself (``rules.budget.Budget``), over many seeds.
Each seed is a day of 20,000 synthetic LLM calls, more by day than by night, each with a hidden true
verdict (pass or fail; the pass rate drifts over the day, so the explore weights matter), and two
LLM judges: A wrong on 10% of calls, B on 20%, their errors partly correlated (both wrong on 5%,
against 2% if independent). A judge's score is its verdict's side of 0.5, near 0.5 when it is wrong
more often than when it is right (a judge is less sure where it errs). One rule keeps every call; the
budget is 5% of the calls (1,000/day), in 5-minute windows, 10% of it explore, priority
disagreement, then the smallest margin, then the rest.

Reported, over the seeds:

- judge errors caught per 100 reviews (a reviewed call on which at least one judge was wrong: the
  reviewer's label corrects a judge), with the budget and with a uniform sample of as many calls;
  the goal is at least 3x;
- the coverage of the 95% interval of the day's pass rate estimated from the explore picks alone with
  their weights (``analysis.stats.weighted_proportion``); the goal is 93-97%.
"""

from __future__ import annotations

import math
import random
import statistics
from typing import Any

import numpy as np

from otel_label_studio.analysis.stats import weighted_proportion
from otel_label_studio.rules.budget import EXPLORE, Budget, BudgetSpec, Candidate

CALLS = 20_000
BUDGET_SHARE = 0.05
WINDOW = 300.0
EXPLORE_SHARE = 0.1
ERROR_A, ERROR_B, BOTH_WRONG = 0.10, 0.20, 0.05
DAY = 86_400.0
MIDNIGHT = 1_795_996_800.0  # 2026-11-30 00:00 UTC
SEEDS, QUICK_SEEDS = 400, 50
GOAL_RATIO = 3.0
GOAL_COVERAGE = (0.93, 0.97)


def _day(seed: int) -> dict[str, Any]:
    """One day's calls: times, truth, the judges' errors and scores."""
    rng = np.random.default_rng(seed)
    # arrivals: twice as many in the afternoon as at night (rejection from a sine-shaped rate)
    times = []
    while len(times) < CALLS:
        t = rng.uniform(0, DAY, CALLS)
        keep = rng.uniform(0, 1, CALLS) < (1 + 0.5 * np.sin(2 * np.pi * (t / DAY - 0.375))) / 1.5
        times.extend(t[keep].tolist())
    at = np.sort(np.array(times[:CALLS]))
    pass_rate = 0.72 + 0.08 * np.sin(2 * np.pi * at / DAY)  # drifts over the day: 0.64 to 0.80
    truth = rng.uniform(0, 1, CALLS) < pass_rate
    u, v = rng.uniform(0, 1, CALLS), rng.uniform(0, 1, CALLS)
    wrong_a = u < ERROR_A
    wrong_b = (u < BOTH_WRONG) | ((u >= ERROR_A) & (v < (ERROR_B - BOTH_WRONG) / (1 - ERROR_A)))
    return {
        "at": at,
        "truth": truth,
        "wrong_a": wrong_a,
        "wrong_b": wrong_b,
        "margin_a": _margins(rng, wrong_a),
        "margin_b": _margins(rng, wrong_b),
        "ids": random.Random(seed),
    }


def _margins(rng: np.random.Generator, wrong: np.ndarray) -> np.ndarray:
    """How far a judge's score is from its threshold (0.5): near when wrong, far when right."""
    return np.where(wrong, rng.beta(1.0, 3.0, wrong.size), rng.beta(2.0, 1.0, wrong.size)) * 0.5


def _one_seed(seed: int) -> dict[str, float]:
    day = _day(seed)
    count = round(CALLS * BUDGET_SHARE)
    budget = Budget(BudgetSpec(count, "day", WINDOW, EXPLORE_SHARE))
    ids = day["ids"]
    picks = []
    wrong_either = day["wrong_a"] | day["wrong_b"]
    disagree = day["wrong_a"] != day["wrong_b"]  # labels differ exactly when one judge is wrong
    margin = np.minimum(day["margin_a"], day["margin_b"])
    for i in range(CALLS):
        candidate = Candidate(
            f"{ids.getrandbits(128):032x}",
            f"{ids.getrandbits(64):016x}",
            "everything",
            disagreement=bool(disagree[i]),
            margin=float(margin[i]),
            payload=i,
        )
        picks += budget.offer(candidate, MIDNIGHT + float(day["at"][i]))[1]
    picks += budget.flush()
    reviewed = [pick.candidate.payload for pick in picks]
    caught = int(wrong_either[reviewed].sum())
    uniform = np.random.default_rng(seed + 1_000_000).choice(CALLS, size=len(reviewed), replace=False)
    explore = [pick for pick in picks if pick.reason == EXPLORE]
    estimate, low, high = weighted_proportion(
        [bool(day["truth"][pick.candidate.payload]) for pick in explore], [pick.weight for pick in explore]
    )
    true_rate = float(day["truth"].mean())
    return {
        "reviews": len(reviewed),
        "explore": len(explore),
        "budget_per_100": 100 * caught / len(reviewed),
        "uniform_per_100": 100 * int(wrong_either[uniform].sum()) / len(reviewed),
        "covered": float(low <= true_rate <= high),
        "error": estimate - true_rate,
        "width": high - low,
        "disagreements": int(disagree.sum()),
    }


def run(quick: bool) -> dict[str, Any]:
    seeds = QUICK_SEEDS if quick else SEEDS
    results = [_one_seed(seed) for seed in range(seeds)]

    def mean(key: str) -> float:
        return statistics.fmean(r[key] for r in results)

    budget_rate, uniform_rate = mean("budget_per_100"), mean("uniform_per_100")
    coverage = mean("covered")
    ratio = budget_rate / uniform_rate
    # the coverage over this many seeds is itself uncertain: its binomial standard error
    coverage_se = math.sqrt(coverage * (1 - coverage) / seeds)
    rows = [
        {
            "sampling": "budget (priority + explore)",
            "reviews/day": round(mean("reviews"), 1),
            "judge errors caught / 100 reviews": round(budget_rate, 1),
        },
        {
            "sampling": "uniform",
            "reviews/day": round(mean("reviews"), 1),
            "judge errors caught / 100 reviews": round(uniform_rate, 1),
        },
    ]
    return {
        "rows": rows,
        "seeds": seeds,
        "calls": CALLS,
        "budget": round(CALLS * BUDGET_SHARE),
        "explore_picks": round(mean("explore"), 1),
        "disagreements_per_day": round(mean("disagreements"), 1),
        "ratio": round(ratio, 2),
        "coverage": round(coverage, 3),
        "coverage_se": round(coverage_se, 3),
        "mean_error": round(mean("error"), 4),
        "mean_width": round(mean("width"), 3),
        "goal_ratio": GOAL_RATIO,
        "goal_coverage": list(GOAL_COVERAGE),
        "met": ratio >= GOAL_RATIO and GOAL_COVERAGE[0] <= coverage <= GOAL_COVERAGE[1],
    }
