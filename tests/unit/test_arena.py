"""The arena (analysis/arena.py): Bradley-Terry by MM against scipy's optimiser on the same likelihood,
the win-rate matrix and the pairs still needed against their formulas, and the report's three pages."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import optimize
from scipy import stats as scipy_stats

from otel_label_studio.analysis.arena import (
    PRIOR_TIES,
    _scores,
    bradley_terry,
    build_arena,
    elo,
    pairs_needed,
)
from otel_label_studio.analysis.report import build_pair_report, pair_report_json, render_pair_text
from otel_label_studio.analysis.report_html import render_pair_html
from otel_label_studio.modes.pairs import BOTH_BAD, TIE, A, B, Outcome, WinRate

STRENGTH = {"v0": 1000, "v1": 1100, "v2": 1200, "v3": 1300}


def _outcomes(seed: int, n: int) -> list[Outcome]:
    rng = np.random.default_rng(seed)
    names = list(STRENGTH)
    found = []
    for _ in range(n):
        i, j = rng.choice(len(names), 2, replace=False)
        u = rng.random()
        if u < 0.1:
            choice = TIE
        elif u < 0.15:
            choice = BOTH_BAD
        else:
            p = 1 / (1 + 10 ** ((STRENGTH[names[j]] - STRENGTH[names[i]]) / 400))
            choice = A if rng.random() < p else B
        found.append(Outcome(names[i], names[j], choice, "model"))
    return found


def _scipy_fit(wins: np.ndarray) -> np.ndarray:
    """The Bradley-Terry maximum likelihood by scipy's BFGS on log-strengths (first fixed at 0)."""
    k = len(wins)

    def negative(theta_rest: np.ndarray) -> float:
        theta = np.concatenate(([0.0], theta_rest))
        diff = theta[:, None] - theta[None, :]
        return float(-(wins * (diff - np.logaddexp(0, diff))).sum())

    theta = np.concatenate(([0.0], optimize.minimize(negative, np.zeros(k - 1), method="BFGS", tol=1e-12).x))
    return theta - theta.mean()


@pytest.mark.parametrize("seed", range(4))
def test_mm_fit_is_the_maximum_likelihood_scipy_finds(seed):
    outcomes = _outcomes(seed, 300)
    wins, _ = _scores({name: i for i, name in enumerate(STRENGTH)}, outcomes)
    got = np.log(bradley_terry(wins))
    assert got == pytest.approx(_scipy_fit(wins), abs=1e-5)


def test_ties_count_half_and_every_met_pair_gets_a_virtual_tie():
    outcomes = [
        Outcome("x", "y", A, "model"),
        Outcome("x", "y", TIE, "model"),
        Outcome("y", "z", BOTH_BAD, "model"),
    ]
    wins, games = _scores({"x": 0, "y": 1, "z": 2}, outcomes)
    half = PRIOR_TIES / 2
    assert wins[0, 1] == 1.5 + half and wins[1, 0] == 0.5 + half
    assert wins[1, 2] == wins[2, 1] == 0.5 + half and wins[0, 2] == 0
    assert games[0, 1] == 2 + PRIOR_TIES


def test_a_variant_that_never_won_has_a_finite_rating_and_elo_centres_at_1000():
    outcomes = [Outcome("x", "y", A, "model")] * 5 + [Outcome("y", "z", A, "model")] * 5
    strength = bradley_terry(_scores({"x": 0, "y": 1, "z": 2}, outcomes)[0])
    ratings = elo(strength)
    assert np.all(np.isfinite(ratings)) and ratings[0] > ratings[1] > ratings[2]
    assert ratings.mean() == pytest.approx(1000)


def test_pairs_needed_is_the_normal_sample_size_less_those_decided():
    rate = WinRate("x", "y", 30, 20, 0, 0, 0.6, 0.46, 0.72)
    z = scipy_stats.norm.ppf(0.975)
    assert pairs_needed(rate) == math.ceil(z * z * 0.24 / 0.01) - 50
    assert pairs_needed(WinRate("x", "y", 90, 10, 0, 0, 0.9, 0.8, 0.95)) == 0
    assert pairs_needed(WinRate("x", "y", 5, 5, 0, 0, 0.5, 0.2, 0.8)) is None


def test_the_arena_orders_known_strengths_and_its_matrix_mirrors():
    arena = build_arena(_outcomes(1, 2000), bootstrap=50)
    assert arena is not None
    assert arena.variants == ["v3", "v2", "v1", "v0"]
    for r in arena.ratings:
        assert r.low <= r.rating <= r.high
    for i in range(4):
        assert arena.matrix[i][i] is None
        for j in range(4):
            if i != j:
                assert arena.matrix[i][j] == pytest.approx(1 - arena.matrix[j][i])
    assert len(arena.comparisons) == 6
    assert build_arena([Outcome("x", "y", A, "model")]) is None  # two variants: win rates only


def _task(a: str, b: str, selected: str) -> dict:
    return {
        "id": 1,
        "meta": {"pair": {"a": {"model": a}, "b": {"model": b}}},
        "annotations": [
            {"id": 1, "result": [{"type": "pairwise", "from_name": "p", "value": {"selected": selected}}]}
        ],
    }


def test_the_pair_report_has_the_arena_in_text_json_and_html():
    tasks = [
        _task(o.a, o.b, "left" if o.choice == A else "right") for o in _outcomes(2, 300) if o.choice in (A, B)
    ]
    report = build_pair_report(tasks, project_id=3, title="arena")
    assert report.arena is not None and report.arena.variants[0] == "v3"
    text = render_pair_text(report)
    assert "Arena (4 variants; Bradley-Terry" in text and "still needs" in text
    data = json.loads(json.dumps(pair_report_json(report)))
    assert [r["variant"] for r in data["arena"]["ratings"]] == report.arena.variants
    html = render_pair_html(report)
    assert 'class="arena-heatmap"' in html and 'class="rating" data-variant="v3"' in html
    two = build_pair_report([_task("x", "y", "left")], project_id=3)
    assert two.arena is None and "Arena" not in render_pair_text(two)
