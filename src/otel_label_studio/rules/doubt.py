"""Fields for doubt: where the judges disagree, or one scored near its threshold (pure).

``match`` keys (read by ``fields``, parsed by ``language``):

- ``evaluation.<name>.score`` / ``evaluation.<name>.label``: a judge's score (numbers, comparisons)
  or label (text, globs) alone; ``evaluation.<name>`` matches either, as before.
- ``evaluation.<name>.margin: {threshold: 0.5, below: 0.1}``: the judge's score is less than ``below``
  from ``threshold`` (``|score - threshold| < below``); no score: never holds.
- ``evaluation.disagreement: true`` (or ``{gap: 0.3, judges: [a, b], scale: 1}``): two of the judges
  (all on the span, or those named) gave different labels, or scores (divided by ``scale``, default 1:
  scores from 0 to 1) further apart than ``gap`` (default: labels only). ``false``: they agree.
- ``evaluation.missing: [a, b]``: one of these judges gave no result.

The values read: ``evaluation.<name>.*`` the judge's ``(score, label)`` or None; ``disagreement`` and
``missing`` every judge's on the span, ``{name: (score, label)}``.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

DISAGREEMENT = "evaluation.disagreement"
MISSING = "evaluation.missing"
SUFFIXES = (".score", ".label", ".margin")

Result = tuple[float | None, str | None]


def split(key: str) -> tuple[str, str]:
    """``evaluation.helpfulness.margin`` -> (``helpfulness``, ``margin``); ("name", "") for the plain key."""
    name = key[len("evaluation.") :]
    for suffix in SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)], suffix[1:]
    return name, ""


def margin_of(seen: Result | None, threshold: float) -> float | None:
    """How far the judge's score is from ``threshold``; None without a score."""
    if seen is None or seen[0] is None:
        return None
    return abs(seen[0] - threshold)


def within_margin(threshold: float, below: float) -> Callable[[Any], bool]:
    def holds(seen: Any) -> bool:
        distance = margin_of(seen, threshold)
        return distance is not None and distance < below

    return holds


def disagree(
    results: Mapping[str, Result], judges: Sequence[str] = (), gap: float | None = None, scale: float = 1.0
) -> bool:
    """Whether two judges (of ``judges``, else every one there) differ in label, or in score by more
    than ``gap`` once divided by ``scale``."""
    chosen = [results[name] for name in (judges or sorted(results)) if name in results]
    labels = {label for _, label in chosen if label is not None}
    if len(labels) > 1:
        return True
    if gap is None:
        return False
    scores = [score / scale for score, _ in chosen if score is not None]
    return len(scores) > 1 and max(scores) - min(scores) > gap


def disagreement(
    wanted: bool, judges: Sequence[str], gap: float | None, scale: float
) -> Callable[[Any], bool]:
    def holds(results: Any) -> bool:
        return disagree(results or {}, judges, gap, scale) is wanted

    return holds


def missing(judges: Sequence[str]) -> Callable[[Any], bool]:
    def holds(results: Any) -> bool:
        present = results or {}
        return any(name not in present for name in judges)

    return holds
