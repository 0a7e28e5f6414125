"""A judge's result as a reviewer sees it, as Data Manager columns, as a Label Studio prediction, and
back (pure).

A ``gen_ai.evaluation.result`` (``{"name", "score", "label", "explanation"}``) shows on its task in three
ways, none of which fills the reviewer's own controls:

- **as text in the task's data** (``verdict_text``, under ``data.judges``): a default config shows it with
  a read-only ``<Text name="judges" value="$judges"/>`` beside the answer it judges. The heading is part of
  the text, so a task without a judge shows nothing at all. Per judge: its name in full, its label, its
  score in its own scale (``0.25``, never a percentage) and its explanation;
- **as Data Manager columns** (``verdict_fields``): ``judge_<name>_score`` (a number) and
  ``judge_<name>_label`` (text) in the task's data, one pair per judge (its newest result);
- **as a prediction** ``judge:<name>`` (``judge_prediction``), for ``export --format judge``, the report and
  Label Studio's Compare view: it carries no ``score`` (Label Studio would show 0.25 as "25.00%") and no
  Rating item (it would fill the reviewer's stars); its result is a copy of the answer it judged (so the
  answer shows when the prediction is selected) and, where the config has a ``<TextArea name="judge">``
  (the default configs before issue 25), ``judge: <name>`` / ``label: ...`` / ``score: ...`` /
  ``explanation: ...`` lines there.

The task's ``meta.evaluations`` keeps every result as sent (``with_results``); what a dataset or the
report reads of a task's judges (``judge_results``) comes from there first, then from the predictions
(a task made before issue 25 holds the score as the prediction's ``score`` and the stars as a Rating item).

The score on the Rating scale (1..max_rating, 5 by default), for the report's agreement:

- a score in [0, 1] is a fraction: ``1 + round(score * (max_rating - 1))`` (half up), so
  0 -> 1, 0.25 -> 2, 0.5 -> 3, 0.75 -> 4, 1 -> 5;
- a score above 1 and up to ``max_rating`` is already on the scale (``4.0`` -> 4), rounded half up;
- anything else (negative, above the scale, NaN) has no rating: None.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from typing import Any, Iterable, Mapping, Sequence

PREFIX = "judge:"
NOTE_NAME = "judge"
RATING_SCALE_MAX = 5
#: The task data key a config reads to show the judges' verdict (``<Text name="judges" value="$judges"/>``).
VERDICT_KEY = "judges"
#: When a task shows its judges: at once, or once the task has its reviewers' answers (``reveal_judges``).
REVEALS = ("now", "after_answer")
HEADING = "Judge's verdict (an LLM judge's, not yours; read-only):"

_NOT_IN_KEY = re.compile(r"[^a-z0-9_]+")


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


def _number(value: Any) -> float | None:
    """A finite number as a float; None for anything else (text, a bool, NaN, infinity)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _shown(evaluation: Mapping[str, Any]) -> str | None:
    score = _number(evaluation.get("score"))
    return None if score is None else show_score(score)


def show_score(score: float) -> str:
    """A score as its judge gave it: ``0.25``, ``4``, ``0.333333``; never a percentage."""
    return f"{score:.6g}"


# --- what a reviewer sees, and the Data Manager's columns ----------------------------------------


def column(name: str, part: str) -> str:
    """The task data key (a Data Manager column) of a judge's ``score`` or ``label``:
    ``judge_<name>_<part>``, the name lowercased and anything but letters, digits and ``_`` made ``_``
    (a dot would nest the column)."""
    return f"judge_{_NOT_IN_KEY.sub('_', name.lower()).strip('_') or 'unnamed'}_{part}"


