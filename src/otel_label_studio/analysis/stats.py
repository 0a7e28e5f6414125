"""Agreement statistics (pure): Cohen's kappa, Spearman's rho, Krippendorff's alpha, a confusion
matrix, percent agreement and the Wilson score interval.

numpy only. scipy would bring ~40 MB for a rank transform and a binomial interval, scikit-learn
or the ``krippendorff`` package another dependency per formula; each formula here is a few lines
and the tests check them against those references (test-only dependencies) on known data.

An undefined figure (both raters used one category, every value the same, nothing to compare) is
``nan``, never 0 or 1: report it as "undefined".

    cohen_kappa([1, 2, 3], [1, 2, 2], labels=[1, 2, 3, 4, 5], weights="quadratic")
    krippendorff_alpha([[1, 2, nan], [1, 3, 4]], level="ordinal")   # raters x units
    wilson_interval(7, 10)                                           # (0.3968, 0.8922)
"""

from __future__ import annotations

import math
from typing import Hashable, Literal, Sequence

import numpy as np

Weights = Literal["linear", "quadratic"] | None
Level = Literal["nominal", "ordinal", "interval"]


def confusion_matrix(
    rows: Sequence[Hashable], cols: Sequence[Hashable], labels: Sequence[Hashable]
) -> np.ndarray:
    """``m[i][j]`` = how often ``rows`` said ``labels[i]`` where ``cols`` said ``labels[j]``;
    pairs with a value outside ``labels`` are left out."""
    if len(rows) != len(cols):
        raise ValueError(f"two raters must rate the same items: {len(rows)} != {len(cols)}")
    index = {label: i for i, label in enumerate(labels)}
    matrix = np.zeros((len(labels), len(labels)), dtype=np.int64)
    for a, b in zip(rows, cols, strict=True):
        if a in index and b in index:
            matrix[index[a], index[b]] += 1
    return matrix


def cohen_kappa(
    rater1: Sequence[Hashable],
    rater2: Sequence[Hashable],
    labels: Sequence[Hashable] | None = None,
    weights: Weights = None,
) -> float:
    """Cohen's kappa of two raters over the same items; ``weights`` "quadratic" for ratings.

    ``labels`` gives the categories in their order (weighted kappa depends on it: pass ratings as
    numbers or the labels in ordinal order); default the sorted values seen."""
    if labels is None:
        labels = sorted(set(rater1) | set(rater2))  # type: ignore[type-var]
    observed = confusion_matrix(rater1, rater2, labels).astype(float)
    n = observed.sum()
    if n == 0:
        return math.nan
    expected = np.outer(observed.sum(axis=1), observed.sum(axis=0)) / n
    k = len(labels)
    i, j = np.indices((k, k))
    if weights is None:
        w = (i != j).astype(float)
    elif weights == "linear":
        w = np.abs(i - j).astype(float)
    elif weights == "quadratic":
        w = ((i - j) ** 2).astype(float)
    else:
        raise ValueError(f"weights must be None, 'linear' or 'quadratic', not {weights!r}")
    chance = float((w * expected).sum())
    if chance == 0:
        return math.nan
    return 1.0 - float((w * observed).sum()) / chance


def _ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks, ties given their average rank."""
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values), dtype=float)
    sorted_values = values[order]
    start = 0
    while start < len(values):
        end = start
        while end + 1 < len(values) and sorted_values[end + 1] == sorted_values[start]:
            end += 1
        ranks[order[start : end + 1]] = (start + end) / 2 + 1
        start = end + 1
    return ranks


def spearman_rho(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rank correlation (ties averaged); nan when either side is constant or n < 2."""
    if len(x) != len(y):
        raise ValueError(f"two raters must rate the same items: {len(x)} != {len(y)}")
    if len(x) < 2:
        return math.nan
    rx = _ranks(np.asarray(x, dtype=float))
    ry = _ranks(np.asarray(y, dtype=float))
    dx, dy = rx - rx.mean(), ry - ry.mean()
    denominator = math.sqrt(float((dx * dx).sum()) * float((dy * dy).sum()))
    if denominator == 0:
        return math.nan
    return float((dx * dy).sum()) / denominator


