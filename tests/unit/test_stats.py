"""The agreement statistics against reference implementations (scikit-learn, krippendorff, scipy:
test-only dependencies) on known and random data, and on the edge cases a report meets."""

from __future__ import annotations

import math
import random
import warnings

import krippendorff
import numpy as np
import pytest
from scipy import stats as scipy_stats
from sklearn.metrics import cohen_kappa_score
from sklearn.metrics import confusion_matrix as sk_confusion_matrix

from otel_label_studio.analysis.stats import (
    cohen_kappa,
    confusion_matrix,
    krippendorff_alpha,
    percent_agreement,
    spearman_rho,
    wilson_interval,
)

NAN = math.nan
A = [1, 2, 3, 3, 4, 5, 2, 1]
B = [1, 3, 3, 2, 4, 4, 2, 2]


@pytest.mark.parametrize("weights", [None, "linear", "quadratic"])
def test_kappa_matches_scikit_learn_on_known_data(weights):
    labels = [1, 2, 3, 4, 5]
    assert cohen_kappa(A, B, labels, weights) == pytest.approx(
        cohen_kappa_score(A, B, labels=labels, weights=weights), abs=1e-12
    )


@pytest.mark.parametrize("seed", range(20))
def test_kappa_matches_scikit_learn_on_random_ratings(seed):
    rng = random.Random(seed)
    n = rng.randint(2, 60)
    x = [rng.randint(1, 5) for _ in range(n)]
    y = [min(5, max(1, v + rng.choice([-2, -1, 0, 0, 0, 1]))) for v in x]
    labels = [1, 2, 3, 4, 5]
    for weights in (None, "quadratic"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = cohen_kappa_score(x, y, labels=labels, weights=weights)
        got = cohen_kappa(x, y, labels, weights)
        assert (math.isnan(got) and math.isnan(expected)) or got == pytest.approx(expected, abs=1e-12)


def test_weighted_kappa_follows_the_label_order_given():
    x = ["bad", "ok", "good", "good", "ok"]
    y = ["ok", "ok", "good", "ok", "bad"]
    order = ["bad", "ok", "good"]
    assert cohen_kappa(x, y, order, "linear") == pytest.approx(
        cohen_kappa_score(x, y, labels=order, weights="linear")
    )
    assert cohen_kappa(x, y, order, "linear") != pytest.approx(cohen_kappa(x, y, None, "linear"))


def test_kappa_is_undefined_when_both_raters_use_one_class():
    assert math.isnan(cohen_kappa([3, 3, 3], [3, 3, 3], [1, 2, 3, 4, 5], "quadratic"))
    assert math.isnan(cohen_kappa([], [], [1, 2, 3]))


def test_kappa_of_perfect_agreement_is_one_and_of_reversed_ratings_negative():
    assert cohen_kappa([1, 2, 3, 4, 5], [1, 2, 3, 4, 5], weights="quadratic") == pytest.approx(1.0)
    assert cohen_kappa([1, 2, 4, 5], [5, 4, 2, 1], weights="quadratic") < -0.9


def test_confusion_matrix_matches_scikit_learn():
    labels = [1, 2, 3, 4, 5]
    assert (confusion_matrix(A, B, labels) == sk_confusion_matrix(A, B, labels=labels)).all()
    assert confusion_matrix([1, 9], [1, 1], [1, 2]).tolist() == [[1, 0], [0, 0]]  # 9 is not a label


@pytest.mark.parametrize("seed", range(10))
def test_spearman_matches_scipy_with_ties(seed):
    rng = random.Random(seed)
    n = rng.randint(3, 50)
    x = [rng.randint(1, 5) for _ in range(n)]
    y = [rng.random() if rng.random() < 0.7 else 0.5 for _ in range(n)]
    expected = scipy_stats.spearmanr(x, y).statistic
    got = spearman_rho(x, y)
    assert (math.isnan(got) and math.isnan(expected)) or got == pytest.approx(expected, abs=1e-12)


def test_spearman_is_undefined_for_a_constant_side_or_one_item():
    assert math.isnan(spearman_rho([3, 3, 3], [0.1, 0.5, 0.9]))
    assert math.isnan(spearman_rho([3], [0.5]))


# The worked example of Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", p. 3:
# 4 observers x 12 units, missing values; the krippendorff package's own test data.
KRIPPENDORFF_2011 = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, NAN, NAN, NAN],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NAN, 3],
    [NAN, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, NAN],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NAN],
]