def newest(evaluations: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """Each judge's newest result, by name, in the order the judges first spoke."""
    found: dict[str, Mapping[str, Any]] = {}
    for evaluation in evaluations:
        if isinstance(evaluation, Mapping) and evaluation.get("name"):
            found[str(evaluation["name"])] = evaluation
    return found


def verdict_text(evaluations: Iterable[Mapping[str, Any]]) -> str:
    """What a reviewer reads beside the answer: the heading, then per judge ``<name>: <label> · score <s>``
    and its explanation on the next line; "" when no judge spoke (nothing is shown, not even the heading)."""
    lines: list[str] = []
    for name, evaluation in newest(evaluations).items():
        said = [str(evaluation["label"])] if evaluation.get("label") else []
        score = _number(evaluation.get("score"))
        if score is not None:
            said.append(f"score {show_score(score)}")
        lines.append(f"{name}: {' · '.join(said) or '(no label or score)'}")
        if evaluation.get("explanation"):
            lines.append(str(evaluation["explanation"]))
    return "\n".join([HEADING, *lines]) if lines else ""


def verdict_fields(evaluations: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The Data Manager's judge columns: ``judge_<name>_score`` (a number) and ``judge_<name>_label``."""
    fields: dict[str, Any] = {}
    for name, evaluation in newest(evaluations).items():
        score = _number(evaluation.get("score"))
        if score is not None:
            fields[column(name, "score")] = score
        if evaluation.get("label"):
            fields[column(name, "label")] = str(evaluation["label"])
    return fields


def score_columns(evaluations: Iterable[Mapping[str, Any]]) -> set[str]:
    """The keys of ``verdict_fields`` that hold numbers (the Data Manager types them as numbers)."""
    return {key for key, value in verdict_fields(evaluations).items() if isinstance(value, float)}


def with_verdict(
    data: Mapping[str, Any], evaluations: Sequence[Mapping[str, Any]], *, text: bool
) -> dict[str, Any]:
    """``data`` showing the judges: their columns, and the verdict under ``VERDICT_KEY`` when ``text`` (the
    config reads ``$judges``)."""
    shown = {**data, **verdict_fields(evaluations)}
    if text:
        shown[VERDICT_KEY] = verdict_text(evaluations)
    return shown


def with_results(
    meta: Mapping[str, Any] | None, results: Iterable[Mapping[str, Any]]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """``meta`` with ``results`` added to its ``evaluations`` (one already there, equal in every field, is
    not added twice), and the results that were new."""
    kept = dict(meta or {})
    evaluations = [e for e in kept.get("evaluations") or () if isinstance(e, Mapping)]
    fresh = []
    for result in results:
        if dict(result) not in evaluations:
            evaluations.append(dict(result))
            fresh.append(dict(result))
    if fresh:
        kept["evaluations"] = evaluations
    return kept, fresh


# --- the prediction ------------------------------------------------------------------------------


def note_lines(name: str, score: float | None, label: str | None, explanation: str | None) -> list[str]:
    """What a config's ``judge`` TextArea shows of a result (the default configs before issue 25)."""
    lines = [f"judge: {name}"]
    lines += [f"label: {label}"] if label else []
    shown = _number(score)
    lines += [f"score: {show_score(shown)}"] if shown is not None else []
    lines += [f"explanation: {explanation}"] if explanation else []
    return lines


def judge_prediction(
    name: str,
    score: float | None = None,
    *,
    label: str | None = None,
    explanation: str | None = None,
    to_name: str = "prompt",
    note_name: str | None = NOTE_NAME,
    answer: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The prediction (``POST /api/predictions`` body without ``task``) for one judge's result: ``answer``
    (the judged answer's result item, copied from the model's prediction) and, unless ``note_name`` is
    None (a layout whose config has no such TextArea), the result in that TextArea, score included. No
    ``score``, no Rating item (see the module docstring)."""
    result: list[dict[str, Any]] = [dict(answer)] if answer is not None else []
    if note_name is not None:
        lines = note_lines(name, score, label, explanation)
        note = {"from_name": note_name, "to_name": to_name, "type": "textarea", "value": {"text": lines}}
        result.append(note)
    return {"model_version": f"{PREFIX}{name}", "result": result}


@dataclass(frozen=True)
class JudgeResult:
    """A judge's result read back from a task."""

    name: str
    score: float | None  # the raw score, in the judge's own scale
    rating: float | None  # on the Rating scale
    label: str | None
    explanation: str | None


def read_judge(
    prediction: Mapping[str, Any], rating_name: str | None = None, *, max_rating: int = RATING_SCALE_MAX
) -> JudgeResult | None:
    """The judge result a prediction carries; None for a prediction that is not a judge's. A prediction
    made before issue 25 carries the score as ``score`` and the stars as a Rating item; a newer one the
    score in its ``judge`` lines (where the config has them), and the rating is the score's."""
    if not is_judge(prediction):
        return None
    rating: float | None = None
    label = explanation = None
    noted: float | None = None
    for item in prediction.get("result") or ():
        value = item.get("value") or {}
        if item.get("type") == "rating" and (rating_name is None or item.get("from_name") == rating_name):
            raw = value.get("rating")
            if isinstance(raw, (int, float)) and not isinstance(raw, bool):
                rating = float(raw)
        elif item.get("type") == "textarea" and item.get("from_name") == NOTE_NAME:
            for line in value.get("text") or ():
                head, _, rest = str(line).partition(": ")
                if head == "label":
                    label = rest
                elif head == "explanation":
                    explanation = rest
                elif head == "score":
                    try:
                        noted = float(rest)
                    except ValueError:
                        noted = None
    score = _number(prediction.get("score"))
    score = noted if score is None else score
    if rating is None and score is not None:
        placed = score_to_rating(score, max_rating)
        rating = None if placed is None else float(placed)
    name = str(prediction.get("model_version"))[len(PREFIX) :]
    return JudgeResult(name, score, rating, label, explanation)


def judge_results(
    predictions: Iterable[Mapping[str, Any]],
    evaluations: Iterable[Mapping[str, Any]] = (),
    rating_name: str | None = None,
    max_rating: int = RATING_SCALE_MAX,
) -> dict[str, JudgeResult]:
    """A task's judge results by name, each judge's newest. A judge whose newest ``judge:<name>`` prediction
    (the highest id) carries its score (made before issue 25, or on a config with a ``judge`` TextArea) is
    read from it, its label and explanation taken from the event of the same name and score in
    ``evaluations`` (the task's ``meta.evaluations``) where the prediction lacks them; any other judge is
    its newest result in ``evaluations``."""
    found: dict[str, JudgeResult] = {}
    for prediction in sorted(predictions, key=lambda p: int(p.get("id") or 0)):
        result = read_judge(prediction, rating_name, max_rating=max_rating)
        if result is not None:
            found[result.name] = result
    sent = [e for e in evaluations if isinstance(e, Mapping)]
    for name, result in found.items():
        if result.score is not None:  # the event it was made from: same name, same score as shown
            shown = show_score(result.score)
            event = next((e for e in reversed(sent) if e.get("name") == name and _shown(e) == shown), {})
            label = result.label if result.label is not None else event.get("label")
            explanation = result.explanation if result.explanation is not None else event.get("explanation")
            score = _number(event.get("score")) if event else result.score  # a note holds 6 digits
            found[name] = replace(result, score=score, label=label, explanation=explanation)
    for name, evaluation in newest(sent).items():
        if name in found and found[name].score is not None:
            continue
        score = _number(evaluation.get("score"))
        placed = None if score is None else score_to_rating(score, max_rating)
        label, explanation = evaluation.get("label"), evaluation.get("explanation")
        found[name] = JudgeResult(
            name,
            score,
            None if placed is None else float(placed),
            None if label is None else str(label),
            None if explanation is None else str(explanation),
        )
    return found
