"""A judge's result as a Label Studio prediction, and back (pure).

A ``gen_ai.evaluation.result`` becomes a prediction on its span's task:

- ``model_version`` = ``judge:<gen_ai.evaluation.name>``;
- ``score`` = the raw ``gen_ai.evaluation.score.value`` (Label Studio's Data Manager averages it);
- ``result`` = a Rating item holding the score on the Rating scale (``score_to_rating``), and a
  TextArea item (``note_name``, default ``judge``) with the label and the explanation, one line
  each as ``label: ...`` / ``explanation: ...``, so a reviewer sees what the judge said.

The score on the Rating scale (1..max_rating, 5 by default):

- a score in [0, 1] is a fraction: ``1 + round(score * (max_rating - 1))`` (half up), so
  0 -> 1, 0.25 -> 2, 0.5 -> 3, 0.75 -> 4, 1 -> 5;
- a score above 1 and up to ``max_rating`` is already on the scale (``4.0`` -> 4), rounded half up;
- anything else (negative, above the scale, NaN) has no rating: None.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

PREFIX = "judge:"
NOTE_NAME = "judge"
RATING_SCALE_MAX = 5


def score_to_rating(score: float, max_rating: int = RATING_SCALE_MAX) -> int | None:
    """The judge's score as stars on a 1..max_rating Rating; None when it cannot be placed."""
    if isinstance(score, bool) or not isinstance(score, (int, float)) or math.isnan(score):
        return None
    if 0 <= score <= 1:
        return 1 + math.floor(score * (max_rating - 1) + 0.5)
    if 1 < score <= max_rating:
        return math.floor(score + 0.5)
    return None


def is_judge(prediction: Mapping[str, Any]) -> bool:
    return str(prediction.get("model_version") or "").startswith(PREFIX)


def judge_prediction(
    name: str,
    score: float | None,
    *,
    label: str | None = None,
    explanation: str | None = None,
    rating_name: str = "rating",
    to_name: str = "prompt",
    note_name: str = NOTE_NAME,
    max_rating: int = RATING_SCALE_MAX,
) -> dict[str, Any]:
    """The prediction (``POST /api/predictions`` body without ``task``) for one judge result."""
    result: list[dict[str, Any]] = []
    rating = None if score is None else score_to_rating(score, max_rating)
    if rating is not None:
        result.append(
            {"from_name": rating_name, "to_name": to_name, "type": "rating", "value": {"rating": rating}}
        )
    lines = [f"label: {label}"] if label else []
    lines += [f"explanation: {explanation}"] if explanation else []
    if lines:
        result.append(
            {"from_name": note_name, "to_name": to_name, "type": "textarea", "value": {"text": lines}}
        )
    prediction: dict[str, Any] = {"model_version": f"{PREFIX}{name}", "result": result}
    if score is not None and not math.isnan(score):
        prediction["score"] = float(score)
    return prediction


@dataclass(frozen=True)
class JudgeResult:
    """A judge prediction read back."""

    name: str
    score: float | None  # the raw score (the prediction's ``score``)
    rating: float | None  # on the Rating scale
    label: str | None
    explanation: str | None


def read_judge(prediction: Mapping[str, Any], rating_name: str | None = None) -> JudgeResult | None:
    """The judge result a prediction carries; None for a prediction that is not a judge's."""
    if not is_judge(prediction):
        return None
    rating: float | None = None
    label = explanation = None
    for item in prediction.get("result") or ():
        value = item.get("value") or {}
        if item.get("type") == "rating" and (rating_name is None or item.get("from_name") == rating_name):
            raw = value.get("rating")
            if isinstance(raw, (int, float)) and not isinstance(raw, bool):
                rating = float(raw)
        elif item.get("type") == "textarea":
            for line in value.get("text") or ():
                head, _, rest = str(line).partition(": ")
                if head == "label":
                    label = rest
                elif head == "explanation":
                    explanation = rest
    raw_score = prediction.get("score")
    score = (
        float(raw_score) if isinstance(raw_score, (int, float)) and not isinstance(raw_score, bool) else None
    )
    name = str(prediction.get("model_version"))[len(PREFIX) :]
    return JudgeResult(name, score, rating, label, explanation)
