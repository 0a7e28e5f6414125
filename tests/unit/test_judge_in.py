"""Judge results in: ``gen_ai.evaluation.result`` span events on an LLM span become the record's
evaluations, survive the spool, and become ``judge:<name>`` predictions on the task."""

from __future__ import annotations

import dataclasses
import pickle

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from otel_label_studio.judges.judge import judge_results, read_judge
from otel_label_studio.modes.layouts import AGENT_CONFIG, LAYOUT_CONFIGS, Layout, layout_for
from otel_label_studio.reading.mapping import Mapper
from otel_label_studio.reading.record import LLMRecord
from otel_label_studio.reading.redact import Redactor
from otel_label_studio.reading.spanview import from_otlp, from_readable_span
from tests.support.judge_spans import judged_chat_span
from tests.support.old_configs import BEFORE_ISSUE_25, without_judge_area

EXPECTED = [
    {"name": "helpfulness", "score": 0.75, "label": "helpful", "explanation": "answers the question"},
    {"name": "toxicity", "score": 0.0, "label": None, "explanation": None},
]


def mapped(views, redactor=None):
    result = Mapper(metadata_prefix="x", include_errors=False, redactor=redactor).map(views)
    (record,) = result.records
    return record


def test_sdk_and_otlp_spans_carry_their_evaluation_events_to_the_record():
    span = judged_chat_span()
    through_otlp = ExportTraceServiceRequest.FromString(encode_spans([span]).SerializeToString())
    assert mapped([from_readable_span(span)]).evaluations == EXPECTED
    assert mapped(from_otlp(through_otlp)).evaluations == EXPECTED


def test_evaluations_survive_the_spool_and_an_old_spooled_record_still_loads():
    record = mapped([from_readable_span(judged_chat_span())])
    assert LLMRecord.from_bytes(record.to_bytes()).evaluations == EXPECTED
    before = [f.name for f in dataclasses.fields(LLMRecord)].index("evaluations")
    old = pickle.dumps(pickle.loads(record.to_bytes())[:before], protocol=5)  # spooled before the field
    assert LLMRecord.from_bytes(old).evaluations == []


ANSWER = {"from_name": "response", "to_name": "prompt", "type": "textarea", "value": {"text": ["4"]}}


def test_the_task_has_one_judge_prediction_per_evaluation_before_the_model_prediction():
    task = layout_for("prompt", None).task(mapped([from_readable_span(judged_chat_span())]))
    helpfulness, toxicity, model = task["predictions"]
    assert model["model_version"] == "gpt-4o-mini" and model["result"][0]["from_name"] == "response"
    # issue 25: a judge's prediction holds the answer it judged (shown when it is selected), no score
    # (Label Studio shows 0.75 as "75.00%") and no Rating item (it filled the reviewer's stars)
    assert helpfulness == {"model_version": "judge:helpfulness", "result": model["result"]}
    assert toxicity == {"model_version": "judge:toxicity", "result": model["result"]}
    # what the judges said is in the task's data: the verdict a reviewer reads, and the columns
    assert task["data"]["judges"] == (
        "Judge's verdict (an LLM judge's, not yours; read-only):\n"
        "helpfulness: helpful · score 0.75\nanswers the question\ntoxicity: score 0"
    )
    assert task["data"]["judge_helpfulness_score"] == 0.75 and task["data"]["judge_toxicity_score"] == 0.0
    assert task["data"]["judge_helpfulness_label"] == "helpful" and "judge_toxicity_label" not in task["data"]
    assert task["meta"]["evaluations"] == EXPECTED  # as sent, for datasets
    found = judge_results(task["predictions"], task["meta"]["evaluations"])
    assert found["toxicity"].rating == 1 and found["helpfulness"].rating == 4


def test_a_project_made_with_the_old_default_config_binds_as_before():
    old = Layout.from_config(without_judge_area(BEFORE_ISSUE_25["prompt"]))
    assert old.judge_note_name is None
    task = old.task(mapped([from_readable_span(judged_chat_span())]))
    helpfulness, _toxicity, model = task["predictions"]
    # issue 25: no stars and no raw score in the prediction; the columns are in the data all the same
    assert helpfulness == {"model_version": "judge:helpfulness", "result": model["result"]}
    assert task["data"]["judge_helpfulness_score"] == 0.75 and "judges" not in task["data"]


