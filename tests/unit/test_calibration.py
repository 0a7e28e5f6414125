"""Judge calibration (analysis/calibration.py) against reference computations: scikit-learn's
weighted confusion matrix and recall, scipy's Wilson interval and its Beta / Dirichlet samplers
(an independent Monte Carlo of the same bootstrap), and the textbook Rogan-Gladen formula."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats as scipy_stats
from sklearn.metrics import confusion_matrix as sk_confusion_matrix
from sklearn.metrics import recall_score

from otel_label_studio import PROMPT_CONFIG
from otel_label_studio.analysis.calibration import (
    CalibrationTally,
    Proportion,
    corrected_interval,
    default_pass_at,
    effective_size,
    more_needed,
    review_weight,
    rogan_gladen,
    weighted_proportion,
)
from otel_label_studio.analysis.readings import AnswerReading, Asked
from otel_label_studio.analysis.report import Scale, build_report, render_text, to_json
from otel_label_studio.analysis.report_html import render_html


def _data(seed: int, n: int, weighted: bool):
    rng = np.random.default_rng(seed)
    human = rng.random(n) < 0.7
    judge = np.where(human, rng.random(n) < 0.85, rng.random(n) > 0.8)
    weights = np.where(judge, 2.0, 6.0) if weighted else np.ones(n)
    return human, judge, weights


@pytest.mark.parametrize("successes,n", [(7, 10), (0, 12), (12, 12), (33, 120)])
def test_unweighted_share_is_scipys_wilson_interval(successes, n):
    hits = np.array([True] * successes + [False] * (n - successes))
    share = weighted_proportion(hits, np.ones(n))
    low, high = scipy_stats.binomtest(successes, n).proportion_ci(method="wilson")
    assert share.value == pytest.approx(successes / n)
    assert (share.low, share.high) == pytest.approx((low, high), abs=1e-9)
    assert share.n_effective == pytest.approx(n)


@pytest.mark.parametrize("seed", range(5))
def test_weighted_sensitivity_and_specificity_are_scikit_learns_weighted_recall(seed):
    human, judge, weights = _data(seed, 80, weighted=True)
    sens = weighted_proportion(judge[human], weights[human])
    spec = weighted_proportion(~judge[~human], weights[~human])
    assert sens.value == pytest.approx(recall_score(human, judge, pos_label=True, sample_weight=weights))
    assert spec.value == pytest.approx(recall_score(human, judge, pos_label=False, sample_weight=weights))


def test_effective_size_is_the_linearised_variance_of_the_ratio_estimator():
    hits = np.array([True, True, False, True, False, True])
    weights = np.array([1.0, 3.0, 2.0, 1.0, 5.0, 2.0])
    p = sum(w for h, w in zip(hits, weights, strict=True) if h) / weights.sum()
    variance = (
        sum(w * w * (float(h) - p) ** 2 for h, w in zip(hits, weights, strict=True)) / weights.sum() ** 2
    )
    assert effective_size(hits, weights, p, float(weights.sum())) == pytest.approx(p * (1 - p) / variance)
    # at p = 1 there is no variance: Kish's (sum w)^2 / sum w^2
    ones = np.ones(4, dtype=bool)
    assert effective_size(ones, weights[:4], 1.0, 7.0) == pytest.approx(49 / 15)


def test_wilson_on_a_fractional_effective_size_is_the_score_interval():
    hits = np.array([True, False, True, True])
    weights = np.array([1.0, 2.0, 1.5, 1.0])
    share = weighted_proportion(hits, weights)
    p, n, z = share.value, share.n_effective, 1.959963984540054
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    assert (share.low, share.high) == pytest.approx((centre - half, centre + half))


def test_rogan_gladen_is_the_textbook_formula_clipped():
    assert rogan_gladen(0.3, 0.9, 0.95) == pytest.approx((0.3 + 0.95 - 1) / (0.9 + 0.95 - 1))
    assert rogan_gladen(0.02, 0.9, 0.95) == 0.0  # below the false-positive rate: clipped
    assert rogan_gladen(0.99, 0.9, 0.95) == 1.0
    assert math.isnan(rogan_gladen(0.5, 0.5, 0.5))  # a coin: no correction exists
    assert math.isnan(rogan_gladen(0.5, 0.3, 0.4))


def _reference_interval(raw: Proportion, human, judge, weights, draws=200_000):
    """The same bootstrap with scipy's samplers and another seed."""
    rng = np.random.default_rng(12345)
    r = scipy_stats.beta.rvs(
        raw.value * raw.n_effective + 0.5,
        (1 - raw.value) * raw.n_effective + 0.5,
        size=draws,
        random_state=rng,
    )
    cells = np.zeros((draws, 4))
    which = (~human).astype(int) * 2 + (~judge).astype(int)
    for w in np.unique(weights):
        members = weights == w
        counts = np.bincount(which[members], minlength=4) + 0.5 * members.sum() / len(human)
        cells += scipy_stats.dirichlet.rvs(counts, size=draws, random_state=rng) * weights[members].sum()
    se = cells[:, 0] / (cells[:, 0] + cells[:, 1])
    sp = cells[:, 3] / (cells[:, 2] + cells[:, 3])
    youden = se + sp - 1
    kept = youden > 0
    corrected = np.clip((r[kept] + sp[kept] - 1) / youden[kept], 0, 1)
    return tuple(np.quantile(corrected, [0.025, 0.975]))


