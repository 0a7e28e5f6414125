"""A judge's result as a reviewer reads it, as Data Manager columns and as a prediction that never fills
the reviewer's controls (judges/judge.py, issue 25); when it is shown (reveal_judges); and the judge join
showing results that come after the task, at once or once the task is answered."""

from __future__ import annotations

import json
import logging
import math

import pytest

from otel_label_studio.config import SettingsError, read_settings, resolve_settings
from otel_label_studio.delivery.labelstudio import ErrorKind, LabelStudioError
from otel_label_studio.doctor import FAIL, _webhooks
from otel_label_studio.feedback.annotation_webhooks import AnnotationWebhooks
from otel_label_studio.feedback.confirm import Confirmer
from otel_label_studio.feedback.loop import FeedbackLoop
from otel_label_studio.feedback.webhook import WebhookRefused
from otel_label_studio.judges.judge import (
    HEADING,
    column,
    judge_prediction,
    judge_results,
    read_judge,
    verdict_fields,
    verdict_text,
    with_results,
    with_verdict,
)
from otel_label_studio.judges.judge_join import JudgeJoin, MemoryJudgeStore
from otel_label_studio.modes.dm_view import judges_tab, review_view, with_judge_columns
from otel_label_studio.modes.layouts import layout_for
from otel_label_studio.reading.evaluations import JudgeEvent
from otel_label_studio.receiver.serve import ServeOptions, _check_webhook_secret
from otel_label_studio.store.queue import QueueItem
from tests.support.builders import plain
from tests.support.clock import Clock
from tests.support.judge_client import JudgeClient as Client
from tests.support.label_studio_copies import SECRET, LabelStudioCopies

CORRECT = {"name": "correctness-of-the-final-answer", "score": 0.25, "label": "wrong", "explanation": "no"}
HELPFUL = {"name": "helpfulness", "score": 0.75, "label": "helpful", "explanation": "answers the question"}


def test_the_verdict_names_each_judge_in_full_with_its_label_its_own_score_and_its_explanation():
    text = verdict_text([HELPFUL, CORRECT])
    assert text.splitlines() == [
        HEADING,
        "helpfulness: helpful · score 0.75",
        "answers the question",
        "correctness-of-the-final-answer: wrong · score 0.25",  # the name in full, 0.25 not 25.00%
        "no",
    ]
    assert "%" not in text
    # a score in its judge's scale, whatever the scale; the newest result of a judge wins
    later = {"name": "helpfulness", "score": 4.0, "label": None, "explanation": None}
    assert verdict_text([HELPFUL, later]).splitlines()[1:] == ["helpfulness: score 4"]
    assert verdict_text([{"name": "tone", "score": None, "label": None}]).endswith(
        "tone: (no label or score)"
    )


def test_no_judge_no_verdict_not_even_its_heading():
    assert verdict_text([]) == ""
    assert verdict_text([{"score": 1.0}]) == ""  # a result that names no judge is not a judge's


def test_the_data_manager_columns_are_a_number_and_a_text_per_judge():
    assert verdict_fields([HELPFUL, CORRECT, {"name": "Tone.Polite", "score": math.nan, "label": "ok"}]) == {
        "judge_helpfulness_score": 0.75,
        "judge_helpfulness_label": "helpful",
        "judge_correctness_of_the_final_answer_score": 0.25,
        "judge_correctness_of_the_final_answer_label": "wrong",
        "judge_tone_polite_label": "ok",  # no dot in a column's key: the Data Manager would nest it
    }
    assert column("ragas.faithfulness", "score") == "judge_ragas_faithfulness_score"
    assert verdict_fields([{"name": "flag", "score": True}]) == {}  # a bool is not a score


def test_showing_a_verdict_keeps_the_task_s_data_and_writes_the_text_only_where_the_config_reads_it():
    data = {"prompt": "2+2?", "judges": ""}
    shown = with_verdict(data, [HELPFUL], text=True)
    assert shown["prompt"] == "2+2?" and shown["judges"].startswith(HEADING)
    assert shown["judge_helpfulness_score"] == 0.75 and data == {"prompt": "2+2?", "judges": ""}
    assert "judges" not in with_verdict({"prompt": "2+2?"}, [HELPFUL], text=False)


