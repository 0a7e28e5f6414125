"""Can a judge's verdict be trusted, and what pass rate does it mean? (pure)

Per judge against the reviewers' labels, a verdict being a pass when its rating is at least
``pass_at`` stars (the human's newest annotation's Rating, the judge's rating):

- the 2x2 confusion matrix (rows human pass / fail, columns judge pass / fail), weighted;
- **sensitivity** (the share of human passes the judge passes) and **specificity** (the share of
  human fails it fails), each with a 95% Wilson interval on the effective sample size;
- the judge's **raw pass rate** on all tasks it judged (reviewed or not) and the **corrected pass
  rate** (Rogan-Gladen: ``(raw + spec - 1) / (sens + spec - 1)``, clipped to [0, 1]) with a 95%
  interval from a **parametric bootstrap** (``corrected_interval``): the raw rate drawn from its
  Jeffreys posterior (``Beta(x + 1/2, n - x + 1/2)``), and per stratum of reviewed tasks of equal
  weight the shares of its four (human, judge) cells from a Dirichlet (half an item of prior per
  cell), sensitivity and specificity computed from the same draws, the corrected rate of each draw
  clipped, the 2.5 and 97.5 percentiles kept. Unweighted, this is a Jeffreys draw of sensitivity and
  of specificity each; weighted by a rule that follows the judge's verdict, it keeps the dependence
  of the two (independent draws gave intervals 1.6 times too wide). A fixed seed makes the same
  tasks give the same interval. The delta method was the other choice: it is symmetric and leaves
  [0, 1] near the edges and at small samples, where the bootstrap does not. ``bench/judges.py``
  checks the coverage over 200 seeds; no finite-population correction is made, so when the reviewed
  tasks are a large share of all tasks the interval is wider than it need be;
- how many more reviewed items would bring the corrected rate's interval to ``target_width``
  (its width shrinks as 1 / sqrt(reviewed): ``n * (width / target)^2 - n``).

**Weights.** A reviewed task whose meta carries ``review.weight`` (1 / the probability it was
picked for review) counts that many times, so a disagreement-first or budgeted review does not
bias sensitivity and specificity; a reviewed task without one counts once (it was certain to be
reviewed). Without any weight the figures hold for what was reviewed only (``weighted`` False).

numpy only, like ``stats.py``; the tests check each figure against scikit-learn, scipy and a
direct computation.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .stats import wilson_interval

Z95 = 1.959963984540054
#: The default width of the corrected pass rate's 95% interval a judge's review should reach.
TARGET_WIDTH = 0.1
#: Draws of the parametric bootstrap, and its seed (a report is the same each time it is run).
DRAWS = 4000
SEED = 29


@dataclass(frozen=True)
class Proportion:
    """A (possibly weighted) share with its 95% Wilson interval on the effective sample size."""

    value: float  # nan when undefined (nothing to divide by)
    low: float
    high: float
    n: int  # items it rests on
    n_effective: float  # Kish: (sum w)^2 / sum w^2; n without weights


def weighted_proportion(hits: np.ndarray, weights: np.ndarray, z: float = Z95) -> Proportion:
    """The weighted share of ``hits`` (booleans) and a Wilson interval on the Kish effective sample
    size; with equal weights, exactly ``stats.wilson_interval(successes, n)``."""
    n = len(hits)
    total = float(weights.sum())
    if n == 0 or total <= 0:
        return Proportion(math.nan, math.nan, math.nan, n, 0.0)
    p = float(weights[hits].sum()) / total
    n_eff = effective_size(hits, weights, p, total)
    low, high = _wilson(p, n_eff, z)
    return Proportion(p, low, high, n, n_eff)


def effective_size(hits: np.ndarray, weights: np.ndarray, p: float, total: float) -> float:
    """The sample size an unweighted share with the weighted one's variance would have: ``p (1 - p)``
    over the ratio estimator's linearised variance ``sum w^2 (y - p)^2 / (sum w)^2``. Weights that
    follow the outcome (a review picked by the judge's verdict) make it larger than Kish's
    ``(sum w)^2 / sum w^2``, which is what it falls back to at ``p`` 0 or 1. Equal weights: n."""
    kish = total * total / float((weights * weights).sum())
    variance = float((weights * weights * (hits - p) ** 2).sum()) / (total * total)
    if variance <= 0 or p <= 0 or p >= 1:
        return kish
    return p * (1 - p) / variance


def _wilson(p: float, n: float, z: float) -> tuple[float, float]:
    """``stats.wilson_interval`` for a share ``p`` of a (possibly fractional) sample size ``n``."""
    if float(n).is_integer():
        successes = round(p * n)
        if math.isclose(successes, p * n, abs_tol=1e-9):
            return wilson_interval(int(successes), int(n), z)
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def rogan_gladen(raw: float, sensitivity: float, specificity: float) -> float:
    """The true pass rate behind a judge's ``raw`` pass rate, clipped to [0, 1]; nan when the judge is
    no better than a coin (``sensitivity + specificity <= 1``)."""
    youden = sensitivity + specificity - 1
    if not youden > 0 or math.isnan(raw):
        return math.nan
    return min(1.0, max(0.0, (raw + specificity - 1) / youden))


def corrected_interval(
    raw: Proportion,
    human: np.ndarray,
    judge: np.ndarray,
    weights: np.ndarray,
    *,
    draws: int = DRAWS,
    seed: int = SEED,
) -> tuple[float, float]:
    """The 95% interval of the corrected pass rate: a parametric bootstrap (see the module doc) of the
    raw rate (Jeffreys) and, per stratum of equal weight, the shares of its four (human, judge) cells
    (Dirichlet, half an item of prior per cell over all strata). Sensitivity and specificity are
    computed from the same draws, so a review picked by the judge's verdict keeps their dependence.
    Draws where the judge is no better than a coin have no corrected rate: when more than 2.5% are,
    the interval is all of [0, 1]; else they are left out. (nan, nan) when nothing is reviewed."""
    if math.isnan(raw.value) or len(human) == 0:
        return (math.nan, math.nan)
    rng = np.random.default_rng(seed)
    r = rng.beta(raw.value * raw.n_effective + 0.5, (1 - raw.value) * raw.n_effective + 0.5, draws)
    cells = np.zeros((draws, 4))  # weighted mass of (H+J+, H+J-, H-J+, H-J-)
    which = (~human).astype(int) * 2 + (~judge).astype(int)
    for weight in np.unique(weights):
        members = weights == weight
        counts = np.bincount(which[members], minlength=4).astype(float)
        prior = 0.5 * members.sum() / len(human)
        shares = rng.dirichlet(counts + prior, draws)
        cells += shares * float(weights[members].sum())
    se = cells[:, 0] / (cells[:, 0] + cells[:, 1])
    sp = cells[:, 3] / (cells[:, 2] + cells[:, 3])
    youden = se + sp - 1
    kept = youden > 0
    if kept.sum() < 0.975 * draws:  # the judge may well be no better than a coin: any rate fits
        return (0.0, 1.0)
    corrected = np.clip((r[kept] + sp[kept] - 1) / youden[kept], 0.0, 1.0)
    low, high = np.quantile(corrected, [0.025, 0.975])
    return (float(low), float(high))


def more_needed(reviewed: int, width: float, target: float) -> int | None:
    """Reviewed items still needed for the interval to narrow from ``width`` to ``target`` (width
    shrinks as 1 / sqrt(n)); 0 when it is narrow enough, None when it cannot be told (no interval)."""
    if math.isnan(width) or reviewed <= 0:
        return None
    if width <= target:
        return 0
    return math.ceil(reviewed * (width / target) ** 2) - reviewed


@dataclass
class JudgeCalibration:
    name: str
    pass_at: float  # a rating at or above this is a pass, for the human and the judge
    weighted: bool  # some reviewed task carried meta.review.weight
    reviewed: int  # tasks with a human rating and this judge's rating
    unweighted: int  # of those, without a weight (counted once)
    confusion: list[
        list[float]
    ]  # [[human pass & judge pass, human pass & judge fail], [fail & pass, fail & fail]]
    sensitivity: Proportion
    specificity: Proportion
    kappa_quadratic: float  # on the ratings of the reviewed tasks (unweighted)
    raw: Proportion  # the judge's pass rate on every task it judged
    corrected: float
    corrected_low: float
    corrected_high: float
    target_width: float
    more_needed: int | None  # reviewed items still needed for the corrected interval to reach target_width


@dataclass
class CalibrationTally:
    """Per judge: its verdict on every task it judged, and the reviewed tasks' (human, judge, weight)."""

    pass_at: float
    target_width: float = TARGET_WIDTH
    judged: dict[str, list[bool]] = field(default_factory=dict)
    reviewed: dict[str, list[tuple[float, float, float | None]]] = field(default_factory=dict)

    def add(self, human: float | None, judges: Mapping[str, float | None], weight: float | None) -> None:
        """One task: its human rating (None: not reviewed), each judge's rating, its review weight."""
        for name, rating in judges.items():
            if rating is None:
                continue
            self.judged.setdefault(name, []).append(rating >= self.pass_at)
            if human is not None:
                self.reviewed.setdefault(name, []).append((human, rating, weight))

    def judges(self, kappa: Mapping[str, float]) -> list[JudgeCalibration]:
        return [self._one(name, kappa.get(name, math.nan)) for name in sorted(self.judged)]

    def _one(self, name: str, kappa: float) -> JudgeCalibration:
        rows = self.reviewed.get(name, [])
        human = np.array([h >= self.pass_at for h, _, _ in rows], dtype=bool)
        judge = np.array([j >= self.pass_at for _, j, _ in rows], dtype=bool)
        weights = np.array([1.0 if w is None else w for _, _, w in rows], dtype=float)
        verdicts = np.array(self.judged[name], dtype=bool)
        raw = weighted_proportion(verdicts, np.ones(len(verdicts)))
        sens = weighted_proportion(judge[human], weights[human])
        spec = weighted_proportion(~judge[~human], weights[~human])
        low, high = corrected_interval(raw, human, judge, weights)
        confusion = [
            [float(weights[human & judge].sum()), float(weights[human & ~judge].sum())],
            [float(weights[~human & judge].sum()), float(weights[~human & ~judge].sum())],
        ]
        return JudgeCalibration(
            name=name,
            pass_at=self.pass_at,
            weighted=any(w is not None for _, _, w in rows),
            reviewed=len(rows),
            unweighted=sum(1 for _, _, w in rows if w is None),
            confusion=confusion,
            sensitivity=sens,
            specificity=spec,
            kappa_quadratic=kappa,
            raw=raw,
            corrected=rogan_gladen(raw.value, sens.value, spec.value),
            corrected_low=low,
            corrected_high=high,
            target_width=self.target_width,
            more_needed=more_needed(len(rows), high - low, self.target_width),
        )


def review_weight(task: Mapping[str, Any]) -> float | None:
    """``meta.review.weight`` (1 / the probability the task was picked for review), when it is a
    positive number."""
    review = (task.get("meta") or {}).get("review")
    weight = review.get("weight") if isinstance(review, Mapping) else None
    if (
        isinstance(weight, (int, float))
        and not isinstance(weight, bool)
        and weight > 0
        and math.isfinite(weight)
    ):
        return float(weight)
    return None


def default_pass_at(max_rating: int) -> float:
    """A pass is a rating in the upper half of the scale: 3 of 5 stars up, 6 of 10 up."""
    return float(max_rating // 2 + 1)


def _f(value: float, digits: int = 3) -> str:
    return "undefined" if math.isnan(value) else f"{value:.{digits}f}"


def interval_words(low: float, high: float) -> str:
    return "" if math.isnan(low) or math.isnan(high) else f" [{low:.3f}, {high:.3f}]"


def _count(value: float) -> str:
    return f"{value:g}" if value == int(value) else f"{value:.1f}"


def needed_words(c: JudgeCalibration) -> str:
    """How many more reviewed items the corrected rate's interval needs to reach the target width."""
    width = c.corrected_high - c.corrected_low
    if c.more_needed is None:
        return "review more items: no interval yet (it needs human passes and fails the judge tells apart)"
    if c.more_needed == 0:
        return f"the corrected rate's interval is {width:.3f} wide, within {c.target_width:g}"
    return (
        f"review about {c.more_needed} more items for a corrected-rate interval {c.target_width:g} wide "
        f"(now {width:.3f})"
    )


def scope_words(c: JudgeCalibration) -> str:
    if not c.weighted:
        return "unweighted (no meta.review.weight): the figures hold for the reviewed tasks only"
    extra = f"; {c.unweighted} without a weight counted once" if c.unweighted else ""
    return f"weighted by meta.review.weight{extra}"


def calibration_lines(calibrations: list[JudgeCalibration]) -> list[str]:
    """The calibration section of the text report."""
    if not calibrations:
        return ["Calibration", "  no task has a judge:<name> rating"]
    lines = [f"Calibration (a pass: a rating of {calibrations[0].pass_at:g} or more; 95% intervals)"]
    for c in calibrations:
        (tp, fn), (fp, tn) = c.confusion
        lines += [
            f"  judge:{c.name}: {c.reviewed} reviewed, {scope_words(c)}",
            f"    confusion (rows human, columns judge): pass/pass {_count(tp)}, pass/fail {_count(fn)}, "
            f"fail/pass {_count(fp)}, fail/fail {_count(tn)}",
            f"    sensitivity {_f(c.sensitivity.value)}"
            f"{interval_words(c.sensitivity.low, c.sensitivity.high)} "
            f"(n={c.sensitivity.n}), specificity {_f(c.specificity.value)}"
            f"{interval_words(c.specificity.low, c.specificity.high)} (n={c.specificity.n}), "
            f"kappa (quadratic) {_f(c.kappa_quadratic)}",
            f"    pass rate: raw {_f(c.raw.value)} (n={c.raw.n} judged), corrected {_f(c.corrected)}"
            f"{interval_words(c.corrected_low, c.corrected_high)}",
            f"    {needed_words(c)}",
        ]
    return lines
