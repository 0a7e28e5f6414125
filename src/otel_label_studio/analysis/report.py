"""Do humans and judges agree? A project's tasks in, agreement figures out (pure).

- **Human vs each judge** (one per ``judge:<name>`` prediction, i.e. per evaluation name): the
  human rating of a task is its newest submitted annotation's Rating (as ``export`` reads it);
  the judge's is its prediction's Rating. Cohen's kappa, quadratic-weighted over the Rating scale
  1..maxRating; Spearman's rho of the human rating and the judge's raw score (its Rating when the
  prediction has no score); the confusion matrix (rows human, columns judge). Each figure says
  how many tasks it rests on.
- **Human vs human** on tasks with two or more annotators (each annotator's newest annotation):
  Krippendorff's alpha, ordinal, and the share of agreeing pairs of ratings.
- **Largest disagreements**: the stars between a human and a judge, or between the highest and
  lowest human rating of a task, largest first, each with a link to the task.

A **pairwise project** (``pair_layout.is_pairwise``) gets win rates instead (``build_pair_report``):
per pair of variants (models, or a run-metadata key), wins, losses, ties, "both bad" and the win
rate with its 95% Wilson interval (``pairs.win_rates``). Spans of fake models and of some providers
carry no model name: without a variant asked for, such a pair's sides are told apart by their
provider, LangChain model class or ``ls_model_name``, and when nothing tells any pair's sides apart
``nothing_told_apart`` says which ``--variant`` to use.

Only a few numbers per task are kept, never the tasks: a project of any size streams through.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Mapping
from xml.etree import ElementTree

from ..judges import judge
from ..modes.annotations import newest_annotation
from ..modes.pairs import SIDE_ATTRIBUTES, WinRate, outcome_of, win_rates
from . import stats
from .arena import Arena, arena_lines, build_arena
from .calibration import CalibrationTally, JudgeCalibration, calibration_lines, review_weight
from .run_report import RunCounts, run_lines

TOP_DISAGREEMENTS = 20


@dataclass(frozen=True)
class Scale:
    rating_name: str | None
    max_rating: int

    @property
    def labels(self) -> list[int]:
        return list(range(1, self.max_rating + 1))

    @classmethod
    def from_config(cls, label_config: str) -> Scale:
        """The config's first Rating (its name and ``maxRating``, default 5)."""
        for element in ElementTree.fromstring(label_config.strip()).iter():
            if element.tag.lower() == "rating":
                try:
                    top = int(element.attrib.get("maxRating") or judge.RATING_SCALE_MAX)
                except ValueError:
                    top = judge.RATING_SCALE_MAX
                return cls(element.attrib.get("name"), max(top, 1))
        return cls(None, judge.RATING_SCALE_MAX)


@dataclass
class JudgeAgreement:
    name: str
    n: int  # tasks with a human rating and the judge's rating: kappa and the matrix
    kappa_quadratic: float
    n_spearman: int  # tasks with a human rating and a judge score or rating
    spearman: float
    labels: list[int]
    confusion: list[list[int]]  # rows: human rating, columns: judge rating
    points: list[tuple[float, float, int]] = field(default_factory=list)  # (judge score, human, task)


@dataclass
class HumanAgreement:
    tasks: int  # tasks with two or more annotators
    ratings: int  # ratings on those tasks
    annotators: int
    alpha_ordinal: float
    percent_agreement: float


@dataclass
class Disagreement:
    task_id: int
    kind: str  # "judge:<name>" or "humans"
    gap: float  # stars apart
    human: list[float]  # the human rating(s)
    other: float | None  # the judge's rating (None for humans)
    link: str


@dataclass
class Report:
    project_id: int
    title: str
    tasks: int
    max_rating: int
    judges: list[JudgeAgreement]
    humans: HumanAgreement
    disagreements: list[Disagreement]
    calibration: list[JudgeCalibration] | None = None  # asked for (``report --calibration``)