@pytest.mark.parametrize("weighted", [False, True])
def test_corrected_interval_matches_an_independent_monte_carlo(weighted):
    human, judge, weights = _data(3, 150, weighted)
    raw = weighted_proportion(np.arange(5000) % 10 < 6, np.ones(5000))
    got = corrected_interval(raw, human, judge, weights, draws=100_000)
    assert got == pytest.approx(_reference_interval(raw, human, judge, weights), abs=0.006)


def test_unweighted_bootstrap_draws_sensitivity_from_its_jeffreys_beta():
    """One stratum: a Dirichlet's ratio is Beta(x + 1/2, n - x + 1/2) (scipy's quantiles)."""
    human = np.array([True] * 40 + [False] * 20)
    judge = np.array([True] * 36 + [False] * 4 + [True] * 5 + [False] * 15)
    weights = np.ones(60)
    rng = np.random.default_rng(0)
    shares = rng.dirichlet(np.bincount((~human).astype(int) * 2 + (~judge).astype(int)) + 0.5, 200_000)
    se = shares[:, 0] / (shares[:, 0] + shares[:, 1])
    assert np.quantile(se, [0.025, 0.975]) == pytest.approx(
        scipy_stats.beta.ppf([0.025, 0.975], 36.5, 4.5), abs=0.003
    )
    raw = weighted_proportion(np.ones(10, dtype=bool), np.ones(10))
    assert corrected_interval(raw, human[:0], judge[:0], weights[:0]) != corrected_interval(
        raw, human, judge, weights
    )


def test_the_interval_is_undefined_without_reviews_and_everything_for_a_coin():
    raw = weighted_proportion(np.array([True, False]), np.ones(2))
    nothing = np.array([], dtype=bool)
    assert all(math.isnan(v) for v in corrected_interval(raw, nothing, nothing, np.ones(0)))
    coin_h = np.array([True, True, False, False] * 25)
    coin_j = np.array([True, False, True, False] * 25)
    assert corrected_interval(raw, coin_h, coin_j, np.ones(100)) == (0.0, 1.0)  # any rate fits


def test_more_needed_scales_with_the_square_of_the_width():
    assert more_needed(100, 0.2, 0.1) == 300  # four times as many in all
    assert more_needed(100, 0.08, 0.1) == 0
    assert more_needed(0, math.nan, 0.1) is None


def test_review_weight_is_a_positive_number_in_meta_review():
    assert review_weight({"meta": {"review": {"weight": 4}}}) == 4.0
    for meta in ({}, {"review": {}}, {"review": {"weight": 0}}, {"review": {"weight": "4"}}, {"review": 3}):
        assert review_weight({"meta": meta}) is None
    assert default_pass_at(5) == 3.0 and default_pass_at(10) == 6.0


# --- in the report --------------------------------------------------------------------------------