def test_a_result_is_kept_in_meta_once():
    meta, fresh = with_results({"usage": {}}, [HELPFUL, CORRECT])
    assert meta == {"usage": {}, "evaluations": [HELPFUL, CORRECT]} and fresh == [HELPFUL, CORRECT]
    again, fresh = with_results(meta, [HELPFUL])
    assert again == meta and fresh == []


def test_a_judge_prediction_never_fills_the_reviewer_s_rating_nor_shows_a_percentage():
    answer = {"from_name": "response", "to_name": "prompt", "type": "textarea", "value": {"text": ["4"]}}
    # as a layout whose config has no judge TextArea shapes it: the judged answer alone
    prediction = judge_prediction("helpfulness", 0.25, label="wrong", note_name=None, answer=answer)
    assert prediction == {"model_version": "judge:helpfulness", "result": [answer]}  # no score, no stars
    noted = judge_prediction("helpfulness", 0.25, label="wrong")  # as documented: what it said in `judge`
    assert noted["result"][0]["value"]["text"] == ["judge: helpfulness", "label: wrong", "score: 0.25"]
    assert "score" not in noted and [item["type"] for item in noted["result"]] == ["textarea"]
    found = read_judge(noted)
    assert found is not None and (found.score, found.rating, found.label) == (0.25, 2.0, "wrong")


def test_a_judge_is_read_back_from_a_prediction_of_before_issue_25_and_from_a_new_one():
    stars = {"from_name": "rating", "to_name": "prompt", "type": "rating", "value": {"rating": 4}}
    note = {"from_name": "judge", "type": "textarea", "value": {"text": ["label: helpful", "explanation: x"]}}
    old = read_judge({"model_version": "judge:helpfulness", "score": 0.75, "result": [stars, note]})
    assert old is not None and (old.score, old.rating, old.label, old.explanation) == (
        0.75,
        4.0,
        "helpful",
        "x",
    )
    lines = ["judge: helpfulness", "label: helpful", "score: 0.75"]
    new = read_judge({"model_version": "judge:helpfulness", "result": [{**note, "value": {"text": lines}}]})
    assert new is not None and (new.score, new.rating, new.label) == (0.75, 4.0, "helpful")
    # a copy of the judged answer is not what the judge said
    answer = {"from_name": "response", "type": "textarea", "value": {"text": ["label: fake"]}}
    bare = read_judge({"model_version": "judge:helpfulness", "result": [answer]})
    assert bare is not None and (bare.score, bare.rating, bare.label) == (None, None, None)
    assert read_judge({"model_version": "gpt-4o", "result": []}) is None


def test_a_task_s_judges_come_from_a_prediction_that_holds_its_score_else_from_its_meta():
    old = {"id": 3, "model_version": "judge:toxicity", "score": 0.0, "result": []}  # before issue 25
    new = {"id": 4, "model_version": "judge:helpfulness", "result": []}  # the judged answer only
    toxic = {"name": "toxicity", "score": 0.0, "label": "clean", "explanation": "no slur"}
    found = judge_results([new, old], [HELPFUL, {**HELPFUL, "score": 1.0}, toxic], max_rating=10)
    assert set(found) == {"helpfulness", "toxicity"}
    assert (found["helpfulness"].score, found["helpfulness"].rating) == (1.0, 10.0)  # the newest, on 1..10
    assert (found["toxicity"].score, found["toxicity"].rating, found["toxicity"].label) == (0.0, 1.0, "clean")
    # a prediction's score wins; nothing is borrowed from an event of another score
    later = {**toxic, "score": 0.9, "label": "toxic"}
    kept = judge_results([old], [later])["toxicity"]
    assert (kept.score, kept.label) == (0.0, None)
    # a judge area's note shows 6 digits: the event it came from gives the exact score
    third = {"name": "third", "score": 1 / 3, "label": None, "explanation": None}
    noted = {"id": 5, **judge_prediction("third", 1 / 3)}
    assert judge_results([noted], [third])["third"].score == 1 / 3


def test_reveal_judges_is_now_or_after_answer_and_the_exporter_refuses_after_answer():
    assert resolve_settings(environ={}).reveal_judges == "now"
    assert read_settings(["reveal_judges"], flags={"reveal_judges": "after_answer"}).reveal_judges == (
        "after_answer"
    )
    with pytest.raises(SettingsError, match="--reveal-judges: 'later' is not one of now, after_answer"):
        read_settings(["reveal_judges"], flags={"reveal_judges": "later"})
    with pytest.raises(ValueError, match="'after_answer' needs serve: the in-process exporter receives no"):
        resolve_settings(environ={"OTEL_LABEL_STUDIO_REVEAL_JUDGES": "after_answer"})