@pytest.mark.parametrize("mode", ["prompt", "chat", "agent"])
def test_every_default_layout_shows_the_judges_verdict_as_text_and_no_judge_control(mode):
    layout = Layout.from_config(LAYOUT_CONFIGS[mode])
    assert "judges" in layout.variables and layout.judge_note_name is None
    assert '<Text name="judges" value="$judges"/>' in layout.label_config
    assert 'name="judge"' not in layout.label_config  # the TextArea of issue 18 is gone
    (prediction,) = layout.judge_predictions_of([EXPECTED[0]])  # as a result sent on its own gives it
    assert prediction == {"model_version": "judge:helpfulness", "result": []}  # no answer given here


def test_a_config_with_a_judge_textarea_shows_the_name_label_score_and_explanation_there():
    config = without_judge_area(BEFORE_ISSUE_25["chat"]).replace(
        '<Rating name="rating" toName="dialogue"/>',
        '<Rating name="stars" toName="dialogue" maxRating="10"/>'
        '<TextArea name="judge" toName="dialogue" readonly="true"/>',
    )
    task = Layout.from_config(config).task(mapped([from_readable_span(judged_chat_span())]))
    helpfulness = read_judge(task["predictions"][0], rating_name="stars", max_rating=10)
    assert helpfulness is not None
    assert (helpfulness.score, helpfulness.rating, helpfulness.label, helpfulness.explanation) == (
        0.75,
        8.0,
        "helpful",
        "answers the question",
    )
    assert {item["from_name"] for item in task["predictions"][0]["result"]} == {"response", "judge"}
    (note,) = [item for item in task["predictions"][0]["result"] if item["from_name"] == "judge"]
    assert note["value"]["text"] == [
        "judge: helpfulness",
        "label: helpful",
        "score: 0.75",
        "explanation: answers the question",
    ]


def test_no_judge_prediction_holds_a_rating_and_a_label_alone_still_shows_in_a_judge_area():
    no_rating = AGENT_CONFIG.replace('<Rating name="rating" toName="steps"/>', "")
    layout = Layout.from_config(no_rating)
    record = mapped([from_readable_span(judged_chat_span())])
    assert [p["result"] for p in layout.judge_predictions(record)] == [[], []]  # nothing to copy here
    for config in LAYOUT_CONFIGS.values():
        for prediction in Layout.from_config(config).judge_predictions(record, [{"result": [ANSWER]}]):
            assert [item["type"] for item in prediction["result"]] == ["textarea"]
    record.evaluations = [{"name": "tone", "score": None, "label": "polite", "explanation": None}]
    with_area = LAYOUT_CONFIGS["prompt"].replace(
        '<Text name="judges" value="$judges"/>', '<TextArea name="judge" toName="prompt"/>'
    )
    (tone,) = Layout.from_config(with_area).judge_predictions(record)
    shown = [(item["from_name"], item["value"]) for item in tone["result"]]
    assert shown == [("judge", {"text": ["judge: tone", "label: polite"]})]


def test_events_that_are_not_evaluations_or_name_nothing_are_left_out_and_explanations_are_redacted():
    span = judged_chat_span(
        evaluations=[
            {"gen_ai.evaluation.score.value": 0.5},  # no name
            {"gen_ai.evaluation.name": "empty"},  # says nothing
            {
                "gen_ai.evaluation.name": "leak",
                "gen_ai.evaluation.score.value": "0.2",
                "gen_ai.evaluation.explanation": "said secret-123",
            },
        ]
    )
    record = mapped([from_readable_span(span)], Redactor([r"secret-\d+"]))
    assert [(e["name"], e["score"]) for e in record.evaluations] == [("leak", 0.2)]
    assert "secret-123" not in record.evaluations[0]["explanation"]