def _task(task_id: int, judge_score: float | None, human: int | None, weight: float | None = None) -> dict:
    meta: dict = {"evaluations": [] if judge_score is None else [{"name": "quality", "score": judge_score}]}
    if weight is not None:
        meta["review"] = {"weight": weight}
    annotations = []
    if human is not None:
        annotations.append(
            {
                "id": task_id,
                "completed_by": 1,
                "updated_at": "2026-01-01",
                "result": [{"type": "rating", "from_name": "rating", "value": {"rating": human}}],
            }
        )
    return {"id": task_id, "meta": meta, "annotations": annotations, "predictions": []}


def _project(weighted: bool):
    rng = np.random.default_rng(7)
    tasks, rows = [], []
    for i in range(400):
        passes = rng.random() < 0.7
        judged = passes if rng.random() < 0.85 else not passes
        score = 1.0 if judged else 0.0  # 5 stars or 1
        reviewed = i < 120
        weight = (2.0 if judged else 5.0) if weighted and reviewed else None
        human = (5 if passes else 2) if reviewed else None
        tasks.append(_task(i + 1, score, human, weight))
        if reviewed:
            rows.append((passes, judged, weight or 1.0))
    tasks.append(_task(999, None, 4))  # reviewed, never judged: in no judge's figures
    return tasks, rows


@pytest.mark.parametrize("weighted", [False, True])
def test_report_calibration_matches_scikit_learn_on_the_reviewed_tasks(weighted):
    tasks, rows = _project(weighted)
    tally = CalibrationTally(pass_at=3.0)
    report = build_report(tasks, Scale("rating", 5), url="http://ls", project_id=1, calibration=tally)
    [c] = report.calibration or []
    human = [r[0] for r in rows]
    judge = [r[1] for r in rows]
    weights = [r[2] for r in rows]
    matrix = sk_confusion_matrix(human, judge, labels=[True, False], sample_weight=weights)
    assert np.allclose(c.confusion, matrix)
    assert c.sensitivity.value == pytest.approx(recall_score(human, judge, sample_weight=weights))
    assert c.specificity.value == pytest.approx(
        recall_score(human, judge, pos_label=False, sample_weight=weights)
    )
    assert c.reviewed == 120 and c.raw.n == 400 and c.weighted is weighted
    judged_pass = sum(
        1 for t in tasks if t["meta"]["evaluations"] and t["meta"]["evaluations"][0]["score"] == 1.0
    )
    assert c.raw.value == pytest.approx(judged_pass / 400)
    rg = (c.raw.value + c.specificity.value - 1) / (c.sensitivity.value + c.specificity.value - 1)
    assert c.corrected == pytest.approx(min(1.0, max(0.0, rg)))
    assert c.corrected_low <= c.corrected <= c.corrected_high
    assert c.kappa_quadratic == report.judges[0].kappa_quadratic
    if not weighted:
        low, high = scipy_stats.binomtest(int(matrix[0][0]), int(matrix[0].sum())).proportion_ci(
            method="wilson"
        )
        assert (c.sensitivity.low, c.sensitivity.high) == pytest.approx((low, high))


def test_report_says_what_the_figures_hold_for_in_text_json_and_html():
    tasks, _ = _project(False)
    pages = AnswerReading(PROMPT_CONFIG).report(
        tasks, url="http://ls", project_id=1, title="t", variant=None, asked=Asked(calibration=True)
    )
    assert "Calibration (a pass: a rating of 3 or more" in pages.text
    assert "the figures hold for the reviewed tasks only" in pages.text
    assert "review about" in pages.text and "more items" in pages.text
    data = json.loads(json.dumps(pages.data))
    [c] = data["calibration"]
    assert set(c) >= {"sensitivity", "specificity", "raw", "corrected", "corrected_low", "more_needed"}
    assert '<table class="calibration">' in pages.html and 'data-judge="quality"' in pages.html
    plain = AnswerReading(PROMPT_CONFIG).report(tasks, url="http://ls", project_id=1, title="t", variant=None)
    assert plain.data["calibration"] is None and "Calibration" not in plain.text


def test_a_report_without_judges_says_so():
    report = build_report(
        [_task(1, None, 4)],
        Scale("rating", 5),
        url="http://ls",
        project_id=1,
        calibration=CalibrationTally(3.0),
    )
    assert report.calibration == []
    assert "no task has a judge:<name> rating" in render_text(report)
    assert "No task has a judge rating" in render_html(report)
    assert to_json(report)["calibration"] == []
