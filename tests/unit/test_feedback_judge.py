"""The feedback loop reads the reviewer's response, never a judge's note: a task's judge predictions
(listed before the model's) and an annotation started from one hold the judge's label and
explanation in the ``judge`` TextArea, which is what the judge said, not what the reviewer did."""

from __future__ import annotations

from otel_label_studio.feedback import evaluations
from otel_label_studio.judges.judge import judge_prediction

ANSWER = "Paris is the capital of France."


def textarea(name: str, *lines: str) -> dict:
    return {"from_name": name, "to_name": "prompt", "type": "textarea", "value": {"text": list(lines)}}


def rating(stars: int) -> dict:
    return {"from_name": "rating", "to_name": "prompt", "type": "rating", "value": {"rating": stars}}


def review(result: list[dict]) -> list:
    task = {
        "id": 7,
        "data": {"prompt": "Capital of France?", "trace_id": "a" * 32, "span_id": "b" * 16},
        "predictions": [
            judge_prediction("correctness", 0.25, label="wrong", explanation="misses the point"),
            {"model_version": "gpt-4o-mini", "result": [textarea("response", ANSWER)]},
        ],
    }
    annotation = {"id": 3, "result": result}
    return evaluations({"action": "ANNOTATION_CREATED", "task": task, "annotation": annotation})


def test_an_unchanged_response_is_accepted_though_a_judge_prediction_comes_first():
    (item,) = review([textarea("response", ANSWER), rating(5)])
    assert (item.label, item.score, item.explanation) == ("accepted", 5.0, "")


def test_an_annotation_started_from_a_judge_prediction_does_not_send_the_judge_s_note_as_the_reviewer_s():
    note = textarea("judge", "label: wrong", "explanation: misses the point")
    (item,) = review([note, textarea("response", "Paris."), rating(2)])
    assert (item.label, item.score, item.explanation) == ("edited", 2.0, "Paris.")
    (kept,) = review([note, rating(2)])  # the judge's stars taken over, no response of the reviewer's
    assert (kept.label, kept.explanation) == ("accepted", "")