def task_link(url: str, project_id: int, task_id: int) -> str:
    """Opens the task in Label Studio's Data Manager."""
    return f"{url.rstrip('/')}/projects/{project_id}/data?task={task_id}"


def _rating(result: Iterable[Mapping[str, Any]], name: str | None) -> float | None:
    for item in result:
        if item.get("type") == "rating" and (name is None or item.get("from_name") == name):
            raw = (item.get("value") or {}).get("rating")
            if isinstance(raw, (int, float)) and not isinstance(raw, bool):
                return float(raw)
    return None


def _submitted(annotations: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [a for a in annotations if not a.get("was_cancelled") and a.get("result") is not None]


def annotator_ratings(task: Mapping[str, Any], scale: Scale) -> dict[Any, float]:
    """Each annotator's rating of the task, from their newest submitted annotation."""
    by_user: dict[Any, list[Mapping[str, Any]]] = {}
    for annotation in _submitted(task.get("annotations") or ()):
        by_user.setdefault(annotation.get("completed_by"), []).append(annotation)
    ratings = {}
    for user, own in by_user.items():
        newest = newest_annotation(own)
        rating = None if newest is None else _rating(newest.get("result") or (), scale.rating_name)
        if rating is not None:
            ratings[user] = rating
    return ratings


def judge_results(task: Mapping[str, Any], scale: Scale) -> dict[str, judge.JudgeResult]:
    """The task's judge results by evaluation name, each judge's newest (``judge.judge_results``: the
    task's ``meta.evaluations``, else its ``judge:<name>`` predictions)."""
    evaluations = (task.get("meta") or {}).get("evaluations") or ()
    return judge.judge_results(
        task.get("predictions") or (), evaluations, scale.rating_name, scale.max_rating
    )


class _Accumulator:
    def __init__(self, scale: Scale, url: str, project_id: int, calibration: CalibrationTally | None = None):
        self.scale, self.url, self.project_id = scale, url, project_id
        self.calibration = calibration
        self.tasks = 0
        self.judge_pairs: dict[str, list[tuple[float, float | None, float | None, int]]] = {}
        self.units: list[tuple[int, dict[Any, float]]] = []
        self.disagreements: list[Disagreement] = []

    def add(self, task: Mapping[str, Any]) -> None:
        self.tasks += 1
        task_id = int(task.get("id") or 0)
        by_user = annotator_ratings(task, self.scale)
        if len(by_user) >= 2:
            self.units.append((task_id, by_user))
            values = sorted(by_user.values())
            if values[-1] != values[0]:
                self._disagree(task_id, "humans", values[-1] - values[0], values, None)
        newest = newest_annotation(task.get("annotations") or ())
        human = None if newest is None else _rating(newest.get("result") or (), self.scale.rating_name)
        if self.calibration is not None:  # every task's judges: the raw pass rate is on all traffic
            judged = {name: r.rating for name, r in judge_results(task, self.scale).items()}
            self.calibration.add(human, judged, review_weight(task))
        if human is None:
            return
        for name, result in judge_results(task, self.scale).items():
            self.judge_pairs.setdefault(name, []).append((human, result.rating, result.score, task_id))
            if result.rating is not None and result.rating != human:
                self._disagree(task_id, f"judge:{name}", abs(human - result.rating), [human], result.rating)

    def _disagree(self, task_id: int, kind: str, gap: float, human: list[float], other: float | None) -> None:
        link = task_link(self.url, self.project_id, task_id)
        self.disagreements.append(Disagreement(task_id, kind, gap, human, other, link))
        if len(self.disagreements) > 4 * TOP_DISAGREEMENTS:  # keep memory flat on a huge project
            self.disagreements = _largest(self.disagreements)

    def judges(self) -> list[JudgeAgreement]:
        labels = self.scale.labels
        out = []
        for name in sorted(self.judge_pairs):
            pairs = self.judge_pairs[name]
            rated = [(h, j) for h, j, _, _ in pairs if j is not None]
            scored: list[tuple[float, float, int]] = []
            for h, j, s, t in pairs:
                x = s if s is not None else j
                if x is not None:
                    scored.append((h, x, t))
            humans, judged = [h for h, _ in rated], [j for _, j in rated]
            out.append(
                JudgeAgreement(
                    name=name,
                    n=len(rated),
                    kappa_quadratic=stats.cohen_kappa(humans, judged, labels, "quadratic"),
                    n_spearman=len(scored),
                    spearman=stats.spearman_rho([h for h, _, _ in scored], [s for _, s, _ in scored]),
                    labels=labels,
                    confusion=stats.confusion_matrix(humans, judged, labels).tolist(),
                    points=[(s, h, t) for h, s, t in scored],
                )
            )
        return out

    def humans(self) -> HumanAgreement:
        annotators = sorted({user for _, ratings in self.units for user in ratings}, key=str)
        data = [[ratings.get(user, math.nan) for _, ratings in self.units] for user in annotators]
        return HumanAgreement(
            tasks=len(self.units),
            ratings=sum(len(ratings) for _, ratings in self.units),
            annotators=len(annotators),
            alpha_ordinal=stats.krippendorff_alpha(data, "ordinal") if self.units else math.nan,
            percent_agreement=stats.percent_agreement([list(r.values()) for _, r in self.units]),
        )


def _largest(disagreements: list[Disagreement]) -> list[Disagreement]:
    return sorted(disagreements, key=lambda d: (-d.gap, d.task_id, d.kind))[:TOP_DISAGREEMENTS]


def build_report(
    tasks: Iterable[Mapping[str, Any]],
    scale: Scale,
    *,
    url: str,
    project_id: int,
    title: str = "",
    calibration: CalibrationTally | None = None,
) -> Report:
    """The agreement report; with a ``calibration`` tally (``report --calibration``) also each judge's
    calibration (``calibration.py``)."""
    acc = _Accumulator(scale, url, project_id, calibration)
    for task in tasks:
        acc.add(task)
    judges = acc.judges()
    calibrated = None
    if calibration is not None:
        calibrated = calibration.judges({j.name: j.kappa_quadratic for j in judges})
    return Report(
        project_id=project_id,
        title=title,
        tasks=acc.tasks,
        max_rating=scale.max_rating,
        judges=judges,
        humans=acc.humans(),
        disagreements=_largest(acc.disagreements),
        calibration=calibrated,
    )


def _number(value: float) -> float | None:
    return None if isinstance(value, float) and math.isnan(value) else value


def to_json(report: Report) -> dict[str, Any]:
    """The report as JSON-ready data; an undefined figure is null."""

    def clean(value: Any) -> Any:
        if isinstance(value, float):
            return _number(value)
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [clean(v) for v in value]
        return value

    data = clean(asdict(report))
    for agreement in data["judges"]:
        agreement["points"] = [
            {"judge_score": s, "human": h, "task_id": t} for s, h, t in agreement["points"]
        ]
    return data


def fmt(value: float, digits: int = 3) -> str:
    return "undefined" if isinstance(value, float) and math.isnan(value) else f"{value:.{digits}f}"


def _stars(value: float) -> str:
    return f"{value:g}"


def render_text(report: Report, runs: RunCounts | None = None) -> str:
    """The report as text; an agent project's ``runs`` (``run_report.py``) first."""
    lines = [f"Project {report.project_id} {report.title!r}: {report.tasks} task{_s(report.tasks)}", ""]
    if runs is not None:
        lines += [*run_lines(runs), ""]
    lines.append(
        f"Human vs judge (human = newest annotation; kappa quadratic-weighted on 1..{report.max_rating})"
    )
    if not report.judges:
        lines.append("  no task has both a human rating and a judge:<name> prediction")
    for j in report.judges:
        lines.append(
            f"  judge:{j.name}: kappa {fmt(j.kappa_quadratic)} (n={j.n}), "
            f"Spearman {fmt(j.spearman)} (n={j.n_spearman})"
        )
        lines.append("    confusion (rows human, columns judge):")
        lines.append("        " + "".join(f"{label:>5}" for label in j.labels))
        for label, row in zip(j.labels, j.confusion, strict=True):
            lines.append(f"    {label:>4}" + "".join(f"{count:>5}" for count in row))
    h = report.humans
    lines += ["", "Human vs human (tasks with 2+ annotators)"]
    lines.append(
        f"  Krippendorff's alpha (ordinal) {fmt(h.alpha_ordinal)}, percent agreement "
        f"{fmt(h.percent_agreement * 100 if not math.isnan(h.percent_agreement) else math.nan, 1)}"
        f"{'' if math.isnan(h.percent_agreement) else '%'} "
        f"(n={h.tasks} tasks, {h.ratings} ratings, {h.annotators} annotators)"
    )
    if report.calibration is not None:
        lines += ["", *calibration_lines(report.calibration)]
    lines += ["", f"Largest disagreements (top {TOP_DISAGREEMENTS})"]
    if not report.disagreements:
        lines.append("  none")
    for d in report.disagreements:
        if d.other is None:
            said = "humans " + " / ".join(_stars(v) for v in d.human)
        else:
            said = f"human {_stars(d.human[0])} vs {d.kind} {_stars(d.other)}"
        lines.append(f"  task {d.task_id}: {_stars(d.gap)} apart, {said}  {d.link}")
    return "\n".join(lines) + "\n"


# --- pairwise projects (tasks from pair_layout.PairLayout) -------------------------------------


#: How a report names what told the sides of a pair apart.
_ATTRIBUTE_WORDS = {"model_class": "LangChain model class"}
#: Most --variant suggestions a report or an error gives.
MAX_OTHER_VARIANTS = 5


@dataclass
class PairReport:
    """Win rates of a pairwise project: each task's newest submitted annotation is one outcome
    (the choice ``export`` reads), compared by ``variant``: each side's ``model``, or a run-metadata
    key such as ``prompt_version`` recorded in the pair's meta. Without a variant asked for
    (``falls_back``), a pair whose sides have no or the same model is compared by the first of
    provider, LangChain model class and ``ls_model_name`` that differs (``pairs.SIDE_ATTRIBUTES``)."""

    project_id: int
    title: str
    tasks: int
    variant: str
    reviewed: int  # tasks whose newest annotation chose A, B, "Tie" or "Both bad"
    same_variant: int  # of those, pairs whose two sides nothing told apart: left out of the rates
    win_rates: list[WinRate]
    falls_back: bool = False
    told_apart_by: dict[str, int] = field(default_factory=dict)  # reviewed pairs per what told them apart
    other_variants: list[str] = field(default_factory=list)  # what differs in the pairs left out: --variant
    arena: Arena | None = None  # with three or more variants: ratings, win-rate matrix (``arena.py``)


def build_pair_report(
    tasks: Iterable[Mapping[str, Any]], *, variant: str | None = None, project_id: int, title: str = ""
) -> PairReport:
    count, outcomes = 0, []
    told_apart_by: Counter[str] = Counter()
    others: Counter[str] = Counter()
    for task in tasks:
        count += 1
        outcome = outcome_of(task, variant)
        if outcome is not None:
            outcomes.append(outcome)
            if outcome.by:
                told_apart_by[outcome.by] += 1
            others.update(outcome.others)
    order = {name: i for i, name in enumerate(SIDE_ATTRIBUTES)}
    return PairReport(
        project_id=project_id,
        title=title,
        tasks=count,
        variant=variant or "model",
        reviewed=len(outcomes),
        same_variant=sum(1 for o in outcomes if o.a == o.b),
        win_rates=win_rates(outcomes),
        arena=build_arena(outcomes),
        falls_back=variant is None,
        told_apart_by=dict(sorted(told_apart_by.items(), key=lambda kv: order.get(kv[0], 0))),
        other_variants=[name for name, _ in sorted(others.items(), key=lambda kv: (-kv[1], kv[0]))][
            :MAX_OTHER_VARIANTS
        ],
    )


def attribute_words(name: str) -> str:
    return _ATTRIBUTE_WORDS.get(name, name)


def _and(words: list[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def compared_by(report: PairReport) -> str:
    """``model``, or ``model; where ... by provider (2 pairs)`` when the report fell back."""
    fallbacks = [
        f"{attribute_words(name)} ({n} {'pair' if n == 1 else 'pairs'})"
        for name, n in report.told_apart_by.items()
        if name != report.variant
    ]
    if not (report.falls_back and fallbacks):
        return report.variant
    return f"{report.variant}; where it is missing or the same on both sides, by {', '.join(fallbacks)}"


def told_apart_by_words(report: PairReport) -> str:
    """What the report compares the sides by, in words: its variant, or the fallback chain."""
    if not report.falls_back:
        return report.variant
    words = [attribute_words(name) for name in SIDE_ATTRIBUTES]
    return f"{', '.join(words[:-1])} or {words[-1]}"


def left_out(report: PairReport) -> str:
    """Why the pairs left out are: what their sides share, and what differs (the --variant to try)."""
    same = f"the same {report.variant} on both sides"
    if report.falls_back:
        rest = [attribute_words(name) for name in SIDE_ATTRIBUTES if name != report.variant]
        same += f" (and the same {_and(rest)})"
    line = f"Left out: {report.same_variant} reviewed pairs with {same}"
    if report.other_variants:
        line += "; what differs between their sides: " + ", ".join(
            f"--variant {name}" for name in report.other_variants
        )
    return line


def nothing_told_apart(report: PairReport) -> str | None:
    """Without --variant, when nothing tells the two sides of any reviewed pair apart: what to do
    instead (the ``--variant`` to use); None when there is something to report."""
    if not report.falls_back or not report.reviewed or report.told_apart_by:
        return None
    attributes = _and([attribute_words(name) for name in SIDE_ATTRIBUTES])
    message = (
        f"project {report.project_id} {report.title!r}: nothing tells the two sides of its "
        f"{report.reviewed} reviewed pairs apart (each pair has the same {attributes} on both sides, or "
        "none recorded), so there is no win rate to give; "
    )
    if report.other_variants:
        choices = " or ".join(f"--variant {name}" for name in report.other_variants)
        return message + f"compare by what differs between their sides: {choices}"
    return message + (
        "nothing else recorded with them differs either: record what tells the variants apart as run "
        'metadata on each model or call (LangChain: .with_config(metadata={"variant": "candidate"})) and '
        "compare by it with --variant variant"
    )


def pair_report_json(report: PairReport) -> dict[str, Any]:
    data = asdict(report)
    data["kind"] = "pairwise"
    for rate, source in zip(data["win_rates"], report.win_rates, strict=True):
        rate["decided"] = source.decided
    return data


def _rate(value: float | None) -> str:
    return "undefined" if value is None else f"{value:.3f}"


def render_pair_text(report: PairReport) -> str:
    lines = [
        f"Project {report.project_id} {report.title!r}: {report.tasks} pair tasks, {report.reviewed} with a "
        f"choice; compared by {compared_by(report)}",
        "",
        "Win rates (first vs second: wins / (wins + losses); ties and both bad counted, not in the rate; "
        "95% Wilson interval)",
    ]
    if not report.win_rates:
        lines.append(f"  no reviewed pair has two different {told_apart_by_words(report)} values")
    for r in report.win_rates:
        interval = "" if r.low is None else f" [{r.low:.3f}, {r.high:.3f}]"
        lines.append(
            f"  {r.first} vs {r.second}: wins {r.wins}, losses {r.losses}, ties {r.ties}, "
            f"both bad {r.both_bad}; win rate {_rate(r.win_rate)}{interval} (n={r.decided})"
        )
    if report.arena is not None:
        lines += ["", *arena_lines(report.arena)]
    if report.same_variant:
        lines += ["", left_out(report)]
    return "\n".join(lines) + "\n"


def _s(count: int) -> str:
    """The plural ending a count takes: ``1 task``, ``2 tasks``."""
    return "" if count == 1 else "s"