def test_a_confirmed_annotation_webhook_tells_the_join_its_task_and_project(tmp_path):
    """What ``answered_task`` read from the body on the judge branch, now from Label Studio's copy (issue 26's
    confirmation): the task and the project Label Studio holds, once it confirms the annotation."""
    copies = LabelStudioCopies()
    ids = {"trace_id": "ab" * 16, "span_id": "cd" * 8}
    answer = {"id": 5, "result": [], "was_cancelled": False, "updated_at": "2026-12-01T10:00:00Z"}
    copies.add_task(
        {"id": 12, "data": {"prompt": "2+2?", **ids}, "meta": {}, "annotations": [answer]}, project=3
    )
    told: list[tuple[int, int]] = []
    webhooks = AnnotationWebhooks(Confirmer(copies, SECRET), answered=lambda *task: told.append(task))

    def body(**changes) -> bytes:
        document = {
            "action": "ANNOTATION_CREATED",
            "project": {"id": 3},
            "task": {"id": "12", "data": ids},  # an id as text is read as a number
            "annotation": {"id": 5, "task": 12},
        }
        return json.dumps({**document, **changes}).encode()

    assert webhooks.take(webhooks.read(body())) == {"evaluation_events": 0, "duplicates": 0, "unconfirmed": 0}
    assert told == [(12, 3)]
    assert webhooks.take(webhooks.read(body(project=None))) and told[-1] == (12, 3)  # Label Studio's project
    # an action that is not an annotation's names no task; a claim Label Studio does not confirm, none either
    assert (
        webhooks.take(webhooks.read(b'{"action": "PROJECT_UPDATED", "project": {"id": 3}}'))["unconfirmed"]
        == 0
    )
    for forged in (body(project={"id": 4}), body(annotation={"id": 6, "task": 12})):
        with pytest.raises(WebhookRefused) as refused:
            webhooks.take(webhooks.read(forged))
        assert refused.value.status == 422
    assert told == [(12, 3), (12, 3)]
    # with a feedback endpoint too, one confirmation serves both: the join told, the events kept once
    loop = FeedbackLoop(
        "http://127.0.0.1:9",
        str(tmp_path),
        label_studio=copies,
        secret=SECRET,
        answered=lambda *t: told.append(t),
    )
    try:
        assert loop.take(loop.read(body()))["duplicates"] == 0
        assert loop.take(loop.read(body()))["duplicates"] == 1  # nothing kept twice; the join told again
        assert told[2:] == [(12, 3), (12, 3)]
    finally:
        loop.close()


def test_serve_reveals_judges_after_the_answer_only_with_a_webhook_secret(tmp_path):
    settings = read_settings(["reveal_judges"], flags={"reveal_judges": "after_answer"})
    options = {"settings": settings, "data_dir": str(tmp_path)}
    with pytest.raises(
        ValueError, match="--reveal-judges after_answer takes Label Studio's annotation webhooks"
    ):
        _check_webhook_secret(ServeOptions(**options))
    _check_webhook_secret(ServeOptions(**options, webhook_secret=SECRET))
    assert _webhooks(settings).status == FAIL  # doctor says what serve's start would say


def test_a_score_column_is_typed_as_a_number_and_the_verdict_text_column_hidden():
    tab = {"title": "Default", "columnsDisplayType": {"tasks:data.x": "Number"}, "hiddenColumns": {}}
    typed = with_judge_columns(tab, ["judge_helpfulness_score"])
    assert typed["columnsDisplayType"] == {
        "tasks:data.x": "Number",
        "tasks:data.judge_helpfulness_score": "Number",
    }
    assert typed["hiddenColumns"] == {"explore": ["tasks:data.judges"], "labeling": ["tasks:data.judges"]}
    assert tab == {"title": "Default", "columnsDisplayType": {"tasks:data.x": "Number"}, "hiddenColumns": {}}
    assert with_judge_columns(typed, ["judge_helpfulness_score"]) == typed  # again: the same
    columns = [
        {"id": "inner_id", "target": "tasks", "visibility_defaults": {"explore": False, "labeling": False}}
    ]
    new = judges_tab(["judge_helpfulness_score"], columns)  # a project with no tab: Label Studio's default
    assert new["hiddenColumns"] == {
        "explore": ["tasks:inner_id", "tasks:data.judges"],
        "labeling": ["tasks:inner_id", "tasks:data.judges"],
    }
    assert new["columnsDisplayType"] == {"tasks:data.judge_helpfulness_score": "Number"}