def krippendorff_alpha(reliability_data: Sequence[Sequence[float]], level: Level = "ordinal") -> float:
    """Krippendorff's alpha; ``reliability_data`` is raters x units, ``nan`` (or None) where a rater
    did not rate a unit. Units with fewer than two ratings add nothing. nan when undefined (fewer
    than two pairable values, or every value the same)."""
    data = np.array(
        [[math.nan if v is None else float(v) for v in row] for row in reliability_data], dtype=float
    )
    if data.size == 0:
        return math.nan
    values = np.unique(data[~np.isnan(data)])
    if len(values) < 2:
        return math.nan
    # counts[u, c]: how many raters gave unit u the value values[c]
    counts = np.stack([(data == v).sum(axis=0) for v in values], axis=1).astype(float)
    pairable = counts.sum(axis=1)
    counts = counts[pairable >= 2]
    pairable = pairable[pairable >= 2]
    if counts.size == 0:
        return math.nan
    coincidences = np.einsum("uc,uk->ck", counts / (pairable - 1)[:, None], counts) - np.diag(
        (counts / (pairable - 1)[:, None]).sum(axis=0)
    )
    n_c = coincidences.sum(axis=1)
    n = n_c.sum()
    if level == "nominal":
        delta = 1.0 - np.eye(len(values))
    elif level == "ordinal":
        cumulative = np.concatenate(([0.0], np.cumsum(n_c)))
        c, k = np.indices((len(values), len(values)))
        low, high = np.minimum(c, k), np.maximum(c, k)
        delta = (cumulative[high + 1] - cumulative[low] - (n_c[c] + n_c[k]) / 2) ** 2
    elif level == "interval":
        delta = np.subtract.outer(values, values) ** 2
    else:
        raise ValueError(f"level must be 'nominal', 'ordinal' or 'interval', not {level!r}")
    expected = float((np.outer(n_c, n_c) * delta).sum())
    if expected == 0 or n <= 1:
        return math.nan
    return 1.0 - (n - 1) * float((coincidences * delta).sum()) / expected


def percent_agreement(units: Sequence[Sequence[Hashable]]) -> float:
    """Share of agreeing pairs among all pairs of ratings within a unit (each unit a list of its
    ratings); units with fewer than two ratings add nothing. nan when there is no pair."""
    agreeing = pairs = 0
    for ratings in units:
        m = len(ratings)
        if m < 2:
            continue
        pairs += m * (m - 1) // 2
        seen: dict[Hashable, int] = {}
        for rating in ratings:
            seen[rating] = seen.get(rating, 0) + 1
        agreeing += sum(c * (c - 1) // 2 for c in seen.values())
    return agreeing / pairs if pairs else math.nan


def wilson_interval(successes: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """The Wilson score interval of a proportion ``successes / n`` (95% by default); (nan, nan)
    for n = 0."""
    if n < 0 or not 0 <= successes <= n:
        raise ValueError(f"need 0 <= successes <= n, got {successes} of {n}")
    if n == 0:
        return (math.nan, math.nan)
    p = successes / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def weighted_proportion(
    values: Sequence[bool], weights: Sequence[float], z: float = 1.959963984540054
) -> tuple[float, float, float]:
    """A population's share of True estimated from a sample drawn with known inclusion probabilities
    (``weights`` = 1/p, as the review budget's explore picks carry): the weighted share (Hajek) and
    its 95% interval, the Wilson score interval over Kish's effective sample size
    ``(sum w)^2 / sum w^2`` (unequal weights count as fewer calls). (nan, nan, nan) for no sample."""
    if len(values) != len(weights):
        raise ValueError(f"{len(values)} values but {len(weights)} weights")
    w = np.asarray(weights, dtype=float)
    if w.size == 0 or not w.sum() > 0:
        return (math.nan, math.nan, math.nan)
    if (w < 0).any():
        raise ValueError("weights must not be negative")
    y = np.asarray(values, dtype=float)
    p = float((w * y).sum() / w.sum())
    n = float(w.sum() ** 2 / (w * w).sum())
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(max(0.0, p * (1 - p)) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return (p, max(0.0, centre - half), min(1.0, centre + half))