@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval"])
def test_alpha_matches_the_krippendorff_package_with_missing_values(level):
    expected = krippendorff.alpha(reliability_data=np.array(KRIPPENDORFF_2011), level_of_measurement=level)
    assert krippendorff_alpha(KRIPPENDORFF_2011, level) == pytest.approx(expected, abs=1e-12)


def test_alpha_of_the_published_example():
    assert krippendorff_alpha(KRIPPENDORFF_2011, "nominal") == pytest.approx(0.743, abs=5e-4)
    assert krippendorff_alpha(KRIPPENDORFF_2011, "interval") == pytest.approx(0.849, abs=5e-4)


@pytest.mark.parametrize("seed", range(20))
def test_alpha_matches_the_krippendorff_package_on_random_sparse_ratings(seed):
    rng = np.random.default_rng(seed)
    raters, units = int(rng.integers(2, 6)), int(rng.integers(3, 40))
    data = rng.integers(1, 6, size=(raters, units)).astype(float)
    data[rng.random(data.shape) < 0.4] = np.nan
    for level in ("nominal", "ordinal"):
        try:
            expected = krippendorff.alpha(reliability_data=data, level_of_measurement=level)
        except ValueError:  # "There has to be more than one value in the domain."
            expected = NAN
        got = krippendorff_alpha(data.tolist(), level)
        assert (math.isnan(got) and math.isnan(expected)) or got == pytest.approx(expected, abs=1e-9)


def test_alpha_edge_cases_are_undefined_not_a_number_made_up():
    assert math.isnan(krippendorff_alpha([[3, 3, 3], [3, 3, 3]]))  # one value only
    assert math.isnan(krippendorff_alpha([[1, 2, 3, 4]]))  # a single reviewer: no pair
    assert math.isnan(krippendorff_alpha([[1, NAN], [NAN, 2]]))  # no unit rated twice
    assert math.isnan(krippendorff_alpha([]))
    assert krippendorff_alpha([[1, 2, 3, 4], [1, 2, 3, 4]]) == pytest.approx(1.0)
    assert krippendorff_alpha([[1, 2, None], [1, 2, 5]]) == pytest.approx(1.0)  # None = missing


def test_percent_agreement_counts_pairs_within_units():
    assert percent_agreement([[1, 1], [2, 3], [4]]) == pytest.approx(0.5)  # the lone rating adds nothing
    assert percent_agreement([[1, 1, 2]]) == pytest.approx(1 / 3)
    assert math.isnan(percent_agreement([[1], [2]]))


@pytest.mark.parametrize(
    ("k", "n", "low", "high"), [(7, 10, 0.3968, 0.8922), (0, 10, 0.0, 0.2775), (55, 100, 0.4524, 0.6439)]
)
def test_wilson_interval_matches_known_values(k, n, low, high):
    assert wilson_interval(k, n) == pytest.approx((low, high), abs=1e-4)


@pytest.mark.parametrize(("k", "n"), [(0, 1), (3, 7), (19, 20), (20, 20), (500, 1001)])
def test_wilson_interval_matches_scipy(k, n):
    expected = scipy_stats.binomtest(k, n).proportion_ci(method="wilson")
    assert wilson_interval(k, n) == pytest.approx((expected.low, expected.high), abs=1e-9)


def test_wilson_interval_of_nothing_and_of_nonsense():
    assert all(math.isnan(v) for v in wilson_interval(0, 0))
    with pytest.raises(ValueError):
        wilson_interval(3, 2)


def test_weighted_proportion_with_equal_weights_is_the_share_and_its_wilson_interval():
    from otel_label_studio.analysis.stats import weighted_proportion

    values = [True] * 7 + [False] * 3
    estimate, low, high = weighted_proportion(values, [4.0] * 10)
    assert estimate == pytest.approx(0.7)
    assert (low, high) == pytest.approx(wilson_interval(7, 10))


def test_weighted_proportion_weighs_each_value_and_counts_unequal_weights_as_fewer():
    from otel_label_studio.analysis.stats import weighted_proportion

    estimate, low, high = weighted_proportion([True, False, False], [1.0, 1.0, 2.0])
    assert estimate == pytest.approx(0.25)
    equal = weighted_proportion([True, False, False, False], [1.0] * 4)
    assert high - low > equal[2] - equal[1]  # n_eff = 16 / 6 < 4
    assert all(math.isnan(x) for x in weighted_proportion([], []))
    with pytest.raises(ValueError):
        weighted_proportion([True], [1.0, 2.0])