MODEL = {
    "model_version": "gpt-x",
    "result": [{"from_name": "response", "to_name": "prompt", "type": "textarea", "value": {"text": ["4"]}}],
}


def answered_join(reveal: str, client: Client) -> tuple[JudgeJoin, object]:
    join = JudgeJoin(
        MemoryJudgeStore(10),
        client,
        Projects(),
        wait=60.0,
        timeout=5.0,
        clock=Clock(),
        reveal=reveal,  # type: ignore[arg-type]
    )
    record = plain(1)
    client.predictions[11] = [dict(MODEL)]
    client.data[11] = {"prompt": "2+2?", "judges": ""}
    join.delivered([QueueItem(1, record, 0.0, 1, True)], 7, [11])
    join.accept([JudgeEvent(record.trace_id, record.span_id, None, dict(HELPFUL), 0)])
    return join, record


class Projects:
    def layout_of(self, project_id: int, timeout: float | None = None):
        return layout_for("prompt", None)


def test_a_result_after_the_task_shows_at_once_beside_the_answer_and_types_its_column():
    client = Client()
    join, _ = answered_join("now", client)
    assert join.pump()
    assert client.data[11]["judges"] == verdict_text([HELPFUL]) and client.data[11]["prompt"] == "2+2?"
    assert client.data[11]["judge_helpfulness_score"] == 0.75
    ((_task, prediction),) = client.created
    assert prediction == {"model_version": "judge:helpfulness", "result": MODEL["result"]}  # the answer
    (tab,) = client.tabs.values()  # the project had no tab: Label Studio's default one, typed
    assert tab["columnsDisplayType"] == {"tasks:data.judge_helpfulness_score": "Number"}


def test_after_answer_a_result_waits_in_meta_until_the_task_is_answered():
    client = Client()
    join, _ = answered_join("after_answer", client)
    assert join.pump()
    assert client.data[11] == {"prompt": "2+2?", "judges": ""}  # nothing a reviewer sees
    assert client.meta[11]["evaluations"] == [HELPFUL] and client.created == [] and client.tabs == {}
    assert join.counts["judge_added"] == 1 and join.waiting == 0
    join.answered(11, 7)  # the webhook came, but the task has no answer yet (a skip, say)
    assert join.pump() and client.created == []
    client.answers[11] = 1
    join.answered(11, 7)
    assert join.pump()
    assert client.data[11]["judges"] == verdict_text([HELPFUL]) and len(client.created) == 1
    assert join.stats.revealed == 1
    join.answered(11, 7)  # an updated annotation: shown already, nothing added twice
    assert join.pump() and len(client.created) == 1


def test_with_reveal_now_a_webhook_changes_nothing():
    client = Client()
    join, _ = answered_join("now", client)
    join.pump()
    join.answered(11, 7)
    assert not join.pump() and len(client.created) == 1


def test_a_tab_label_studio_refuses_holds_up_no_judge_result(caplog):
    client = Client()
    client.tabs[1] = {"title": "Default"}

    def refuse(view_id: int, project_id: int, data: dict, timeout: float | None = None) -> None:
        raise LabelStudioError(ErrorKind.REJECTED, "HTTP 400: no", status=400)

    client.update_view = refuse  # type: ignore[method-assign]
    join, record = answered_join("now", client)
    with caplog.at_level(logging.WARNING, "otel_label_studio.judges.judge_join"):
        assert join.pump()
        join.accept([JudgeEvent(record.trace_id, record.span_id, None, dict(CORRECT), 0)])
        assert join.pump()
    assert len(client.created) == 2 and join.waiting == 0  # both results shown, no backoff
    assert caplog.text.count("Could not show the judge score columns") == 1


def test_a_new_chat_project_s_tab_hides_the_verdict_text_column():
    tab = review_view(layout_for("chat", None), [])
    assert tab is not None
    assert all("tasks:data.judges" in tab["hiddenColumns"][mode] for mode in ("explore", "labeling"))
