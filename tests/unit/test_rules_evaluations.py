"""Review rules match a judge's result already on the span at ingest: ``evaluation.<name>`` reads
the span's ``gen_ai.evaluation.result`` event of that name, its score for a number or comparison,
its label for text or a glob, its presence for ``{exists: ...}``."""

from __future__ import annotations

import pytest

from otel_label_studio.reading.spanview import EventView, SpanView, from_readable_span
from otel_label_studio.rules import KEPT, ReviewGate, RulesError, parse
from tests.support.judge_spans import judged_chat_span


def evaluated(*events: dict) -> SpanView:
    return SpanView(
        "0" * 32,
        "0123456789abcdef",
        "chat",
        {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o-mini"},
        1,
        2,
        events=tuple(EventView(str(e.pop("event", "gen_ai.evaluation.result")), 1, e) for e in events),
    )


def keeps(match: str, span: SpanView) -> bool:
    gate = ReviewGate(
        parse(f"rules:\n  - name: r\n    match: {match}\n", "rules.yaml"),
        None,
        metadata_prefix="traceloop.association.properties",
        default_project="p",
    )
    return gate.decide(span).reason == KEPT


UNHELPFUL = {
    "gen_ai.evaluation.name": "helpfulness",
    "gen_ai.evaluation.score.value": 0.25,
    "gen_ai.evaluation.score.label": "unhelpful",
}


@pytest.mark.parametrize(
    "match, kept",
    [
        ('{evaluation.helpfulness: "<0.5"}', True),  # the score
        ('{evaluation.helpfulness: ">=0.5"}', False),
        ("{evaluation.helpfulness: 0.25}", True),
        ("{evaluation.helpfulness: unhelpful}", True),  # the label
        ('{evaluation.helpfulness: "un*"}', True),
        ("{evaluation.helpfulness: [helpful, unhelpful]}", True),
        ("{evaluation.helpfulness: helpful}", False),
        ("{evaluation.helpfulness: {exists: true}}", True),
        ("{evaluation.toxicity: {exists: false}}", True),
        ('{evaluation.toxicity: "<0.5"}', False),  # no such evaluation: nothing compares
        ('{evaluation.helpfulness: "<0.5", model: "gpt-4o*"}', True),
    ],
)
def test_evaluation_patterns(match, kept):
    span = evaluated({"event": "exception", "gen_ai.evaluation.name": "toxicity"}, dict(UNHELPFUL))
    assert keeps(match, span) is kept


def test_the_last_result_of_a_name_counts_and_a_score_given_as_text_compares():
    later = {"gen_ai.evaluation.name": "helpfulness", "gen_ai.evaluation.score.value": "0.9"}
    span = evaluated(dict(UNHELPFUL), later)
    assert keeps('{evaluation.helpfulness: ">0.8"}', span)
    assert not keeps("{evaluation.helpfulness: unhelpful}", span)


def test_an_sdk_span_with_evaluation_events_is_matched():
    span = from_readable_span(judged_chat_span())  # helpfulness 0.75 "helpful", toxicity 0.0
    assert keeps('{evaluation.helpfulness: ">0.5", evaluation.toxicity: "==0"}', span)
    assert not keeps('{evaluation.helpfulness: "<0.5"}', span)


def test_evaluation_without_a_name_is_a_mistake_at_its_line():
    with pytest.raises(RulesError) as caught:
        parse("rules:\n  - name: a\n    match:\n      evaluation.: '<0.5'\n", "rules.yaml")
    assert caught.value.line == 4 and "needs the evaluation's name: evaluation.helpfulness" in str(
        caught.value
    )
    with pytest.raises(RulesError) as unknown:
        parse("rules:\n  - name: a\n    match: {evaluation: '<0.5'}\n", "rules.yaml")
    assert "evaluation.<name>" in str(unknown.value)


FAITHFUL = {
    "gen_ai.evaluation.name": "faithfulness",
    "gen_ai.evaluation.score.value": 0.9,
    "gen_ai.evaluation.score.label": "faithful",
}


@pytest.mark.parametrize(
    "match, kept",
    [
        ('{evaluation.helpfulness.score: "<0.5"}', True),  # the score alone
        ("{evaluation.helpfulness.score: unhelpful}", False),  # text is not a score
        ("{evaluation.helpfulness.label: unhelpful}", True),  # the label alone
        ('{evaluation.helpfulness.label: "<0.5"}', False),
        ("{evaluation.helpfulness.label: {exists: true}}", True),
        ("{evaluation.helpfulness.margin: {threshold: 0.5, below: 0.3}}", True),  # |0.25 - 0.5| < 0.3
        ("{evaluation.helpfulness.margin: {threshold: 0.5, below: 0.25}}", False),
        ("{evaluation.toxicity.margin: {threshold: 0.5, below: 1}}", False),  # no score: no margin
        ("{evaluation.disagreement: true}", True),  # unhelpful vs faithful
        ("{evaluation.disagreement: false}", False),
        ("{evaluation.disagreement: {judges: [helpfulness, toxicity]}}", False),  # only one of them there
        ("{evaluation.missing: [helpfulness, toxicity]}", True),
        ("{evaluation.missing: faithfulness}", False),
    ],
)
def test_fields_for_doubt(match, kept):
    assert keeps(match, evaluated(dict(UNHELPFUL), dict(FAITHFUL))) is kept


def test_disagreement_by_score_gap_with_a_scale():
    one = {
        "gen_ai.evaluation.name": "a",
        "gen_ai.evaluation.score.value": 4,
        "gen_ai.evaluation.score.label": "ok",
    }
    two = {
        "gen_ai.evaluation.name": "b",
        "gen_ai.evaluation.score.value": 2,
        "gen_ai.evaluation.score.label": "ok",
    }
    span = evaluated(dict(one), dict(two))
    assert not keeps("{evaluation.disagreement: true}", span)  # same label
    assert keeps("{evaluation.disagreement: {gap: 0.3, scale: 5}}", span)  # 0.8 - 0.4 > 0.3
    assert not keeps("{evaluation.disagreement: {gap: 0.5, scale: 5}}", span)


@pytest.mark.parametrize(
    "match, words",
    [
        ("{evaluation.helpfulness.margin: 0.1}", "margin"),
        ("{evaluation.helpfulness.margin: {threshold: 0.5}}", "{threshold: 0.5, below: 0.1}"),
        ("{evaluation.helpfulness.margin: {threshold: high, below: 0.1}}", "threshold"),
        ("{evaluation.helpfulness.margin: {threshold: 0.5, below: -1}}", "above 0"),
        ("{evaluation.disagreement: maybe}", "true or false"),
        ("{evaluation.disagreement: {gap: 0}}", "above 0"),
        ("{evaluation.disagreement: {gaps: 0.3}}", "did you mean 'gap'"),
        ("{evaluation.missing: []}", "name the judges"),
    ],
)
def test_a_doubt_field_mistake_names_its_line(match, words):
    with pytest.raises(RulesError) as caught:
        parse(f"rules:\n  - name: r\n    match: {match}\n", "rules.yaml")
    assert caught.value.line == 3 and words in str(caught.value), str(caught.value)
