"""Judge results in: ``gen_ai.evaluation.result`` span events on an LLM span become the record's
evaluations, survive the spool, and become ``judge:<name>`` predictions on the task."""

from __future__ import annotations

import dataclasses
import pickle
import re

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from otel_label_studio.judges.judge import read_judge
from otel_label_studio.modes.layouts import AGENT_CONFIG, LAYOUT_CONFIGS, Layout, layout_for
from otel_label_studio.reading.mapping import Mapper
from otel_label_studio.reading.record import LLMRecord
from otel_label_studio.reading.redact import Redactor
from otel_label_studio.reading.spanview import from_otlp, from_readable_span
from tests.support.judge_spans import judged_chat_span
from tests.support.old_configs import without_judge_area

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


STARS = {"from_name": "rating", "to_name": "prompt", "type": "rating", "value": {"rating": 4}}


def test_the_task_has_one_judge_prediction_per_evaluation_before_the_model_prediction():
    task = layout_for("prompt", None).task(mapped([from_readable_span(judged_chat_span())]))
    helpfulness, toxicity, model = task["predictions"]
    assert model["model_version"] == "gpt-4o-mini" and model["result"][0]["from_name"] == "response"
    assert helpfulness == {
        "model_version": "judge:helpfulness",
        "score": 0.75,
        "result": [
            STARS,
            {
                "from_name": "judge",
                "to_name": "prompt",
                "type": "textarea",
                "value": {"text": ["label: helpful", "explanation: answers the question"]},
            },
        ],
    }
    assert read_judge(toxicity).rating == 1  # type: ignore[union-attr]
    assert toxicity["result"][1:] == []  # neither label nor explanation: nothing to show
    assert task["meta"]["evaluations"] == EXPECTED  # as sent, for datasets


def test_a_project_made_with_the_old_default_config_binds_as_before():
    old = Layout.from_config(without_judge_area(layout_for("prompt", None).label_config))
    assert old.judge_note_name is None
    helpfulness, _toxicity, _model = old.task(mapped([from_readable_span(judged_chat_span())]))["predictions"]
    assert helpfulness == {"model_version": "judge:helpfulness", "score": 0.75, "result": [STARS]}


@pytest.mark.parametrize("mode, target", [("prompt", "prompt"), ("chat", "dialogue"), ("agent", "steps")])
def test_every_default_layout_shows_a_judge_s_label_and_explanation(mode, target):
    layout = Layout.from_config(LAYOUT_CONFIGS[mode])
    (prediction,) = layout.judge_predictions_of([EXPECTED[0]])  # as a result sent on its own gives it
    result = read_judge(prediction)
    assert result is not None
    assert (result.rating, result.label, result.explanation) == (4.0, "helpful", "answers the question")
    assert {item["to_name"] for item in prediction["result"]} == {target}
    # the area shows it, and gives the reviewer no box to type in (Label Studio has no read-only TextArea)
    assert re.search(
        rf'<TextArea name="judge" toName="{target}" rows="2" editable="false" maxSubmissions="0"/>',
        layout.label_config,
    )


def test_a_config_with_a_judge_textarea_shows_the_label_and_explanation():
    config = without_judge_area(layout_for("chat", None).label_config).replace(
        '<Rating name="rating" toName="dialogue"/>',
        '<Rating name="stars" toName="dialogue" maxRating="10"/>'
        '<TextArea name="judge" toName="dialogue" readonly="true"/>',
    )
    task = Layout.from_config(config).task(mapped([from_readable_span(judged_chat_span())]))
    helpfulness = read_judge(task["predictions"][0], rating_name="stars")
    assert helpfulness is not None
    assert (helpfulness.rating, helpfulness.label, helpfulness.explanation) == (
        8.0,
        "helpful",
        "answers the question",
    )
    assert {item["from_name"] for item in task["predictions"][0]["result"]} == {"stars", "judge"}


def test_a_config_without_a_rating_gets_no_rating_item_and_no_empty_prediction():
    no_rating = AGENT_CONFIG.replace('<Rating name="rating" toName="steps"/>', "")
    layout = Layout.from_config(without_judge_area(no_rating))
    record = mapped([from_readable_span(judged_chat_span())])
    assert [p["result"] for p in layout.judge_predictions(record)] == [[], []]  # scores only
    record.evaluations = [{"name": "tone", "score": None, "label": "polite", "explanation": None}]
    assert layout.judge_predictions(record) == []
    # with the default judge area, a label alone still shows there
    (tone,) = Layout.from_config(no_rating).judge_predictions(record)
    shown = [(item["from_name"], item["value"]) for item in tone["result"]]
    assert shown == [("judge", {"text": ["label: polite"]})]


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
